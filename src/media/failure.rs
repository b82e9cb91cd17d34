//! How a tool's run failed, read from its error and its words: a full disk, the machine (the
//! tool missing, hung, killed, out of memory), or a refusal of what it was given. The tools
//! are all built on libavformat and print the C library's error texts, so these signs are
//! shared; each tool's module adds its own rules for a run that exits 0 yet failed
//! ([`super::ffmpeg::judge`], [`super::janus::judge`]).

use std::io;

use crate::process::ProcessError;

/// A failed tool run, classified.
#[derive(Debug, thiserror::Error)]
pub enum ToolFailure {
    /// The tool could not write its output: a disk (or a quota) is full.
    #[error(transparent)]
    DiskFull(ProcessError),
    /// The machine failed the tool: missing, not startable, hung, stopped from outside or out
    /// of memory. Trying again later can help.
    #[error(transparent)]
    System(ProcessError),
    /// The tool refused what it was given.
    #[error(transparent)]
    Refused(ProcessError),
}

impl ToolFailure {
    /// Classifies a run that did not succeed.
    pub(crate) fn classify(error: ProcessError) -> ToolFailure {
        let (said, io) = match &error {
            ProcessError::Failed { stderr_tail, .. }
            | ProcessError::TimedOut { stderr_tail, .. } => (stderr_tail.as_str(), None),
            ProcessError::Spawn { source, .. } | ProcessError::Io { source, .. } => {
                ("", Some(source))
            }
            ProcessError::NotFound { .. } => ("", None),
        };
        if says_disk_full(said) || io.is_some_and(is_disk_full) {
            ToolFailure::DiskFull(error)
        } else if error.is_system() || said.contains("Cannot allocate memory") {
            ToolFailure::System(error)
        } else {
            ToolFailure::Refused(error)
        }
    }
}

/// Whether recproc's own file operation failed for want of space (or quota).
pub(crate) fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Whether a tool's words say a disk (or a quota) is full.
fn says_disk_full(text: &str) -> bool {
    ["No space left on device", "Disk quota exceeded"]
        .iter()
        .any(|sign| text.contains(sign))
}

/// Whether a tool's words say it could not write its output whole: a full disk, or
/// libavformat failing to finish the file.
pub(crate) fn could_not_write(text: &str) -> bool {
    says_disk_full(text) || text.contains("Error writing trailer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::ExitStatus;
    use std::time::Duration;

    fn failed(status: i32, stderr_tail: &str) -> ProcessError {
        ProcessError::Failed {
            program: "ffmpeg".into(),
            status: ExitStatus::from_raw(status),
            stderr_tail: stderr_tail.into(),
        }
    }

    #[test]
    fn failures_are_classified_by_kind_and_words() {
        let class = |e| match ToolFailure::classify(e) {
            ToolFailure::DiskFull(_) => "disk full",
            ToolFailure::System(_) => "system",
            ToolFailure::Refused(_) => "refused",
        };
        let missing = ProcessError::NotFound {
            program: "ffmpeg".into(),
            package: "ffmpeg",
        };
        assert_eq!(class(missing), "system");
        let full = "av_interleaved_write_frame(): No space left on device";
        assert_eq!(class(failed(1 << 8, full)), "disk full");
        assert_eq!(class(failed(1 << 8, "x: Disk quota exceeded")), "disk full");
        assert_eq!(class(failed(1 << 8, "Cannot allocate memory")), "system");
        assert_eq!(class(failed(1 << 8, "Invalid header")), "refused");
        // Killed by a signal (the OOM killer): not the input's fault.
        assert_eq!(class(failed(9, "")), "system");
        let hung = ProcessError::TimedOut {
            program: "ffmpeg".into(),
            timeout: Duration::from_secs(1),
            stderr_tail: String::new(),
        };
        assert_eq!(class(hung), "system");
        let spawn = |errno| ProcessError::Spawn {
            program: "ffmpeg".into(),
            source: io::Error::from_raw_os_error(errno),
        };
        assert_eq!(class(spawn(libc::ENOSPC)), "disk full");
        assert_eq!(class(spawn(libc::EACCES)), "system");
    }

    #[test]
    fn the_words_keep_the_process_error_s_text() {
        let e = ToolFailure::classify(failed(1 << 8, "Invalid header"));
        assert_eq!(
            e.to_string(),
            "`ffmpeg` failed (exit status: 1): Invalid header"
        );
    }
}
