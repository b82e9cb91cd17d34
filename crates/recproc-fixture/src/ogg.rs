//! Reading the packets of one logical Ogg stream (RFC 3533), pure: pages (`OggS`, version 0,
//! CRC checked), their lacing values, and packets joined across segments and pages. What the
//! fixture's Opus encoder writes; chained or multiplexed streams are errors.

const CAPTURE: &[u8; 4] = b"OggS";
const HEADER_LEN: usize = 27;
/// `header_type` bit: the page's first packet continues one from the previous page.
const CONTINUED: u8 = 0x01;

/// The packets of `stream`, in order. Errors name the page (by its byte offset) and what is
/// wrong with it.
pub fn packets(stream: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    // A packet whose last segment so far was 255 bytes: it goes on in the next segment.
    let mut open: Option<Vec<u8>> = None;
    let mut serial = None;
    let mut at = 0;
    while at < stream.len() {
        let page = &stream[at..];
        let fail = |reason: &str| format!("Ogg page at byte {at}: {reason}");
        if page.len() < HEADER_LEN || &page[..4] != CAPTURE {
            return Err(fail("no OggS capture pattern"));
        }
        if page[4] != 0 {
            return Err(fail(&format!("version {}, want 0", page[4])));
        }
        let header_type = page[5];
        let page_serial = u32::from_le_bytes(page[14..18].try_into().expect("4 bytes"));
        if *serial.get_or_insert(page_serial) != page_serial {
            return Err(fail("a second logical stream (chained or multiplexed)"));
        }
        let segments = usize::from(page[26]);
        let lacing = page
            .get(HEADER_LEN..HEADER_LEN + segments)
            .ok_or_else(|| fail("truncated lacing table"))?;
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let page_len = HEADER_LEN + segments + body_len;
        let whole = page.get(..page_len).ok_or_else(|| fail("truncated body"))?;
        let stored = u32::from_le_bytes(page[22..26].try_into().expect("4 bytes"));
        if crc(whole) != stored {
            return Err(fail("CRC mismatch"));
        }
        if (header_type & CONTINUED != 0) != open.is_some() {
            return Err(fail(if open.is_some() {
                "the previous page's last packet is not continued here"
            } else {
                "continues a packet no page started"
            }));
        }
        let mut body = &whole[HEADER_LEN + segments..];
        for &len in lacing {
            let (segment, rest) = body.split_at(usize::from(len));
            body = rest;
            open.get_or_insert_with(Vec::new).extend_from_slice(segment);
            if len < 255 {
                out.extend(open.take());
            }
        }
        at += page_len;
    }
    if open.is_some() {
        return Err("the Ogg stream ends inside a packet".into());
    }
    Ok(out)
}

/// The Ogg page checksum: CRC-32, polynomial 0x04c11db7, not reflected, initial value 0,
/// over the page with its CRC field taken as zero.
pub fn crc(page: &[u8]) -> u32 {
    let mut crc = 0u32;
    for (i, &byte) in page.iter().enumerate() {
        let byte = if (22..26).contains(&i) { 0 } else { byte };
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One page of `serial` holding `lacing` and `body`, with its CRC.
    pub(crate) fn page(header_type: u8, serial: u32, lacing: &[u8], body: &[u8]) -> Vec<u8> {
        let mut p = CAPTURE.to_vec();
        p.push(0);
        p.push(header_type);
        p.extend_from_slice(&0u64.to_le_bytes()); // granule position
        p.extend_from_slice(&serial.to_le_bytes());
        p.extend_from_slice(&0u32.to_le_bytes()); // page sequence
        p.extend_from_slice(&0u32.to_le_bytes()); // CRC, filled in below
        p.push(lacing.len() as u8);
        p.extend_from_slice(lacing);
        p.extend_from_slice(body);
        let sum = crc(&p);
        p[22..26].copy_from_slice(&sum.to_le_bytes());
        p
    }

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
    }

    #[test]
    fn crc_of_a_page_written_by_ffmpeg() {
        // The OpusHead page ffmpeg 5.1 wrote for a mono 48 kHz stream (pre-skip 312).
        let head: [u8; 47] = [
            0x4f, 0x67, 0x67, 0x53, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x67, 0x19, 0xff, 0x39, 0,
            0, 0, 0, 0x30, 0x8d, 0xa5, 0x48, 0x01, 0x13, b'O', b'p', b'u', b's', b'H', b'e', b'a',
            b'd', 0x01, 0x01, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0,
        ];
        assert_eq!(crc(&head), 0x48a5_8d30);
        let packets = packets(&head).unwrap();
        assert_eq!(packets.len(), 1);
        assert_eq!(&packets[0][..8], b"OpusHead");
    }

    #[test]
    fn segments_of_255_join_into_one_packet_and_a_zero_ends_an_exact_multiple() {
        let a = bytes(600, 1); // 255 + 255 + 90
        let b = bytes(510, 2); // 255 + 255 + 0
        let c = bytes(3, 3);
        let body = [a.clone(), b.clone(), c.clone()].concat();
        let stream = page(0x02, 9, &[255, 255, 90, 255, 255, 0, 3], &body);
        assert_eq!(packets(&stream).unwrap(), vec![a, b, c]);
    }

    #[test]
    fn a_packet_continued_on_the_next_page() {
        let a = bytes(10, 4);
        let long = bytes(255 * 2 + 40, 5);
        let mut stream = page(0x02, 9, &[10, 255, 255], &[&a[..], &long[..510]].concat());
        stream.extend(page(CONTINUED, 9, &[40, 1], &[&long[510..], &[7]].concat()));
        assert_eq!(packets(&stream).unwrap(), vec![a, long, vec![7]]);
    }

    #[test]
    fn broken_streams_are_errors_naming_the_page() {
        let good = page(0, 9, &[2], &[1, 2]);
        let mut bad_crc = good.clone();
        bad_crc[28] ^= 1;
        assert_eq!(
            packets(&bad_crc).unwrap_err(),
            "Ogg page at byte 0: CRC mismatch"
        );
        let second = [good.clone(), page(0, 10, &[1], &[1])].concat();
        assert!(packets(&second)
            .unwrap_err()
            .starts_with(&format!("Ogg page at byte {}: a second", good.len())));
        let unfinished = page(0, 9, &[255], &bytes(255, 0));
        assert_eq!(
            packets(&unfinished).unwrap_err(),
            "the Ogg stream ends inside a packet"
        );
        let orphan = page(CONTINUED, 9, &[1], &[1]);
        assert!(packets(&orphan).unwrap_err().contains("continues a packet"));
        assert!(packets(&good[..good.len() - 1])
            .unwrap_err()
            .contains("truncated body"));
        assert!(packets(b"RIFF....").unwrap_err().contains("OggS"));
    }
}
