//! Encoding a voice to Opus with ffmpeg and libopus: the argument list (pure), running it
//! (48 kHz mono s16le PCM in on stdin, Ogg Opus out on stdout; nothing on disk), and reading
//! the result (pure): the pre-skip from `OpusHead` (RFC 7845 §5.1) and each packet's
//! duration from its TOC byte (RFC 6716 §3.1).

use std::io::Write;
use std::process::{Command, Stdio};

use super::ogg;
use super::voice::VoicePlan;
use super::FixtureError;

/// The Opus clock: every packet duration is counted in 48 kHz samples.
pub const RATE: u32 = 48_000;
/// What libopus's encoder delays its output by at 48 kHz (2.5 ms look-ahead + 4 ms of
/// delay compensation); confirmed from each encoding's `OpusHead`.
const EXPECTED_PRE_SKIP: usize = 312;

/// The ffmpeg arguments that read mono s16le PCM at 48 kHz from stdin and write Ogg Opus of
/// 20 ms packets to stdout, as a browser's VoIP encoder would code them.
pub fn ffmpeg_args() -> Vec<String> {
    let rate = RATE.to_string();
    [
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "s16le",
        "-ar",
        &rate,
        "-ac",
        "1",
        "-i",
        "-",
        "-c:a",
        "libopus",
        "-application",
        "voip",
        "-frame_duration",
        "20",
        "-b:a",
        "32k",
        "-f",
        "ogg",
        "-",
    ]
    .map(String::from)
    .to_vec()
}

/// The plan's Opus packets, one per 20 ms, whose decoding (with no pre-skip, as janus-pp-rec
/// writes it) has each sound at its planned time: the PCM given to the encoder starts
/// pre-skip samples into the voice. So the voice's first pre-skip samples (6.5 ms) are lost
/// to the encoder's delay, as they would be in a sender.
pub fn encode(plan: &VoicePlan, what: &str) -> Result<Vec<Vec<u8>>, FixtureError> {
    let encoded = |reason: String| FixtureError::Encoded {
        what: what.into(),
        reason,
    };
    let mut advance = EXPECTED_PRE_SKIP;
    // A second round only if this libopus delays by another amount than expected.
    for _ in 0..2 {
        let ogg = run_ffmpeg(plan.pcm(RATE, advance), what)?;
        let (pre_skip, packets) = opus_packets(&ogg).map_err(encoded)?;
        if pre_skip != advance {
            advance = pre_skip;
            continue;
        }
        if packets.len() < plan.packets {
            return Err(encoded(format!(
                "{} Opus packets, want at least {}",
                packets.len(),
                plan.packets
            )));
        }
        let mut packets = packets;
        packets.truncate(plan.packets);
        for (i, packet) in packets.iter().enumerate() {
            let samples =
                packet_samples(packet).map_err(|e| encoded(format!("packet {i}: {e}")))?;
            if samples != 960 {
                return Err(encoded(format!(
                    "packet {i} lasts {} ms, want 20 ms",
                    f64::from(samples) / 48.0
                )));
            }
        }
        return Ok(packets);
    }
    Err(encoded(format!(
        "the encoder's pre-skip changed between runs (last {advance})"
    )))
}

/// Runs ffmpeg on `pcm` and returns its Ogg stream.
fn run_ffmpeg(pcm: Vec<i16>, what: &str) -> Result<Vec<u8>, FixtureError> {
    let spawn_error = |error| FixtureError::Spawn {
        tool: "ffmpeg".into(),
        error,
    };
    let mut child = Command::new("ffmpeg")
        .args(ffmpeg_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Written while the output is read, or a full pipe would stall both sides.
    let writer = std::thread::spawn(move || {
        for chunk in pcm.chunks(1 << 16) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|s| s.to_le_bytes()).collect();
            stdin.write_all(&bytes)?;
        }
        Ok::<(), std::io::Error>(())
    });
    let output = child.wait_with_output().map_err(spawn_error)?;
    let written = writer.join().expect("the PCM writer panicked");
    if !output.status.success() || written.is_err() {
        let mut tail = crate::encode::stderr_tail(&output.stderr);
        if let Err(e) = written {
            tail = format!("writing its input: {e}; {tail}");
        }
        return Err(FixtureError::Tool {
            tool: "ffmpeg".into(),
            what: what.into(),
            status: output.status,
            stderr_tail: tail,
        });
    }
    Ok(output.stdout)
}

