//! The real recordings in `tests/data/real-janus/` (a real Janus 1.1.2 VideoRoom fed
//! by real browsers: real packetisation, stalls, PLI keyframes) come out right: the length of
//! the call, who is where at each moment of their scenario, and, mixed from each
//! participant's own audio track instead of the WAV, whose voice is heard when.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// Runs `recproc process` on a real recording folder's event (roots = the folder itself).
fn process_real(name: &str) -> (Sandbox, std::path::PathBuf) {
    let (sb, run) = process_real_event(name, |event| event);
    let out = run.delivered();
    (sb, out)
}

/// Runs `recproc process` on the event of a real recording folder as `edit` makes it (roots =
/// the folder itself).
fn process_real_event(name: &str, edit: impl FnOnce(Value) -> Value) -> (Sandbox, Run) {
    let folder = real_janus(name);
    let folder = folder
        .canonicalize()
        .unwrap_or_else(|_| panic!("{} is missing from the checkout", folder.display()));
    let sb = Sandbox::new("");
    // Same sandbox work/output, but the roots are the read-only folder.
    let text = std::fs::read_to_string(&sb.config).unwrap();
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("video_root") || l.starts_with("audio_root") {
                format!("{} = {:?}", l.split(' ').next().unwrap(), folder)
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&sb.config, text).unwrap();
    let event: Value =
        serde_json::from_slice(&std::fs::read(folder.join("event.json")).unwrap()).unwrap();
    let event_path = sb.path().join("event.json");
    std::fs::write(&event_path, serde_json::to_vec(&edit(event)).unwrap()).unwrap();
    let run = sb.process(&event_path);
    (sb, run)
}

/// `event` as a deployment without an audiomixer sends it: each participant's own
/// `-audio-0.mjr` (as the folder's scenario.json lists them) under `audio.<user>.sfuaudio`,
/// from when Janus created its recorder to the participant's video stop, and no WAV.
fn janus_only(name: &str, mut event: Value) -> Value {
    let scenario: Value =
        serde_json::from_slice(&std::fs::read(real_janus(name).join("scenario.json")).unwrap())
            .unwrap();
    let mut audio = serde_json::Map::new();
    for r in scenario["recordings"].as_array().unwrap() {
        if r["kind"] != "audio" {
            continue;
        }
        let user = r["participant"].as_str().unwrap();
        let video = event["recordingInfo"]["video"][user]["sfuvideo"]
            .as_object()
            .unwrap();
        let stop = video.values().next().unwrap()["stopTime"].clone();
        let key = (r["janus_pp_rec_json_header"]["s"].as_u64().unwrap() / 1000).to_string();
        let entry = json!({
            "filename": format!("/{}", r["file"].as_str().unwrap()),
            "startTime": r["header_times_utc"]["s_created"],
            "stopTime": stop,
        });
        audio.insert(user.to_owned(), json!({"sfuaudio": {key: entry}}));
    }
    event["recordingInfo"]["audio"] = Value::Object(audio);
    event
}

/// Asserts that the `hz` voice is heard in each second from `heard` and in none from
/// `silent` (seconds of the output; each participant beeps half of every second).
fn assert_voice(samples: &[i16], (who, hz): (&str, f64), heard: &[f64], silent: &[f64]) {
    for &t in heard {
        let level = tone(samples, hz, t, t + 1.0);
        assert!(
            level > 1000.0,
            "{who} ({hz} Hz) not heard at {t} s: {level:.0}"
        );
    }
    for &t in silent {
        let level = tone(samples, hz, t, t + 1.0);
        assert!(level < 100.0, "{who} ({hz} Hz) heard at {t} s: {level:.0}");
    }
}

