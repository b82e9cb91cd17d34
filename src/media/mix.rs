//! The participants' own audio tracks mixed into the call's audio (SPEC.md "Janus-only
//! conferences"): the ffmpeg filter graph, pure, and the inputs it reads. Each voice is read
//! as recproc converted it (its format and nothing else), put where its media time 0 falls on
//! the output, resampled once to the output's rate and filled with silence wherever it has no
//! samples (before it starts, and in a gap its timestamps show), so nothing after a gap
//! shifts. Then every voice is added at its own level (no 1/N attenuation as people join) and a
//! lookahead limiter, not clipping, keeps the sum in range.

use std::path::Path;

use crate::process::Invocation;

/// The most the mix may reach, in full scale: about −1 dBFS, headroom for the encoder.
const LIMIT: f64 = 0.891;

/// The shortest mismatch between a voice's timestamps and its samples that is filled with
/// silence (or trimmed), in seconds: one Opus packet. Shorter ones are the encoder's
/// rounding.
const FILL_FROM_S: f64 = 0.02;

/// One participant's audio track in a mix: recproc's converted file, read as `format` only,
/// with `channels` channels, whose media time 0 falls `at` seconds into the output.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VoiceInput<'a> {
    pub file: &'a Path,
    /// `ogg` or `wav`.
    pub format: &'static str,
    pub channels: u32,
    pub at: f64,
}

/// Adds each voice as an input of `inv`, read as its format and from files only.
pub(crate) fn inputs(mut inv: Invocation, voices: &[VoiceInput<'_>]) -> Invocation {
    for v in voices {
        inv = inv
            .args(["-protocol_whitelist", "file", "-f", v.format, "-i"])
            .path_arg(v.file);
    }
    inv
}

/// The filter graph that mixes `voices`, ffmpeg's inputs `first`, `first + 1`…, into the
/// mono output `[mix]` at `rate` Hz, `seconds` long.
pub(crate) fn graph(voices: &[VoiceInput<'_>], first: usize, rate: u32, seconds: f64) -> String {
    let mut graph = String::new();
    for (i, v) in voices.iter().enumerate() {
        let down = match v.channels {
            1 => String::new(),
            // Janus writes Opus as stereo: both channels carry the microphone, averaged back
            // to its own level (ffmpeg's default downmix would add 3 dB).
            2 => "pan=mono|c0=0.5*c0+0.5*c1,".to_owned(),
            _ => "aformat=channel_layouts=mono,".to_owned(),
        };
        graph.push_str(&format!(
            "[{input}:a:0]{down}asetpts=PTS+{at:.6}/TB,\
             aresample={rate}:async=1:min_hard_comp={FILL_FROM_S}:first_pts=0[v{i}];",
            input = first + i,
            at = v.at,
        ));
    }
    let labels: String = (0..voices.len()).map(|i| format!("[v{i}]")).collect();
    graph.push_str(&format!(
        "{labels}amix=inputs={n}:normalize=0:duration=longest,\
         alimiter=limit={LIMIT}:level=0:latency=1,apad=whole_dur={seconds:.6}[mix]",
        n = voices.len().max(1),
    ));
    graph
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice(file: &str, channels: u32, at: f64) -> VoiceInput<'_> {
        VoiceInput {
            file: Path::new(file),
            format: if file.ends_with(".wav") { "wav" } else { "ogg" },
            channels,
            at,
        }
    }

    #[test]
    fn each_voice_is_placed_resampled_once_filled_and_all_are_summed_then_limited() {
        let voices = [voice("/w/v0.opus", 2, 0.0), voice("/w/v1.wav", 1, 2.5)];
        let g = graph(&voices, 1, 48_000, 20.0);
        assert_eq!(
            g,
            "[1:a:0]pan=mono|c0=0.5*c0+0.5*c1,asetpts=PTS+0.000000/TB,\
             aresample=48000:async=1:min_hard_comp=0.02:first_pts=0[v0];\
             [2:a:0]asetpts=PTS+2.500000/TB,\
             aresample=48000:async=1:min_hard_comp=0.02:first_pts=0[v1];\
             [v0][v1]amix=inputs=2:normalize=0:duration=longest,\
             alimiter=limit=0.891:level=0:latency=1,apad=whole_dur=20.000000[mix]"
        );
        // Once, straight to the rate the output wants.
        assert_eq!(g.matches("aresample").count(), 2);
        assert!(graph(&voices, 0, 8000, 1.0).contains("aresample=8000:"));
    }

    #[test]
    fn voices_are_read_as_their_format_from_files_only() {
        let voices = [voice("/w/v0.opus", 2, 0.0), voice("/w/v1.wav", 1, 1.0)];
        let args = inputs(Invocation::new("ffmpeg"), &voices).args_lossy();
        assert_eq!(
            args,
            [
                "-protocol_whitelist",
                "file",
                "-f",
                "ogg",
                "-i",
                "/w/v0.opus",
                "-protocol_whitelist",
                "file",
                "-f",
                "wav",
                "-i",
                "/w/v1.wav"
            ]
        );
    }
}
