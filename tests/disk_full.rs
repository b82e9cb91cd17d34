//! A full disk, as an operator meets it: `recproc process` with `output_dir` or `work_dir` on
//! a tiny tmpfs gives a failure event that names the stage and says what is full, and leaves
//! nothing half-written in `output_dir`. The tmpfs lives in a private mount namespace
//! (`unshare -rm`), so the test needs no privileges and leaves no mount behind; what was in
//! it is listed before the namespace goes away.

mod common;

use std::path::Path;
use std::process::Command;

use common::Sandbox;
use recproc_fixture::{Participant, Scenario};
use serde_json::Value;

struct Full {
    code: Option<i32>,
    event: Value,
    stderr: String,
    /// Every path that was in the tmpfs after recproc exited, relative to it.
    left: Vec<String>,
}

/// Runs `recproc process` with `mount_point` (an existing directory) replaced by a tmpfs of
/// `size` bytes.
fn process_on_tmpfs(sb: &Sandbox, event: &Path, mount_point: &Path, size: &str) -> Full {
    let out_json = sb.path().join("event-out.json");
    let listing = sb.path().join("left.txt");
    let script = r#"mount -t tmpfs -o "size=$1" tmpfs "$2" || exit 97
"$3" process --config "$4" "$5" > "$6"
code=$?
(cd "$2" && find . -mindepth 1 | sort) > "$7"
exit $code"#;
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", script, "sh", size])
        .arg(mount_point)
        .arg(env!("CARGO_BIN_EXE_recproc"))
        .arg(&sb.config)
        .arg(event)
        .arg(&out_json)
        .arg(&listing)
        .env("RECPROC_LOG", "info")
        .output()
        .expect("run unshare");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(
        out.status.code(),
        Some(97),
        "cannot mount a tmpfs: {stderr}"
    );
    let event = serde_json::from_slice(&std::fs::read(&out_json).unwrap_or_default())
        .unwrap_or(Value::Null);
    let left = std::fs::read_to_string(&listing)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    Full {
        code: out.status.code(),
        event,
        stderr,
        left,
    }
}

/// Moving pictures (a few hundred kB once rendered): more than the tmpfs holds.
fn call() -> Scenario {
    let moving = |user: &str, colour: &str| Participant {
        texture: true,
        ..Participant::new(user, colour, 0.0, 6.0)
    };
    Scenario {
        duration: 6.0,
        participants: vec![moving("alice", "red"), moving("bob", "blue")],
        ..Scenario::default()
    }
}

#[test]
fn a_full_output_dir_fails_the_delivery_and_leaves_no_partial_file() {
    let sb = Sandbox::new("");
    let g = sb.generate(&call());
    // Room for the state directory, not for the recording.
    let full = process_on_tmpfs(&sb, &g.event, &sb.output_dir(), "48k");
    assert_eq!(full.code, Some(1), "{}", full.stderr);
    let e = &full.event;
    assert_eq!(e["status"], "failed", "{e}");
    assert_eq!(e["stage"], "deliver", "{e}");
    assert_eq!(e["blame"], "system", "{e}");
    let error = e["error"].as_str().unwrap();
    assert!(error.contains("No space left on device"), "{error}");
    assert!(
        error.contains(&*sb.output_dir().to_string_lossy()),
        "names the path: {error}"
    );
    // Nothing but recproc's state (a lock; the receipt was taken back) is in output_dir.
    let media: Vec<_> = full
        .left
        .iter()
        .filter(|p| !p.starts_with("./.recproc/") && *p != "./.recproc")
        .collect();
    assert!(media.is_empty(), "left in output_dir: {:?}", full.left);
    assert!(
        !full.left.iter().any(|p| p.ends_with(".json")),
        "no receipt for what was not delivered: {:?}",
        full.left
    );
    // The work directory is kept: it holds the only copy of the rendered recording.
    let work = e["workDir"].as_str().expect("workDir");
    assert!(Path::new(work).join("output").is_dir(), "{work}");
}

#[test]
fn a_full_work_dir_fails_the_stage_that_ran_out_and_says_so() {
    let sb = Sandbox::new("");
    let g = sb.generate(&call());
    let full = process_on_tmpfs(&sb, &g.event, &sb.work_dir(), "64k");
    assert_eq!(full.code, Some(1), "{}", full.stderr);
    let e = &full.event;
    assert_eq!(e["status"], "failed", "{e}");
    assert_eq!(e["blame"], "system", "{e}");
    let stage = e["stage"].as_str().unwrap();
    assert!(["preprocess", "render", "mux"].contains(&stage), "{e}");
    let error = e["error"].as_str().unwrap();
    assert!(error.contains("No space left on device"), "{error}");
    assert!(
        error.contains(&*sb.work_dir().to_string_lossy()),
        "names the path: {error}"
    );
    assert!(sb.outputs().is_empty(), "nothing delivered");
}
