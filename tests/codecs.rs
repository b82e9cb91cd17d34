//! The delivered codecs and containers (SPEC.md "Outputs"): VP8 or VP9 in WebM with Opus,
//! H.264 in MP4 with AAC and the index first (+faststart); any even canvas size. And the
//! recorded codecs recproc takes besides VP8 and H.264: AV1 (janus-pp-rec makes MP4 of it),
//! merged tile by tile and delivered untouched in split mode.

mod common;

use std::path::Path;

use common::*;
use recproc_fixture::{Codec, ColourChange, Participant, Scenario};

fn two_party() -> Scenario {
    Scenario {
        duration: 4.0,
        participants: vec![
            Participant::new("a", "red", 0.0, 4.0),
            Participant::new("b", "blue", 1.0, 4.0).with_codec(Codec::H264),
        ],
        ..Scenario::default()
    }
}

/// A VP8 camera and two AV1 ones (as Chromium sends when it prefers AV1): `b` loses packets
/// for half a second and comes back on a keyframe in another colour, `c`'s first keyframe is
/// lost (black until its next one at 3 s) and it turns yellow at 4 s.
fn av1_call() -> Scenario {
    let mut b = Participant::new("b", "blue", 1.0, 6.0).with_codec(Codec::Av1);
    b.gaps = vec![(4.5, 5.0)];
    b.colour_changes = vec![ColourChange {
        at: 4.6,
        colour: "white".into(),
    }];
    let mut c = Participant::new("c", "0x00FF00", 2.0, 6.0).with_codec(Codec::Av1);
    c.first_keyframe_at = Some(3.0);
    c.colour_changes = vec![ColourChange {
        at: 4.0,
        colour: "yellow".into(),
    }];
    Scenario {
        duration: 6.0,
        participants: vec![Participant::new("a", "red", 0.0, 6.0), b, c],
        ..Scenario::default()
    }
}

/// What janus-pp-rec 1.1.2 itself makes of `mjr` (written next to it as `.mp4`).
fn janus_pp_rec_mp4(mjr: &Path) -> Vec<u8> {
    let out = mjr.with_extension("by-hand.mp4");
    let status = std::process::Command::new("janus-pp-rec")
        .arg(mjr)
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run janus-pp-rec");
    assert!(status.success(), "janus-pp-rec {}", mjr.display());
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    bytes
}

#[test]
fn av1_tracks_are_merged_with_every_tile_right() {
    let sb = Sandbox::new("");
    let run = sb.process(&sb.generate(&av1_call()).event);
    let out = run.delivered();
    let p = probe(&out);
    assert_eq!(p.codecs(), vec!["vp8", "opus"]);
    assert!((p.duration - 6.0).abs() <= 0.3, "{}", p.duration);
    assert_eq!(run.json["skipped"].as_array().unwrap().len(), 0);
    // a alone; then a and b side by side (4:3 in 320x480: centred vertically).
    assert_colours(&out, 0.5, &[((320, 240), RED), ((600, 240), RED)]);
    assert_colours(&out, 1.5, &[((160, 240), RED), ((480, 240), BLUE)]);
    // Three tiles, c's centred in the second row: black until its first keyframe (3 s).
    let three = |c| [((160, 120), RED), ((480, 120), BLUE), ((320, 360), c)];
    assert_colours(&out, 2.5, &three(BLACK));
    assert_colours(&out, 3.5, &three(GREEN));
    assert_colours(&out, 4.3, &three(YELLOW));
    // b froze on blue during its gap and came back white on the keyframe that ended it.
    assert_colours(&out, 4.8, &[((480, 120), BLUE), ((320, 360), YELLOW)]);
    assert_colours(&out, 5.5, &[((160, 120), RED), ((480, 120), WHITE)]);
}

