//! ffprobe: the arguments that ask for stream facts, and the parser of its JSON answer.

use std::path::Path;

use serde::Deserialize;

use crate::process::Invocation;

/// What is being probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A converted video track: its stream facts and, in the same pass, the timestamps of its
    /// keyframes (only keyframes are decoded), whose first is the first frame that can show,
    /// with their picture sizes, and the timestamps of all its frames (read, not decoded).
    Video,
    /// The mixed audio, read as WAV and nothing else: its content cannot make ffprobe open
    /// another file (an HLS playlist named `.wav` would otherwise read media outside the
    /// roots).
    Wav,
    /// A participant's audio track as janus-pp-rec converted it (Matroska, Ogg Opus or WAV):
    /// recproc's own file, read as one of those formats and nothing else.
    Voice,
}

/// `ffprobe` asking for what recproc needs to know of a media file, as JSON, in one read.
pub(crate) fn invocation(path: &Path, kind: Kind) -> Invocation {
    let entries = "stream=index,codec_type,codec_name,width,height,channels,start_time,duration,nb_read_packets:format=duration,start_time";
    let inv = Invocation::new("ffprobe").args([
        "-v",
        "error",
        "-count_packets",
        "-protocol_whitelist",
        "file",
        "-of",
        "json=c=1",
    ]);
    match kind {
        Kind::Video => inv
            .args(["-skip_frame", "nokey", "-select_streams", "v:0"])
            .arg("-show_entries")
            .arg(format!(
                "{entries}:frame=best_effort_timestamp_time,width,height:packet=pts_time"
            )),
        Kind::Wav => inv.args(["-show_entries", entries, "-f", "wav"]),
        Kind::Voice => inv.args([
            "-show_entries",
            entries,
            "-format_whitelist",
            "matroska,ogg,wav",
        ]),
    }
    .path_arg(path)
}

/// One stream, as ffprobe describes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stream {
    pub codec_type: String,
    pub codec_name: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Audio channels.
    pub channels: Option<u32>,
    pub start_time: Option<f64>,
    pub duration: Option<f64>,
    /// Packets (for video: frames) in the stream, counted without decoding.
    pub packets: Option<u64>,
}

/// The facts of one media file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Probe {
    pub streams: Vec<Stream>,
    /// The keyframes' timestamps, in increasing order (asked for with [`Kind::Video`]):
    /// frames before the first cannot be decoded and never show; a seek decodes from the one
    /// before it.
    pub keyframes: Vec<f64>,
    /// The picture size from each keyframe on where it changes, in time order: (timestamp,
    /// width, height).
    pub sizes: Vec<(f64, u32, u32)>,
    /// Every frame's timestamp, in increasing order (asked for with [`Kind::Video`]).
    pub frames: Vec<f64>,
    pub start_time: Option<f64>,
    pub duration: Option<f64>,
}

#[derive(Deserialize)]
struct RawProbe<'a> {
    #[serde(default)]
    streams: Vec<RawStream>,
    #[serde(default)]
    format: Option<RawFormat>,
    /// What ffprobe writes when it shows packets and frames: both, in read order. A 12 h
    /// track has a million of them: their texts are borrowed from the output, not copied.
    #[serde(default, borrow)]
    packets_and_frames: Vec<RawEntry<'a>>,
    #[serde(default, borrow)]
    frames: Vec<RawEntry<'a>>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    /// `packet` or `frame` in `packets_and_frames`.
    #[serde(rename = "type", borrow)]
    kind: Option<&'a str>,
    #[serde(borrow)]
    best_effort_timestamp_time: Option<&'a str>,
    #[serde(borrow)]
    pts_time: Option<&'a str>,
    width: Option<u32>,
    height: Option<u32>,
}

#[derive(Deserialize)]
struct RawStream {
    #[serde(default)]
    codec_type: String,
    #[serde(default)]
    codec_name: String,
    width: Option<u32>,
    height: Option<u32>,
    channels: Option<u32>,
    start_time: Option<String>,
    duration: Option<String>,
    nb_read_packets: Option<String>,
}

#[derive(Deserialize)]
struct RawFormat {
    start_time: Option<String>,
    duration: Option<String>,
}

