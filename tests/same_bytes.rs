//! The same event rendered twice gives the same bytes (README, "Processing"), whatever the
//! load on the machine: a recording delivered again can be compared with the first by its
//! digest. Each test renders one conference with several intervals, removes what the first
//! run left (the file, its receipt, the work directory), renders it again and compares.

mod common;

use std::path::Path;

use common::*;
use recproc_fixture::{Codec, Participant, Scenario};

/// A camera with a moving, detailed picture: the encoders have work to do, as with a real one.
fn camera(user: &str, join: f64, leave: f64) -> Participant {
    let mut p = Participant::new(user, "gray", join, leave);
    p.texture = true;
    p
}

/// Four cameras joining at 0, 2, 3 and 4 s, one leaving at 6 s: five intervals in 8 s, one
/// track H.264.
fn several_intervals() -> Scenario {
    Scenario {
        duration: 8.0,
        participants: vec![
            camera("ann", 0.0, 8.0),
            camera("bob", 2.0, 8.0),
            camera("cid", 3.0, 6.0),
            camera("dan", 4.0, 8.0).with_codec(Codec::H264),
        ],
        ..Scenario::default()
    }
}

fn sha256_of(path: &Path) -> String {
    recproc::pipeline::deliver::digest(path).unwrap().sha256
}

/// Renders the scenario with `recording` settings twice from nothing; the two digests.
fn render_twice(recording: &str) -> [String; 2] {
    let sb = Sandbox::new(&format!("[recording]\n{recording}"));
    let event = sb.generate(&several_intervals()).event;
    let mut digests = Vec::new();
    for _ in 0..2 {
        let run = sb.process(&event);
        let file = run.delivered();
        assert_eq!(run.json["mode"], "merged", "{}", run.stdout);
        let sha256 = sha256_of(&file);
        assert_eq!(run.json["files"][0]["sha256"], sha256.as_str());
        digests.push(sha256);
        // Nothing of this run is left to reuse: the next renders from the media alone.
        std::fs::remove_file(&file).unwrap();
        std::fs::remove_dir_all(sb.output_dir().join(recproc::ledger::STATE_DIR)).unwrap();
        let work = std::fs::read_dir(sb.work_dir()).unwrap().count();
        assert_eq!(work, 0, "clean_temporary_files removed the work directory");
    }
    [digests.remove(0), digests.remove(0)]
}

#[test]
fn vp8_renders_to_the_same_bytes_twice() {
    let [first, second] = render_twice("");
    assert_eq!(first, second);
}

#[test]
fn vp9_renders_to_the_same_bytes_twice() {
    let [first, second] = render_twice("video_codec = \"vp9\"\n");
    assert_eq!(first, second);
}

#[test]
fn h264_renders_to_the_same_bytes_twice() {
    let [first, second] = render_twice("video_codec = \"h264\"\n");
    assert_eq!(first, second);
}
