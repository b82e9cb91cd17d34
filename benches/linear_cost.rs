//! Does rendering cost grow linearly with the length of the call when tracks carry a single
//! keyframe (WebRTC senders may send one only at the start)?
//!
//! For calls of 1, 2, 4 and 8 minutes — a host present throughout, a guest joining and leaving
//! every 20 s, every track with one keyframe — this times `recproc`'s whole pipeline, and
//! beside it the baseline it replaced: rendering each interval by input-seeking into the
//! host's track, which decodes the track from its start every time. The baseline column is
//! only that decoding (no layout, no encoding), so it flatters the baseline.
//!
//! Run: `cargo bench --bench linear_cost`

use std::process::Command;
use std::time::Instant;

use recproc::config::Config;
use recproc::job::{self, Outcome};
use recproc::pipeline::ToolSlots;
use recproc_fixture::{self as fixture, Participant, Scenario};

fn scenario(seconds: f64) -> Scenario {
    let mut host = Participant::new("host", "red", 0.0, seconds);
    host.keyframe_interval = 0.0;
    let mut participants = vec![host];
    let mut t = 5.0;
    let mut n = 0;
    while t + 10.0 <= seconds {
        let mut guest = Participant::new(&format!("guest{n}"), "blue", t, t + 10.0);
        guest.keyframe_interval = 0.0;
        participants.push(guest);
        t += 20.0;
        n += 1;
    }
    Scenario {
        duration: seconds,
        participants,
        ..Scenario::default()
    }
}

/// Interval boundaries of `scenario`, in seconds.
fn boundaries(s: &Scenario) -> Vec<f64> {
    let mut b = vec![0.0, s.duration];
    for p in &s.participants {
        b.push(p.join);
        b.push(s.leave_of(p));
    }
    b.sort_by(f64::total_cmp);
    b.dedup();
    b
}

/// Seconds spent decoding `track` the way an input-seeking renderer would, once per interval.
fn baseline_decode(track: &std::path::Path, bounds: &[f64]) -> f64 {
    let started = Instant::now();
    for w in bounds.windows(2) {
        let status = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-threads",
                "1",
                "-ss",
                &format!("{:.3}", w[0]),
                "-i",
            ])
            .arg(track)
            .args(["-t", &format!("{:.3}", w[1] - w[0]), "-f", "null", "-"])
            .status()
            .expect("run ffmpeg");
        assert!(status.success());
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let slots = ToolSlots::for_this_machine();
    println!(
        "{:>9} {:>10} {:>12} {:>14} {:>15} {:>17}",
        "call (s)", "intervals", "recproc (s)", "recproc s/min", "baseline (s)", "baseline s/min"
    );
    for minutes in [1.0, 2.0, 4.0, 8.0] {
        let seconds = minutes * 60.0;
        let dir = tempfile::tempdir().unwrap();
        let s = scenario(seconds);
        let generated = fixture::generate(&s, dir.path()).expect("generate");
        let config_path =
            fixture::write_config(dir.path(), "[recording]\nclean_temporary_files = false\n")
                .unwrap();
        let config = Config::load(Some(&config_path)).unwrap();
        let raw = std::fs::read(&generated.event).unwrap();

        let started = Instant::now();
        let outcome = runtime.block_on(job::process(&config, &slots, &raw));
        let ours = started.elapsed().as_secs_f64();
        assert!(
            matches!(outcome, Outcome::Processed(_)),
            "{:?}",
            outcome.to_json()
        );

        let bounds = boundaries(&s);
        let host_track =
            job::work_dir(&config, &s.conference_id, &s.uuid).join("tracks/track-00.webm");
        let base = baseline_decode(&host_track, &bounds);
        println!(
            "{:>9.0} {:>10} {:>12.2} {:>14.2} {:>15.2} {:>17.2}",
            seconds,
            bounds.len() - 1,
            ours,
            ours / minutes,
            base,
            base / minutes
        );
    }
}
