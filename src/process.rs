//! Running one external tool (ffmpeg, ffprobe, janus-pp-rec): arguments as a list (never a
//! shell), stdout collected, stderr drained while the child runs with its tail kept for the
//! error, a timeout, and the child killed when the job is cancelled (the future dropped).

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

/// How much of a failing child's stderr its error keeps (the end is what explains it).
const STDERR_TAIL_BYTES: usize = 4096;
/// After SIGTERM on timeout, how long the child gets before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// A command to run: a program and its arguments, as a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invocation {
    pub program: String,
    pub args: Vec<OsString>,
}

impl Invocation {
    pub(crate) fn new(program: &str) -> Self {
        Invocation {
            program: program.to_owned(),
            args: Vec::new(),
        }
    }

    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn path_arg(self, path: &Path) -> Self {
        self.arg(path.as_os_str().to_owned())
    }

    /// The arguments as text, for tests.
    #[cfg(test)]
    pub(crate) fn args_lossy(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// `program arg arg …` for logs (not for a shell: nothing is quoted).
    pub(crate) fn display(&self) -> String {
        let mut s = self.program.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

/// A child that ran to its exit.
#[derive(Debug)]
pub(crate) struct Finished {
    pub program: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr_tail: String,
}

impl Finished {
    /// The generic reading of a run: a non-zero exit is a failure.
    pub(crate) fn success(self) -> Result<Finished, ProcessError> {
        if self.status.success() {
            Ok(self)
        } else {
            Err(self.failure())
        }
    }

    /// This run as a failure, whatever its exit status: for a tool whose output says it
    /// failed although it exited 0.
    pub(crate) fn failure(self) -> ProcessError {
        ProcessError::Failed {
            program: self.program,
            status: self.status,
            stderr_tail: self.stderr_tail,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("`{program}` was not found: make sure it is installed and on PATH (apt-get install {package})")]
    NotFound {
        program: String,
        package: &'static str,
    },
    #[error("could not start `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("`{program}` failed ({status}): {stderr_tail}")]
    Failed {
        program: String,
        status: ExitStatus,
        stderr_tail: String,
    },
    #[error("`{program}` did not finish within {}s and was killed; last output: {stderr_tail}", timeout.as_secs())]
    TimedOut {
        program: String,
        timeout: Duration,
        stderr_tail: String,
    },
    #[error("reading the output of `{program}`: {source}")]
    Io {
        program: String,
        #[source]
        source: io::Error,
    },
}

impl ProcessError {
    /// True when the machine, not what the tool was given, is at fault: the tool is missing
    /// or could not run, it hung, or it was killed by a signal (the OOM killer, an operator).
    pub fn is_system(&self) -> bool {
        match self {
            ProcessError::NotFound { .. }
            | ProcessError::Spawn { .. }
            | ProcessError::Io { .. }
            | ProcessError::TimedOut { .. } => true,
            ProcessError::Failed {
                status,
                stderr_tail,
                ..
            } => {
                use std::os::unix::process::ExitStatusExt as _;
                // Stopped from outside (the OOM killer, a supervisor, a terminal) rather than
                // by what it read; a crash (SIGSEGV, SIGABRT…) says nothing about the system.
                let stopped = matches!(
                    status.signal(),
                    Some(
                        libc::SIGKILL | libc::SIGTERM | libc::SIGINT | libc::SIGHUP | libc::SIGQUIT
                    )
                );
                // ffmpeg catches those signals and exits with 255 after saying so.
                stopped || stderr_tail.contains("received signal")
            }
        }
    }
}

/// The Debian package that provides a tool, for the "not found" hint.
fn package_of(program: &str) -> &'static str {
    match program {
        "ffmpeg" | "ffprobe" => "ffmpeg",
        "janus-pp-rec" => "janus-tools",
        "gpg" => "gnupg",
        _ => "the package that provides it",
    }
}

/// Runs `inv` to completion within `timeout`; a non-zero exit is an error carrying the tail
/// of stderr. Dropping the returned future kills the child (SIGKILL via `kill_on_drop`).
pub(crate) async fn run(inv: &Invocation, timeout: Duration) -> Result<Finished, ProcessError> {
    run_to_exit(inv, timeout).await?.success()
}

/// Runs `inv` to its exit within `timeout`, whatever its exit status: the tool's own module
/// decides what its exit and output mean. An error means it did not run to an exit (missing,
/// not startable, timed out and killed, its output unreadable).
pub(crate) async fn run_to_exit(
    inv: &Invocation,
    timeout: Duration,
) -> Result<Finished, ProcessError> {
    let mut command = Command::new(&inv.program);
    command
        .args(&inv.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group: a Ctrl-C on recproc's terminal (or a supervisor signalling
        // recproc's group) reaches recproc, which decides what becomes of its tools.
        .process_group(0);
    die_with_parent(&mut command);
    let mut child = command.spawn().map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ProcessError::NotFound {
            program: inv.program.clone(),
            package: package_of(&inv.program),
        },
        _ => ProcessError::Spawn {
            program: inv.program.clone(),
            source,
        },
    })?;

    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let out_task = tokio::spawn(read_all(stdout));
    let err_task = tokio::spawn(read_tail(stderr, STDERR_TAIL_BYTES));

    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status.map_err(|source| ProcessError::Io {
            program: inv.program.clone(),
            source,
        })?,
        Err(_elapsed) => {
            terminate(&mut child).await;
            let stderr_tail = err_task.await.unwrap_or_default();
            return Err(ProcessError::TimedOut {
                program: inv.program.clone(),
                timeout,
                stderr_tail,
            });
        }
    };
    let stdout = out_task
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
        .map_err(|source| ProcessError::Io {
            program: inv.program.clone(),
            source,
        })?;
    Ok(Finished {
        program: inv.program.clone(),
        status,
        stdout,
        stderr_tail: err_task.await.unwrap_or_default(),
    })
}

/// Makes the child receive SIGKILL when recproc dies, even by SIGKILL (which runs no drop):
/// a new instance resuming the job must never find an orphaned tool of the dead one still
/// writing into the work directory.
fn die_with_parent(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (prctl, getppid, raise), touching no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
}

/// SIGTERM, then SIGKILL after a grace period.
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
        if tokio::time::timeout(TERM_GRACE, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

async fn read_all(mut r: impl AsyncRead + Unpin) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.read_to_end(&mut buf).await?;
    Ok(buf)
}

/// Reads `r` to its end, keeping only the last `keep` bytes, as lossy UTF-8.
async fn read_tail(mut r: impl AsyncRead + Unpin, keep: usize) -> String {
    let mut tail: Vec<u8> = Vec::with_capacity(keep * 2);
    let mut chunk = [0u8; 8192];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > keep * 2 {
                    tail.drain(..tail.len() - keep);
                }
            }
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    String::from_utf8_lossy(&tail).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn collects_stdout_of_a_successful_child() {
        let inv = Invocation::new("echo").arg("hello");
        let done = run(&inv, Duration::from_secs(5)).await.unwrap();
        assert_eq!(done.stdout, b"hello\n");
    }

