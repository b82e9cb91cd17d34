//! Turning a file name from the event into a checked path inside its configured root (SPEC
//! "Filenames"): the lexical `..` check, symlink resolution, and the rules that what is read is
//! inside the root and a regular file. This is the event's only I/O (`canonicalize` and
//! `metadata`); nothing is opened or read.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

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
/// The result is then canonicalised and must be a regular file inside the root. `path` is the
/// JSON path of the file name and `root_key` the setting that names the root, for the
/// messages.
pub(super) fn file(
    filename: &str,
    path: &str,
    root: &Path,
    root_key: &'static str,
) -> Result<PathBuf, EventError> {
    let lookup = Lookup {
        filename,
        path,
        root,
        root_key,
    };
    lookup.check_name()?;
    let candidate = candidate(Path::new(filename), root).ok_or_else(|| lookup.escapes())?;
    let canonical = lookup.canonicalize(candidate)?;
    lookup.check_regular_file(&canonical)?;
    Ok(canonical)
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
            Err(source) => return Err(self.io(candidate, source)),
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
            fs::metadata(canonical).map_err(|source| self.io(canonical.to_owned(), source))?;
        if metadata.is_file() {
            return Ok(());
        }
        Err(EventError::NotAFile {
            path: self.path.to_owned(),
            filename: quote(self.filename),
            resolved: canonical.to_owned(),
            kind: file_kind(&metadata.file_type()),
        })
    }

    fn io(&self, resolved: PathBuf, source: io::Error) -> EventError {
        EventError::Io {
            path: self.path.to_owned(),
            filename: quote(self.filename),
            resolved,
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
    use super::super::{validate, EventError};
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
