//! The delivered codecs and containers (SPEC.md "Outputs"): VP8 or VP9 in WebM with Opus,
//! H.264 in MP4 with AAC and the index first (+faststart); any even canvas size.

mod common;

use common::*;
use recproc_fixture::{Codec, Participant, Scenario};

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
