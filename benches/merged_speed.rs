//! How fast recproc renders a busy merged recording (issue 11), beside what it must at
//! least cost on this machine and what the plain design costs, all measured in one run.
//!
//! The call: 120 s, four busy 640×480 30 fps VP8 cameras (a moving test pattern) joining at
//! 0/15/30/45 s, the third leaving at 100 s, a keyframe every 10 s, and the mixed WAV.
//! - recproc (`recproc process`, work files kept for the floor): wall, × realtime, CPU of
//!   recproc and its tools, their peak RSS together, the peak size of the work directory;
//!   then pinned to one core (`taskset -c 0`), for the speed-up of all cores;
//! - the floor: decoding every converted track once plus encoding the delivered picture
//!   once with recproc's own encoder options (CPU seconds), divided by the cores; and the
//!   same work run on all cores at once (a worker per core, each decoding its share of the
//!   tracks and encoding its share of the frames), which is what this machine can do with
//!   it: cores that run at once are slower than one alone, and that is no renderer's doing;
//! - the plain design: janus-pp-rec, one ffmpeg per interval input-seeking into every
//!   visible track (encoder threads = cores), concat (stream copy), mux with the WAV.
//!
//! It measures three rounds of recproc, the floor and the plain design (`BENCH_ROUNDS`), takes
//! each ratio within a round, and prints the medians in a table and one line of verdicts
//! (goals: ≥ 10× realtime, ≤ 1.3× the floor, ≥ 2.2× faster than plain). It never fails on
//! speed.
//!
//! Run: `cargo bench --bench merged_speed`; `BENCH_QUICK=1` scales every time of
//! the call by 0.2 (24 s).

#[path = "support/probe.rs"]
mod probe;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use recproc_fixture::{Participant, Scenario};
use support::measure::{self, Timed};
use support::{Processed, RunDir, MB};

/// recproc's defaults, with the work directory kept: the floor decodes its tracks.
const KEEP_WORK: &str = "[recording]\nclean_temporary_files = false\n";

fn camera(user: &str, join: f64, leave: f64, keyframe_interval: f64) -> Participant {
    let mut p = Participant::new(user, "gray", join, leave);
    p.texture = true;
    p.width = 640;
    p.height = 480;
    p.fps = 30;
    p.keyframe_interval = keyframe_interval;
    p
}

/// The four-party call, every time multiplied by `scale`.
fn scenario(scale: f64) -> Scenario {
    let participants = (0..4)
        .map(|i| {
            let join = 15.0 * f64::from(i) * scale;
            let leave = if i == 2 { 100.0 } else { 120.0 } * scale;
            camera(&format!("cam{i}"), join, leave, 10.0 * scale)
        })
        .collect();
    Scenario {
        conference_id: "merged-speed".into(),
        duration: 120.0 * scale,
        participants,
        ..Scenario::default()
    }
}

/// Size and frame rate of a video's first stream, as ffprobe gives them.
struct Picture {
    width: u32,
    height: u32,
    /// `r_frame_rate`, e.g. `30/1`.
    rate: String,
    fps: f64,
}

fn probe(video: &Path) -> Picture {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=width,height,r_frame_rate", "-of", "csv=p=0"])
        .arg(video)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.trim().split(',').collect();
    let [width, height, rate] = fields[..] else {
        panic!("ffprobe {}: {text:?}", video.display())
    };
    let fps = match rate.split_once('/') {
        Some((n, d)) => n.parse::<f64>().expect("rate") / d.parse::<f64>().expect("rate"),
        None => rate.parse().expect("rate"),
    };
    Picture {
        width: width.parse().expect("width"),
        height: height.parse().expect("height"),
        rate: rate.to_owned(),
        fps,
    }
}

/// Length of a media file in seconds (the container's duration).
fn duration(path: &Path) -> f64 {
    probe::duration(path)
        .unwrap_or_else(|| panic!("ffprobe could not read the length of {}", path.display()))
}

