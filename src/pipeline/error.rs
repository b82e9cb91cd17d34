//! A failed stage: which stage, and the typed cause, which says whose fault it is and
//! whether a disk is full. Causes are made where the failure happens, without knowing the
//! stage; the orchestrator names the stage once per step ([`AtStage::at`], or
//! [`super::step`], which also times it).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::event::{is_machine_fault, EventError};
use crate::media::failure::{is_disk_full, ToolFailure};
use crate::media::mjr::MjrError;
use crate::recipient::KeyError;

/// A step of the pipeline, as failure events and logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Validate,
    Preprocess,
    Plan,
    Render,
    Mux,
    Encrypt,
    Deliver,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Validate => "validate",
            Stage::Preprocess => "preprocess",
            Stage::Plan => "plan",
            Stage::Render => "render",
            Stage::Mux => "mux",
            Stage::Encrypt => "encrypt",
            Stage::Deliver => "deliver",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose fault a failure is: the message's (retrying cannot help) or the system's (a tool
/// missing, a disk full: retrying later can).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Blame {
    Input,
    System,
}

/// What went wrong, typed until the failure event is written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Cause {
    /// The event is not valid, or a file it names cannot be used.
    #[error("{0}")]
    Event(EventError),
    /// A `.mjr` is not a recording recproc can read.
    #[error("{}: {error}", path.display())]
    Mjr { path: PathBuf, error: MjrError },
    /// A file the event names cannot be read (not the machine's fault: see
    /// [`is_machine_fault`]).
    #[error("cannot read {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    /// A media file says something recproc cannot use (ffprobe's facts).
    #[error("{}: {problem}", path.display())]
    Media { path: PathBuf, problem: String },
    /// A tool failed; `refusal` is whose fault it is when the tool refused what it read
    /// (the event's media, or what recproc made of it).
    #[error("{failure}")]
    Tool {
        failure: ToolFailure,
        refusal: Blame,
    },
    /// The encryption key stopped being usable while a job ran (it expired).
    #[error("{0}")]
    Key(KeyError),
    /// The encryption key is no longer usable as a job starts: only a new key and a restart
    /// help.
    #[error("{0}; then restart recproc, which reads the key at start")]
    StaleKey(KeyError),
    /// recproc's own file work failed: `doing` names what, `path` where.
    #[error("{doing} {}: {source}", path.display())]
    Io {
        doing: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A name recproc would write is longer than a file name may be.
    #[error("the name of {what} would be {} bytes with recproc's working suffix ({name:?}); file names may have at most {limit}: shorten recording.filename_format or the IDs", name.len())]
    NameTooLong {
        what: &'static str,
        name: String,
        limit: usize,
    },
    /// Something is already where the recording would go.
    #[error("{} already exists: recproc never overwrites a delivered recording (move it away to process this event again)", .0.display())]
    Exists(PathBuf),
    /// The output directory disagrees with the receipt of an earlier delivery.
    #[error("this conference was delivered before, but {why}; recproc never overwrites a delivery: move its files away and remove {} to process this event again", receipt.display())]
    Conflict { why: String, receipt: PathBuf },
    /// The input holds nothing recproc can make a recording of.
    #[error("{0}")]
    Input(String),
    /// recproc itself failed (a task died, a piece it made is missing).
    #[error("{0}")]
    System(String),
    /// `cause`, while `doing` something.
    #[error("{doing}: {cause}")]
    Doing { doing: String, cause: Box<Cause> },
    /// A tool failed because something removed what recproc made for it in its work
    /// directory (`missing`): whatever the tool said, not the input's fault.
    #[error("{cause} ({} is gone: something removed recproc's work files while the job ran)", missing.display())]
    WorkGone { missing: PathBuf, cause: Box<Cause> },
    /// `cause` is a full disk: an operator is told which directories to free (the tool's
    /// words name a file, not the directory).
    #[error("{cause} (a disk is full: free space where work_dir {} or output_dir {} is)", work_dir.display(), output_dir.display())]
    DiskFull {
        cause: Box<Cause>,
        work_dir: PathBuf,
        output_dir: PathBuf,
    },
}

