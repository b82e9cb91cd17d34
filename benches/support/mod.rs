//! What the benches share: the quick switch, generated fixtures cached across runs, the
//! interval boundaries of a scenario, a fresh work and output directory per run, running the
//! `recproc` binary measured (wall, CPU, peak RSS of it and its tools, peak work-directory
//! size), and the environment line. `probe.rs` (media lengths) is included by the benches that
//! use it.

pub mod measure;
pub mod sampler;

use std::path::{Path, PathBuf};
use std::process::Command;

use recproc::config::Config;
use recproc_fixture::{self as fixture, Scenario};

use measure::Timed;
use sampler::Peaks;

pub const MB: f64 = 1e6;

/// `BENCH_QUICK=1` (any value but empty or `0`): shorter calls, for development. Not
/// `RECPROC_…`: recproc reads every such variable as configuration and refuses unknown ones.
pub fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Cores this process may use (its CPU affinity included).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Prints the ffmpeg version, the cores, the load average at start, and which recproc
/// binary is measured (a target directory shared with another worktree may hold that one's
/// build: its time tells which).
pub fn print_environment() {
    let version = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .expect("run ffmpeg -version");
    let text = String::from_utf8_lossy(&version.stdout);
    println!(
        "{}",
        text.lines().next().unwrap_or("ffmpeg: no version line")
    );
    println!(
        "available_parallelism: {} cores; load average at start: {}",
        cores(),
        load_average()
    );
    if busy() {
        println!("WARNING: the load exceeds the cores: other work skews every figure below");
    }
    let binary = env!("CARGO_BIN_EXE_recproc");
    let built = std::fs::metadata(binary)
        .and_then(|m| m.modified())
        .map(time::OffsetDateTime::from)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("recproc binary: {binary}, built {built}");
}

/// The 1, 5 and 15 minute load averages: other work on the machine slows every figure.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether the 1-minute load average exceeds the cores.
fn busy() -> bool {
    let load: f64 = load_average()
        .split_whitespace()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0.0);
    load > cores() as f64
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, or the one the recproc binary is in.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_BIN_EXE_recproc"))
        .ancestors()
        .nth(2)
        .expect("the binary lies in <target>/<profile>/")
        .to_owned()
}

/// The media of `scenario` under `<target>/bench-fixtures/<name>/`. Generated once and
/// reused while its `event.json` exists and the `scenario.json` stored beside it is the
/// same; generated afresh otherwise.
pub fn fixture(name: &str, scenario: &Scenario) -> PathBuf {
    let dir = target_dir().join("bench-fixtures").join(name);
    let json = serde_json::to_string_pretty(scenario).expect("a scenario serialises");
    let stored = dir.join("scenario.json");
    let same = std::fs::read_to_string(&stored).is_ok_and(|s| s == json);
    if same && dir.join("event.json").is_file() {
        return dir;
    }
    eprintln!(
        "Generating fixture {} (kept for later runs).",
        dir.display()
    );
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            panic!("remove {}: {e}", dir.display())
        }
        _ => {}
    }
    fixture::generate(scenario, &dir).expect("generate the fixture");
    // Written last: a generation cut short is redone next time.
    std::fs::write(&stored, json).expect("store scenario.json");
    dir
}

/// Interval boundaries of `s`, in seconds: its start and end and every join and leave.
pub fn boundaries(s: &Scenario) -> Vec<f64> {
    let mut b = vec![0.0, s.duration];
    for p in &s.participants {
        b.push(p.join);
        b.push(s.leave_of(p));
    }
    b.sort_by(f64::total_cmp);
    b.dedup();
    b
}

/// A fresh directory on the target's disk (like a real work directory, not in a RAM-backed
/// `/tmp`), removed when dropped.
pub fn scratch_dir() -> tempfile::TempDir {
    let parent = target_dir().join("bench-runs");
    std::fs::create_dir_all(&parent).expect("create bench-runs");
    tempfile::tempdir_in(parent).expect("create a scratch directory")
}

/// One run of recproc on a fixture: its own empty work and output directories (a finished
/// job would otherwise be resumed or answered from its receipt), removed when dropped.
pub struct RunDir {
    dir: tempfile::TempDir,
    pub config: Config,
}

impl RunDir {
    /// A configuration reading the fixture's media, followed by `extra_toml`.
    pub fn new(fixture: &Path, extra_toml: &str) -> RunDir {
        let dir = scratch_dir();
        let mut text = String::from("[paths]\n");
        for (key, path) in [
            ("video_root", fixture.join("video")),
            ("audio_root", fixture.join("audio")),
            ("work_dir", dir.path().join("work")),
            ("output_dir", dir.path().join("output")),
        ] {
            std::fs::create_dir_all(&path).expect("create a configured directory");
            let value = serde_json::to_string(&path.to_string_lossy()).expect("a string");
            text.push_str(&format!("{key} = {value}\n"));
        }
        text.push_str(extra_toml);
        let file = dir.path().join("recproc.toml");
        std::fs::write(&file, text).expect("write recproc.toml");
        let config = Config::load(Some(&file)).expect("a valid configuration");
        RunDir { dir, config }
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("recproc.toml")
    }

    /// The work root (`paths.work_dir`): what the sampler sizes.
    pub fn work_root(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Where the job for `scenario` works.
    pub fn job_dir(&self, scenario: &Scenario) -> PathBuf {
        recproc::job::work_dir(&self.config, &scenario.conference_id, &scenario.uuid)
    }
}

/// What one `recproc process` run cost, and the processed event it printed.
pub struct Processed {
    pub timed: Timed,
    pub peaks: Peaks,
    pub event: serde_json::Value,
}

/// Runs `[prefix…] recproc process --config … <fixture>/event.json` (the binary, so that its
/// tools count in its tree), sampling its process tree and the work root. recproc's log
/// shows warnings and errors only; a failure panics with the failure event.
pub fn run_recproc(run: &RunDir, fixture: &Path, prefix: &[&str]) -> Processed {
    let binary = env!("CARGO_BIN_EXE_recproc");
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(binary);
            c
        }
        None => Command::new(binary),
    };
    cmd.arg("process")
        .arg("--config")
        .arg(run.config_file())
        .arg(fixture.join("event.json"))
        .env("RECPROC_LOG", "warn");
    let (timed, peaks) = measure::run_sampled(&mut cmd, "recproc process", run.work_root());
    let event = serde_json::from_slice(&timed.stdout).expect("recproc prints the event as JSON");
    Processed {
        timed,
        peaks,
        event,
    }
}