fn seconds<S: AsRef<str>>(v: &Option<S>) -> Option<f64> {
    v.as_ref()
        .map(AsRef::as_ref)
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|f| f.is_finite())
}

/// Parses ffprobe's JSON output.
pub(crate) fn parse(json: &[u8]) -> Result<Probe, String> {
    let raw: RawProbe =
        serde_json::from_slice(json).map_err(|e| format!("unreadable ffprobe output: {e}"))?;
    let (start_time, duration) = match &raw.format {
        Some(f) => (seconds(&f.start_time), seconds(&f.duration)),
        None => (None, None),
    };
    let is = |e: &RawEntry, kind: &str| e.kind.is_none_or(|k| k == kind);
    let entries = || raw.frames.iter().chain(&raw.packets_and_frames);
    let mut decoded: Vec<(f64, Option<(u32, u32)>)> = entries()
        .filter(|e| is(e, "frame"))
        .filter_map(|f| {
            let at = seconds(&f.best_effort_timestamp_time)?;
            Some((at, f.width.zip(f.height)))
        })
        .collect();
    decoded.sort_by(|a, b| a.0.total_cmp(&b.0));
    let keyframes = decoded.iter().map(|k| k.0).collect();
    let mut sizes: Vec<(f64, u32, u32)> = Vec::new();
    for (at, size) in decoded {
        match size {
            Some((w, h)) if sizes.last().is_none_or(|l| (l.1, l.2) != (w, h)) => {
                sizes.push((at, w, h));
            }
            _ => {}
        }
    }
    let mut frames: Vec<f64> = raw
        .packets_and_frames
        .iter()
        .filter(|e| e.kind == Some("packet"))
        .filter_map(|p| seconds(&p.pts_time))
        .collect();
    frames.sort_by(f64::total_cmp);
    Ok(Probe {
        streams: raw
            .streams
            .iter()
            .map(|s| Stream {
                codec_type: s.codec_type.clone(),
                codec_name: s.codec_name.clone(),
                width: s.width,
                height: s.height,
                channels: s.channels,
                start_time: seconds(&s.start_time),
                duration: seconds(&s.duration),
                packets: s.nb_read_packets.as_deref().and_then(|n| n.parse().ok()),
            })
            .collect(),
        keyframes,
        sizes,
        frames,
        start_time,
        duration,
    })
}

impl Probe {
    pub(crate) fn first_keyframe(&self) -> Option<f64> {
        self.keyframes.first().copied()
    }

    pub(crate) fn first(&self, codec_type: &str) -> Option<&Stream> {
        self.streams.iter().find(|s| s.codec_type == codec_type)
    }

    /// Where the stream's media begins and ends, in seconds of the file's own clock: the
    /// stream's start time (the file's when the stream has none) and its end (start plus
    /// duration, or the file's duration, which counts from zero).
    pub(crate) fn span(&self, codec_type: &str) -> Option<(f64, f64)> {
        let s = self.first(codec_type)?;
        let start = s.start_time.or(self.start_time).unwrap_or(0.0);
        let end = match s.duration {
            Some(d) => start + d,
            None => self.duration?,
        };
        (end > start).then_some((start, end))
    }

