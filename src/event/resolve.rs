//! Turning a file name from the event into a checked path inside its configured root (SPEC
//! "Filenames") and the file opened there: the lexical `..` check, symlink resolution, the
//! rules that what is read is inside the root and a regular file, and the one open of it
//! ([`super::open`]) that every later reader goes through. This is the event's only I/O; the
//! file is opened, never read here.
//!
//! Whose fault a failure is, is decided here, where it is made: a configured root that cannot
//! be opened is the system's ([`EventError::Root`]); an error on the file the event names is
//! the input's ([`EventError::Unreadable`]: `ENOTDIR`, `ELOOP`, `ENAMETOOLONG`, `EACCES`…)
//! unless it says the machine failed ([`EventError::Io`]: see [`is_machine_fault`]).

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::open::{is_machine_fault, Opened, Root};
use super::wire::quote;
use super::EventError;

/// Resolves `filename` inside `root` (canonical): see SPEC "Filenames".
///
/// 1. An absolute path that is lexically inside the root is used as is.
/// 2. An absolute path that is not lexically inside the root but resolves into it (the event
///    names the root through a symlinked alias, e.g. the configured path before
///    canonicalisation) is used.
/// 3. Any other path, absolute or relative, is taken relative to the root; its `..` may not
///    climb above the root.
///
/// The result is then canonicalised and must be a regular file inside the root, and is opened
/// there: the canonical path (for messages and the events) and the open file (for reading).
/// `path` is the JSON path of the file name and `root_key` the setting that names the root,
/// for the messages.
pub(super) fn file(
    filename: &str,
    path: &str,
    root: &Path,
    root_key: &'static str,
) -> Result<(PathBuf, Opened), EventError> {
    let lookup = Lookup {
        filename,
        path,
        root,
        root_key,
    };
    lookup.check_name()?;
    let candidate = candidate(Path::new(filename), root).ok_or_else(|| lookup.escapes())?;
    let dir = Root::open(root).map_err(|source| lookup.root(source))?;
    let canonical = lookup.canonicalize(candidate)?;
    // Refused by its kind before it is opened: opening a device can have effects.
    lookup.check_regular_file(&canonical)?;
    let opened = lookup.open(&dir, &canonical)?;
    Ok((canonical, opened))
}

/// One file name of the event and the root it must be found in.
struct Lookup<'a> {
    filename: &'a str,
    /// The JSON path of the file name.
    path: &'a str,
    root: &'a Path,
    root_key: &'static str,
}

impl Lookup<'_> {
    /// Refuses the names no file can have.
    fn check_name(&self) -> Result<(), EventError> {
        let reason = if self.filename.is_empty() {
            "it is empty"
        } else if self.filename.contains('\0') {
            "it contains a NUL character"
        } else {
            return Ok(());
        };
        Err(EventError::BadFilename {
            path: self.path.to_owned(),
            filename: quote(self.filename),
            reason,
        })
    }

    fn escapes(&self) -> EventError {
        EventError::EscapesRoot {
            path: self.path.to_owned(),
            filename: quote(self.filename),
            root_key: self.root_key,
            root: self.root.to_owned(),
        }
    }

    /// The candidate with its symlinks resolved, which must still be inside the root.
    fn canonicalize(&self, candidate: PathBuf) -> Result<PathBuf, EventError> {
        let canonical = match fs::canonicalize(&candidate) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(EventError::NotFound {
                    path: self.path.to_owned(),
                    filename: quote(self.filename),
                    resolved: candidate,
                    root_key: self.root_key,
                })
            }
            Err(source) => return Err(self.fault(candidate, source)),
        };
        if !canonical.starts_with(self.root) {
            return Err(EventError::OutsideRoot {
                path: self.path.to_owned(),
                filename: quote(self.filename),
                resolved: canonical,
                root_key: self.root_key,
                root: self.root.to_owned(),
            });
        }
        Ok(canonical)
    }

    fn check_regular_file(&self, canonical: &Path) -> Result<(), EventError> {
        let metadata =
            fs::metadata(canonical).map_err(|source| self.fault(canonical.to_owned(), source))?;
        if metadata.is_file() {
            return Ok(());
        }
        Err(self.not_a_file(canonical, &metadata.file_type()))
    }

    fn not_a_file(&self, canonical: &Path, file_type: &fs::FileType) -> EventError {
        EventError::NotAFile {
            path: self.path.to_owned(),
            filename: quote(self.filename),
            resolved: canonical.to_owned(),
            kind: file_kind(file_type),
        }
    }

    /// Opens the checked file beneath the root, through no symlink: what is opened is what
    /// was checked, or nothing. A symlink found on the way now was not there when the path
    /// was resolved: the file changed under the check, and is refused.
    fn open(&self, root: &Root, canonical: &Path) -> Result<Opened, EventError> {
        let relative = canonical.strip_prefix(self.root).unwrap_or(canonical);
        let file = root
            .open_beneath(relative)
            .map_err(|source| match source.raw_os_error() {
                Some(libc::ELOOP | libc::EXDEV) => EventError::Changed {
                    path: self.path.to_owned(),
                    filename: quote(self.filename),
                    resolved: canonical.to_owned(),
                    root_key: self.root_key,
                },
                _ => self.fault(canonical.to_owned(), source),
            })?;
        match Opened::new(file) {
            Ok(Ok(opened)) => Ok(opened),
            Ok(Err(file_type)) => Err(self.not_a_file(canonical, &file_type)),
            Err(source) => Err(self.fault(canonical.to_owned(), source)),
        }
    }

    /// An error on the file the event names: the input's, unless it says the machine
    /// failed.
    fn fault(&self, resolved: PathBuf, source: io::Error) -> EventError {
        let (path, filename) = (self.path.to_owned(), quote(self.filename));
        if is_machine_fault(&source) {
            return EventError::Io {
                path,
                filename,
                resolved,
                source,
            };
        }
        EventError::Unreadable {
            path,
            filename,
            resolved,
            source,
        }
    }

    /// The configured root cannot be opened: the system's fault, whatever the error.
    fn root(&self, source: io::Error) -> EventError {
        EventError::Root {
            path: self.path.to_owned(),
            root_key: self.root_key,
            root: self.root.to_owned(),
            source,
        }
    }
}

