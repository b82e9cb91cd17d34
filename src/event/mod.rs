//! The conference-ended event (SPEC "Conference-ended event"): owns the validated
//! [`Conference`] the rest of the crate works from, whose IDs are safe, whose times are parsed
//! and whose files are resolved to canonical paths inside the configured [`Roots`], and the
//! [`EventError`] that says why an event was refused and whose fault that is.
//!
//! Two steps, so that a failure event can carry the original message and its IDs even when
//! validation fails: [`parse_json`] (bytes → JSON object), then [`validate`]. The JSON as it
//! arrives is read and its fields checked in `wire`; the file names are resolved in `resolve`
//! and each file is opened there, once, beneath its root (`open`): the only I/O. Nothing is
//! read here; every later reader reads the opened file ([`Opened::path`]), never the name
//! again.

mod open;
mod resolve;
#[cfg(test)]
mod testing;
mod wire;

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde_json::Value;

use crate::timestamp::{ParseTimestampError, Timestamp};
pub(crate) use open::{is_machine_fault, Opened};
use wire::MAX_ID_BYTES;

/// The directories media may be read from: canonical absolute paths (as `Config` holds them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Roots {
    pub(crate) video_root: PathBuf,
    pub(crate) audio_root: PathBuf,
}

impl Roots {
    /// The roots of a validated configuration.
    pub(crate) fn from_paths(paths: &crate::config::PathsConfig) -> Roots {
        Roots {
            video_root: paths.video_root.clone(),
            audio_root: paths.audio_root.clone(),
        }
    }
}

/// A validated conference-ended event.
///
/// `pub` only because `pipeline` and `report` expose it in `pub` signatures; its fields are
/// the crate's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    /// `conferenceId` (the `{{confbridgeid}}` of names).
    pub(crate) conference_id: String,
    /// `recordingInfo.uuid`.
    pub(crate) uuid: String,
    /// `recordingInfo.completed`.
    pub(crate) completed: Option<Timestamp>,
    /// The media kept: the event's `recordingType` (`all` when it gives none) until the
    /// recording policy is applied, then what the policy's [`Decision`] keeps.
    ///
    /// [`Decision`]: crate::policy::Decision
    pub(crate) recording_type: RecordingType,
    /// `recordingPolicy`, when the event carries one.
    pub(crate) policy: Option<crate::policy::RecordingPolicy>,
    /// What the recording policy decided, once applied.
    pub(crate) decision: Option<crate::policy::Decision>,
    /// Every video track, sorted by (start, user ID, key).
    pub(crate) videos: Vec<TrackSource>,
    /// Every participant's own audio track (`sfuaudio`), sorted like the videos.
    pub(crate) voices: Vec<TrackSource>,
    /// The audiomixer's mixed WAV, when there is one.
    pub(crate) audio: Option<AudioSource>,
}

/// Which media the output keeps (`recordingType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) enum RecordingType {
    #[default]
    All,
    Video,
    Audio,
    None,
}

impl RecordingType {
    /// `all`, `video`, `audio` or `none`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RecordingType::All => "all",
            RecordingType::Video => "video",
            RecordingType::Audio => "audio",
            RecordingType::None => "none",
        }
    }

    /// Parses the event's value; ASCII case is ignored.
    pub(crate) fn parse(text: &str) -> Option<RecordingType> {
        [
            RecordingType::All,
            RecordingType::Video,
            RecordingType::Audio,
            RecordingType::None,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(text))
    }

    /// Whether the audio is kept (`all` or `audio`).
    pub(crate) fn should_record_audio(self) -> bool {
        matches!(self, RecordingType::All | RecordingType::Audio)
    }

    /// Whether the video is kept (`all` or `video`).
    pub(crate) fn should_record_video(self) -> bool {
        matches!(self, RecordingType::All | RecordingType::Video)
    }
}

