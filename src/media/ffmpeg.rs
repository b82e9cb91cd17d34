//! ffmpeg, pure: the argument lists for each rendering step (render one range of the merged
//! layout from the tracks, concatenate the ranges, mux the audio), and what a run of ffmpeg
//! or ffprobe means. Nothing here runs a process; the builders are unit-tested by the commands
//! they produce (Av1an's habit).

use std::fmt::Write as _;
use std::path::Path;

use crate::config::{OutputCodec, Quality};
use crate::media::failure::{could_not_write, ToolFailure};
use crate::media::mix::{self, VoiceInput};
use crate::plan::Rect;
use crate::process::{Finished, Invocation, ProcessError};

/// What an ffmpeg (or ffprobe) run came to. ffmpeg can exit 0 after failing to write its
/// output (a full disk while flushing, "Error writing trailer"): a run whose stderr says so
/// has failed, whatever its exit status.
pub(crate) fn judge(run: Result<Finished, ProcessError>) -> Result<Finished, ToolFailure> {
    let done = run.map_err(ToolFailure::classify)?;
    if !done.status.success() || could_not_write(&done.stderr_tail) {
        return Err(ToolFailure::classify(done.failure()));
    }
    Ok(done)
}

fn ffmpeg() -> Invocation {
    Invocation::new("ffmpeg").args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
}

/// Output options for the same bytes from the same input: no random container IDs, no
/// creation time, no version strings.
const BITEXACT: [&str; 2] = ["-fflags", "+bitexact"];
/// The same for a video encoder: no version string in its stream's tags.
const BITEXACT_VIDEO: [&str; 2] = ["-flags:v", "+bitexact"];

/// Seconds with microsecond precision, as ffmpeg options take them.
fn secs(s: f64) -> String {
    format!("{s:.6}")
}

/// The encoder settings of the delivered video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encoding {
    pub codec: OutputCodec,
    pub quality: Quality,
    /// Output frames per second.
    pub fps: u32,
    pub threads: usize,
}

impl Encoding {
    /// Target video bitrate in kbit/s: with the audio, a minute of 640×480 takes about 2 MB
    /// at low, 3 MB at medium and 4 MB at high (calibrated with `cargo bench --bench
    /// quality`). Simple pictures take less: the rate is a ceiling.
    pub(crate) fn video_kbps(&self) -> u32 {
        // The same for every codec. On very dense pictures libvpx's realtime VP8 overshoots
        // a low target by ~18% whatever the target (measured: 260k, 240k and 210k all gave
        // 2.4–2.8 MB/min on four moving test patterns), so lowering VP8 alone does not help.
        match self.quality {
            Quality::Low => 240,
            Quality::Medium => 400,
            Quality::High => 530,
        }
    }

    pub(crate) fn video_args(&self) -> Vec<String> {
        let kbps = self.video_kbps();
        let gop = (10 * self.fps.max(1)).to_string();
        let mut a: Vec<String> = match self.codec {
            // A negative cpu-used fixes libvpx's realtime speed. A positive one lets it pick
            // the speed from how long frames took to encode (at least 4, higher when the
            // machine is busy): the same input then gives other bytes on a loaded machine.
            // Speed 6 encodes the four-party bench in 7.6 CPU-s against 13.7 at speed 4, at
            // the same size and an SSIM 0.002 lower (0.950 against 0.952).
            OutputCodec::Vp8 => vec![
                "-c:v".into(),
                "libvpx".into(),
                "-deadline".into(),
                "realtime".into(),
                "-cpu-used".into(),
                "-6".into(),
                "-crf".into(),
                "10".into(),
                "-b:v".into(),
                format!("{kbps}k"),
            ],
            // `good` at speed 4: about 4x slower than realtime/8 but clearly better per byte
            // than VP8 (bench: SSIM 0.980 against 0.958 at low, at about the same size),
            // which is why one picks VP9.
            OutputCodec::Vp9 => vec![
                "-c:v".into(),
                "libvpx-vp9".into(),
                "-deadline".into(),
                "good".into(),
                "-cpu-used".into(),
                "4".into(),
                "-row-mt".into(),
                "1".into(),
                "-crf".into(),
                "30".into(),
                "-b:v".into(),
                format!("{kbps}k"),
            ],
            OutputCodec::H264 => vec![
                "-c:v".into(),
                "libx264".into(),
                "-preset".into(),
                "veryfast".into(),
                "-crf".into(),
                "23".into(),
                "-maxrate".into(),
                format!("{kbps}k"),
                "-bufsize".into(),
                format!("{}k", 2 * kbps),
            ],
        };
        a.extend(["-g".into(), gop, "-pix_fmt".into(), "yuv420p".into()]);
        // The thread count changes the bytes of every encoder here (each is deterministic
        // for a given count): callers derive it from the plan, never from the load. VP8
        // always gets one: a second thread did not shorten a 120 s render on an idle machine
        // (14.2 s against 14.3 s) and cost 55 % more CPU, and on a busy one libvpx spin-waits
        // between rows (`cargo bench --bench merged_speed`, README). Ranges give VP8 its
        // parallelism.
        let threads = match self.codec {
            OutputCodec::Vp8 => 1,
            OutputCodec::Vp9 | OutputCodec::H264 => self.threads.max(1),
        };
        a.extend(["-threads".into(), threads.to_string()]);
        a.extend(BITEXACT_VIDEO.map(String::from));
        a
    }

