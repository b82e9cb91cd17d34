//! Opening what the event names, once: beneath its root, never through a symlink, and kept
//! open for the job, so that every reader (recproc and the tools it runs) reads the very file
//! that was checked, whatever happens to the name in the root afterwards (SPEC "Filenames":
//! nothing outside the roots is ever read). Also whose fault an error on such a file is:
//! [`is_machine_fault`].

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether an error on a file the event names is this machine's fault rather than the
/// event's. The rule (SPEC "Events", issue 10): an error reading what the event names is the
/// input's (retrying the same message cannot help); only errors that say the machine itself
/// failed are the system's, so the message is retried once it is healthy again:
///
/// - the disk or its transport: `EIO`, `ESTALE`, a network filesystem gone (`ENOTCONN`,
///   `ETIMEDOUT`, `EHOSTDOWN`, …), `ENODEV`, `EBUSY`;
/// - resources: `ENOMEM`, `ENOBUFS`, `EMFILE`, `ENFILE`, `ENOSPC`, `EDQUOT`;
/// - transient: `EINTR`, `EAGAIN` (`openat2` saw a rename race).
///
/// Everything else is the input's: `ENOENT`, `ENOTDIR` (`a.mjr/x`), `ELOOP` (a symlink
/// loop), `ENAMETOOLONG`, `EISDIR`, `EINVAL`, `ENXIO` (a socket), and also `EACCES` and
/// `EPERM`. A file recproc may not read is a fact about that file, not a failing machine:
/// retrying it for ever would hold the queue, and the failure event names the file and the
/// error for whoever fixes its permissions and sends the event again. (The configured roots
/// themselves are the system's: see [`Root::open`].)
pub(crate) fn is_machine_fault(e: &io::Error) -> bool {
    let Some(errno) = e.raw_os_error() else {
        // Not from the kernel: recproc's own (an interrupted read, a lost task).
        return true;
    };
    matches!(
        errno,
        libc::EIO
            | libc::ESTALE
            | libc::ENOTCONN
            | libc::ETIMEDOUT
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::ENETDOWN
            | libc::ENETUNREACH
            | libc::ECONNRESET
            | libc::ECONNREFUSED
            | libc::ENOLINK
            | libc::ECOMM
            | libc::EREMOTEIO
            | libc::ENODEV
            | libc::EBUSY
            | libc::ENOMEM
            | libc::ENOBUFS
            | libc::EMFILE
            | libc::ENFILE
            | libc::ENOSPC
            | libc::EDQUOT
            | libc::EINTR
            | libc::EAGAIN
    )
}

/// A configured root, open as a directory handle for the lookups beneath it.
pub(super) struct Root(File);

impl Root {
    /// Opens `root` (canonical, from the configuration). Failing here is the system's fault,
    /// whatever the error: the root is the operator's, not the event's.
    pub(super) fn open(root: &Path) -> io::Result<Root> {
        let fd = with_c_path(root, |p| {
            // SAFETY: open(2) with a NUL-terminated path and flags; no memory is shared.
            unsafe {
                libc::open(
                    p,
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                )
            }
        })?;
        // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
        Ok(Root(unsafe { File::from_raw_fd(fd) }))
    }

    /// Opens `relative` (no `..`, no symlink in it: a canonical path with the root stripped)
    /// for reading, beneath this root: a symlink anywhere on the way, or a way out of the
    /// root, is refused (`ELOOP`, `EXDEV`) rather than followed. A FIFO does not block the
    /// open; what was opened is for the caller to check ([`File::metadata`]).
    pub(super) fn open_beneath(&self, relative: &Path) -> io::Result<File> {
        match self.openat2(relative) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                // A kernel before 5.6, or a seccomp filter that does not know openat2.
                self.open_and_verify(relative)
            }
            other => other,
        }
    }

    fn openat2(&self, relative: &Path) -> io::Result<File> {
        /// `struct open_how` (linux/openat2.h); libc's is `non_exhaustive`.
        #[repr(C)]
        struct OpenHow {
            flags: u64,
            mode: u64,
            resolve: u64,
        }
        let how = OpenHow {
            flags: READ_FLAGS as u64,
            mode: 0,
            resolve: libc::RESOLVE_BENEATH
                | libc::RESOLVE_NO_SYMLINKS
                | libc::RESOLVE_NO_MAGICLINKS,
        };
        let fd = with_c_path(relative, |p| {
            // SAFETY: openat2(2) with a directory fd we own, a NUL-terminated path and a
            // `struct open_how` of the size passed; the kernel only reads them.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.0.as_raw_fd(),
                    p,
                    &how as *const OpenHow,
                    std::mem::size_of::<OpenHow>(),
                )
            };
            fd as libc::c_int
        })?;
        // SAFETY: `fd` was just returned by openat2(2) and is owned by nobody else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// Without openat2: the last component is opened without following a symlink, and the
    /// kernel's own name of what was opened must be exactly the path asked for (a symlink
    /// swapped into a directory on the way would give another name).
    fn open_and_verify(&self, relative: &Path) -> io::Result<File> {
        let fd = with_c_path(relative, |p| {
            // SAFETY: openat(2) with a directory fd we own and a NUL-terminated path.
            unsafe { libc::openat(self.0.as_raw_fd(), p, READ_FLAGS | libc::O_NOFOLLOW) }
        })?;
        // SAFETY: `fd` was just returned by openat(2) and is owned by nobody else.
        let file = unsafe { File::from_raw_fd(fd) };
        let root = std::fs::read_link(proc_fd(std::process::id(), self.0.as_raw_fd()))?;
        let opened = std::fs::read_link(proc_fd(std::process::id(), file.as_raw_fd()))?;
        if opened != root.join(relative) {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        Ok(file)
    }
}

