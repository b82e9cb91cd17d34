//! Reading Janus `.mjr` recordings: the JSON header (codec, created `s`, first packet written
//! `u`) and a structural walk of the packet records, so that a truncated or corrupt file is
//! named as such before any tool runs on it. The format (version 2): `MJR00002`, a u16 BE
//! header length, the JSON header; then records of `MEET`, u32 BE milliseconds since the
//! first packet, u16 BE length, and that many bytes of RTP.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;

use crate::timestamp::Timestamp;

/// The first bytes of a version 2 recording.
pub(crate) const MAGIC_V2: &[u8; 8] = b"MJR00002";
const MAGIC_PREFIX: &[u8; 5] = b"MJR00";
/// The first bytes of every packet record.
pub(crate) const RECORD_MAGIC: &[u8; 4] = b"MEET";
/// No RTP packet a recorder writes is larger than this (Janus buffers are 1500 bytes; the
/// margin covers extensions). A bigger length means the record is corrupt.
const MAX_PACKET: usize = 16 * 1024;
const RTP_HEADER: usize = 12;

/// The media kind in the header's `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Video,
    Audio,
    Data,
}

/// The codec of a recorded video track (the `.mjr` header's `c`) that recproc converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackCodec {
    Vp8,
    Vp9,
    H264,
}

impl TrackCodec {
    /// The container janus-pp-rec writes for this codec.
    pub fn container_extension(self) -> &'static str {
        match self {
            TrackCodec::Vp8 | TrackCodec::Vp9 => "webm",
            TrackCodec::H264 => "mp4",
        }
    }
}

#[derive(Debug, Deserialize)]
struct RawHeader {
    t: String,
    c: String,
    s: i64,
    u: i64,
}

/// The parsed header of a `.mjr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    /// The codec as the header names it (`vp8`, `h264`, `opus`, …).
    pub codec: String,
    /// When the recorder was created.
    pub created: Timestamp,
    /// When the first packet was written.
    pub first_packet: Timestamp,
}

impl Header {
    /// The video codec, or an error naming what the file holds instead.
    pub fn video_codec(&self) -> Result<TrackCodec, MjrError> {
        if self.kind != Kind::Video {
            return Err(MjrError::NotVideo {
                kind: format!("{:?}", self.kind).to_lowercase(),
            });
        }
        match self.codec.as_str() {
            "vp8" => Ok(TrackCodec::Vp8),
            "vp9" => Ok(TrackCodec::Vp9),
            "h264" => Ok(TrackCodec::H264),
            other => Err(MjrError::UnsupportedCodec {
                codec: other.to_owned(),
            }),
        }
    }
}

/// What a full walk of the file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub header: Header,
    pub packets: u64,
    /// Milliseconds after the first packet at which the last one was written.
    pub last_packet_ms: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum MjrError {
    #[error("cannot read the file: {0}")]
    Io(#[from] io::Error),
    #[error("not a Janus recording: it does not start with MJR00002")]
    NotMjr,
    #[error(
        "an old-format recording ({0}): only MJR00002 files (Janus 0.7.3 and later) are supported"
    )]
    OldVersion(String),
    #[error("the header is cut short: the file ends inside it")]
    TruncatedHeader,
    #[error("the JSON header is invalid: {0}")]
    BadHeader(String),
    #[error("holds {kind}, not video")]
    NotVideo { kind: String },
    #[error("video codec {codec:?} is not supported (vp8, vp9 and h264 are)")]
    UnsupportedCodec { codec: String },
    #[error("truncated: packet {index} at byte {offset} is cut short (the file ends {missing} bytes early)")]
    Truncated {
        index: u64,
        offset: u64,
        missing: u64,
    },
    #[error("corrupt at byte {offset} (packet {index}): {what}")]
    Corrupt {
        index: u64,
        offset: u64,
        what: String,
    },
    #[error("holds no packets: nothing was recorded")]
    Empty,
}

/// Parses the header bytes that follow the magic and length.
pub(crate) fn parse_header(json: &[u8]) -> Result<Header, MjrError> {
    let raw: RawHeader =
        serde_json::from_slice(json).map_err(|e| MjrError::BadHeader(e.to_string()))?;
    let kind = match raw.t.as_str() {
        "v" => Kind::Video,
        "a" => Kind::Audio,
        "d" => Kind::Data,
        other => {
            return Err(MjrError::BadHeader(format!(
                "unknown media type t={other:?}"
            )))
        }
    };
    if raw.u < raw.s || raw.s <= 0 {
        return Err(MjrError::BadHeader(format!(
            "first packet time u={} is before creation time s={}",
            raw.u, raw.s
        )));
    }
    Ok(Header {
        kind,
        codec: raw.c,
        created: Timestamp::from_micros(raw.s),
        first_packet: Timestamp::from_micros(raw.u),
    })
}