    fn audio_args(&self) -> Vec<&'static str> {
        match self.codec {
            OutputCodec::Vp8 | OutputCodec::Vp9 => {
                vec!["-c:a", "libopus", "-b:a", "32k", "-flags:a", "+bitexact"]
            }
            OutputCodec::H264 => vec!["-c:a", "aac", "-b:a", "64k", "-flags:a", "+bitexact"],
        }
    }

    fn container_args(&self) -> Vec<&'static str> {
        match self.codec {
            OutputCodec::Vp8 | OutputCodec::Vp9 => vec!["-f", "webm"],
            OutputCodec::H264 => vec!["-f", "mp4", "-movflags", "+faststart"],
        }
    }
}

/// One track as a range shows it: decoded from `seek`, placed on the range's frame grid,
/// scaled into each tile it occupies.
#[derive(Debug, Clone)]
pub(crate) struct RangeInput<'a> {
    pub file: &'a Path,
    /// Seconds into the file (from its first timestamp) at which reading starts; ffmpeg
    /// decodes from the keyframe before and drops what comes before this point.
    pub seek: f64,
    /// Seconds of the range at which the file's `seek` point falls.
    pub at: f64,
    /// The range's first frame that shows the track.
    pub from_frame: u64,
    /// Where the track is shown, in the range's frames.
    pub tiles: Vec<TileSpan>,
}

/// A track shown in `rect` for the range's frames `[from_frame, to_frame)`, its picture
/// `picture` pixels as decoded (0×0: unknown, fitted frame by frame) and turned `rotation`
/// degrees clockwise (0, 90, 180 or 270).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TileSpan {
    pub from_frame: u64,
    pub to_frame: u64,
    pub rect: Rect,
    pub picture: (u32, u32),
    pub rotation: u16,
}

/// One range of the merged output: a black canvas of exactly `frames` frames with each track
/// scaled to fit its tile (aspect kept, centred), the tiles changing with the layout; encoded
/// once, starting with a keyframe.
#[derive(Debug, Clone)]
pub(crate) struct RangeRender<'a> {
    pub inputs: Vec<RangeInput<'a>>,
    /// Seconds each track's last frame is held past the end of its file.
    pub hold: f64,
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    pub encoding: Encoding,
    pub output: &'a Path,
}

/// `t` lies in frames `[from, to)` of a `fps` grid; half-frame margins make the test exact
/// for frames on the grid.
fn frames_expr(from: u64, to: u64, fps: u32) -> String {
    let at = |f: u64| secs((f as f64 - 0.5).max(-0.5) / f64::from(fps));
    format!("gte(t,{})*lt(t,{})", at(from), at(to))
}

/// Either `value` when every window has it, or the sum over the windows of "in the window
/// times its value" (the windows never overlap).
fn piecewise(windows: &[(TileSpan, String)], fps: u32) -> String {
    let first = &windows[0].1;
    if windows.iter().all(|(_, v)| v == first) {
        return first.clone();
    }
    let terms: Vec<String> = windows
        .iter()
        .map(|(w, v)| format!("{}*({v})", frames_expr(w.from_frame, w.to_frame, fps)))
        .collect();
    terms.join("+")
}

/// The largest even size with `size`'s aspect that fits inside `tile` (scaling up or down);
/// the tile itself when the size is unknown (0).
pub(crate) fn fit(size: (u32, u32), tile: (u32, u32)) -> (u32, u32) {
    if size.0 == 0 || size.1 == 0 {
        return tile;
    }
    let (w, h) = (f64::from(size.0), f64::from(size.1));
    let scale = (f64::from(tile.0) / w).min(f64::from(tile.1) / h);
    let even = |v: f64| (((v + 1e-6) / 2.0).floor() as u32 * 2).max(2);
    (even(w * scale).min(tile.0), even(h * scale).min(tile.1))
}