/// Read-only, not inherited by children, never a controlling terminal, and a FIFO does not
/// block the open.
const READ_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;

fn with_c_path(
    path: &Path,
    f: impl FnOnce(*const libc::c_char) -> libc::c_int,
) -> io::Result<libc::c_int> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fd = f(c.as_ptr());
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn proc_fd(pid: u32, fd: libc::c_int) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/fd/{fd}"))
}

/// A media file of the event, open since it was checked. Clones share the one open file,
/// which stays open while any clone lives (the job's).
#[derive(Clone)]
pub(crate) struct Opened {
    file: Arc<File>,
    /// Its device and inode: what makes two of them the same file.
    id: (u64, u64),
    len: u64,
}

impl Opened {
    /// `file`, when it is a regular file: its metadata, or why not (the file type).
    pub(super) fn new(file: File) -> io::Result<Result<Opened, std::fs::FileType>> {
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Ok(Err(meta.file_type()));
        }
        let opened = Opened {
            file: Arc::new(file),
            id: (meta.dev(), meta.ino()),
            len: meta.len(),
        };
        // Every reader goes through /proc: it must lead to this very file.
        let seen = std::fs::metadata(opened.path())?;
        if (seen.dev(), seen.ino()) != opened.id {
            return Err(io::Error::other(format!(
                "{} is not the file recproc opened: is /proc this process's own?",
                opened.path().display()
            )));
        }
        Ok(Ok(opened))
    }

    /// An empty file that is no event's, for tests of what is made of sources.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Opened {
        let file = tempfile::tempfile().expect("a temporary file");
        Opened::new(file).unwrap().expect("a regular file")
    }

    /// A path that opens this very file, not its name in the root again:
    /// `/proc/<recproc's pid>/fd/<n>`. Each open of it is a new, independent read of the
    /// checked file (its own offset), by recproc or by a tool it runs (a child has its own
    /// fd table, so `/proc/self` would not do). Valid while this file is held.
    pub(crate) fn path(&self) -> PathBuf {
        proc_fd(std::process::id(), self.file.as_raw_fd())
    }

    /// A new read of the file, from its start.
    pub(crate) fn reopen(&self) -> io::Result<File> {
        File::open(self.path())
    }

    /// Its size when it was checked.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

impl PartialEq for Opened {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Opened {}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("fd", &self.file.as_raw_fd())
            .field("id", &self.id)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use std::os::unix::fs::symlink;

    struct World {
        _dir: tempfile::TempDir,
        root: PathBuf,
        outside: PathBuf,
    }

    fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(root.join("sub/in.wav"), b"inside").unwrap();
        std::fs::write(outside.join("secret.wav"), b"secret").unwrap();
        World {
            _dir: dir,
            root,
            outside,
        }
    }

    fn read(file: File) -> String {
        let mut s = String::new();
        (&file).read_to_string(&mut s).unwrap();
        s
    }

    fn errno(r: io::Result<File>) -> i32 {
        r.unwrap_err().raw_os_error().unwrap()
    }

    /// Both ways of opening: openat2, and the fallback without it.
    fn both(root: &Root, rel: &str) -> [io::Result<File>; 2] {
        [
            root.openat2(Path::new(rel)),
            root.open_and_verify(Path::new(rel)),
        ]
    }

    #[test]
    fn a_file_beneath_the_root_opens() {
        let w = world();
        let root = Root::open(&w.root).unwrap();
        for opened in both(&root, "sub/in.wav") {
            assert_eq!(read(opened.unwrap()), "inside");
        }
        assert_eq!(
            read(root.open_beneath(Path::new("sub/in.wav")).unwrap()),
            "inside"
        );
    }

    #[test]
    fn a_symlink_out_of_the_root_is_never_followed() {
        let w = world();
        symlink(w.outside.join("secret.wav"), w.root.join("out.wav")).unwrap();
        symlink(&w.outside, w.root.join("outdir")).unwrap();
        let root = Root::open(&w.root).unwrap();
        for rel in ["out.wav", "outdir/secret.wav"] {
            for (how, opened) in both(&root, rel).into_iter().enumerate() {
                let e = errno(opened);
                assert!(
                    [libc::ELOOP, libc::EXDEV].contains(&e),
                    "{rel} ({how}): {e}"
                );
            }
        }
    }

    #[test]
    fn dot_dot_cannot_climb_out() {
        let w = world();
        let root = Root::open(&w.root).unwrap();
        let e = errno(root.openat2(Path::new("sub/../../outside/secret.wav")));
        assert_eq!(e, libc::EXDEV);
        let e = errno(root.open_and_verify(Path::new("../outside/secret.wav")));
        assert_eq!(e, libc::EXDEV);
        let e = errno(root.openat2(Path::new("/etc/passwd")));
        assert_eq!(e, libc::EXDEV);
    }

    #[test]
    fn a_symlink_that_stays_inside_is_refused_here_too() {
        // Callers open canonical paths (symlinks inside the root already resolved, see
        // `resolve`): a symlink at open time means the path changed since it was checked.
        let w = world();
        symlink("sub/in.wav", w.root.join("link.wav")).unwrap();
        symlink("sub", w.root.join("linkdir")).unwrap();
        let root = Root::open(&w.root).unwrap();
        assert_eq!(errno(root.openat2(Path::new("link.wav"))), libc::ELOOP);
        assert_eq!(
            errno(root.openat2(Path::new("linkdir/in.wav"))),
            libc::ELOOP
        );
        assert_eq!(
            errno(root.open_and_verify(Path::new("link.wav"))),
            libc::ELOOP
        );
        assert_eq!(
            errno(root.open_and_verify(Path::new("linkdir/in.wav"))),
            libc::EXDEV
        );
    }

    #[test]
    fn the_opened_file_is_read_whatever_the_name_becomes() {
        let w = world();
        let root = Root::open(&w.root).unwrap();
        let file = root.open_beneath(Path::new("sub/in.wav")).unwrap();
        let opened = Opened::new(file).unwrap().unwrap();
        assert_eq!(opened.len(), 6);
        // The name is swapped for a symlink to a file outside the root.
        let name = w.root.join("sub/in.wav");
        let tmp = w.root.join("sub/tmp");
        symlink(w.outside.join("secret.wav"), &tmp).unwrap();
        std::fs::rename(&tmp, &name).unwrap();
        assert_eq!(std::fs::read(&name).unwrap(), b"secret");
        // Readers of the opened file still read what was checked, each from the start.
        assert_eq!(std::fs::read(opened.path()).unwrap(), b"inside");
        assert_eq!(read(opened.reopen().unwrap()), "inside");
        assert_eq!(read(opened.clone().reopen().unwrap()), "inside");
        // And so does a child process (its own fd table), given the path.
        let out = std::process::Command::new("cat")
            .arg(opened.path())
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"inside");
    }

    #[test]
    fn only_regular_files_are_opened_files() {
        let w = world();
        let root = Root::open(&w.root).unwrap();
        let dir = root.open_beneath(Path::new("sub")).unwrap();
        assert!(Opened::new(dir).unwrap().unwrap_err().is_dir());
        let fifo = w.root.join("pipe.wav");
        let made = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo(3) with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(made.as_ptr(), 0o600) }, 0);
        // Opened without blocking (no writer), and refused.
        let pipe = root.open_beneath(Path::new("pipe.wav")).unwrap();
        assert!(Opened::new(pipe).unwrap().is_err());
    }

    #[test]
    fn a_missing_root_is_an_error() {
        let w = world();
        assert_eq!(
            Root::open(&w.root.join("gone"))
                .err()
                .unwrap()
                .raw_os_error(),
            Some(libc::ENOENT)
        );
        // A file is not a root.
        assert_eq!(
            Root::open(&w.root.join("sub/in.wav"))
                .err()
                .unwrap()
                .raw_os_error(),
            Some(libc::ENOTDIR)
        );
    }

    #[test]
    fn whose_fault_each_errno_is() {
        let machine = |errno| is_machine_fault(&io::Error::from_raw_os_error(errno));
        for errno in [
            libc::EIO,
            libc::ENOMEM,
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOSPC,
            libc::EDQUOT,
            libc::ESTALE,
            libc::ENOTCONN,
            libc::ETIMEDOUT,
            libc::EINTR,
            libc::EAGAIN,
            libc::ENODEV,
        ] {
            assert!(machine(errno), "errno {errno} is the machine's");
        }
        for errno in [
            libc::ENOENT,
            libc::ENOTDIR,
            libc::ELOOP,
            libc::ENAMETOOLONG,
            libc::EACCES,
            libc::EPERM,
            libc::EISDIR,
            libc::EINVAL,
            libc::ENXIO,
            libc::EXDEV,
        ] {
            assert!(!machine(errno), "errno {errno} is the input's");
        }
        // Not from the kernel: recproc's own failure.
        assert!(is_machine_fault(&io::Error::other("task lost")));
    }
}
