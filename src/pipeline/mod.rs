//! The staged pipeline of one conference: preprocess → plan → render → concat → mux →
//! deliver. Each stage is its own module; this one owns what they share: the stage names,
//! the classified stage error, the job's work directory and the bound on parallel tools.

pub mod deliver;
pub mod encrypt;
pub mod preprocess;
pub mod render;
mod run;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::media::failure::ToolFailure;
use crate::process::{self, Finished, Invocation, ProcessError};

pub use run::{place, run, Delivered, DeliveredFile, MediaEntry, Mode, Placement, Prepared};

/// A step of the pipeline, as failure events and logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Validate,
    Preprocess,
    Plan,
    Render,
    Concat,
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
            Stage::Concat => "concat",
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

/// A failed stage: which, whose fault, and a message that says what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{stage} failed: {message}")]
pub struct StageError {
    pub stage: Stage,
    pub blame: Blame,
    pub message: String,
}

impl StageError {
    pub fn input(stage: Stage, message: impl Into<String>) -> Self {
        StageError {
            stage,
            blame: Blame::Input,
            message: message.into(),
        }
    }

    pub fn system(stage: Stage, message: impl Into<String>) -> Self {
        StageError {
            stage,
            blame: Blame::System,
            message: message.into(),
        }
    }

    /// A tool failure in `stage`: missing tools, timeouts and full disks are the system's;
    /// a tool refusing what it was given is blamed on `otherwise`.
    pub fn from_process(stage: Stage, otherwise: Blame, e: &ToolFailure) -> Self {
        StageError {
            stage,
            blame: match e {
                ToolFailure::DiskFull(_) | ToolFailure::System(_) => Blame::System,
                ToolFailure::Refused(_) => otherwise,
            },
            message: e.to_string(),
        }
    }

    /// The same error, its message prefixed with what was being done (`converting x.mjr`).
    pub fn context(mut self, doing: impl fmt::Display) -> Self {
        self.message = format!("{doing}: {}", self.message);
        self
    }

    pub fn from_io(stage: Stage, what: &str, path: &Path, e: &std::io::Error) -> Self {
        StageError::system(stage, format!("{what} {}: {e}", path.display()))
    }
}

/// How many tools run at once, shared by every stage of a job (and, in the daemon, by every
/// job): one per core.
#[derive(Debug, Clone)]
pub struct ToolSlots {
    limit: Arc<Semaphore>,
    cores: usize,
}

impl ToolSlots {
    pub fn new(cores: usize) -> Self {
        let cores = cores.max(1);
        ToolSlots {
            limit: Arc::new(Semaphore::new(cores)),
            cores,
        }
    }

    /// One tool per core of this machine.
    pub fn for_this_machine() -> Self {
        ToolSlots::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    pub fn cores(&self) -> usize {
        self.cores
    }

    /// Threads each of `jobs` parallel tools should use so that together they fill the
    /// machine without oversubscribing it.
    pub fn threads_for(&self, jobs: usize) -> usize {
        (self.cores / jobs.clamp(1, self.cores)).max(1)
    }

    /// Runs `inv` to its exit once a slot is free; the tool's module reads what it means.
    pub async fn run(&self, inv: &Invocation, timeout: Duration) -> Result<Finished, ProcessError> {
        let _permit = self
            .limit
            .acquire()
            .await
            .expect("the slots's semaphore is never closed");
        tracing::debug!(command = %inv.display(), "Running tool.");
        process::run_to_exit(inv, timeout).await
    }
}

/// A generous time limit for a tool working on `media_seconds` of media: tools that hang are
/// killed, slow machines are not punished.
pub fn budget(media_seconds: f64, seconds_per_media_second: f64) -> Duration {
    Duration::from_secs_f64(120.0 + media_seconds.max(0.0) * seconds_per_media_second)
}

/// The work directory of one job, and where each stage writes.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    conference_id: String,
}