/// The picture's size turned by `rotation` degrees.
fn turned(size: (u32, u32), rotation: u16) -> (u32, u32) {
    match rotation {
        90 | 270 => (size.1, size.0),
        _ => size,
    }
}

/// How a picture is shown: its size on the canvas, and the degrees it is turned clockwise.
type Look = ((u32, u32), u16);

/// The tiles of one input grouped by the size its picture takes in them and the way it is
/// turned: each is one scaled (and turned) copy of the track, overlaid wherever a tile shows
/// it so.
fn by_look(input: &RangeInput<'_>) -> Vec<(Look, Vec<TileSpan>)> {
    let mut sizes: Vec<(Look, Vec<TileSpan>)> = Vec::new();
    for t in &input.tiles {
        let key = (
            fit(turned(t.picture, t.rotation), (t.rect.w, t.rect.h)),
            t.rotation,
        );
        match sizes.iter_mut().find(|(k, _)| *k == key) {
            Some((_, spans)) => spans.push(*t),
            None => sizes.push((key, vec![*t])),
        }
    }
    sizes
}

/// The filters that make a decoded picture `size` (after turning) and turn it `rotation`
/// degrees clockwise: scaled first (fewer pixels to turn). Upright, the picture is fitted
/// into `size` frame by frame (aspect kept, whatever size a frame has). Turned, it is scaled
/// to exactly `size`: the filters after a scale keep the size of their first frame (the
/// graph is never rebuilt), so a turn must always get the same; `size` is already the
/// picture's own fit, and a span never shows a picture of another size.
fn scale_and_turn(size: (u32, u32), rotation: u16) -> String {
    let (w, h) = turned(size, rotation);
    let fitted = match rotation {
        0 => ":force_original_aspect_ratio=decrease:force_divisible_by=2",
        _ => "",
    };
    // `area` averages when shrinking: as sharp as bicubic at a third of its cost.
    let scale = format!("scale=w={w}:h={h}{fitted}:flags=area,setsar=1");
    match rotation {
        90 => format!("{scale},transpose=clock"),
        180 => format!("{scale},hflip,vflip"),
        270 => format!("{scale},transpose=cclock"),
        _ => scale,
    }
}

/// The filter graph of [`RangeRender`], ending in `[out]`. Every input is decoded once:
/// placed on the frame grid, split into one copy per size its picture takes in this range,
/// each scaled to that size (aspect kept: a picture whose shape changes mid-call is fitted,
/// never stretched) and overlaid, centred in its tile, while a tile shows it at that size. A
/// track that ends early holds its last frame.
pub(crate) fn range_graph(r: &RangeRender<'_>) -> String {
    let fps = r.encoding.fps.max(1);
    let mut g = String::new();
    // One frame more than needed: `-frames:v` cuts exactly.
    let _ = write!(
        g,
        "color=c=black:s={}x{}:r={fps}:d={},format=yuv420p[base0]",
        r.width,
        r.height,
        secs((r.frames + 1) as f64 / f64::from(fps))
    );
    let mut base = 0;
    for (i, input) in r.inputs.iter().enumerate() {
        let sizes = by_look(input);
        // The last frame is held past the end of the file (a range that starts within that
        // hold gets it: `fps` drops what comes before its start).
        let _ = write!(
            g,
            ";[{i}:v]tpad=stop_mode=clone:stop_duration={hold},setpts=PTS+{at}/TB\
             ,fps=fps={fps}:start_time={start}:round=near",
            hold = secs(r.hold),
            at = secs(input.at),
            start = secs(input.from_frame as f64 / f64::from(fps)),
        );
        match sizes.len() {
            1 => g.push_str(&format!("[in{i}s0]")),
            n => {
                let _ = write!(g, ",split={n}");
                for k in 0..n {
                    let _ = write!(g, "[in{i}s{k}]");
                }
            }
        }
        for (k, ((size, rotation), spans)) in sizes.iter().enumerate() {
            let _ = write!(
                g,
                ";[in{i}s{k}]{}[tile{i}s{k}]",
                scale_and_turn(*size, *rotation)
            );
            let xs: Vec<(TileSpan, String)> = spans
                .iter()
                .map(|t| (*t, format!("{}+({}-w)/2", t.rect.x, t.rect.w)))
                .collect();
            let ys: Vec<(TileSpan, String)> = spans
                .iter()
                .map(|t| (*t, format!("{}+({}-h)/2", t.rect.y, t.rect.h)))
                .collect();
            let shown: Vec<String> = spans
                .iter()
                .map(|t| frames_expr(t.from_frame, t.to_frame, fps))
                .collect();
            let _ = write!(
                g,
                ";[base{base}][tile{i}s{k}]overlay=x='{x}':y='{y}':eval=frame:eof_action=repeat\
                 :enable='{enable}'[base{next}]",
                x = piecewise(&xs, fps),
                y = piecewise(&ys, fps),
                enable = shown.join("+"),
                next = base + 1
            );
            base += 1;
        }
    }
    let _ = write!(g, ";[base{base}]null[out]");
    g
}

