//! The events recproc publishes (SPEC.md "Events (output)"): the processed event, in the
//! split-metadata shape plus status, mode, encryption and the delivered files; and the failure
//! event. Built here from what the pipeline returned, serialised with serde.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::event::Conference;
use crate::pipeline::deliver::{Delivered, FileKind, MediaEntry};
use crate::pipeline::{Blame, StageError};
use crate::plan::Mode;
use crate::timestamp::Timestamp;

/// `"0.1234MB"`: megabytes (2^20 bytes) with four decimals, as the metadata carries sizes.
pub(crate) fn size_text(bytes: u64) -> String {
    format!("{:.4}MB", bytes as f64 / (1024.0 * 1024.0))
}

/// A participant's track as the metadata lists it: a video (in `videos`) or their own
/// audio (in `audios`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantEntry {
    pub start_time: String,
    pub stop_time: String,
    pub filename: String,
    pub size: String,
    pub bytes: u64,
    #[serde(rename = "userID")]
    pub user_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AudioEntry {
    pub filename: String,
    pub start_time: String,
    pub stop_time: String,
    pub size: String,
    pub bytes: u64,
}

/// A track left out of the recording.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SkippedEntry {
    pub filename: String,
    #[serde(rename = "userID")]
    pub user_id: String,
    /// `video` or `audio`; absent in receipts written before recproc read audio tracks (all
    /// video).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub reason: String,
}

/// The processed event's `timeline` (SPEC.md "Events"): every track, how it was placed and
/// what happened to it, and in merged mode who was where when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimelineReport {
    pub tracks: Vec<TrackEntry>,
    /// Merged mode: each stretch between joins and leaves, with its tiles; empty in split
    /// mode.
    pub layout: Vec<LayoutEntry>,
}

/// One input track in the timeline. Times are seconds on the output (t=0 is its start).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrackEntry {
    /// `null` for the audiomixer's mixed audio.
    #[serde(rename = "userID")]
    pub user_id: Option<String>,
    /// `video` or `audio`.
    pub kind: String,
    /// The recording it came from.
    pub filename: String,
    /// As the `.mjr` header names it.
    pub codec: String,
    /// When the participant's tile (or, in split mode, the track) starts and ends; `null`
    /// for a track left out.
    pub start: Option<f64>,
    pub end: Option<f64>,
    /// Milliseconds from the event's `startTime` for the track to its first packet
    /// (negative: the first packet came before the event says the track started); `null`
    /// for a track of no packets (the mixed WAV) or one left out.
    pub offset_ms: Option<i64>,
    /// Milliseconds from the first packet to the first frame that could be decoded; `null`
    /// for audio or a track left out.
    pub first_frame_delay_ms: Option<i64>,
    /// Where no new frame came for a while (SPEC.md: held for `max_freeze`, then black).
    pub gaps: Vec<GapEntry>,
    /// The picture size from the first decodable frame on, and each change.
    pub resolutions: Vec<ResolutionEntry>,
    /// The rotation the sender signals (video-orientation extension) from its first signal
    /// on, and each change; empty when it signals none.
    pub rotations: Vec<RotationEntry>,
    /// Why the track was left out, or `null`.
    pub skipped: Option<String>,
}

/// A gap in a track: from `at` (when its next frame was due), `seconds` long.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct GapEntry {
    pub at: f64,
    pub seconds: f64,
}

/// A track's picture size from `at` on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ResolutionEntry {
    pub at: f64,
    pub width: u32,
    pub height: u32,
}

/// The rotation signalled from `at` on: the picture is shown turned `degrees` clockwise.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct RotationEntry {
    pub at: f64,
    pub degrees: u16,
}

/// One stretch of the merged output with the same tiles.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayoutEntry {
    pub start: f64,
    pub end: f64,
    pub tiles: Vec<TileEntry>,
}

/// A tile: whose, and where on the canvas (pixels).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TileEntry {
    #[serde(rename = "userID")]
    pub user_id: String,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Seconds as the timeline writes them: to the millisecond.
pub(crate) fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// A delivered file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub path: String,
    pub kind: FileKind,
    pub bytes: u64,
    pub sha256: String,
}

