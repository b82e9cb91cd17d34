//! The conference-ended event (SPEC "Conference-ended event"): the JSON as it arrives, checked
//! and turned into a [`Conference`] whose IDs are safe, whose times are parsed and whose files
//! are resolved to canonical paths inside the configured roots.
//!
//! Two steps, so that a failure event can carry the original message and its IDs even when
//! validation fails: [`parse_json`] (bytes → JSON object), then [`validate`]. The only I/O is
//! resolving the media files (`canonicalize` and `metadata`); nothing is opened or read.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use crate::timestamp::{ParseTimestampError, Timestamp};

/// Longest accepted ID (`conferenceId`, `recordingInfo.uuid`, a user ID), in bytes.
pub const MAX_ID_BYTES: usize = 128;

/// The directories media may be read from: canonical absolute paths (as `Config` holds them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    pub video_root: PathBuf,
    pub audio_root: PathBuf,
}

impl Roots {
    /// The roots of a validated configuration.
    pub fn from_paths(paths: &crate::config::PathsConfig) -> Roots {
        Roots {
            video_root: paths.video_root.clone(),
            audio_root: paths.audio_root.clone(),
        }
    }
}

/// A validated conference-ended event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    /// `conferenceId` (the `{{confbridgeid}}` of names).
    pub conference_id: String,
    /// `recordingInfo.uuid`.
    pub uuid: String,
    /// `recordingInfo.completed`.
    pub completed: Option<Timestamp>,
    pub recording_type: RecordingType,
    /// Every video track, sorted by (start, user ID, key).
    pub videos: Vec<VideoSource>,
    /// The mixed WAV, when there is one.
    pub audio: Option<AudioSource>,
}

/// Which media the output keeps (`recordingType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RecordingType {
    #[default]
    All,
    Video,
    Audio,
    None,
}

impl RecordingType {
    /// `all`, `video`, `audio` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingType::All => "all",
            RecordingType::Video => "video",
            RecordingType::Audio => "audio",
            RecordingType::None => "none",
        }
    }

    /// Parses the event's value; ASCII case is ignored.
    pub fn parse(text: &str) -> Option<RecordingType> {
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
    pub fn should_record_audio(self) -> bool {
        matches!(self, RecordingType::All | RecordingType::Audio)
    }

    /// Whether the video is kept (`all` or `video`).
    pub fn should_record_video(self) -> bool {
        matches!(self, RecordingType::All | RecordingType::Video)
    }
}

impl fmt::Display for RecordingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One video track (one `sfuvideo` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSource {
    pub user_id: String,
    /// The `<startMs>` key of the entry.
    pub key: String,
    /// Resolved, canonical, inside `video_root`, a regular file.
    pub path: PathBuf,
    /// As written in the event.
    pub filename: String,
    pub start: Timestamp,
    pub stop: Option<Timestamp>,
}

/// The mixed audio (the one `sipcall` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSource {
    /// Resolved, canonical, inside `audio_root`, a regular file.
    pub path: PathBuf,
    /// As written in the event.
    pub filename: String,
    pub start: Timestamp,
    pub stop: Option<Timestamp>,
}

/// Why an event was refused. Every message is one line naming the JSON path of the problem.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
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
    #[error("{path} {filename}: cannot access {resolved:?}: {source}")]
    Io {
        path: String,
        filename: String,
        resolved: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl EventError {
    /// The JSON path of the problem (`recordingInfo.uuid`), when there is one.
    pub fn json_path(&self) -> Option<&str> {
        match self {
            EventError::InvalidJson { .. } | EventError::NotAnObject { .. } => None,
            EventError::Missing { path, .. }
            | EventError::WrongType { path, .. }
            | EventError::BadId { path, .. }
            | EventError::BadTime { path, .. }
            | EventError::StopBeforeStart { path, .. }
            | EventError::BadRecordingType { path, .. }
            | EventError::TooManyAudio { path, .. }
            | EventError::BadFilename { path, .. }
            | EventError::EscapesRoot { path, .. }
            | EventError::NotFound { path, .. }
            | EventError::OutsideRoot { path, .. }
            | EventError::NotAFile { path, .. }
            | EventError::Io { path, .. } => Some(path),
        }
    }

    /// Whether the event itself is at fault (retrying the same message cannot help). Only
    /// [`EventError::Io`] (e.g. permission denied on a media file) is the system's fault.
    pub fn is_input_fault(&self) -> bool {
        !matches!(self, EventError::Io { .. })
    }
}

/// Step 1: the message bytes as a JSON object.
pub fn parse_json(bytes: &[u8]) -> Result<Value, EventError> {
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
            found: type_name(&value),
        });
    }
    Ok(value)
}

