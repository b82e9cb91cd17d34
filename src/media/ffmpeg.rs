//! ffmpeg, pure: the argument lists for each rendering step (slice a track into pieces,
//! lay out one interval, concatenate the parts, mux the audio), and what a run of ffmpeg or
//! ffprobe means. Nothing here runs a process; the builders are unit-tested by the commands
//! they produce (Av1an's habit).

use std::fmt::Write as _;
use std::path::Path;

use crate::config::{OutputCodec, Quality};
use crate::media::failure::{could_not_write, ToolFailure};
use crate::plan::{Rect, FPS};
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

/// The frame-exact time of output frame `frame`.
fn frame_time(frame: u64) -> String {
    secs(frame as f64 / FPS as f64)
}

/// The encoder settings of the delivered video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encoding {
    pub codec: OutputCodec,
    pub quality: Quality,
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
        let gop = (10 * FPS).to_string();
        let mut a: Vec<String> = match self.codec {
            // A negative cpu-used fixes libvpx's realtime speed. A positive one lets it pick
            // the speed from how long frames took to encode (at least 4, higher when the
            // machine is busy): the same input then gives other bytes on a loaded machine.
            // 4 is what it picks when it keeps up.
            OutputCodec::Vp8 => vec![
                "-c:v".into(),
                "libvpx".into(),
                "-deadline".into(),
                "realtime".into(),
                "-cpu-used".into(),
                "-4".into(),
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
        // for a given count): callers derive it from the plan, never from the load.
        a.extend(["-threads".into(), self.threads.max(1).to_string()]);
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

/// How to cut one track into pieces, one per interval it appears in.
#[derive(Debug, Clone)]
pub(crate) struct Slice<'a> {
    pub input: &'a Path,
    /// Output seconds at which the input file's first timestamp falls.
    pub shift: f64,
    /// First output frame of the track.
    pub start_frame: u64,
    /// Number of frames the track shows.
    pub frames: u64,
    /// Frames, counted from `start_frame`, at which a new piece begins.
    pub cuts: &'a [u64],
    /// Every piece frame is this size, the picture fitted inside with its aspect kept.
    pub width: u32,
    pub height: u32,
    /// `…/piece-%04d.mkv`: the pieces, numbered from 0.
    pub pattern: &'a Path,
    /// The single piece when there are no cuts.
    pub single: &'a Path,
    pub threads: usize,
}

/// One decode of the whole track, resampled to the output frame grid and re-encoded into
/// pieces that each start with a keyframe exactly at an interval boundary. Rendering an
/// interval then decodes only its own piece: the cost stays linear in the call's length
/// however rarely the sender sent keyframes.
pub(crate) fn slice(s: &Slice<'_>) -> Invocation {
    let (w, h) = (s.width, s.height);
    let filter = format!(
        "setpts=PTS+{shift}/TB,fps=fps={FPS}:start_time={start}:round=near,setpts=PTS-STARTPTS,\
         scale=w={w}:h={h}:force_original_aspect_ratio=decrease:force_divisible_by=2,\
         pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p",
        shift = secs(s.shift),
        start = frame_time(s.start_frame),
    );
    let mut inv = ffmpeg()
        // Frames before a late first keyframe never decode; they must not count as a
        // failure (ffmpeg gives up with status 69 past 2/3 undecodable frames).
        .args(["-max_error_rate", "1"])
        .args(["-threads", &s.threads.max(1).to_string()])
        .arg("-i")
        .path_arg(s.input)
        .args(["-map", "0:v:0", "-an", "-sn", "-dn", "-vf"])
        .arg(filter)
        .args(["-frames:v", &s.frames.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "18",
            "-bf",
            "0",
            "-forced-idr",
            "1",
            "-threads",
            &s.threads.max(1).to_string(),
        ])
        .args(BITEXACT_VIDEO)
        .args(BITEXACT);
    if s.cuts.is_empty() {
        return inv.args(["-f", "matroska"]).path_arg(s.single);
    }
    // Keyframes by frame number, not time: a time list is rounded to the encoder's time
    // base and can land a frame early, and the segment muxer only cuts at keyframes.
    let forced: Vec<String> = s.cuts.iter().map(|c| format!("eq(n,{c})")).collect();
    let frames: Vec<String> = s.cuts.iter().map(u64::to_string).collect();
    inv = inv
        .args(["-force_key_frames", &format!("expr:{}", forced.join("+"))])
        .args(["-f", "segment", "-segment_format", "matroska"])
        .args(["-segment_frames", &frames.join(",")])
        .args(["-reset_timestamps", "1"]);
    inv.path_arg(s.pattern)
}

/// One tile of an interval: the piece to show and where.
#[derive(Debug, Clone)]
pub(crate) struct TileInput<'a> {
    pub piece: &'a Path,
    pub rect: Rect,
}

/// One interval of the merged layout: a black canvas of exactly `frames` frames with each
/// piece scaled to fit its tile (aspect kept, centred). A piece that ends early holds its last
/// frame.
#[derive(Debug, Clone)]
pub(crate) struct Render<'a> {
    pub tiles: Vec<TileInput<'a>>,
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    pub encoding: Encoding,
    pub output: &'a Path,
}