impl Workspace {
    pub fn new(root: PathBuf, conference_id: &str) -> Self {
        Workspace {
            root,
            conference_id: conference_id.to_owned(),
        }
    }

    /// The conference this work is for, for log lines.
    pub fn conference_id(&self) -> &str {
        &self.conference_id
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tracks(&self) -> PathBuf {
        self.root.join("tracks")
    }

    pub fn track(&self, index: usize, extension: &str) -> PathBuf {
        self.tracks().join(format!("track-{index:02}.{extension}"))
    }

    pub fn slices(&self) -> PathBuf {
        self.root.join("slices")
    }

    pub fn slice_dir(&self, track: usize) -> PathBuf {
        self.slices().join(format!("track-{track:02}"))
    }

    pub fn piece(&self, track: usize, piece: usize) -> PathBuf {
        self.slice_dir(track).join(format!("piece-{piece:04}.mkv"))
    }

    pub fn piece_pattern(&self, track: usize) -> PathBuf {
        self.slice_dir(track).join("piece-%04d.mkv")
    }

    pub fn parts(&self) -> PathBuf {
        self.root.join("parts")
    }

    pub fn part(&self, index: usize) -> PathBuf {
        self.parts().join(format!("part-{index:04}.mkv"))
    }

    pub fn concat_list(&self) -> PathBuf {
        self.parts().join("list.txt")
    }

    pub fn video(&self) -> PathBuf {
        self.root.join("video.mkv")
    }

    pub fn output(&self) -> PathBuf {
        self.root.join("output")
    }
}

/// `dir/name.ext` → `dir/name.partial.ext`: where a tool writes until its output is known to
/// be complete. The extension stays last because the tools pick the format from it.
pub fn partial_path(target: &Path) -> PathBuf {
    let stem = target.file_stem().unwrap_or_default().to_string_lossy();
    let name = match target.extension() {
        Some(ext) => format!("{stem}.partial.{}", ext.to_string_lossy()),
        None => format!("{stem}.partial"),
    };
    target.with_file_name(name)
}

/// Removes what an earlier, interrupted attempt left at `path` (file or directory), so a tool
/// never appends to or mixes with it.
pub fn clear(stage: Stage, path: &Path) -> Result<(), StageError> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(|e| StageError::from_io(stage, "cannot remove", path, &e))
}

/// Makes a finished output (a file, or a directory of files) visible under its final name:
/// flushed to disk, then renamed. A final name that exists is therefore complete, which is
/// what lets a later attempt at the same job skip the step (resume).
pub fn commit(stage: Stage, partial: &Path, target: &Path) -> Result<(), StageError> {
    let io =
        |what: &str, path: &Path, e: std::io::Error| StageError::from_io(stage, what, path, &e);
    if partial.is_dir() {
        let entries = std::fs::read_dir(partial).map_err(|e| io("cannot read", partial, e))?;
        for entry in entries {
            let path = entry.map_err(|e| io("cannot read", partial, e))?.path();
            sync_path(&path).map_err(|e| io("cannot flush", &path, e))?;
        }
    }
    sync_path(partial).map_err(|e| io("cannot flush", partial, e))?;
    std::fs::rename(partial, target).map_err(|e| io("cannot rename to", target, e))?;
    if let Some(parent) = target.parent() {
        sync_path(parent).map_err(|e| io("cannot flush", parent, e))?;
    }
    Ok(())
}

