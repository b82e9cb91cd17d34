//! Deliver: a finished file enters the output directory whole or not at all, never replaces a
//! file that is already there, and never shares its inode with anything in the work directory
//! (a later run truncating a work file must not be able to touch a delivered recording): it
//! is *moved*. Same filesystem: hard link, then unlink the source (atomic, no copy).
//! Otherwise: a copy to a hidden temporary name in the output directory, fsync, rename.
//! [`deliver`] is the whole sequence: the receipt first, then the files, then the receipt
//! marked placed.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ledger::{Ledger, Receipt};
use crate::pipeline::preprocess::Skipped;
use crate::pipeline::{blocking, AtStage, Cause, Stage, StageError};
use crate::plan::Mode;
use crate::report::Processed;
use crate::timestamp::Timestamp;

/// What a delivered file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// The one file of a merged recording.
    Merged,
    /// A track of a split recording.
    Video,
    /// The mixed audio of a split recording.
    Audio,
    /// A participant's own audio track in a split recording.
    Voice,
    /// The metadata JSON of a split recording.
    Metadata,
}

/// A file placed in the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliveredFile {
    pub(crate) path: PathBuf,
    pub(crate) kind: FileKind,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
}

/// One media item as the metadata lists it: a source track placed on the merged timeline, or
/// a delivered file of a split recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MediaEntry {
    pub(crate) path: PathBuf,
    /// The participant, for their own tracks.
    pub(crate) user_id: Option<String>,
    pub(crate) start: Timestamp,
    pub(crate) stop: Timestamp,
    pub(crate) bytes: u64,
}

/// What a successful run produced and what it was made of.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Delivered {
    pub(crate) mode: Mode,
    /// Why that mode, in words.
    pub(crate) mode_reason: String,
    /// t=0 of the output and its length in seconds (`None` when nothing was recorded).
    pub(crate) origin: Option<Timestamp>,
    pub(crate) duration: f64,
    pub(crate) should_record_audio: bool,
    pub(crate) should_record_video: bool,
    /// Every delivered media file is OpenPGP-encrypted (`.gpg`).
    pub(crate) encrypted: bool,
    pub(crate) videos: Vec<MediaEntry>,
    /// The participants' own audio tracks.
    pub(crate) voices: Vec<MediaEntry>,
    pub(crate) audio: Option<MediaEntry>,
    /// Tracks left out because nothing in them could be shown or heard.
    pub(crate) skipped: Vec<Skipped>,
    /// The split recording's directory.
    pub(crate) directory: Option<PathBuf>,
    pub(crate) files: Vec<DeliveredFile>,
    /// Every track's placement and incidents, and the merged layout.
    pub(crate) timeline: crate::report::TimelineReport,
}

/// How the finished files enter the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Merged: one file, moved to its final name.
    File { from: PathBuf, to: PathBuf },
    /// Split: staged files, moved into a new directory all at once.
    Dir { files: Vec<PathBuf>, dest: PathBuf },
}

/// The ledger entry a delivery writes: its receipt is what proves it later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    pub(crate) conference_id: &'a str,
    pub(crate) ledger: &'a Ledger,
    pub(crate) job: &'a str,
    /// The digest of the event this delivery answers.
    pub(crate) event_sha256: &'a str,
}

/// Delivers: the receipt is written first (a crash after the move must not leave a delivery
/// without one), the files are moved in, and the receipt is marked placed. A delivery that
/// fails takes its receipt back.
pub(crate) async fn deliver(
    record: Record<'_>,
    processed: &Processed,
    placement: Placement,
    modes: Modes,
) -> Result<(), StageError> {
    let receipt = Receipt {
        event_sha256: record.event_sha256.to_owned(),
        processed: processed.clone(),
        placed: false,
    };
    let (ledger, job) = (record.ledger.clone(), record.job.to_owned());
    let id = record.conference_id.to_owned();
    blocking(move || {
        ledger
            .write(&job, &receipt)
            .map_err(Cause::io("cannot write the receipt in", ledger.dir()))?;
        if let Err(e) = place_as_planned(placement, modes) {
            if let Err(e) = ledger.remove(&job) {
                tracing::warn!(
                    conference_id = crate::logs::field(id),
                    error = crate::logs::field(&e),
                    "Could not remove the receipt of a delivery that failed."
                );
            }
            return Err(e);
        }
        // Delivered. Should this fail, the unplaced receipt and the files in place still
        // prove it, as long as they stay.
        if let Err(e) = ledger.mark_placed(&job, receipt) {
            tracing::warn!(
                conference_id = crate::logs::field(id),
                error = crate::logs::field(&e),
                "Could not mark the receipt placed."
            );
        }
        Ok(())
    })
    .await
    .at(Stage::Deliver)
}