/// `conferenceId` and `recordingInfo.uuid` when they are strings, whatever else is wrong with
/// the event (for the failure event).
pub fn ids_best_effort(value: &Value) -> (Option<String>, Option<String>) {
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
pub fn validate(value: &Value, roots: &Roots) -> Result<Conference, EventError> {
    let top = value.as_object().ok_or(EventError::NotAnObject {
        found: type_name(value),
    })?;

    let conference_id = required_str(top, "", "conferenceId")?;
    check_id("conferenceId", conference_id)?;

    let info_path = "recordingInfo";
    let info = match top.get(info_path) {
        None | Some(Value::Null) => {
            return Err(EventError::Missing {
                path: info_path.into(),
                expected: "an object",
            })
        }
        Some(v) => as_object(v, info_path)?,
    };

    let uuid = required_str(info, info_path, "uuid")?;
    check_id("recordingInfo.uuid", uuid)?;

    let completed = match optional(info, "completed") {
        None => None,
        Some(v) => Some(parse_time(v, &child(info_path, "completed"))?),
    };

    let recording_type = match optional(top, "recordingType") {
        Some(v) => parse_recording_type(v, "recordingType")?,
        None => match optional(info, "recordingType") {
            Some(v) => parse_recording_type(v, "recordingInfo.recordingType")?,
            None => RecordingType::All,
        },
    };

    let mut videos = Vec::new();
    let video_path = child(info_path, "video");
    if let Some(video) = optional(info, "video") {
        for (user_id, user) in as_object(video, &video_path)? {
            let user_path = child(&video_path, user_id);
            check_id(&user_path, user_id)?;
            let user = as_object(user, &user_path)?;
            let Some(sfuvideo) = optional(user, "sfuvideo") else {
                continue;
            };
            let sfu_path = child(&user_path, "sfuvideo");
            for (key, entry) in as_object(sfuvideo, &sfu_path)? {
                let entry_path = child(&sfu_path, key);
                let entry = read_entry(entry, &entry_path, &roots.video_root, "video_root")?;
                videos.push(VideoSource {
                    user_id: user_id.clone(),
                    key: key.clone(),
                    path: entry.path,
                    filename: entry.filename,
                    start: entry.start,
                    stop: entry.stop,
                });
            }
        }
    }
    videos.sort_by(|a, b| (a.start, &a.user_id, &a.key).cmp(&(b.start, &b.user_id, &b.key)));

    let mut audio = None;
    let audio_path = child(info_path, "audio");
    if let Some(audio_value) = optional(info, "audio") {
        let audio_obj = as_object(audio_value, &audio_path)?;
        let asterisk_path = child(&audio_path, "asterisk");
        if let Some(asterisk) = optional(audio_obj, "asterisk") {
            let asterisk = as_object(asterisk, &asterisk_path)?;
            let sip_path = child(&asterisk_path, "sipcall");
            if let Some(sipcall) = optional(asterisk, "sipcall") {
                let sipcall = as_object(sipcall, &sip_path)?;
                if sipcall.len() > 1 {
                    return Err(EventError::TooManyAudio {
                        path: sip_path,
                        count: sipcall.len(),
                    });
                }
                if let Some((key, entry)) = sipcall.iter().next() {
                    let entry_path = child(&sip_path, key);
                    let entry = read_entry(entry, &entry_path, &roots.audio_root, "audio_root")?;
                    audio = Some(AudioSource {
                        path: entry.path,
                        filename: entry.filename,
                        start: entry.start,
                        stop: entry.stop,
                    });
                }
            }
        }
    }

    Ok(Conference {
        conference_id: conference_id.to_owned(),
        uuid: uuid.to_owned(),
        completed,
        recording_type,
        videos,
        audio,
    })
}

struct Entry {
    path: PathBuf,
    filename: String,
    start: Timestamp,
    stop: Option<Timestamp>,
}

/// `{filename, startTime, stopTime?}` with the file resolved inside `root`.
fn read_entry(
    value: &Value,
    path: &str,
    root: &Path,
    root_key: &'static str,
) -> Result<Entry, EventError> {
    let obj = as_object(value, path)?;
    let filename = required_str(obj, path, "filename")?;
    let start_path = child(path, "startTime");
    let start = match obj.get("startTime") {
        None | Some(Value::Null) => {
            return Err(EventError::Missing {
                path: start_path,
                expected: "an ISO-8601 date-time string",
            })
        }
        Some(v) => parse_time(v, &start_path)?,
    };
    let stop_path = child(path, "stopTime");
    let stop = match optional(obj, "stopTime") {
        None => None,
        Some(v) => Some(parse_time(v, &stop_path)?),
    };
    if let Some(stop) = stop {
        if stop < start {
            return Err(EventError::StopBeforeStart {
                path: stop_path,
                start,
                stop,
            });
        }
    }
    let resolved = resolve_file(filename, &child(path, "filename"), root, root_key)?;
    Ok(Entry {
        path: resolved,
        filename: filename.to_owned(),
        start,
        stop,
    })
}

/// Resolves `filename` inside `root` (canonical): see SPEC "Filenames".
///
/// 1. An absolute path that is lexically inside the root is used as is.
/// 2. An absolute path that is not lexically inside the root but resolves into it (the event
///    names the root through a symlinked alias, e.g. the configured path before
///    canonicalisation) is used.
/// 3. Any other path, absolute or relative, is taken relative to the root; its `..` may not
///    climb above the root.
///
/// The result is then canonicalised and must be a regular file inside the root.
fn resolve_file(
    filename: &str,
    path: &str,
    root: &Path,
    root_key: &'static str,
) -> Result<PathBuf, EventError> {
    let bad = |reason| EventError::BadFilename {
        path: path.to_owned(),
        filename: quote(filename),
        reason,
    };
    if filename.is_empty() {
        return Err(bad("it is empty"));
    }
    if filename.contains('\0') {
        return Err(bad("it contains a NUL character"));
    }

    let given = Path::new(filename);
    let mut candidate = None;
    if given.is_absolute() {
        let lexical = normalize_absolute(given);
        if lexical.starts_with(root) {
            candidate = Some(lexical);
        } else if let Ok(canonical) = std::fs::canonicalize(&lexical) {
            if canonical.starts_with(root) {
                candidate = Some(canonical);
            }
        }
    }
    let candidate = match candidate {
        Some(c) => c,
        None => match normalize_relative(given) {
            Some(relative) => root.join(relative),
            None => {
                return Err(EventError::EscapesRoot {
                    path: path.to_owned(),
                    filename: quote(filename),
                    root_key,
                    root: root.to_owned(),
                })
            }
        },
    };

    let canonical = match std::fs::canonicalize(&candidate) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(EventError::NotFound {
                path: path.to_owned(),
                filename: quote(filename),
                resolved: candidate,
                root_key,
            })
        }
        Err(source) => {
            return Err(EventError::Io {
                path: path.to_owned(),
                filename: quote(filename),
                resolved: candidate,
                source,
            })
        }
    };
    if !canonical.starts_with(root) {
        return Err(EventError::OutsideRoot {
            path: path.to_owned(),
            filename: quote(filename),
            resolved: canonical,
            root_key,
            root: root.to_owned(),
        });
    }
    let metadata = std::fs::metadata(&canonical).map_err(|source| EventError::Io {
        path: path.to_owned(),
        filename: quote(filename),
        resolved: canonical.clone(),
        source,
    })?;
    if !metadata.is_file() {
        return Err(EventError::NotAFile {
            path: path.to_owned(),
            filename: quote(filename),
            resolved: canonical,
            kind: file_kind(&metadata.file_type()),
        });
    }
    Ok(canonical)
}

