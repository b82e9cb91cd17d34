//! `recproc run`: consume conference-ended events, run each as its own task (at most
//! `amqp.prefetch` at once), publish the result with a confirm, and only then ack.
//!
//! - **Connection.** One per process. lapin recovers it on its own; when recovery gives up
//!   (or the broker is gone at start), the session is rebuilt from scratch with backoff. Jobs
//!   in flight keep running across a reconnect: their messages went back to the queue with
//!   the old channel, and the redelivery waits for the job's lock, then republishes its
//!   receipt (see [`ledger`](crate::ledger)).
//! - **Shutdown.** The first SIGTERM/SIGINT stops consuming and gives jobs in flight
//!   `daemon.shutdown_grace` to finish; then they are cancelled (their tools die, their
//!   messages go back to the queue when the connection closes). A second signal stops at once.
//! - **consumer_timeout.** RabbitMQ closes a channel whose delivery stays unacked too long;
//!   that is logged as an ERROR naming the setting, and consuming starts again.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::amqp::connection::{self, ConnectError};
use crate::amqp::policy::{self, Action};
use crate::amqp::publish;
use crate::amqp::topology::{self, TopologyError};
use crate::config::Config;
use crate::job;
use crate::pipeline::ToolSlots;

/// Backoff between attempts to reach the broker, and to publish a result.
const RECONNECT_BASE: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// How old a `.recproc-*.partial` leftover in output_dir must be to be swept at start: no
/// delivery (a rename, or a copy across filesystems) takes anywhere near this long.
const PARTIAL_AGE: Duration = Duration::from_secs(24 * 3600);

/// The longest recproc waits for the broker to answer a cancel or a close.
const BROKER_CALL_LIMIT: Duration = Duration::from_secs(10);

/// How the daemon stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every job in flight finished (or there was none).
    Drained { signal: i32 },
    /// Jobs were cancelled (grace period over, or a second signal); their messages went back
    /// to the queue.
    Cancelled { signal: i32, jobs: usize },
}

/// Why the daemon could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

/// The SIGTERM/SIGINT count, and the last signal's number.
#[derive(Debug, Clone)]
pub struct Signals {
    rx: watch::Receiver<(u32, i32)>,
}

impl Signals {
    /// Starts listening (do it before anything is started that a signal should stop).
    pub fn listen() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (tx, rx) = watch::channel((0, 0));
        tokio::spawn(async move {
            loop {
                let number = tokio::select! {
                    _ = term.recv() => libc::SIGTERM,
                    _ = int.recv() => libc::SIGINT,
                };
                tx.send_modify(|(count, last)| {
                    *count += 1;
                    *last = number;
                });
            }
        });
        Ok(Signals { rx })
    }

    fn count(&self) -> u32 {
        self.rx.borrow().0
    }

    fn last(&self) -> i32 {
        self.rx.borrow().1
    }

    /// Resolves once at least `n` signals have arrived.
    async fn reached(&mut self, n: u32) {
        // The sender lives as long as the listening task, i.e. the runtime.
        let _ = self.rx.wait_for(|(count, _)| *count >= n).await;
    }
}

/// What every job task shares.
struct Shared {
    config: Arc<Config>,
    tools: ToolSlots,
    /// At most `amqp.prefetch` jobs run at once, also across a reconnect.
    job_slots: Semaphore,
    /// System failures in a row (reset by any success): the requeue backoff.
    system_failures: AtomicU32,
    /// One publish-and-confirm at a time: lapin matches confirms and returns to publishes by
    /// order, which concurrent publishers on one channel could mix up.
    publishing: tokio::sync::Mutex<()>,
    /// Set once a shutdown signal arrived.
    signals: Signals,
}

/// How one session with the broker ended.
enum SessionEnd {
    Shutdown(Stopped),
    Lost(String),
}

