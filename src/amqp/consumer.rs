//! Consuming: one session per connection (a channel with the queues declared and the
//! prefetch set, a consumer on `amqp.queue`; results go out on a channel of their own, see
//! [`publish`](super::publish)), each delivery run as its own task (at most `amqp.prefetch`
//! at once, also across a reconnect), and what happens to one delivery: process it, decide
//! with [`policy`](super::policy), publish the result (confirmed) and only then ack, or give
//! the message back to the queue; one whose result the broker refuses for good is
//! dead-lettered.
//!
//! RabbitMQ closes a channel whose delivery stays unacked longer than its `consumer_timeout`;
//! that is logged as an ERROR naming the setting, and consuming starts again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;
use tokio::task::{JoinError, JoinSet};

use crate::amqp::connection::{self, ConnectError, Recovery, BROKER_CALL_LIMIT};
use crate::amqp::policy::{self, Action, Failures};
use crate::amqp::publish::{PublishError, Published, Publisher};
use crate::amqp::shutdown::{self, Stopped};
use crate::amqp::topology::{self, TopologyError};
use crate::amqp::DaemonError;
use crate::config::{AmqpConfig, Config};
use crate::job;
use crate::metrics::{self, InFlight, JobOutcome, Readiness};
use crate::pipeline::{Blame, ToolSlots};
use crate::signal::Signals;

/// What every job task shares.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    tools: ToolSlots,
    /// At most `amqp.prefetch` jobs run at once, also across a reconnect.
    job_slots: Semaphore,
    /// System failures in a row (reset by any success): the requeue backoff.
    system_failures: AtomicU32,
    /// System failures of messages whose attempts the state directory could not count, by
    /// the message's sha256: this instance counts them alone, so they too end.
    counted_here: Mutex<HashMap<[u8; 32], u32>>,
    /// Counts the shutdown signals.
    signals: Signals,
    /// Whether consuming now, for `/readyz`.
    pub(crate) readiness: Arc<Readiness>,
}

impl Shared {
    pub(crate) fn new(
        config: Arc<Config>,
        tools: ToolSlots,
        signals: Signals,
        readiness: Arc<Readiness>,
    ) -> Shared {
        Shared {
            readiness,
            job_slots: Semaphore::new(usize::from(config.amqp.prefetch)),
            config,
            tools,
            system_failures: AtomicU32::new(0),
            counted_here: Mutex::new(HashMap::new()),
            signals,
        }
    }

    fn grace(&self) -> Duration {
        self.config.daemon.shutdown_grace
    }

