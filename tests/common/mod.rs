//! Test helpers: a sandbox per test (its own roots, work and output directories and config),
//! fixtures written by the project's generator, the real `recproc` binary, and what a user
//! would check in its output: streams, duration, the colour of a pixel at a time, and how
//! loud a voice's pitch is at a time.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;

use recproc_fixture::{self as fixture, Generated, Scenario};
use serde_json::Value;

pub mod broker;
pub mod keys;

/// A temporary world for one test.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Sandbox {
    /// Roots, work and output directories, and a config pointing at them; `extra_toml` is
    /// appended to the config.
    ///
    /// A daemon started on it serves its metrics on a port the system picks (tests run in
    /// parallel; `metrics.listen`'s default port would be taken by the first), unless
    /// `extra_toml` has a `[metrics]` section of its own.
    pub fn new(extra_toml: &str) -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut extra = extra_toml.to_owned();
        if !extra.contains("[metrics]") {
            extra.push_str("\n[metrics]\nlisten = \"127.0.0.1:0\"\n");
        }
        let config = fixture::write_config(dir.path(), &extra).expect("write config");
        Sandbox { dir, config }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn video_root(&self) -> PathBuf {
        self.path().join("video")
    }

    pub fn audio_root(&self) -> PathBuf {
        self.path().join("audio")
    }

    pub fn output_dir(&self) -> PathBuf {
        self.path().join("output")
    }

    pub fn work_dir(&self) -> PathBuf {
        self.path().join("work")
    }

    /// Writes the scenario's media and event into the sandbox.
    pub fn generate(&self, scenario: &Scenario) -> Generated {
        fixture::generate(scenario, self.path()).expect("generate fixture")
    }

    /// Runs `recproc process` on `event`.
    pub fn process(&self, event: &Path) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_recproc"))
            .arg("process")
            .arg("--config")
            .arg(&self.config)
            .arg(event)
            .env("RECPROC_LOG", "info")
            .output()
            .expect("run recproc");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        Run {
            code: out.status.code(),
            json,
            stdout,
            stderr,
        }
    }

    /// Writes `text` as an event file and processes it.
    pub fn process_text(&self, text: &str) -> Run {
        let p = self.path().join("event-under-test.json");
        std::fs::write(&p, text).unwrap();
        self.process(&p)
    }

    /// Every file in the output directory (recursively), but recproc's own state directory
    /// (locks and receipts, `.recproc`).
    pub fn outputs(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.file_name() == Some(std::ffi::OsStr::new(recproc::ledger::STATE_DIR)) {
                    continue;
                }
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut v = Vec::new();
        walk(&self.output_dir(), &mut v);
        v.sort();
        v
    }
}

/// What `recproc process` did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns the delivered file.
    pub fn delivered(&self) -> PathBuf {
        assert_eq!(
            self.code,
            Some(0),
            "recproc failed\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert_eq!(self.json["status"], "processed", "{}", self.stdout);
        PathBuf::from(self.json["filename"].as_str().expect("filename"))
    }

    /// Asserts a failure event for `stage` whose error mentions every one of `words`.
    pub fn failed(&self, stage: &str, words: &[&str]) {
        assert_eq!(
            self.code,
            Some(1),
            "expected a failure\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert_eq!(self.json["status"], "failed", "{}", self.stdout);
        assert_eq!(self.json["stage"], stage, "{}", self.stdout);
        let error = self.json["error"].as_str().unwrap_or_default();
        for w in words {
            assert!(error.contains(w), "the error should mention {w:?}: {error}");
        }
    }
}

/// Streams and duration of a media file, as ffprobe reports them.
#[derive(Debug)]
pub struct Probed {
    pub duration: f64,
    /// (codec_type, codec_name, width, height)
    pub streams: Vec<(String, String, u32, u32)>,
}

impl Probed {
    pub fn codecs(&self) -> Vec<String> {
        self.streams.iter().map(|s| s.1.clone()).collect()
    }
}

/// ffprobe finds no playable stream in `path` (e.g. it is encrypted).
pub fn probe_fails(path: &Path) -> bool {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    !out.status.success() || out.stdout.iter().all(u8::is_ascii_whitespace)
}

pub fn probe(path: &Path) -> Probed {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .arg("stream=codec_type,codec_name,width,height:format=duration")
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {}: {:?}",
        path.display(),
        out
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("duration");
    let streams = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["codec_type"].as_str().unwrap_or("").to_owned(),
                s["codec_name"].as_str().unwrap_or("").to_owned(),
                s["width"].as_u64().unwrap_or(0) as u32,
                s["height"].as_u64().unwrap_or(0) as u32,
            )
        })
        .collect();
    Probed { duration, streams }
}

