//! Split output and the rule that picks it (SPEC.md "Outputs"): the directory, one WAV, one
//! untouched video per track, and a metadata JSON whose every field checks out against the
//! files.

mod common;

use std::path::Path;

use common::*;
use recproc_fixture::sample_four_party;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn seconds_between(a: &Value, b: &Value) -> f64 {
    let a = recproc::timestamp::Timestamp::parse(a.as_str().unwrap()).unwrap();
    let b = recproc::timestamp::Timestamp::parse(b.as_str().unwrap()).unwrap();
    b.seconds_since(a)
}

#[test]
fn four_participants_split_into_a_wav_four_videos_and_metadata() {
    let sb = Sandbox::new("[recording]\nsplit_recording_output = true\n");
    let generated = sb.generate(&sample_four_party());
    let run = sb.process(&generated.event);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let e = &run.json;
    assert_eq!(e["mode"], "split");
    assert!(e["modeReason"]
        .as_str()
        .unwrap()
        .contains("split_recording_output"));
    assert!(
        run.stderr.contains("Delivering a split recording"),
        "{}",
        run.stderr
    );

    // The directory and exactly the files SPEC.md names.
    let dir = sb
        .output_dir()
        .canonicalize()
        .unwrap()
        .join("fixture-uuid-fixture-conf");
    assert_eq!(e["directory"], dir.to_str().unwrap());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "fixture-uuid-fixture-conf.json",
            "rec-20260101-100000-fixture-uuid-fixture-conf.wav",
            "rec-20260101-100000-red.webm",
            "rec-20260101-100003-green.webm",
            "rec-20260101-100006-blue.webm",
            "rec-20260101-100009-yellow.mp4",
        ]
    );
    // Nothing else in output_dir (no temporary directory left behind).
    let entries: Vec<_> = std::fs::read_dir(sb.output_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != recproc::ledger::STATE_DIR)
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");

    // The WAV is the mixed audio, byte for byte.
    let wav = dir.join("rec-20260101-100000-fixture-uuid-fixture-conf.wav");
    assert_eq!(
        std::fs::read(&wav).unwrap(),
        std::fs::read(generated.wav.as_ref().unwrap()).unwrap()
    );

    // Each video plays, shows its participant, and lasts as long as they were in the call.
    for (name, colour, codec, seconds) in [
        ("rec-20260101-100000-red.webm", RED, "vp8", 20.0),
        ("rec-20260101-100003-green.webm", GREEN, "vp8", 17.0),
        ("rec-20260101-100006-blue.webm", BLUE, "vp8", 8.0),
        ("rec-20260101-100009-yellow.mp4", YELLOW, "h264", 11.0),
    ] {
        let path = dir.join(name);
        let p = probe(&path);
        assert_eq!(p.codecs(), vec![codec], "{name}");
        assert!(
            (p.duration - seconds).abs() <= 0.3,
            "{name}: {} s",
            p.duration
        );
        assert_colours(&path, seconds / 2.0, &[((160, 120), colour)]);
    }

    // The metadata file checks out against the files, field by field.
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.join("fixture-uuid-fixture-conf.json")).unwrap())
            .unwrap();
    assert_eq!(meta["uuid"], "fixture-uuid");
    assert_eq!(meta["startTime"], "2026-01-01T10:00:00.000Z");
    assert_eq!(meta["stopTime"], "2026-01-01T10:00:20.000Z");
    assert_eq!(meta["shouldRecordAudio"], true);
    assert_eq!(meta["shouldRecordVideo"], true);
    let videos = meta["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 4);
    // Each track starts when its participant joined (its first packet).
    let starts: Vec<(&str, &str)> = videos
        .iter()
        .map(|v| {
            (
                v["userID"].as_str().unwrap(),
                v["startTime"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        starts,
        vec![
            ("red", "2026-01-01T10:00:00.000Z"),
            ("green", "2026-01-01T10:00:03.000Z"),
            ("blue", "2026-01-01T10:00:06.000Z"),
            ("yellow", "2026-01-01T10:00:09.000Z"),
        ]
    );
    for v in videos {
        let file = dir.join(v["filename"].as_str().unwrap());
        let bytes = std::fs::metadata(&file).unwrap().len();
        assert_eq!(v["bytes"], bytes);
        assert_eq!(v["size"], format!("{:.4}MB", bytes as f64 / 1048576.0));
        let user = v["userID"].as_str().unwrap();
        assert!(
            v["filename"]
                .as_str()
                .unwrap()
                .ends_with(&format!("-{user}.webm"))
                || v["filename"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("-{user}.mp4"))
        );
        let span = seconds_between(&v["startTime"], &v["stopTime"]);
        assert!(
            (span - probe(&file).duration).abs() <= 0.3,
            "{user}: {span} s"
        );
    }
    let a = &meta["audio"];
    assert_eq!(
        a["filename"],
        "rec-20260101-100000-fixture-uuid-fixture-conf.wav"
    );
    assert_eq!(a["bytes"], std::fs::metadata(&wav).unwrap().len());
    assert_eq!(a["startTime"], "2026-01-01T10:00:00.000Z");
    assert!((seconds_between(&a["startTime"], &a["stopTime"]) - 20.0).abs() < 0.01);

    // The processed event lists every delivered file, with its size and digest.
    let files = e["files"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    for f in files {
        let path = Path::new(f["path"].as_str().unwrap());
        assert_eq!(path.parent().unwrap(), dir);
        assert_eq!(f["bytes"], std::fs::metadata(path).unwrap().len());
        assert_eq!(f["sha256"], sha256(path));
    }
    let kinds: Vec<&str> = files.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "video").count(), 4);
    assert_eq!(kinds.iter().filter(|k| **k == "audio").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "metadata").count(), 1);
    assert_eq!(e["filename"], Value::Null);
    // The event's metadata names the delivered files by full path.
    assert!(e["videos"][0]["filename"]
        .as_str()
        .unwrap()
        .starts_with(dir.to_str().unwrap()));
}

#[test]
fn more_videos_at_once_than_mix_limit_means_split() {
    // Four are visible at once from 9 to 14 s.
    let sb = Sandbox::new("[recording]\nmix_limit = 3\n");
    let run = sb.process(&sb.generate(&sample_four_party()).event);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json["mode"], "split");
    assert!(run.json["modeReason"]
        .as_str()
        .unwrap()
        .contains("4 videos"));
    assert_eq!(run.json["files"].as_array().unwrap().len(), 6);
}

#[test]
fn as_many_videos_as_mix_limit_stays_merged() {
    let sb = Sandbox::new("[recording]\nmix_limit = 4\n");
    let run = sb.process(&sb.generate(&sample_four_party()).event);
    let out = run.delivered();
    assert_eq!(run.json["mode"], "merged");
    assert!(run.json["modeReason"]
        .as_str()
        .unwrap()
        .contains("within mix_limit 4"));
    assert_eq!(out.extension().unwrap(), "webm");
    assert_eq!(sb.outputs(), vec![out]);
}

#[test]
fn mix_limit_above_nine_always_splits() {
    let scenario = recproc_fixture::Scenario {
        duration: 3.0,
        participants: vec![recproc_fixture::Participant::new("a", "red", 0.0, 3.0)],
        ..Default::default()
    };
    let sb = Sandbox::new("[recording]\nmix_limit = 12\n");
    let run = sb.process(&sb.generate(&scenario).event);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json["mode"], "split");
    assert!(run.json["modeReason"].as_str().unwrap().contains("above 9"));
}
