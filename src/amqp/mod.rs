//! The broker edge of `recproc run`, and its lifetime: consume conference-ended events, run
//! each as its own task (at most `amqp.prefetch` at once), publish the result with a confirm,
//! and only then ack. The work itself never touches the broker: a job returns an
//! [`Outcome`](crate::job::Outcome), `policy` decides what that means for the message (pure,
//! unit-tested), and `consumer` does it.
//!
//! - **Connection.** One per process (`connection`). lapin recovers it on its own; when
//!   recovery gives up (or the broker is gone at start), [`run`] rebuilds the session from
//!   scratch with backoff. Jobs in flight keep running across a reconnect: their messages went
//!   back to the queue with the old channel, and the redelivery waits for the job's lock, then
//!   republishes its receipt (see [`ledger`](crate::ledger)).
//! - **Queues.** Declared the same way at every start (`topology`); `check-config` only
//!   looks at them ([`check_broker`]).
//! - **Shutdown.** The first SIGTERM/SIGINT stops consuming and drains (`shutdown`); a
//!   second signal stops at once.
//! - **Replay.** `recproc replay` puts failed conferences' original events back on the input
//!   queue ([`replay`]).

mod check;
mod connection;
mod consumer;
mod policy;
mod publish;
pub mod replay;
mod shutdown;
mod topology;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::config::Config;
use crate::metrics::Readiness;
use crate::pipeline::ToolSlots;
use crate::signal::Signals;
use consumer::{SessionEnd, Shared};
use policy::{RECONNECT_BASE, RECONNECT_MAX};

pub use check::{check_broker, BrokerCheckError};
pub use connection::ConnectError;
pub use shutdown::Stopped;
pub use topology::TopologyError;

/// How old a `.recproc-*.partial` leftover in output_dir must be to be swept at start: no
/// delivery (a rename, or a copy across filesystems) takes anywhere near this long.
const PARTIAL_AGE: Duration = Duration::from_secs(24 * 3600);

/// Why the daemon could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

/// Runs the daemon until a signal stops it. Fails only when the broker refuses recproc's
/// queues or its URL (a configuration problem: retrying cannot help).
pub async fn run(
    config: Arc<Config>,
    slots: ToolSlots,
    mut signals: Signals,
    readiness: Arc<Readiness>,
) -> Result<Stopped, DaemonError> {
    let shared = Arc::new(Shared::new(config, slots, signals.clone(), readiness));
    sweep_partials(&shared.config).await;
    tokio::spawn(prune_state(Arc::clone(&shared.config)));
    let grace = shared.config.daemon.shutdown_grace;
    let mut jobs = JoinSet::new();
    let mut failures = 0u32;
    loop {
        if signals.count() > 0 {
            shared.readiness.draining();
            return Ok(shutdown::drain(&mut jobs, &mut signals, grace, None).await);
        }
        match consumer::session(&shared, &mut jobs, &mut signals, &mut failures).await {
            Ok(SessionEnd::Shutdown(stopped)) => return Ok(stopped),
            Ok(SessionEnd::Lost(why)) => {
                let delay = policy::backoff(failures, RECONNECT_BASE, RECONNECT_MAX);
                failures += 1;
                tracing::error!(
                    error = crate::logs::field(&why),
                    retry_in_s = delay.as_secs_f64(),
                    jobs_in_flight = jobs.len(),
                    "Lost the broker; reconnecting. Jobs in flight go on; their messages went back to the queue and are answered again (from the receipt once delivered)."
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = signals.reached(1) => {}
                }
            }
            Err(e) => {
                // Refused topology: stop, but let running jobs finish first.
                if !jobs.is_empty() {
                    shutdown::drain(&mut jobs, &mut signals, grace, None).await;
                }
                return Err(e);
            }
        }
    }
}

/// How often the state directory is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Prunes the state directory of what `daemon.state_retention_days` no longer keeps, now and
/// once a day (see [`Ledger::prune`](crate::ledger::Ledger::prune)).
async fn prune_state(config: Arc<Config>) {
    let days = config.daemon.state_retention.as_secs() / 86_400;
    loop {
        let (output_dir, keep) = (
            config.paths.output_dir.clone(),
            config.daemon.state_retention,
        );
        let pruned = tokio::task::spawn_blocking(move || {
            crate::ledger::Ledger::open(&output_dir)?.prune(keep)
        })
        .await;
        let (removed, skipped) = match pruned {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => (Vec::new(), vec![e.to_string()]),
            Err(e) => (Vec::new(), vec![e.to_string()]),
        };
        if !removed.is_empty() {
            tracing::info!(
                files = removed.len(),
                retention_days = days,
                "Pruned the state directory: {} files of conferences settled more than {days} days ago.",
                removed.len()
            );
        }
        for problem in skipped {
            tracing::warn!(
                error = crate::logs::field(&problem),
                "Could not prune part of the state directory; it is tried again tomorrow."
            );
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

/// Removes what a delivery cut short by a crash left in output_dir.
async fn sweep_partials(config: &Config) {
    let output_dir = config.paths.output_dir.clone();
    let swept = tokio::task::spawn_blocking(move || {
        crate::pipeline::deliver::sweep_partials(&output_dir, PARTIAL_AGE)
    })
    .await
    .unwrap_or_default();
    for path in swept {
        tracing::warn!(
            path = crate::logs::field(path.display()),
            "Removed what a delivery cut short by a crash left in output_dir."
        );
    }
}
