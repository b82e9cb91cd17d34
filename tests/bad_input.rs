//! Bad input never produces a recording: each case gives a failure event that names the
//! problem, exit code 1, and nothing in the output directory.

mod common;

use std::path::Path;

use common::*;
use recproc_fixture::{Participant, Scenario};
use serde_json::{json, Value};

fn one_track() -> Scenario {
    Scenario {
        duration: 3.0,
        participants: vec![Participant::new("alice", "red", 0.0, 3.0)],
        ..Scenario::default()
    }
}

/// A sandbox with a good conference, and its event as JSON to spoil.
fn good() -> (Sandbox, Value) {
    let sb = Sandbox::new("");
    let g = sb.generate(&one_track());
    let event: Value = serde_json::from_slice(&std::fs::read(&g.event).unwrap()).unwrap();
    (sb, event)
}

fn first_video(event: &mut Value) -> &mut Value {
    let sfu = &mut event["recordingInfo"]["video"]["alice"]["sfuvideo"];
    let key = sfu.as_object().unwrap().keys().next().unwrap().clone();
    &mut sfu[key]
}

fn mjr_path(sb: &Sandbox, event: &Value) -> std::path::PathBuf {
    let sfu = &event["recordingInfo"]["video"]["alice"]["sfuvideo"];
    let name = sfu.as_object().unwrap().values().next().unwrap()["filename"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_owned();
    sb.video_root().join(name)
}

fn assert_nothing_delivered(sb: &Sandbox) {
    assert_eq!(sb.outputs(), Vec::<std::path::PathBuf>::new());
}

#[test]
fn invalid_json_is_rejected_and_kept_as_raw_text() {
    let sb = Sandbox::new("");
    let run = sb.process_text("{\"conferenceId\": \"c1\", ");
    run.failed("validate", &["not valid JSON", "line 1"]);
    assert_eq!(run.json["event"], "{\"conferenceId\": \"c1\", ");
    assert_nothing_delivered(&sb);
}

#[test]
fn a_missing_field_is_named_by_its_path() {
    let (sb, mut event) = good();
    event["recordingInfo"]
        .as_object_mut()
        .unwrap()
        .remove("uuid");
    let run = sb.process_text(&event.to_string());
    run.failed("validate", &["recordingInfo.uuid", "missing"]);
    assert_eq!(run.json["conferenceId"], "fixture-conf");
    // The original message travels with the failure.
    assert_eq!(run.json["event"], event);
    assert_nothing_delivered(&sb);
}

#[test]
fn a_bad_time_is_named() {
    let (sb, mut event) = good();
    first_video(&mut event)["startTime"] = json!("yesterday");
    let run = sb.process_text(&event.to_string());
    run.failed("validate", &["startTime", "yesterday"]);
    assert_nothing_delivered(&sb);
}

#[test]
fn dot_dot_paths_cannot_leave_the_root() {
    let (sb, mut event) = good();
    for name in ["../audio/fixture-conf.wav", "/a/../../../etc/passwd"] {
        first_video(&mut event)["filename"] = json!(name);
        let run = sb.process_text(&event.to_string());
        run.failed("validate", &["escapes video_root"]);
    }
    assert_nothing_delivered(&sb);
}

#[test]
fn an_absolute_path_elsewhere_is_taken_inside_the_root() {
    let (sb, mut event) = good();
    first_video(&mut event)["filename"] = json!("/etc/passwd");
    let run = sb.process_text(&event.to_string());
    // Read as <video_root>/etc/passwd, which does not exist: /etc/passwd is never opened.
    run.failed("validate", &["not found"]);
    let error = run.json["error"].as_str().unwrap();
    assert!(
        error.contains(&*sb.video_root().canonicalize().unwrap().to_string_lossy()),
        "{error}"
    );
    assert_nothing_delivered(&sb);
}

#[test]
fn a_symlink_out_of_the_root_is_refused() {
    let (sb, mut event) = good();
    // A real media file outside video_root, reachable through a link inside it.
    let outside = sb.path().join("elsewhere.mjr");
    std::fs::copy(mjr_path(&sb, &event), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, sb.video_root().join("link.mjr")).unwrap();
    first_video(&mut event)["filename"] = json!("link.mjr");
    let run = sb.process_text(&event.to_string());
    run.failed("validate", &["outside video_root", "symlink"]);
    assert_nothing_delivered(&sb);
}

#[test]
fn a_missing_file_is_named() {
    let (sb, mut event) = good();
    first_video(&mut event)["filename"] = json!("/gone.mjr");
    let run = sb.process_text(&event.to_string());
    run.failed("validate", &["gone.mjr", "not found"]);
    assert_nothing_delivered(&sb);
}

/// Processes `event` with its first video named `filename`: a failure event for the
/// validate stage, blamed on the input (a failure event and an ack in the daemon, never an
/// endless requeue), naming `words`.
fn refused_as_input(sb: &Sandbox, event: &Value, filename: &str, words: &[&str]) {
    let mut event = event.clone();
    first_video(&mut event)["filename"] = json!(filename);
    let run = sb.process_text(&event.to_string());
    run.failed("validate", words);
    assert_eq!(run.json["blame"], "input", "{}", run.stdout);
    assert!(
        !run.stderr.contains("ERROR"),
        "not an operator's problem: {}",
        run.stderr
    );
    assert_nothing_delivered(sb);
}

#[test]
fn a_name_through_a_file_is_the_input_s_fault() {
    // ENOTDIR: the event names a path beneath an existing .mjr.
    let (sb, event) = good();
    let mjr = mjr_path(&sb, &event);
    let name = format!("{}/x", mjr.file_name().unwrap().to_str().unwrap());
    refused_as_input(&sb, &event, &name, &["Not a directory", &name]);
}

#[test]
fn a_symlink_loop_is_the_input_s_fault() {
    // ELOOP: a symlink to itself, and two that point at each other.
    let (sb, event) = good();
    let root = sb.video_root();
    std::os::unix::fs::symlink("self.mjr", root.join("self.mjr")).unwrap();
    std::os::unix::fs::symlink("ping.mjr", root.join("pong.mjr")).unwrap();
    std::os::unix::fs::symlink("pong.mjr", root.join("ping.mjr")).unwrap();
    for name in ["self.mjr", "ping.mjr"] {
        refused_as_input(&sb, &event, name, &["symbolic links", name]);
    }
}

#[test]
fn a_name_too_long_is_the_input_s_fault() {
    // ENAMETOOLONG: one component of 300 bytes.
    let (sb, event) = good();
    let name = format!("{}.mjr", "n".repeat(300));
    refused_as_input(&sb, &event, &name, &["File name too long"]);
}

#[test]
fn a_truncated_mjr_is_named_with_the_kept_work_dir() {
    let (sb, event) = good();
    let mjr = mjr_path(&sb, &event);
    let bytes = std::fs::read(&mjr).unwrap();
    std::fs::write(&mjr, &bytes[..bytes.len() - 100]).unwrap();
    let run = sb.process_text(&event.to_string());
    run.failed(
        "preprocess",
        &["truncated", mjr.file_name().unwrap().to_str().unwrap()],
    );
    let work = run.json["workDir"].as_str().unwrap();
    assert!(Path::new(work).is_dir(), "the work directory is kept");
    assert_nothing_delivered(&sb);
}

#[test]
fn a_corrupt_mjr_is_named() {
    let (sb, event) = good();
    let mjr = mjr_path(&sb, &event);
    let mut bytes = std::fs::read(&mjr).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].fill(0xAB);
    std::fs::write(&mjr, &bytes).unwrap();
    let run = sb.process_text(&event.to_string());
    run.failed("preprocess", &["corrupt at byte"]);
    assert_nothing_delivered(&sb);
}