/// Reads the header and walks every packet record of the file at `path`.
pub(crate) fn inspect(path: &Path) -> Result<Inspection, MjrError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    inspect_reader(BufReader::new(file), len)
}

/// [`inspect`] over any seekable reader of `len` bytes.
pub fn inspect_reader<R: Read + Seek>(mut r: R, len: u64) -> Result<Inspection, MjrError> {
    let header_len = read_magic(&mut r, len)?;
    let mut json = vec![0u8; header_len as usize];
    r.read_exact(&mut json)?;
    let header = parse_header(&json)?;

    let mut offset = 10 + header_len;
    let mut packets = 0u64;
    let mut last_packet_ms = 0u32;
    while offset < len {
        let (ms, size) = read_record(&mut r, packets, offset, len - offset)?;
        last_packet_ms = last_packet_ms.max(ms);
        packets += 1;
        offset += 10 + size;
    }
    if packets == 0 {
        return Err(MjrError::Empty);
    }
    Ok(Inspection {
        header,
        packets,
        last_packet_ms,
    })
}

/// Checks the magic of a file of `len` bytes; returns the length of its JSON header, which
/// follows.
fn read_magic<R: Read>(r: &mut R, len: u64) -> Result<u64, MjrError> {
    let mut magic = [0u8; 8];
    if len < 10 {
        return Err(if len >= 5 && read_prefix_is_mjr(r)? {
            MjrError::TruncatedHeader
        } else {
            MjrError::NotMjr
        });
    }
    r.read_exact(&mut magic)?;
    if &magic != MAGIC_V2 {
        if magic.starts_with(MAGIC_PREFIX) {
            return Err(MjrError::OldVersion(
                String::from_utf8_lossy(&magic).into_owned(),
            ));
        }
        return Err(MjrError::NotMjr);
    }
    let mut two = [0u8; 2];
    r.read_exact(&mut two)?;
    let header_len = u16::from_be_bytes(two) as u64;
    if 10 + header_len > len {
        return Err(MjrError::TruncatedHeader);
    }
    Ok(header_len)
}

/// Reads packet record `index` at `offset`, `remaining` bytes before the end of the file,
/// and skips its payload; returns its time (ms) and its packet's size.
fn read_record<R: Read + Seek>(
    r: &mut R,
    index: u64,
    offset: u64,
    remaining: u64,
) -> Result<(u32, u64), MjrError> {
    let mut record = [0u8; 10];
    let mut rtp = [0u8; RTP_HEADER];
    if remaining < 10 {
        return Err(MjrError::Truncated {
            index,
            offset,
            missing: 10 - remaining,
        });
    }
    r.read_exact(&mut record)?;
    let corrupt = |what: String| MjrError::Corrupt {
        index,
        offset,
        what,
    };
    if &record[..4] != RECORD_MAGIC {
        let found = format!("expected a MEET record, found bytes {:02x?}", &record[..4]);
        return Err(corrupt(found));
    }
    let ms = u32::from_be_bytes([record[4], record[5], record[6], record[7]]);
    let size = u16::from_be_bytes([record[8], record[9]]) as usize;
    if !(RTP_HEADER..=MAX_PACKET).contains(&size) {
        let found = format!("a packet length of {size} bytes is not an RTP packet");
        return Err(corrupt(found));
    }
    if (size as u64) > remaining - 10 {
        return Err(MjrError::Truncated {
            index,
            offset,
            missing: size as u64 - (remaining - 10),
        });
    }
    r.read_exact(&mut rtp)?;
    if rtp[0] >> 6 != 2 {
        return Err(corrupt(format!("RTP version {} (expected 2)", rtp[0] >> 6)));
    }
    r.seek(SeekFrom::Current((size - RTP_HEADER) as i64))?;
    Ok((ms, size as u64))
}

