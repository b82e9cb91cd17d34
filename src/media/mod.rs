//! The media tools recproc drives: `.mjr` reading, janus-pp-rec, ffprobe and ffmpeg. Each
//! submodule builds argument lists or reads output; running them is `crate::process`.

pub mod failure;
pub mod ffmpeg;
pub mod janus;
pub mod mjr;
pub mod probe;
pub mod tools;
