//! Does rendering cost grow linearly with the length of the call when tracks carry a single
//! keyframe (WebRTC senders may send one only at the start)?
//!
//! For calls of 1, 5 and 10 minutes — a host present throughout, a guest joining and leaving
//! every 20 s, every track with one keyframe — this runs the `recproc` binary (`recproc
//! process`) and prints its wall time, its cost per minute of call, its time as a multiple
//! of the 1-minute call's (goal: at most 1.05 × the length ratio, so 10 min ≤ 10.5 × 1 min),
//! and the peak RSS of recproc and its tools together and the peak size of the work
//! directory. A 9-tile call (nine participants present at once for 60 s) gets the same
//! figures. Beside them is the baseline recproc replaced: rendering each interval by
//! input-seeking into the host's track, which decodes the track from its start every time.
//! The baseline column is only that decoding (no layout, no encoding), so it flatters the
//! baseline.
//!
//! Run: `cargo bench --bench linear_cost`; `BENCH_QUICK=1` makes every call a
//! quarter as long (15, 75 and 150 s; the 9-tile call 15 s).

mod support;

use std::path::Path;
use std::process::Command;

use recproc_fixture::{Participant, Scenario};
use support::{measure, RunDir, MB};

/// The work directory is kept: the baseline decodes the host's converted track.
const KEEP_WORK: &str = "[recording]\nclean_temporary_files = false\n";

/// Allowed growth beyond proportional: 10 min may cost 10.5 × 1 min.
const LINEAR_SLACK: f64 = 1.05;

fn single_keyframe(user: &str, colour: &str, join: f64, leave: f64) -> Participant {
    let mut p = Participant::new(user, colour, join, leave);
    p.keyframe_interval = 0.0;
    p
}

fn scenario(seconds: f64) -> Scenario {
    let mut participants = vec![single_keyframe("host", "red", 0.0, seconds)];
    let mut t = 5.0;
    let mut n = 0;
    while t + 10.0 <= seconds {
        participants.push(single_keyframe(&format!("guest{n}"), "blue", t, t + 10.0));
        t += 20.0;
        n += 1;
    }
    Scenario {
        duration: seconds,
        participants,
        ..Scenario::default()
    }
}

/// Nine participants present from start to end: the largest merged layout.
fn nine_tiles(seconds: f64) -> Scenario {
    let colours = [
        "red", "green", "blue", "yellow", "cyan", "magenta", "white", "orange", "purple",
    ];
    Scenario {
        duration: seconds,
        participants: colours
            .iter()
            .enumerate()
            .map(|(n, c)| single_keyframe(&format!("p{n}"), c, 0.0, seconds))
            .collect(),
        ..Scenario::default()
    }
}

/// Seconds spent decoding `track` the way an input-seeking renderer would, once per interval.
fn baseline_decode(track: &Path, bounds: &[f64]) -> f64 {
    bounds
        .windows(2)
        .map(|w| {
            let mut c = Command::new("ffmpeg");
            c.args(["-nostdin", "-v", "error", "-threads", "1", "-ss"])
                .arg(format!("{:.3}", w[0]))
                .arg("-i")
                .arg(track)
                .args(["-t", &format!("{:.3}", w[1] - w[0]), "-f", "null", "-"]);
            measure::run(&mut c, "ffmpeg baseline decode").wall
        })
        .sum()
}

/// What one call cost.
struct Figures {
    intervals: usize,
    recproc: f64,
    cpu: f64,
    rss: u64,
    disk: u64,
    baseline: f64,
}

/// Runs recproc on the (cached) fixture of `s`, then the baseline on its host track.
fn measure(name: &str, s: &Scenario) -> Figures {
    let dir = support::fixture(name, s);
    let run = RunDir::new(&dir, KEEP_WORK);
    let ours = support::run_recproc(&run, &dir, &[]);
    assert_eq!(ours.event["mode"], "merged", "{}", ours.event["modeReason"]);
    let bounds = support::boundaries(s);
    let host_track = run.job_dir(s).join("tracks/track-00.webm");
    Figures {
        intervals: bounds.len() - 1,
        recproc: ours.timed.wall,
        cpu: ours.timed.cpu,
        rss: ours.peaks.rss,
        disk: ours.peaks.disk,
        baseline: baseline_decode(&host_track, &bounds),
    }
}

/// One row; `goal` is the most the ratio to the first call may be, where there is one.
fn print_row(label: &str, seconds: f64, f: &Figures, first: f64, goal: Option<f64>) {
    let minutes = seconds / 60.0;
    let ratio = f.recproc / first;
    let goal = goal.map_or("-".to_owned(), |g| {
        format!("{g:.2} {}", if ratio <= g { "ok" } else { "OVER" })
    });
    println!(
        "{label:<9} {seconds:>6.0} {:>9} {:>11.2} {:>8.2} {ratio:>9.2} {goal:>11} {:>8.2} {:>9.1} \
         {:>10.1} {:>12.2} {:>13.2}",
        f.intervals,
        f.recproc,
        f.recproc / minutes,
        f.cpu,
        f.rss as f64 / MB,
        f.disk as f64 / MB,
        f.baseline,
        f.baseline / minutes
    );
}

fn main() {
    let scale = if support::quick() { 0.25 } else { 1.0 };
    support::print_environment();
    println!(
        "{:<9} {:>6} {:>9} {:>11} {:>8} {:>9} {:>11} {:>8} {:>9} {:>10} {:>12} {:>13}",
        "call",
        "s",
        "intervals",
        "recproc (s)",
        "s/min",
        "vs first",
        "goal",
        "CPU (s)",
        "RSS (MB)",
        "work (MB)",
        "baseline (s)",
        "baseline s/min"
    );
    let mut first: Option<(f64, f64)> = None;
    for minutes in [1.0, 5.0, 10.0] {
        let seconds = minutes * 60.0 * scale;
        let f = measure(&format!("linear-cost-{seconds:.0}s"), &scenario(seconds));
        let (first_wall, first_seconds) = *first.get_or_insert((f.recproc, seconds));
        let goal = LINEAR_SLACK * seconds / first_seconds;
        print_row("1-2 tiles", seconds, &f, first_wall, Some(goal));
    }
    let seconds = 60.0 * scale;
    let f = measure(
        &format!("linear-cost-9-tiles-{seconds:.0}s"),
        &nine_tiles(seconds),
    );
    let (first_wall, _) = first.expect("the calls ran");
    print_row("9 tiles", seconds, &f, first_wall, None);
    println!("load average at end: {}", support::load_average());
}
