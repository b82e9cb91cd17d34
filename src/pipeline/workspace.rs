//! The work directory of one job: where each stage writes, and how a stage's output appears
//! there only when whole (written under a `.partial` name, flushed, renamed), so a later
//! attempt at the same job can keep what an earlier one finished (resume).

use std::path::{Path, PathBuf};

use crate::pipeline::Cause;
use crate::plan::Range;

/// The work directory of one job, and where each stage writes.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    root: PathBuf,
    conference_id: String,
}

impl Workspace {
    pub(crate) fn new(root: PathBuf, conference_id: &str) -> Self {
        Workspace {
            root,
            conference_id: conference_id.to_owned(),
        }
    }

    /// The conference this work is for, for log lines.
    pub(crate) fn conference_id(&self) -> &str {
        &self.conference_id
    }

    pub(crate) fn tracks(&self) -> PathBuf {
        self.root.join("tracks")
    }

    pub(crate) fn track(&self, index: usize, extension: &str) -> PathBuf {
        self.tracks().join(format!("track-{index:02}.{extension}"))
    }

    /// A participant's own audio track, converted.
    pub(crate) fn voice(&self, index: usize, extension: &str) -> PathBuf {
        self.tracks().join(format!("voice-{index:02}.{extension}"))
    }

    pub(crate) fn parts(&self) -> PathBuf {
        self.root.join("parts")
    }

    /// A range's part, named by its frames: a resumed job reuses only ranges it would render
    /// the same.
    pub(crate) fn range_part(&self, range: &Range) -> PathBuf {
        self.parts().join(format!("{}.mkv", range_name(range)))
    }

    /// The filter graph a range is rendered with.
    pub(crate) fn range_graph(&self, range: &Range) -> PathBuf {
        self.parts().join(format!("{}.graph", range_name(range)))
    }

    pub(crate) fn concat_list(&self) -> PathBuf {
        self.parts().join("list.txt")
    }

    pub(crate) fn output(&self) -> PathBuf {
        self.root.join("output")
    }
}

fn range_name(range: &Range) -> String {
    format!("range-{:08}-{:08}", range.start_frame, range.end_frame)
}

/// `dir/name.ext` → `dir/name.partial.ext`: where a tool writes until its output is known to
/// be complete. The extension stays last because the tools pick the format from it.
pub(crate) fn partial_path(target: &Path) -> PathBuf {
    let stem = target.file_stem().unwrap_or_default().to_string_lossy();
    let name = match target.extension() {
        Some(ext) => format!("{stem}.partial.{}", ext.to_string_lossy()),
        None => format!("{stem}.partial"),
    };
    target.with_file_name(name)
}

/// Creates `dir` and its parents when missing.
pub(crate) fn create_dir(dir: &Path) -> Result<(), Cause> {
    std::fs::create_dir_all(dir).map_err(Cause::io("cannot create", dir))
}

/// Removes what an earlier, interrupted attempt left at `path` (file or directory), so a tool
/// never appends to or mixes with it.
pub(crate) fn clear(path: &Path) -> Result<(), Cause> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(Cause::io("cannot remove", path))
}

/// Makes a finished output (a file, or a directory of files) visible under its final name:
/// flushed to disk, then renamed. A final name that exists is therefore complete, which is
/// what lets a later attempt at the same job skip the step (resume).
pub(crate) fn commit(partial: &Path, target: &Path) -> Result<(), Cause> {
    if partial.is_dir() {
        let entries = std::fs::read_dir(partial).map_err(Cause::io("cannot read", partial))?;
        for entry in entries {
            let path = entry.map_err(Cause::io("cannot read", partial))?.path();
            sync_path(&path).map_err(Cause::io("cannot flush", &path))?;
        }
    }
    sync_path(partial).map_err(Cause::io("cannot flush", partial))?;
    std::fs::rename(partial, target).map_err(Cause::io("cannot rename to", target))?;
    if let Some(parent) = target.parent() {
        sync_path(parent).map_err(Cause::io("cannot flush", parent))?;
    }
    Ok(())
}

fn sync_path(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

/// Creates `dir` empty: whatever an earlier attempt left there is removed first.
pub(crate) fn fresh_dir(dir: &Path) -> Result<(), Cause> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Cause::io("cannot clear", dir)(e)),
    }
    create_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        commit(&partial, &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"done");
        assert!(!partial.exists());

        let slices = dir.path().join("track-00");
        let partial = partial_path(&slices);
        std::fs::create_dir(&partial).unwrap();
        std::fs::write(partial.join("piece-0000.mkv"), b"p").unwrap();
        commit(&partial, &slices).unwrap();
        assert!(slices.join("piece-0000.mkv").exists());

        clear(&slices).unwrap();
        clear(&target).unwrap();
        clear(&target).unwrap(); // already gone: fine
        assert!(!slices.exists() && !target.exists());
    }

    #[test]
    fn a_missing_partial_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone.partial.mkv");
        let e = commit(&gone, &dir.path().join("gone.mkv")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot flush {}: No such file or directory (os error 2)",
                gone.display()
            )
        );
    }
}
