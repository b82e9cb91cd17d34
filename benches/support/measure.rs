//! Running a child to its end and measuring it: wall time, and the CPU time (user + system)
//! of the child and of every descendant it waited for (`getrusage(RUSAGE_CHILDREN)`).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

use super::sampler::{Peaks, Sampler};

/// One finished run.
#[derive(Debug)]
pub struct Timed {
    pub wall: f64,
    /// User + system seconds of the child and its waited-for descendants.
    pub cpu: f64,
    pub stdout: Vec<u8>,
}

/// Runs `cmd` (stdin closed, stdout captured; stderr as the caller set it) and panics with
/// `what` and the captured output when it fails.
pub fn run(cmd: &mut Command, what: &str) -> Timed {
    run_inner(cmd, what, None).0
}

/// As [`run`], sampling the child's process tree and the files under `dir` meanwhile.
pub fn run_sampled(cmd: &mut Command, what: &str, dir: PathBuf) -> (Timed, Peaks) {
    let (timed, peaks) = run_inner(cmd, what, Some(dir));
    (timed, peaks.expect("sampled"))
}

fn run_inner(cmd: &mut Command, what: &str, dir: Option<PathBuf>) -> (Timed, Option<Peaks>) {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let sampler = dir.map(|d| Sampler::start(child.id(), d));
    let mut pipe = child.stdout.take().expect("stdout is piped");
    // Drained meanwhile, so a child writing much is never blocked on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        pipe.read_to_end(&mut out).map(|_| out)
    });
    let (status, cpu) = wait_with_cpu(&mut child);
    let wall = started.elapsed().as_secs_f64();
    let peaks = sampler.map(Sampler::finish);
    let stdout = reader.join().expect("stdout reader").expect("read stdout");
    assert!(
        status.success(),
        "{what}: {status}; its output: {}",
        String::from_utf8_lossy(&stdout)
    );
    (Timed { wall, cpu, stdout }, peaks)
}

/// Waits for `child`: its exit status and the CPU seconds it and the descendants it waited
/// for used. Those are the growth of this process's `RUSAGE_CHILDREN` meanwhile, so only one
/// child may run at a time (the benches start them one after another).
fn wait_with_cpu(child: &mut Child) -> (ExitStatus, f64) {
    let before = children_cpu();
    let status = child.wait().expect("wait for the child");
    (status, children_cpu() - before)
}

/// User + system seconds of every reaped child of this process (and what they reaped).
fn children_cpu() -> f64 {
    // SAFETY: rusage is plain old data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a live, writable rusage; RUSAGE_CHILDREN is a valid `who`.
    let done = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(done, 0, "getrusage: {}", std::io::Error::last_os_error());
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