fn read_prefix_is_mjr<R: Read>(r: &mut R) -> io::Result<bool> {
    let mut p = [0u8; 5];
    r.read_exact(&mut p)?;
    Ok(&p == MAGIC_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const HEADER: &str = r#"{"t": "v", "c": "vp8", "s": 1795461832734528, "u": 1795461832959518}"#;

    fn file(header: &str, packets: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = MAGIC_V2.to_vec();
        out.extend_from_slice(&(header.len() as u16).to_be_bytes());
        out.extend_from_slice(header.as_bytes());
        for (ms, p) in packets {
            out.extend_from_slice(RECORD_MAGIC);
            out.extend_from_slice(&ms.to_be_bytes());
            out.extend_from_slice(&(p.len() as u16).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    fn rtp(len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x80;
        p
    }

    fn inspect_bytes(b: &[u8]) -> Result<Inspection, MjrError> {
        inspect_reader(Cursor::new(b), b.len() as u64)
    }

    #[test]
    fn reads_header_and_counts_packets() {
        let b = file(HEADER, &[(0, rtp(100)), (33, rtp(1200)), (66, rtp(12))]);
        let i = inspect_bytes(&b).unwrap();
        assert_eq!(i.packets, 3);
        assert_eq!(i.last_packet_ms, 66);
        assert_eq!(i.header.kind, Kind::Video);
        assert_eq!(i.header.video_codec().unwrap(), TrackCodec::Vp8);
        assert_eq!(i.header.first_packet.as_micros(), 1795461832959518);
        assert_eq!(i.header.created.as_micros(), 1795461832734528);
    }

    #[test]
    fn a_file_cut_inside_a_packet_is_truncated_naming_the_packet() {
        let mut b = file(HEADER, &[(0, rtp(100)), (33, rtp(200))]);
        b.truncate(b.len() - 50);
        let e = inspect_bytes(&b).unwrap_err();
        assert!(
            matches!(
                e,
                MjrError::Truncated {
                    index: 1,
                    missing: 50,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn a_file_cut_inside_a_record_header_is_truncated() {
        let mut b = file(HEADER, &[(0, rtp(100)), (33, rtp(200))]);
        b.truncate(b.len() - 205);
        assert!(matches!(
            inspect_bytes(&b).unwrap_err(),
            MjrError::Truncated { index: 1, .. }
        ));
    }

    #[test]
    fn a_file_cut_inside_the_header_says_so() {
        let b = file(HEADER, &[]);
        assert!(matches!(
            inspect_bytes(&b[..30]).unwrap_err(),
            MjrError::TruncatedHeader
        ));
        assert!(matches!(
            inspect_bytes(&b[..7]).unwrap_err(),
            MjrError::TruncatedHeader
        ));
    }

    #[test]
    fn garbage_between_records_is_corrupt_with_its_offset() {
        let mut b = file(HEADER, &[(0, rtp(100)), (33, rtp(200))]);
        let second = 10 + HEADER.len() + 10 + 100;
        b[second] = b'X';
        match inspect_bytes(&b).unwrap_err() {
            MjrError::Corrupt { index, offset, .. } => {
                assert_eq!(index, 1);
                assert_eq!(offset, second as u64);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_non_rtp_payload_is_corrupt() {
        let mut bad = rtp(40);
        bad[0] = 0x00;
        let b = file(HEADER, &[(0, bad)]);
        assert!(inspect_bytes(&b)
            .unwrap_err()
            .to_string()
            .contains("RTP version 0"));
    }

    #[test]
    fn other_files_are_not_mjr() {
        assert!(matches!(
            inspect_bytes(b"RIFF....WAVEfmt ").unwrap_err(),
            MjrError::NotMjr
        ));
        assert!(matches!(inspect_bytes(b"").unwrap_err(), MjrError::NotMjr));
        assert!(matches!(
            inspect_bytes(b"MJR00001xxxxxxxxxxxx").unwrap_err(),
            MjrError::OldVersion(_)
        ));
    }

    #[test]
    fn a_header_alone_is_empty() {
        assert!(matches!(
            inspect_bytes(&file(HEADER, &[])).unwrap_err(),
            MjrError::Empty
        ));
    }

    #[test]
    fn bad_json_header_is_named() {
        let e = inspect_bytes(&file("{\"t\": \"v\"", &[(0, rtp(20))])).unwrap_err();
        assert!(matches!(e, MjrError::BadHeader(_)), "{e:?}");
    }

    #[test]
    fn audio_and_unknown_codecs_are_refused_for_video() {
        let h = parse_header(br#"{"t":"a","c":"opus","s":1,"u":2}"#).unwrap();
        assert!(h.video_codec().unwrap_err().to_string().contains("audio"));
        let h = parse_header(br#"{"t":"v","c":"av1","s":1,"u":2}"#).unwrap();
        assert!(h.video_codec().unwrap_err().to_string().contains("av1"));
    }

    #[test]
    fn first_packet_before_creation_is_a_bad_header() {
        assert!(parse_header(br#"{"t":"v","c":"vp8","s":10,"u":2}"#).is_err());
    }

    #[test]
    fn the_real_janus_recordings_inspect_cleanly() {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real-janus/three-join-leave");
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut seen = 0;
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "mjr") {
                let i = inspect(&p).unwrap();
                assert!(i.packets > 100, "{p:?}");
                seen += 1;
            }
        }
        assert_eq!(seen, 6);
    }
}
