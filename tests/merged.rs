//! Merged recordings end to end with the real janus-pp-rec and ffmpeg: fixtures generated
//! as real `.mjr` files, `recproc process` run as a user would, and the output checked for
//! what a viewer sees: length, streams, and who is in which tile when.

mod common;

use common::*;
use recproc_fixture::{sample_four_party, Participant, Scenario};

fn centre(x: u32, y: u32, w: u32, h: u32) -> (u32, u32) {
    (x + w / 2, y + h / 2)
}

#[test]
fn four_participants_join_and_leave_in_the_right_tiles() {
    // Joins at 0, 3, 6 and 9 s; blue leaves at 14 s; yellow is H.264; 20 s in all.
    let sb = Sandbox::new("");
    let generated = sb.generate(&sample_four_party());
    let run = sb.process(&generated.event);
    let out = run.delivered();

    assert_eq!(out.extension().unwrap(), "webm");
    assert_eq!(
        out.parent().unwrap(),
        sb.output_dir().canonicalize().unwrap()
    );
    let p = probe(&out);
    assert!((p.duration - 20.0).abs() <= 0.3, "duration {}", p.duration);
    assert_eq!(p.codecs(), vec!["vp8", "opus"]);
    assert_eq!((p.streams[0].2, p.streams[0].3), (640, 480));

    // 0–3 s: red alone fills the canvas.
    assert_colours(&out, 1.5, &[((320, 240), RED), ((20, 20), RED)]);
    // 3–6 s: two 320x480 tiles, each 4:3 picture letterboxed to 320x240 in the middle.
    assert_colours(
        &out,
        4.5,
        &[
            (centre(0, 0, 320, 480), RED),
            (centre(320, 0, 320, 480), GREEN),
            ((160, 60), BLACK),
            ((480, 420), BLACK),
        ],
    );
    // 6–9 s: 2x2 grid, the third tile alone in the last row, centred.
    assert_colours(
        &out,
        7.5,
        &[
            (centre(0, 0, 320, 240), RED),
            (centre(320, 0, 320, 240), GREEN),
            (centre(160, 240, 320, 240), BLUE),
            ((60, 360), BLACK),
            ((580, 360), BLACK),
        ],
    );
    // 9–14 s: four tiles.
    assert_colours(
        &out,
        11.5,
        &[
            (centre(0, 0, 320, 240), RED),
            (centre(320, 0, 320, 240), GREEN),
            (centre(0, 240, 320, 240), BLUE),
            (centre(320, 240, 320, 240), YELLOW),
        ],
    );
    // 14–20 s: blue has left; yellow reflows into the centred third tile.
    assert_colours(
        &out,
        17.0,
        &[
            (centre(0, 0, 320, 240), RED),
            (centre(320, 0, 320, 240), GREEN),
            (centre(160, 240, 320, 240), YELLOW),
            ((60, 360), BLACK),
        ],
    );

    // The processed event describes what was delivered.
    let e = &run.json;
    assert_eq!(e["conferenceId"], "fixture-conf");
    assert_eq!(e["uuid"], "fixture-uuid");
    assert_eq!(e["mode"], "merged");
    assert_eq!(e["encrypted"], false);
    assert_eq!(e["files"].as_array().unwrap().len(), 1);
    let file = &e["files"][0];
    assert_eq!(file["path"], out.to_str().unwrap());
    assert_eq!(
        file["bytes"].as_u64().unwrap(),
        std::fs::metadata(&out).unwrap().len()
    );
    assert_eq!(file["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(e["videos"].as_array().unwrap().len(), 4);
    assert_eq!(e["startTime"], "2026-01-01T10:00:00.000Z");
    // The name follows the default filename_format.
    assert_eq!(
        out.file_name().unwrap(),
        "recording-fixture-conf-fixture-uuid.webm"
    );
    // Temporary files are gone (clean_temporary_files defaults to true).
    assert_eq!(std::fs::read_dir(sb.work_dir()).unwrap().count(), 0);
    // The operator's log lines are there, with the conference ID as a field.
    for line in [
        "File encryption is disabled",
        "FilenameGenerator configured with",
        "Received a process recording event with id: fixture-conf",
        "Processing video: ",
        "Recording with ID fixture-conf processed correctly.",
        "stage=\"render\"",
    ] {
        assert!(
            run.stderr.contains(line),
            "log lacks {line:?}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn a_late_first_keyframe_and_a_gap_keep_the_timeline() {
    // red: whole call. green: joins at 2 s but its first keyframe was lost, so its picture
    // starts at 4 s. blue: no packets from 5 to 7 s (no longer than max_freeze), and it
    // turns white at 9 s.
    let mut green = Participant::new("green", "0x00FF00", 2.0, 12.0);
    green.first_keyframe_at = Some(4.0);
    let mut blue = Participant::new("blue", "blue", 0.0, 12.0);
    blue.gaps = vec![(5.0, 7.0)];
    blue.colour_changes = vec![recproc_fixture::ColourChange {
        at: 9.0,
        colour: "white".into(),
    }];
    let scenario = Scenario {
        duration: 12.0,
        participants: vec![Participant::new("red", "red", 0.0, 12.0), blue, green],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let out = sb.process(&sb.generate(&scenario).event).delivered();
    let p = probe(&out);
    assert!((p.duration - 12.0).abs() <= 0.3, "duration {}", p.duration);

    // Red and blue start together: ties are ordered by user ID, so blue takes tile 0.
    assert_colours(
        &out,
        1.0,
        &[
            (centre(0, 0, 320, 480), BLUE),
            (centre(320, 0, 320, 480), RED),
        ],
    );
    // Green has a tile from its join at 2 s, black until its first decodable frame...
    let tiles = [
        centre(0, 0, 320, 240),
        centre(320, 0, 320, 240),
        centre(160, 240, 320, 240),
    ];
    assert_colours(
        &out,
        3.0,
        &[(tiles[0], BLUE), (tiles[1], RED), (tiles[2], BLACK)],
    );
    // ...and shows from 4 s.
    assert_colours(
        &out,
        4.5,
        &[(tiles[0], BLUE), (tiles[1], RED), (tiles[2], GREEN)],
    );
    // During blue's 2 s gap its last picture stays (frozen, not black)...
    assert_colours(&out, 6.0, &[(tiles[0], BLUE)]);
    assert_colours(&out, 6.9, &[(tiles[0], BLUE)]);
    // ...and the gap does not shift what follows: still blue just before 9 s, white after.
    assert_colours(&out, 8.6, &[(tiles[0], BLUE)]);
    assert_colours(&out, 9.4, &[(tiles[0], WHITE)]);
    assert_colours(&out, 11.5, &[(tiles[2], GREEN)]);
}

#[test]
fn a_stopped_camera_freezes_for_max_freeze_then_is_black_until_its_next_frame() {
    // blue's camera sends nothing from 4 s to 14 s, and comes back white.
    let mut blue = Participant::new("blue", "blue", 0.0, 20.0);
    blue.gaps = vec![(4.0, 14.0)];
    blue.colour_changes = vec![recproc_fixture::ColourChange {
        at: 14.0,
        colour: "white".into(),
    }];
    let scenario = Scenario {
        duration: 20.0,
        participants: vec![blue, Participant::new("red", "red", 0.0, 20.0)],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let run = sb.process(&sb.generate(&scenario).event);
    let out = run.delivered();
    let (blue_tile, red_tile) = (centre(0, 0, 320, 480), centre(320, 0, 320, 480));
    assert_colours(&out, 3.5, &[(blue_tile, BLUE), (red_tile, RED)]);
    // Frozen for max_freeze (2 s): from when its next frame was due (4 s) to 6 s.
    assert_colours(&out, 5.8, &[(blue_tile, BLUE), (red_tile, RED)]);
    // Black after, the layout unchanged, until its next frame at 14 s.
    for t in [6.2, 10.0, 13.8] {
        assert_colours(&out, t, &[(blue_tile, BLACK), (red_tile, RED)]);
    }
    assert_colours(&out, 14.2, &[(blue_tile, WHITE), (red_tile, RED)]);
    assert_colours(&out, 19.5, &[(blue_tile, WHITE), (red_tile, RED)]);
    // The processed event reports the gap, to within a frame, and red's none.
    let blue = timeline_track(&run, "blue");
    let gaps = blue["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{blue}");
    let (at, seconds) = (
        gaps[0]["at"].as_f64().unwrap(),
        gaps[0]["seconds"].as_f64().unwrap(),
    );
    assert!((at - 4.0).abs() <= 1.0 / 30.0, "{blue}");
    assert!((seconds - 10.0).abs() <= 1.0 / 30.0, "{blue}");
    assert_eq!(timeline_track(&run, "red")["gaps"], serde_json::json!([]));
    // The mixed audio is a track of the timeline too, the whole call long.
    let tracks = run.json["timeline"]["tracks"].as_array().unwrap();
    let audio: Vec<_> = tracks.iter().filter(|t| t["kind"] == "audio").collect();
    assert_eq!(audio.len(), 1, "{tracks:?}");
    assert_eq!(audio[0]["userID"], serde_json::Value::Null);
    assert_eq!(
        (audio[0]["start"].as_f64(), audio[0]["end"].as_f64()),
        (Some(0.0), Some(20.0))
    );
    assert_eq!(blue["resolutions"][0]["width"], 320, "{blue}");
    assert_eq!(blue["resolutions"][0]["height"], 240, "{blue}");
    // One layout stretch, the whole call: blue left, red right.
    let layout = &run.json["timeline"]["layout"];
    assert_eq!(layout.as_array().unwrap().len(), 1, "{layout}");
    assert_eq!(layout[0]["tiles"][0]["userID"], "blue");
    assert_eq!(layout[0]["tiles"][1]["x"], 320);

    // With max_freeze = 0 the tile is black as soon as a frame is missing.
    let sb = Sandbox::new("[recording]\nmax_freeze = 0\n");
    let out = sb.process(&sb.generate(&scenario).event).delivered();
    assert_colours(&out, 4.2, &[(blue_tile, BLACK), (red_tile, RED)]);
    assert_colours(&out, 14.2, &[(blue_tile, WHITE)]);
}

#[test]
fn a_tile_belongs_to_who_joined_first_even_before_their_first_picture() {
    // zed joins at 0 s but its first keyframe comes at 2 s; amy (first by user ID) joins at
    // 2 s. zed keeps the first tile from its join on: the grid never reshuffles.
    let mut zed = Participant::new("zed", "0x00FF00", 0.0, 6.0);
    zed.first_keyframe_at = Some(2.0);
    let scenario = Scenario {
        duration: 6.0,
        participants: vec![Participant::new("amy", "red", 2.0, 6.0), zed],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let run = sb.process(&sb.generate(&scenario).event);
    let out = run.delivered();
    // zed alone, the whole canvas, black.
    assert_colours(&out, 1.0, &[((320, 240), BLACK), ((20, 20), BLACK)]);
    // From 2 s: zed left, amy right.
    for t in [2.5, 5.5] {
        assert_colours(
            &out,
            t,
            &[
                (centre(0, 0, 320, 480), GREEN),
                (centre(320, 0, 320, 480), RED),
            ],
        );
    }
    // The processed event says the same: zed from its join, its first picture 2 s later.
    let zed = timeline_track(&run, "zed");
    assert_eq!(zed["start"], 0.0, "{zed}");
    // Its first packet a few frames after its join, its first picture at 2 s.
    let offset = zed["offsetMs"].as_i64().unwrap();
    let delay = zed["firstFrameDelayMs"].as_i64().unwrap();
    assert!((0..=100).contains(&offset), "{zed}");
    assert!((offset + delay - 2000).abs() <= 34, "{zed}");
    assert_eq!(timeline_track(&run, "amy")["start"], 2.0);
    let layout = &run.json["timeline"]["layout"];
    let who = |i: usize| -> Vec<&str> {
        layout[i]["tiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["userID"].as_str().unwrap())
            .collect()
    };
    assert_eq!(layout.as_array().unwrap().len(), 2, "{layout}");
    assert_eq!(
        (layout[0]["end"].as_f64(), who(0)),
        (Some(2.0), vec!["zed"])
    );
    assert_eq!(who(1), vec!["zed", "amy"]);
}

/// The processed event's timeline entry of `user`'s track.
fn timeline_track<'a>(run: &'a Run, user: &str) -> &'a serde_json::Value {
    run.json["timeline"]["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["userID"] == user)
        .unwrap_or_else(|| panic!("no track of {user} in {}", run.json["timeline"]))
}

#[test]
fn without_audio_the_output_is_video_only() {
    let scenario = Scenario {
        duration: 6.0,
        audio: false,
        participants: vec![
            Participant::new("a", "red", 0.0, 6.0),
            Participant::new("b", "blue", 2.0, 6.0),
        ],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let run = sb.process(&sb.generate(&scenario).event);
    let out = run.delivered();
    let p = probe(&out);
    assert_eq!(p.codecs(), vec!["vp8"]);
    assert!((p.duration - 6.0).abs() <= 0.3, "duration {}", p.duration);
    assert_colours(&out, 1.0, &[((320, 240), RED)]);
    assert_colours(&out, 4.0, &[((480, 240), BLUE)]);
    assert_eq!(run.json["audio"], serde_json::Value::Null);
}

#[test]
fn without_video_the_output_is_audio_only() {
    let scenario = Scenario {
        duration: 7.0,
        participants: vec![],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let run = sb.process(&sb.generate(&scenario).event);
    let out = run.delivered();
    let p = probe(&out);
    assert_eq!(p.codecs(), vec!["opus"]);
    assert!((p.duration - 7.0).abs() <= 0.3, "duration {}", p.duration);
    assert_eq!(run.json["videos"].as_array().unwrap().len(), 0);
}

#[test]
fn temporary_files_are_kept_when_asked() {
    let scenario = Scenario {
        duration: 3.0,
        participants: vec![Participant::new("a", "red", 0.0, 3.0)],
        ..Scenario::default()
    };
    let sb = Sandbox::new("[recording]\nclean_temporary_files = false\n");
    sb.process(&sb.generate(&scenario).event).delivered();
    let dirs: Vec<_> = std::fs::read_dir(sb.work_dir())
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(dirs.len(), 1);
    let kept = dirs[0].path();
    let name = kept.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("fixture-conf-fixture-uuid-"), "{name}");
    assert!(kept.join("tracks/track-00.webm").is_file());
    // The one range of a 3 s call, and the list the mux joined the ranges from.
    assert!(kept.join("parts/range-00000000-00000090.mkv").is_file());
    assert!(kept.join("parts/list.txt").is_file());
}

/// The mean colour of every frame of `path`'s video, in order (`recording.fps`, 30 by default, from t=0).
fn frame_colours(path: &std::path::Path) -> Vec<[u8; 3]> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-vf", "scale=1:1:flags=area"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect()
}

#[test]
fn audio_and_video_stay_in_sync_within_a_frame() {
    // One participant joins at an odd moment and turns white at 6.0 s of the call; the
    // mixed audio beeps at every whole second of the call, so also at 6.0 s.
    let mut p = Participant::new("solo", "red", 2.37, 8.0);
    p.colour_changes = vec![recproc_fixture::ColourChange {
        at: 6.0,
        colour: "white".into(),
    }];
    let scenario = Scenario {
        duration: 8.0,
        participants: vec![p],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let out = sb.process(&sb.generate(&scenario).event).delivered();

    let colours = frame_colours(&out);
    let white_frame = colours
        .iter()
        .position(|c| close(*c, WHITE))
        .expect("the picture turns white");
    let video_t = white_frame as f64 / 30.0;

    let samples = audio_samples(&out);
    let from = (5.7 * 8000.0) as usize;
    let onset = samples[from..]
        .iter()
        .position(|s| s.unsigned_abs() > 3000)
        .expect("a beep after 5.7 s");
    let audio_t = (from + onset) as f64 / 8000.0;

    eprintln!("sync: picture turns white at {video_t:.3}s, beep starts at {audio_t:.4}s");
    assert!(
        (video_t - 6.0).abs() <= 0.041,
        "picture turns white at {video_t}"
    );
    assert!(
        (video_t - audio_t).abs() <= 0.045,
        "picture at {video_t}s, sound at {audio_t}s"
    );
}

#[test]
fn a_first_keyframe_half_a_minute_late_still_shows() {
    // green's packets start at 1 s but its first keyframe only comes at 35 s.
    let mut green = Participant::new("green", "0x00FF00", 1.0, 40.0);
    green.first_keyframe_at = Some(35.0);
    let scenario = Scenario {
        duration: 40.0,
        participants: vec![Participant::new("red", "red", 0.0, 40.0), green],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let run = sb.process(&sb.generate(&scenario).event);
    let out = run.delivered();
    // Its tile is there from its join, black until that keyframe.
    assert_colours(&out, 30.0, &[((160, 240), RED), ((480, 240), BLACK)]);
    assert_colours(&out, 37.0, &[((160, 240), RED), ((480, 240), GREEN)]);
    assert_eq!(run.json["skipped"].as_array().unwrap().len(), 0);
}

#[test]
fn a_track_in_a_codec_recproc_cannot_render_is_left_out_not_fatal() {
    // green's recording says H.265 (its header's codec; Janus 1.x records it): recproc cannot
    // render it, so it is left out and reported; red and the audio are still delivered.
    let green = Participant {
        header_codec: Some("h265".into()),
        ..Participant::new("green", "0x00FF00", 1.0, 4.0)
    };
    let scenario = Scenario {
        duration: 4.0,
        participants: vec![Participant::new("red", "red", 0.0, 4.0), green],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let run = sb.process(&sb.generate(&scenario).event);
    let out = run.delivered();
    assert_eq!(probe(&out).codecs(), vec!["vp8", "opus"]);
    // red alone fills the canvas throughout.
    assert_colours(&out, 2.5, &[((320, 240), RED), ((600, 240), RED)]);
    assert_only_skipped(&run, "green", "\"h265\" is not supported");
}

#[test]
fn a_track_without_any_keyframe_is_left_out_not_fatal() {
    // green's only keyframe (5 s) is lost in a gap that lasts until it leaves: nothing of it
    // can ever be decoded. red and the audio must still be delivered.
    let mut green = Participant::new("green", "0x00FF00", 1.0, 6.0);
    green.first_keyframe_at = Some(5.0);
    green.gaps = vec![(5.0, 6.0)];
    let scenario = Scenario {
        duration: 6.0,
        participants: vec![Participant::new("red", "red", 0.0, 6.0), green],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let run = sb.process(&sb.generate(&scenario).event);
    let out = run.delivered();
    assert_eq!(probe(&out).codecs(), vec!["vp8", "opus"]);
    assert_colours(&out, 3.0, &[((320, 240), RED), ((600, 240), RED)]);
    assert_only_skipped(&run, "green", "no keyframe");
}

/// `user`'s is the one track left out, for a reason that says `why`, and the log says so.
fn assert_only_skipped(run: &Run, user: &str, why: &str) {
    let skipped = run.json["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{}", run.stdout);
    assert_eq!(skipped[0]["userID"], user);
    let reason = skipped[0]["reason"].as_str().unwrap();
    assert!(reason.contains(why), "{reason}");
    assert!(run.stderr.contains("Leaving a video out of the recording"));
    // The timeline lists it, left out, and nowhere in the layout.
    let entry = timeline_track(run, user);
    assert_eq!(entry["skipped"].as_str(), Some(reason), "{entry}");
    assert_eq!(entry["start"], serde_json::Value::Null, "{entry}");
    let layout = run.json["timeline"]["layout"].to_string();
    assert!(!layout.contains(&format!("\"{user}\"")), "{layout}");
}

#[test]
fn phones_signalling_90_and_270_degrees_appear_upright_also_when_they_turn() {
    // Both send a landscape picture, red on the left and blue on the right. Turned 90°
    // clockwise that is a portrait with red on top; turned 270°, red at the bottom. The VP8
    // phone signals 90° and turns to 270° at 3 s; the H.264 one the other way round.
    let phone = |user: &str, first: u16, then: u16| {
        let mut p = Participant::new(user, "red", 0.0, 6.0);
        p.right_colour = Some("blue".into());
        p.rotations = vec![
            recproc_fixture::Rotation {
                at: 0.0,
                degrees: first,
            },
            recproc_fixture::Rotation {
                at: 3.0,
                degrees: then,
            },
        ];
        p
    };
    // The VP8 phone's camera also restarts at 640x480 at 4.5 s, still turned.
    let mut vp8 = phone("a-vp8", 90, 270);
    vp8.size_changes = vec![recproc_fixture::SizeChange {
        at: 4.5,
        width: 640,
        height: 480,
    }];
    let scenario = Scenario {
        duration: 6.0,
        participants: vec![
            vp8,
            phone("b-h264", 270, 90).with_codec(recproc_fixture::Codec::H264),
        ],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let run = sb.process(&sb.generate(&scenario).event);
    let out = run.delivered();
    // Each tile is 320x480; the portrait 240x320 picture fits it as 320x426, centred.
    let (top, bottom) = (140, 340);
    let (left, right) = (160, 480);
    let upright = [(left, top), (left, bottom), (right, top), (right, bottom)];
    let expect = |t: f64, colours: [[u8; 3]; 4]| {
        let want: Vec<((u32, u32), [u8; 3])> = upright.into_iter().zip(colours).collect();
        assert_colours(&out, t, &want);
    };
    expect(1.5, [RED, BLUE, BLUE, RED]);
    expect(4.0, [BLUE, RED, RED, BLUE]);
    expect(5.5, [BLUE, RED, RED, BLUE]);
    assert_colours(&out, 5.5, &[((left, 12), BLACK), ((5, bottom), RED)]);
    // The portrait fills the tile's width, not its height: black above and below.
    assert_colours(&out, 1.5, &[((left, 12), BLACK), ((right, 468), BLACK)]);
    assert_colours(&out, 1.5, &[((left, 40), RED), ((5, top), RED)]);
    // The processed event lists each track's rotations.
    let turns = &timeline_track(&run, "a-vp8")["rotations"];
    assert_eq!(turns[0]["degrees"], 90, "{turns}");
    assert_eq!(turns[1]["degrees"], 270, "{turns}");
    let at = turns[1]["at"].as_f64().unwrap();
    assert!((at - 3.0).abs() <= 0.07, "{turns}");
}

#[test]
fn a_picture_that_changes_size_and_shape_stays_fitted_and_live() {
    // 640x480 red, then 320x240 green from 2 s, then a portrait 360x480 blue from 4 s;
    // beside an ordinary camera, so its tile is 320x480.
    let mut cam = Participant::new("cam", "red", 0.0, 6.0);
    cam.width = 640;
    cam.height = 480;
    let size = |at, width, height| recproc_fixture::SizeChange { at, width, height };
    cam.size_changes = vec![size(2.0, 320, 240), size(4.0, 360, 480)];
    cam.colour_changes = ["0x00FF00", "blue"]
        .iter()
        .zip([2.0, 4.0])
        .map(|(colour, at)| recproc_fixture::ColourChange {
            at,
            colour: colour.to_string(),
        })
        .collect();
    let scenario = Scenario {
        duration: 6.0,
        participants: vec![cam, Participant::new("other", "yellow", 0.0, 6.0)],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let run = sb.process(&sb.generate(&scenario).event);
    let out = run.delivered();
    // 4:3 in 320x480 is 320x240 (rows 120 to 360); the portrait is 320x426 (27 to 453).
    for (t, colour) in [(1.0, RED), (3.0, GREEN)] {
        assert_colours(
            &out,
            t,
            &[
                ((160, 240), colour),
                ((160, 130), colour),
                ((160, 100), BLACK),
            ],
        );
        assert_colours(&out, t, &[((160, 350), colour), ((160, 380), BLACK)]);
    }
    for t in [4.3, 5.5] {
        assert_colours(
            &out,
            t,
            &[((160, 40), BLUE), ((160, 440), BLUE), ((5, 240), BLUE)],
        );
        assert_colours(&out, t, &[((160, 12), BLACK), ((160, 468), BLACK)]);
    }
    assert_colours(&out, 5.5, &[((480, 240), YELLOW)]);
    let sizes = &timeline_track(&run, "cam")["resolutions"];
    let seen: Vec<(u64, u64)> = sizes
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["width"].as_u64().unwrap(), s["height"].as_u64().unwrap()))
        .collect();
    assert_eq!(seen, vec![(640, 480), (320, 240), (360, 480)], "{sizes}");
}