    /// The mean time between frames of the stream, from its span and packet count.
    pub(crate) fn mean_frame_interval(&self, codec_type: &str) -> Option<f64> {
        let (start, end) = self.span(codec_type)?;
        let packets = self.first(codec_type)?.packets?;
        (packets > 1).then(|| (end - start) / (packets - 1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_webm_video_without_stream_duration() {
        let json = br#"{"programs":[],"streams":[{"index":0,"codec_name":"vp8","codec_type":"video","width":640,"height":480,"start_time":"0.000000","nb_read_packets":"292"}],
            "format":{"start_time":"0.000000","duration":"10.780000"}}"#;
        let p = parse(json).unwrap();
        let v = p.first("video").unwrap();
        assert_eq!((v.width, v.height), (Some(640), Some(480)));
        assert_eq!(p.span("video"), Some((0.0, 10.78)));
        assert_eq!(p.span("audio"), None);
        let interval = p.mean_frame_interval("video").unwrap();
        assert!((interval - 10.78 / 291.0).abs() < 1e-9);
        assert_eq!(p.mean_frame_interval("audio"), None);
    }

    #[test]
    fn reads_a_late_starting_stream() {
        let json = br#"{"streams":[{"codec_type":"video","codec_name":"h264","start_time":"2.000000","duration":"5.500000"}],"format":{"duration":"7.5"}}"#;
        assert_eq!(parse(json).unwrap().span("video"), Some((2.0, 7.5)));
    }

    #[test]
    fn reads_a_wav() {
        let json = br#"{"streams":[{"codec_type":"audio","codec_name":"pcm_s16le","sample_rate":"8000","channels":1,"duration":"19.842000"}],"format":{"duration":"19.842000"}}"#;
        let p = parse(json).unwrap();
        assert_eq!(p.first("audio").unwrap().codec_name, "pcm_s16le");
        assert_eq!(p.span("audio"), Some((0.0, 19.842)));
    }

    #[test]
    fn n_a_values_are_absent() {
        let json = br#"{"streams":[{"codec_type":"video","codec_name":"vp8","start_time":"N/A"}],"format":{"duration":"N/A"}}"#;
        let p = parse(json).unwrap();
        assert_eq!(p.first("video").unwrap().start_time, None);
        assert_eq!(p.span("video"), None);
    }

    #[test]
    fn the_first_keyframe_comes_from_the_frames_listed() {
        let json = br#"{"frames":[{"best_effort_timestamp_time":"N/A"},{"best_effort_timestamp_time":"1.933000"},{"best_effort_timestamp_time":"9.933000"}],
            "streams":[{"codec_type":"video","codec_name":"vp8","start_time":"0.000000","nb_read_packets":"104"}],"format":{"duration":"6.867"}}"#;
        let p = parse(json).unwrap();
        assert_eq!(p.first_keyframe(), Some(1.933));
        assert_eq!(p.keyframes, [1.933, 9.933]);
        let none = br#"{"frames":[],"streams":[{"codec_type":"video","codec_name":"vp8"}]}"#;
        assert_eq!(parse(none).unwrap().first_keyframe(), None);
    }

    #[test]
    fn packets_and_frames_give_every_frame_and_the_size_changes() {
        let json = br#"{"packets_and_frames":[
            {"type":"packet","pts_time":"0.000000"},
            {"type":"frame","best_effort_timestamp_time":"0.000000","width":640,"height":480},
            {"type":"packet","pts_time":"0.066000"},{"type":"packet","pts_time":"0.033000"},
            {"type":"packet","pts_time":"N/A"},
            {"type":"packet","pts_time":"2.000000"},
            {"type":"frame","best_effort_timestamp_time":"2.000000","width":640,"height":480},
            {"type":"packet","pts_time":"4.000000"},
            {"type":"frame","best_effort_timestamp_time":"4.000000","width":360,"height":480}],
            "streams":[{"codec_type":"video","codec_name":"vp8","nb_read_packets":"6"}]}"#;
        let p = parse(json).unwrap();
        assert_eq!(p.frames, [0.0, 0.033, 0.066, 2.0, 4.0]);
        assert_eq!(p.keyframes, [0.0, 2.0, 4.0]);
        assert_eq!(p.sizes, [(0.0, 640, 480), (4.0, 360, 480)]);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"not json").is_err());
    }

    #[test]
    fn invocation_asks_for_json() {
        let inv = invocation(Path::new("/w/a.webm"), Kind::Video);
        assert_eq!(inv.program, "ffprobe");
        let args = inv.args_lossy();
        assert_eq!(args.last().unwrap(), "/w/a.webm");
        assert!(args.windows(2).any(|w| w == ["-of", "json=c=1"]));
        assert!(!args.contains(&"-f".to_owned()));
        assert!(args.windows(2).any(|w| w == ["-skip_frame", "nokey"]));
    }

    #[test]
    fn a_forced_format_reads_only_local_files() {
        let args = invocation(Path::new("/a/mix.wav"), Kind::Wav).args_lossy();
        let n = args.len();
        assert_eq!(args[n - 3..], ["-f", "wav", "/a/mix.wav"]);
        assert!(args
            .windows(2)
            .any(|w| w == ["-protocol_whitelist", "file"]));
    }
}