/// ffmpeg quiet but for errors, never reading stdin, overwriting its output.
fn ffmpeg() -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-nostdin", "-v", "error", "-y"]);
    c
}

/// The container ffmpeg writes for `encoder`'s codec: WebM for VP8/VP9, MP4 for H.264.
fn container(encoder: &[String]) -> &'static str {
    if encoder.iter().any(|a| a.starts_with("libvpx")) {
        "webm"
    } else {
        "mp4"
    }
}

/// `encoder` with its `-threads` value replaced by `threads`.
fn with_threads(encoder: &[String], threads: usize) -> Vec<String> {
    let mut args = encoder.to_vec();
    let at = args.iter().position(|a| a == "-threads").expect("-threads");
    args[at + 1] = threads.to_string();
    args
}

/// Wall and CPU seconds, added up over steps.
#[derive(Debug, Default, Clone, Copy)]
struct Cost {
    wall: f64,
    cpu: f64,
}

impl Cost {
    fn add(&mut self, t: &Timed) {
        self.wall += t.wall;
        self.cpu += t.cpu;
    }
}

/// CPU seconds of the least work any renderer must do.
struct Floor {
    tracks: usize,
    decode: f64,
    encode: f64,
    /// The same work, a worker per core, all at once.
    parallel: Timed,
}

impl Floor {
    fn cpu(&self) -> f64 {
        self.decode + self.encode
    }
}

/// The converted tracks recproc left in its work directory `job`.
fn converted_tracks(job: &Path) -> Vec<PathBuf> {
    let mut tracks: Vec<PathBuf> = std::fs::read_dir(job.join("tracks"))
        .expect("the kept work directory has tracks/")
        .map(|e| e.expect("read tracks/").path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("track-")
                && !name.contains(".partial")
                && (name.ends_with(".webm") || name.ends_with(".mp4"))
        })
        .collect();
    tracks.sort();
    tracks
}

/// Decodes every converted track once, then encodes the delivered picture once (from raw
/// frames decoded beforehand, untimed) with `encoder`.
fn floor(job: &Path, delivered: &Path, pic: &Picture, encoder: &[String]) -> Floor {
    let tracks = converted_tracks(job);
    let decode = tracks
        .iter()
        .map(|t| {
            let mut c = ffmpeg();
            c.args(["-threads", "1", "-i"])
                .arg(t)
                .args(["-f", "null", "-"]);
            measure::run(&mut c, "ffmpeg decode").cpu
        })
        .sum();
    let scratch = support::scratch_dir();
    let raw = scratch.path().join("picture.yuv");
    let mut c = ffmpeg();
    c.arg("-i")
        .arg(delivered)
        .args(["-map", "0:v:0", "-f", "rawvideo"]);
    c.args(["-pix_fmt", "yuv420p"]).arg(&raw);
    measure::run(&mut c, "ffmpeg decode to raw");
    let mut c = ffmpeg();
    c.args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s"])
        .arg(format!("{}x{}", pic.width, pic.height))
        .args(["-r", &pic.rate, "-i"])
        .arg(&raw)
        .args(encoder)
        .args(["-f", container(encoder)])
        .arg(scratch.path().join("encoded"));
    let encode = measure::run(&mut c, "ffmpeg encode").cpu;
    let parallel = floor_on_all_cores(&tracks, &raw, pic, encoder, scratch.path());
    Floor {
        tracks: tracks.len(),
        decode,
        encode,
        parallel,
    }
}