impl Cause {
    /// A failed tool, for `map_err`, that worked on `ours`: what recproc made for it in the
    /// work directory (the files it reads, the directories it writes into). A refusal is
    /// `refusal`'s fault only while they are all still there: when one is gone, the work
    /// directory was disturbed (removed, cleaned) and the tool failed on that, not on the
    /// input.
    pub(crate) fn tool_on<'a>(
        refusal: Blame,
        ours: &'a [&'a Path],
    ) -> impl FnOnce(ToolFailure) -> Cause + 'a {
        move |failure| {
            let cause = Cause::Tool { failure, refusal };
            match ours.iter().find(|p| std::fs::symlink_metadata(p).is_err()) {
                Some(missing) => Cause::WorkGone {
                    missing: missing.to_path_buf(),
                    cause: Box::new(cause),
                },
                None => cause,
            }
        }
    }

    /// A failure of recproc's own `doing` on `path`, for `map_err`.
    pub(crate) fn io<'a>(
        doing: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(io::Error) -> Cause + 'a {
        move |source| Cause::Io {
            doing,
            path: path.to_owned(),
            source,
        }
    }

    /// What reading the `.mjr` at `path` came to: its bytes unreadable (the machine's fault,
    /// or the file's: see [`is_machine_fault`]) or not a recording (the input's).
    pub(crate) fn mjr(path: &Path, error: MjrError) -> Cause {
        match error {
            MjrError::Io(source) => Cause::read(path)(source),
            error => Cause::Mjr {
                path: path.to_owned(),
                error,
            },
        }
    }

    /// An error reading the file of the event at `path` (named so in the message), for
    /// `map_err`: the machine's fault when it says the machine failed, else the input's.
    pub(crate) fn read(path: &Path) -> impl FnOnce(io::Error) -> Cause + '_ {
        move |source| match is_machine_fault(&source) {
            true => Cause::Io {
                doing: "cannot read",
                path: path.to_owned(),
                source,
            },
            false => Cause::Unreadable {
                path: path.to_owned(),
                source,
            },
        }
    }

    /// The same cause, saying what was being done.
    pub(crate) fn doing(self, doing: impl fmt::Display) -> Cause {
        Cause::Doing {
            doing: doing.to_string(),
            cause: Box::new(self),
        }
    }

    /// Whose fault it is.
    pub fn blame(&self) -> Blame {
        match self {
            Cause::Event(e) if !e.is_input_fault() => Blame::System,
            Cause::Tool {
                failure: ToolFailure::DiskFull(_) | ToolFailure::System(_),
                ..
            } => Blame::System,
            Cause::Tool { refusal, .. } => *refusal,
            Cause::Key(_) | Cause::StaleKey(_) | Cause::Io { .. } | Cause::System(_) => {
                Blame::System
            }
            Cause::Doing { cause, .. } | Cause::DiskFull { cause, .. } => cause.blame(),
            Cause::WorkGone { .. } => Blame::System,
            Cause::Event(_)
            | Cause::Mjr { .. }
            | Cause::Unreadable { .. }
            | Cause::Media { .. }
            | Cause::NameTooLong { .. }
            | Cause::Exists(_)
            | Cause::Conflict { .. }
            | Cause::Input(_) => Blame::Input,
        }
    }

    /// Whether a disk (or a quota) is full: decided from the tool's words by its module, and
    /// from the error's kind for recproc's own writes.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Cause::Tool { failure, .. } => matches!(failure, ToolFailure::DiskFull(_)),
            Cause::Io { source, .. } => is_disk_full(source),
            Cause::Doing { cause, .. } | Cause::WorkGone { cause, .. } => cause.is_disk_full(),
            Cause::DiskFull { .. } => true,
            _ => false,
        }
    }
}

