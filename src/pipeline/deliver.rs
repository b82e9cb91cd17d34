//! Deliver: a finished file enters the output directory whole or not at all, never replaces a
//! file that is already there, and never shares its inode with anything in the work directory
//! (a later run truncating a work file must not be able to touch a delivered recording): it
//! is *moved*. Same filesystem: hard link, then unlink the source (atomic, no copy).
//! Otherwise: a copy to a hidden temporary name in the output directory, fsync, rename.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Puts the directory `staged` (files only) at `dest` whole or not at all: each file is linked
/// or copied into a hidden temporary directory beside `dest`, everything is fsynced, and the
/// directory is renamed into place without replacing anything (`AlreadyExists` if `dest` is
/// there). A failure leaves nothing behind.
pub fn place_dir(staged: &Path, dest: &Path) -> io::Result<()> {
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
    // Linked, not moved, until the rename succeeds: if it fails, dropping the temporary
    // directory removes only the links and the staged files are still there, whole.
    let mut staged_files = Vec::new();
    for entry in fs::read_dir(staged)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            put(&entry.path(), &tmp.path().join(entry.file_name()))?;
            staged_files.push(entry.path());
        }
    }
    rename_noreplace(tmp.path(), dest)?;
    // Renamed: there is nothing left at the temporary path to clean up.
    let _ = tmp.keep();
    File::open(parent)?.sync_all()?;
    // Delivered: the work side lets go, so no delivered file shares an inode with it.
    for f in staged_files {
        fs::remove_file(f)?;
    }
    Ok(())
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
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Digested { bytes, sha256 })
}

/// Moves `src` to `dest` atomically; fails with `AlreadyExists` if `dest` exists, leaving
/// `src` where it was.
pub fn place(src: &Path, dest: &Path) -> io::Result<()> {
    put(src, dest)?;
    fs::remove_file(src)
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
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
        Err(e)
            if e.raw_os_error() == Some(libc::EXDEV) || e.raw_os_error() == Some(libc::EPERM) =>
        {
            copy_into(dir, src, dest)?;
        }
        Err(e) => return Err(e),
    }
    File::open(dir)?.sync_all()
}

/// The other filesystem's way: copy to a hidden temporary name in `dir` (beside `dest`),
/// fsync, then rename without replacing. The temporary file is removed if anything fails.
fn copy_into(dir: &Path, src: &Path, dest: &Path) -> io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".recproc-")
        .suffix(".partial")
        .tempfile_in(dir)?;
    io::copy(&mut File::open(src)?, tmp.as_file_mut())?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(dest).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        place(&src, &dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"recording");
        // Moved, not shared: rewriting the work path cannot touch the delivered file.
        assert!(!src.exists());
        fs::write(&src, b"rewritten by a later run").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"recording");
        fs::write(dir.path().join("other"), b"different").unwrap();
        let e = place(&dir.path().join("other"), &dest).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert!(
            dir.path().join("other").exists(),
            "a refused move keeps its source"
        );
        assert_eq!(fs::read(&dest).unwrap(), b"recording");
        // Nothing half-written is left beside it.
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
    }

    #[test]
    fn a_directory_arrives_whole_and_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join("staged");
        let out = dir.path().join("out");
        fs::create_dir_all(&staged).unwrap();
        fs::create_dir(&out).unwrap();
        fs::write(staged.join("a.wav"), b"audio").unwrap();
        fs::write(staged.join("b.webm"), b"video").unwrap();
        let dest = out.join("uuid-conf");
        place_dir(&staged, &dest).unwrap();
        assert_eq!(fs::read(dest.join("a.wav")).unwrap(), b"audio");
        assert_eq!(fs::read(dest.join("b.webm")).unwrap(), b"video");
        // Only the final directory is in the output: no temporary one left.
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
        // Moved out of staging: nothing delivered shares an inode with the work side.
        assert!(!staged.join("a.wav").exists() && !staged.join("b.webm").exists());
        // A second delivery to the same place is refused and changes nothing.
        fs::write(staged.join("a.wav"), b"other").unwrap();
        fs::write(staged.join("b.webm"), b"other").unwrap();
        let e = place_dir(&staged, &dest).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(dest.join("a.wav")).unwrap(), b"audio");
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
        // A refused delivery keeps the staged files: they may be the only copy.
        assert_eq!(fs::read(staged.join("a.wav")).unwrap(), b"other");
        // The kernel refuses to replace even an empty directory that appears meanwhile.
        let empty = out.join("empty");
        fs::create_dir(&empty).unwrap();
        let src = dir.path().join("src-dir");
        fs::create_dir(&src).unwrap();
        assert_eq!(
            rename_noreplace(&src, &empty).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
    }

    #[test]
    fn a_failed_final_rename_leaves_the_staged_files_whole() {
        // The destination appears between the check and the rename (another instance).
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join("staged");
        fs::create_dir_all(&staged).unwrap();
        fs::write(staged.join("a.wav"), b"audio").unwrap();
        let blocker = dir.path().join("taken");
        fs::create_dir(&blocker).unwrap();
        fs::write(blocker.join("x"), b"someone else's").unwrap();
        let tmp = dir.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        put(&staged.join("a.wav"), &tmp.join("a.wav")).unwrap();
        assert!(rename_noreplace(&tmp, &blocker).is_err());
        assert_eq!(fs::read(staged.join("a.wav")).unwrap(), b"audio");
        assert_eq!(fs::read(blocker.join("x")).unwrap(), b"someone else's");
    }

    #[test]
    fn the_copy_path_is_whole_or_nothing_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(&src, vec![7u8; 300_000]).unwrap();
        let dest = out.join("final.webm");
        copy_into(&out, &src, &dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), vec![7u8; 300_000]);
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
}
