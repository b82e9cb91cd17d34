//! Publishing a result: persistent, `mandatory` (an unroutable message comes back instead of
//! vanishing), and confirmed by the broker within a time limit, on a channel of its own (so
//! that when the broker refuses a message by closing the channel, the delivery it answers is
//! still held and can be settled). Anything short of a confirmed, routed message is an error
//! that is retried (one publish at a time per channel) until it is confirmed or the delivery
//! it answers is back in the queue; it never turns into an ack. A message the broker refuses
//! for good (larger than its `max_message_size`) is not retried: the caller is told.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::{Acker, BasicProperties, Channel, Connection, ErrorKind};

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

impl PublishError {
    /// Whether the broker refused this very message, so that publishing it again cannot
    /// help: it closed the channel with PRECONDITION_FAILED (RabbitMQ's answer to a message
    /// larger than its `max_message_size`) or CONTENT_TOO_LARGE. A nack, a return or a lost
    /// connection say nothing about the message and are retried.
    pub(crate) fn refused_for_good(&self) -> bool {
        let PublishError::Channel(e) = self else {
            return false;
        };
        matches!(e.kind(), ErrorKind::ProtocolError(amqp) if matches!(
            amqp.kind(),
            AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED | AMQPSoftError::CONTENTTOOLARGE)
        ))
    }
}

/// How publishing a result ended.
#[derive(Debug)]
pub(crate) enum Published {
    /// The broker confirmed it: ack the delivery.
    Confirmed,
    /// The delivery went back to the queue (its channel closed) before a confirm: its next
    /// delivery publishes again.
    TakenBack,
    /// The broker refused this message for good: the delivery must be settled otherwise.
    Refused(PublishError),
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

/// Publishes the results of one connection on a channel of its own (opened again when the
/// broker closed it), one publish-and-confirm at a time: lapin matches confirms and returns
/// to publishes by order, which concurrent publishers on one channel could mix up.
pub(crate) struct Publisher {
    connection: Arc<Connection>,
    channel: tokio::sync::Mutex<Option<Channel>>,
}

impl Publisher {
    pub(crate) fn new(connection: Arc<Connection>) -> Publisher {
        Publisher {
            connection,
            channel: tokio::sync::Mutex::new(None),
        }
    }

    /// The publishing channel, with publisher confirms on: the open one, or a new one when
    /// there is none yet or the broker closed it.
    async fn open_channel(&self, slot: &mut Option<Channel>) -> Result<Channel, PublishError> {
        if let Some(channel) = slot.as_ref() {
            let status = channel.status();
            if status.connected() || status.reconnecting() {
                return Ok(channel.clone());
            }
        }
        let channel = self.connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        *slot = Some(channel.clone());
        Ok(channel)
    }

    /// Publishes until the broker confirms it; gives up when the delivery can no longer be
    /// acked (its channel closed: the message is back in the queue and will be answered
    /// again), or when the broker refuses this message for good. A slow confirm is waited
    /// for, not answered with a second copy. `kind` is `processed` or `failed`, for logs.
    pub(crate) async fn until_confirmed(
        &self,
        amqp: &AmqpConfig,
        acker: &Acker,
        (queue, body, kind): (&str, &[u8], &str),
        conference_id: Option<&str>,
    ) -> Published {
        for attempt in 0u32.. {
            if !acker.usable() {
                tracing::info!(
                    conference_id,
                    queue,
                    kind,
                    "The broker took this message back (its channel closed) before the {kind} event was confirmed; the next delivery publishes it."
                );
                return Published::TakenBack;
            }
            let (published, channel) = {
                let mut slot = self.channel.lock().await;
                let channel = match self.open_channel(&mut slot).await {
                    Ok(channel) => channel,
                    Err(e) => {
                        drop(slot);
                        retry_later(None, amqp, (attempt, queue, kind, conference_id), e).await;
                        continue;
                    }
                };
                let still_wanted = |waited: Duration| {
                    let wanted = acker.usable();
                    if wanted {
                        tracing::warn!(
                            conference_id,
                            queue,
                            kind,
                            waited_s = waited.as_secs(),
                            "The broker has not confirmed the {kind} event yet; still waiting (the message stays unacked)."
                        );
                    }
                    wanted
                };
                let published =
                    confirmed(&channel, queue, body, amqp.confirm_timeout, still_wanted).await;
                (published, channel)
            };
            match published {
                Ok(()) => {
                    tracing::debug!(conference_id, queue, kind, "Published the {kind} event.");
                    return Published::Confirmed;
                }
                Err(e) if e.refused_for_good() => return Published::Refused(e),
                Err(e) => {
                    let about = (attempt, queue, kind, conference_id);
                    retry_later(Some(&channel), amqp, about, e).await
                }
            }
        }
        unreachable!("the retry loop only ends by returning")
    }
}

/// Says why a publish failed, declares the queues again when the message came back
/// unroutable, and waits out the backoff before the next attempt.
async fn retry_later(
    channel: Option<&Channel>,
    amqp: &AmqpConfig,
    (attempt, queue, kind, conference_id): (u32, &str, &str, Option<&str>),
    e: PublishError,
) {
    let delay = policy::backoff(attempt, RECONNECT_BASE, RECONNECT_MAX);
    tracing::warn!(
        conference_id,
        queue,
        kind,
        error = crate::logs::field(&e),
        retry_in_s = delay.as_secs_f64(),
        "Could not publish the {kind} event; retrying. The message stays unacked until it is confirmed."
    );
    if let (PublishError::Returned { .. }, Some(channel)) = (&e, channel) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::protocol::{AMQPError, AMQPHardError};

    fn closed_with(kind: AMQPErrorKind) -> PublishError {
        let error = AMQPError::new(
            kind,
            "message size 151000000 is larger than configured max size 134217728".into(),
        );
        PublishError::Channel(ErrorKind::ProtocolError(error).into())
    }

    #[test]
    fn only_a_refusal_of_the_message_itself_is_for_good() {
        let soft = |e| closed_with(AMQPErrorKind::Soft(e));
        assert!(soft(AMQPSoftError::PRECONDITIONFAILED).refused_for_good());
        assert!(soft(AMQPSoftError::CONTENTTOOLARGE).refused_for_good());
        // Permissions, a missing queue, a broker going away, a nack, a return: retried.
        assert!(!soft(AMQPSoftError::ACCESSREFUSED).refused_for_good());
        assert!(!soft(AMQPSoftError::NOTFOUND).refused_for_good());
        assert!(
            !closed_with(AMQPErrorKind::Hard(AMQPHardError::CONNECTIONFORCED)).refused_for_good()
        );
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(!PublishError::Channel(io.into()).refused_for_good());
        assert!(!PublishError::Nacked.refused_for_good());
        assert!(!PublishError::TimedOut(Duration::from_secs(30)).refused_for_good());
        let returned = PublishError::Returned {
            queue: "q".into(),
            code: 312,
            text: "NO_ROUTE".into(),
        };
        assert!(!returned.refused_for_good());
    }
}