    #[tokio::test]
    async fn failure_keeps_exit_status_and_stderr_tail() {
        let inv = Invocation::new("ls").arg("/definitely/not/here");
        let err = run(&inv, Duration::from_secs(5)).await.unwrap_err();
        match &err {
            ProcessError::Failed {
                stderr_tail,
                status,
                ..
            } => {
                assert!(
                    stderr_tail.contains("/definitely/not/here"),
                    "{stderr_tail}"
                );
                assert_eq!(status.code(), Some(2));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!err.is_system());
    }

    #[tokio::test]
    async fn a_child_killed_by_a_signal_is_the_systems_fault() {
        let inv = Invocation::new("sh").args(["-c", "kill -KILL $$"]);
        let err = run(&inv, Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(err, ProcessError::Failed { .. }), "{err:?}");
        assert!(err.is_system());
    }

    #[tokio::test]
    async fn a_crash_or_a_relayed_signal_is_told_apart() {
        // A crash on what it read: not the system's fault.
        let inv = Invocation::new("sh").args(["-c", "kill -SEGV $$"]);
        let err = run(&inv, Duration::from_secs(5)).await.unwrap_err();
        assert!(!err.is_system(), "{err:?}");
        // ffmpeg stopped by SIGTERM exits 255 and says so.
        let inv = Invocation::new("sh").args([
            "-c",
            "echo 'Exiting normally, received signal 15.' >&2; exit 255",
        ]);
        let err = run(&inv, Duration::from_secs(5)).await.unwrap_err();
        assert!(err.is_system(), "{err:?}");
    }

    #[tokio::test]
    async fn a_failed_exit_is_kept_for_the_tool_to_read() {
        let inv = Invocation::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]);
        let done = run_to_exit(&inv, Duration::from_secs(5)).await.unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(
            (done.stdout.as_slice(), done.stderr_tail.as_str()),
            (&b"out\n"[..], "err")
        );
        assert_eq!(
            done.failure().to_string(),
            "`sh` failed (exit status: 3): err"
        );
    }

    #[tokio::test]
    async fn missing_program_says_how_to_install_it() {
        let inv = Invocation::new("ffmpeg-that-does-not-exist");
        let err = run(&inv, Duration::from_secs(5)).await.unwrap_err();
        assert!(err.is_system());
        assert!(err.to_string().contains("on PATH"), "{err}");
    }

    #[tokio::test]
    async fn timeout_kills_the_child() {
        let inv = Invocation::new("sleep").arg("30");
        let started = std::time::Instant::now();
        let err = run(&inv, Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(err, ProcessError::TimedOut { .. }), "{err:?}");
        assert!(err.is_system());
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn stderr_tail_is_bounded() {
        // 100 kB on stderr: drained (no deadlock) and only the tail kept.
        let inv =
            Invocation::new("dd").args(["if=/dev/zero", "of=/dev/stderr", "bs=1000", "count=100"]);
        let done = run(&inv, Duration::from_secs(5)).await.unwrap();
        assert!(done.stderr_tail.len() <= STDERR_TAIL_BYTES);
    }

    #[test]
    fn display_joins_program_and_args() {
        let inv = Invocation::new("ffmpeg").args(["-i", "a b.webm"]);
        assert_eq!(inv.display(), "ffmpeg -i a b.webm");
        assert_eq!(inv.args_lossy(), vec!["-i", "a b.webm"]);
    }
}