/// The filter graph of [`Render`], ending in `[out]`.
pub(crate) fn render_graph(r: &Render<'_>) -> String {
    let mut g = String::new();
    // One frame more than needed: `-frames:v` cuts exactly.
    let _ = write!(
        g,
        "color=c=black:s={}x{}:r={FPS}:d={},format=yuv420p[base0]",
        r.width,
        r.height,
        frame_time(r.frames + 1)
    );
    for (i, t) in r.tiles.iter().enumerate() {
        let Rect { x, y, w, h } = t.rect;
        let _ = write!(
            g,
            ";[{i}:v]scale=w={w}:h={h}:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[tile{i}]\
             ;[base{i}][tile{i}]overlay=x={x}+({w}-w)/2:y={y}+({h}-h)/2:eof_action=repeat[base{next}]",
            next = i + 1
        );
    }
    let _ = write!(g, ";[base{}]null[out]", r.tiles.len());
    g
}

pub(crate) fn render(r: &Render<'_>) -> Invocation {
    let mut inv = ffmpeg();
    for t in &r.tiles {
        inv = inv.arg("-i").path_arg(t.piece);
    }
    inv.args([
        "-filter_complex_threads",
        &r.encoding.threads.max(1).to_string(),
    ])
    .arg("-filter_complex")
    .arg(render_graph(r))
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

/// Joins the parts listed in `list` without re-encoding.
pub(crate) fn concat(list: &Path, output: &Path) -> Invocation {
    ffmpeg()
        .args(["-f", "concat", "-safe", "0", "-i"])
        .path_arg(list)
        .args(["-map", "0:v:0", "-c", "copy"])
        .args(BITEXACT)
        .args(["-f", "matroska"])
        .path_arg(output)
}

/// The final file: the concatenated video (copied) and/or the mixed audio (encoded, padded
/// with silence to the full length), in the delivered container.
pub(crate) fn mux(
    video: Option<&Path>,
    audio: Option<&Path>,
    duration: f64,
    encoding: &Encoding,
    output: &Path,
) -> Invocation {
    let mut inv = ffmpeg();
    if let Some(v) = video {
        inv = inv.arg("-i").path_arg(v);
    }
    if let Some(a) = audio {
        // Read as WAV and nothing else: the file comes from outside and its content must not
        // be able to make ffmpeg open other files.
        inv = inv
            .args(["-protocol_whitelist", "file", "-f", "wav", "-i"])
            .path_arg(a);
    }
    if video.is_some() {
        inv = inv.args(["-map", "0:v:0", "-c:v", "copy"]);
    }
    if audio.is_some() {
        let index = usize::from(video.is_some());
        inv = inv
            .args(["-map", &format!("{index}:a:0")])
            .args(["-af", &format!("apad=whole_dur={}", secs(duration))])
            .args(encoding.audio_args());
    }
    // The same conference always gives the same bytes (a redelivery, or the same recording
    // encrypted and not, can be compared); no tags come from the inputs (the WAV is
    // somebody else's file).
    inv.args(["-map_metadata", "-1", "-t", &secs(duration)])
        .args(encoding.container_args())
        .args(BITEXACT)
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
            threads: 1,
        }
    }

    fn value_after<'a>(args: &'a [String], flag: &str) -> &'a str {
        let i = args.iter().position(|a| a == flag).unwrap_or_else(|| {
            panic!("{flag} missing from {args:?}");
        });
        &args[i + 1]
    }

    fn slice_args(cuts: &[u64]) -> Vec<String> {
        slice(&Slice {
            input: Path::new("/w/tracks/track-00.webm"),
            shift: 3.035,
            start_frame: 76,
            frames: 349,
            cuts,
            width: 320,
            height: 240,
            pattern: Path::new("/w/slices/00/piece-%04d.mkv"),
            single: Path::new("/w/slices/00/piece-0000.mkv"),
            threads: 2,
        })
        .args_lossy()
    }

    #[test]
    fn slice_places_the_track_on_the_output_frame_grid() {
        let args = slice_args(&[74, 149]);
        let vf = value_after(&args, "-vf");
        assert!(vf.starts_with("setpts=PTS+3.035000/TB,fps=fps=25:start_time=3.040000:round=near,setpts=PTS-STARTPTS,"), "{vf}");
        assert!(vf.contains("pad=320:240:"), "{vf}");
        assert_eq!(value_after(&args, "-frames:v"), "349");
        assert_eq!(value_after(&args, "-max_error_rate"), "1");
    }

    #[test]
    fn slice_cuts_at_forced_keyframes_on_exact_frames() {
        let args = slice_args(&[74, 149]);
        assert_eq!(
            value_after(&args, "-force_key_frames"),
            "expr:eq(n,74)+eq(n,149)"
        );
        assert_eq!(value_after(&args, "-segment_frames"), "74,149");
        assert_eq!(value_after(&args, "-forced-idr"), "1");
        assert_eq!(value_after(&args, "-reset_timestamps"), "1");
        assert_eq!(args.last().unwrap(), "/w/slices/00/piece-%04d.mkv");
    }

    #[test]
    fn slice_without_cuts_writes_one_piece() {
        let args = slice_args(&[]);
        assert!(!args.contains(&"segment".to_owned()));
        assert_eq!(args.last().unwrap(), "/w/slices/00/piece-0000.mkv");
    }

    #[test]
    fn render_graph_overlays_each_tile_centred_in_its_rect() {
        let a = PathBuf::from("/p/a.mkv");
        let b = PathBuf::from("/p/b.mkv");
        let r = Render {
            tiles: vec![
                TileInput {
                    piece: &a,
                    rect: Rect {
                        x: 0,
                        y: 0,
                        w: 320,
                        h: 480,
                    },
                },
                TileInput {
                    piece: &b,
                    rect: Rect {
                        x: 320,
                        y: 0,
                        w: 320,
                        h: 480,
                    },
                },
            ],
            width: 640,
            height: 480,
            frames: 75,
            encoding: enc(OutputCodec::Vp8),
            output: Path::new("/p/part.mkv"),
        };
        let g = render_graph(&r);
        assert_eq!(
            g,
            "color=c=black:s=640x480:r=25:d=3.040000,format=yuv420p[base0]\
             ;[0:v]scale=w=320:h=480:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[tile0]\
             ;[base0][tile0]overlay=x=0+(320-w)/2:y=0+(480-h)/2:eof_action=repeat[base1]\
             ;[1:v]scale=w=320:h=480:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1[tile1]\
             ;[base1][tile1]overlay=x=320+(320-w)/2:y=0+(480-h)/2:eof_action=repeat[base2]\
             ;[base2]null[out]"
        );
        let args = render(&r).args_lossy();
        assert_eq!(value_after(&args, "-frames:v"), "75");
        assert_eq!(value_after(&args, "-c:v"), "libvpx");
        assert_eq!(value_after(&args, "-map"), "[out]");
        let inputs: Vec<&String> = args
            .windows(2)
            .filter(|w| w[0] == "-i")
            .map(|w| &w[1])
            .collect();
        assert_eq!(inputs, vec!["/p/a.mkv", "/p/b.mkv"]);
    }

    #[test]
    fn render_of_nobody_is_a_black_canvas() {
        let r = Render {
            tiles: vec![],
            width: 640,
            height: 480,
            frames: 10,
            encoding: enc(OutputCodec::Vp8),
            output: Path::new("/p/part.mkv"),
        };
        assert!(render_graph(&r).ends_with("[base0]null[out]"));
        assert!(!render(&r).args_lossy().contains(&"-i".to_owned()));
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
    fn concat_copies_without_reencoding() {
        let args = concat(Path::new("/w/list.txt"), Path::new("/w/video.mkv")).args_lossy();
        assert_eq!(value_after(&args, "-c"), "copy");
        assert_eq!(value_after(&args, "-f"), "concat");
        assert_eq!(value_after(&args, "-safe"), "0");
    }

    #[test]
    fn mux_copies_video_and_pads_audio_to_the_full_length() {
        let args = mux(
            Some(Path::new("/w/video.mkv")),
            Some(Path::new("/a/mix.wav")),
            20.0,
            &enc(OutputCodec::Vp8),
            Path::new("/w/out.webm"),
        )
        .args_lossy();
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
            Some(Path::new("/a/mix.wav")),
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
            Some(Path::new("/w/video.mkv")),
            None,
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
        assert_eq!(value_after(&vp8, "-cpu-used"), "-4");
        for codec in [OutputCodec::Vp8, OutputCodec::Vp9, OutputCodec::H264] {
            let args = enc(codec).video_args();
            assert_eq!(value_after(&args, "-flags:v"), "+bitexact", "{codec:?}");
            assert_eq!(value_after(&args, "-threads"), "1", "{codec:?}");
        }
        let p = PathBuf::from("/p/a.mkv");
        let render = render(&Render {
            tiles: vec![TileInput {
                piece: &p,
                rect: Rect {
                    x: 0,
                    y: 0,
                    w: 640,
                    h: 480,
                },
            }],
            width: 640,
            height: 480,
            frames: 10,
            encoding: enc(OutputCodec::Vp8),
            output: Path::new("/p/part.mkv"),
        })
        .args_lossy();
        let concat = concat(Path::new("/w/list.txt"), Path::new("/w/video.mkv")).args_lossy();
        for args in [&slice_args(&[74]), &slice_args(&[]), &render, &concat] {
            assert_eq!(value_after(args, "-fflags"), "+bitexact", "{args:?}");
        }
        assert_eq!(value_after(&slice_args(&[]), "-flags:v"), "+bitexact");
        for codec in [OutputCodec::Vp8, OutputCodec::H264] {
            let mux = mux(
                Some(Path::new("/w/video.mkv")),
                Some(Path::new("/a/mix.wav")),
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
    fn bitrates_rise_with_quality() {
        let rate = |codec, quality| {
            Encoding {
                codec,
                quality,
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