/// Runs the daemon until a signal stops it. Fails only when the broker refuses recproc's
/// queues (a configuration problem: retrying cannot help).
pub async fn run(
    config: Arc<Config>,
    slots: ToolSlots,
    mut signals: Signals,
) -> Result<Stopped, DaemonError> {
    let shared = Arc::new(Shared {
        job_slots: Semaphore::new(usize::from(config.amqp.prefetch)),
        config,
        tools: slots,
        system_failures: AtomicU32::new(0),
        publishing: tokio::sync::Mutex::new(()),
        signals: signals.clone(),
    });
    let output_dir = shared.config.paths.output_dir.clone();
    let swept = tokio::task::spawn_blocking(move || {
        crate::pipeline::deliver::sweep_partials(&output_dir, PARTIAL_AGE)
    })
    .await
    .unwrap_or_default();
    for path in swept {
        tracing::warn!(path = %path.display(), "Removed what a delivery cut short by a crash left in output_dir.");
    }
    let mut jobs = JoinSet::new();
    let mut failures = 0u32;
    loop {
        if signals.count() > 0 {
            return Ok(drain(&shared, &mut jobs, &mut signals, None).await);
        }
        match session(&shared, &mut jobs, &mut signals, &mut failures).await {
            Ok(SessionEnd::Shutdown(stopped)) => return Ok(stopped),
            Ok(SessionEnd::Lost(why)) => {
                let delay = policy::backoff(failures, RECONNECT_BASE, RECONNECT_MAX);
                failures += 1;
                tracing::error!(
                    error = %why,
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
                    drain(&shared, &mut jobs, &mut signals, None).await;
                }
                return Err(e);
            }
        }
    }
}

/// One connection: declare, consume, hand out deliveries; on the first signal, drain.
async fn session(
    shared: &Arc<Shared>,
    jobs: &mut JoinSet<()>,
    signals: &mut Signals,
    failures: &mut u32,
) -> Result<SessionEnd, DaemonError> {
    let amqp = &shared.config.amqp;
    let connecting = connection::connect(amqp, connection::Recovery::Automatic);
    let conn = tokio::select! {
        c = connecting => match c {
            Ok(c) => c,
            Err(e @ ConnectError::Url { .. }) => return Err(e.into()),
            Err(e) => return Ok(SessionEnd::Lost(e.to_string())),
        },
        _ = signals.reached(1) => {
            let stopped = drain(shared, jobs, signals, None).await;
            return Ok(SessionEnd::Shutdown(stopped));
        }
    };
    let channel = match open_channel(&conn, shared).await {
        Ok(ch) => ch,
        Err(Opening::Topology(e)) if e.permanent => {
            close(&conn).await;
            return Err(e.into());
        }
        Err(e) => {
            close(&conn).await;
            return Ok(SessionEnd::Lost(e.to_string()));
        }
    };
    let tag = connection::connection_name();
    let mut consumer = match channel
        .basic_consume(
            amqp.queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
    {
        Ok(c) => c,
        Err(e) => {
            close(&conn).await;
            return Ok(SessionEnd::Lost(format!(
                "cannot consume from {:?}: {e}",
                amqp.queue
            )));
        }
    };
    *failures = 0;
    let watcher = tokio::spawn(log_connection_events(conn.events_listener()));
    tracing::info!(
        url = %amqp.url_redacted(),
        connection = %tag,
        queue = %amqp.queue,
        prefetch = amqp.prefetch,
        "Consuming conference-ended events."
    );

    let end = loop {
        tokio::select! {
            _ = signals.reached(1) => {
                // Bounded: a blocked connection (a broker alarm) sends nothing.
                let cancel = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default());
                let _ = tokio::time::timeout(BROKER_CALL_LIMIT, cancel).await;
                let stopped = drain(shared, jobs, signals, Some(&channel)).await;
                break SessionEnd::Shutdown(stopped);
            }
            Some(done) = jobs.join_next(), if !jobs.is_empty() => {
                if let Err(e) = done {
                    if e.is_panic() {
                        tracing::error!(error = %e, "A job panicked; its message goes back to the queue when the channel closes.");
                    }
                }
            }
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let (shared, channel) = (Arc::clone(shared), channel.clone());
                    jobs.spawn(handle(shared, channel, delivery));
                }
                Some(Err(e)) => {
                    log_channel_error(&e);
                    match channel.wait_for_recovery(e).await {
                        Ok(()) => {
                            tracing::info!("The broker connection was recovered; consuming again.");
                            // Recovery replays the QoS, but a consumer may race ahead of it.
                            let _ = channel.basic_qos(amqp.prefetch, BasicQosOptions::default()).await;
                        }
                        Err(e) => break SessionEnd::Lost(e.to_string()),
                    }
                }
                None => break SessionEnd::Lost(format!("the broker cancelled the consumer of {:?} (was the queue deleted?)", amqp.queue)),
            },
        }
    };
    watcher.abort();
    close(&conn).await;
    Ok(end)
}

