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
    #[error("the broker did not confirm the message within {0:?}")]
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

/// Publishes `body` to `queue` through the default exchange and waits for the confirm.
pub async fn confirmed(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<(), PublishError> {
    let attempt = async {
        let confirm = channel
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
        confirm.await
    };
    let confirmation = tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| PublishError::TimedOut(timeout))??;
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
