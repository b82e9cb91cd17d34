//! What recproc has delivered, and which instance is working on which conference: a small
//! state directory, `output_dir/.recproc/`, shared by every instance that delivers there (so
//! no instance keeps state another would need).
//!
//! - `<job>.lock` is held (`flock`) by the instance processing that conference. The kernel
//!   drops it when the holder dies, even by SIGKILL, so it never goes stale. A second
//!   delivery of the same conference waits for it instead of rendering in parallel.
//! - `<job>.json` is the receipt: the processed event, and the digest of the event it
//!   answers. It is written twice: before the files are moved in (so a crash between the two
//!   can never leave a delivered recording without its receipt), and marked `placed` right
//!   after. A placed receipt proves the conference was delivered even once downstream has
//!   taken the files away; an unplaced one only when every file is in place with its sha256.
//!   Either way a redelivered event gets the same processed event again and nothing is
//!   rendered.
//! - `<job>.attempts` counts the attempts at the conference that failed for system reasons,
//!   written under its lock ([`Claim`]), so every instance agrees; it goes once the
//!   conference is answered.
//! - `<sha256>.original` is a message kept whole because it would make its failure event
//!   too large to publish; the failure event names it.
//! - A conference's files go after `daemon.state_retention_days` ([`Ledger::prune`]) when
//!   none changed for that long and nobody holds its lock, which the pruning takes while it
//!   removes them (kept originals stay: a failure event may still name one). A claim that finds its lock file removed under it takes the new
//!   one instead, so a pruned lock never lets two instances work on one conference.
//!
//! The directory is opened once per job without following a symbolic link, and every file
//! in it is opened relative to that descriptor, again without following one (`openat` with
//! `O_NOFOLLOW`), and written whole: a temporary file in the same directory, renamed over
//! the old one. A symbolic link (or anything but a regular file) found there is an error that
//! names it: recproc makes none, so someone else did, and it never writes through one.

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, Mode, OFlags, CWD};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::pipeline::deliver;
use crate::report::{FileEntry, Processed};

/// The state directory's name inside `output_dir`.
pub const STATE_DIR: &str = ".recproc";

/// How often a waiting instance tries the lock again.
const LOCK_POLL: Duration = Duration::from_millis(500);

/// Permissions of what recproc creates here, before the umask (as `std::fs` creates them).
const FILE_MODE: u32 = 0o666;
const DIR_MODE: u32 = 0o777;

/// The state directory of one output directory, open.
#[derive(Debug, Clone)]
pub struct Ledger {
    dir: PathBuf,
    /// The directory itself: every file is opened relative to it.
    fd: Arc<OwnedFd>,
}

/// The lock on one job, held until dropped. What is counted for the job is counted under it.
#[derive(Debug)]
pub(crate) struct Claim {
    _file: File,
    ledger: Ledger,
    job: String,
}

/// What one job delivered (or is about to).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Receipt {
    /// [`event_digest`] of the event this answers.
    pub event_sha256: String,
    /// The processed event, as published.
    pub processed: Processed,
    /// The files were moved into the output directory.
    #[serde(default)]
    pub placed: bool,
}

/// What a receipt says about the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// None of the receipt's files is in place: the job has to run (again).
    NotDelivered,
    /// Every file is in place, byte for byte, for this very event.
    Delivered,
    /// The output directory disagrees with the receipt (a file missing or different, or a
    /// different event delivered under the same conference): a person has to look.
    Conflict(String),
}

/// A message kept whole in the state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kept {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
}

/// A digest of an event's content that ignores formatting and key order.
pub(crate) fn event_digest(event: &serde_json::Value) -> String {
    // serde_json's map is ordered by key, so this serialisation is canonical.
    let text = serde_json::to_vec(event).expect("a JSON value serialises");
    format!("{:x}", Sha256::digest(text))
}