/// The floor's work spread over the cores and run at once: worker `k` decodes tracks `k`,
/// `k + cores`, … and encodes the `k`th share of the raw picture's frames. One `sh` runs the
/// workers and waits for them, so the CPU of all of them is counted.
fn floor_on_all_cores(
    tracks: &[PathBuf],
    raw: &Path,
    pic: &Picture,
    encoder: &[String],
    scratch: &Path,
) -> Timed {
    let cores = support::cores();
    let frame_bytes = u64::from(pic.width) * u64::from(pic.height) * 3 / 2;
    let frames = std::fs::metadata(raw).expect("the raw picture").len() / frame_bytes;
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let path = |p: &Path| quote(&p.to_string_lossy());
    let mut script = String::new();
    for k in 0..cores {
        let mut steps: Vec<String> = tracks
            .iter()
            .skip(k)
            .step_by(cores)
            .map(|t| {
                format!(
                    "ffmpeg -nostdin -v error -threads 1 -i {} -f null -",
                    path(t)
                )
            })
            .collect();
        let first = frames * k as u64 / cores as u64;
        let last = frames * (k as u64 + 1) / cores as u64;
        let args: Vec<String> = encoder.iter().map(|a| quote(a)).collect();
        steps.push(format!(
            "ffmpeg -nostdin -v error -y -f rawvideo -pix_fmt yuv420p -s {}x{} -r {} \
             -skip_initial_bytes {} -i {} -frames:v {} {} -f {} {}",
            pic.width,
            pic.height,
            pic.rate,
            first * frame_bytes,
            path(raw),
            last - first,
            args.join(" "),
            container(encoder),
            path(&scratch.join(format!("encoded-{k}")))
        ));
        script.push_str(&format!("( {} ) &\n", steps.join(" && ")));
    }
    script.push_str("wait\n");
    let mut c = Command::new("sh");
    c.args(["-e", "-c", &script]);
    measure::run(&mut c, "the floor's work on all cores")
}

/// Tile `k` of `n` on a `w`×`h` canvas, as SPEC lays out the grid: `(x, y, tw, th)`.
fn tile(k: u32, n: u32, w: u32, h: u32) -> (u32, u32, u32, u32) {
    let cols = (1..).find(|c| c * c >= n).expect("some c");
    let rows = n.div_ceil(cols);
    let (tw, th) = (2 * (w / cols / 2), 2 * (h / rows / 2));
    let (row, col) = (k / cols, k % cols);
    let in_row = cols.min(n - row * cols);
    let x0 = (w - in_row * tw) / 2;
    let y0 = (h - rows * th) / 2;
    (x0 + col * tw, y0 + row * th, tw, th)
}

/// The lavfi graph of one interval: `n` inputs scaled to fit their tiles (aspect kept,
/// centred) over a black canvas; the result is labelled `[b<n>]`.
fn layout_graph(n: u32, pic: &Picture) -> String {
    let mut g = format!(
        "color=c=black:s={}x{}:r={}[b0]",
        pic.width, pic.height, pic.rate
    );
    for k in 0..n {
        let (x, y, tw, th) = tile(k, n, pic.width, pic.height);
        g.push_str(&format!(
            ";[{k}:v]setpts=PTS-STARTPTS,scale={tw}:{th}:force_original_aspect_ratio=decrease,\
             pad={tw}:{th}:(ow-iw)/2:(oh-ih)/2,setsar=1[v{k}];[b{k}][v{k}]overlay={x}:{y}[b{}]",
            k + 1
        ));
    }
    g
}

/// The plain design's cost, stage by stage.
#[derive(Default)]
struct Plain {
    convert: Cost,
    render: Cost,
    intervals: usize,
    concat: Cost,
    mux: Cost,
    /// Length of its recording, to compare with recproc's.
    seconds: f64,
}

impl Plain {
    fn total(&self) -> Cost {
        let all = [self.convert, self.render, self.concat, self.mux];
        Cost {
            wall: all.iter().map(|c| c.wall).sum(),
            cpu: all.iter().map(|c| c.cpu).sum(),
        }
    }
}

