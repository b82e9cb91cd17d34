//! `recordingType` decides what is kept (SPEC.md): `audio` gives the audio alone, `video` the
//! video without audio, `none` no media at all, and `shouldRecordAudio`/`shouldRecordVideo`
//! say so.

mod common;

use common::*;
use recproc_fixture::{Participant, Scenario};
use serde_json::{json, Value};

/// The event of a short two-party conference written into `sb`.
fn two_party(sb: &Sandbox) -> Value {
    let scenario = Scenario {
        duration: 4.0,
        participants: vec![
            Participant::new("a", "red", 0.0, 4.0),
            Participant::new("b", "blue", 1.0, 4.0),
        ],
        ..Scenario::default()
    };
    let g = sb.generate(&scenario);
    serde_json::from_slice(&std::fs::read(&g.event).unwrap()).unwrap()
}

/// The two-party conference whose event carries `recording_type` (at the top level, or
/// inside recordingInfo).
fn with_type(sb: &Sandbox, recording_type: &str, inside: bool) -> Run {
    let mut event = two_party(sb);
    if inside {
        event["recordingInfo"]["recordingType"] = json!(recording_type);
    } else {
        event["recordingType"] = json!(recording_type);
    }
    sb.process_text(&event.to_string())
}

#[test]
fn audio_keeps_the_audio_alone() {
    let sb = Sandbox::new("");
    let run = with_type(&sb, "audio", false);
    let out = run.delivered();
    let p = probe(&out);
    assert_eq!(p.codecs(), vec!["opus"]);
    assert!((p.duration - 4.0).abs() <= 0.3, "{}", p.duration);
    assert_eq!(run.json["shouldRecordAudio"], true);
    assert_eq!(run.json["shouldRecordVideo"], false);
    assert_eq!(run.json["videos"], json!([]));
}

#[test]
fn video_keeps_the_video_without_audio() {
    let sb = Sandbox::new("");
    let run = with_type(&sb, "video", true);
    let out = run.delivered();
    let p = probe(&out);
    assert_eq!(p.codecs(), vec!["vp8"]);
    assert!((p.duration - 4.0).abs() <= 0.3, "{}", p.duration);
    assert_colours(&out, 2.5, &[((160, 240), RED), ((480, 240), BLUE)]);
    assert_eq!(run.json["shouldRecordAudio"], false);
    assert_eq!(run.json["shouldRecordVideo"], true);
    assert_eq!(run.json["audio"], Value::Null);
}

#[test]
fn none_records_nothing_and_says_so() {
    let sb = Sandbox::new("");
    let run = with_type(&sb, "none", false);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json["status"], "processed");
    assert_eq!(run.json["shouldRecordAudio"], false);
    assert_eq!(run.json["shouldRecordVideo"], false);
    assert_eq!(run.json["files"], json!([]));
    assert!(run.json["modeReason"].as_str().unwrap().contains("none"));
    assert!(sb.outputs().is_empty());
}

#[test]
fn audio_in_split_mode_is_the_wav_and_the_metadata() {
    let sb = Sandbox::new("[recording]\nsplit_recording_output = true\n");
    let run = with_type(&sb, "audio", false);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let kinds: Vec<&str> = run.json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["metadata", "audio"]);
    assert_eq!(run.json["shouldRecordVideo"], false);
    let dir = std::path::Path::new(run.json["directory"].as_str().unwrap());
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.join("fixture-uuid-fixture-conf.json")).unwrap())
            .unwrap();
    assert_eq!(meta["shouldRecordAudio"], true);
    assert_eq!(meta["shouldRecordVideo"], false);
    assert_eq!(meta["videos"], json!([]));
    assert!(meta["audio"]["filename"]
        .as_str()
        .unwrap()
        .ends_with(".wav"));
}

#[test]
fn none_with_split_configured_says_split_and_delivers_nothing() {
    let sb = Sandbox::new("[recording]\nsplit_recording_output = true\n");
    let run = with_type(&sb, "none", true);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json["mode"], "split");
    assert_eq!(run.json["files"], json!([]));
    assert!(sb.outputs().is_empty());
}

#[test]
fn an_unknown_recording_type_is_named() {
    let sb = Sandbox::new("");
    let run = with_type(&sb, "everything", false);
    run.failed("validate", &["recordingType", "everything"]);
    assert!(sb.outputs().is_empty());
}

/// The two-party conference under `policy` (its `recordingPolicy`), with `extra` config.
fn with_policy(extra: &str, policy: Value) -> (Sandbox, Run) {
    let sb = Sandbox::new(extra);
    let mut event = two_party(&sb);
    event["recordingPolicy"] = policy;
    let run = sb.process_text(&event.to_string());
    (sb, run)
}

