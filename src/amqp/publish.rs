//! Publishing a result: persistent, `mandatory` (an unroutable message comes back instead of
//! vanishing), and confirmed by the broker within a time limit. Anything short of a confirmed,
//! routed message is an error the caller retries; it never turns into an ack.

use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel};

/// Why a message is not known to be stored by the broker.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
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
pub fn properties() -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2) // persistent
        .with_content_type("application/json".into())
        .with_app_id("recproc".into())
}

/// Publishes `body` to `queue` through the default exchange and waits for the broker's
/// confirm. The message is published once: when no confirm comes within `timeout`,
/// `still_wanted` decides whether to keep waiting for the same one (re-publishing would only
/// queue a duplicate behind it); a nack, a return or a channel error ends the attempt.
pub async fn confirmed(
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