/// Runs the plain design on the fixture in `dir`, one step after another.
fn plain(dir: &Path, s: &Scenario, pic: &Picture, encoder: &[String]) -> Plain {
    let scratch = support::scratch_dir();
    let work = scratch.path();
    let mut cost = Plain::default();
    let tracks = convert_all(dir, s, work, &mut cost.convert);
    let mut order: Vec<usize> = (0..s.participants.len()).collect();
    order.sort_by(|&a, &b| {
        let (p, q) = (&s.participants[a], &s.participants[b]);
        p.join.total_cmp(&q.join).then_with(|| p.user.cmp(&q.user))
    });
    let encoder = with_threads(encoder, support::cores());
    let mut list = String::new();
    for (i, w) in support::boundaries(s).windows(2).enumerate() {
        let visible: Vec<(&Path, f64)> = order
            .iter()
            .map(|&k| (&s.participants[k], tracks[k].as_path()))
            .filter(|(p, _)| p.join <= w[0] && s.leave_of(p) >= w[1])
            .map(|(p, t)| (t, w[0] - p.join))
            .collect();
        let frames = (w[1] * pic.fps).round() - (w[0] * pic.fps).round();
        let part = work.join(format!("part-{i:04}.mkv"));
        let t = render_interval(&visible, frames as u64, pic, &encoder, &part);
        cost.render.add(&t);
        cost.intervals += 1;
        list.push_str(&format!("file '{}'\n", part.display()));
    }
    let list_file = work.join("list.txt");
    std::fs::write(&list_file, list).expect("write the concat list");
    let video = work.join("video.mkv");
    let mut c = ffmpeg();
    c.args(["-f", "concat", "-safe", "0", "-i"])
        .arg(&list_file)
        .args(["-c", "copy"])
        .arg(&video);
    cost.concat.add(&measure::run(&mut c, "ffmpeg concat"));
    let wav = dir.join("audio").join(format!("{}.wav", s.conference_id));
    let mut c = ffmpeg();
    c.arg("-i").arg(&video).arg("-i").arg(&wav);
    c.args(["-map", "0:v", "-map", "1:a", "-c:v", "copy"]);
    let recording = work.join("recording");
    c.args(["-c:a", "libopus", "-b:a", "32k", "-f", container(&encoder)])
        .arg(&recording);
    cost.mux.add(&measure::run(&mut c, "ffmpeg mux"));
    cost.seconds = duration(&recording);
    cost
}

/// janus-pp-rec on every participant's `.mjr`, one after another; the converted files in
/// participant order.
fn convert_all(dir: &Path, s: &Scenario, work: &Path, cost: &mut Cost) -> Vec<PathBuf> {
    s.participants
        .iter()
        .enumerate()
        .map(|(n, p)| {
            let mjr = dir
                .join("video")
                .join(format!("{}-{}-{n}.mjr", s.conference_id, p.user));
            let out = work.join(format!("track-{n:02}.webm"));
            let mut c = Command::new("janus-pp-rec");
            c.arg(&mjr).arg(&out).stderr(Stdio::null());
            cost.add(&measure::run(&mut c, "janus-pp-rec"));
            out
        })
        .collect()
}

/// One interval: each visible track input-seeked to `offset`, laid out, `frames` encoded.
fn render_interval(
    visible: &[(&Path, f64)],
    frames: u64,
    pic: &Picture,
    encoder: &[String],
    part: &Path,
) -> Timed {
    let mut c = ffmpeg();
    for (track, offset) in visible {
        c.args(["-ss", &format!("{offset:.3}"), "-i"]).arg(track);
    }
    let n = u32::try_from(visible.len()).expect("a few tiles");
    c.args(["-filter_complex", &layout_graph(n, pic)])
        .args(["-map", &format!("[b{n}]"), "-frames:v", &frames.to_string()])
        .args(encoder)
        .args(["-f", "matroska"])
        .arg(part);
    measure::run(&mut c, "ffmpeg interval")
}

