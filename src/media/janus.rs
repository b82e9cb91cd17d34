//! janus-pp-rec: the arguments that convert one `.mjr` into a playable file, and what its
//! run means (it logs its errors on stdout and can exit 0 after failing to write).

use std::path::Path;

use crate::media::failure::{could_not_write, ToolFailure};
use crate::process::{Finished, Invocation, ProcessError};

/// Converts `source` into `target` (the container follows `target`'s extension), with
/// colours off and only warnings and errors on stderr.
pub(crate) fn convert(source: &Path, target: &Path) -> Invocation {
    Invocation::new("janus-pp-rec")
        .args(["--disable-colors", "--debug-level=3"])
        .path_arg(source)
        .path_arg(target)
}

/// What a janus-pp-rec run came to. It can exit 0 after failing to write its output (a full
/// disk), saying so on stdout: an error line of its own that says it could not write fails
/// the run whatever its exit status, and is kept with the error. Only its own `[ERR]` lines
/// count: stdout also echoes paths, which come from events.
pub(crate) fn judge(run: Result<Finished, ProcessError>) -> Result<Finished, ToolFailure> {
    let mut done = run.map_err(ToolFailure::classify)?;
    let said = String::from_utf8_lossy(&done.stdout)
        .lines()
        .rev()
        .find(|l| l.contains("[ERR]") && could_not_write(l))
        .map(str::to_owned);
    if let Some(line) = &said {
        done.stderr_tail.push_str(line);
    }
    if !done.status.success() || said.is_some() || could_not_write(&done.stderr_tail) {
        return Err(ToolFailure::classify(done.failure()));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn run(script: &str) -> Result<Finished, ToolFailure> {
        let inv = Invocation::new("sh").args(["-c", script]);
        judge(crate::process::run_to_exit(&inv, Duration::from_secs(5)).await)
    }

    #[tokio::test]
    async fn an_error_line_that_says_it_could_not_write_fails_the_run() {
        let line = "[ERR] [pp-webm.c:598] Error writing video frame to file... (error -28, No space left on device)";
        let e = run(&format!("echo '{line}'")).await.unwrap_err();
        assert!(matches!(e, ToolFailure::DiskFull(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("`sh` failed (exit status: 0): {line}")
        );
        // Kept after the stderr tail when the exit status says it failed too.
        let e = run(&format!("echo '{line}'; echo 'oops' >&2; exit 1"))
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("`sh` failed (exit status: 1): oops{line}")
        );
        let e = run("echo 'Error writing trailer: No space left on device' >&2")
            .await
            .unwrap_err();
        assert!(matches!(e, ToolFailure::DiskFull(_)), "{e:?}");
    }

    #[tokio::test]
    async fn paths_that_merely_contain_the_words_are_no_error() {
        let said = "echo '/spool/No space left on device.mjr is 10 bytes'";
        assert!(run(said).await.is_ok());
        let e = run("echo 'Invalid header' >&2; exit 1").await.unwrap_err();
        assert!(matches!(e, ToolFailure::Refused(_)), "{e:?}");
    }

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