/// Says what happens to the connection while lapin recovers it on its own.
async fn log_connection_events(events: impl futures::Stream<Item = lapin::Event>) {
    futures::pin_mut!(events);
    while let Some(event) = events.next().await {
        match event {
            lapin::Event::Error(e) => tracing::warn!(
                error = %e,
                "The broker closed a channel or the connection. Jobs in flight go on; their messages go back to the queue and are answered again (from the receipt once delivered)."
            ),
            // The first connection was made before this listener: this is a recovery.
            lapin::Event::Connected => tracing::warn!(
                "The broker connection was lost and has been recovered; consuming again. The messages of jobs in flight went back to the queue and are answered again (from the receipt once delivered)."
            ),
            lapin::Event::ConnectionBlocked(reason) => tracing::warn!(
                reason = %reason,
                "The broker blocks publishing (a memory or disk alarm); results wait until it lifts."
            ),
            lapin::Event::ConnectionUnblocked => {
                tracing::info!("The broker accepts publishing again.")
            }
            _ => {}
        }
    }
}

enum Opening {
    Channel(lapin::Error),
    Topology(TopologyError),
}

impl std::fmt::Display for Opening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Opening::Channel(e) => write!(f, "cannot open a channel: {e}"),
            Opening::Topology(e) => e.fmt(f),
        }
    }
}

/// A channel with the queues declared, the prefetch set and publisher confirms on.
async fn open_channel(conn: &Connection, shared: &Shared) -> Result<Channel, Opening> {
    let amqp = &shared.config.amqp;
    let channel = conn.create_channel().await.map_err(Opening::Channel)?;
    topology::declare(&channel, amqp)
        .await
        .map_err(Opening::Topology)?;
    channel
        .basic_qos(amqp.prefetch, BasicQosOptions::default())
        .await
        .map_err(Opening::Channel)?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(Opening::Channel)?;
    Ok(channel)
}

/// Closes the connection explicitly (dropping it does not), within a bounded time.
async fn close(conn: &Connection) {
    let closing = conn.close(200, "recproc closes its connection".into());
    let _ = tokio::time::timeout(BROKER_CALL_LIMIT, closing).await;
}

/// Logs what the broker said when it closed the channel; the unacked-delivery timeout gets
/// an ERROR that says which setting to raise.
fn log_channel_error(e: &lapin::Error) {
    let text = e.to_string();
    if text.contains("delivery acknowledgement") && text.contains("timed out") {
        tracing::error!(
            error = %text,
            "RabbitMQ closed the channel because a job took longer than its consumer_timeout; the job goes on and its message comes back. Raise consumer_timeout in rabbitmq.conf (or the queue's x-consumer-timeout) above the longest job: see README, Deployment."
        );
    } else {
        tracing::warn!(error = %text, "The broker channel failed; waiting for recovery.");
    }
}