    /// Counts one more system failure of `message` in this instance; how many so far.
    fn count_here(&self, message: &[u8]) -> u32 {
        let mut counts = self.counted_here.lock().expect("never poisoned");
        if counts.len() >= COUNTED_HERE_MAX {
            counts.clear(); // a bound on memory; such messages start counting again
        }
        let n = counts.entry(Sha256::digest(message).into()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// Forgets what this instance counted for `message`: it is settled.
    fn forget_here(&self, message: &[u8]) {
        let mut counts = self.counted_here.lock().expect("never poisoned");
        if !counts.is_empty() {
            counts.remove(&<[u8; 32]>::from(Sha256::digest(message)));
        }
    }
}

/// The most messages [`Shared::count_here`] remembers.
const COUNTED_HERE_MAX: usize = 10_000;

/// How one session with the broker ended.
pub(crate) enum SessionEnd {
    Shutdown(Stopped),
    Lost(String),
}

/// One connection: declare, consume, hand out deliveries; on the first signal, drain.
/// `failures` (the reconnect backoff) is reset once consuming has started.
pub(crate) async fn session(
    shared: &Arc<Shared>,
    jobs: &mut JoinSet<()>,
    signals: &mut Signals,
    failures: &mut u32,
) -> Result<SessionEnd, DaemonError> {
    let amqp = &shared.config.amqp;
    let connecting = connection::connect(amqp, Recovery::Automatic);
    let conn = tokio::select! {
        c = connecting => match c {
            Ok(c) => Arc::new(c),
            Err(e @ ConnectError::Url { .. }) => return Err(e.into()),
            Err(e) => return Ok(SessionEnd::Lost(e.to_string())),
        },
        _ = signals.reached(1) => {
            shared.readiness.draining();
            let stopped = shutdown::drain(jobs, signals, shared.grace(), None).await;
            return Ok(SessionEnd::Shutdown(stopped));
        }
    };
    let tag = connection::connection_name();
    let (channel, consumer) = match start(&conn, amqp, &tag).await {
        Ok(started) => started,
        Err(Opening::Topology(e)) if e.permanent => {
            connection::close(&conn).await;
            return Err(e.into());
        }
        Err(e) => {
            connection::close(&conn).await;
            return Ok(SessionEnd::Lost(e.to_string()));
        }
    };
    *failures = 0;
    let (live_conn, live_channel) = (Arc::clone(&conn), channel.clone());
    shared.readiness.consuming(Box::new(move || {
        live_conn.status().connected() && live_channel.status().connected()
    }));
    let watcher = tokio::spawn(connection::log_events(conn.events_listener()));
    tracing::info!(
        url = %amqp.url_redacted(),
        connection = %tag,
        queue = %amqp.queue,
        prefetch = amqp.prefetch,
        "Consuming conference-ended events."
    );
    let publisher = Arc::new(Publisher::new(Arc::clone(&conn)));
    let end = consume(
        shared,
        jobs,
        signals,
        (&channel, &publisher),
        consumer,
        &tag,
    )
    .await;
    shared.readiness.stopped();
    watcher.abort();
    connection::close(&conn).await;
    Ok(end)
}

/// Why a session could not start consuming.
enum Opening {
    Channel(lapin::Error),
    Topology(TopologyError),
    Consume { queue: String, error: lapin::Error },
}

impl std::fmt::Display for Opening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Opening::Channel(e) => write!(f, "cannot open a channel: {e}"),
            Opening::Topology(e) => e.fmt(f),
            Opening::Consume { queue, error } => {
                write!(f, "cannot consume from {queue:?}: {error}")
            }
        }
    }
}

/// A channel with the queues declared and the prefetch set, and a consumer on the input
/// queue tagged `tag`.
async fn start(
    conn: &Connection,
    amqp: &AmqpConfig,
    tag: &str,
) -> Result<(Channel, Consumer), Opening> {
    let channel = conn.create_channel().await.map_err(Opening::Channel)?;
    topology::declare(&channel, amqp)
        .await
        .map_err(Opening::Topology)?;
    channel
        .basic_qos(amqp.prefetch, BasicQosOptions::default())
        .await
        .map_err(Opening::Channel)?;
    let consumer = channel
        .basic_consume(
            amqp.queue.as_str().into(),
            tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|error| Opening::Consume {
            queue: amqp.queue.clone(),
            error,
        })?;
    Ok((channel, consumer))
}

/// Hands out deliveries until the first signal (then stops consuming and drains) or until
/// the connection is lost for good. Their results go out through `publisher`.
async fn consume(
    shared: &Arc<Shared>,
    jobs: &mut JoinSet<()>,
    signals: &mut Signals,
    (channel, publisher): (&Channel, &Arc<Publisher>),
    mut consumer: Consumer,
    tag: &str,
) -> SessionEnd {
    let amqp = &shared.config.amqp;
    loop {
        tokio::select! {
            _ = signals.reached(1) => {
                shared.readiness.draining();
                // Bounded: a blocked connection (a broker alarm) sends nothing.
                let cancel = channel.basic_cancel(tag.into(), BasicCancelOptions::default());
                let _ = tokio::time::timeout(BROKER_CALL_LIMIT, cancel).await;
                let stopped = shutdown::drain(jobs, signals, shared.grace(), Some(channel)).await;
                return SessionEnd::Shutdown(stopped);
            }
            Some(done) = jobs.join_next(), if !jobs.is_empty() => log_panic(done),
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let (shared, publisher) = (Arc::clone(shared), Arc::clone(publisher));
                    jobs.spawn(handle(shared, publisher, delivery));
                }
                Some(Err(e)) => {
                    if let Err(e) = recover(channel, amqp, e).await {
                        return SessionEnd::Lost(e.to_string());
                    }
                }
                None => return SessionEnd::Lost(format!("the broker cancelled the consumer of {:?} (was the queue deleted?)", amqp.queue)),
            },
        }
    }
}

fn log_panic(done: Result<(), JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            tracing::error!(
                error = crate::logs::field(&e),
                "A job panicked; its message goes back to the queue when the channel closes."
            );
        }
    }
}

