//! The participants' own audio tracks mixed into the call's audio (SPEC.md "Janus-only
//! conferences"): the ffmpeg filter graph and the inputs it reads, pure. Each voice is read
//! as recproc converted it (its format and nothing else), in pieces split where its sender
//! went quiet for [`LONG_SILENCE_S`] or more; each piece is resampled once to the output's
//! rate, filled with silence wherever its timestamps have no samples (so nothing after a gap
//! shifts) and delayed to where it falls on the output. Then every piece is added at its own
//! level (no 1/N attenuation as people join) and a lookahead limiter, not clipping, keeps
//! the sum in range.
//!
//! Memory stays flat however late a voice starts or however long it is quiet: `adelay`
//! makes its lead-in silence in small frames as the mix asks for it, whereas `aresample`
//! fills a timestamp gap with one frame of the whole silence (a voice placed an hour in
//! that way took 1.6 GB); so `aresample` is only ever left gaps shorter than a piece's
//! silences, and the long ones lie between pieces.

use std::path::Path;

use crate::plan::Span;
use crate::process::Invocation;

/// The most the mix may reach, in full scale: about −1 dBFS, headroom for the encoder.
const LIMIT: f64 = 0.891;

/// The shortest mismatch between a voice's timestamps and its samples that is filled with
/// silence (or trimmed), in seconds: one Opus packet. Shorter ones are the encoder's
/// rounding.
const FILL_FROM_S: f64 = 0.02;

/// A silence of the sender at least this long (seconds) ends a piece: shorter ones are
/// filled by `aresample` (10 s of 48 kHz mono is 2 MB), longer ones lie between pieces.
pub(crate) const LONG_SILENCE_S: f64 = 10.0;

/// One piece of a participant's audio track in a mix: recproc's converted file, read as
/// `format` only, with `channels` channels, from `from` seconds of its media to `to` (its end
/// when `None`), that piece's start falling `at` seconds into the output.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VoiceInput<'a> {
    pub file: &'a Path,
    /// `matroska` or `wav`.
    pub format: &'static str,
    pub channels: u32,
    pub from: f64,
    pub to: Option<f64>,
    pub at: f64,
}

/// The pieces (`from`, `to`) of a voice's media whose sender went quiet at `gaps` (seconds of
/// its media): split where it resumes after a silence of `long` seconds or more.
pub(crate) fn pieces(gaps: &[Span], long: f64) -> Vec<(f64, Option<f64>)> {
    let mut starts: Vec<f64> = gaps
        .iter()
        .filter(|g| g.seconds() >= long)
        .map(|g| g.end)
        .collect();
    starts.sort_by(f64::total_cmp);
    starts.dedup();
    let mut bounds = vec![0.0];
    bounds.extend(starts.into_iter().filter(|&s| s > 0.0));
    let ends = bounds.iter().skip(1).map(|&e| Some(e)).chain([None]);
    bounds.iter().copied().zip(ends).collect()
}

/// Adds each piece as an input of `inv`: its stretch of the file, read as its format and
/// from files only.
pub(crate) fn inputs(mut inv: Invocation, voices: &[VoiceInput<'_>]) -> Invocation {
    for v in voices {
        if v.from > 0.0 {
            inv = inv.args(["-ss", &format!("{:.6}", v.from)]);
        }
        if let Some(to) = v.to {
            inv = inv.args(["-to", &format!("{to:.6}")]);
        }
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
        // A piece never starts before t=0: the voices are mixed only without a WAV, when
        // t=0 is the earliest start of any track.
        let delay = (v.at.max(0.0) * f64::from(rate)).round() as u64;
        graph.push_str(&format!(
            "[{input}:a:0]{down}aresample={rate}:async=1:min_hard_comp={FILL_FROM_S}:first_pts=0,\
             adelay=delays={delay}S:all=1[v{i}];",
            input = first + i,
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
            format: if file.ends_with(".wav") {
                "wav"
            } else {
                "matroska"
            },
            channels,
            from: 0.0,
            to: None,
            at,
        }
    }

    #[test]
    fn each_voice_is_resampled_once_filled_delayed_and_all_are_summed_then_limited() {
        let voices = [voice("/w/v0.mka", 2, 0.0), voice("/w/v1.wav", 1, 2.5)];
        let g = graph(&voices, 1, 48_000, 20.0);
        assert_eq!(
            g,
            "[1:a:0]pan=mono|c0=0.5*c0+0.5*c1,\
             aresample=48000:async=1:min_hard_comp=0.02:first_pts=0,\
             adelay=delays=0S:all=1[v0];\
             [2:a:0]aresample=48000:async=1:min_hard_comp=0.02:first_pts=0,\
             adelay=delays=120000S:all=1[v1];\
             [v0][v1]amix=inputs=2:normalize=0:duration=longest,\
             alimiter=limit=0.891:level=0:latency=1,apad=whole_dur=20.000000[mix]"
        );
        // Once, straight to the rate the output wants, and delayed in its samples.
        assert_eq!(g.matches("aresample").count(), 2);
        let g = graph(&voices, 0, 8000, 1.0);
        assert!(
            g.contains("aresample=8000:") && g.contains("delays=20000S"),
            "{g}"
        );
    }

    #[test]
    fn pieces_are_read_as_their_format_from_files_only_each_its_own_stretch() {
        let mut later = voice("/w/v0.mka", 2, 14.0);
        (later.from, later.to) = (12.0, Some(30.5));
        let voices = [voice("/w/v1.wav", 1, 1.0), later];
        let args = inputs(Invocation::new("ffmpeg"), &voices).args_lossy();
        assert_eq!(
            args,
            [
                "-protocol_whitelist",
                "file",
                "-f",
                "wav",
                "-i",
                "/w/v1.wav",
                "-ss",
                "12.000000",
                "-to",
                "30.500000",
                "-protocol_whitelist",
                "file",
                "-f",
                "matroska",
                "-i",
                "/w/v0.mka"
            ]
        );
    }

    fn gap(start: f64, end: f64) -> Span {
        Span { start, end }
    }

    #[test]
    fn a_voice_is_cut_into_pieces_where_it_resumes_after_a_long_silence() {
        assert_eq!(pieces(&[], 10.0), [(0.0, None)]);
        // Short silences stay inside a piece; long ones end it where the sound resumes.
        let gaps = [
            gap(3.0, 5.0),
            gap(20.0, 45.0),
            gap(50.0, 60.0),
            gap(61.0, 70.9),
        ];
        assert_eq!(
            pieces(&gaps, 10.0),
            [(0.0, Some(45.0)), (45.0, Some(60.0)), (60.0, None)]
        );
    }
}