/// Waits for jobs in flight: until they are done, `daemon.shutdown_grace` is over, or a
/// second signal; then cancels what is left. `channel`, when the session is alive, keeps it
/// open so finishing jobs can publish and ack.
async fn drain(
    shared: &Shared,
    jobs: &mut JoinSet<()>,
    signals: &mut Signals,
    channel: Option<&Channel>,
) -> Stopped {
    let grace = shared.config.daemon.shutdown_grace;
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

/// One delivery: process, decide, publish, ack (or requeue).
async fn handle(shared: Arc<Shared>, channel: Channel, delivery: Delivery) {
    let _slot = shared
        .job_slots
        .acquire()
        .await
        .expect("the job semaphore is never closed");
    if delivery.redelivered {
        tracing::info!(
            delivery_tag = delivery.delivery_tag,
            "This message was delivered before; processing it again resumes or republishes."
        );
    }
    let outcome = job::process(&shared.config, &shared.tools, &delivery.data).await;
    let failures = shared.system_failures.load(Ordering::Relaxed);
    let mut action = policy::decide(&outcome, &shared.config.amqp, failures);
    if shared.signals.count() > 0 && matches!(outcome, job::Outcome::Failed(_)) {
        // The signal may have reached the tools too (a terminal's Ctrl-C, a supervisor that
        // signals the whole group): a failure now proves nothing about the message.
        action = Action::Requeue {
            delay: Duration::ZERO,
            reason: "the job failed while recproc was shutting down".into(),
        };
    }
    match action {
        Action::Requeue { delay, reason } => {
            shared.system_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                error = %reason,
                retry_in_s = delay.as_secs(),
                "The system failed, not the message: it goes back to the queue to be tried again. Fix the cause (see the error); nothing was published."
            );
            tokio::time::sleep(delay).await;
            let requeue = BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            };
            match delivery.acker.nack(requeue).await {
                Ok(true) => {}
                Ok(false) | Err(_) => tracing::info!(
                    "The message was already back in the queue (its channel closed)."
                ),
            }
        }
        Action::PublishThenAck { queue, body, kind } => {
            if kind == "processed" {
                shared.system_failures.store(0, Ordering::Relaxed);
            }
            if publish_until_confirmed(&shared, &channel, &delivery, &queue, &body, kind).await {
                ack(&delivery).await;
            }
        }
    }
}

/// Publishes until the broker confirms it; gives up only when the delivery can no longer be
/// acked (its channel closed: the message is back in the queue and will be answered again).
/// A slow confirm is waited for, not answered with a second copy.
async fn publish_until_confirmed(
    shared: &Shared,
    channel: &Channel,
    delivery: &Delivery,
    queue: &str,
    body: &[u8],
    kind: &str,
) -> bool {
    let timeout = shared.config.amqp.confirm_timeout;
    for attempt in 0u32.. {
        if !delivery.acker.usable() {
            tracing::info!(
                queue,
                kind,
                "The broker took this message back (its channel closed) before the {kind} event was confirmed; the next delivery publishes it."
            );
            return false;
        }
        let published = {
            let _one_at_a_time = shared.publishing.lock().await;
            let still_wanted = |waited: Duration| {
                let wanted = delivery.acker.usable();
                if wanted {
                    tracing::warn!(
                        queue,
                        kind,
                        waited_s = waited.as_secs(),
                        "The broker has not confirmed the {kind} event yet; still waiting (the message stays unacked)."
                    );
                }
                wanted
            };
            publish::confirmed(channel, queue, body, timeout, still_wanted).await
        };
        match published {
            Ok(()) => {
                tracing::debug!(queue, kind, "Published the {kind} event.");
                return true;
            }
            Err(e) => {
                let delay = policy::backoff(attempt, RECONNECT_BASE, RECONNECT_MAX);
                tracing::warn!(
                    queue,
                    kind,
                    error = %e,
                    retry_in_s = delay.as_secs_f64(),
                    "Could not publish the {kind} event; retrying. The message stays unacked until it is confirmed."
                );
                if matches!(e, publish::PublishError::Returned { .. }) {
                    // The queue is gone (deleted by hand?): declare it again.
                    if let Err(e) = topology::declare(channel, &shared.config.amqp).await {
                        tracing::warn!(error = %e, "Could not declare the queues again.");
                    }
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
    unreachable!("the retry loop only ends by returning")
}

async fn ack(delivery: &Delivery) {
    match delivery.acker.ack(BasicAckOptions::default()).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "The ack did not reach the broker (the channel closed): the message will be delivered again and answered from its receipt."
        ),
        Err(e) => tracing::warn!(
            error = %e,
            "The ack failed: the message will be delivered again and answered from its receipt."
        ),
    }
}