/// Waits for lapin to recover the channel after `e`; fails when recovery gave up.
async fn recover(channel: &Channel, amqp: &AmqpConfig, e: lapin::Error) -> lapin::Result<()> {
    log_channel_error(&e);
    channel.wait_for_recovery(e).await?;
    tracing::info!("The broker connection was recovered; consuming again.");
    // Recovery replays the QoS, but a consumer may race ahead of it.
    let _ = channel
        .basic_qos(amqp.prefetch, BasicQosOptions::default())
        .await;
    Ok(())
}

/// Logs what the broker said when it closed the channel; the unacked-delivery timeout gets
/// an ERROR that says which setting to raise.
fn log_channel_error(e: &lapin::Error) {
    let text = e.to_string();
    if text.contains("delivery acknowledgement") && text.contains("timed out") {
        tracing::error!(
            error = crate::logs::field(&text),
            "RabbitMQ closed the channel because a job took longer than its consumer_timeout; the job goes on and its message comes back. Raise consumer_timeout in rabbitmq.conf (or the queue's x-consumer-timeout) above the longest job: see README, Deployment."
        );
    } else {
        tracing::warn!(
            error = crate::logs::field(&text),
            "The broker channel failed; waiting for recovery."
        );
    }
}

/// One delivery: process, decide, publish, ack (or requeue, or dead-letter).
async fn handle(shared: Arc<Shared>, publisher: Arc<Publisher>, delivery: Delivery) {
    let _slot = shared
        .job_slots
        .acquire()
        .await
        .expect("the job semaphore is never closed");
    let _running = InFlight::start();
    // Every line about this delivery names its conference, when the message says.
    let conference = conference_of(&delivery.data);
    let id = conference.as_deref().map(crate::logs::field);
    if delivery.redelivered {
        tracing::info!(
            conference_id = id,
            delivery_tag = delivery.delivery_tag,
            "This message was delivered before; processing it again resumes or republishes."
        );
    }
    let outcome = job::process(&shared.config, &shared.tools, &delivery.data).await;
    match decide(&shared, &outcome, &delivery.data) {
        Action::Requeue { delay, reason } => {
            requeue(&shared, &delivery, delay, &reason, id.as_deref()).await;
            metrics::job_settled(JobOutcome::Requeued);
        }
        Action::PublishThenAck {
            queue,
            body,
            kind,
            forget_attempts_of,
        } => {
            if kind == "processed" {
                shared.system_failures.store(0, Ordering::Relaxed);
            }
            let amqp = &shared.config.amqp;
            let acker = &delivery.acker;
            match publisher
                .until_confirmed(amqp, acker, (&queue, &body, kind), id.as_deref())
                .await
            {
                Published::Confirmed => {
                    if ack(&delivery, id.as_deref()).await {
                        settled(
                            &shared,
                            &delivery.data,
                            forget_attempts_of.as_deref(),
                            id.as_deref(),
                        );
                        metrics::job_settled(match kind {
                            "processed" => JobOutcome::Processed,
                            _ => JobOutcome::Failed,
                        });
                    }
                }
                Published::TakenBack => {}
                Published::Refused(e) => {
                    if dead_letter(&shared, &delivery, (&queue, kind, e), id.as_deref()).await {
                        metrics::job_settled(JobOutcome::DeadLettered);
                    }
                }
            }
        }
    }
}

/// The `conferenceId` of a message, when it is a JSON object that has one.
fn conference_of(message: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(message).ok()?;
    crate::event::ids_best_effort(&value).0
}

/// Forgets the attempts counted for a message that is settled.
fn settled(shared: &Shared, message: &[u8], job: Option<&str>, conference_id: Option<&str>) {
    shared.forget_here(message);
    if let Some(job) = job {
        if let Err(e) = job::forget_attempts(&shared.config, job) {
            tracing::warn!(conference_id, error = crate::logs::field(&e), "Could not remove the count of failed attempts of a conference recproc gave up on; its next delivery gets one attempt.");
        }
    }
}