/// A failed stage: which, and why.
#[derive(Debug, thiserror::Error)]
#[error("{stage} failed: {cause}")]
pub(crate) struct StageError {
    pub(crate) stage: Stage,
    pub(crate) cause: Cause,
}

impl StageError {
    /// Whose fault it is.
    pub fn blame(&self) -> Blame {
        self.cause.blame()
    }

    /// When a disk is full, the same error naming the directories an operator can free.
    pub(crate) fn naming_full_disks(self, work_dir: &Path, output_dir: &Path) -> StageError {
        if !self.cause.is_disk_full() || matches!(self.cause, Cause::DiskFull { .. }) {
            return self;
        }
        StageError {
            stage: self.stage,
            cause: Cause::DiskFull {
                cause: Box::new(self.cause),
                work_dir: work_dir.to_owned(),
                output_dir: output_dir.to_owned(),
            },
        }
    }

    #[cfg(test)]
    pub(crate) fn input(stage: Stage, message: impl Into<String>) -> Self {
        Cause::Input(message.into()).at(stage)
    }

    #[cfg(test)]
    pub(crate) fn system(stage: Stage, message: impl Into<String>) -> Self {
        Cause::System(message.into()).at(stage)
    }
}

/// An error placed in a stage: a [`Cause`] gets the stage it is given; a [`StageError`]
/// (an inner step's) keeps its own.
pub(crate) trait InStage {
    fn at(self, stage: Stage) -> StageError;
}

impl InStage for Cause {
    fn at(self, stage: Stage) -> StageError {
        StageError { stage, cause: self }
    }
}

impl InStage for StageError {
    fn at(self, _: Stage) -> StageError {
        self
    }
}

/// `result.at(Stage::Render)`: names the stage of a step's failure.
pub(crate) trait AtStage<T> {
    fn at(self, stage: Stage) -> Result<T, StageError>;
}

