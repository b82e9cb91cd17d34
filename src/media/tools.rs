//! The external tools recproc needs, checked at startup: present, runnable, their versions,
//! and the ffmpeg encoders the configured output uses.

use std::time::Duration;

use crate::config::OutputCodec;
use crate::process::{self, Invocation, ProcessError};

const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// A tool and the version it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolVersion {
    pub tool: &'static str,
    pub version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(transparent)]
    Missing(#[from] ProcessError),
    #[error("ffmpeg lacks the {encoder} encoder that {purpose} needs: install Debian's ffmpeg package (apt-get install ffmpeg)")]
    MissingEncoder {
        encoder: &'static str,
        purpose: &'static str,
    },
}

/// The first line of a `-version` output, without the copyright.
pub(crate) fn first_line_version(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    line.split(" Copyright")
        .next()
        .unwrap_or(line)
        .trim()
        .to_owned()
}

/// The encoders a configuration needs, with what each is for.
pub(crate) fn required_encoders(codec: OutputCodec) -> Vec<(&'static str, &'static str)> {
    match codec {
        OutputCodec::Vp8 => vec![("libvpx", "video_codec = vp8"), ("libopus", "webm audio")],
        OutputCodec::Vp9 => vec![
            ("libvpx-vp9", "video_codec = vp9"),
            ("libopus", "webm audio"),
        ],
        OutputCodec::H264 => vec![("libx264", "video_codec = h264"), ("aac", "mp4 audio")],
    }
}

/// Whether `ffmpeg -encoders` output lists `name`.
pub(crate) fn lists_encoder(encoders: &str, name: &str) -> bool {
    encoders
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(name))
}

/// Runs each tool once, all at once (each start of ffmpeg loads a hundred libraries: run one
/// after another they delayed every `recproc process` by a quarter of a second); errors name
/// the missing tool or encoder and how to install it.
pub async fn check(codec: OutputCodec) -> Result<Vec<ToolVersion>, ToolError> {
    let version = |tool: &'static str, flag: &'static str| async move {
        let out = process::run(&Invocation::new(tool).arg(flag), CHECK_TIMEOUT).await?;
        let text = if out.stdout.is_empty() {
            out.stderr_tail.clone()
        } else {
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let line = text
            .lines()
            .find(|l| l.contains("version"))
            .unwrap_or(&text);
        Ok::<_, ProcessError>(ToolVersion {
            tool,
            version: first_line_version(line),
        })
    };
    let list = Invocation::new("ffmpeg").args(["-hide_banner", "-encoders"]);
    let (ffmpeg, ffprobe, janus, encoders) = tokio::try_join!(
        version("ffmpeg", "-version"),
        version("ffprobe", "-version"),
        version("janus-pp-rec", "--file-extensions"),
        process::run(&list, CHECK_TIMEOUT),
    )?;
    let encoders = String::from_utf8_lossy(&encoders.stdout);
    for (encoder, purpose) in required_encoders(codec) {
        if !lists_encoder(&encoders, encoder) {
            return Err(ToolError::MissingEncoder { encoder, purpose });
        }
    }
    Ok(vec![ffmpeg, ffprobe, janus])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_line_drops_the_copyright() {
        assert_eq!(
            first_line_version("ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers\nbuilt with gcc"),
            "ffmpeg version 5.1.9-0+deb12u1"
        );
        assert_eq!(
            first_line_version("\nJanus version: 1102 (1.1.2)\nJanus commit: x"),
            "Janus version: 1102 (1.1.2)"
        );
    }

    #[test]
    fn finds_encoders_by_exact_name() {
        let list = " V....D libvpx               libvpx VP8 (codec vp8)\n V....D libvpx-vp9           libvpx VP9 (codec vp9)\n";
        assert!(lists_encoder(list, "libvpx"));
        assert!(lists_encoder(list, "libvpx-vp9"));
        assert!(!lists_encoder(list, "libx264"));
    }

    #[test]
    fn each_codec_needs_its_own_encoders_and_no_other() {
        let names = |c| -> Vec<&str> { required_encoders(c).iter().map(|(e, _)| *e).collect() };
        assert_eq!(names(OutputCodec::Vp8), ["libvpx", "libopus"]);
        assert_eq!(names(OutputCodec::H264), ["libx264", "aac"]);
        assert!(required_encoders(OutputCodec::Vp9)
            .iter()
            .any(|(e, _)| *e == "libvpx-vp9"));
        assert!(required_encoders(OutputCodec::H264)
            .iter()
            .any(|(e, _)| *e == "aac"));
    }
}