/// Renders one range: the graph of [`range_graph`] is read from `script` (it grows with the
/// number of layout changes, past what one argument may hold).
pub(crate) fn render_range(r: &RangeRender<'_>, script: &Path) -> Invocation {
    // Frames before a late first keyframe never decode; they must not count as a failure
    // (ffmpeg gives up with status 69 past 2/3 undecodable frames).
    let mut inv = ffmpeg().args(["-max_error_rate", "1"]);
    for input in &r.inputs {
        // Ranges run in parallel, about one per core: decoders share the encoder's threads.
        inv = inv.args(["-threads", &r.encoding.threads.max(1).to_string()]);
        // A picture that changes size mid-call must not rebuild the graph: that restarts
        // every filter's clock (the frames after it land early). The scale filters fit each
        // frame into its box as it comes.
        inv = inv.args(["-reinit_filter", "0"]);
        if input.seek > 0.0 {
            inv = inv.args(["-ss", &secs(input.seek)]);
        }
        inv = inv.arg("-i").path_arg(input.file);
    }
    inv.args(["-filter_complex_threads", "1", "-filter_complex_script"])
        .path_arg(script)
        .args(["-map", "[out]", "-an"])
        .args(["-frames:v", &r.frames.to_string()])
        .args(r.encoding.video_args())
        .args(BITEXACT)
        .args(["-f", "matroska"])
        .path_arg(r.output)
}

/// The concat demuxer's list: one `file '…'` line per part, quotes escaped.
pub(crate) fn concat_list(parts: &[&Path]) -> String {
    let mut s = String::new();
    for p in parts {
        let escaped = p.to_string_lossy().replace('\'', r"'\''");
        let _ = writeln!(s, "file '{escaped}'");
    }
    s
}

/// The call's audio in the final file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sound<'a> {
    /// None: the file has video only.
    Silent,
    /// The audiomixer's WAV (the event's file, read as WAV and nothing else).
    Wav(&'a Path),
    /// The participants' own tracks, mixed (see [`mix`]).
    Voices(&'a [VoiceInput<'a>]),
}

/// The final file: the rendered `parts` joined (stream copy) and/or the `sound`, encoded and
/// padded with silence to `duration`.
pub(crate) fn mux(
    parts: Option<&Path>,
    sound: Sound<'_>,
    duration: f64,
    encoding: &Encoding,
    output: &Path,
) -> Invocation {
    let mut inv = ffmpeg();
    if let Some(list) = parts {
        inv = inv
            .args(["-f", "concat", "-safe", "0", "-i"])
            .path_arg(list);
    }
    let audio_input = usize::from(parts.is_some());
    match sound {
        Sound::Silent => {}
        Sound::Wav(a) => {
            // Read as WAV and nothing else: the file comes from outside and its content must
            // not be able to make ffmpeg open other files.
            inv = inv
                .args(["-protocol_whitelist", "file", "-f", "wav", "-i"])
                .path_arg(a);
        }
        Sound::Voices(voices) => inv = mix::inputs(inv, voices),
    }
    if parts.is_some() {
        inv = inv.args(["-map", "0:v:0", "-c:v", "copy"]);
    }
    match sound {
        Sound::Silent => {}
        Sound::Wav(_) => {
            inv = inv
                .args(["-map", &format!("{audio_input}:a:0")])
                .args(["-af", &format!("apad=whole_dur={}", secs(duration))]);
        }
        Sound::Voices(voices) => {
            let graph = mix::graph(voices, audio_input, MIX_RATE, duration);
            inv = inv.args(["-filter_complex", &graph, "-map", "[mix]"]);
        }
    }
    if !matches!(sound, Sound::Silent) {
        inv = inv.args(encoding.audio_args());
    }
    // The same conference always gives the same bytes (a redelivery, or the same recording
    // encrypted and not, can be compared); no tags come from the inputs (the WAV is
    // somebody else's file).
    inv.args(["-map_metadata", "-1", "-t", &secs(duration)])
        .args(encoding.container_args())
        .args(BITEXACT)
        .path_arg(output)
}

/// The rate the participants' tracks are mixed at for the merged output: Opus's own, and
/// one AAC takes.
const MIX_RATE: u32 = 48_000;

