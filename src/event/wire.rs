//! The conference-ended event as it arrives (SPEC "Conference-ended event"): the JSON shape
//! walked key by key, and the checks on single fields (IDs, times, `recordingType`). Every
//! problem is named by its JSON path. Nothing here touches the file system: an entry's
//! `filename` is handed on as written, for `resolve` to look up.
//!
//! The shape, with the keys read:
//! `{conferenceId, recordingType?, recordingInfo: {uuid, completed?, recordingType?,
//! video?: {<userId>: {sfuvideo?: {<startMs>: Entry}}}, audio?: {asterisk?: {sipcall?:
//! {<startMs>: Entry}}, <userId>: {sfuaudio?: {<startMs>: Entry}}}}}` where `Entry` is
//! `{filename, startTime, stopTime?}`. Other keys of the top level, of `recordingInfo` and
//! of an entry are ignored; under `video`, `audio` and a user, where media is named, a key
//! recproc does not know is refused: media is never dropped without a word.

use serde_json::{Map, Value};

use super::{EventError, RecordingType};
use crate::policy::{CallType, Permissions, Profile, RecordingPolicy};
use crate::timestamp::Timestamp;

/// Longest accepted ID (`conferenceId`, `recordingInfo.uuid`, a user ID), in bytes.
pub(super) const MAX_ID_BYTES: usize = 128;

/// The event's own fields, checked; its media entries are read on demand
/// ([`Event::each_video`], [`Event::audio`]) so that each file can be looked up as soon as its
/// entry is read.
pub(super) struct Event<'a> {
    pub(super) conference_id: &'a str,
    pub(super) uuid: &'a str,
    pub(super) completed: Option<Timestamp>,
    pub(super) recording_type: RecordingType,
    /// `recordingPolicy`, when the event carries one.
    pub(super) policy: Option<RecordingPolicy>,
    /// `recordingInfo`, which holds the media entries.
    info: &'a Map<String, Value>,
}

/// One media entry (`{filename, startTime, stopTime?}`), its times checked, its file not yet
/// looked up.
pub(super) struct Entry<'a> {
    /// As written in the event.
    pub(super) filename: &'a str,
    /// The JSON path of `filename`, for the messages about the file.
    pub(super) filename_path: String,
    pub(super) start: Timestamp,
    pub(super) stop: Option<Timestamp>,
}

/// One `sfuvideo` or `sfuaudio` entry with the user and key it is filed under.
pub(super) struct TrackEntry<'a> {
    pub(super) user_id: &'a str,
    /// The `<startMs>` key of the entry.
    pub(super) key: &'a str,
    pub(super) entry: Entry<'a>,
}

const INFO_PATH: &str = "recordingInfo";

