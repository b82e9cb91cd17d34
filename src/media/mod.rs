//! The media tools recproc drives: `.mjr` reading, janus-pp-rec, ffprobe and ffmpeg. Each
//! submodule builds argument lists or reads output; running them is `crate::process`.

pub(crate) mod failure;
pub(crate) mod ffmpeg;
pub(crate) mod janus;
pub mod leap;
pub mod mjr;
pub(crate) mod probe;
pub mod tools;