/// The split recording's mixed WAV from the participants' tracks: 8 kHz, 16-bit mono, like
/// the audiomixer's, `duration` seconds.
pub(crate) fn mixdown(voices: &[VoiceInput<'_>], duration: f64, output: &Path) -> Invocation {
    let graph = mix::graph(voices, 0, 8000, duration);
    mix::inputs(ffmpeg(), voices)
        .args(["-filter_complex", &graph, "-map", "[mix]"])
        .args([
            "-c:a",
            "pcm_s16le",
            "-map_metadata",
            "-1",
            "-t",
            &secs(duration),
        ])
        .args(["-f", "wav"])
        .args(BITEXACT)
        .args(["-flags:a", "+bitexact"])
        .path_arg(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[tokio::test]
    async fn a_run_that_says_it_could_not_write_has_failed_whatever_its_exit_status() {
        let run = |script: &str| {
            let inv = Invocation::new("sh").args(["-c", script]);
            async move {
                judge(crate::process::run_to_exit(&inv, std::time::Duration::from_secs(5)).await)
            }
        };
        let said = "Error writing trailer of out.webm: No space left on device";
        let e = run(&format!("echo '{said}' >&2")).await.unwrap_err();
        assert!(matches!(e, ToolFailure::DiskFull(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("`sh` failed (exit status: 0): {said}")
        );
        let e = run("echo 'Error writing trailer of out.webm: I/O error' >&2")
            .await
            .unwrap_err();
        assert!(matches!(e, ToolFailure::Refused(_)), "{e:?}");
        // Its stdout is not read: ffprobe's carries tags and paths from the media.
        assert!(run("echo '[ERR] No space left on device'").await.is_ok());
        let e = run("exit 1").await.unwrap_err();
        assert_eq!(e.to_string(), "`sh` failed (exit status: 1): ");
    }

    fn enc(codec: OutputCodec) -> Encoding {
        Encoding {
            codec,
            quality: Quality::Medium,
            fps: 25,
            threads: 1,
        }
    }

    fn value_after<'a>(args: &'a [String], flag: &str) -> &'a str {
        let i = args.iter().position(|a| a == flag).unwrap_or_else(|| {
            panic!("{flag} missing from {args:?}");
        });
        &args[i + 1]
    }

    fn rect(x: u32, y: u32, w: u32, h: u32) -> Rect {
        Rect { x, y, w, h }
    }

    fn span(from_frame: u64, to_frame: u64, rect: Rect) -> TileSpan {
        TileSpan {
            from_frame,
            to_frame,
            rect,
            picture: (640, 480),
            rotation: 0,
        }
    }

    /// One track read from its start, shown in `tiles`, on a 640x480 canvas of `frames`.
    fn one_track(a: &Path, tiles: Vec<TileSpan>, frames: u64) -> RangeRender<'_> {
        RangeRender {
            hold: 3.0,
            inputs: vec![RangeInput {
                file: a,
                seek: 0.0,
                at: 0.0,
                from_frame: 0,
                tiles,
            }],
            width: 640,
            height: 480,
            frames,
            encoding: enc(OutputCodec::Vp8),
            output: Path::new("/w/parts/range.mkv"),
        }
    }

    /// Two tracks over 100 frames: `a` alone and full size for 25 frames, then beside `b`
    /// (which joins at frame 25), then alone again from frame 75 after `b` leaves.
    fn two_party<'a>(a: &'a Path, b: &'a Path) -> RangeRender<'a> {
        let full = rect(0, 0, 640, 480);
        RangeRender {
            hold: 3.0,
            inputs: vec![
                RangeInput {
                    file: a,
                    seek: 58.0,
                    at: -2.0,
                    from_frame: 0,
                    tiles: vec![
                        span(0, 25, full),
                        span(25, 75, rect(0, 0, 320, 480)),
                        span(75, 100, full),
                    ],
                },
                RangeInput {
                    file: b,
                    seek: 0.0,
                    at: 1.0,
                    from_frame: 25,
                    tiles: vec![span(25, 75, rect(320, 0, 320, 480))],
                },
            ],
            width: 640,
            height: 480,
            frames: 100,
            encoding: enc(OutputCodec::Vp8),
            output: Path::new("/w/parts/range.mkv"),
        }
    }

    #[test]
    fn each_track_is_decoded_once_and_scaled_once_per_picture_size() {
        let (a, b) = (PathBuf::from("/w/a.webm"), PathBuf::from("/w/b.webm"));
        let g = range_graph(&two_party(&a, &b));
        let steps: Vec<&str> = g.split(';').collect();
        assert_eq!(
            steps[0],
            "color=c=black:s=640x480:r=25:d=4.040000,format=yuv420p[base0]"
        );
        // `a`: placed on the grid once, split into its two picture sizes.
        assert_eq!(
            steps[1],
            "[0:v]tpad=stop_mode=clone:stop_duration=3.000000,setpts=PTS+-2.000000/TB,fps=fps=25:start_time=0.000000:round=near,split=2[in0s0][in0s1]"
        );
        assert_eq!(
            steps[2],
            "[in0s0]scale=w=640:h=480:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=area,setsar=1[tile0s0]"
        );
        // Full size in frames [0, 25) and [75, 100), at the same place both times.
        assert_eq!(
            steps[3],
            "[base0][tile0s0]overlay=x='0+(640-w)/2':y='0+(480-h)/2':eval=frame:eof_action=repeat:enable='gte(t,-0.020000)*lt(t,0.980000)+gte(t,2.980000)*lt(t,3.980000)'[base1]"
        );
        // In a 320x480 tile a 4:3 picture is 320x240, centred vertically.
        assert!(steps[4].starts_with("[in0s1]scale=w=320:h=240:"), "{g}");
        assert!(steps[5].contains("y='0+(480-h)/2'"), "{g}");
        // `b` starts at frame 25 of the range and only ever has one size: no split.
        assert_eq!(
            steps[6],
            "[1:v]tpad=stop_mode=clone:stop_duration=3.000000,setpts=PTS+1.000000/TB,fps=fps=25:start_time=1.000000:round=near[in1s0]"
        );
        assert_eq!(
            steps[8],
            "[base2][tile1s0]overlay=x='320+(320-w)/2':y='0+(480-h)/2':eval=frame:eof_action=repeat:enable='gte(t,0.980000)*lt(t,2.980000)'[base3]"
        );
        assert_eq!(steps[9], "[base3]null[out]");
    }

    #[test]
    fn tiles_of_other_shapes_that_give_the_picture_one_size_share_one_scaled_copy() {
        // 4:3 in a 320x480 tile (two side by side) and in a 320x240 tile (four): both 320x240.
        let a = PathBuf::from("/w/a.webm");
        let r = one_track(
            &a,
            vec![
                span(0, 50, rect(0, 0, 320, 480)),
                span(50, 60, rect(0, 0, 320, 240)),
            ],
            60,
        );
        let g = range_graph(&r);
        assert!(!g.contains("split"), "{g}");
        assert_eq!(g.matches("scale=").count(), 1, "{g}");
        assert!(
            g.contains("y='gte(t,-0.020000)*lt(t,1.980000)*(0+(480-h)/2)+gte(t,1.980000)*lt(t,2.380000)*(0+(240-h)/2)'"),
            "{g}"
        );
    }

    #[test]
    fn a_picture_that_changes_size_gets_a_copy_per_size_and_the_graph_is_never_rebuilt() {
        // 640x480, then a portrait 360x480 in the same 320x480 tile, turned 90° after that.
        let a = PathBuf::from("/w/a.webm");
        let tile = rect(0, 0, 320, 480);
        let r = one_track(
            &a,
            vec![
                span(0, 50, tile),
                TileSpan {
                    picture: (360, 480),
                    ..span(50, 60, tile)
                },
                TileSpan {
                    picture: (360, 480),
                    rotation: 90,
                    ..span(60, 70, tile)
                },
            ],
            70,
        );
        let g = range_graph(&r);
        assert!(g.contains("split=3"), "{g}");
        assert!(
            g.contains("[in0s0]scale=w=320:h=240:force_original_aspect_ratio=decrease"),
            "{g}"
        );
        assert!(
            g.contains("[in0s1]scale=w=320:h=426:force_original_aspect_ratio=decrease"),
            "{g}"
        );
        // Turned, the portrait is a landscape 320x240: scaled to exactly 240x320 and turned.
        assert!(
            g.contains("[in0s2]scale=w=240:h=320:flags=area,setsar=1,transpose=clock[tile0s2]"),
            "{g}"
        );
        // The last frame is held past the file's end.
        assert!(
            g.contains("[0:v]tpad=stop_mode=clone:stop_duration=3.000000,setpts="),
            "{g}"
        );
        let args = render_range(&r, Path::new("/w/g")).args_lossy();
        assert_eq!(value_after(&args, "-reinit_filter"), "0");
    }

    #[test]
    fn a_turned_picture_is_scaled_to_its_turned_size_then_turned() {
        let a = PathBuf::from("/w/a.webm");
        let tile = rect(0, 0, 320, 480);
        let turn = |rotation| TileSpan {
            rotation,
            ..span(0, 30, tile)
        };
        let r = one_track(
            &a,
            vec![
                turn(0),
                TileSpan {
                    from_frame: 30,
                    to_frame: 60,
                    ..turn(90)
                },
                TileSpan {
                    from_frame: 60,
                    to_frame: 90,
                    ..turn(180)
                },
                TileSpan {
                    from_frame: 90,
                    to_frame: 120,
                    ..turn(270)
                },
            ],
            120,
        );
        let g = range_graph(&r);
        assert!(g.contains("split=4"), "{g}");
        // Upright 4:3 in 320x480: 320x240. Turned, it is 3:4: 320x426, made 426x320 first.
        assert!(g.contains("[in0s0]scale=w=320:h=240:"), "{g}");
        assert!(
            g.contains("[in0s1]scale=w=426:h=320:flags=area,setsar=1,transpose=clock[tile0s1]"),
            "{g}"
        );
        assert!(g.contains("[in0s2]scale=w=320:h=240:"), "{g}");
        assert!(g.contains("setsar=1,hflip,vflip[tile0s2]"), "{g}");
        assert!(g.contains("setsar=1,transpose=cclock[tile0s3]"), "{g}");
    }

    #[test]
    fn a_picture_is_fitted_to_its_tile_with_its_aspect_kept() {
        assert_eq!(fit((640, 480), (320, 480)), (320, 240));
        assert_eq!(fit((640, 480), (212, 160)), (212, 158));
        assert_eq!(
            fit((320, 240), (640, 480)),
            (640, 480),
            "small cameras fill the tile"
        );
        assert_eq!(fit((480, 640), (640, 480)), (360, 480));
        assert_eq!(fit((1280, 720), (320, 240)), (320, 180));
        assert_eq!(fit((0, 0), (320, 240)), (320, 240));
    }

    #[test]
    fn a_range_reads_its_graph_from_a_script_and_seeks_each_input() {
        let (a, b) = (PathBuf::from("/w/a.webm"), PathBuf::from("/w/b.webm"));
        let args = render_range(&two_party(&a, &b), Path::new("/w/parts/range.graph")).args_lossy();
        assert_eq!(
            value_after(&args, "-filter_complex_script"),
            "/w/parts/range.graph"
        );
        assert_eq!(value_after(&args, "-frames:v"), "100");
        assert_eq!(value_after(&args, "-map"), "[out]");
        assert_eq!(value_after(&args, "-c:v"), "libvpx");
        // `a` is read from 58 s (ffmpeg starts at the keyframe before); `b` from its start.
        let before_a = &args[..args.iter().position(|x| x == "/w/a.webm").unwrap()];
        assert_eq!(value_after(before_a, "-ss"), "58.000000");
        let between: Vec<&String> = args
            .iter()
            .skip_while(|x| *x != "/w/a.webm")
            .take_while(|x| *x != "/w/b.webm")
            .collect();
        assert!(!between.iter().any(|x| *x == "-ss"), "{args:?}");
        assert_eq!(args.last().unwrap(), "/w/parts/range.mkv");
    }

    #[test]
    fn a_range_of_nobody_is_a_black_canvas() {
        let r = RangeRender {
            hold: 3.0,
            inputs: vec![],
            width: 640,
            height: 480,
            frames: 10,
            encoding: enc(OutputCodec::Vp8),
            output: Path::new("/p/part.mkv"),
        };
        assert!(range_graph(&r).ends_with("[base0]null[out]"));
        let args = render_range(&r, Path::new("/p/g")).args_lossy();
        assert!(!args.contains(&"-i".to_owned()));
    }

    #[test]
    fn concat_list_quotes_paths() {
        let a = PathBuf::from("/w/part-0000.mkv");
        let b = PathBuf::from("/w/it's/part-0001.mkv");
        assert_eq!(
            concat_list(&[&a, &b]),
            "file '/w/part-0000.mkv'\nfile '/w/it'\\''s/part-0001.mkv'\n"
        );
    }

    #[test]
    fn mux_copies_video_and_pads_audio_to_the_full_length() {
        let args = mux(
            Some(Path::new("/w/parts/list.txt")),
            Sound::Wav(Path::new("/a/mix.wav")),
            20.0,
            &enc(OutputCodec::Vp8),
            Path::new("/w/out.webm"),
        )
        .args_lossy();
        // The parts are joined as they are read: the concat demuxer, stream-copied.
        let list = args.iter().position(|a| a == "/w/parts/list.txt").unwrap();
        assert_eq!(args[list - 5..list], ["-f", "concat", "-safe", "0", "-i"]);
        assert_eq!(value_after(&args, "-c:v"), "copy");
        assert_eq!(value_after(&args, "-c:a"), "libopus");
        assert_eq!(value_after(&args, "-af"), "apad=whole_dur=20.000000");
        assert_eq!(value_after(&args, "-t"), "20.000000");
        let maps: Vec<&String> = args
            .windows(2)
            .filter(|w| w[0] == "-map")
            .map(|w| &w[1])
            .collect();
        assert_eq!(maps, vec!["0:v:0", "1:a:0"]);
        let audio_input = args.iter().position(|a| a == "/a/mix.wav").unwrap();
        assert_eq!(args[audio_input - 3..audio_input], ["-f", "wav", "-i"]);
        let n = args.len();
        // bitexact: the same conference always muxes to the same bytes.
        assert_eq!(
            args[n - 5..],
            ["-f", "webm", "-fflags", "+bitexact", "/w/out.webm"]
        );
    }

    #[test]
    fn mux_of_audio_alone_maps_the_first_input() {
        let args = mux(
            None,
            Sound::Wav(Path::new("/a/mix.wav")),
            9.5,
            &enc(OutputCodec::H264),
            Path::new("/w/out.mp4"),
        )
        .args_lossy();
        assert_eq!(value_after(&args, "-map"), "0:a:0");
        assert_eq!(value_after(&args, "-c:a"), "aac");
        assert_eq!(value_after(&args, "-movflags"), "+faststart");
        assert!(!args.contains(&"-c:v".to_owned()));
    }

    #[test]
    fn mux_of_video_alone_has_no_audio() {
        let args = mux(
            Some(Path::new("/w/parts/list.txt")),
            Sound::Silent,
            9.5,
            &enc(OutputCodec::Vp9),
            Path::new("/w/out.webm"),
        )
        .args_lossy();
        assert!(!args.contains(&"-c:a".to_owned()));
        assert!(!args.contains(&"-af".to_owned()));
    }

    #[test]
    fn every_step_writes_the_same_bytes_for_the_same_input() {
        // libvpx's realtime speed is fixed, not picked from how busy the machine is.
        let vp8 = enc(OutputCodec::Vp8).video_args();
        assert_eq!(value_after(&vp8, "-cpu-used"), "-6");
        for codec in [OutputCodec::Vp8, OutputCodec::Vp9, OutputCodec::H264] {
            let args = enc(codec).video_args();
            assert_eq!(value_after(&args, "-flags:v"), "+bitexact", "{codec:?}");
            assert_eq!(value_after(&args, "-threads"), "1", "{codec:?}");
        }
        let (a, b) = (PathBuf::from("/w/a.webm"), PathBuf::from("/w/b.webm"));
        let render = render_range(&two_party(&a, &b), Path::new("/w/g")).args_lossy();
        assert_eq!(value_after(&render, "-fflags"), "+bitexact");
        assert_eq!(value_after(&render, "-flags:v"), "+bitexact");
        for codec in [OutputCodec::Vp8, OutputCodec::H264] {
            let mux = mux(
                Some(Path::new("/w/parts/list.txt")),
                Sound::Wav(Path::new("/a/mix.wav")),
                5.0,
                &enc(codec),
                Path::new("/w/out"),
            )
            .args_lossy();
            assert_eq!(value_after(&mux, "-flags:a"), "+bitexact", "{codec:?}");
            assert_eq!(value_after(&mux, "-fflags"), "+bitexact", "{codec:?}");
            // No tags from the WAV, someone else's file.
            assert_eq!(value_after(&mux, "-map_metadata"), "-1", "{codec:?}");
        }
    }

    #[test]
    fn vp8_encodes_on_one_thread_whatever_the_cores() {
        let threads = |codec| {
            let args = Encoding {
                threads: 8,
                ..enc(codec)
            }
            .video_args();
            value_after(&args, "-threads").to_owned()
        };
        assert_eq!(threads(OutputCodec::Vp8), "1");
        assert_eq!(threads(OutputCodec::Vp9), "8");
        assert_eq!(threads(OutputCodec::H264), "8");
    }

    #[test]
    fn bitrates_rise_with_quality() {
        let rate = |codec, quality| {
            Encoding {
                codec,
                quality,
                fps: 30,
                threads: 1,
            }
            .video_kbps()
        };
        for codec in [OutputCodec::Vp8, OutputCodec::Vp9, OutputCodec::H264] {
            assert!(rate(codec, Quality::Low) < rate(codec, Quality::Medium));
            assert!(rate(codec, Quality::Medium) < rate(codec, Quality::High));
        }
        let args = enc(OutputCodec::Vp9).video_args();
        assert_eq!(value_after(&args, "-deadline"), "good");
        assert_eq!(value_after(&args, "-b:v"), "400k");
    }
}