impl<'a> Event<'a> {
    /// Checks everything but the media entries: the IDs, `completed` and `recordingType`.
    pub(super) fn read(value: &'a Value) -> Result<Event<'a>, EventError> {
        let top = value.as_object().ok_or(EventError::NotAnObject {
            found: type_name(value),
        })?;

        let conference_id = required_str(top, "", "conferenceId")?;
        check_id("conferenceId", conference_id)?;

        let info = match top.get(INFO_PATH) {
            None | Some(Value::Null) => {
                return Err(EventError::Missing {
                    path: INFO_PATH.into(),
                    expected: "an object",
                })
            }
            Some(v) => as_object(v, INFO_PATH)?,
        };

        let uuid = required_str(info, INFO_PATH, "uuid")?;
        check_id("recordingInfo.uuid", uuid)?;

        let completed = match optional(info, "completed") {
            None => None,
            Some(v) => Some(parse_time(v, &child(INFO_PATH, "completed"))?),
        };

        let recording_type = match optional(top, "recordingType") {
            Some(v) => parse_recording_type(v, "recordingType")?,
            None => match optional(info, "recordingType") {
                Some(v) => parse_recording_type(v, "recordingInfo.recordingType")?,
                None => RecordingType::All,
            },
        };

        let policy = match optional(top, "recordingPolicy") {
            Some(v) => Some(read_policy(v, "recordingPolicy")?),
            None => match optional(info, "recordingPolicy") {
                Some(v) => Some(read_policy(v, "recordingInfo.recordingPolicy")?),
                None => None,
            },
        };

        Ok(Event {
            conference_id,
            uuid,
            completed,
            recording_type,
            policy,
            info,
        })
    }

    /// Reads the `sfuvideo` entries in the order of the event and hands each to `visit` as
    /// soon as it is read; the first error, from either, ends the walk.
    pub(super) fn each_video(
        &self,
        mut visit: impl FnMut(TrackEntry<'a>) -> Result<(), EventError>,
    ) -> Result<(), EventError> {
        let video_path = child(INFO_PATH, "video");
        let Some(video) = optional(self.info, "video") else {
            return Ok(());
        };
        for (user_id, user) in as_object(video, &video_path)? {
            let user_path = child(&video_path, user_id);
            check_id(&user_path, user_id)?;
            each_track(user, &user_path, user_id, "sfuvideo", &mut visit)?;
        }
        Ok(())
    }

    /// Reads `audio`: each participant's own track (`<userId>.sfuaudio.<startMs>`), handed
    /// to `visit` in the order of the event as soon as it is read, and the audiomixer's one
    /// mixed WAV (`asterisk.sipcall`), returned when there is one. A key recproc does not
    /// understand is refused by name: audio is never dropped without a word.
    pub(super) fn audio(
        &self,
        mut visit: impl FnMut(TrackEntry<'a>) -> Result<(), EventError>,
    ) -> Result<Option<Entry<'a>>, EventError> {
        let audio_path = child(INFO_PATH, "audio");
        let Some(audio) = optional(self.info, "audio") else {
            return Ok(None);
        };
        let mut mixed = None;
        for (key, value) in as_object(audio, &audio_path)? {
            let path = child(&audio_path, key);
            if key == ASTERISK {
                mixed = sipcall(value, &path)?;
                continue;
            }
            check_id(&path, key)?;
            each_track(value, &path, key, "sfuaudio", &mut visit)?;
        }
        Ok(mixed)
    }
}

/// The key under `audio` that holds the audiomixer's recording; any other is a user ID.
const ASTERISK: &str = "asterisk";

/// The one `sipcall` entry of `audio.asterisk` (at `path`), when there is one.
fn sipcall<'a>(asterisk: &'a Value, path: &str) -> Result<Option<Entry<'a>>, EventError> {
    let asterisk = as_object(asterisk, path)?;
    only_key(asterisk, path, "sipcall", "the audiomixer's mixed WAV")?;
    let sip_path = child(path, "sipcall");
    let Some(sipcall) = optional(asterisk, "sipcall") else {
        return Ok(None);
    };
    let sipcall = as_object(sipcall, &sip_path)?;
    if sipcall.len() > 1 {
        return Err(EventError::TooManyAudio {
            path: sip_path,
            count: sipcall.len(),
        });
    }
    match sipcall.iter().next() {
        None => Ok(None),
        Some((key, entry)) => read_entry(entry, &child(&sip_path, key)).map(Some),
    }
}

/// The entries of one user's tracks (`user` at `path`, read under `kind`: `sfuvideo` or
/// `sfuaudio`), each handed to `visit`.
fn each_track<'a>(
    user: &'a Value,
    path: &str,
    user_id: &'a str,
    kind: &'static str,
    visit: &mut impl FnMut(TrackEntry<'a>) -> Result<(), EventError>,
) -> Result<(), EventError> {
    let user = as_object(user, path)?;
    only_key(user, path, kind, "the participant's own tracks")?;
    let Some(tracks) = optional(user, kind) else {
        return Ok(());
    };
    let tracks_path = child(path, kind);
    for (key, entry) in as_object(tracks, &tracks_path)? {
        let entry = read_entry(entry, &child(&tracks_path, key))?;
        visit(TrackEntry {
            user_id,
            key,
            entry,
        })?;
    }
    Ok(())
}

/// Refuses any key of `obj` (at `path`) but `known`, which holds `what`.
fn only_key(
    obj: &Map<String, Value>,
    path: &str,
    known: &'static str,
    what: &'static str,
) -> Result<(), EventError> {
    only_keys(obj, path, (&[known], known), what)
}

/// Refuses any key of `obj` (at `path`) but those `known` (named so in the message), which
/// hold `what`.
fn only_keys(
    obj: &Map<String, Value>,
    path: &str,
    (known, named): (&[&str], &'static str),
    what: &'static str,
) -> Result<(), EventError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(other) => Err(EventError::UnknownKey {
            path: child(path, other),
            expected: named,
            what,
        }),
    }
}

/// `{filename, startTime, stopTime?}`, with the stop at or after the start.
fn read_entry<'a>(value: &'a Value, path: &str) -> Result<Entry<'a>, EventError> {
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
    Ok(Entry {
        filename,
        filename_path: child(path, "filename"),
        start,
        stop,
    })
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