/// The error for something in the state directory recproc did not put there: it is not
/// followed, written or removed, and an operator has to look.
fn not_ours(path: &Path, what: &str) -> io::Error {
    io::Error::other(format!(
        "{} is {what}; recproc's state directory holds only regular files recproc made, so someone else put it there: look at it and remove it (recproc neither follows nor replaces it)",
        path.display()
    ))
}

impl Ledger {
    /// The ledger of `output_dir`, created when missing. A state directory that is a
    /// symbolic link is refused.
    pub fn open(output_dir: &Path) -> io::Result<Ledger> {
        let dir = output_dir.join(STATE_DIR);
        match rustix::fs::mkdirat(CWD, &dir, Mode::from_raw_mode(DIR_MODE)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(CWD, &dir, flags, Mode::empty()).map_err(|e| {
            // O_NOFOLLOW answers ELOOP for a link (ENOTDIR on some kernels, with O_DIRECTORY).
            let link = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink());
            match e {
                Errno::LOOP | Errno::NOTDIR if link => not_ours(&dir, "a symbolic link"),
                e => e.into(),
            }
        })?;
        Ok(Ledger {
            dir,
            fd: Arc::new(fd),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the state file `name` is.
    pub(crate) fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn receipt_path(&self, job: &str) -> PathBuf {
        self.path_of(&receipt_name(job))
    }

    /// Opens the state file `name` (never through a symbolic link, never anything but a
    /// regular file; `O_NONBLOCK`, so a FIFO put there cannot hang the job).
    fn open_file(&self, name: &str, flags: OFlags) -> io::Result<File> {
        debug_assert!(!name.contains('/') && !name.starts_with(".."), "{name}");
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let path = || self.path_of(name);
        let fd = rustix::fs::openat(&*self.fd, name, flags, Mode::from_raw_mode(FILE_MODE))
            .map_err(|e| match e {
                Errno::LOOP => not_ours(&path(), "a symbolic link"),
                e => e.into(),
            })?;
        let file = File::from(fd);
        if !file.metadata()?.is_file() {
            return Err(not_ours(&path(), "not a regular file"));
        }
        Ok(file)
    }

    /// The content of the state file `name`; `None` when there is none.
    fn read_file(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        let mut file = match self.open_file(name, OFlags::RDONLY) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    /// Writes the state file `name` whole: a new temporary file beside it, fsynced, renamed
    /// over it, and the directory fsynced. What was at `name` is replaced, never written
    /// through.
    fn replace(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let (temp, mut file) = self.create_temp(name)?;
        let written = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .and_then(|()| Ok(rustix::fs::renameat(&*self.fd, &temp, &*self.fd, name)?))
            .and_then(|()| Ok(rustix::fs::fsync(&*self.fd)?));
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&*self.fd, &temp, AtFlags::empty());
        }
        written
    }

    /// A new, empty temporary file for `name` (`O_EXCL`: nothing that is already there is
    /// opened, a link no more than a file).
    fn create_temp(&self, name: &str) -> io::Result<(String, File)> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL;
        let mut tries = 0;
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let temp = format!(".{name}.{}-{n}.tmp", std::process::id());
            match self.open_file(&temp, flags) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 100 => tries += 1,
                opened => return opened.map(|file| (temp, file)),
            }
        }
    }

    /// Removes the state file `name`, if there is one (a link is removed, not followed).
    fn remove_file(&self, name: &str) -> io::Result<()> {
        match rustix::fs::unlinkat(&*self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes the job's lock, waiting while another instance (or another delivery in this
    /// one) holds it. `waiting` is called once if it has to wait.
    pub(crate) async fn claim(&self, job: &str, waiting: impl FnOnce()) -> io::Result<Claim> {
        let name = format!("{job}.lock");
        let mut waiting = Some(waiting);
        loop {
            let file = self.open_file(&name, OFlags::RDWR | OFlags::CREATE)?;
            loop {
                match file.try_lock() {
                    Ok(()) => break,
                    Err(std::fs::TryLockError::WouldBlock) => {
                        if let Some(f) = waiting.take() {
                            f();
                        }
                        tokio::time::sleep(LOCK_POLL).await;
                    }
                    Err(std::fs::TryLockError::Error(e)) => return Err(e),
                }
            }
            // Pruning removes a lock file while it holds it: the file opened before that is
            // no lock any more, and whoever opens the name now gets another. Take that one.
            if self.is_current(&name, &file)? {
                return Ok(Claim {
                    _file: file,
                    ledger: self.clone(),
                    job: job.to_owned(),
                });
            }
        }
    }

    /// Whether `file` is still the state file `name` (not removed or replaced since it was
    /// opened).
    fn is_current(&self, name: &str, file: &File) -> io::Result<bool> {
        use std::os::unix::fs::MetadataExt as _;
        let open = file.metadata()?;
        match rustix::fs::statat(&*self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(st.st_dev == open.dev() && st.st_ino == open.ino()),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes what no conference needs any more: every state file of a conference none of
    /// whose files changed for `older_than` (its receipt, its count of attempts, its lock,
    /// taken first: a conference in progress holds it and is left alone; and under it the
    /// files' times are read again, so one written since the listing stays). Kept originals
    /// stay: a failure event may still name one. Files recproc does not know are left. Returns
    /// the names removed, and what could not be looked at (that conference is left).
    pub fn prune(&self, older_than: Duration) -> io::Result<(Vec<String>, Vec<String>)> {
        let cutoff = SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(std::time::UNIX_EPOCH);
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            // Gone since it was listed (a temporary file renamed): nothing to prune.
            let Ok(meta) = entry.and_then(|e| Ok((e.file_name(), e.metadata()?))) else {
                continue;
            };
            if meta.1.is_file() {
                files.push((meta.0.to_string_lossy().into_owned(), meta.1.modified()?));
            }
        }
        let mut removed = Vec::new();
        let mut skipped = Vec::new();
        for job in prunable(&files, cutoff) {
            match self.prune_job(&job, cutoff) {
                Ok(names) => removed.extend(names),
                Err(e) => skipped.push(format!("{job}: {e}")),
            }
        }
        Ok((removed, skipped))
    }

    /// Removes `job`'s state files if nobody holds its lock and none of them changed since
    /// `cutoff`; the names removed.
    fn prune_job(&self, job: &str, cutoff: SystemTime) -> io::Result<Vec<String>> {
        let lock_name = format!("{job}.lock");
        let lock = self.open_file(&lock_name, OFlags::RDWR | OFlags::CREATE)?;
        match lock.try_lock() {
            Ok(()) => {}
            // In progress: its files are its own.
            Err(std::fs::TryLockError::WouldBlock) => return Ok(Vec::new()),
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        if !self.is_current(&lock_name, &lock)? {
            return Ok(Vec::new());
        }
        let others = [receipt_name(job), attempts_name(job)];
        let mut present = Vec::new();
        for name in &others {
            match rustix::fs::statat(&*self.fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => {
                    let changed = std::time::UNIX_EPOCH
                        + Duration::new(st.st_mtime as u64, st.st_mtime_nsec as u32);
                    if changed >= cutoff {
                        return Ok(Vec::new()); // written since the listing
                    }
                    present.push(name.clone());
                }
                Err(Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
        for name in &present {
            self.remove_file(name)?;
        }
        // Last, while it is held: a claim waiting on it takes the next one.
        self.remove_file(&lock_name)?;
        present.push(lock_name);
        Ok(present)
    }

    /// The job's receipt, if one was written.
    pub(crate) fn read(&self, job: &str) -> io::Result<Option<Receipt>> {
        let Some(text) = self.read_file(&receipt_name(job))? else {
            return Ok(None);
        };
        serde_json::from_slice(&text).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "receipt {} is not valid: {e}",
                    self.receipt_path(job).display()
                ),
            )
        })
    }

    /// Writes the job's receipt whole.
    pub(crate) fn write(&self, job: &str, receipt: &Receipt) -> io::Result<()> {
        let mut text = serde_json::to_vec_pretty(receipt).map_err(io::Error::other)?;
        text.push(b'\n');
        self.replace(&receipt_name(job), &text)
    }

    /// Marks the job's receipt placed: its files are delivered.
    pub(crate) fn mark_placed(&self, job: &str, mut receipt: Receipt) -> io::Result<()> {
        receipt.placed = true;
        self.write(job, &receipt)
    }

    /// Forgets the job's receipt (its delivery did not happen).
    pub(crate) fn remove(&self, job: &str) -> io::Result<()> {
        self.remove_file(&receipt_name(job))
    }

    /// Forgets the attempts counted for `job` (it was answered). Without its lock: a
    /// removal is atomic, and nothing else works on an answered conference.
    pub(crate) fn forget_attempts(&self, job: &str) -> io::Result<()> {
        self.remove_file(&attempts_name(job))
    }

    /// Keeps `message` whole, named by its sha256 (the same message is kept once).
    pub(crate) fn keep_original(&self, message: &[u8]) -> io::Result<Kept> {
        let sha256 = format!("{:x}", Sha256::digest(message));
        let name = format!("{sha256}.original");
        self.replace(&name, message)?;
        Ok(Kept {
            path: self.path_of(&name),
            bytes: message.len() as u64,
            sha256,
        })
    }
}

/// Of the state files `files` (name, last change), the conferences all of whose files last
/// changed before `cutoff`.
fn prunable(files: &[(String, SystemTime)], cutoff: SystemTime) -> Vec<String> {
    let mut newest: std::collections::BTreeMap<&str, SystemTime> = Default::default();
    for (name, changed) in files {
        if name.starts_with('.') {
            continue; // a temporary file of a write in progress
        }
        let job = [".json", ".attempts", ".lock"]
            .iter()
            .find_map(|ext| name.strip_suffix(ext));
        if let Some(job) = job {
            let last = newest.entry(job).or_insert(*changed);
            *last = (*last).max(*changed);
        }
    }
    newest
        .into_iter()
        .filter(|(_, last)| *last < cutoff)
        .map(|(job, _)| job.to_owned())
        .collect()
}

fn receipt_name(job: &str) -> String {
    format!("{job}.json")
}

fn attempts_name(job: &str) -> String {
    format!("{job}.attempts")
}

impl Claim {
    /// The ledger the lock is in.
    pub(crate) fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The job it locks.
    pub(crate) fn job(&self) -> &str {
        &self.job
    }

    /// Counts one more attempt at the job that failed for system reasons; how many have,
    /// this one included.
    pub(crate) fn count_failed_attempt(&self) -> io::Result<u32> {
        let name = attempts_name(&self.job);
        let before = match self.ledger.read_file(&name)? {
            None => 0,
            Some(text) => std::str::from_utf8(&text)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} does not hold a count of attempts; remove it",
                            self.ledger.path_of(&name).display()
                        ),
                    )
                })?,
        };
        let now = before.saturating_add(1);
        self.ledger.replace(&name, format!("{now}\n").as_bytes())?;
        Ok(now)
    }

    /// Forgets the attempts counted for the job: it is answered.
    pub(crate) fn forget_attempts(&self) -> io::Result<()> {
        self.ledger.forget_attempts(&self.job)
    }
}

