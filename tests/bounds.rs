//! No job without bound, with the real janus-pp-rec and ffmpeg: a call longer than
//! `recording.max_duration` is refused in seconds, as bad input, naming its times (whether the
//! event or a `.mjr` header says so); the recording ends at the event's `completed`; and a
//! sender whose RTP clock leaps mid-call still gives a recording of the call's length with
//! every tile right.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use recproc_fixture::{ColourChange, Participant, RtpLeap, Scenario};
use serde_json::{json, Value};

fn one_track(seconds: f64) -> Scenario {
    Scenario {
        duration: seconds,
        participants: vec![Participant::new("alice", "red", 0.0, seconds)],
        ..Scenario::default()
    }
}

fn read_event(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn first_video(event: &mut Value) -> &mut Value {
    let sfu = &mut event["recordingInfo"]["video"]["alice"]["sfuvideo"];
    let key = sfu.as_object().unwrap().keys().next().unwrap().clone();
    &mut sfu[key]
}

/// Runs `event` and checks it is refused quickly, as the input's fault, with nothing
/// delivered.
fn refused_quickly(sb: &Sandbox, event: &Value, stage: &str, words: &[&str]) -> Run {
    let started = Instant::now();
    let run = sb.process_text(&event.to_string());
    let took = started.elapsed();
    run.failed(stage, words);
    assert_eq!(run.json["blame"], "input", "{}", run.stdout);
    assert!(took < Duration::from_secs(20), "refusing took {took:?}");
    assert_eq!(sb.outputs(), Vec::<std::path::PathBuf>::new());
    run
}

#[test]
fn a_call_completed_a_century_ahead_is_refused_before_any_tool_runs() {
    let sb = Sandbox::new("");
    let g = sb.generate(&one_track(3.0));
    let mut event = read_event(&g.event);
    event["recordingInfo"]["completed"] = json!("2126-01-01T10:00:03.000Z");
    let run = refused_quickly(
        &sb,
        &event,
        "validate",
        &[
            "recording.max_duration (43200 s)",
            "2126-01-01T10:00:03.000Z (recordingInfo.completed)",
            "from 2026-01-01T10:00:00.000Z",
            "36524 days",
        ],
    );
    // Refused from the event alone: no track was converted.
    assert!(!run.stderr.contains("Processing video"), "{}", run.stderr);
}

#[test]
fn a_track_stopping_a_century_ahead_is_refused_too() {
    let sb = Sandbox::new("");
    let g = sb.generate(&one_track(3.0));
    let mut event = read_event(&g.event);
    event["recordingInfo"]
        .as_object_mut()
        .unwrap()
        .remove("completed");
    first_video(&mut event)["stopTime"] = json!("2126-01-01T10:00:03.000Z");
    refused_quickly(
        &sb,
        &event,
        "validate",
        &[
            "max_duration",
            "2126-01-01T10:00:03.000Z (the stopTime of video",
        ],
    );
}

#[test]
fn a_shorter_max_duration_refuses_an_ordinary_call() {
    let sb = Sandbox::new("[recording]\nmax_duration = 2\n");
    let g = sb.generate(&one_track(3.0));
    refused_quickly(
        &sb,
        &read_event(&g.event),
        "validate",
        &["the call would last 3.0 s", "recording.max_duration (2 s)"],
    );
}

/// Rewrites the `.mjr` header's first-packet time `u` to `u + seconds`.
fn move_first_packet(mjr: &Path, seconds: i64) -> i64 {
    let bytes = std::fs::read(mjr).unwrap();
    let len = u16::from_be_bytes([bytes[8], bytes[9]]) as usize;
    let mut header: Value = serde_json::from_slice(&bytes[10..10 + len]).unwrap();
    let u = header["u"].as_i64().unwrap() + seconds * 1_000_000;
    header["u"] = json!(u);
    let text = header.to_string();
    let mut out = bytes[..8].to_vec();
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[10 + len..]);
    std::fs::write(mjr, out).unwrap();
    u
}

#[test]
fn a_mjr_whose_header_says_a_century_ahead_is_refused_in_seconds() {
    let sb = Sandbox::new("");
    let g = sb.generate(&one_track(3.0));
    let century = 36_524 * 86_400;
    move_first_packet(&g.tracks[0].mjr, century);
    // The event itself is an ordinary 3 s call.
    let run = refused_quickly(
        &sb,
        &read_event(&g.event),
        "plan",
        &[
            "recording.max_duration (43200 s)",
            "from 2026-01-01T10:00:00.000Z",
            "to 2126-01-01T10:00:0",
            "(the end of the media of ",
            "alice-0.mjr, its header's u plus ",
        ],
    );
    assert!(run.stderr.contains("Processing video"), "{}", run.stderr);
}