/// `recordingPolicy` (at `path`): `{callType?, user?, domain?, record?}`, each value checked.
fn read_policy(value: &Value, path: &str) -> Result<RecordingPolicy, EventError> {
    let obj = as_object(value, path)?;
    // A misspelt key would fall through to a looser level: refused instead.
    let keys = ["callType", "user", "domain", "record"];
    let named = "callType, user, domain and record";
    only_keys(obj, path, (&keys, named), "the recording policy")?;
    let call_type = match optional(obj, "callType") {
        None => CallType::Internal,
        Some(v) => one_of(
            v,
            &child(path, "callType"),
            CallType::ALLOWED,
            CallType::parse,
        )?,
    };
    let level = |key: &str| -> Result<Option<Permissions>, EventError> {
        let Some(v) = optional(obj, key) else {
            return Ok(None);
        };
        let level_path = child(path, key);
        let level = as_object(v, &level_path)?;
        let keys = ["recordingType", "recordingProfile"];
        let named = "recordingType and recordingProfile";
        only_keys(level, &level_path, (&keys, named), "recording permissions")?;
        let recording_type = match optional(level, "recordingType") {
            None => None,
            Some(t) => Some(parse_recording_type(
                t,
                &child(&level_path, "recordingType"),
            )?),
        };
        let profile = match optional(level, "recordingProfile") {
            None => None,
            Some(p) => {
                let p_path = child(&level_path, "recordingProfile");
                Some(one_of(p, &p_path, Profile::ALLOWED, Profile::parse)?)
            }
        };
        Ok(Some(Permissions {
            recording_type,
            profile,
        }))
    };
    let record = match optional(obj, "record") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(EventError::WrongType {
                path: child(path, "record"),
                expected: "true or false",
                found: type_name(other),
            })
        }
    };
    Ok(RecordingPolicy {
        call_type,
        user: level("user")?,
        domain: level("domain")?,
        record,
    })
}

