//! The real recordings in `tests/data/real-janus/` (a real Janus 1.1.2 VideoRoom fed
//! by real browsers: real packetisation, stalls, PLI keyframes) come out right: the length of
//! the call, and who is where at each moment of their scenario.

mod common;

use std::path::Path;

use common::*;

/// Runs `recproc process` on a real recording folder (roots = the folder itself).
fn process_real(name: &str) -> (Sandbox, std::path::PathBuf) {
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
    let run = sb.process(&folder.join("event.json"));
    let out = run.delivered();
    (sb, out)
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
