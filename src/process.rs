//! Running one external tool (ffmpeg, ffprobe, janus-pp-rec): arguments as a list (never a
//! shell), stdout collected, stderr drained while the child runs with its tail kept for the
//! error, a timeout, and the tool's whole process group killed on a timeout or when the job
//! is cancelled (the future dropped), so nothing it started outlives it.

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How much of a failing child's stderr its error keeps (the end is what explains it).
const STDERR_TAIL_BYTES: usize = 4096;
/// After SIGTERM on timeout, how long the tool's process group gets before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);
/// Once the tool has ended, how long its output pipes may stay open (held by a process that
/// left its group) before recproc stops reading them.
const PIPE_GRACE: Duration = Duration::from_secs(2);

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
/// of stderr. Dropping the returned future kills the tool and its process group.
pub(crate) async fn run(inv: &Invocation, timeout: Duration) -> Result<Finished, ProcessError> {
    run_to_exit(inv, timeout).await?.success()
}

/// Runs `inv` to its exit within `timeout`, whatever its exit status: the tool's own module
/// decides what its exit and output mean. An error means it did not run to an exit (missing,
/// not startable, timed out and killed, its output unreadable).
///
/// The tool runs in a process group of its own, and whatever it started goes with it: on a
/// timeout the whole group gets SIGTERM, then SIGKILL after [`TERM_GRACE`]; when the tool
/// exits, what it left running in its group gets SIGKILL; when the future is dropped (the job
/// cancelled), the group gets SIGKILL at once. Its output is read until the pipes close, but
/// for at most [`PIPE_GRACE`] after it ended: a process that left its group may hold them.
pub(crate) async fn run_to_exit(
    inv: &Invocation,
    timeout: Duration,
) -> Result<Finished, ProcessError> {
    let mut child = spawn(inv)?;
    // Declared after `child`, so dropped before it: the group is signalled while its leader
    // is not reaped yet, so its ID cannot belong to anyone else.
    let mut group = Group::of(&child);
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (stop, stopped) = watch::channel(false);
    let out_task = tokio::spawn(read_all(stdout, stopped.clone()));
    let err_task = tokio::spawn(read_tail(stderr, STDERR_TAIL_BYTES, stopped));

    let waited = tokio::time::timeout(timeout, child.wait()).await;
    let status = match waited {
        Ok(status) => {
            // Whatever the tool left running in its group goes with it.
            group.kill(libc::SIGKILL);
            status
        }
        Err(_elapsed) => {
            terminate(&mut child, &mut group).await;
            let (_, stderr_tail) = collect(inv, out_task, err_task, stop).await;
            return Err(ProcessError::TimedOut {
                program: inv.program.clone(),
                timeout,
                stderr_tail,
            });
        }
    };
    let io_error = |source| ProcessError::Io {
        program: inv.program.clone(),
        source,
    };
    let status = status.map_err(io_error)?;
    let (stdout, stderr_tail) = collect(inv, out_task, err_task, stop).await;
    Ok(Finished {
        program: inv.program.clone(),
        status,
        stdout: stdout.map_err(io_error)?,
        stderr_tail,
    })
}

/// Starts `inv` with its output piped, in a process group of its own, to die with recproc.
fn spawn(inv: &Invocation) -> Result<Child, ProcessError> {
    let mut command = Command::new(&inv.program);
    command
        .args(&inv.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group: a Ctrl-C on recproc's terminal (or a supervisor signalling
        // recproc's group) reaches recproc, which decides what becomes of its tools; and
        // recproc can signal the tool together with whatever it starts.
        .process_group(0);
    die_with_parent(&mut command);
    command.spawn().map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ProcessError::NotFound {
            program: inv.program.clone(),
            package: package_of(&inv.program),
        },
        _ => ProcessError::Spawn {
            program: inv.program.clone(),
            source,
        },
    })
}

/// The process group of a running tool (its ID is the tool's PID, as it leads the group).
/// Dropped while armed, it kills the whole group: the job was cancelled.
///
/// Signalling a group after its leader was reaped is safe: an ID stays taken while any member
/// of the group lives, and Linux hands out PIDs in turn, so the number is not anyone else's
/// group an instant after the leader was reaped.
struct Group {
    pgid: Option<libc::pid_t>,
}

impl Group {
    fn of(child: &Child) -> Group {
        Group {
            pgid: child.id().map(|pid| pid as libc::pid_t),
        }
    }