/// The split metadata JSON (SPEC.md "Outputs"): also the core of the processed event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub uuid: String,
    pub start_time: Option<String>,
    pub stop_time: Option<String>,
    pub should_record_audio: bool,
    pub should_record_video: bool,
    pub videos: Vec<ParticipantEntry>,
    /// The participants' own audio tracks (Janus-only conferences); absent when there are
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audios: Vec<ParticipantEntry>,
    pub audio: Option<AudioEntry>,
}

/// The metadata of a run; `name` says how a file is written in it (the split directory's JSON
/// gives names relative to the directory, the processed event full paths).
pub(crate) fn metadata(
    conference: &Conference,
    d: &Delivered,
    name: impl Fn(&Path) -> String,
) -> Metadata {
    let entry = |m: &MediaEntry| (m.start.to_iso_millis(), m.stop.to_iso_millis());
    let participant = |v: &MediaEntry| {
        let (start_time, stop_time) = entry(v);
        ParticipantEntry {
            start_time,
            stop_time,
            filename: name(&v.path),
            size: size_text(v.bytes),
            bytes: v.bytes,
            user_id: v.user_id.clone().unwrap_or_default(),
        }
    };
    Metadata {
        uuid: conference.uuid.clone(),
        start_time: d.origin.map(|o| o.to_iso_millis()),
        stop_time: d.origin.map(|o| o.add_seconds(d.duration).to_iso_millis()),
        should_record_audio: d.should_record_audio,
        should_record_video: d.should_record_video,
        videos: d.videos.iter().map(&participant).collect(),
        audios: d.voices.iter().map(&participant).collect(),
        audio: d.audio.as_ref().map(|a| {
            let (start_time, stop_time) = entry(a);
            AudioEntry {
                filename: name(&a.path),
                start_time,
                stop_time,
                size: size_text(a.bytes),
                bytes: a.bytes,
            }
        }),
    }
}

/// The processed event: the metadata plus what was done and what was delivered. Published,
/// and kept in the receipt, from which it is read back to be published again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Processed {
    pub conference_id: String,
    #[serde(flatten)]
    pub metadata: Metadata,
    /// Tracks left out because nothing in them could be shown or heard.
    pub skipped: Vec<SkippedEntry>,
    pub status: Status,
    #[serde(with = "mode_name")]
    pub mode: Mode,
    /// Why that mode (SPEC.md's rule, in words).
    pub mode_reason: String,
    pub encrypted: bool,
    /// The final file in merged mode.
    pub filename: Option<String>,
    /// The recording's directory in split mode.
    pub directory: Option<String>,
    pub files: Vec<FileEntry>,
    /// Absent only in receipts written before recproc reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<TimelineReport>,
    /// What the recording policy decided (SPEC.md "Recording policy"); absent only in
    /// receipts written before recproc applied one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyReport>,
}

/// The processed event's `policy`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport {
    pub recorded: bool,
    /// `user`, `domain`, `system` or `pstn`: which level decided.
    pub source: String,
    /// The media kept, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_type: Option<String>,
    /// Why not, when not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The processed event of a successful run.
pub(crate) fn processed(conference: &Conference, d: &Delivered) -> Processed {
    let files: Vec<FileEntry> = d
        .files
        .iter()
        .map(|f| FileEntry {
            path: f.path.display().to_string(),
            kind: f.kind,
            bytes: f.bytes,
            sha256: f.sha256.clone(),
        })
        .collect();
    Processed {
        conference_id: conference.conference_id.clone(),
        metadata: metadata(conference, d, |p| p.display().to_string()),
        skipped: d
            .skipped
            .iter()
            .map(|s| SkippedEntry {
                filename: s.source.path.display().to_string(),
                user_id: s.source.user_id.clone(),
                kind: Some(s.kind.as_str().to_owned()),
                reason: s.reason.clone(),
            })
            .collect(),
        status: Status::Processed,
        mode: d.mode,
        mode_reason: d.mode_reason.clone(),
        encrypted: d.encrypted,
        filename: match d.mode {
            Mode::Merged => files.first().map(|f| f.path.clone()),
            Mode::Split => None,
        },
        directory: d.directory.as_ref().map(|p| p.display().to_string()),
        files,
        timeline: Some(d.timeline.clone()),
        policy: conference.decision.as_ref().map(|d| PolicyReport {
            recorded: d.recorded(),
            source: d.source.as_str().into(),
            recording_type: d.recorded().then(|| d.recording_type().into()),
            reason: d.reason.clone(),
        }),
    }
}