/// `/a/./b/../c` → `/a/c`; `..` at `/` stays at `/` (as the kernel does).
fn normalize_absolute(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The path with its root stripped and `.`/`..` resolved, or `None` when a `..` climbs above
/// the start.
fn normalize_relative(path: &Path) -> Option<PathBuf> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(parts.iter().collect())
}

fn file_kind(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "named pipe (FIFO)";
        }
        if file_type.is_socket() {
            return "socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "device";
        }
    }
    if file_type.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

fn check_id(path: &str, value: &str) -> Result<(), EventError> {
    let reason = if value.is_empty() {
        "it is empty"
    } else if value.len() > MAX_ID_BYTES {
        "it is too long"
    } else if value.chars().any(char::is_control) {
        "it contains a control character"
    } else if value.contains(['/', '\\']) {
        "it contains a path separator"
    } else if value.chars().all(|c| c == '.') {
        "it consists only of dots"
    } else {
        return Ok(());
    };
    Err(EventError::BadId {
        path: path.to_owned(),
        value: quote(value),
        reason,
    })
}

fn parse_recording_type(value: &Value, path: &str) -> Result<RecordingType, EventError> {
    let text = value.as_str().ok_or_else(|| EventError::WrongType {
        path: path.to_owned(),
        expected: "a string (\"all\", \"video\", \"audio\" or \"none\")",
        found: type_name(value),
    })?;
    RecordingType::parse(text).ok_or_else(|| EventError::BadRecordingType {
        path: path.to_owned(),
        value: quote(text),
    })
}

fn parse_time(value: &Value, path: &str) -> Result<Timestamp, EventError> {
    let text = value.as_str().ok_or_else(|| EventError::WrongType {
        path: path.to_owned(),
        expected: "an ISO-8601 date-time string",
        found: type_name(value),
    })?;
    Timestamp::parse(text).map_err(|source| EventError::BadTime {
        path: path.to_owned(),
        source,
    })
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<&'a str, EventError> {
    let path = child(parent, key);
    match obj.get(key) {
        None | Some(Value::Null) => Err(EventError::Missing {
            path,
            expected: "a string",
        }),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(EventError::WrongType {
            path,
            expected: "a string",
            found: type_name(other),
        }),
    }
}