/// Moves the prepared files into the output directory (never over an existing file).
fn place_as_planned(placement: Placement, modes: Modes) -> Result<(), Cause> {
    let (dest, placed) = match placement {
        Placement::File { from, to } => {
            let placed = place(&from, &to, modes);
            (to, placed)
        }
        Placement::Dir { files, dest } => {
            let placed = place_dir(&files, &dest, modes);
            (dest, placed)
        }
    };
    placed.map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => Cause::Exists(dest),
        _ => Cause::io("cannot deliver to", &dest)(e),
    })
}

/// The permissions delivered recordings get (`paths.output_file_mode`, `output_dir_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modes {
    pub file: u32,
    pub dir: u32,
}

impl Default for Modes {
    /// Owner read-write, group read; nothing for others.
    fn default() -> Self {
        Modes {
            file: 0o640,
            dir: 0o750,
        }
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Puts `files` (staged in the work directory) into a new directory `dest`, whole or not at
/// all: each is linked or copied into a hidden temporary directory beside `dest`, everything
/// is fsynced, and the directory is renamed into place without replacing anything
/// (`AlreadyExists` if `dest` is there). A missing file fails the delivery. Until the rename
/// the staged files stay untouched, so a failure loses nothing; after it they are unlinked.
pub(crate) fn place_dir(files: &[PathBuf], dest: &Path, modes: Modes) -> io::Result<()> {
    place_dir_with(files, dest, modes, || {})
}

/// [`place_dir`], with `before_rename` run just before the final rename (tests race it).
fn place_dir_with(
    files: &[PathBuf],
    dest: &Path,
    modes: Modes,
    before_rename: impl FnOnce(),
) -> io::Result<()> {
    let parent = dest
        .parent()
        .ok_or_else(|| io::Error::other("destination has no directory"))?;
    if dest.exists() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    let tmp = tempfile::Builder::new()
        .prefix(".recproc-")
        .suffix(".partial")
        .tempdir_in(parent)?;
    for f in files {
        let name = f
            .file_name()
            .ok_or_else(|| io::Error::other(format!("{} has no file name", f.display())))?;
        set_mode(f, modes.file)?;
        put(f, &tmp.path().join(name))?;
    }
    // A temporary directory is private (0700).
    set_mode(tmp.path(), modes.dir)?;
    File::open(tmp.path())?.sync_all()?;
    before_rename();
    rename_noreplace(tmp.path(), dest)?;
    // Renamed: there is nothing left at the temporary path to clean up.
    let _ = tmp.keep();
    // Delivered. What follows is housekeeping: a failure is logged, never turned into a
    // failure event for a recording that is in place.
    settle(parent, files);
    Ok(())
}

/// After a delivery: make the directory entry durable and let the work side go.
fn settle(dir: &Path, sources: &[PathBuf]) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(
            dir = crate::logs::field(dir.display()),
            error = crate::logs::field(&e),
            "Could not fsync the output directory after delivering."
        );
    }
    for src in sources {
        if let Err(e) = fs::remove_file(src) {
            tracing::warn!(
                path = crate::logs::field(src.display()),
                error = crate::logs::field(&e),
                "Could not remove a delivered file's work copy."
            );
        }
    }
}

/// rename(2) that fails with `AlreadyExists` instead of replacing `to`.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::other("a path contains a NUL byte"))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths that live across the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Size and SHA-256 of a file, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    pub bytes: u64,
    pub sha256: String,
}

pub fn digest(path: &Path) -> io::Result<Digested> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let sha256 = format!("{:x}", hasher.finalize());
    Ok(Digested { bytes, sha256 })
}

/// Moves `src` to `dest` atomically, with `modes.file`; fails with `AlreadyExists` if `dest`
/// exists, leaving `src` where it was.
pub(crate) fn place(src: &Path, dest: &Path, modes: Modes) -> io::Result<()> {
    set_mode(src, modes.file)?;
    put(src, dest)?;
    let dir = dest
        .parent()
        .ok_or_else(|| io::Error::other("destination has no directory"))?;
    settle(dir, &[src.to_owned()]);
    Ok(())
}

