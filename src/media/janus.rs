//! janus-pp-rec: the arguments that convert one `.mjr` into a playable file.

use std::path::Path;

use crate::process::Invocation;

/// Converts `source` into `target` (the container follows `target`'s extension), with
/// colours off and only warnings and errors on stderr.
pub fn convert(source: &Path, target: &Path) -> Invocation {
    Invocation::new("janus-pp-rec")
        .args(["--disable-colors", "--debug-level=3"])
        .path_arg(source)
        .path_arg(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_then_target_after_options() {
        let inv = convert(Path::new("/raw/a.mjr"), Path::new("/w/t0.webm"));
        assert_eq!(inv.program, "janus-pp-rec");
        assert_eq!(
            inv.args_lossy(),
            vec![
                "--disable-colors",
                "--debug-level=3",
                "/raw/a.mjr",
                "/w/t0.webm"
            ]
        );
    }
}
