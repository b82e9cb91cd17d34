//! G.711 (pure): 16-bit PCM to µ-law (PCMU) and A-law (PCMA) bytes and back. Decoding is
//! the ITU-T tables' (Sun's g711.c); encoding picks, for the sample at 14-bit precision, the
//! code whose decoded value is nearest, exactly as ffmpeg's `pcm_mulaw` / `pcm_alaw`
//! encoders do (Sun's segment arithmetic rounds some boundary samples the other way).

/// The byte that codes silence (+0): every code's bits are stored inverted through it.
const MULAW_MASK: u8 = 0xff;
const ALAW_MASK: u8 = 0xd5;

/// One sample in µ-law: sign, 3-bit segment, 4-bit step, all bits inverted.
pub fn mulaw(sample: i16) -> u8 {
    nearest(sample, MULAW_MASK, mulaw_value)
}

/// One sample in A-law: sign, 3-bit segment, 4-bit step, even bits and the sign inverted.
pub fn alaw(sample: i16) -> u8 {
    nearest(sample, ALAW_MASK, alaw_value)
}

/// The 16-bit value of a µ-law byte.
pub fn mulaw_value(byte: u8) -> i16 {
    let u = !byte;
    let magnitude = ((i32::from(u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 {
        0x84 - magnitude
    } else {
        magnitude - 0x84
    }) as i16
}

/// The 16-bit value of an A-law byte.
pub fn alaw_value(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let step = i32::from(a & 0x0f) << 4;
    let magnitude = match (a & 0x70) >> 4 {
        0 => step + 8,
        1 => step + 0x108,
        seg => (step + 0x108) << (seg - 1),
    };
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

/// The code of `sample`: its 14-bit magnitude's first level `i` (of 128, counted from
/// silence) below whose midpoint to the next level it lies, `i ^ mask` for a positive
/// sample and `i ^ mask ^ 0x80` for a negative one. ffmpeg's encoders: a table over the
/// 14-bit values, built so.
fn nearest(sample: i16, mask: u8, value: fn(u8) -> i16) -> u8 {
    // 14-bit, counted from the level of 0..3; -8192 codes as -8191.
    let j = ((i32::from(sample) + 32768) >> 2) - 8192;
    if j == 0 {
        return mask;
    }
    let magnitude = j.abs().min(8191);
    let level = |i: u8| i32::from(value(i ^ mask));
    let i = (0..127u8)
        .find(|&i| magnitude < (level(i) + level(i + 1) + 4) >> 3)
        .unwrap_or(127);
    if j > 0 {
        i ^ mask
    } else {
        i ^ mask ^ 0x80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_values() {
        // Silence, the extremes, and the codes of G.711's tables.
        assert_eq!(mulaw(0), 0xff);
        // The smallest negative level: -0 (0x7f) is never coded.
        assert_eq!(mulaw(-1), 0x7e);
        assert_eq!(mulaw(-8), 0x7e);
        assert_eq!(mulaw(i16::MAX), 0x80);
        assert_eq!(mulaw(i16::MIN), 0x00);
        assert_eq!(mulaw(1000), 0xce);
        assert_eq!(mulaw(-1000), 0x4e);
        assert_eq!(alaw(0), 0xd5);
        assert_eq!(alaw(-1), 0x55);
        assert_eq!(alaw(i16::MAX), 0xaa);
        assert_eq!(alaw(i16::MIN), 0x2a);
        assert_eq!(alaw(1000), 0xfa);
        assert_eq!(alaw(-1000), 0x7a);
        for byte in 0..=255u8 {
            let mu = if byte == 0x7f { 0xff } else { byte };
            assert_eq!(mulaw(mulaw_value(byte)), mu, "µ-law {byte:#04x}");
            assert_eq!(alaw(alaw_value(byte)), byte, "A-law {byte:#04x}");
        }
        assert_eq!(
            [0x00, 0x7f, 0x80, 0xff].map(mulaw_value),
            [-32124, 0, 32124, 0]
        );
        assert_eq!(
            [0x2a, 0x55, 0xaa, 0xd5].map(alaw_value),
            [-32256, -8, 32256, 8]
        );
    }

    /// Runs the real ffmpeg: every 16-bit sample encodes as its `pcm_mulaw` and `pcm_alaw`
    /// encoders do.
    #[test]
    fn every_sample_as_ffmpeg_encodes_it() {
        let all: Vec<u8> = (i16::MIN..=i16::MAX).flat_map(i16::to_le_bytes).collect();
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("all.s16");
        std::fs::write(&input, all).unwrap();
        for (codec, ours) in [
            ("pcm_mulaw", mulaw as fn(i16) -> u8),
            ("pcm_alaw", alaw as fn(i16) -> u8),
        ] {
            let out = std::process::Command::new("ffmpeg")
                .args(["-nostdin", "-v", "error", "-f", "s16le", "-ar", "8000"])
                .args(["-ac", "1", "-i"])
                .arg(&input)
                .args(["-c:a", codec, "-f", &codec[4..], "-"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{codec}");
            let want = out.stdout;
            assert_eq!(want.len(), 65536, "{codec}");
            let got: Vec<u8> = (i16::MIN..=i16::MAX).map(ours).collect();
            let first_difference = got.iter().zip(&want).position(|(a, b)| a != b);
            assert_eq!(
                first_difference,
                None,
                "{codec}: first difference at sample {:?}",
                first_difference.map(|i| i as i32 + i32::from(i16::MIN))
            );
        }
    }
}