/// Compares a receipt with the output directory: every listed file there is read and hashed.
pub(crate) fn check(receipt: &Receipt, event_sha256: &str) -> io::Result<Delivery> {
    let files = &receipt.processed.files;
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for f in files {
        match std::fs::metadata(&f.path) {
            Ok(_) => present.push(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(f),
            Err(e) => return Err(e),
        }
    }
    if present.is_empty() && !files.is_empty() && !receipt.placed {
        return Ok(Delivery::NotDelivered);
    }
    // Once placed, files may leave: downstream takes them.
    if let Some(f) = missing.first().filter(|_| !receipt.placed) {
        return Ok(Delivery::Conflict(format!(
            "{} of the delivered files are gone (first: {}), the others are still there",
            missing.len(),
            f.path
        )));
    }
    for f in present {
        if let Some(why) = changed(f)? {
            return Ok(Delivery::Conflict(why));
        }
    }
    if receipt.event_sha256 != event_sha256 {
        return Ok(Delivery::Conflict(
            "a different event for the same conference and uuid was already delivered".into(),
        ));
    }
    Ok(Delivery::Delivered)
}

/// Why the file at `f`'s path is not the one delivered, if it is not.
fn changed(f: &FileEntry) -> io::Result<Option<String>> {
    let d = deliver::digest(Path::new(&f.path))?;
    if d.sha256 == f.sha256 && d.bytes == f.bytes {
        return Ok(None);
    }
    Ok(Some(format!(
        "{} is not the file recproc delivered (sha256 {}, expected {})",
        f.path, d.sha256, f.sha256
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(dir: &Path, names: &[(&str, &[u8])], event: &str) -> Receipt {
        let files = names
            .iter()
            .map(|(name, content)| FileEntry {
                path: dir.join(name).display().to_string(),
                kind: deliver::FileKind::Merged,
                bytes: content.len() as u64,
                sha256: format!("{:x}", Sha256::digest(content)),
            })
            .collect();
        Receipt {
            event_sha256: event.into(),
            processed: Processed::for_tests(files),
            placed: false,
        }
    }

    #[test]
    fn the_digest_ignores_key_order_and_spacing() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a": 1, "b": [1, 2]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{ "b":[1,2],"a":1 }"#).unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"a": 2, "b": [1, 2]}"#).unwrap();
        assert_eq!(event_digest(&a), event_digest(&b));
        assert_ne!(event_digest(&a), event_digest(&c));
    }

    #[test]
    fn a_receipt_proves_delivery_only_when_every_file_matches() {
        let dir = tempfile::tempdir().unwrap();
        let r = receipt(dir.path(), &[("a.webm", b"aaa"), ("b.json", b"{}")], "E");
        assert_eq!(check(&r, "E").unwrap(), Delivery::NotDelivered);

        std::fs::write(dir.path().join("a.webm"), b"aaa").unwrap();
        let Delivery::Conflict(why) = check(&r, "E").unwrap() else {
            panic!("one of two files is a conflict");
        };
        assert!(why.contains("b.json"), "{why}");

        std::fs::write(dir.path().join("b.json"), b"{}").unwrap();
        assert_eq!(check(&r, "E").unwrap(), Delivery::Delivered);
        let Delivery::Conflict(why) = check(&r, "other event").unwrap() else {
            panic!("a different event is a conflict");
        };
        assert!(why.contains("different event"), "{why}");

        std::fs::write(dir.path().join("a.webm"), b"aab").unwrap();
        let Delivery::Conflict(why) = check(&r, "E").unwrap() else {
            panic!("a changed file is a conflict");
        };
        assert!(why.contains("a.webm"), "{why}");
    }

    #[test]
    fn a_placed_receipt_survives_downstream_taking_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = receipt(dir.path(), &[("a.webm", b"aaa"), ("b.json", b"{}")], "E");
        r.placed = true;
        // Both taken away, or one of them: still delivered.
        assert_eq!(check(&r, "E").unwrap(), Delivery::Delivered);
        std::fs::write(dir.path().join("a.webm"), b"aaa").unwrap();
        assert_eq!(check(&r, "E").unwrap(), Delivery::Delivered);
        // But a file there that is not ours is still a conflict.
        std::fs::write(dir.path().join("a.webm"), b"zzz").unwrap();
        assert!(matches!(check(&r, "E").unwrap(), Delivery::Conflict(_)));
        std::fs::remove_file(dir.path().join("a.webm")).unwrap();
        assert!(matches!(check(&r, "other").unwrap(), Delivery::Conflict(_)));
    }

    #[test]
    fn nothing_recorded_is_delivered_trivially() {
        let r = receipt(Path::new("/nowhere"), &[], "E");
        assert_eq!(check(&r, "E").unwrap(), Delivery::Delivered);
    }

    #[test]
    fn a_receipt_of_the_previous_version_reads_and_a_malformed_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        // As the previous version wrote it: the processed event with its keys sorted.
        let old = r#"{
  "event_sha256": "E",
  "processed": {"audio": null, "conferenceId": "c", "directory": null, "encrypted": false,
    "filename": "/o/r.webm", "files": [{"bytes": 3, "kind": "merged", "path": "/o/r.webm",
    "sha256": "ab"}], "mode": "merged", "modeReason": "configured",
    "shouldRecordAudio": true, "shouldRecordVideo": true, "skipped": [], "startTime": null,
    "status": "processed", "stopTime": null, "uuid": "u", "videos": []},
  "placed": true
}
"#;
        std::fs::write(ledger.receipt_path("job"), old).unwrap();
        let r = ledger.read("job").unwrap().unwrap();
        assert!(r.placed);
        assert_eq!(r.processed.files[0].path, "/o/r.webm");
        assert_eq!(r.processed.files[0].bytes, 3);
        // A file entry that does not parse is not skipped: the receipt is refused, by name.
        let bad = old.replace(r#""bytes": 3"#, r#""bytes": "3""#);
        std::fs::write(ledger.receipt_path("job"), bad).unwrap();
        let e = ledger.read("job").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let named = format!(
            "receipt {} is not valid: ",
            ledger.receipt_path("job").display()
        );
        assert!(e.to_string().starts_with(&named), "{e}");
    }

    #[test]
    fn receipts_round_trip_and_can_be_removed() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        assert_eq!(ledger.read("job").unwrap(), None);
        let r = receipt(dir.path(), &[("a", b"x")], "E");
        ledger.write("job", &r).unwrap();
        assert_eq!(ledger.read("job").unwrap(), Some(r.clone()));
        ledger.mark_placed("job", r.clone()).unwrap();
        assert!(ledger.read("job").unwrap().unwrap().placed);
        ledger.remove("job").unwrap();
        ledger.remove("job").unwrap();
        assert_eq!(ledger.read("job").unwrap(), None);
        assert!(dir.path().join(STATE_DIR).is_dir());
    }

    /// The state directory's entries, sorted.
    /// Dates the state file `name` `days` back.
    fn age(ledger: &Ledger, name: &str, days: u64) {
        let file = std::fs::File::options()
            .write(true)
            .open(ledger.dir().join(name))
            .unwrap();
        let then = SystemTime::now() - Duration::from_secs(days * 86_400);
        file.set_modified(then).unwrap();
    }

    #[test]
    fn a_conference_is_prunable_when_none_of_its_files_changed_since_the_cutoff() {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let files: Vec<(String, SystemTime)> = [
            ("old.json", 40),
            ("old.lock", 40),
            ("old.attempts", 35),
            ("mixed.json", 40),
            ("mixed.lock", 1),
            ("new.json", 2),
            ("abc.original", 31),
            ("def.original", 3),
            (".old.json.1-2.tmp", 90),
            ("notes.txt", 90),
        ]
        .iter()
        .map(|(n, d)| (n.to_string(), now - day * *d))
        .collect();
        assert_eq!(prunable(&files, now - day * 30), ["old"]);
    }

    #[tokio::test]
    async fn pruning_leaves_a_conference_in_progress_and_what_is_recent() {
        let out = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(out.path()).unwrap();
        let r = receipt(out.path(), &[], "e");
        for job in ["done", "running", "recent"] {
            ledger.write(job, &r).unwrap();
        }
        drop(ledger.claim("done", || {}).await.unwrap());
        let running = ledger.claim("running", || {}).await.unwrap();
        let kept = ledger.keep_original(b"a big message").unwrap();
        for name in ["done.json", "done.lock", "running.json", "running.lock"] {
            age(&ledger, name, 40);
        }
        age(
            &ledger,
            kept.path.file_name().unwrap().to_str().unwrap(),
            40,
        );
        let (mut removed, skipped) = ledger.prune(Duration::from_secs(30 * 86_400)).unwrap();
        removed.sort();
        assert_eq!(removed, ["done.json", "done.lock"]);
        assert!(skipped.is_empty(), "{skipped:?}");
        let original = format!("{}.original", kept.sha256);
        assert_eq!(
            entries(&ledger),
            [&original, "recent.json", "running.json", "running.lock"]
        );
        drop(running);
        // Once it is done, it goes too; a receipt of no lock leaves no lock behind.
        age(&ledger, "running.json", 40);
        age(&ledger, "recent.json", 40);
        ledger.prune(Duration::from_secs(30 * 86_400)).unwrap();
        assert_eq!(entries(&ledger), [original]);
    }

    #[tokio::test]
    async fn a_claim_waiting_on_a_lock_file_that_pruning_removes_takes_the_new_one() {
        let out = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(out.path()).unwrap();
        // Pruning holds the lock; a delivery of the same conference waits on that file.
        let pruning = ledger.claim("job", || {}).await.unwrap();
        let (waits, waiting) = tokio::sync::oneshot::channel();
        let other = ledger.clone();
        let claimed = tokio::spawn(async move {
            let mut waits = Some(waits);
            other
                .claim("job", move || {
                    let _ = waits.take().map(|w| w.send(()));
                })
                .await
                .unwrap()
        });
        waiting.await.unwrap();
        // It removes the file, then lets go; the waiting claim's lock is no lock any more.
        ledger.remove_file("job.lock").unwrap();
        drop(pruning);
        let claim = tokio::time::timeout(Duration::from_secs(10), claimed)
            .await
            .unwrap()
            .unwrap();
        // The claim holds the lock file that is there now: nobody else can take it.
        let current = ledger.open_file("job.lock", OFlags::RDWR).unwrap();
        assert!(matches!(
            current.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(claim);
        assert!(current.try_lock().is_ok());
    }

    fn entries(ledger: &Ledger) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(ledger.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_planted_link_is_named_and_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        let link = |name: &str, target: &Path| {
            std::os::unix::fs::symlink(target, ledger.dir().join(name)).unwrap();
            ledger.dir().join(name)
        };
        let says_link = |e: &io::Error, path: &Path| {
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("{} is a symbolic link; ", path.display())),
                "{text}"
            );
            assert!(text.contains("look at it and remove it"), "{text}");
        };

        // The lock: nothing is created where the link points.
        let target = outside.path().join("created-by-recproc");
        let lock = link("job.lock", &target);
        let e = ledger.claim("job", || panic!("no wait")).await.unwrap_err();
        says_link(&e, &lock);
        assert!(!target.exists(), "a file was created through the link");

        // The receipt: not read through, and a write replaces the link, not its target.
        let secret = outside.path().join("secret");
        std::fs::write(&secret, b"not recproc's").unwrap();
        let receipt_link = link("job.json", &secret);
        says_link(&ledger.read("job").unwrap_err(), &receipt_link);
        let r = receipt(dir.path(), &[("a", b"x")], "E");
        ledger.write("job", &r).unwrap();
        assert_eq!(std::fs::read(&secret).unwrap(), b"not recproc's");
        assert!(!std::fs::symlink_metadata(&receipt_link)
            .unwrap()
            .is_symlink());
        assert_eq!(ledger.read("job").unwrap(), Some(r));

        // The count of attempts: not read through either.
        let attempts = link("other.attempts", &secret);
        std::fs::remove_file(&lock).unwrap();
        let other = ledger.claim("other", || panic!("free")).await.unwrap();
        says_link(&other.count_failed_attempt().unwrap_err(), &attempts);
        assert_eq!(std::fs::read(&secret).unwrap(), b"not recproc's");
    }

    #[test]
    fn a_state_directory_that_is_a_link_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(STATE_DIR)).unwrap();
        let e = Ledger::open(dir.path()).unwrap_err();
        let named = format!(
            "{} is a symbolic link; ",
            dir.path().join(STATE_DIR).display()
        );
        assert!(e.to_string().starts_with(&named), "{e}");
        // A file in its way is not a directory (and nothing more is said about it).
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_DIR), b"in the way").unwrap();
        let e = Ledger::open(dir.path()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR), "{e}");
    }

    #[tokio::test]
    async fn a_fifo_in_place_of_a_state_file_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        let fifo = ledger.dir().join("job.json");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let read = tokio::task::spawn_blocking(move || ledger.read("job"));
        let e = tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("a FIFO does not hang the job")
            .unwrap()
            .unwrap_err();
        assert_eq!(
            e.to_string().split(';').next().unwrap(),
            format!("{} is not a regular file", fifo.display())
        );
    }

    #[tokio::test]
    async fn failed_attempts_are_counted_under_the_lock_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        let claim = ledger.claim("job", || panic!("free")).await.unwrap();
        assert_eq!(claim.count_failed_attempt().unwrap(), 1);
        assert_eq!(claim.count_failed_attempt().unwrap(), 2);
        drop(claim);
        // Another instance (another ledger on the same directory) goes on from there.
        let again = Ledger::open(dir.path()).unwrap();
        let claim = again.claim("job", || panic!("free")).await.unwrap();
        assert_eq!(claim.count_failed_attempt().unwrap(), 3);
        assert_eq!(
            std::fs::read_to_string(ledger.dir().join("job.attempts")).unwrap(),
            "3\n"
        );
        claim.forget_attempts().unwrap();
        claim.forget_attempts().unwrap();
        assert_eq!(claim.count_failed_attempt().unwrap(), 1);
        ledger.forget_attempts("job").unwrap();
        assert_eq!(entries(&ledger), ["job.lock"], "no temporary file is left");
        // A count someone else wrote is refused by name, not taken for zero.
        std::fs::write(ledger.dir().join("job.attempts"), b"many").unwrap();
        let e = claim.count_failed_attempt().unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{} does not hold a count of attempts; remove it",
                ledger.dir().join("job.attempts").display()
            )
        );
    }

    #[test]
    fn an_original_is_kept_whole_by_its_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        let message = b"\x01\x02 not json \xff";
        let kept = ledger.keep_original(message).unwrap();
        let sha256 = format!("{:x}", Sha256::digest(message));
        assert_eq!(
            kept,
            Kept {
                path: ledger.dir().join(format!("{sha256}.original")),
                bytes: message.len() as u64,
                sha256: sha256.clone(),
            }
        );
        assert_eq!(std::fs::read(&kept.path).unwrap(), message);
        // The same message again: the same file, once.
        assert_eq!(ledger.keep_original(message).unwrap(), kept);
        assert_eq!(entries(&ledger), [format!("{sha256}.original")]);
    }

    #[tokio::test]
    async fn a_claim_waits_for_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        let first = ledger.claim("job", || panic!("free")).await.unwrap();
        let waited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w = waited.clone();
        let l2 = ledger.clone();
        let second = tokio::spawn(async move {
            l2.claim("job", move || {
                w.store(true, std::sync::atomic::Ordering::SeqCst)
            })
            .await
            .unwrap()
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!second.is_finished());
        drop(first);
        let _second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the lock is released on drop")
            .unwrap();
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
        // Another job is independent.
        let _other = ledger.claim("other", || panic!("free")).await.unwrap();
    }
}