/// Makes `dest` hold `src`'s bytes, durably, without replacing anything: a hard link on the
/// same filesystem, else a copy. `src` stays; callers unlink it once the delivery is final.
fn put(src: &Path, dest: &Path) -> io::Result<()> {
    let dir = dest
        .parent()
        .ok_or_else(|| io::Error::other("destination has no directory"))?;
    // A link shares the inode: make its data durable before it becomes visible.
    File::open(src)?.sync_all()?;
    match fs::hard_link(src, dest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(e)
            if e.raw_os_error() == Some(libc::EXDEV) || e.raw_os_error() == Some(libc::EPERM) =>
        {
            copy_into(dir, src, dest)
        }
        Err(e) => Err(e),
    }
}

/// The other filesystem's way: copy to a hidden temporary name in `dir` (beside `dest`),
/// fsync, then rename without replacing. The temporary file is removed if anything fails.
fn copy_into(dir: &Path, src: &Path, dest: &Path) -> io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".recproc-")
        .suffix(".partial")
        .tempfile_in(dir)?;
    io::copy(&mut File::open(src)?, tmp.as_file_mut())?;
    // A temporary file is private (0600); the recording gets the mode its source was given,
    // as a link on the same filesystem would.
    tmp.as_file()
        .set_permissions(fs::metadata(src)?.permissions())?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(dest).map_err(|e| e.error)?;
    Ok(())
}

