//! The filesystem changing under a running job: recproc's own work directory removed (the
//! system's fault: retried, never a failure blamed on the recording), and an input swapped for
//! a symlink out of its root after it was checked (never read: the recording is made of what
//! was checked).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use recproc_fixture::{Participant, Scenario};
use serde_json::Value;

/// `recproc process` on `event`, running in the background.
fn spawn(sb: &Sandbox, event: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_recproc"))
        .arg("process")
        .arg("--config")
        .arg(&sb.config)
        .arg(event)
        .env("RECPROC_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run recproc")
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().expect("wait for recproc");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Run {
        code: out.status.code(),
        json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stdout,
        stderr,
    }
}

/// Polls `found` until it gives something (or a minute passes).
fn wait_for<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(t) = found() {
            return t;
        }
        assert!(Instant::now() < deadline, "{what} never appeared");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The job's work directory (the only one in `work_dir`), once it has `sub`.
fn job_dir_with(sb: &Sandbox, sub: &str) -> Option<PathBuf> {
    std::fs::read_dir(sb.work_dir())
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join(sub).exists())
}

fn assert_still_running(child: &mut Child, when: &str) {
    assert!(
        child.try_wait().unwrap().is_none(),
        "the job finished before {when}: the test tested nothing"
    );
}

fn call(seconds: f64, participants: Vec<Participant>) -> Scenario {
    Scenario {
        duration: seconds,
        participants,
        ..Scenario::default()
    }
}

/// Long enough to render that the work directory can be removed in the middle.
fn busy_call() -> Scenario {
    call(
        10.0,
        vec![
            Participant::new("red", "red", 0.0, 10.0),
            Participant::new("green", "lime", 0.0, 10.0),
            Participant::new("blue", "blue", 2.0, 10.0),
        ],
    )
}

/// Removes the work directory `dir` as soon as `sub` appears in it, while the job runs, and
/// checks what became of the job: a failure blamed on the system, nothing delivered.
fn remove_work_dir_when(sub: &str) {
    let sb = Sandbox::new("");
    let g = sb.generate(&busy_call());
    let mut child = spawn(&sb, &g.event);
    let dir = wait_for(&format!("the work directory's {sub}"), || {
        job_dir_with(&sb, sub)
    });
    assert_still_running(&mut child, "its work directory was removed");
    // The tools may be creating files in it meanwhile: until it is gone once.
    wait_for("the removal of the work directory", || {
        std::fs::remove_dir_all(&dir).ok()
    });
    let run = finish(child);
    assert_eq!(
        run.code,
        Some(1),
        "a failure\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.json["status"], "failed", "{}", run.stdout);
    assert_eq!(
        run.json["blame"], "system",
        "recproc's own directory was removed, not the recording's fault: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("Processing failed for a system reason"),
        "an operator is told:\n{}",
        run.stderr
    );
    assert!(sb.outputs().is_empty(), "{:?}", sb.outputs());
}

#[test]
fn removing_the_work_directory_while_tracks_convert_is_the_system_s_fault() {
    remove_work_dir_when("tracks");
}

#[test]
fn removing_the_work_directory_while_ranges_render_is_the_system_s_fault() {
    remove_work_dir_when("parts");
}

/// Replaces `name` by a symlink to `target`, atomically (a rename over it).
fn swap_for_symlink(name: &Path, target: &Path) {
    let tmp = name.with_extension("swap");
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, name).unwrap();
}

/// A continuous loud tone, as a WAV like the audiomixer's.
fn tone(path: &Path, seconds: f64) {
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=3000:sample_rate=8000:duration={seconds}"
        ))
        .args(["-ac", "1", "-c:a", "pcm_s16le"])
        .arg(path)
        .status()
        .expect("run ffmpeg");
    assert!(made.success());
}

/// The share of 100 ms windows of `file`'s audio that are loud: the fixture's mixed audio
/// beeps for 100 ms each second (a small share), a tone is loud throughout (all of them).
fn loud_share(file: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-vn", "-ac", "1", "-ar", "8000", "-f", "s16le", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(out.status.success(), "decoding the audio: {out:?}");
    let samples: Vec<f64> = out
        .stdout
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    let windows: Vec<bool> = samples
        .chunks(800)
        .map(|w| (w.iter().map(|s| s * s).sum::<f64>() / w.len() as f64).sqrt() > 500.0)
        .collect();
    assert!(!windows.is_empty(), "no audio in {}", file.display());
    windows.iter().filter(|&&loud| loud).count() as f64 / windows.len() as f64
}

#[test]
fn inputs_swapped_for_symlinks_out_of_the_roots_mid_job_are_never_read() {
    let sb = Sandbox::new("");
    let g = sb.generate(&call(4.0, vec![Participant::new("alice", "red", 0.0, 4.0)]));
    // Outside the roots: another call's track of the same user (green), and a tone.
    let elsewhere = sb.path().join("elsewhere");
    let other = recproc_fixture::generate(
        &call(4.0, vec![Participant::new("alice", "lime", 0.0, 4.0)]),
        &elsewhere,
    )
    .unwrap();
    let outside_wav = elsewhere.join("tone.wav");
    tone(&outside_wav, 4.0);
    let (mjr, wav) = (&g.tracks[0].mjr, g.wav.as_ref().unwrap());

    let mut child = spawn(&sb, &g.event);
    // The work directory is made after the event was checked: swap both inputs then.
    wait_for("the work directory", || job_dir_with(&sb, ""));
    swap_for_symlink(mjr, &other.tracks[0].mjr);
    swap_for_symlink(wav, &outside_wav);
    assert_still_running(&mut child, "its inputs were swapped");
    let run = finish(child);

    // The names in the roots now lead outside them…
    assert_eq!(
        std::fs::read(wav).unwrap(),
        std::fs::read(&outside_wav).unwrap()
    );
    // …but the recording is made of the files that were checked.
    let file = run.delivered();
    assert_colours(&file, 2.0, &[((320, 240), RED)]);
    let share = loud_share(&file);
    assert!(
        share > 0.0 && share < 0.5,
        "the audio is the mixed WAV's beeps, not the tone outside the roots: {share:.2} of it is loud"
    );
    // The events name the files as the event did, inside the roots.
    assert_eq!(
        run.json["audio"]["filename"]
            .as_str()
            .map(|f| f.ends_with("fixture-conf.wav")),
        Some(true),
        "{}",
        run.stdout
    );
}