#[test]
fn a_file_that_is_not_a_recording_is_named() {
    let (sb, event) = good();
    std::fs::write(mjr_path(&sb, &event), b"<html>not a recording</html>").unwrap();
    let run = sb.process_text(&event.to_string());
    run.failed("preprocess", &["not a Janus recording"]);
    assert_nothing_delivered(&sb);
}

#[test]
fn a_wav_that_is_not_audio_is_named() {
    let (sb, event) = good();
    std::fs::write(
        sb.audio_root().join("fixture-conf.wav"),
        b"garbage, not RIFF",
    )
    .unwrap();
    let run = sb.process_text(&event.to_string());
    run.failed("preprocess", &["mixed audio", "fixture-conf.wav"]);
    assert_nothing_delivered(&sb);
}

#[test]
fn hostile_ids_are_rejected() {
    let (sb, event) = good();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"conferenceId": "../../etc"}), "conferenceId"),
        (json!({"conferenceId": "a\u{0}b"}), "conferenceId"),
        (json!({"conferenceId": "x".repeat(500)}), "conferenceId"),
        (json!({"conferenceId": ".."}), "conferenceId"),
    ];
    for (patch, field) in cases {
        let mut e = event.clone();
        e["conferenceId"] = patch["conferenceId"].clone();
        let run = sb.process_text(&e.to_string());
        run.failed("validate", &[field, "not a usable ID"]);
    }
    let mut e = event.clone();
    e["recordingInfo"]["uuid"] = json!("a/b");
    sb.process_text(&e.to_string())
        .failed("validate", &["recordingInfo.uuid", "not a usable ID"]);
    let mut e = event.clone();
    let alice = e["recordingInfo"]["video"]
        .as_object_mut()
        .unwrap()
        .remove("alice")
        .unwrap();
    e["recordingInfo"]["video"]["../evil"] = alice;
    sb.process_text(&e.to_string())
        .failed("validate", &["not a usable ID"]);
    assert_nothing_delivered(&sb);
}