#[test]
fn three_join_leave_from_each_participants_own_audio_track() {
    // P1 (440 Hz) from 0, P2 (660 Hz) from ~4.2 s to ~13.9 s, P3 (880 Hz) from ~9 s; no WAV.
    let (_sb, run) = process_real_event("three-join-leave", |e| janus_only("three-join-leave", e));
    let out = run.delivered();
    // t=0 is P1's recorder (its microphone's first packet 46 ms later); the call ends with
    // the last stop.
    assert_length(&out, 19.92);
    assert_colours(&out, 6.0, &[((160, 240), RED), ((480, 240), GREEN)]);
    let samples = audio_samples(&out);
    assert_voice(&samples, ("P1", 440.0), &[0.5, 3.0, 10.0, 18.5], &[]);
    assert_voice(
        &samples,
        ("P2", 660.0),
        &[4.5, 8.0, 12.5],
        &[1.0, 3.0, 14.5, 18.0],
    );
    assert_voice(
        &samples,
        ("P3", 880.0),
        &[9.5, 14.0, 18.5],
        &[1.0, 5.0, 8.0],
    );
    // The timeline says where each voice is and the metadata lists them.
    let tracks = run.json["timeline"]["tracks"].as_array().unwrap();
    let voices: Vec<_> = tracks.iter().filter(|t| t["kind"] == "audio").collect();
    assert_eq!(voices.len(), 3, "{tracks:?}");
    for v in &voices {
        assert_eq!(v["codec"], "opus");
        assert!(v["skipped"].is_null(), "{v}");
    }
    let p2 = voices.iter().find(|v| v["userID"] == "P2").unwrap();
    let (start, end) = (p2["start"].as_f64().unwrap(), p2["end"].as_f64().unwrap());
    assert!(
        (start - 4.207).abs() < 0.01 && (end - 13.867).abs() < 0.01,
        "{p2}"
    );
    assert_eq!(run.json["audios"].as_array().unwrap().len(), 3);
    assert!(run.json["audio"].is_null());
}

fn assert_length(out: &Path, expected: f64) {
    let p = probe(out);
    assert_eq!(p.codecs(), vec!["vp8", "opus"]);
    assert!(
        (p.duration - expected).abs() <= 0.3,
        "{}: duration {} expected {expected}",
        out.display(),
        p.duration
    );
}

#[test]
fn three_join_leave() {
    // P1 red from 0, P2 green ~4–14 s, P3 blue from ~8 s; the call lasts 19.87 s.
    let (_sb, out) = process_real("three-join-leave");
    assert_length(&out, 19.87);
    assert_colours(&out, 2.0, &[((320, 240), RED)]);
    assert_colours(&out, 6.0, &[((160, 240), RED), ((480, 240), GREEN)]);
    assert_colours(
        &out,
        11.0,
        &[((160, 120), RED), ((480, 120), GREEN), ((320, 360), BLUE)],
    );
    assert_colours(&out, 17.0, &[((160, 240), RED), ((480, 240), BLUE)]);
}

#[test]
fn codec_h264() {
    // P1 red from 0, P4 yellow from ~2 s, both to ~9.86 s.
    let (_sb, out) = process_real("codec-h264");
    assert_length(&out, 9.86);
    assert_colours(&out, 1.0, &[((320, 240), RED)]);
    assert_colours(&out, 5.0, &[((160, 240), RED), ((480, 240), YELLOW)]);
}

#[test]
fn codec_vp9() {
    let (_sb, out) = process_real("codec-vp9");
    assert_length(&out, 9.78);
    assert_colours(&out, 1.0, &[((320, 240), RED)]);
    assert_colours(&out, 5.0, &[((160, 240), RED), ((480, 240), YELLOW)]);
}

#[test]
fn h264_and_vp9_calls_from_each_participants_own_audio_track() {
    // P1 (440 Hz) from 0; P4 (1100 Hz) from about 2.3 s; both to the end.
    for name in ["codec-h264", "codec-vp9"] {
        let (_sb, run) = process_real_event(name, |e| janus_only(name, e));
        let out = run.delivered();
        let samples = audio_samples(&out);
        assert_voice(&samples, ("P1", 440.0), &[0.5, 5.0, 8.5], &[]);
        assert_voice(&samples, ("P4", 1100.0), &[3.0, 6.0, 8.5], &[0.2, 1.2]);
        assert_colours(&out, 5.0, &[((160, 240), RED), ((480, 240), YELLOW)]);
    }
}
