//! Deliver: a finished file enters the output directory whole or not at all, and never
//! replaces a file that is already there. Same filesystem: a hard link (atomic, no copy).
//! Otherwise: a copy to a hidden temporary name in the output directory, fsync, rename.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

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

/// Puts `src` at `dest` atomically; fails with `AlreadyExists` if `dest` exists.
pub fn place(src: &Path, dest: &Path) -> io::Result<()> {
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
        fs::write(dir.path().join("other"), b"different").unwrap();
        let e = place(&dir.path().join("other"), &dest).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&dest).unwrap(), b"recording");
        // Nothing half-written is left beside it.
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
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
