//! What the event's unit tests share: roots with media files in a temporary directory, and the
//! SPEC's example event to vary.

use std::fs;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::{EventError, Roots};
use crate::timestamp::Timestamp;

/// A video root and an audio root with some files, plus a directory outside both.
pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub(super) roots: Roots,
    pub(super) outside: PathBuf,
}

pub(super) fn fixture() -> Fixture {
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

pub(super) fn spec_example() -> Value {
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

pub(super) fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

/// The spec example with the first video's filename replaced.
pub(super) fn with_video_filename(filename: &str) -> Value {
    let mut v = spec_example();
    v["recordingInfo"]["video"]["alice"]["sfuvideo"]["1590392556277"]["filename"] = json!(filename);
    v
}

pub(super) const VIDEO_FILENAME_PATH: &str =
    "recordingInfo.video.alice.sfuvideo.1590392556277.filename";

pub(super) fn assert_one_line(e: &EventError) {
    let msg = e.to_string();
    assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg}");
}
