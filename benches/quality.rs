//! Size and quality of the delivered video for every codec and quality level.
//!
//! Size: a 60 s four-party call whose cameras show a moving, detailed pattern, merged at
//! 640×480; SPEC asks about 2 MB per minute at `low` and 4 MB at `high` (±25 %), `medium` in
//! between. Quality: a 60 s call of one 640×480 camera, the delivered video compared with
//! what the SFU recorded (SSIM, 1 = identical): VP9 should beat VP8 at the same size.
//!
//! Run: `cargo bench --bench quality`

use std::path::Path;
use std::process::Command;

use recproc::config::Config;
use recproc::job::{self, Outcome};
use recproc::pipeline::ToolSlots;
use recproc_fixture::{self as fixture, Participant, Scenario};

#[path = "support/probe.rs"]
mod probe;

const MIB: f64 = 1024.0 * 1024.0;

fn textured(user: &str, join: f64, leave: f64, size: (u32, u32)) -> Participant {
    let mut p = Participant::new(user, "gray", join, leave);
    p.texture = true;
    p.width = size.0;
    p.height = size.1;
    p.fps = 30;
    p
}

fn four_party() -> Scenario {
    Scenario {
        duration: 60.0,
        participants: (0..4)
            .map(|i| textured(&format!("p{i}"), 0.0, 60.0, (320, 240)))
            .collect(),
        ..Scenario::default()
    }
}

fn one_camera() -> Scenario {
    Scenario {
        duration: 60.0,
        participants: vec![textured("cam", 0.0, 60.0, (640, 480))],
        ..Scenario::default()
    }
}

/// Media generated once for `scenario` under `dir`.
struct Sample {
    dir: std::path::PathBuf,
    event: Vec<u8>,
    scenario: Scenario,
}

fn sample(dir: &Path, name: &str, scenario: Scenario) -> Sample {
    let dir = dir.join(name);
    let generated = fixture::generate(&scenario, &dir).expect("generate");
    Sample {
        event: std::fs::read(&generated.event).unwrap(),
        dir,
        scenario,
    }
}

/// Runs the pipeline on `sample` with `codec` and `quality`; returns the delivered file and
/// the work directory (kept).
fn render(
    runtime: &tokio::runtime::Runtime,
    sample: &Sample,
    codec: &str,
    quality: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let run = sample.dir.join(format!("run-{codec}-{quality}"));
    let (work, output) = (run.join("work"), run.join("output"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&output).unwrap();
    let text = format!(
        "[paths]\nvideo_root = {:?}\naudio_root = {:?}\nwork_dir = {work:?}\noutput_dir = {output:?}\n\
         [recording]\nclean_temporary_files = false\nvideo_codec = \"{codec}\"\nquality = \"{quality}\"\n",
        sample.dir.join("video"),
        sample.dir.join("audio"),
    );
    let path = run.join("recproc.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(Some(&path)).unwrap();
    let outcome = runtime.block_on(job::process(
        &config,
        &ToolSlots::for_this_machine(),
        &sample.event,
    ));
    let Outcome::Processed(p) = outcome else {
        panic!("{:?}", outcome.to_json())
    };
    let work = job::work_dir(
        &config,
        &sample.scenario.conference_id,
        &sample.scenario.uuid,
    );
    (p.filename.expect("a merged recording's file").into(), work)
}

/// Decodes `path` completely; returns its length in seconds if every frame decoded.
fn plays(path: &Path) -> Option<f64> {
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .status()
        .ok()?;
    if !decoded.success() {
        return None;
    }
    probe::duration(path)
}

/// SSIM of `output` against the recorded track, both on the output's frame grid
/// (`recording.fps`, 30 by default).
fn ssim(output: &Path, source: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "info", "-i"])
        .arg(output)
        .arg("-i")
        .arg(source)
        .args([
            "-lavfi",
            "[1:v]fps=30,setpts=PTS-STARTPTS[r];[0:v]setpts=PTS-STARTPTS[o];[o][r]ssim",
        ])
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    text.split("All:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("ssim output")
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{:<6} {:<8} {:>8} {:>16} {:>12} {:>22}",
        "codec", "quality", "plays", "4-party MB/min", "band", "1-camera SSIM @ MB/min"
    );
    let party = sample(dir.path(), "four-party", four_party());
    let camera = sample(dir.path(), "one-camera", one_camera());
    for codec in ["vp8", "vp9", "h264"] {
        for (quality, target) in [("low", 2.0), ("medium", 3.0), ("high", 4.0)] {
            let (merged, _) = render(&runtime, &party, codec, quality);
            let mb = std::fs::metadata(&merged).unwrap().len() as f64 / MIB;
            let in_band = (mb - target).abs() <= 0.25 * target;
            let played = match plays(&merged) {
                Some(d) if (d - 60.0).abs() <= 0.3 => format!("{d:.1}s"),
                Some(d) => format!("BAD {d:.1}s"),
                None => "NO".to_owned(),
            };
            let (cam, work) = render(&runtime, &camera, codec, quality);
            let cam_mb = std::fs::metadata(&cam).unwrap().len() as f64 / MIB;
            let q = ssim(&cam, &work.join("tracks/track-00.webm"));
            println!(
                "{:<6} {:<8} {:>8} {:>16.2} {:>12} {:>14.4} @ {:.2}",
                codec,
                quality,
                played,
                mb,
                if in_band {
                    format!("ok ({target})")
                } else {
                    format!("OUT ({target})")
                },
                q,
                cam_mb
            );
        }
    }
}