/// The value at `key`, with `null` read as absent.
fn optional<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn as_object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, EventError> {
    value.as_object().ok_or_else(|| EventError::WrongType {
        path: path.to_owned(),
        expected: "an object",
        found: type_name(value),
    })
}

/// `parent.key`, or `parent["key"]` when the key is not a plain identifier (dots, spaces,
/// control characters), so that the path stays unambiguous and on one line.
fn child(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", quote(key)),
    }
}

/// A JSON-quoted, escaped rendering of `text`, shortened to about 80 characters.
fn quote(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    if text.chars().count() <= MAX_CHARS {
        return Value::from(text).to_string();
    }
    let short: String = text.chars().take(MAX_CHARS).collect();
    let quoted = Value::from(short).to_string();
    format!("{}…\"", &quoted[..quoted.len() - 1])
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    /// A video root and an audio root with some files, plus a directory outside both.
    struct Fixture {
        _dir: tempfile::TempDir,
        roots: Roots,
        outside: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        let video = base.join("raw");
        let audio = base.join("monitor");
        let outside = base.join("outside");
        for d in [&video, &audio, &outside] {
            fs::create_dir(d).unwrap();
        }
        fs::create_dir(video.join("test")).unwrap();
        for f in [
            video.join("test/test-video-1.mjr"),
            video.join("test/test-video-2.mjr"),
            video.join("b.mjr"),
            audio.join("audio.wav"),
            outside.join("secret.mjr"),
        ] {
            fs::write(f, b"x").unwrap();
        }
        Fixture {
            _dir: dir,
            roots: Roots {
                video_root: video,
                audio_root: audio,
            },
            outside,
        }
    }

    fn spec_example() -> Value {
        json!({"conferenceId": "c48eb251b2",
         "recordingInfo": {
           "uuid": "61408347",
           "completed": "2020-05-25T07:42:43.826Z",
           "video": {
             "alice": {"sfuvideo": {"1590392556277": {"filename": "/test/test-video-1.mjr",
                          "startTime": "2020-05-25T07:42:36.277Z", "stopTime": "2020-05-25T07:42:43.826Z"}}}},
           "audio": {"asterisk": {"sipcall": {"1590392548633": {"filename": "audio.wav",
                          "startTime": "2020-05-25T07:42:28.633Z", "stopTime": "2020-05-25T07:42:43.826Z"}}}}}})
    }

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    /// The spec example with the first video's filename replaced.
    fn with_video_filename(filename: &str) -> Value {
        let mut v = spec_example();
        v["recordingInfo"]["video"]["alice"]["sfuvideo"]["1590392556277"]["filename"] =
            json!(filename);
        v
    }

    const VIDEO_FILENAME_PATH: &str = "recordingInfo.video.alice.sfuvideo.1590392556277.filename";

    fn assert_one_line(e: &EventError) {
        let msg = e.to_string();
        assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg}");
    }

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
                      "stopTime": "2020-05-25T07:42:35Z"}},
                "screenshare": {"ignored": true}},
            "alice": {"sfuvideo": {
                "2": {"filename": "test/test-video-1.mjr", "startTime": "2020-05-25T07:42:40Z"}}},
            "carol": {"other": 1}
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
    fn absent_or_null_or_empty_audio_means_no_audio() {
        let f = fixture();
        for audio in [
            None,
            Some(json!(null)),
            Some(json!({})),
            Some(json!({"asterisk": {}})),
            Some(json!({"asterisk": {"sipcall": {}}})),
        ] {
            let mut v = spec_example();
            let info = v["recordingInfo"].as_object_mut().unwrap();
            info.remove("audio");
            if let Some(a) = audio.clone() {
                info.insert("audio".into(), a);
            }
            let c = validate(&v, &f.roots).unwrap();
            assert_eq!(c.audio, None, "{audio:?}");
            assert_eq!(c.videos.len(), 1);
        }
    }

    #[test]
    fn absent_or_empty_video_means_audio_only() {
        let f = fixture();
        for video in [None, Some(json!({})), Some(json!(null))] {
            let mut v = spec_example();
            let info = v["recordingInfo"].as_object_mut().unwrap();
            info.remove("video");
            if let Some(x) = video {
                info.insert("video".into(), x);
            }
            let c = validate(&v, &f.roots).unwrap();
            assert!(c.videos.is_empty());
            assert!(c.audio.is_some());
        }
    }

    #[test]
    fn minimal_event_is_valid() {
        let f = fixture();
        let v = json!({"conferenceId": "c", "recordingInfo": {"uuid": "u"}});
        let c = validate(&v, &f.roots).unwrap();
        assert_eq!(c.completed, None);
        assert!(c.videos.is_empty() && c.audio.is_none());
    }

    #[test]
    fn more_than_one_audio_entry_is_refused() {
        let f = fixture();
        let mut v = spec_example();
        v["recordingInfo"]["audio"]["asterisk"]["sipcall"]["2"] =
            json!({"filename": "audio.wav", "startTime": "2020-05-25T07:42:28.633Z"});
        let e = validate(&v, &f.roots).unwrap_err();
        assert!(
            matches!(e, EventError::TooManyAudio { count: 2, .. }),
            "{e}"
        );
        assert_eq!(e.json_path(), Some("recordingInfo.audio.asterisk.sipcall"));
    }

    #[test]
    fn recording_type_top_level_wins() {
        let f = fixture();
        let cases = [
            (None, None, RecordingType::All),
            (Some("video"), None, RecordingType::Video),
            (None, Some("audio"), RecordingType::Audio),
            (Some("none"), Some("audio"), RecordingType::None),
            (Some("ALL"), Some("video"), RecordingType::All),
        ];
        for (top, inner, expected) in cases {
            let mut v = spec_example();
            if let Some(t) = top {
                v["recordingType"] = json!(t);
            }
            if let Some(t) = inner {
                v["recordingInfo"]["recordingType"] = json!(t);
            }
            let c = validate(&v, &f.roots).unwrap();
            assert_eq!(c.recording_type, expected, "{top:?} {inner:?}");
        }
    }

    #[test]
    fn bad_recording_type_is_named() {
        let f = fixture();
        let mut v = spec_example();
        v["recordingInfo"]["recordingType"] = json!("both");
        let e = validate(&v, &f.roots).unwrap_err();
        assert!(matches!(e, EventError::BadRecordingType { .. }));
        assert_eq!(e.json_path(), Some("recordingInfo.recordingType"));
        assert!(e.to_string().contains("\"both\""), "{e}");

        let mut v = spec_example();
        v["recordingType"] = json!(3);
        let e = validate(&v, &f.roots).unwrap_err();
        assert!(matches!(e, EventError::WrongType { .. }));
        assert_eq!(e.json_path(), Some("recordingType"));
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

    // --- paths ---------------------------------------------------------------------------

    #[test]
    fn relative_path_inside_root() {
        let f = fixture();
        let c = validate(&with_video_filename("test/./test-video-1.mjr"), &f.roots).unwrap();
        assert_eq!(
            c.videos[0].path,
            f.roots.video_root.join("test/test-video-1.mjr")
        );
        let c = validate(&with_video_filename("test/../b.mjr"), &f.roots).unwrap();
        assert_eq!(c.videos[0].path, f.roots.video_root.join("b.mjr"));
    }

    #[test]
    fn dot_dot_escaping_the_root_is_refused() {
        let f = fixture();
        for bad in [
            "../outside/secret.mjr",
            "a/../../outside/secret.mjr",
            "/../etc/passwd",
            "..",
            "test/../../raw/b.mjr",
        ] {
            let e = validate(&with_video_filename(bad), &f.roots).unwrap_err();
            assert!(matches!(e, EventError::EscapesRoot { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("escapes video_root"), "{e}");
            assert_eq!(e.json_path(), Some(VIDEO_FILENAME_PATH));
            assert_one_line(&e);
        }
    }

    #[test]
    fn absolute_path_elsewhere_is_taken_relative_to_root() {
        let f = fixture();
        let e = validate(&with_video_filename("/etc/passwd"), &f.roots).unwrap_err();
        match &e {
            EventError::NotFound { resolved, .. } => {
                assert_eq!(resolved, &f.roots.video_root.join("etc/passwd"))
            }
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains("file not found"), "{e}");
        assert!(e.to_string().contains(VIDEO_FILENAME_PATH), "{e}");

        // A real file outside, named absolutely, is never read: looked up under the root.
        let secret = f.outside.join("secret.mjr");
        let e = validate(&with_video_filename(secret.to_str().unwrap()), &f.roots).unwrap_err();
        match &e {
            EventError::NotFound { resolved, .. } => {
                assert!(resolved.starts_with(&f.roots.video_root), "{resolved:?}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn absolute_path_under_root_name_relative_copy_exists() {
        // `/test/test-video-1.mjr` (the spec example) is found as <root>/test/test-video-1.mjr.
        let f = fixture();
        let c = validate(&with_video_filename("/test/test-video-1.mjr"), &f.roots).unwrap();
        assert_eq!(
            c.videos[0].path,
            f.roots.video_root.join("test/test-video-1.mjr")
        );
    }

    #[test]
    fn absolute_path_inside_root_is_used_as_is() {
        let f = fixture();
        let inside = f.roots.video_root.join("test/test-video-2.mjr");
        let c = validate(&with_video_filename(inside.to_str().unwrap()), &f.roots).unwrap();
        assert_eq!(c.videos[0].path, inside);
        let dotted = format!("{}/test/../b.mjr", f.roots.video_root.display());
        let c = validate(&with_video_filename(&dotted), &f.roots).unwrap();
        assert_eq!(c.videos[0].path, f.roots.video_root.join("b.mjr"));
    }

    #[cfg(unix)]
    #[test]
    fn absolute_path_through_an_alias_of_the_root_is_used() {
        let f = fixture();
        let alias = f.outside.join("alias");
        std::os::unix::fs::symlink(&f.roots.video_root, &alias).unwrap();
        let named = alias.join("b.mjr");
        let c = validate(&with_video_filename(named.to_str().unwrap()), &f.roots).unwrap();
        assert_eq!(c.videos[0].path, f.roots.video_root.join("b.mjr"));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_pointing_out_of_the_root_is_refused() {
        let f = fixture();
        let link = f.roots.video_root.join("escape.mjr");
        std::os::unix::fs::symlink(f.outside.join("secret.mjr"), &link).unwrap();
        let dir_link = f.roots.video_root.join("outdir");
        std::os::unix::fs::symlink(&f.outside, &dir_link).unwrap();
        for name in ["escape.mjr", "/escape.mjr", "outdir/secret.mjr"] {
            let e = validate(&with_video_filename(name), &f.roots).unwrap_err();
            assert!(matches!(e, EventError::OutsideRoot { .. }), "{name}: {e}");
            assert!(
                e.to_string()
                    .contains("resolves outside video_root through a symlink"),
                "{e}"
            );
            assert_eq!(e.json_path(), Some(VIDEO_FILENAME_PATH));
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlink_inside_the_root_is_fine_and_resolved() {
        let f = fixture();
        let link = f.roots.video_root.join("link.mjr");
        std::os::unix::fs::symlink("test/test-video-1.mjr", &link).unwrap();
        let c = validate(&with_video_filename("link.mjr"), &f.roots).unwrap();
        assert_eq!(
            c.videos[0].path,
            f.roots.video_root.join("test/test-video-1.mjr")
        );
        assert_eq!(c.videos[0].filename, "link.mjr");
    }

    #[test]
    fn directory_instead_of_file_is_refused() {
        let f = fixture();
        for name in ["test", "/", "."] {
            let e = validate(&with_video_filename(name), &f.roots).unwrap_err();
            assert!(
                matches!(
                    e,
                    EventError::NotAFile {
                        kind: "directory",
                        ..
                    }
                ),
                "{name}: {e}"
            );
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn fifo_is_refused() {
        let f = fixture();
        let fifo = f.roots.video_root.join("pipe.mjr");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !matches!(status, Ok(s) if s.success()) {
            return; // no mkfifo here
        }
        let e = validate(&with_video_filename("pipe.mjr"), &f.roots).unwrap_err();
        assert!(matches!(e, EventError::NotAFile { .. }), "{e}");
    }

    #[test]
    fn missing_file_names_event_path_and_resolved_path() {
        let f = fixture();
        let e = validate(&with_video_filename("nope.mjr"), &f.roots).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(VIDEO_FILENAME_PATH), "{msg}");
        assert!(msg.contains("file not found"), "{msg}");
        assert!(
            msg.contains(&f.roots.video_root.join("nope.mjr").display().to_string()),
            "{msg}"
        );
        assert!(e.is_input_fault());
    }

    #[test]
    fn audio_is_resolved_in_audio_root() {
        let f = fixture();
        let mut v = spec_example();
        // b.mjr exists in the video root only.
        v["recordingInfo"]["audio"]["asterisk"]["sipcall"]["1590392548633"]["filename"] =
            json!("b.mjr");
        let e = validate(&v, &f.roots).unwrap_err();
        assert!(
            matches!(
                e,
                EventError::NotFound {
                    root_key: "audio_root",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(
            e.json_path(),
            Some("recordingInfo.audio.asterisk.sipcall.1590392548633.filename")
        );
        v["recordingInfo"]["audio"]["asterisk"]["sipcall"]["1590392548633"]["filename"] =
            json!("../raw/b.mjr");
        let e = validate(&v, &f.roots).unwrap_err();
        assert!(e.to_string().contains("escapes audio_root"), "{e}");
    }

    #[test]
    fn empty_or_nul_filename_is_refused() {
        let f = fixture();
        for bad in ["", "b\0.mjr"] {
            let e = validate(&with_video_filename(bad), &f.roots).unwrap_err();
            assert!(matches!(e, EventError::BadFilename { .. }), "{e}");
            assert_eq!(e.json_path(), Some(VIDEO_FILENAME_PATH));
            assert_one_line(&e);
        }
    }

    #[test]
    fn normalisation_helpers() {
        assert_eq!(
            normalize_absolute(Path::new("/a/./b/../c")),
            Path::new("/a/c")
        );
        assert_eq!(normalize_absolute(Path::new("/../../x")), Path::new("/x"));
        assert_eq!(
            normalize_relative(Path::new("/a/b")),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(
            normalize_relative(Path::new("a/./b/..")),
            Some(PathBuf::from("a"))
        );
        assert_eq!(normalize_relative(Path::new("a/../..")), None);
        assert_eq!(normalize_relative(Path::new("./..")), None);
    }

    // --- IDs ---------------------------------------------------------------------------

    #[test]
    fn hostile_ids_are_refused() {
        let f = fixture();
        let long = "x".repeat(MAX_ID_BYTES + 1);
        let bad = [
            "", "a/b", "a\\b", "a\0b", "a\nb", "\u{7f}", "\u{85}", ".", "..", "....", &long,
        ];
        for id in bad {
            let mut v = spec_example();
            v["conferenceId"] = json!(id);
            let e = validate(&v, &f.roots).unwrap_err();
            assert!(matches!(e, EventError::BadId { .. }), "{id:?}: {e}");
            assert_eq!(e.json_path(), Some("conferenceId"));
            assert_one_line(&e);

            let mut v = spec_example();
            v["recordingInfo"]["uuid"] = json!(id);
            let e = validate(&v, &f.roots).unwrap_err();
            assert_eq!(e.json_path(), Some("recordingInfo.uuid"), "{id:?}: {e}");

            let mut v = spec_example();
            let track = v["recordingInfo"]["video"]["alice"].clone();
            v["recordingInfo"]["video"] = json!({ id: track });
            let e = validate(&v, &f.roots).unwrap_err();
            assert!(matches!(e, EventError::BadId { .. }), "{id:?}: {e}");
            assert!(e.json_path().unwrap().starts_with("recordingInfo.video"));
            assert_one_line(&e);
        }
    }

    #[test]
    fn odd_but_harmless_ids_are_allowed() {
        let f = fixture();
        let exactly_max = "x".repeat(MAX_ID_BYTES);
        for id in [
            "a b",
            "José",
            "user@example.com",
            ".hidden",
            "a..b",
            &exactly_max,
        ] {
            let mut v = spec_example();
            v["conferenceId"] = json!(id);
            v["recordingInfo"]["uuid"] = json!(id);
            let track = v["recordingInfo"]["video"]["alice"].clone();
            v["recordingInfo"]["video"] = json!({ id: track });
            let c = validate(&v, &f.roots).unwrap();
            assert_eq!(c.conference_id, id);
            assert_eq!(c.videos[0].user_id, id);
        }
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let f = fixture();
        let mut v = spec_example();
        v["conferenceId"] = json!(format!("{}/", "y".repeat(10_000)));
        let msg = validate(&v, &f.roots).unwrap_err().to_string();
        assert!(msg.len() < 400, "{msg}");
    }

    #[test]
    fn odd_user_ids_are_quoted_in_paths() {
        let f = fixture();
        let mut v = spec_example();
        v["recordingInfo"]["video"] = json!({"a.b c": {"sfuvideo": {"1": {"filename": "nope", "startTime": "2020-05-25T07:42:36Z"}}}});
        let e = validate(&v, &f.roots).unwrap_err();
        assert_eq!(
            e.json_path(),
            Some("recordingInfo.video[\"a.b c\"].sfuvideo.1.filename")
        );
    }

    // --- times -------------------------------------------------------------------------

    #[test]
    fn bad_times_are_named() {
        let f = fixture();
        let entry = "recordingInfo.video.alice.sfuvideo.1590392556277";
        let cases: [(&str, Value, String); 4] = [
            (
                "startTime",
                json!("25/05/2020"),
                format!("{entry}.startTime"),
            ),
            ("stopTime", json!("yesterday"), format!("{entry}.stopTime")),
            (
                "startTime",
                json!(1590392556277u64),
                format!("{entry}.startTime"),
            ),
            ("startTime", json!(null), format!("{entry}.startTime")),
        ];
        for (field, value, path) in cases {
            let mut v = spec_example();
            v["recordingInfo"]["video"]["alice"]["sfuvideo"]["1590392556277"][field] = value;
            let e = validate(&v, &f.roots).unwrap_err();
            assert_eq!(e.json_path(), Some(path.as_str()), "{e}");
            assert!(e.to_string().contains("ISO-8601"), "{e}");
            assert_one_line(&e);
        }
        let mut v = spec_example();
        v["recordingInfo"]["completed"] = json!("soon");
        let e = validate(&v, &f.roots).unwrap_err();
        assert!(matches!(e, EventError::BadTime { .. }));
        assert_eq!(e.json_path(), Some("recordingInfo.completed"));
    }

    #[test]
    fn stop_before_start_is_refused_equal_is_fine() {
        let f = fixture();
        let mut v = spec_example();
        v["recordingInfo"]["audio"]["asterisk"]["sipcall"]["1590392548633"]["stopTime"] =
            json!("2020-05-25T07:42:28.632Z");
        let e = validate(&v, &f.roots).unwrap_err();
        assert!(matches!(e, EventError::StopBeforeStart { .. }), "{e}");
        assert_eq!(
            e.json_path(),
            Some("recordingInfo.audio.asterisk.sipcall.1590392548633.stopTime")
        );
        v["recordingInfo"]["audio"]["asterisk"]["sipcall"]["1590392548633"]["stopTime"] =
            json!("2020-05-25T07:42:28.633Z");
        assert!(validate(&v, &f.roots).is_ok());
    }

    #[test]
    fn times_with_offsets_compare_as_instants() {
        let f = fixture();
        let mut v = spec_example();
        let e = &mut v["recordingInfo"]["video"]["alice"]["sfuvideo"]["1590392556277"];
        e["startTime"] = json!("2020-05-25T09:42:36.277+02:00");
        e["stopTime"] = json!("2020-05-25T07:42:40Z");
        let c = validate(&v, &f.roots).unwrap();
        assert_eq!(c.videos[0].start, ts("2020-05-25T07:42:36.277Z"));
    }

    // --- shape -------------------------------------------------------------------------

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
    fn missing_and_mistyped_fields_are_named_by_path() {
        let f = fixture();
        let entry = "recordingInfo.video.alice.sfuvideo.1590392556277";
        type Mutation = fn(&mut Value);
        let cases: Vec<(Mutation, String, &str)> = vec![
            (
                |v| {
                    v.as_object_mut().unwrap().remove("conferenceId");
                },
                "conferenceId".into(),
                "is missing",
            ),
            (
                |v| v["conferenceId"] = json!(42),
                "conferenceId".into(),
                "must be a string, found a number",
            ),
            (
                |v| {
                    v.as_object_mut().unwrap().remove("recordingInfo");
                },
                "recordingInfo".into(),
                "is missing",
            ),
            (
                |v| v["recordingInfo"] = json!("x"),
                "recordingInfo".into(),
                "must be an object",
            ),
            (
                |v| {
                    v["recordingInfo"].as_object_mut().unwrap().remove("uuid");
                },
                "recordingInfo.uuid".into(),
                "is missing",
            ),
            (
                |v| v["recordingInfo"]["uuid"] = json!(61408347),
                "recordingInfo.uuid".into(),
                "must be a string",
            ),
            (
                |v| v["recordingInfo"]["video"] = json!([]),
                "recordingInfo.video".into(),
                "must be an object, found an array",
            ),
            (
                |v| v["recordingInfo"]["video"]["alice"] = json!("x"),
                "recordingInfo.video.alice".into(),
                "must be an object",
            ),
            (
                |v| v["recordingInfo"]["video"]["alice"]["sfuvideo"] = json!(1),
                "recordingInfo.video.alice.sfuvideo".into(),
                "must be an object",
            ),
            (
                |v| v["recordingInfo"]["video"]["alice"]["sfuvideo"]["1590392556277"] = json!(true),
                entry.into(),
                "must be an object, found a boolean",
            ),
            (
                |v| {
                    v["recordingInfo"]["video"]["alice"]["sfuvideo"]["1590392556277"]
                        .as_object_mut()
                        .unwrap()
                        .remove("filename");
                },
                format!("{entry}.filename"),
                "is missing",
            ),
            (
                |v| {
                    v["recordingInfo"]["video"]["alice"]["sfuvideo"]["1590392556277"]["filename"] =
                        json!(["a"])
                },
                format!("{entry}.filename"),
                "must be a string",
            ),
            (
                |v| {
                    v["recordingInfo"]["video"]["alice"]["sfuvideo"]["1590392556277"]
                        .as_object_mut()
                        .unwrap()
                        .remove("startTime");
                },
                format!("{entry}.startTime"),
                "is missing",
            ),
            (
                |v| v["recordingInfo"]["audio"] = json!("x"),
                "recordingInfo.audio".into(),
                "must be an object",
            ),
            (
                |v| v["recordingInfo"]["audio"]["asterisk"] = json!(1),
                "recordingInfo.audio.asterisk".into(),
                "must be an object",
            ),
            (
                |v| v["recordingInfo"]["audio"]["asterisk"]["sipcall"] = json!(1),
                "recordingInfo.audio.asterisk.sipcall".into(),
                "must be an object",
            ),
        ];
        for (mutate, path, says) in cases {
            let mut v = spec_example();
            mutate(&mut v);
            let e = validate(&v, &f.roots).unwrap_err();
            assert_eq!(e.json_path(), Some(path.as_str()), "{e}");
            let msg = e.to_string();
            assert!(msg.starts_with(&path), "{msg}");
            assert!(msg.contains(says), "{msg}");
            assert_one_line(&e);
        }
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
    fn unknown_keys_are_ignored() {
        let f = fixture();
        let mut v = spec_example();
        v["extra"] = json!({"anything": [1, 2]});
        v["recordingInfo"]["extra"] = json!(1);
        v["recordingInfo"]["video"]["alice"]["sfuvideo"]["1590392556277"]["extra"] = json!(1);
        assert!(validate(&v, &f.roots).is_ok());
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
