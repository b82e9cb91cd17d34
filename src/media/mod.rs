//! The media tools recproc drives: `.mjr` reading, janus-pp-rec, ffprobe and ffmpeg (and the
//! participants' audio tracks mixed by it). Each submodule builds argument lists or reads
//! output; running them is `crate::process`.

pub(crate) mod failure;
pub(crate) mod ffmpeg;
pub(crate) mod janus;
pub mod leap;
pub(crate) mod mix;
pub mod mjr;
pub(crate) mod probe;
pub mod tools;

/// The video encoder options of the merged output under `config` (codec, rate, keyframe
/// interval, one thread), as recproc passes them to ffmpeg: for benches that measure the
/// cost of encoding the output once.
pub fn video_encoder_args(config: &crate::config::Config) -> Vec<String> {
    let rec = &config.recording;
    ffmpeg::Encoding {
        codec: rec.video_codec,
        quality: rec.quality,
        fps: rec.fps,
        threads: 1,
    }
    .video_args()
}
