//! How `recproc run` stops: after the first SIGTERM/SIGINT no new conference is taken, and
//! the jobs in flight get `daemon.shutdown_grace` to finish; when the grace is over, or a
//! second signal arrives, what is left is cancelled (its tools die, its messages go back to
//! the queue when the connection closes, its work directory is kept for the next attempt).

use std::time::Duration;

use lapin::Channel;
use tokio::task::JoinSet;

use crate::signal::Signals;

/// How the daemon stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every job in flight finished (or there was none).
    Drained { signal: i32 },
    /// Jobs were cancelled (grace period over, or a second signal); their messages went back
    /// to the queue.
    Cancelled { signal: i32, jobs: usize },
}

/// Waits for jobs in flight: until they are done, `grace` is over, or a second signal; then
/// cancels what is left. `channel`, when the session is alive, keeps it open so finishing
/// jobs can publish and ack.
pub(crate) async fn drain(
    jobs: &mut JoinSet<()>,
    signals: &mut Signals,
    grace: Duration,
    channel: Option<&Channel>,
) -> Stopped {
    let signal = signals.last();
    let in_flight = jobs.len();
    tracing::info!(
        jobs_in_flight = in_flight,
        grace_s = grace.as_secs(),
        connected = channel.is_some_and(|c| c.status().connected()),
        "Shutting down: no new conferences are taken; jobs in flight have {} s to finish (a second signal stops at once).",
        grace.as_secs()
    );
    let finished = async { while jobs.join_next().await.is_some() {} };
    let drained = tokio::select! {
        _ = finished => true,
        _ = tokio::time::sleep(grace) => false,
        _ = signals.reached(2) => false,
    };
    if drained {
        tracing::info!("Every job in flight finished; stopping.");
        return Stopped::Drained { signal };
    }
    let left = jobs.len();
    jobs.abort_all();
    while jobs.join_next().await.is_some() {}
    tracing::warn!(
        jobs_cancelled = left,
        "Cancelled the jobs still running; their tools were stopped and their messages go back to the queue. Their work directories are kept, so the next attempt resumes."
    );
    Stopped::Cancelled {
        signal: signals.last(),
        jobs: left,
    }
}