impl fmt::Display for RecordingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One participant's track: a video (`sfuvideo` entry) or their own audio (`sfuaudio`).
///
/// `pub` only because `pipeline` exposes it in `pub` signatures; its fields are
/// the crate's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSource {
    pub(crate) user_id: String,
    /// The `<startMs>` key of the entry.
    pub(crate) key: String,
    /// Resolved, canonical, inside `video_root`, a regular file: for messages and events.
    pub(crate) path: PathBuf,
    /// The file at `path` when it was checked, open: what is read.
    pub(crate) file: Opened,
    /// As written in the event.
    pub(crate) filename: String,
    pub(crate) start: Timestamp,
    pub(crate) stop: Option<Timestamp>,
}

/// The mixed audio (the one `sipcall` entry).
///
/// `pub` only because `pipeline` exposes it in `pub` signatures; its fields are
/// the crate's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSource {
    /// Resolved, canonical, inside `audio_root`, a regular file: for messages and events.
    pub(crate) path: PathBuf,
    /// The file at `path` when it was checked, open: what is read.
    pub(crate) file: Opened,
    /// As written in the event.
    pub(crate) filename: String,
    pub(crate) start: Timestamp,
    pub(crate) stop: Option<Timestamp>,
}

/// Why an event was refused. Every message is one line naming the JSON path of the problem.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EventError {
    #[error("the event is not valid JSON: {message} at line {line}, column {column}")]
    InvalidJson {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("the event must be a JSON object, found {found}")]
    NotAnObject { found: &'static str },
    #[error("{path} is missing; expected {expected}")]
    Missing {
        path: String,
        expected: &'static str,
    },
    #[error("{path} must be {expected}, found {found}")]
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{path} {value} is not a usable ID: {reason}; IDs must be 1 to {MAX_ID_BYTES} bytes without '/', '\\' or control characters and not only dots")]
    BadId {
        path: String,
        /// A quoted, escaped, possibly shortened rendering of the value.
        value: String,
        reason: &'static str,
    },
    #[error("{path}: {source}")]
    BadTime {
        path: String,
        #[source]
        source: ParseTimestampError,
    },
    #[error("{path} {stop} is before startTime {start}; a track must stop at or after its start")]
    StopBeforeStart {
        path: String,
        start: Timestamp,
        stop: Timestamp,
    },
    #[error("{path} {value} is not a recording type; expected \"all\", \"video\", \"audio\" or \"none\"")]
    BadRecordingType { path: String, value: String },
    #[error("{path} is not something recproc understands; it reads only {expected} here ({what}), and refuses what it does not understand rather than drop or guess it")]
    UnknownKey {
        path: String,
        expected: &'static str,
        what: &'static str,
    },
    #[error("{path} {value} is not allowed; expected {allowed}")]
    BadValue {
        path: String,
        value: String,
        allowed: &'static str,
    },
    #[error("{path} has {count} entries; there must be at most one (the audiomixer writes one mixed WAV)")]
    TooManyAudio { path: String, count: usize },
    #[error("{path} {filename} is not a usable file name: {reason}")]
    BadFilename {
        path: String,
        filename: String,
        reason: &'static str,
    },
    #[error("{path} {filename} escapes {root_key} ({root:?}): its \"..\" components climb above the root")]
    EscapesRoot {
        path: String,
        filename: String,
        root_key: &'static str,
        root: PathBuf,
    },
    #[error(
        "{path} {filename}: file not found at {resolved:?} (files are looked up inside {root_key})"
    )]
    NotFound {
        path: String,
        filename: String,
        resolved: PathBuf,
        root_key: &'static str,
    },
    #[error("{path} {filename} resolves outside {root_key} through a symlink (to {resolved:?}); only files inside {root:?} are read")]
    OutsideRoot {
        path: String,
        filename: String,
        resolved: PathBuf,
        root_key: &'static str,
        root: PathBuf,
    },
    #[error("{path} {filename} resolves to {resolved:?}, which is a {kind}, not a regular file")]
    NotAFile {
        path: String,
        filename: String,
        resolved: PathBuf,
        kind: &'static str,
    },
    /// The file changed between its check and its opening: a symlink appeared on its path.
    #[error("{path} {filename}: {resolved:?} changed while it was checked (a symlink took the place of the file or of a directory on its way); only files that stay inside {root_key} are read")]
    Changed {
        path: String,
        filename: String,
        resolved: PathBuf,
        root_key: &'static str,
    },
    /// The file named cannot be used (`ENOTDIR`, `ELOOP`, `ENAMETOOLONG`, `EACCES`…): the
    /// event's fault.
    #[error("{path} {filename}: cannot read {resolved:?}: {source}")]
    Unreadable {
        path: String,
        filename: String,
        resolved: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The machine failed while the file was looked up (`EIO`, `EMFILE`…): the system's fault.
    #[error("{path} {filename}: cannot access {resolved:?}: {source}")]
    Io {
        path: String,
        filename: String,
        resolved: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A configured root cannot be opened: the system's fault (its configuration or its disk).
    #[error("{path}: cannot open {root_key} {root:?}: {source}")]
    Root {
        path: String,
        root_key: &'static str,
        root: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl EventError {
    /// The JSON path of the problem (`recordingInfo.uuid`), when there is one. Only the tests
    /// ask for it: every message that has one already starts with it.
    #[cfg(test)]
    pub(crate) fn json_path(&self) -> Option<&str> {
        match self {
            EventError::InvalidJson { .. } | EventError::NotAnObject { .. } => None,
            EventError::Missing { path, .. }
            | EventError::WrongType { path, .. }
            | EventError::BadId { path, .. }
            | EventError::BadTime { path, .. }
            | EventError::StopBeforeStart { path, .. }
            | EventError::BadRecordingType { path, .. }
            | EventError::TooManyAudio { path, .. }
            | EventError::UnknownKey { path, .. }
            | EventError::BadValue { path, .. }
            | EventError::BadFilename { path, .. }
            | EventError::EscapesRoot { path, .. }
            | EventError::NotFound { path, .. }
            | EventError::OutsideRoot { path, .. }
            | EventError::NotAFile { path, .. }
            | EventError::Changed { path, .. }
            | EventError::Unreadable { path, .. }
            | EventError::Io { path, .. }
            | EventError::Root { path, .. } => Some(path),
        }
    }

    /// Whether the event itself is at fault (retrying the same message cannot help). Decided
    /// when the error is made (`resolve`): only [`EventError::Io`] (the machine failed on a
    /// file the event names) and [`EventError::Root`] (a configured root cannot be opened)
    /// are the system's fault.
    pub(crate) fn is_input_fault(&self) -> bool {
        !matches!(self, EventError::Io { .. } | EventError::Root { .. })
    }
}

/// Step 1: the message bytes as a JSON object.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, EventError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        EventError::InvalidJson {
            message,
            line: e.line(),
            column: e.column(),
        }
    })?;
    if !value.is_object() {
        return Err(EventError::NotAnObject {
            found: wire::type_name(&value),
        });
    }
    Ok(value)
}

