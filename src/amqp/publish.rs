//! Publishing a result: persistent, `mandatory` (an unroutable message comes back instead of
//! vanishing), and confirmed by the broker within a time limit. Anything short of a confirmed,
//! routed message is an error that is retried (one publish at a time per channel) until it is
//! confirmed or the delivery it answers is back in the queue; it never turns into an ack.

use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::{Acker, BasicProperties, Channel};

use crate::amqp::policy::{self, RECONNECT_BASE, RECONNECT_MAX};
use crate::amqp::topology;
use crate::config::AmqpConfig;

/// Why a message is not known to be stored by the broker.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PublishError {
    #[error("the channel failed: {0}")]
    Channel(#[from] lapin::Error),
    #[error("the broker has not confirmed the message after {0:?}")]
    TimedOut(Duration),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("the broker could not route the message to queue {queue:?} ({code} {text}); does the queue exist?")]
    Returned {
        queue: String,
        code: u16,
        text: String,
    },
}

/// The properties of every event recproc publishes.
pub(crate) fn properties() -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2) // persistent
        .with_content_type("application/json".into())
        .with_app_id("recproc".into())
}

/// Publishes `body` to `queue` through the default exchange and waits for the broker's
/// confirm. The message is published once: when no confirm comes within `timeout`,
/// `still_wanted` decides whether to keep waiting for the same one (re-publishing would only
/// queue a duplicate behind it); a nack, a return or a channel error ends the attempt.
pub(crate) async fn confirmed(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    timeout: Duration,
    mut still_wanted: impl FnMut(Duration) -> bool,
) -> Result<(), PublishError> {
    let mut confirm = channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            properties(),
        )
        .await?;
    let started = std::time::Instant::now();
    let confirmation = loop {
        match tokio::time::timeout(timeout, &mut confirm).await {
            Ok(result) => break result?,
            Err(_) if still_wanted(started.elapsed()) => continue,
            Err(_) => return Err(PublishError::TimedOut(started.elapsed())),
        }
    };
    if !confirmation.is_ack() {
        return Err(PublishError::Nacked);
    }
    match confirmation.take_message() {
        Some(returned) => Err(PublishError::Returned {
            queue: queue.to_owned(),
            code: returned.reply_code,
            text: returned.reply_text.to_string(),
        }),
        None => Ok(()),
    }
}

/// Publishes results on the daemon's channel, one publish-and-confirm at a time: lapin matches
/// confirms and returns to publishes by order, which concurrent publishers on one channel
/// could mix up.
#[derive(Debug, Default)]
pub(crate) struct Publisher {
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Publisher {
    /// Publishes until the broker confirms it; gives up only when the delivery can no longer
    /// be acked (its channel closed: the message is back in the queue and will be answered
    /// again). A slow confirm is waited for, not answered with a second copy. `kind` is
    /// `processed` or `failed`, for logs.
    pub(crate) async fn until_confirmed(
        &self,
        channel: &Channel,
        amqp: &AmqpConfig,
        acker: &Acker,
        queue: &str,
        body: &[u8],
        kind: &str,
    ) -> bool {
        for attempt in 0u32.. {
            if !acker.usable() {
                tracing::info!(
                    queue,
                    kind,
                    "The broker took this message back (its channel closed) before the {kind} event was confirmed; the next delivery publishes it."
                );
                return false;
            }
            let published = {
                let _one_at_a_time = self.one_at_a_time.lock().await;
                let still_wanted = |waited: Duration| {
                    let wanted = acker.usable();
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
                confirmed(channel, queue, body, amqp.confirm_timeout, still_wanted).await
            };
            match published {
                Ok(()) => {
                    tracing::debug!(queue, kind, "Published the {kind} event.");
                    return true;
                }
                Err(e) => retry_later(channel, amqp, attempt, queue, kind, e).await,
            }
        }
        unreachable!("the retry loop only ends by returning")
    }
}

/// Says why a publish failed, declares the queues again when the message came back
/// unroutable, and waits out the backoff before the next attempt.
async fn retry_later(
    channel: &Channel,
    amqp: &AmqpConfig,
    attempt: u32,
    queue: &str,
    kind: &str,
    e: PublishError,
) {
    let delay = policy::backoff(attempt, RECONNECT_BASE, RECONNECT_MAX);
    tracing::warn!(
        queue,
        kind,
        error = crate::logs::field(&e),
        retry_in_s = delay.as_secs_f64(),
        "Could not publish the {kind} event; retrying. The message stays unacked until it is confirmed."
    );
    if matches!(e, PublishError::Returned { .. }) {
        // The queue is gone (deleted by hand?): declare it again.
        if let Err(e) = topology::declare(channel, amqp).await {
            tracing::warn!(
                error = crate::logs::field(&e),
                "Could not declare the queues again."
            );
        }
    }
    tokio::time::sleep(delay).await;
}