/// The `status` of a processed event.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Processed,
}

/// A [`Mode`] as events write it: `merged` or `split`.
mod mode_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::plan::Mode;

    pub(super) fn serialize<S: Serializer>(mode: &Mode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(mode.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        let name = String::deserialize(d)?;
        [Mode::Merged, Mode::Split]
            .into_iter()
            .find(|m| m.as_str() == name)
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, &["merged", "split"]))
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Failed {
    pub conference_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    pub status: &'static str,
    pub stage: &'static str,
    pub error: String,
    /// `input` (the message is at fault) or `system`.
    pub blame: Blame,
    /// How many attempts at the conference failed for system reasons, this one included
    /// (when they were counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Where the kept temporary files are.
    pub work_dir: Option<String>,
    pub failed_at: String,
    /// The original message, or its raw text when it was not valid JSON; or, when that
    /// would make the event too large, where the original is kept ([`kept_original`]).
    pub event: serde_json::Value,
}

/// The failure event for `error`.
pub(crate) fn failed(
    ids: (Option<String>, Option<String>),
    error: &StageError,
    work_dir: Option<&Path>,
    event: serde_json::Value,
) -> Failed {
    Failed {
        conference_id: ids.0,
        uuid: ids.1,
        status: "failed",
        stage: error.stage.as_str(),
        error: error.cause.to_string(),
        blame: error.blame(),
        attempts: None,
        work_dir: work_dir.map(|p| p.display().to_string()),
        failed_at: Timestamp::now().to_iso_millis(),
        event,
    }
}

impl Failed {
    /// The failure event of a conference recproc stops retrying: its `attempts`-th attempt
    /// failed for system reasons, and `max_attempts` is the most it makes. Adds less than
    /// [`GIVE_UP_RESERVE`] bytes to the event.
    pub(crate) fn gave_up(mut self, attempts: u32, max_attempts: u32) -> Failed {
        self.error = format!(
            "failed {attempts} times for system reasons (daemon.max_attempts is {max_attempts}), so recproc stopped retrying it; the last time: {}",
            self.error
        );
        self.attempts = Some(attempts);
        self
    }
}

/// Room a failure event keeps below `amqp.max_event_bytes` for what [`Failed::gave_up`]
/// adds to it.
pub(crate) const GIVE_UP_RESERVE: usize = 1024;

/// How many bytes of the original message the failure event shows when it is kept apart.
const PREFIX_BYTES: usize = 256;

/// What a failure event carries as its `event` when the original is kept in the state
/// directory: where (`null` when it could not be kept), its size and sha256, and the
/// longest valid UTF-8 text among its first bytes.
pub(crate) fn kept_original(
    path: Option<&Path>,
    bytes: u64,
    sha256: &str,
    message: &[u8],
) -> serde_json::Value {
    let head = &message[..message.len().min(PREFIX_BYTES)];
    let prefix = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).expect("checked up to there"),
    };
    serde_json::json!({
        "path": path.map(|p| p.display().to_string()),
        "bytes": bytes,
        "sha256": sha256,
        "prefix": prefix,
    })
}

/// Whether the failure event, as published, takes at most `limit` bytes. Stops serialising
/// once it is over.
pub(crate) fn fits(failed: &Failed, limit: usize) -> bool {
    let mut counter = Counter { left: limit };
    serde_json::to_writer(&mut counter, failed).is_ok()
}