/// `conferenceId` and `recordingInfo.uuid` when they are strings, whatever else is wrong with
/// the event (for the failure event).
pub(crate) fn ids_best_effort(value: &Value) -> (Option<String>, Option<String>) {
    let conference_id = value
        .get("conferenceId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let uuid = value
        .get("recordingInfo")
        .and_then(|info| info.get("uuid"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    (conference_id, uuid)
}

/// Step 2: checks the event and resolves its files inside `roots`.
///
/// `null` is treated like an absent value for the optional fields (`completed`, `video`,
/// `audio`, `recordingType`, `stopTime`). Keys the contract does not define are ignored.
///
/// Each file is resolved as soon as its entry has been read, so the first problem in the
/// order of the event is the one reported.
pub(crate) fn validate(value: &Value, roots: &Roots) -> Result<Conference, EventError> {
    let event = wire::Event::read(value)?;

    let mut videos = Vec::new();
    event.each_video(|track| {
        videos.push(track_source(track, &roots.video_root, "video_root")?);
        Ok(())
    })?;
    let mut voices = Vec::new();
    let audio = match event.audio(|track| {
        voices.push(track_source(track, &roots.audio_root, "audio_root")?);
        Ok(())
    })? {
        None => None,
        Some(entry) => {
            let (path, file) = resolve::file(
                entry.filename,
                &entry.filename_path,
                &roots.audio_root,
                "audio_root",
            )?;
            Some(AudioSource {
                path,
                file,
                filename: entry.filename.to_owned(),
                start: entry.start,
                stop: entry.stop,
            })
        }
    };
    for tracks in [&mut videos, &mut voices] {
        tracks.sort_by(|a, b| (a.start, &a.user_id, &a.key).cmp(&(b.start, &b.user_id, &b.key)));
    }

    Ok(Conference {
        conference_id: event.conference_id.to_owned(),
        uuid: event.uuid.to_owned(),
        completed: event.completed,
        recording_type: event.recording_type,
        policy: event.policy,
        decision: None,
        videos,
        voices,
        audio,
    })
}

/// The track of `track`, its file resolved inside `root` (named `root_key` in messages).
fn track_source(
    track: wire::TrackEntry<'_>,
    root: &std::path::Path,
    root_key: &'static str,
) -> Result<TrackSource, EventError> {
    let entry = track.entry;
    let (path, file) = resolve::file(entry.filename, &entry.filename_path, root, root_key)?;
    Ok(TrackSource {
        user_id: track.user_id.to_owned(),
        key: track.key.to_owned(),
        path,
        file,
        filename: entry.filename.to_owned(),
        start: entry.start,
        stop: entry.stop,
    })
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_example_validates() {
        let f = fixture();
        let c = validate(&spec_example(), &f.roots).unwrap();
        assert_eq!(c.conference_id, "c48eb251b2");
        assert_eq!(c.uuid, "61408347");
        assert_eq!(c.completed, Some(ts("2020-05-25T07:42:43.826Z")));
        assert_eq!(c.recording_type, RecordingType::All);
        assert_eq!(c.videos.len(), 1);
        let v = &c.videos[0];
        assert_eq!(v.user_id, "alice");
        assert_eq!(v.key, "1590392556277");
        assert_eq!(v.filename, "/test/test-video-1.mjr");
        assert_eq!(v.path, f.roots.video_root.join("test/test-video-1.mjr"));
        assert_eq!(v.start, ts("2020-05-25T07:42:36.277Z"));
        assert_eq!(v.stop, Some(ts("2020-05-25T07:42:43.826Z")));
        let a = c.audio.unwrap();
        assert_eq!(a.filename, "audio.wav");
        assert_eq!(a.path, f.roots.audio_root.join("audio.wav"));
        assert_eq!(a.start, ts("2020-05-25T07:42:28.633Z"));
        assert_eq!(a.stop, Some(ts("2020-05-25T07:42:43.826Z")));
    }

    #[test]
    fn parse_json_then_validate() {
        let f = fixture();
        let bytes = serde_json::to_vec(&spec_example()).unwrap();
        let value = parse_json(&bytes).unwrap();
        assert!(validate(&value, &f.roots).is_ok());
    }

    #[test]
    fn several_sfuvideo_entries_per_user_are_tracks_sorted_by_start_user_key() {
        let f = fixture();
        let mut v = spec_example();
        v["recordingInfo"]["video"] = json!({
            "bob": {"sfuvideo": {
                "3": {"filename": "b.mjr", "startTime": "2020-05-25T07:42:40Z"},
                "1": {"filename": "test/test-video-2.mjr", "startTime": "2020-05-25T07:42:30Z",
                      "stopTime": "2020-05-25T07:42:35Z"}}},
            "alice": {"sfuvideo": {
                "2": {"filename": "test/test-video-1.mjr", "startTime": "2020-05-25T07:42:40Z"}}},
            "carol": {}
        });
        let c = validate(&v, &f.roots).unwrap();
        let order: Vec<_> = c
            .videos
            .iter()
            .map(|t| (t.user_id.as_str(), t.key.as_str()))
            .collect();
        assert_eq!(order, [("bob", "1"), ("alice", "2"), ("bob", "3")]);
        assert_eq!(c.videos[2].stop, None);
        assert_eq!(
            c.videos[0].path,
            f.roots.video_root.join("test/test-video-2.mjr")
        );
    }

    #[test]
    fn same_start_and_user_sorts_by_key() {
        let f = fixture();
        let mut v = spec_example();
        v["recordingInfo"]["video"] = json!({"u": {"sfuvideo": {
            "b": {"filename": "b.mjr", "startTime": "2020-05-25T07:42:40Z"},
            "a": {"filename": "b.mjr", "startTime": "2020-05-25T07:42:40Z"}}}});
        let c = validate(&v, &f.roots).unwrap();
        assert_eq!(c.videos[0].key, "a");
        assert_eq!(c.videos[1].key, "b");
    }

    #[test]
    fn recording_type_helpers() {
        assert!(
            RecordingType::All.should_record_audio() && RecordingType::All.should_record_video()
        );
        assert!(!RecordingType::Video.should_record_audio());
        assert!(!RecordingType::Audio.should_record_video());
        assert!(!RecordingType::None.should_record_audio());
        assert_eq!(RecordingType::Audio.to_string(), "audio");
    }

    #[test]
    fn invalid_json_reports_line_and_column() {
        let e = parse_json(b"{\"conferenceId\": \"c\",\n  \"recordingInfo\": }").unwrap_err();
        match &e {
            EventError::InvalidJson { line, column, .. } => {
                assert_eq!(*line, 2);
                assert!(*column > 0);
            }
            other => panic!("{other}"),
        }
        let msg = e.to_string();
        assert!(msg.contains("line 2, column"), "{msg}");
        assert!(!msg.contains("at line 2 column"), "{msg}");
        assert!(parse_json(b"").is_err());
        assert!(parse_json(b"\xff\xfe").is_err());
    }

    #[test]
    fn non_object_json_is_refused() {
        for (text, found) in [
            ("[]", "an array"),
            ("\"x\"", "a string"),
            ("null", "null"),
            ("3", "a number"),
        ] {
            let e = parse_json(text.as_bytes()).unwrap_err();
            assert!(
                matches!(e, EventError::NotAnObject { found: f } if f == found),
                "{text}"
            );
        }
        let f = fixture();
        assert!(matches!(
            validate(&json!([1]), &f.roots),
            Err(EventError::NotAnObject { .. })
        ));
    }

    #[test]
    fn ids_best_effort_survives_invalid_events() {
        assert_eq!(
            ids_best_effort(&spec_example()),
            (Some("c48eb251b2".into()), Some("61408347".into()))
        );
        assert_eq!(
            ids_best_effort(&json!({"conferenceId": "../x", "recordingInfo": {"uuid": 3}})),
            (Some("../x".into()), None)
        );
        assert_eq!(
            ids_best_effort(&json!({"recordingInfo": {"uuid": "u"}})),
            (None, Some("u".into()))
        );
        assert_eq!(ids_best_effort(&json!([1, 2])), (None, None));
        assert_eq!(
            ids_best_effort(&json!({"recordingInfo": "x"})),
            (None, None)
        );
    }

    #[test]
    fn io_errors_are_not_the_inputs_fault() {
        let e = EventError::Io {
            path: "p".into(),
            filename: "\"f\"".into(),
            resolved: "/x".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert!(!e.is_input_fault());
        assert_eq!(e.json_path(), Some("p"));
    }
}