/// The pre-skip and the audio packets of an Ogg Opus stream (`OpusHead` and `OpusTags`
/// left out).
pub fn opus_packets(ogg: &[u8]) -> Result<(usize, Vec<Vec<u8>>), String> {
    let mut packets = ogg::packets(ogg)?.into_iter();
    let head = packets.next().ok_or("an empty Ogg stream")?;
    let pre_skip = pre_skip(&head)?;
    match packets.next() {
        Some(tags) if tags.starts_with(b"OpusTags") => {}
        _ => return Err("the second Ogg packet is not OpusTags".into()),
    }
    Ok((pre_skip, packets.collect()))
}

/// The pre-skip of an `OpusHead` packet: "OpusHead", version, channels, then u16 LE.
pub fn pre_skip(head: &[u8]) -> Result<usize, String> {
    if head.len() < 19 || !head.starts_with(b"OpusHead") {
        return Err("the first Ogg packet is not an OpusHead".into());
    }
    Ok(usize::from(u16::from_le_bytes([head[10], head[11]])))
}

/// A packet's duration in 48 kHz samples from its TOC byte: the frame size of its
/// configuration times its frame count (code 0: one frame, 1 and 2: two, 3: the count in
/// the second byte).
pub fn packet_samples(packet: &[u8]) -> Result<u32, String> {
    let &toc = packet.first().ok_or("an empty Opus packet")?;
    let config = toc >> 3;
    // In 48 kHz samples: SILK 10/20/40/60 ms, hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => {
            let count = packet
                .get(1)
                .ok_or("a code 3 packet without a frame count")?
                & 0x3f;
            if count == 0 {
                return Err("a code 3 packet of 0 frames".into());
            }
            u32::from(count)
        }
    };
    Ok(frame * frames)
}

#[cfg(test)]
mod tests {
    use super::super::ogg::tests::page;
    use super::*;

    #[test]
    fn toc_durations_of_rfc_6716() {
        // config 1 (SILK NB 20 ms), code 0.
        assert_eq!(packet_samples(&[1 << 3]), Ok(960));
        // config 9 (SILK WB 20 ms) two frames (code 1): 40 ms.
        assert_eq!(packet_samples(&[9 << 3 | 1]), Ok(1920));
        // config 3 (SILK NB 60 ms).
        assert_eq!(packet_samples(&[3 << 3]), Ok(2880));
        // config 13 (hybrid SWB 20 ms), 15 (hybrid FB 20 ms), 12 (hybrid SWB 10 ms).
        assert_eq!(packet_samples(&[13 << 3]), Ok(960));
        assert_eq!(packet_samples(&[15 << 3 | 4]), Ok(960), "stereo bit");
        assert_eq!(packet_samples(&[12 << 3]), Ok(480));
        // config 16 (CELT NB 2.5 ms), 31 (CELT FB 20 ms).
        assert_eq!(packet_samples(&[16 << 3]), Ok(120));
        assert_eq!(packet_samples(&[31 << 3]), Ok(960));
        // Code 2 (two frames of different sizes) of CELT FB 10 ms; code 3 with 8 frames of
        // 2.5 ms.
        assert_eq!(packet_samples(&[30 << 3 | 2]), Ok(960));
        assert_eq!(
            packet_samples(&[16 << 3 | 3, 0x88]),
            Ok(960),
            "VBR, padding"
        );
        assert!(packet_samples(&[16 << 3 | 3]).is_err());
        assert!(packet_samples(&[16 << 3 | 3, 0]).is_err());
        assert!(packet_samples(&[]).is_err());
    }

    #[test]
    fn reads_the_pre_skip_and_skips_the_header_packets() {
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 1, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        let tags = b"OpusTags\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        let mut ogg = page(2, 1, &[head.len() as u8], &head);
        ogg.extend(page(0, 1, &[tags.len() as u8], &tags));
        ogg.extend(page(0, 1, &[2, 1], &[0xf8, 0xff, 0xfc]));
        assert_eq!(
            opus_packets(&ogg).unwrap(),
            (312, vec![vec![0xf8, 0xff], vec![0xfc]])
        );
        assert!(opus_packets(&page(2, 1, &[3], b"Vor"))
            .unwrap_err()
            .contains("OpusHead"));
    }

    #[test]
    fn args_read_pcm_from_stdin_and_write_20_ms_voip_opus_in_ogg() {
        let args = ffmpeg_args();
        let after = |flag: &str| args[args.iter().position(|a| a == flag).unwrap() + 1].clone();
        assert_eq!(after("-i"), "-");
        assert_eq!(after("-ar"), "48000");
        assert_eq!(after("-ac"), "1");
        assert_eq!(after("-c:a"), "libopus");
        assert_eq!(after("-application"), "voip");
        assert_eq!(after("-frame_duration"), "20");
        assert_eq!(args[args.len() - 3..], ["-f", "ogg", "-"]);
    }
}