/// The string at `path` read by `parse`, which knows the `allowed` values.
fn one_of<T>(
    value: &Value,
    path: &str,
    allowed: &'static str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, EventError> {
    let text = value.as_str().ok_or_else(|| EventError::WrongType {
        path: path.to_owned(),
        expected: "a string",
        found: type_name(value),
    })?;
    parse(text).ok_or_else(|| EventError::BadValue {
        path: path.to_owned(),
        value: quote(text),
        allowed,
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
pub(super) fn quote(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    if text.chars().count() <= MAX_CHARS {
        return Value::from(text).to_string();
    }
    let short: String = text.chars().take(MAX_CHARS).collect();
    let quoted = Value::from(short).to_string();
    format!("{}…\"", &quoted[..quoted.len() - 1])
}

pub(super) fn type_name(value: &Value) -> &'static str {
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
    use super::super::testing::*;
    use super::super::{validate, EventError, RecordingType};
    use super::*;
    use serde_json::json;

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
    fn each_participants_own_audio_track_is_read_beside_the_mixed_wav() {
        let f = fixture();
        let mut v = spec_example();
        let track = |start: &str| json!({"filename": "audio.wav", "startTime": start});
        v["recordingInfo"]["audio"]["bob"] = json!({"sfuaudio": {"7": track("2020-05-25T07:42:40Z"), "5": track("2020-05-25T07:42:31Z")}});
        v["recordingInfo"]["audio"]["alice"] =
            json!({"sfuaudio": {"6": track("2020-05-25T07:42:35Z")}});
        let c = validate(&v, &f.roots).unwrap();
        assert!(c.audio.is_some());
        let order: Vec<_> = c
            .voices
            .iter()
            .map(|t| (t.user_id.as_str(), t.key.as_str()))
            .collect();
        assert_eq!(order, [("bob", "5"), ("alice", "6"), ("bob", "7")]);
        assert_eq!(c.voices[0].path, f.roots.audio_root.join("audio.wav"));

        // Janus-only: no audiomixer.
        let info = v["recordingInfo"].as_object_mut().unwrap();
        info["audio"].as_object_mut().unwrap().remove("asterisk");
        let c = validate(&v, &f.roots).unwrap();
        assert_eq!((c.audio, c.voices.len()), (None, 3));
    }

    #[test]
    fn an_audio_or_video_entry_recproc_does_not_know_is_refused_by_name() {
        let f = fixture();
        let entry = json!({"filename": "audio.wav", "startTime": "2020-05-25T07:42:40Z"});
        let cases = [
            (
                "audio",
                json!({"bob": {"mixed": {"1": entry}}}),
                "recordingInfo.audio.bob.mixed",
                "sfuaudio",
            ),
            (
                "audio",
                json!({"asterisk": {"sipcall": {}, "confbridge": {}}}),
                "recordingInfo.audio.asterisk.confbridge",
                "sipcall",
            ),
            (
                "audio",
                json!({"bob": {"sfuvideo": {"1": entry}}}),
                "recordingInfo.audio.bob.sfuvideo",
                "sfuaudio",
            ),
            (
                "video",
                json!({"bob": {"screenshare": {}}}),
                "recordingInfo.video.bob.screenshare",
                "sfuvideo",
            ),
        ];
        for (key, value, path, expected) in cases {
            let mut v = spec_example();
            v["recordingInfo"][key] = value;
            let e = validate(&v, &f.roots).unwrap_err();
            assert!(matches!(e, EventError::UnknownKey { .. }), "{e}");
            assert!(e.is_input_fault());
            assert_eq!(e.json_path(), Some(path));
            let msg = e.to_string();
            assert!(msg.starts_with(path) && msg.contains(expected), "{msg}");
            assert_one_line(&e);
        }
    }

    #[test]
    fn a_participants_audio_entry_is_checked_like_a_video_entry() {
        let f = fixture();
        let cases = [
            (
                json!({"a/b": {"sfuaudio": {}}}),
                "recordingInfo.audio[\"a/b\"]",
            ),
            (json!({"bob": []}), "recordingInfo.audio.bob"),
            (
                json!({"bob": {"sfuaudio": 1}}),
                "recordingInfo.audio.bob.sfuaudio",
            ),
            (
                json!({"bob": {"sfuaudio": {"1": {"filename": "audio.wav"}}}}),
                "recordingInfo.audio.bob.sfuaudio.1.startTime",
            ),
            (
                json!({"bob": {"sfuaudio": {"1": {"filename": "nope.mjr", "startTime": "2020-05-25T07:42:40Z"}}}}),
                "recordingInfo.audio.bob.sfuaudio.1.filename",
            ),
        ];
        for (audio, path) in cases {
            let mut v = spec_example();
            v["recordingInfo"]["audio"] = audio;
            let e = validate(&v, &f.roots).unwrap_err();
            assert_eq!(e.json_path(), Some(path), "{e}");
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
    fn the_recording_policy_is_read_from_the_top_or_recording_info() {
        use crate::policy::{CallType, Profile};
        let f = fixture();
        let mut v = spec_example();
        v["recordingInfo"]["recordingPolicy"] = json!({"callType": "incomingPstn"});
        let c = validate(&v, &f.roots).unwrap();
        assert_eq!(c.policy.unwrap().call_type, CallType::IncomingPstn);
        v["recordingPolicy"] = json!({"user": {"recordingType": "video", "recordingProfile": "optional"}, "record": false});
        let p = validate(&v, &f.roots).unwrap().policy.unwrap();
        assert_eq!(p.call_type, CallType::Internal, "the top level wins");
        let user = p.user.unwrap();
        assert_eq!(user.recording_type, Some(RecordingType::Video));
        assert_eq!(user.profile, Some(Profile::Optional));
        assert_eq!((p.domain, p.record), (None, Some(false)));
        assert_eq!(validate(&spec_example(), &f.roots).unwrap().policy, None);
    }

    #[test]
    fn a_bad_recording_policy_is_named() {
        let f = fixture();
        for (policy, path) in [
            (json!("all"), "recordingPolicy"),
            (json!({"callType": 1}), "recordingPolicy.callType"),
            (json!({"callType": "outgoing"}), "recordingPolicy.callType"),
            (json!({"user": []}), "recordingPolicy.user"),
            (
                json!({"domain": {"recordingProfile": "never"}}),
                "recordingPolicy.domain.recordingProfile",
            ),
            (json!({"record": "yes"}), "recordingPolicy.record"),
            (json!({"domian": {}}), "recordingPolicy.domian"),
            (
                json!({"user": {"recordingprofile": "skip"}}),
                "recordingPolicy.user.recordingprofile",
            ),
        ] {
            let mut v = spec_example();
            v["recordingPolicy"] = policy;
            let e = validate(&v, &f.roots).unwrap_err();
            assert_eq!(e.json_path(), Some(path), "{e}");
            assert!(e.is_input_fault());
            assert_one_line(&e);
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

    // --- IDs --------------------------------------------------------------------------------

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

    // --- times ------------------------------------------------------------------------------

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

    // --- shape ------------------------------------------------------------------------------

    type Mutation = fn(&mut Value);

    /// Wrong or missing IDs and `recordingInfo`: the mutation, the JSON path, what is said.
    fn top_level_shape_cases() -> Vec<(Mutation, String, &'static str)> {
        vec![
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
        ]
    }

    /// Wrong or missing parts of the media entries, named as in the spec example.
    fn media_shape_cases() -> Vec<(Mutation, String, &'static str)> {
        let entry = "recordingInfo.video.alice.sfuvideo.1590392556277";
        vec![
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
        ]
    }

    #[test]
    fn missing_and_mistyped_fields_are_named_by_path() {
        let f = fixture();
        let cases = top_level_shape_cases()
            .into_iter()
            .chain(media_shape_cases());
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
    fn unknown_keys_are_ignored() {
        let f = fixture();
        let mut v = spec_example();
        v["extra"] = json!({"anything": [1, 2]});
        v["recordingInfo"]["extra"] = json!(1);
        v["recordingInfo"]["video"]["alice"]["sfuvideo"]["1590392556277"]["extra"] = json!(1);
        assert!(validate(&v, &f.roots).is_ok());
    }
}