/// Prints one row of the table; `None` prints a dash.
fn row(label: &str, wall: f64, duration: f64, cpu: f64, rss: Option<f64>, disk: Option<f64>) {
    let mb = |v: Option<f64>| v.map_or("-".to_owned(), |b| format!("{:.1}", b / MB));
    println!(
        "{label:<48} {wall:>9.2} {:>11.1} {cpu:>9.2} {:>14} {:>14}",
        duration / wall,
        mb(rss),
        mb(disk)
    );
}

fn recproc_row(label: &str, run: &Processed, duration: f64) {
    row(
        label,
        run.timed.wall,
        duration,
        run.timed.cpu,
        Some(run.peaks.rss as f64),
        Some(run.peaks.disk as f64),
    );
}

/// One round: recproc, the floor and the plain design, one after another.
struct Round {
    ours: Processed,
    floor: Floor,
    plain: Plain,
}

impl Round {
    fn floor_wall(&self, cores: usize) -> f64 {
        self.floor.cpu() / cores as f64
    }
}

/// Everything one run measured: a few rounds (this machine's speed drifts by tens of per cent
/// within minutes, so each ratio is taken within a round and the median of those is quoted),
/// and recproc once on one core.
struct Report {
    scenario: Scenario,
    cores: usize,
    pic: Picture,
    rounds: Vec<Round>,
    pinned: Processed,
    /// Length of recproc's recording in seconds.
    delivered: f64,
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n % 2 {
        1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

impl Report {
    /// The median over the rounds of `f`.
    fn median(&self, f: impl Fn(&Round) -> f64) -> f64 {
        median(self.rounds.iter().map(f).collect())
    }

    fn print_table(&self) {
        let (d, cores) = (self.scenario.duration, self.cores);
        println!(
            "call: {d:.0} s, {} cameras 640x480 30 fps VP8; output {}x{} at {} fps; \
             medians of {} rounds",
            self.scenario.participants.len(),
            self.pic.width,
            self.pic.height,
            self.pic.rate,
            self.rounds.len()
        );
        println!(
            "{:<48} {:>9} {:>11} {:>9} {:>14} {:>14}",
            "", "wall (s)", "x realtime", "CPU (s)", "peak RSS (MB)", "peak work (MB)"
        );
        let peak = |f: fn(&Processed) -> u64| {
            self.rounds
                .iter()
                .map(|r| f(&r.ours))
                .max()
                .map(|b| b as f64)
        };
        row(
            &format!("recproc, defaults ({cores} cores)"),
            self.median(|r| r.ours.timed.wall),
            d,
            self.median(|r| r.ours.timed.cpu),
            peak(|p| p.peaks.rss),
            peak(|p| p.peaks.disk),
        );
        recproc_row("recproc, taskset -c 0 (1 core)", &self.pinned, d);
        row(
            &format!("floor: decode inputs + encode output / {cores}"),
            self.median(|r| r.floor_wall(cores)),
            d,
            self.median(|r| r.floor.cpu()),
            None,
            None,
        );
        row(
            &format!("floor: the same, run on {cores} cores at once"),
            self.median(|r| r.floor.parallel.wall),
            d,
            self.median(|r| r.floor.parallel.cpu),
            None,
            None,
        );
        row(
            "plain: pp-rec, ffmpeg per interval, concat, mux",
            self.median(|r| r.plain.total().wall),
            d,
            self.median(|r| r.plain.total().cpu),
            None,
            None,
        );
    }

    fn print_details(&self) {
        let cores = self.cores;
        println!(
            "speed-up {cores} cores vs 1: {:.2}x",
            self.pinned.timed.wall / self.median(|r| r.ours.timed.wall)
        );
        for (k, r) in self.rounds.iter().enumerate() {
            let (floor, plain) = (&r.floor, &r.plain);
            println!(
                "round {}: recproc {:.2} s ({:.2} CPU s); floor: decoding {} tracks {:.2} CPU s \
                 + encoding the output {:.2} CPU s, on {cores} cores at once {:.2} s \
                 ({:.2} CPU s, {:+.0} %); plain {:.2} s: janus-pp-rec {:.2} s, {} intervals \
                 {:.2} s, concat {:.2} s, mux {:.2} s",
                k + 1,
                r.ours.timed.wall,
                r.ours.timed.cpu,
                floor.tracks,
                floor.decode,
                floor.encode,
                floor.parallel.wall,
                floor.parallel.cpu,
                (floor.parallel.cpu / floor.cpu() - 1.0) * 100.0,
                plain.total().wall,
                plain.convert.wall,
                plain.intervals,
                plain.render.wall,
                plain.concat.wall,
                plain.mux.wall,
            );
        }
        let plain = &self.rounds[0].plain;
        println!(
            "lengths: the plain design's recording {:.2} s, recproc's {:.2} s",
            plain.seconds, self.delivered
        );
    }

    fn print_verdicts(&self) {
        let cores = self.cores;
        let realtime = self.median(|r| self.scenario.duration / r.ours.timed.wall);
        let to_floor = self.median(|r| r.ours.timed.wall / r.floor_wall(cores));
        let to_parallel = self.median(|r| r.ours.timed.wall / r.floor.parallel.wall);
        let to_plain = self.median(|r| r.plain.total().wall / r.ours.timed.wall);
        println!(
            "verdicts (medians of each round's ratio): x realtime {}; recproc / floor {}; \
             plain / recproc {}",
            verdict(realtime, ">= 10", realtime >= 10.0),
            verdict(to_floor, "<= 1.3", to_floor <= 1.3),
            verdict(to_plain, ">= 2.2", to_plain >= 2.2)
        );
        println!("recproc / the floor's work run on {cores} cores at once: {to_parallel:.2}");
    }
}

fn verdict(ratio: f64, goal: &str, met: bool) -> String {
    format!("{ratio:.2} ({goal}: {})", if met { "yes" } else { "NO" })
}

/// How many rounds to measure: `BENCH_ROUNDS`, 3 by default (1 with `BENCH_QUICK`).
fn rounds(quick: bool) -> usize {
    match std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(n) if n >= 1 => n,
        _ if quick => 1,
        _ => 3,
    }
}

/// Runs everything on the fixture in `dir`: recproc on one core once, then `n` rounds of
/// recproc, the floor and the plain design, one measurement after another.
fn measure_all(dir: &Path, scenario: Scenario, n: usize) -> Report {
    let pinned = {
        let one = RunDir::new(dir, KEEP_WORK);
        support::run_recproc(&one, dir, &["taskset", "-c", "0"])
    };
    let mut rounds = Vec::with_capacity(n);
    let mut first = None;
    for _ in 0..n {
        let run = RunDir::new(dir, KEEP_WORK);
        let ours = support::run_recproc(&run, dir, &[]);
        let delivered = PathBuf::from(
            ours.event["filename"]
                .as_str()
                .expect("a merged recording's filename"),
        );
        let pic = probe(&delivered);
        let encoder = recproc::media::video_encoder_args(&run.config);
        let floor = floor(&run.job_dir(&scenario), &delivered, &pic, &encoder);
        let plain = plain(dir, &scenario, &pic, &encoder);
        if first.is_none() {
            first = Some((pic, duration(&delivered)));
        }
        rounds.push(Round { ours, floor, plain });
    }
    let (pic, delivered) = first.expect("at least one round");
    Report {
        cores: support::cores(),
        delivered,
        scenario,
        pic,
        rounds,
        pinned,
    }
}

fn main() {
    let quick = support::quick();
    let scenario = scenario(if quick { 0.2 } else { 1.0 });
    support::print_environment();
    let name = if quick {
        "merged-speed-quick"
    } else {
        "merged-speed"
    };
    let dir = support::fixture(name, &scenario);
    let report = measure_all(&dir, scenario, rounds(quick));
    report.print_table();
    report.print_details();
    report.print_verdicts();
    println!("load average at end: {}", support::load_average());
}