/// The seed's domain: recordings off (`none`/`skip`).
fn seed_domain() -> Value {
    json!({"recordingType": "none", "recordingProfile": "skip"})
}

#[test]
fn the_seed_example_alice_is_recorded_and_another_user_of_her_domain_is_not() {
    let alice = json!({"callType": "internal", "domain": seed_domain(),
                       "user": {"recordingType": "all", "recordingProfile": "always"}});
    let (_sb, run) = with_policy("", alice);
    let out = run.delivered();
    assert_eq!(probe(&out).codecs(), ["vp8", "opus"]);
    assert_eq!(
        run.json["policy"],
        json!({"recorded": true, "source": "user", "recordingType": "all"})
    );
    assert!(
        run.stderr.contains("Recording policy: recorded (all)"),
        "{}",
        run.stderr
    );

    let (sb, run) = with_policy("", json!({"callType": "internal", "domain": seed_domain()}));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json["policy"]["recorded"], false);
    assert_eq!(run.json["policy"]["source"], "domain");
    assert!(run.json["policy"]["reason"]
        .as_str()
        .unwrap()
        .contains("skip"));
    assert_eq!(run.json["files"], json!([]));
    assert!(sb.outputs().is_empty(), "nothing delivered");
    assert!(
        run.stderr
            .contains("Recording policy: not recorded: the domain's recordingProfile is skip"),
        "{}",
        run.stderr
    );

    // A user level that says nothing, or only part, does not open what the domain closed.
    for user in [json!({}), json!({"recordingType": "all"})] {
        let (sb, run) = with_policy("", json!({"domain": seed_domain(), "user": user}));
        assert_eq!(run.json["policy"]["recorded"], false, "{user}");
        assert!(sb.outputs().is_empty());
    }
}

#[test]
fn without_permissions_the_system_setting_decides() {
    let (_sb, run) = with_policy(
        "[policy]\nrecord = \"audio\"\n",
        json!({"callType": "internal"}),
    );
    let out = run.delivered();
    assert_eq!(probe(&out).codecs(), ["opus"]);
    assert_eq!(
        run.json["policy"],
        json!({"recorded": true, "source": "system", "recordingType": "audio"})
    );
}

#[test]
fn an_optional_profile_declined_by_the_caller_records_nothing() {
    let policy = json!({"user": {"recordingType": "all", "recordingProfile": "optional"},
                        "record": false});
    let (sb, run) = with_policy("", policy);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json["policy"]["recorded"], false);
    assert!(run.json["policy"]["reason"]
        .as_str()
        .unwrap()
        .contains("chose not to record"));
    assert!(sb.outputs().is_empty());
}

#[test]
fn a_user_allowed_video_only_gets_video_only() {
    let policy = json!({"user": {"recordingType": "video", "recordingProfile": "always"}});
    let (_sb, run) = with_policy("", policy);
    let out = run.delivered();
    assert_eq!(probe(&out).codecs(), ["vp8"]);
    assert_eq!(run.json["shouldRecordAudio"], false);
}

#[test]
fn incoming_pstn_calls_follow_the_switch_whatever_the_users_permissions() {
    let pstn = json!({"callType": "incomingPstn",
                      "user": {"recordingType": "none", "recordingProfile": "skip"}});
    let (sb, run) = with_policy("", pstn.clone());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json["policy"]["recorded"], false);
    assert_eq!(run.json["policy"]["source"], "pstn");
    assert!(sb.outputs().is_empty());

    let (_sb, run) = with_policy("[policy]\nrecord_incoming_pstn = true\n", pstn);
    let out = run.delivered();
    assert_eq!(probe(&out).codecs(), ["vp8", "opus"]);
    assert_eq!(
        run.json["policy"],
        json!({"recorded": true, "source": "pstn", "recordingType": "all"})
    );
}

#[test]
fn an_unknown_policy_value_is_named_with_what_is_allowed() {
    for (policy, path, allowed) in [
        (
            json!({"callType": "outgoing"}),
            "recordingPolicy.callType",
            "incomingPstn",
        ),
        (
            json!({"user": {"recordingProfile": "sometimes"}}),
            "recordingPolicy.user.recordingProfile",
            "optional",
        ),
        (
            json!({"domain": {"recordingType": "both"}}),
            "recordingPolicy.domain.recordingType",
            "video",
        ),
    ] {
        let (_sb, run) = with_policy("", policy);
        run.failed("validate", &[path, allowed]);
        assert_eq!(run.json["blame"], "input");
    }
}