/// What `outcome` means for its message, given the failures so far and whether recproc is
/// shutting down.
fn decide(shared: &Shared, outcome: &job::Outcome, message: &[u8]) -> Action {
    let attempts = match outcome {
        job::Outcome::Failed(f) if f.blame == Blame::System => {
            f.attempts.unwrap_or_else(|| shared.count_here(message))
        }
        _ => 0,
    };
    let failures = Failures {
        in_a_row: shared.system_failures.load(Ordering::Relaxed),
        attempts,
        max_attempts: shared.config.daemon.max_attempts,
    };
    let action = policy::decide(outcome, &shared.config.amqp, failures);
    if shared.signals.count() > 0 && matches!(outcome, job::Outcome::Failed(_)) {
        // The signal may have reached the tools too (a terminal's Ctrl-C, a supervisor that
        // signals the whole group): a failure now proves nothing about the message.
        return Action::Requeue {
            delay: Duration::ZERO,
            reason: "the job failed while recproc was shutting down".into(),
        };
    }
    action
}

/// Gives the message back to the queue after `delay`: the system failed, not the message.
/// A shutdown signal ends the wait at once: the message goes back now, and the drain does not
/// wait out a backoff.
async fn requeue(
    shared: &Shared,
    delivery: &Delivery,
    delay: Duration,
    reason: &str,
    conference_id: Option<&str>,
) {
    shared.system_failures.fetch_add(1, Ordering::Relaxed);
    tracing::error!(
        conference_id,
        error = crate::logs::field(reason),
        retry_in_s = delay.as_secs(),
        "The system failed, not the message: it goes back to the queue to be tried again. Fix the cause (see the error); nothing was published."
    );
    let mut signals = shared.signals.clone();
    tokio::select! {
        biased;
        _ = tokio::time::sleep(delay) => {}
        _ = signals.reached(1) => tracing::info!(
            conference_id,
            "Shutting down: the message waiting to be retried goes back to the queue now."
        ),
    }
    let requeue = BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    };
    match delivery.acker.nack(requeue).await {
        Ok(true) => {}
        Ok(false) | Err(_) => {
            tracing::info!(
                conference_id,
                "The message was already back in the queue (its channel closed)."
            )
        }
    }
}

/// Acks the delivery; whether the ack went out.
async fn ack(delivery: &Delivery, conference_id: Option<&str>) -> bool {
    match delivery.acker.ack(BasicAckOptions::default()).await {
        Ok(true) => true,
        Ok(false) => {
            tracing::warn!(
                conference_id,
                "The ack did not reach the broker (the channel closed): the message will be delivered again and answered from its receipt."
            );
            false
        }
        Err(e) => {
            tracing::warn!(
                conference_id,
                error = crate::logs::field(&e),
                "The ack failed: the message will be delivered again and answered from its receipt."
            );
            false
        }
    }
}

/// Settles a delivery whose result the broker refused for good: publishing it again would
/// only bring the same refusal, and requeueing would loop. The message is kept in the state
/// directory and rejected without requeue, which sends it to the dead-letter queue where
/// the input queue has one (quorum queues, `amqp.dead_letter_queue`).
async fn dead_letter(
    shared: &Shared,
    delivery: &Delivery,
    (queue, kind, refusal): (&str, &str, PublishError),
    conference_id: Option<&str>,
) -> bool {
    let (config, message) = (Arc::clone(&shared.config), delivery.data.clone());
    let kept = tokio::task::spawn_blocking(move || job::keep_original(&config, &message)).await;
    let kept = match kept {
        Ok(Ok(path)) => path.display().to_string(),
        Ok(Err(e)) => format!("not kept: {e}"),
        Err(e) => format!("not kept: {e}"),
    };
    tracing::error!(
        conference_id,
        queue,
        kind,
        error = crate::logs::field(&refusal),
        original = crate::logs::field(&kept),
        dead_letter_queue = %shared.config.amqp.dead_letter_queue,
        "The broker refused the {kind} event for good; the message is dead-lettered instead of retried (with quorum queues it goes to the dead-letter queue; classic queues drop it, and its copy is the original named here)."
    );
    let reject = BasicNackOptions {
        requeue: false,
        ..BasicNackOptions::default()
    };
    let rejected = matches!(delivery.acker.nack(reject).await, Ok(true));
    if !rejected {
        tracing::warn!(conference_id, "The message could not be rejected (its channel closed); it comes back and is answered again.");
    }
    shared.forget_here(&delivery.data);
    rejected
}