#[test]
fn an_av1_camera_whose_keyframe_spans_packets_shows_in_every_range() {
    // A camera picture's keyframe takes several RTP packets: janus-pp-rec 1.1.2 then marks no
    // frame of the MP4 as a keyframe, i.e. all of them. With one keyframe at the start, a
    // range that begins with a seek (the render splits a 20 s call on two cores or more)
    // must still decode from that keyframe, not from the inter frame it seeks to.
    let moving = Participant {
        texture: true,
        keyframe_interval: 0.0,
        ..Participant::new("b", "blue", 0.0, 20.0).with_codec(Codec::Av1)
    };
    let mut red = Participant::new("a", "red", 0.0, 20.0);
    red.keyframe_interval = 0.0;
    let scenario = Scenario {
        duration: 20.0,
        participants: vec![red, moving],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let out = sb.process(&sb.generate(&scenario).event).delivered();
    for t in [5.0, 12.0, 15.0, 18.0] {
        let f = frame_at(&out, t);
        assert!(close(f.pixel(160, 240), RED), "at {t} s");
        // b's tile (320x240 at 1:1, centred in the right half) shows its moving pattern.
        let black: Vec<(u32, u32)> = [(400, 150), (480, 240), (560, 330)]
            .into_iter()
            .filter(|&(x, y)| close(f.pixel(x, y), BLACK))
            .collect();
        assert!(black.is_empty(), "at {t} s b's tile is black at {black:?}");
    }
}

#[test]
fn av1_tracks_are_delivered_as_janus_pp_rec_made_them_in_split_mode() {
    let sb = Sandbox::new("[recording]\nsplit_recording_output = true\n");
    let generated = sb.generate(&av1_call());
    let run = sb.process(&generated.event);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json["mode"], "split");
    let dir = sb.output_dir().join("fixture-uuid-fixture-conf");
    for (track, name, codec) in [
        (0, "rec-20260101-100000-a.webm", "vp8"),
        (1, "rec-20260101-100001-b.mp4", "av1"),
        (2, "rec-20260101-100002-c.mp4", "av1"),
    ] {
        let delivered = dir.join(name);
        assert_eq!(probe(&delivered).codecs(), vec![codec], "{name}");
        if codec == "av1" {
            let mjr = &generated.tracks[track].mjr;
            assert!(
                std::fs::read(&delivered).unwrap() == janus_pp_rec_mp4(mjr),
                "{name} is not janus-pp-rec's conversion of {}",
                mjr.display()
            );
        }
    }
    assert_colours(
        &dir.join("rec-20260101-100001-b.mp4"),
        1.0,
        &[((160, 120), BLUE)],
    );
    assert_colours(
        &dir.join("rec-20260101-100002-c.mp4"),
        1.5,
        &[((160, 120), GREEN)],
    );
    // The processed event lists them by path.
    let videos = run.json["videos"].as_array().unwrap();
    let names: Vec<String> = videos
        .iter()
        .map(|v| Path::new(v["filename"].as_str().unwrap()))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "rec-20260101-100000-a.webm",
            "rec-20260101-100001-b.mp4",
            "rec-20260101-100002-c.mp4"
        ]
    );
}

/// Whether the MP4's `moov` box comes before its `mdat` (playable while downloading).
fn moov_first(path: &std::path::Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let find = |tag: &[u8]| bytes.windows(4).position(|w| w == tag);
    matches!((find(b"moov"), find(b"mdat")), (Some(m), Some(d)) if m < d)
}

#[test]
fn vp9_is_webm_with_opus() {
    let sb = Sandbox::new("[recording]\nvideo_codec = \"vp9\"\n");
    let out = sb.process(&sb.generate(&two_party()).event).delivered();
    assert_eq!(out.extension().unwrap(), "webm");
    let p = probe(&out);
    assert_eq!(p.codecs(), vec!["vp9", "opus"]);
    assert!((p.duration - 4.0).abs() <= 0.3, "{}", p.duration);
    assert_colours(&out, 2.5, &[((160, 240), RED), ((480, 240), BLUE)]);
}

#[test]
fn h264_is_mp4_with_aac_and_faststart() {
    let sb = Sandbox::new("[recording]\nvideo_codec = \"h264\"\n");
    let out = sb.process(&sb.generate(&two_party()).event).delivered();
    assert_eq!(out.extension().unwrap(), "mp4");
    let p = probe(&out);
    assert_eq!(p.codecs(), vec!["h264", "aac"]);
    assert!((p.duration - 4.0).abs() <= 0.3, "{}", p.duration);
    assert!(moov_first(&out), "the MP4 index must come first");
    assert_colours(&out, 2.5, &[((160, 240), RED), ((480, 240), BLUE)]);
}

#[test]
fn any_even_canvas_size_follows_the_grid() {
    // 1280x720, two tiles: 640x720 each; 4:3 pictures fit 640x480, centred vertically.
    let sb = Sandbox::new("[recording]\nwidth = 1280\nheight = 720\n");
    let out = sb.process(&sb.generate(&two_party()).event).delivered();
    let p = probe(&out);
    assert_eq!((p.streams[0].2, p.streams[0].3), (1280, 720));
    assert_colours(
        &out,
        2.5,
        &[
            ((320, 360), RED),
            ((960, 360), BLUE),
            ((320, 100), BLACK),
            ((960, 660), BLACK),
        ],
    );
}
