//! Consuming: one session per connection (a channel with the queues declared, the prefetch
//! set and publisher confirms on; a consumer on `amqp.queue`), each delivery run as its own
//! task (at most `amqp.prefetch` at once, also across a reconnect), and what happens to one
//! delivery: process it, decide with [`policy`](super::policy), publish the result
//! (confirmed) and only then ack, or give the message back to the queue.
//!
//! RabbitMQ closes a channel whose delivery stays unacked longer than its `consumer_timeout`;
//! that is logged as an ERROR naming the setting, and consuming starts again.

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
use lapin::{Channel, Connection, Consumer};
use tokio::sync::Semaphore;
use tokio::task::{JoinError, JoinSet};

use crate::amqp::connection::{self, ConnectError, Recovery, BROKER_CALL_LIMIT};
use crate::amqp::policy::{self, Action};
use crate::amqp::publish::Publisher;
use crate::amqp::shutdown::{self, Stopped};
use crate::amqp::topology::{self, TopologyError};
use crate::amqp::DaemonError;
use crate::config::{AmqpConfig, Config};
use crate::job;
use crate::pipeline::ToolSlots;
use crate::signal::Signals;

/// What every job task shares.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    tools: ToolSlots,
    /// At most `amqp.prefetch` jobs run at once, also across a reconnect.
    job_slots: Semaphore,
    /// System failures in a row (reset by any success): the requeue backoff.
    system_failures: AtomicU32,
    publisher: Publisher,
    /// Counts the shutdown signals.
    signals: Signals,
}

impl Shared {
    pub(crate) fn new(config: Arc<Config>, tools: ToolSlots, signals: Signals) -> Shared {
        Shared {
            job_slots: Semaphore::new(usize::from(config.amqp.prefetch)),
            config,
            tools,
            system_failures: AtomicU32::new(0),
            publisher: Publisher::default(),
            signals,
        }
    }

    fn grace(&self) -> Duration {
        self.config.daemon.shutdown_grace
    }
}

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
            Ok(c) => c,
            Err(e @ ConnectError::Url { .. }) => return Err(e.into()),
            Err(e) => return Ok(SessionEnd::Lost(e.to_string())),
        },
        _ = signals.reached(1) => {
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
    let watcher = tokio::spawn(connection::log_events(conn.events_listener()));
    tracing::info!(
        url = %amqp.url_redacted(),
        connection = %tag,
        queue = %amqp.queue,
        prefetch = amqp.prefetch,
        "Consuming conference-ended events."
    );
    let end = consume(shared, jobs, signals, &channel, consumer, &tag).await;
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

/// A channel with the queues declared, the prefetch set and publisher confirms on, and a
/// consumer on the input queue tagged `tag`.
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
    channel
        .confirm_select(ConfirmSelectOptions::default())
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
/// the connection is lost for good.
async fn consume(
    shared: &Arc<Shared>,
    jobs: &mut JoinSet<()>,
    signals: &mut Signals,
    channel: &Channel,
    mut consumer: Consumer,
    tag: &str,
) -> SessionEnd {
    let amqp = &shared.config.amqp;
    loop {
        tokio::select! {
            _ = signals.reached(1) => {
                // Bounded: a blocked connection (a broker alarm) sends nothing.
                let cancel = channel.basic_cancel(tag.into(), BasicCancelOptions::default());
                let _ = tokio::time::timeout(BROKER_CALL_LIMIT, cancel).await;
                let stopped = shutdown::drain(jobs, signals, shared.grace(), Some(channel)).await;
                return SessionEnd::Shutdown(stopped);
            }
            Some(done) = jobs.join_next(), if !jobs.is_empty() => log_panic(done),
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let (shared, channel) = (Arc::clone(shared), channel.clone());
                    jobs.spawn(handle(shared, channel, delivery));
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
            tracing::error!(error = %e, "A job panicked; its message goes back to the queue when the channel closes.");
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
            error = %text,
            "RabbitMQ closed the channel because a job took longer than its consumer_timeout; the job goes on and its message comes back. Raise consumer_timeout in rabbitmq.conf (or the queue's x-consumer-timeout) above the longest job: see README, Deployment."
        );
    } else {
        tracing::warn!(error = %text, "The broker channel failed; waiting for recovery.");
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
    match decide(&shared, &outcome) {
        Action::Requeue { delay, reason } => requeue(&shared, &delivery, delay, &reason).await,
        Action::PublishThenAck { queue, body, kind } => {
            if kind == "processed" {
                shared.system_failures.store(0, Ordering::Relaxed);
            }
            let amqp = &shared.config.amqp;
            let publisher = &shared.publisher;
            let acker = &delivery.acker;
            if publisher
                .until_confirmed(&channel, amqp, acker, &queue, &body, kind)
                .await
            {
                ack(&delivery).await;
            }
        }
    }
}

/// What `outcome` means for its message, given the failures so far and whether recproc is
/// shutting down.
fn decide(shared: &Shared, outcome: &job::Outcome) -> Action {
    let failures = shared.system_failures.load(Ordering::Relaxed);
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
async fn requeue(shared: &Shared, delivery: &Delivery, delay: Duration, reason: &str) {
    shared.system_failures.fetch_add(1, Ordering::Relaxed);
    tracing::error!(
        error = %reason,
        retry_in_s = delay.as_secs(),
        "The system failed, not the message: it goes back to the queue to be tried again. Fix the cause (see the error); nothing was published."
    );
    let mut signals = shared.signals.clone();
    tokio::select! {
        biased;
        _ = tokio::time::sleep(delay) => {}
        _ = signals.reached(1) => tracing::info!(
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
            tracing::info!("The message was already back in the queue (its channel closed).")
        }
    }
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