/// Removes what deliveries cut short by a crash left in `output_dir`: hidden
/// `.recproc-*.partial` files and directories older than `older_than` (a delivery still
/// under way in another instance is far younger). Returns what was removed.
pub(crate) fn sweep_partials(output_dir: &Path, older_than: std::time::Duration) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(output_dir) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(".recproc-") && name.ends_with(".partial")) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > older_than);
        if !old {
            continue;
        }
        let path = entry.path();
        let gone = if meta.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if gone.is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_or_failed_placement_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::write(&src, b"x").unwrap();
        let to = dir.path().join("taken");
        fs::write(&to, b"theirs").unwrap();
        let e = place_as_planned(
            Placement::File {
                from: src.clone(),
                to: to.clone(),
            },
            Modes::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{} already exists: recproc never overwrites a delivered recording (move it away to process this event again)", to.display())
        );
        let to = dir.path().join("no/such/dir/file");
        let e = place_as_planned(
            Placement::File {
                from: src,
                to: to.clone(),
            },
            Modes::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot deliver to {}: No such file or directory (os error 2)",
                to.display()
            )
        );
        assert_eq!(e.blame(), crate::pipeline::Blame::System);
    }

    #[test]
    fn digest_of_known_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        fs::write(&p, b"abc").unwrap();
        let d = digest(&p).unwrap();
        assert_eq!(d.bytes, 3);
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn place_puts_the_whole_file_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(&src, b"recording").unwrap();
        let dest = out.join("final.webm");
        place(&src, &dest, Modes::default()).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"recording");
        // Moved, not shared: rewriting the work path cannot touch the delivered file.
        assert!(!src.exists());
        fs::write(&src, b"rewritten by a later run").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"recording");
        fs::write(dir.path().join("other"), b"different").unwrap();
        let e = place(&dir.path().join("other"), &dest, Modes::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert!(
            dir.path().join("other").exists(),
            "a refused move keeps its source"
        );
        assert_eq!(fs::read(&dest).unwrap(), b"recording");
        // Nothing half-written is left beside it.
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
    }

    fn stage(dir: &Path, files: &[(&str, &[u8])]) -> Vec<PathBuf> {
        fs::create_dir_all(dir).unwrap();
        files
            .iter()
            .map(|(name, bytes)| {
                let p = dir.join(name);
                fs::write(&p, bytes).unwrap();
                p
            })
            .collect()
    }

    #[test]
    fn a_directory_arrives_whole_and_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join("staged");
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        let files = stage(&staged, &[("a.wav", b"audio"), ("b.webm", b"video")]);
        let dest = out.join("uuid-conf");
        place_dir(&files, &dest, Modes::default()).unwrap();
        assert_eq!(fs::read(dest.join("a.wav")).unwrap(), b"audio");
        assert_eq!(fs::read(dest.join("b.webm")).unwrap(), b"video");
        // Only the final directory is in the output: no temporary one left.
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
        // Moved out of staging: nothing delivered shares an inode with the work side.
        assert!(files.iter().all(|f| !f.exists()));
        // A second delivery to the same place is refused, changes nothing, keeps its files.
        let again = stage(&staged, &[("a.wav", b"other")]);
        let e = place_dir(&again, &dest, Modes::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(dest.join("a.wav")).unwrap(), b"audio");
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
        assert_eq!(fs::read(&again[0]).unwrap(), b"other");
    }

    #[test]
    fn a_missing_staged_file_fails_the_delivery_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        let mut files = stage(&dir.path().join("staged"), &[("a.wav", b"audio")]);
        files.push(dir.path().join("staged/gone.webm"));
        assert!(place_dir(&files, &out.join("uuid-conf"), Modes::default()).is_err());
        assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
        assert_eq!(fs::read(&files[0]).unwrap(), b"audio");
    }

    #[test]
    fn losing_the_race_for_the_name_keeps_the_staged_files_whole() {
        // Another instance creates the directory between the check and the rename.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        let files = stage(&dir.path().join("staged"), &[("a.wav", b"audio")]);
        let dest = out.join("uuid-conf");
        let e = place_dir_with(&files, &dest, Modes::default(), || {
            fs::create_dir(&dest).unwrap();
            fs::write(dest.join("x"), b"someone else's").unwrap();
        })
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&files[0]).unwrap(), b"audio");
        assert_eq!(fs::read(dest.join("x")).unwrap(), b"someone else's");
        assert_eq!(
            fs::read_dir(&out).unwrap().count(),
            1,
            "no temporary directory left"
        );
    }

    #[test]
    fn the_copy_path_is_whole_or_nothing_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(&src, vec![7u8; 300_000]).unwrap();
        let dest = out.join("final.webm");
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&src, fs::Permissions::from_mode(0o644)).unwrap();
        copy_into(&out, &src, &dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), vec![7u8; 300_000]);
        // The copy has the source's mode, not a temporary file's private 0600.
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o644
        );
        fs::write(&src, b"another").unwrap();
        let e = copy_into(&out, &src, &dest).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&dest).unwrap().len(), 300_000);
        // The refused copy left no temporary file behind.
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
        // Nor does a source that cannot be read.
        let missing = dir.path().join("missing");
        assert!(copy_into(&out, &missing, &out.join("x")).is_err());
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
    }

    #[test]
    fn only_old_leftovers_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join(".recproc-abc.partial")).unwrap();
        std::fs::write(d.join(".recproc-abc.partial/x.webm"), b"x").unwrap();
        std::fs::write(d.join(".recproc-def.partial"), b"y").unwrap();
        std::fs::write(d.join("recording.webm"), b"keep").unwrap();
        std::fs::create_dir(d.join(".recproc")).unwrap();
        // Young: a delivery may be under way.
        assert!(sweep_partials(d, std::time::Duration::from_secs(3600)).is_empty());
        let mut removed = sweep_partials(d, std::time::Duration::ZERO);
        removed.sort();
        assert_eq!(
            removed,
            vec![
                d.join(".recproc-abc.partial"),
                d.join(".recproc-def.partial")
            ]
        );
        assert!(d.join("recording.webm").exists() && d.join(".recproc").exists());
    }

    #[test]
    fn delivered_files_and_directories_get_the_configured_modes() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        fs::create_dir(&work).unwrap();
        let src = work.join("a.webm");
        fs::write(&src, b"a").unwrap();
        set_mode(&src, 0o600).unwrap();
        let dest = dir.path().join("a.webm");
        place(&src, &dest, Modes::default()).unwrap();
        assert_eq!(mode(&dest), 0o640);

        let files: Vec<PathBuf> = ["x.wav", "y.json"]
            .iter()
            .map(|n| {
                let p = work.join(n);
                fs::write(&p, n.as_bytes()).unwrap();
                p
            })
            .collect();
        let split = dir.path().join("uuid-conf");
        let modes = Modes {
            file: 0o604,
            dir: 0o711,
        };
        place_dir(&files, &split, modes).unwrap();
        assert_eq!(mode(&split), 0o711);
        assert_eq!(mode(&split.join("x.wav")), 0o604);
        assert_eq!(mode(&split.join("y.json")), 0o604);
    }
}