/// A sink that fails once more than `left` bytes were written to it.
struct Counter {
    left: usize,
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.left = self
            .left
            .checked_sub(buf.len())
            .ok_or_else(|| std::io::Error::other("over the limit"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Shortens the failure event's own texts (the IDs as the message gave them, the error,
/// the work directory), longest first, until the event fits in `limit` bytes. Its `event`
/// is left alone: make it small first ([`kept_original`]).
pub(crate) fn shorten_to_fit(failed: &mut Failed, limit: usize) {
    while !fits(failed, limit) {
        let texts = [
            failed.conference_id.as_mut(),
            failed.uuid.as_mut(),
            Some(&mut failed.error),
            failed.work_dir.as_mut(),
        ];
        let Some(longest) = texts.into_iter().flatten().max_by_key(|t| t.len()) else {
            return;
        };
        if longest.len() <= 64 {
            return; // nothing left worth cutting: the limit is below what any event takes
        }
        let mut end = longest.len() / 2;
        while !longest.is_char_boundary(end) {
            end -= 1;
        }
        longest.truncate(end);
        longest.push('…');
    }
}

#[cfg(test)]
impl Processed {
    /// A processed event of a merged recording delivering `files`, for tests.
    pub(crate) fn for_tests(files: Vec<FileEntry>) -> Processed {
        Processed {
            conference_id: "c".into(),
            metadata: Metadata {
                uuid: "u".into(),
                start_time: None,
                stop_time: None,
                should_record_audio: true,
                should_record_video: true,
                videos: Vec::new(),
                audios: Vec::new(),
                audio: None,
            },
            skipped: Vec::new(),
            status: Status::Processed,
            mode: Mode::Merged,
            mode_reason: "configured".into(),
            encrypted: false,
            filename: files.first().map(|f| f.path.clone()),
            directory: None,
            files,
            timeline: None,
            policy: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Stage;

    /// A processed event as the previous version published it and kept it in its receipts
    /// (keys sorted, as serde_json's map writes them).
    const PUBLISHED: &str = r#"{"audio":{"bytes":100,"filename":"/a/c.wav","size":"0.0001MB","startTime":"2026-01-01T10:00:00.000Z","stopTime":"2026-01-01T10:00:03.000Z"},"conferenceId":"c","directory":null,"encrypted":false,"filename":"/o/rec.webm","files":[{"bytes":5,"kind":"merged","path":"/o/rec.webm","sha256":"ab"}],"mode":"merged","modeReason":"configured","shouldRecordAudio":true,"shouldRecordVideo":true,"skipped":[{"filename":"/v/b.mjr","reason":"no keyframe","userID":"b"}],"startTime":"2026-01-01T10:00:00.000Z","status":"processed","stopTime":"2026-01-01T10:00:03.000Z","uuid":"u","videos":[{"bytes":9,"filename":"/v/a.mjr","size":"0.0000MB","startTime":"2026-01-01T10:00:00.000Z","stopTime":"2026-01-01T10:00:03.000Z","userID":"a"}]}"#;

    #[test]
    fn the_processed_event_reads_back_and_publishes_the_same_bytes() {
        let p: Processed = serde_json::from_str(PUBLISHED).unwrap();
        assert_eq!(p.mode, Mode::Merged);
        assert_eq!(p.files[0].kind, FileKind::Merged);
        let published = serde_json::to_string(&serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(published, PUBLISHED);
        let split = PUBLISHED.replace(r#""mode":"merged""#, r#""mode":"split""#);
        assert_eq!(
            serde_json::from_str::<Processed>(&split).unwrap().mode,
            Mode::Split
        );
        let odd = PUBLISHED.replace(r#""mode":"merged""#, r#""mode":"mixed""#);
        assert!(serde_json::from_str::<Processed>(&odd).is_err());
    }

    #[test]
    fn sizes_are_megabytes_with_four_decimals() {
        assert_eq!(size_text(0), "0.0000MB");
        assert_eq!(size_text(129_394), "0.1234MB");
        assert_eq!(size_text(3 * 1024 * 1024), "3.0000MB");
    }

    fn failed_with(event: serde_json::Value) -> Failed {
        let e = StageError::input(Stage::Validate, "not valid JSON");
        failed((Some("c1".into()), Some("u1".into())), &e, None, event)
    }

    fn published_len(f: &Failed) -> usize {
        serde_json::to_vec(&serde_json::to_value(f).unwrap())
            .unwrap()
            .len()
    }

    #[test]
    fn an_event_fits_when_its_published_bytes_do() {
        let f = failed_with("\u{1}".repeat(1000).into());
        let len = published_len(&f);
        assert!(len > 6000, "control bytes are escaped: {len}");
        assert!(fits(&f, len));
        assert!(!fits(&f, len - 1));
        // Uncounted attempts are not mentioned.
        assert!(serde_json::to_value(&f).unwrap().get("attempts").is_none());
    }

    #[test]
    fn a_kept_original_is_named_with_a_valid_utf8_prefix() {
        let path = Path::new("/o/.recproc/ab.original");
        let v = kept_original(Some(path), 9, "ab", b"{\"a\": 1}");
        assert_eq!(
            v,
            serde_json::json!({"path": "/o/.recproc/ab.original", "bytes": 9, "sha256": "ab", "prefix": "{\"a\": 1}"})
        );
        // Cut inside a character, or at the first byte that is not UTF-8.
        let long = "é".repeat(PREFIX_BYTES);
        let v = kept_original(None, 1, "x", long.as_bytes());
        assert_eq!(v["path"], serde_json::Value::Null);
        assert_eq!(v["prefix"], "é".repeat(PREFIX_BYTES / 2));
        let v = kept_original(None, 1, "x", b"ok\xff\x01");
        assert_eq!(v["prefix"], "ok");
        let v = kept_original(None, 1, "x", &[1u8; 10_000]);
        assert_eq!(v["prefix"], "\u{1}".repeat(PREFIX_BYTES));
    }

    #[test]
    fn long_texts_are_shortened_until_the_event_fits() {
        let mut f = failed_with(serde_json::json!({"small": true}));
        f.conference_id = Some("\u{1}".repeat(200_000));
        f.error = "é".repeat(50_000);
        shorten_to_fit(&mut f, 65_536);
        assert!(published_len(&f) <= 65_536, "{}", published_len(&f));
        assert!(f.conference_id.as_ref().unwrap().ends_with('…'));
        assert!(f.error.starts_with("éé") && f.error.ends_with('…'));
        assert_eq!(f.event, serde_json::json!({"small": true}));
        // An event that fits is left as it is.
        let mut g = failed_with(serde_json::json!({"small": true}));
        let before = g.clone();
        shorten_to_fit(&mut g, 65_536);
        assert_eq!(g, before);
    }

    #[test]
    fn giving_up_says_how_often_and_stays_within_the_reserve() {
        let e = StageError::system(
            Stage::Preprocess,
            "cannot create /o/.recproc: Not a directory (os error 20)",
        );
        let mut f = failed(
            (Some("c".into()), Some("u".into())),
            &e,
            None,
            serde_json::json!({}),
        );
        f.attempts = Some(3);
        let before = published_len(&f);
        let g = f.gave_up(u32::MAX, u32::MAX);
        assert!(published_len(&g) - before < GIVE_UP_RESERVE);
        let g = failed((Some("c".into()), None), &e, None, serde_json::json!({})).gave_up(3, 3);
        let v = serde_json::to_value(&g).unwrap();
        assert_eq!(v["attempts"], 3);
        assert_eq!(v["blame"], "system");
        assert_eq!(v["stage"], "preprocess");
        assert_eq!(
            v["error"],
            "failed 3 times for system reasons (daemon.max_attempts is 3), so recproc stopped retrying it; the last time: cannot create /o/.recproc: Not a directory (os error 20)"
        );
    }

    #[test]
    fn failure_event_has_the_contract_fields() {
        let e = StageError::input(Stage::Validate, "recordingInfo.uuid is missing");
        let f = failed(
            (Some("c1".into()), None),
            &e,
            None,
            serde_json::Value::String("not json".into()),
        );
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["conferenceId"], "c1");
        assert!(v.get("uuid").is_none());
        assert_eq!(v["status"], "failed");
        assert_eq!(v["stage"], "validate");
        assert_eq!(v["error"], "recordingInfo.uuid is missing");
        assert_eq!(v["blame"], "input");
        assert_eq!(v["workDir"], serde_json::Value::Null);
        assert_eq!(v["event"], "not json");
        assert!(Timestamp::parse(v["failedAt"].as_str().unwrap()).is_ok());
    }
}