    /// Sends `signal` to every process of the group; a SIGKILL disarms the guard (the group
    /// is gone, or going).
    fn kill(&mut self, signal: libc::c_int) {
        if let Some(pgid) = self.pgid {
            // SAFETY: killpg(2) on the group our child leads, with a valid signal number, has
            // no memory effects. A group with nobody left in it answers ESRCH, ignored.
            unsafe {
                libc::killpg(pgid, signal);
            }
        }
        if signal == libc::SIGKILL {
            self.pgid = None;
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Cancelled: no grace, the job's output is abandoned anyway (and `kill_on_drop` only
        // reaches the tool itself, not what it started).
        self.kill(libc::SIGKILL);
    }
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

/// SIGTERM to the tool's group, SIGKILL to what is left of it after a grace period (its
/// children may outlive it, or ignore SIGTERM), then the tool reaped.
async fn terminate(child: &mut Child, group: &mut Group) {
    group.kill(libc::SIGTERM);
    let _ = tokio::time::timeout(TERM_GRACE, child.wait()).await;
    group.kill(libc::SIGKILL);
    // Bounded: a process stuck in the kernel (a hung NFS mount) dies only when it returns;
    // `kill_on_drop` and tokio's reaper see to it then.
    let _ = tokio::time::timeout(PIPE_GRACE, child.wait()).await;
}

/// The tool's stdout and stderr tail once both pipes closed, or what came of them within
/// [`PIPE_GRACE`] (then reading stops: something outside the tool's group holds them open).
async fn collect(
    inv: &Invocation,
    out_task: JoinHandle<io::Result<Vec<u8>>>,
    err_task: JoinHandle<String>,
    stop: watch::Sender<bool>,
) -> (io::Result<Vec<u8>>, String) {
    let both = async { tokio::join!(out_task, err_task) };
    tokio::pin!(both);
    let (out, err) = match tokio::time::timeout(PIPE_GRACE, &mut both).await {
        Ok(done) => done,
        Err(_) => {
            tracing::warn!(
                program = %inv.program,
                waited_s = PIPE_GRACE.as_secs(),
                "A process the tool started left its process group and keeps the tool's output open; stopped reading it."
            );
            let _ = stop.send(true);
            both.await
        }
    };
    (
        out.unwrap_or_else(|e| Err(io::Error::other(e))),
        err.unwrap_or_default(),
    )
}

/// Reads `r` until its end or until `stop` turns true, handing each chunk to `take`.
async fn drain(
    mut r: impl AsyncRead + Unpin,
    mut stop: watch::Receiver<bool>,
    mut take: impl FnMut(&[u8]),
) -> io::Result<()> {
    let mut chunk = [0u8; 8192];
    loop {
        let n = tokio::select! {
            // Stop first: a process that keeps writing must not keep the reader busy.
            biased;
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
            n = r.read(&mut chunk) => n?,
        };
        if n == 0 {
            return Ok(());
        }
        take(&chunk[..n]);
    }
}

async fn read_all(r: impl AsyncRead + Unpin, stop: watch::Receiver<bool>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    drain(r, stop, |chunk| buf.extend_from_slice(chunk)).await?;
    Ok(buf)
}

/// Reads `r` to its end (or until `stop`), keeping only the last `keep` bytes, as lossy
/// UTF-8.
async fn read_tail(r: impl AsyncRead + Unpin, keep: usize, stop: watch::Receiver<bool>) -> String {
    let mut tail: Vec<u8> = Vec::with_capacity(keep * 2);
    // A read error ends the tail where it is: the tail only explains a failure.
    let _ = drain(r, stop, |chunk| {
        tail.extend_from_slice(chunk);
        if tail.len() > keep * 2 {
            tail.drain(..tail.len() - keep);
        }
    })
    .await;
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

    /// Whether process `pid` is gone (a zombie waiting for init to reap it counts as gone).
    fn gone(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            // `pid (comm) S …`: the state follows the command's closing parenthesis.
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z')),
        }
    }

    /// Waits up to 2 s for `pid` to be gone (a signalled process takes a moment to die).
    async fn dies(pid: u32) -> bool {
        for _ in 0..100 {
            if gone(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// The PID a test script wrote into `file` (it starts a child and says which).
    async fn pid_in(file: &Path) -> u32 {
        for _ in 0..500 {
            if let Ok(text) = std::fs::read_to_string(file) {
                if let Ok(pid) = text.trim().parse() {
                    return pid;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "the script never wrote its child's PID into {}",
            file.display()
        );
    }

    /// `sh -c script`, with `$1` the file the script writes its child's PID into.
    fn script(script: &str, pid_file: &Path) -> Invocation {
        Invocation::new("sh")
            .args(["-c", script, "sh"])
            .path_arg(pid_file)
    }

    /// `run(inv, timeout)`, failing the test if it has not come back within `limit`.
    async fn run_within(
        limit: Duration,
        inv: &Invocation,
        timeout: Duration,
    ) -> Result<Finished, ProcessError> {
        tokio::time::timeout(limit, run(inv, timeout))
            .await
            .unwrap_or_else(|_| panic!("the call did not come back within {limit:?}"))
    }

    /// Starts a child that leaves the tool's process group (still holding its stdout and
    /// stderr) and writes its PID into `$1`; waits until it has left, so that killing the group
    /// cannot catch it on its way out.
    const LEAVE_THE_GROUP: &str = "setsid sh -c 'echo $$ > \"$1\"; exec sleep 1000' sh \"$1\" & \
         while [ ! -s \"$1\" ]; do sleep 0.01; done";

    /// Kills the process whose PID a test script wrote into the file, if it still runs when
    /// the test ends (it left the tool's group on purpose, or the test failed).
    struct Reap(std::path::PathBuf);
    impl Drop for Reap {
        fn drop(&mut self) {
            let pid = std::fs::read_to_string(&self.0).ok();
            if let Some(pid) = pid.and_then(|p| p.trim().parse::<libc::pid_t>().ok()) {
                // SAFETY: kill(2) with a valid signal number has no memory effects.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }

    #[tokio::test]
    async fn a_timeout_kills_what_the_tool_started_too() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let _reap = Reap(pid_file.clone());
        // Tool and child ignore SIGTERM (ignored signals survive exec), and the child holds
        // the tool's stdout and stderr open: only SIGKILL to the whole group ends both.
        let inv = script(
            "trap '' TERM; sleep 1000 & echo $! > \"$1\"; echo started >&2; wait",
            &pid_file,
        );
        let timeout = Duration::from_millis(500);
        let started = std::time::Instant::now();
        let limit = timeout + TERM_GRACE + Duration::from_secs(1);
        let err = run_within(limit, &inv, timeout).await.unwrap_err();
        let took = started.elapsed();
        let ProcessError::TimedOut { stderr_tail, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(stderr_tail, "started");
        // SIGTERM ignored: SIGKILL after the grace, then the pipes close at once.
        assert!(took >= timeout + TERM_GRACE, "{took:?}");
        let child = pid_in(&pid_file).await;
        assert!(dies(child).await, "the tool's child {child} outlived it");
    }

    #[tokio::test]
    async fn a_timeout_gives_sigterm_first() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let _reap = Reap(pid_file.clone());
        // Both die on SIGTERM: no grace is waited out.
        let inv = script("sleep 1000 & echo $! > \"$1\"; wait", &pid_file);
        let err = run_within(TERM_GRACE, &inv, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, ProcessError::TimedOut { .. }), "{err:?}");
        let child = pid_in(&pid_file).await;
        assert!(dies(child).await, "the tool's child {child} outlived it");
    }

    #[tokio::test]
    async fn a_process_that_left_the_group_cannot_hold_the_call_after_a_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let _reap = Reap(pid_file.clone());
        // The child leaves the group (setsid) but keeps the tool's stderr open.
        let inv = script(&format!("{LEAVE_THE_GROUP}; wait"), &pid_file);
        let timeout = Duration::from_millis(300);
        let limit = timeout + TERM_GRACE + PIPE_GRACE + Duration::from_secs(1);
        let err = run_within(limit, &inv, timeout).await.unwrap_err();
        assert!(matches!(err, ProcessError::TimedOut { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_tool_that_exits_takes_what_it_started_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let _reap = Reap(pid_file.clone());
        // The tool is done, but its child would hold stdout open for 1000 s.
        let inv = script("sleep 1000 & echo $! > \"$1\"; echo done", &pid_file);
        let done = run_within(Duration::from_secs(2), &inv, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(done.stdout, b"done\n");
        let child = pid_in(&pid_file).await;
        assert!(dies(child).await, "the tool's child {child} outlived it");
    }

    #[tokio::test]
    async fn output_held_open_outside_the_group_is_read_for_a_bounded_time() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let _reap = Reap(pid_file.clone());
        let inv = script(&format!("{LEAVE_THE_GROUP}; echo done"), &pid_file);
        let started = std::time::Instant::now();
        let limit = PIPE_GRACE + Duration::from_secs(1);
        let done = run_within(limit, &inv, Duration::from_secs(60)).await;
        assert_eq!(done.unwrap().stdout, b"done\n");
        assert!(started.elapsed() >= PIPE_GRACE, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_cancelled_run_kills_the_tool_and_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let _reap = Reap(pid_file.clone());
        let tool_file = dir.path().join("tool.pid");
        let _reap_tool = Reap(tool_file.clone());
        let inv = Invocation::new("sh")
            .args([
                "-c",
                "trap '' TERM; echo $$ > \"$2\"; sleep 1000 & echo $! > \"$1\"; wait",
                "sh",
            ])
            .path_arg(&pid_file)
            .path_arg(&tool_file);
        let running = run(&inv, Duration::from_secs(600));
        // Cancelled (dropped) once the tool has started its child.
        let child = tokio::select! {
            done = running => panic!("the tool ended on its own: {done:?}"),
            pid = pid_in(&pid_file) => pid,
        };
        let tool = pid_in(&tool_file).await;
        assert!(dies(tool).await, "the tool {tool} outlived its job");
        assert!(
            dies(child).await,
            "the tool's child {child} outlived its job"
        );
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