#[test]
fn odd_but_harmless_ids_are_sanitised_in_names() {
    let (sb, mut event) = good();
    event["conferenceId"] = json!("conf 42@été");
    let run = sb.process_text(&event.to_string());
    let out = run.delivered();
    assert_eq!(
        out.file_name().unwrap().to_str().unwrap(),
        "recording-conf_42__t_-efab2448-fixture-uuid.webm"
    );
    assert_eq!(run.json["conferenceId"], "conf 42@été");
}

#[test]
fn an_audio_file_cannot_pull_in_media_from_outside_the_roots() {
    // An HLS playlist named like the WAV, pointing at real audio outside audio_root: ffmpeg
    // would follow it if it guessed the format from the content.
    let (sb, event) = good();
    let secret = sb.path().join("secret.ts");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v", "error", "-f", "lavfi", "-i", "sine=d=3", "-c:a", "mp2",
        ])
        .arg(&secret)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(
        sb.audio_root().join("fixture-conf.wav"),
        format!(
            "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3.0,\n{}\n#EXT-X-ENDLIST\n",
            secret.display()
        ),
    )
    .unwrap();
    let run = sb.process_text(&event.to_string());
    run.failed("preprocess", &["mixed audio"]);
    assert_nothing_delivered(&sb);
}

#[test]
fn a_redelivered_event_gets_the_same_processed_event_without_rendering() {
    let (sb, event) = good();
    let first = sb.process_text(&event.to_string());
    let file = first.delivered();
    let before = std::fs::read(&file).unwrap();
    let again = sb.process_text(&event.to_string());
    again.delivered();
    assert_eq!(again.json, first.json, "the receipt is published again");
    // With the timeline: the receipt keeps the whole processed event.
    assert!(
        !again.json["timeline"]["tracks"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        again.json
    );
    assert!(
        again.stderr.contains("already delivered"),
        "{}",
        again.stderr
    );
    assert!(
        !again.stderr.contains("stage=\"render\""),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_eq!(sb.outputs(), vec![file]);
}

#[test]
fn a_redelivery_after_downstream_took_the_file_republishes_without_rendering() {
    let (sb, event) = good();
    let first = sb.process_text(&event.to_string());
    let file = first.delivered();
    std::fs::remove_file(&file).unwrap();
    let again = sb.process_text(&event.to_string());
    again.delivered();
    assert_eq!(again.json, first.json);
    assert!(
        again.stderr.contains("already delivered"),
        "{}",
        again.stderr
    );
    assert!(sb.outputs().is_empty(), "not delivered twice");
}

#[test]
fn a_file_recproc_did_not_deliver_is_never_overwritten() {
    let (sb, event) = good();
    let theirs = sb
        .output_dir()
        .join("recording-fixture-conf-fixture-uuid.webm");
    std::fs::write(&theirs, b"someone else's file").unwrap();
    let run = sb.process_text(&event.to_string());
    run.failed("deliver", &["already exists", "never overwrites"]);
    assert_eq!(std::fs::read(&theirs).unwrap(), b"someone else's file");
    // Refused before rendering anything.
    assert!(!run.stderr.contains("stage=\"render\""), "{}", run.stderr);
}

#[test]
fn a_delivered_file_that_was_changed_is_reported_not_replaced() {
    let (sb, event) = good();
    let file = sb.process_text(&event.to_string()).delivered();
    std::fs::write(&file, b"edited").unwrap();
    let run = sb.process_text(&event.to_string());
    run.failed(
        "deliver",
        &["not the file recproc delivered", "never overwrites"],
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"edited");
}
