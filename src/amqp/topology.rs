//! The queues recproc uses, declared at start the same way every time (durable; idempotent,
//! so many instances can declare them): the input queue, `processed_queue`, `failure_queue`,
//! and with quorum queues a dead-letter queue for messages that keep killing a consumer.
//! [`queues`] is the pure description; [`declare`] and [`inspect`] talk to the broker.

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::Channel;

use crate::config::{AmqpConfig, QueueType};

/// One queue as recproc declares it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueueSpec {
    /// What it is for, in words (`the input queue (amqp.queue)`).
    pub(crate) role: &'static str,
    pub(crate) name: String,
    pub(crate) arguments: FieldTable,
}

/// Every queue recproc declares, input first.
pub(crate) fn queues(amqp: &AmqpConfig) -> Vec<QueueSpec> {
    let typed = || {
        let mut args = FieldTable::default();
        if amqp.queue_type == QueueType::Quorum {
            args.insert("x-queue-type".into(), long_string("quorum"));
        }
        args
    };
    let mut input = typed();
    if amqp.queue_type == QueueType::Quorum {
        let limit = i64::from(amqp.delivery_limit);
        input.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(limit));
        input.insert("x-dead-letter-exchange".into(), long_string(""));
        input.insert(
            "x-dead-letter-routing-key".into(),
            long_string(&amqp.dead_letter_queue),
        );
    }
    let mut specs = vec![
        QueueSpec {
            role: "the input queue (amqp.queue)",
            name: amqp.queue.clone(),
            arguments: input,
        },
        QueueSpec {
            role: "the processed queue (amqp.processed_queue)",
            name: amqp.processed_queue.clone(),
            arguments: typed(),
        },
        QueueSpec {
            role: "the failure queue (amqp.failure_queue)",
            name: amqp.failure_queue.clone(),
            arguments: typed(),
        },
    ];
    if amqp.queue_type == QueueType::Quorum {
        specs.push(QueueSpec {
            role: "the dead-letter queue (amqp.dead_letter_queue)",
            name: amqp.dead_letter_queue.clone(),
            arguments: typed(),
        });
    }
    specs
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// Why the queues could not be declared.
#[derive(Debug, thiserror::Error)]
#[error("cannot declare {role} {name:?}: {reason}{hint}")]
pub struct TopologyError {
    role: &'static str,
    name: String,
    /// lapin's error, as text (its chain would repeat the broker's words).
    reason: String,
    /// The broker refused the declaration itself (different arguments, no permission):
    /// retrying cannot help, the configuration or the broker has to change.
    pub(crate) permanent: bool,
    hint: &'static str,
}

/// The broker refused the declaration itself (other arguments, no permission), as opposed
/// to a connection that went away (a broker restarting says CONNECTION_FORCED).
fn is_refusal(e: &lapin::Error) -> bool {
    let text = e.to_string();
    [
        "PRECONDITION_FAILED",
        "ACCESS_REFUSED",
        "NOT_ALLOWED",
        "RESOURCE_LOCKED",
    ]
    .iter()
    .any(|code| text.contains(code))
}

/// Declares every queue (durable). A queue that exists with other arguments (say a classic
/// queue when `amqp.queue_type` is quorum) is an error that says so.
pub(crate) async fn declare(channel: &Channel, amqp: &AmqpConfig) -> Result<(), TopologyError> {
    for spec in queues(amqp) {
        channel
            .queue_declare(
                spec.name.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                spec.arguments.clone(),
            )
            .await
            .map_err(|source| {
                let hint = if source.to_string().contains("inequivalent arg") {
                    "; the queue exists with other settings: set amqp.queue_type (and amqp.delivery_limit, amqp.dead_letter_queue) to match it, or delete the queue so recproc can declare it"
                } else {
                    ""
                };
                TopologyError {
                    role: spec.role,
                    name: spec.name.clone(),
                    reason: source.to_string(),
                    permanent: is_refusal(&source),
                    hint,
                }
            })?;
    }
    Ok(())
}

/// What the broker says about one queue, for `check-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueueState {
    Exists { messages: u32, consumers: u32 },
    Missing,
}

/// Looks at every queue without changing anything (passive declarations). A missing queue
/// closes the channel it was asked on, so each gets a channel of its own.
pub(crate) async fn inspect(
    connection: &lapin::Connection,
    amqp: &AmqpConfig,
) -> Result<Vec<(QueueSpec, QueueState)>, lapin::Error> {
    let mut out = Vec::new();
    for spec in queues(amqp) {
        let channel = connection.create_channel().await?;
        let state = match channel
            .queue_declare(
                spec.name.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
        {
            Ok(q) => QueueState::Exists {
                messages: q.message_count(),
                consumers: q.consumer_count(),
            },
            Err(e) if e.to_string().contains("NOT_FOUND") || e.to_string().contains("no queue") => {
                QueueState::Missing
            }
            Err(e) => return Err(e),
        };
        let _ = channel.close(200, "checked".into()).await;
        out.push((spec, state));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amqp(queue_type: QueueType) -> AmqpConfig {
        AmqpConfig {
            queue_type,
            ..AmqpConfig::for_tests("in", "done", "failed")
        }
    }

    fn arg(spec: &QueueSpec, key: &str) -> Option<AMQPValue> {
        spec.arguments.inner().get(key).cloned()
    }

    #[test]
    fn classic_queues_have_no_arguments() {
        let specs = queues(&amqp(QueueType::Classic));
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["in", "done", "failed"]);
        assert!(specs.iter().all(|s| s.arguments.inner().is_empty()));
    }

    #[test]
    fn quorum_input_dead_letters_after_the_delivery_limit() {
        let specs = queues(&amqp(QueueType::Quorum));
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["in", "done", "failed", "dead"]);
        for s in &specs {
            assert_eq!(
                arg(s, "x-queue-type"),
                Some(long_string("quorum")),
                "{}",
                s.name
            );
        }
        let input = &specs[0];
        assert_eq!(
            arg(input, "x-delivery-limit"),
            Some(AMQPValue::LongLongInt(4))
        );
        assert_eq!(arg(input, "x-dead-letter-exchange"), Some(long_string("")));
        assert_eq!(
            arg(input, "x-dead-letter-routing-key"),
            Some(long_string("dead"))
        );
        // Only the input queue dead-letters.
        assert_eq!(arg(&specs[1], "x-delivery-limit"), None);
        assert!(specs[0].role.contains("amqp.queue"));
    }
}
