//! recproc's own state directory (`output_dir/.recproc`) tampered with: a symbolic link
//! planted in it, or in its place, is refused by name (blamed on the system: an operator
//! must look) and never followed, so nothing is created outside recproc's directories.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use recproc::ledger::STATE_DIR;
use recproc_fixture::{Participant, Scenario};
use serde_json::Value;

fn one_track() -> Scenario {
    Scenario {
        duration: 2.0,
        participants: vec![Participant::new("alice", "red", 0.0, 2.0)],
        ..Scenario::default()
    }
}

/// A sandbox with a good conference: its event file and its job name.
fn conference() -> (Sandbox, PathBuf, String) {
    let sb = Sandbox::new("");
    let g = sb.generate(&one_track());
    let event: Value = serde_json::from_slice(&std::fs::read(&g.event).unwrap()).unwrap();
    let job = recproc::job::job_name(
        event["conferenceId"].as_str().unwrap(),
        event["recordingInfo"]["uuid"].as_str().unwrap(),
    );
    (sb, g.event, job)
}

/// A directory outside every root, empty.
fn outside(sb: &Sandbox) -> PathBuf {
    let dir = sb.path().join("outside");
    std::fs::create_dir(&dir).unwrap();
    dir
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Asserts the run failed for the system's reason, naming `path` as a symbolic link.
fn refused_naming(run: &Run, path: &Path) {
    run.failed(
        "preprocess",
        &[&format!("{} is a symbolic link", path.display())],
    );
    assert_eq!(run.json["blame"], "system", "{}", run.stdout);
    assert!(
        run.stderr.contains("Processing failed for a system reason"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_lock_file_planted_as_a_link_creates_nothing_at_its_target() {
    let (sb, event, job) = conference();
    let state = sb.output_dir().join(STATE_DIR);
    std::fs::create_dir_all(&state).unwrap();
    let outside = outside(&sb);
    let target = outside.join("made-through-the-link");
    let lock = state.join(format!("{job}.lock"));
    std::os::unix::fs::symlink(&target, &lock).unwrap();

    let run = sb.process(&event);
    refused_naming(&run, &lock);
    assert!(
        !target.exists(),
        "a file was created through the planted link"
    );
    assert_eq!(entries(&outside), Vec::<PathBuf>::new());
    assert_eq!(sb.outputs(), Vec::<PathBuf>::new());
    // The link is left for the operator to look at.
    assert!(std::fs::symlink_metadata(&lock).unwrap().is_symlink());

    // Once it is gone, the same event is processed.
    std::fs::remove_file(&lock).unwrap();
    sb.process(&event).delivered();
}

#[test]
fn a_state_directory_planted_as_a_link_is_not_written_through() {
    let (sb, event, _job) = conference();
    let outside = outside(&sb);
    let state = sb.output_dir().join(STATE_DIR);
    std::os::unix::fs::symlink(&outside, &state).unwrap();

    let run = sb.process(&event);
    refused_naming(&run, &state);
    assert_eq!(
        entries(&outside),
        Vec::<PathBuf>::new(),
        "nothing is created in the directory the link points to"
    );
    assert_eq!(sb.outputs(), Vec::<PathBuf>::new());
}