impl<T, E: InStage> AtStage<T> for Result<T, E> {
    fn at(self, stage: Stage) -> Result<T, StageError> {
        self.map_err(|e| e.at(stage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ProcessError;

    fn failed(program: &str, status: i32, stderr_tail: &str) -> ToolFailure {
        use std::os::unix::process::ExitStatusExt as _;
        ToolFailure::classify(ProcessError::Failed {
            program: program.into(),
            status: std::process::ExitStatus::from_raw(status),
            stderr_tail: stderr_tail.into(),
        })
    }

    #[test]
    fn a_tool_s_refusal_is_blamed_where_the_step_says_and_the_machine_s_failure_never_is() {
        let bad = Cause::tool_on(Blame::Input, &[])(failed("janus-pp-rec", 0, "Invalid header"));
        assert_eq!(bad.blame(), Blame::Input);
        let e = bad.doing("converting a.mjr").at(Stage::Preprocess);
        assert_eq!(
            e.to_string(),
            "preprocess failed: converting a.mjr: `janus-pp-rec` failed (exit status: 0): Invalid header"
        );
        assert_eq!(e.blame(), Blame::Input);
        assert!(!e.cause.is_disk_full());
        let killed = Cause::tool_on(Blame::Input, &[])(failed("ffmpeg", 9, ""));
        assert_eq!(killed.blame(), Blame::System);
        let full =
            Cause::tool_on(Blame::Input, &[])(failed("ffmpeg", 0, "No space left on device"));
        assert_eq!((full.blame(), full.is_disk_full()), (Blame::System, true));
        let ours = Cause::tool_on(Blame::System, &[])(failed("ffmpeg", 1 << 8, "Invalid argument"));
        assert_eq!(ours.blame(), Blame::System);
    }

    #[test]
    fn a_tool_failing_on_work_files_that_are_gone_is_the_system_s_fault() {
        let dir = tempfile::tempdir().unwrap();
        let track = dir.path().join("track-00.webm");
        std::fs::write(&track, b"t").unwrap();
        let slices = dir.path().join("slices");
        std::fs::create_dir(&slices).unwrap();
        let refused = || failed("ffmpeg", 1 << 8, "track-00.webm: No such file or directory");
        // All there: the tool refused what it read, as the step says.
        let there = Cause::tool_on(Blame::Input, &[&track, &slices])(refused());
        assert!(matches!(there, Cause::Tool { .. }), "{there:?}");
        assert_eq!(there.blame(), Blame::Input);
        // A file it read, or the directory it wrote into, is gone: the work directory was
        // disturbed, whatever the tool said.
        std::fs::remove_dir(&slices).unwrap();
        let gone = Cause::tool_on(Blame::Input, &[&track, &slices])(refused());
        assert_eq!(gone.blame(), Blame::System);
        assert_eq!(
            gone.to_string(),
            format!(
                "`ffmpeg` failed (exit status: 1): track-00.webm: No such file or directory ({} is gone: something removed recproc's work files while the job ran)",
                slices.display()
            )
        );
        std::fs::remove_file(&track).unwrap();
        let gone = Cause::tool_on(Blame::Input, &[&track])(refused()).doing("slicing");
        let e = gone.at(Stage::Render);
        assert_eq!(e.blame(), Blame::System);
        assert!(e.to_string().contains("track-00.webm is gone"), "{e}");
        // A full disk is still a full disk.
        let full = failed("ffmpeg", 1 << 8, "No space left on device");
        let full = Cause::tool_on(Blame::Input, &[&track])(full);
        assert_eq!((full.blame(), full.is_disk_full()), (Blame::System, true));
    }

    #[test]
    fn an_error_reading_the_event_s_file_is_blamed_by_its_errno() {
        let at = |errno| Cause::read(Path::new("/v/a.mjr"))(io::Error::from_raw_os_error(errno));
        for errno in [libc::EACCES, libc::EISDIR, libc::EINVAL] {
            assert_eq!(at(errno).blame(), Blame::Input, "errno {errno}");
        }
        for errno in [
            libc::EIO,
            libc::ENOMEM,
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOSPC,
        ] {
            assert_eq!(at(errno).blame(), Blame::System, "errno {errno}");
        }
        assert_eq!(
            at(libc::EACCES).to_string(),
            "cannot read /v/a.mjr: Permission denied (os error 13)"
        );
        let mjr = Cause::mjr(
            Path::new("/v/a.mjr"),
            MjrError::Io(io::Error::from_raw_os_error(libc::EIO)),
        );
        assert_eq!(mjr.blame(), Blame::System);
    }

    #[test]
    fn io_failures_name_what_and_where_and_say_when_a_disk_is_full() {
        let at = |errno| {
            Cause::io("cannot create", Path::new("/w/x"))(io::Error::from_raw_os_error(errno))
                .at(Stage::Render)
        };
        let e = at(libc::ENOSPC);
        assert_eq!(
            e.cause.to_string(),
            "cannot create /w/x: No space left on device (os error 28)"
        );
        assert_eq!((e.stage, e.blame()), (Stage::Render, Blame::System));
        assert!(e.cause.is_disk_full());
        assert!(at(libc::EDQUOT).cause.is_disk_full());
        assert!(!at(libc::EACCES).cause.is_disk_full());
        // Words in a path are not a full disk.
        let named = Cause::Input("/spool/No space left on device.mjr is empty".into());
        assert!(!named.is_disk_full());
    }

    #[test]
    fn an_inner_step_keeps_its_stage() {
        let inner: Result<(), StageError> = Err(Cause::System("x".into()).at(Stage::Encrypt));
        assert_eq!(inner.at(Stage::Deliver).unwrap_err().stage, Stage::Encrypt);
    }

    #[test]
    fn stage_names_are_lowercase_words() {
        assert_eq!(Stage::Preprocess.to_string(), "preprocess");
        assert_eq!(
            serde_json::to_string(&Stage::Deliver).unwrap(),
            "\"deliver\""
        );
    }
}