fn sync_path(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

/// Creates `dir` empty: whatever an earlier attempt left there is removed first.
pub fn fresh_dir(stage: Stage, dir: &Path) -> Result<(), StageError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StageError::from_io(stage, "cannot clear", dir, &e)),
    }
    std::fs::create_dir_all(dir).map_err(|e| StageError::from_io(stage, "cannot create", dir, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_split_the_cores_between_parallel_tools() {
        let r = ToolSlots::new(8);
        assert_eq!(r.threads_for(1), 8);
        assert_eq!(r.threads_for(3), 2);
        assert_eq!(r.threads_for(8), 1);
        assert_eq!(r.threads_for(50), 1);
        assert_eq!(r.threads_for(0), 8);
        assert_eq!(ToolSlots::new(0).cores(), 1);
    }

    #[test]
    fn budget_grows_with_media_length() {
        assert_eq!(budget(0.0, 10.0), Duration::from_secs(120));
        assert_eq!(budget(60.0, 10.0), Duration::from_secs(720));
    }

    #[test]
    fn tool_failures_are_classified() {
        let tool = |e| ToolFailure::classify(e);
        let missing = ProcessError::NotFound {
            program: "ffmpeg".into(),
            package: "ffmpeg",
        };
        assert_eq!(
            StageError::from_process(Stage::Render, Blame::Input, &tool(missing)).blame,
            Blame::System
        );
        let full = ProcessError::Failed {
            program: "ffmpeg".into(),
            status: std::process::ExitStatus::default(),
            stderr_tail: "av_interleaved_write_frame(): No space left on device".into(),
        };
        assert_eq!(
            StageError::from_process(Stage::Mux, Blame::Input, &tool(full)).blame,
            Blame::System
        );
        let bad = ProcessError::Failed {
            program: "janus-pp-rec".into(),
            status: std::process::ExitStatus::default(),
            stderr_tail: "Invalid header".into(),
        };
        let e = StageError::from_process(Stage::Preprocess, Blame::Input, &tool(bad));
        assert_eq!(e.blame, Blame::Input);
        // Killed by a signal (the OOM killer): not the input's fault.
        use std::os::unix::process::ExitStatusExt;
        let killed = ProcessError::Failed {
            program: "ffmpeg".into(),
            status: std::process::ExitStatus::from_raw(9),
            stderr_tail: String::new(),
        };
        assert_eq!(
            StageError::from_process(Stage::Render, Blame::Input, &tool(killed)).blame,
            Blame::System
        );
        let hung = ProcessError::TimedOut {
            program: "ffmpeg".into(),
            timeout: Duration::from_secs(1),
            stderr_tail: String::new(),
        };
        assert_eq!(
            StageError::from_process(Stage::Render, Blame::Input, &tool(hung)).blame,
            Blame::System
        );
        assert!(e.to_string().starts_with("preprocess failed: "), "{e}");
        let e = e.context("converting a.mjr");
        assert_eq!(
            e.message,
            "converting a.mjr: `janus-pp-rec` failed (exit status: 0): Invalid header"
        );
        assert_eq!(e.blame, Blame::Input);
    }

    #[test]
    fn partial_names_keep_the_extension_last() {
        assert_eq!(
            partial_path(Path::new("/w/tracks/track-00.webm")),
            Path::new("/w/tracks/track-00.partial.webm")
        );
        assert_eq!(
            partial_path(Path::new("/w/out/recording-a.b-c.mp4")),
            Path::new("/w/out/recording-a.b-c.partial.mp4")
        );
        assert_eq!(
            partial_path(Path::new("/w/slices/track-01")),
            Path::new("/w/slices/track-01.partial")
        );
    }

    #[test]
    fn commit_makes_files_and_directories_appear_whole() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("part-0000.mkv");
        let partial = partial_path(&target);
        std::fs::write(&partial, b"done").unwrap();
        commit(Stage::Render, &partial, &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"done");
        assert!(!partial.exists());

        let slices = dir.path().join("track-00");
        let partial = partial_path(&slices);
        std::fs::create_dir(&partial).unwrap();
        std::fs::write(partial.join("piece-0000.mkv"), b"p").unwrap();
        commit(Stage::Render, &partial, &slices).unwrap();
        assert!(slices.join("piece-0000.mkv").exists());

        clear(Stage::Render, &slices).unwrap();
        clear(Stage::Render, &target).unwrap();
        clear(Stage::Render, &target).unwrap(); // already gone: fine
        assert!(!slices.exists() && !target.exists());
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