#[test]
fn media_past_completed_is_cut() {
    // The media run 20 s; the event says the call was over after 12.
    let sb = Sandbox::new("");
    let mut s = one_track(20.0);
    s.participants[0].colour_changes = vec![ColourChange {
        at: 10.0,
        colour: "white".into(),
    }];
    let g = sb.generate(&s);
    let mut event = read_event(&g.event);
    event["recordingInfo"]["completed"] = json!("2026-01-01T10:00:12.000Z");
    let run = sb.process_text(&event.to_string());
    let out = run.delivered();
    let p = probe(&out);
    assert!((p.duration - 12.0).abs() <= 0.1, "duration {}", p.duration);
    assert_eq!(p.codecs(), vec!["vp8", "opus"]);
    assert_colours(&out, 5.0, &[((320, 240), RED)]);
    assert_colours(&out, 11.8, &[((320, 240), WHITE)]);
    assert_eq!(
        run.json["videos"][0]["stopTime"],
        "2026-01-01T10:00:12.000Z"
    );
}

#[test]
fn a_six_hour_rtp_leap_gives_a_twenty_second_recording_with_every_tile_right() {
    // alice's camera restarts its encoder at 8 s and its RTP clock leaps six hours ahead;
    // bob's restarts at 10 s and leaps an hour back. Both keep sending in real time.
    let mut alice = Participant::new("alice", "red", 0.0, 20.0);
    alice.colour_changes = vec![ColourChange {
        at: 12.0,
        colour: "white".into(),
    }];
    alice.rtp_leap = Some(RtpLeap {
        at: 8.0,
        seconds: 21_600.0,
    });
    let mut bob = Participant::new("bob", "blue", 0.0, 20.0);
    bob.colour_changes = vec![ColourChange {
        at: 14.0,
        colour: "0x00FF00".into(),
    }];
    bob.rtp_leap = Some(RtpLeap {
        at: 10.0,
        seconds: -3600.0,
    });
    let sb = Sandbox::new("");
    let g = sb.generate(&Scenario {
        participants: vec![alice, bob],
        ..Scenario::default()
    });
    let recorded: Vec<Vec<u8>> = g
        .tracks
        .iter()
        .map(|t| std::fs::read(&t.mjr).unwrap())
        .collect();
    let run = sb.process(&g.event);
    let out = run.delivered();
    let p = probe(&out);
    assert!((p.duration - 20.0).abs() <= 0.3, "duration {}", p.duration);
    for (t, bytes) in g.tracks.iter().zip(&recorded) {
        assert!(
            std::fs::read(&t.mjr).unwrap() == *bytes,
            "{} was changed",
            t.mjr.display()
        );
    }

    // Two 320x480 tiles side by side, each 4:3 picture letterboxed in the middle.
    let (left, right) = ((160, 240), (480, 240));
    for (at, a, b) in [
        (4.0, RED, BLUE),     // before both leaps
        (9.0, RED, BLUE),     // after alice's
        (11.0, RED, BLUE),    // after bob's
        (13.0, WHITE, BLUE),  // alice's picture changed after her leap
        (16.0, WHITE, GREEN), // bob's after his
        (19.8, WHITE, GREEN), // to the end
    ] {
        assert_colours(&out, at, &[(left, a), (right, b)]);
    }
    // One line per track says where its clock leapt and how far.
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("RTP clock leapt"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    let alice_line = lines.iter().find(|l| l.contains("alice-0.mjr")).unwrap();
    assert!(alice_line.contains("at 8.000s"), "{alice_line}");
    assert!(alice_line.contains("+21600.0"), "{alice_line}");
    assert!(alice_line.contains("conference_id"), "{alice_line}");
    let bob_line = lines.iter().find(|l| l.contains("bob-1.mjr")).unwrap();
    assert!(bob_line.contains("at 10.000s"), "{bob_line}");
    assert!(bob_line.contains("-3600.0"), "{bob_line}");
}

#[test]
fn a_leap_in_split_mode_keeps_the_delivered_track_its_length() {
    // Split mode delivers janus-pp-rec's file as is: it is made from the re-anchored copy.
    let sb = Sandbox::new("[recording]\nsplit_recording_output = true\n");
    let mut s = one_track(12.0);
    s.participants[0].rtp_leap = Some(RtpLeap {
        at: 5.0,
        seconds: 21_600.0,
    });
    let g = sb.generate(&s);
    let run = sb.process(&g.event);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let video = sb
        .outputs()
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "webm"))
        .expect("a delivered video track");
    let p = probe(&video);
    assert!((p.duration - 12.0).abs() <= 0.3, "duration {}", p.duration);
    let time = |v: &Value| recproc::timestamp::Timestamp::parse(v.as_str().unwrap()).unwrap();
    let stop = time(&run.json["videos"][0]["stopTime"]);
    let start = time(&run.json["videos"][0]["startTime"]);
    let listed = stop.seconds_since(start);
    assert!((listed - 12.0).abs() <= 0.3, "the metadata says {listed} s");
}