/// The path `given` names, before it is canonicalised (rules 1 to 3), or `None` when its `..`
/// climb above the root.
fn candidate(given: &Path, root: &Path) -> Option<PathBuf> {
    if given.is_absolute() {
        let lexical = normalize_absolute(given);
        if lexical.starts_with(root) {
            return Some(lexical);
        }
        if let Ok(canonical) = fs::canonicalize(&lexical) {
            if canonical.starts_with(root) {
                return Some(canonical);
            }
        }
    }
    normalize_relative(given).map(|relative| root.join(relative))
}

/// `/a/./b/../c` → `/a/c`; `..` at `/` stays at `/` (as the kernel does).
fn normalize_absolute(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The path with its root stripped and `.`/`..` resolved, or `None` when a `..` climbs above
/// the start.
fn normalize_relative(path: &Path) -> Option<PathBuf> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(parts.iter().collect())
}

fn file_kind(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "named pipe (FIFO)";
        }
        if file_type.is_socket() {
            return "socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "device";
        }
    }
    if file_type.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{validate, EventError, Roots};
    use super::*;
    use serde_json::json;

    #[test]
    fn relative_path_inside_root() {
        let f = fixture();
        let c = validate(&with_video_filename("test/./test-video-1.mjr"), &f.roots).unwrap();
        assert_eq!(
            c.videos[0].path,
            f.roots.video_root.join("test/test-video-1.mjr")
        );
        let c = validate(&with_video_filename("test/../b.mjr"), &f.roots).unwrap();
        assert_eq!(c.videos[0].path, f.roots.video_root.join("b.mjr"));
    }

    #[test]
    fn dot_dot_escaping_the_root_is_refused() {
        let f = fixture();
        for bad in [
            "../outside/secret.mjr",
            "a/../../outside/secret.mjr",
            "/../etc/passwd",
            "..",
            "test/../../raw/b.mjr",
        ] {
            let e = validate(&with_video_filename(bad), &f.roots).unwrap_err();
            assert!(matches!(e, EventError::EscapesRoot { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("escapes video_root"), "{e}");
            assert_eq!(e.json_path(), Some(VIDEO_FILENAME_PATH));
            assert_one_line(&e);
        }
    }

    #[test]
    fn absolute_path_elsewhere_is_taken_relative_to_root() {
        let f = fixture();
        let e = validate(&with_video_filename("/etc/passwd"), &f.roots).unwrap_err();
        match &e {
            EventError::NotFound { resolved, .. } => {
                assert_eq!(resolved, &f.roots.video_root.join("etc/passwd"))
            }
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains("file not found"), "{e}");
        assert!(e.to_string().contains(VIDEO_FILENAME_PATH), "{e}");

        // A real file outside, named absolutely, is never read: looked up under the root.
        let secret = f.outside.join("secret.mjr");
        let e = validate(&with_video_filename(secret.to_str().unwrap()), &f.roots).unwrap_err();
        match &e {
            EventError::NotFound { resolved, .. } => {
                assert!(resolved.starts_with(&f.roots.video_root), "{resolved:?}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn absolute_path_under_root_name_relative_copy_exists() {
        // `/test/test-video-1.mjr` (the spec example) is found as <root>/test/test-video-1.mjr.
        let f = fixture();
        let c = validate(&with_video_filename("/test/test-video-1.mjr"), &f.roots).unwrap();
        assert_eq!(
            c.videos[0].path,
            f.roots.video_root.join("test/test-video-1.mjr")
        );
    }

    #[test]
    fn absolute_path_inside_root_is_used_as_is() {
        let f = fixture();
        let inside = f.roots.video_root.join("test/test-video-2.mjr");
        let c = validate(&with_video_filename(inside.to_str().unwrap()), &f.roots).unwrap();
        assert_eq!(c.videos[0].path, inside);
        let dotted = format!("{}/test/../b.mjr", f.roots.video_root.display());
        let c = validate(&with_video_filename(&dotted), &f.roots).unwrap();
        assert_eq!(c.videos[0].path, f.roots.video_root.join("b.mjr"));
    }

    #[cfg(unix)]
    #[test]
    fn absolute_path_through_an_alias_of_the_root_is_used() {
        let f = fixture();
        let alias = f.outside.join("alias");
        std::os::unix::fs::symlink(&f.roots.video_root, &alias).unwrap();
        let named = alias.join("b.mjr");
        let c = validate(&with_video_filename(named.to_str().unwrap()), &f.roots).unwrap();
        assert_eq!(c.videos[0].path, f.roots.video_root.join("b.mjr"));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_pointing_out_of_the_root_is_refused() {
        let f = fixture();
        let link = f.roots.video_root.join("escape.mjr");
        std::os::unix::fs::symlink(f.outside.join("secret.mjr"), &link).unwrap();
        let dir_link = f.roots.video_root.join("outdir");
        std::os::unix::fs::symlink(&f.outside, &dir_link).unwrap();
        for name in ["escape.mjr", "/escape.mjr", "outdir/secret.mjr"] {
            let e = validate(&with_video_filename(name), &f.roots).unwrap_err();
            assert!(matches!(e, EventError::OutsideRoot { .. }), "{name}: {e}");
            assert!(
                e.to_string()
                    .contains("resolves outside video_root through a symlink"),
                "{e}"
            );
            assert_eq!(e.json_path(), Some(VIDEO_FILENAME_PATH));
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlink_inside_the_root_is_fine_and_resolved() {
        let f = fixture();
        let link = f.roots.video_root.join("link.mjr");
        std::os::unix::fs::symlink("test/test-video-1.mjr", &link).unwrap();
        let c = validate(&with_video_filename("link.mjr"), &f.roots).unwrap();
        assert_eq!(
            c.videos[0].path,
            f.roots.video_root.join("test/test-video-1.mjr")
        );
        assert_eq!(c.videos[0].filename, "link.mjr");
    }

    #[test]
    fn directory_instead_of_file_is_refused() {
        let f = fixture();
        for name in ["test", "/", "."] {
            let e = validate(&with_video_filename(name), &f.roots).unwrap_err();
            assert!(
                matches!(
                    e,
                    EventError::NotAFile {
                        kind: "directory",
                        ..
                    }
                ),
                "{name}: {e}"
            );
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn fifo_is_refused() {
        let f = fixture();
        let fifo = f.roots.video_root.join("pipe.mjr");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !matches!(status, Ok(s) if s.success()) {
            return; // no mkfifo here
        }
        let e = validate(&with_video_filename("pipe.mjr"), &f.roots).unwrap_err();
        assert!(matches!(e, EventError::NotAFile { .. }), "{e}");
    }

    #[test]
    fn missing_file_names_event_path_and_resolved_path() {
        let f = fixture();
        let e = validate(&with_video_filename("nope.mjr"), &f.roots).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(VIDEO_FILENAME_PATH), "{msg}");
        assert!(msg.contains("file not found"), "{msg}");
        assert!(
            msg.contains(&f.roots.video_root.join("nope.mjr").display().to_string()),
            "{msg}"
        );
        assert!(e.is_input_fault());
    }

    #[test]
    fn audio_is_resolved_in_audio_root() {
        let f = fixture();
        let mut v = spec_example();
        // b.mjr exists in the video root only.
        v["recordingInfo"]["audio"]["asterisk"]["sipcall"]["1590392548633"]["filename"] =
            json!("b.mjr");
        let e = validate(&v, &f.roots).unwrap_err();
        assert!(
            matches!(
                e,
                EventError::NotFound {
                    root_key: "audio_root",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(
            e.json_path(),
            Some("recordingInfo.audio.asterisk.sipcall.1590392548633.filename")
        );
        v["recordingInfo"]["audio"]["asterisk"]["sipcall"]["1590392548633"]["filename"] =
            json!("../raw/b.mjr");
        let e = validate(&v, &f.roots).unwrap_err();
        assert!(e.to_string().contains("escapes audio_root"), "{e}");
    }

    #[test]
    fn empty_or_nul_filename_is_refused() {
        let f = fixture();
        for bad in ["", "b\0.mjr"] {
            let e = validate(&with_video_filename(bad), &f.roots).unwrap_err();
            assert!(matches!(e, EventError::BadFilename { .. }), "{e}");
            assert_eq!(e.json_path(), Some(VIDEO_FILENAME_PATH));
            assert_one_line(&e);
        }
    }

    /// The errno of an [`EventError::Unreadable`] (the input's fault).
    fn unreadable_errno(e: &EventError) -> i32 {
        match e {
            EventError::Unreadable { source, .. } => source.raw_os_error().unwrap(),
            other => panic!("expected an unreadable file, got {other:?}"),
        }
    }

    #[test]
    fn a_name_through_a_file_is_the_input_s_fault() {
        let f = fixture();
        let e = validate(&with_video_filename("b.mjr/x"), &f.roots).unwrap_err();
        assert_eq!(unreadable_errno(&e), libc::ENOTDIR);
        assert!(e.is_input_fault());
        assert_eq!(e.json_path(), Some(VIDEO_FILENAME_PATH));
        assert!(e.to_string().contains("Not a directory"), "{e}");
        assert_one_line(&e);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_loop_is_the_input_s_fault() {
        let f = fixture();
        let root = &f.roots.video_root;
        std::os::unix::fs::symlink("loop-b.mjr", root.join("loop-a.mjr")).unwrap();
        std::os::unix::fs::symlink("loop-a.mjr", root.join("loop-b.mjr")).unwrap();
        std::os::unix::fs::symlink("self.mjr", root.join("self.mjr")).unwrap();
        for name in ["loop-a.mjr", "self.mjr", "/self.mjr"] {
            let e = validate(&with_video_filename(name), &f.roots).unwrap_err();
            assert_eq!(unreadable_errno(&e), libc::ELOOP, "{name}");
            assert!(e.is_input_fault());
            assert!(e.to_string().contains("symbolic links"), "{e}");
        }
    }

    #[test]
    fn a_name_too_long_is_the_input_s_fault() {
        let f = fixture();
        let long = format!("{}.mjr", "a".repeat(300));
        let e = validate(&with_video_filename(&long), &f.roots).unwrap_err();
        assert_eq!(unreadable_errno(&e), libc::ENAMETOOLONG);
        assert!(e.is_input_fault());
        assert!(e.to_string().contains("File name too long"), "{e}");
    }

    #[test]
    fn an_error_on_the_named_file_is_blamed_by_its_errno() {
        let f = fixture();
        let lookup = Lookup {
            filename: "a.mjr",
            path: VIDEO_FILENAME_PATH,
            root: &f.roots.video_root,
            root_key: "video_root",
        };
        let fault = |errno| {
            lookup.fault(
                PathBuf::from("/v/a.mjr"),
                io::Error::from_raw_os_error(errno),
            )
        };
        // A file recproc may not read is the file's problem, not the machine's (see
        // `is_machine_fault`): retried, it would fail for ever.
        for errno in [
            libc::EACCES,
            libc::EPERM,
            libc::ENOTDIR,
            libc::ELOOP,
            libc::ENAMETOOLONG,
        ] {
            let e = fault(errno);
            assert!(matches!(e, EventError::Unreadable { .. }), "{e:?}");
            assert!(e.is_input_fault(), "{e}");
        }
        // The machine failing: retried once it is healthy.
        for errno in [
            libc::EIO,
            libc::ENOMEM,
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOSPC,
        ] {
            let e = fault(errno);
            assert!(matches!(e, EventError::Io { .. }), "{e:?}");
            assert!(!e.is_input_fault(), "{e}");
        }
        let e = fault(libc::EACCES);
        assert_eq!(
            e.to_string(),
            format!("{VIDEO_FILENAME_PATH} \"a.mjr\": cannot read \"/v/a.mjr\": Permission denied (os error 13)")
        );
    }

    #[test]
    fn a_root_that_cannot_be_opened_is_the_system_s_fault() {
        let f = fixture();
        let gone = Roots {
            video_root: f.roots.video_root.join("gone"),
            audio_root: f.roots.audio_root.clone(),
        };
        let e = validate(&with_video_filename("b.mjr"), &gone).unwrap_err();
        assert!(
            matches!(
                e,
                EventError::Root {
                    root_key: "video_root",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!e.is_input_fault());
        assert_eq!(e.json_path(), Some(VIDEO_FILENAME_PATH));
        assert!(e.to_string().contains("cannot open video_root"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn what_was_checked_is_what_is_read_whatever_the_name_becomes() {
        let f = fixture();
        std::fs::write(f.roots.audio_root.join("audio.wav"), b"checked").unwrap();
        std::fs::write(f.outside.join("other.wav"), b"outside").unwrap();
        let c = validate(&spec_example(), &f.roots).unwrap();
        let audio = c.audio.unwrap();
        assert_eq!(audio.file.len(), 7);
        // Swapped for a symlink out of the root after the check.
        let tmp = f.roots.audio_root.join("tmp");
        std::os::unix::fs::symlink(f.outside.join("other.wav"), &tmp).unwrap();
        std::fs::rename(&tmp, &audio.path).unwrap();
        assert_eq!(std::fs::read(audio.file.path()).unwrap(), b"checked");
        assert_eq!(std::fs::read(&audio.path).unwrap(), b"outside");
        // Checked again now, the name is refused.
        let e = validate(&spec_example(), &f.roots).unwrap_err();
        assert!(matches!(e, EventError::OutsideRoot { .. }), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_swapped_in_between_the_check_and_the_open_is_refused() {
        let f = fixture();
        let root = &f.roots.video_root;
        let lookup = Lookup {
            filename: "b.mjr",
            path: VIDEO_FILENAME_PATH,
            root,
            root_key: "video_root",
        };
        let dir = Root::open(root).unwrap();
        let canonical = lookup.canonicalize(root.join("b.mjr")).unwrap();
        // After the check, before the open: the file, then a directory on the way.
        let tmp = root.join("tmp");
        std::os::unix::fs::symlink(f.outside.join("secret.mjr"), &tmp).unwrap();
        std::fs::rename(&tmp, &canonical).unwrap();
        let e = lookup.open(&dir, &canonical).unwrap_err();
        assert!(matches!(e, EventError::Changed { .. }), "{e:?}");
        assert!(e.is_input_fault());
        assert!(
            e.to_string().contains("changed while it was checked"),
            "{e}"
        );
        let canonical = lookup
            .canonicalize(root.join("test/test-video-1.mjr"))
            .unwrap();
        std::fs::rename(root.join("test"), root.join("moved")).unwrap();
        std::os::unix::fs::symlink(&f.outside, root.join("test")).unwrap();
        std::fs::write(f.outside.join("test-video-1.mjr"), b"outside").unwrap();
        let e = lookup.open(&dir, &canonical).unwrap_err();
        assert!(matches!(e, EventError::Changed { .. }), "{e:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_inside_the_root_opens_the_file_it_names() {
        let f = fixture();
        std::fs::write(f.roots.video_root.join("test/test-video-1.mjr"), b"v1").unwrap();
        std::os::unix::fs::symlink("test/test-video-1.mjr", f.roots.video_root.join("l.mjr"))
            .unwrap();
        // An absolute symlink that stays inside the root is fine too.
        let target = f.roots.video_root.join("test/test-video-1.mjr");
        std::os::unix::fs::symlink(&target, f.roots.video_root.join("abs.mjr")).unwrap();
        for name in ["l.mjr", "abs.mjr"] {
            let c = validate(&with_video_filename(name), &f.roots).unwrap();
            assert_eq!(c.videos[0].path, target);
            assert_eq!(std::fs::read(c.videos[0].file.path()).unwrap(), b"v1");
        }
    }

    #[test]
    fn normalisation_helpers() {
        assert_eq!(
            normalize_absolute(Path::new("/a/./b/../c")),
            Path::new("/a/c")
        );
        assert_eq!(normalize_absolute(Path::new("/../../x")), Path::new("/x"));
        assert_eq!(
            normalize_relative(Path::new("/a/b")),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(
            normalize_relative(Path::new("a/./b/..")),
            Some(PathBuf::from("a"))
        );
        assert_eq!(normalize_relative(Path::new("a/../..")), None);
        assert_eq!(normalize_relative(Path::new("./..")), None);
    }
}