/// The sample rate [`audio_samples`] decodes at.
pub const AUDIO_RATE: f64 = 8000.0;

/// Decodes `path`'s first audio stream as 8 kHz mono samples.
pub fn audio_samples(path: &Path) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-map", "0:a:0", "-ac", "1", "-ar", "8000", "-f", "s16le", "-",
        ])
        .output()
        .expect("run ffmpeg");
    assert!(out.status.success(), "decoding {}", path.display());
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// The amplitude of the `hz` tone in `samples` (8 kHz) from `from` to `to` seconds
/// (Goertzel): a sine of amplitude A that fills the window measures about A/2.
pub fn tone(samples: &[i16], hz: f64, from: f64, to: f64) -> f64 {
    let at = |t: f64| ((t * AUDIO_RATE) as usize).min(samples.len());
    let window = &samples[at(from)..at(to)];
    if window.is_empty() {
        return 0.0;
    }
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / AUDIO_RATE).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in window {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0).sqrt() / window.len() as f64
}

/// One decoded frame as RGB.
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Frame {
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
}

/// The frame shown at `seconds` (decoded from the start: exact, not a seek to a keyframe).
pub fn frame_at(path: &Path, seconds: f64) -> Frame {
    let p = probe(path);
    let (_, _, width, height) = p
        .streams
        .iter()
        .find(|s| s.0 == "video")
        .cloned()
        .expect("a video stream");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-ss", &format!("{seconds:.3}")])
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(out.status.success(), "decoding a frame: {out:?}");
    assert_eq!(
        out.stdout.len(),
        (width * height * 3) as usize,
        "no frame at {seconds}s in {}",
        path.display()
    );
    Frame {
        width,
        height,
        rgb: out.stdout,
    }
}

pub const RED: [u8; 3] = [255, 0, 0];
pub const GREEN: [u8; 3] = [0, 255, 0];
pub const BLUE: [u8; 3] = [0, 0, 255];
pub const YELLOW: [u8; 3] = [255, 255, 0];
pub const WHITE: [u8; 3] = [255, 255, 255];
pub const BLACK: [u8; 3] = [0, 0, 0];

/// Whether `got` is `want` within lossy-coding error.
pub fn close(got: [u8; 3], want: [u8; 3]) -> bool {
    got.iter()
        .zip(want)
        .all(|(g, w)| (*g as i32 - w as i32).abs() <= 48)
}

/// Asserts the colour at each point of the frame at `seconds`; on failure names them all.
pub fn assert_colours(path: &Path, seconds: f64, expect: &[((u32, u32), [u8; 3])]) {
    let f = frame_at(path, seconds);
    let wrong: Vec<String> = expect
        .iter()
        .filter(|(at, want)| !close(f.pixel(at.0, at.1), *want))
        .map(|(at, want)| format!("at {at:?} want {want:?} got {:?}", f.pixel(at.0, at.1)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{}: frame at {seconds}s: {}",
        path.display(),
        wrong.join("; ")
    );
}

/// The real Janus recordings the repository carries (`tests/data/real-janus/`).
pub fn real_janus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/real-janus")
        .join(name)
}
