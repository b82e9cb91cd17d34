//! What a job's outcome means for its message (pure: decided here, done by
//! [`consumer`](super::consumer)). A result, good or bad, is published and only then acked. A
//! failure that is the message's fault (invalid JSON, wrong schema, paths outside the roots,
//! corrupt media) is such a result: a failure event and an ack, never an endless requeue. A
//! failure of the system (a tool missing, a disk full) is not the message's fault: it goes
//! back to the queue after a backoff, so it is tried again once the system is fixed.

use std::time::Duration;

use crate::config::AmqpConfig;
use crate::job::Outcome;
use crate::pipeline::Blame;

/// What to do with one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Publish `body` to `queue` (confirmed), then ack.
    PublishThenAck {
        queue: String,
        body: Vec<u8>,
        /// `processed` or `failed`, for logs.
        kind: &'static str,
    },
    /// Wait `delay`, then return the message to the queue.
    Requeue { delay: Duration, reason: String },
}

/// The backoff before retrying after the `attempt`-th consecutive failure (0-based): doubling
/// from `base`, at most `max`.
pub(crate) fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    base.saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(max)
}

/// Backoff of a message returned to the queue after a system failure.
pub(crate) const REQUEUE_BASE: Duration = Duration::from_secs(2);
pub(crate) const REQUEUE_MAX: Duration = Duration::from_secs(300);

/// Backoff between attempts to reach the broker, and to publish a result.
pub(crate) const RECONNECT_BASE: Duration = Duration::from_secs(1);
pub(crate) const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// Decides what `outcome` means; `system_failures` is how many system failures came in a row
/// before this one (a broken system slows the instance down instead of spinning).
pub(crate) fn decide(outcome: &Outcome, amqp: &AmqpConfig, system_failures: u32) -> Action {
    match outcome {
        Outcome::Failed(f) if f.blame == Blame::System => Action::Requeue {
            delay: backoff(system_failures, REQUEUE_BASE, REQUEUE_MAX),
            reason: format!("{} failed: {}", f.stage, f.error),
        },
        Outcome::Failed(_) => Action::PublishThenAck {
            queue: amqp.failure_queue.clone(),
            body: body(outcome),
            kind: "failed",
        },
        Outcome::Processed(_) => Action::PublishThenAck {
            queue: amqp.processed_queue.clone(),
            body: body(outcome),
            kind: "processed",
        },
    }
}

fn body(outcome: &Outcome) -> Vec<u8> {
    serde_json::to_vec(&outcome.to_json()).expect("events serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Stage, StageError};
    use crate::report;

    fn amqp() -> AmqpConfig {
        AmqpConfig::for_tests("in", "done", "failed")
    }

    fn failed(err: StageError) -> Outcome {
        Outcome::Failed(Box::new(report::failed(
            (Some("c".into()), Some("u".into())),
            &err,
            None,
            serde_json::json!({"conferenceId": "c"}),
        )))
    }

    #[test]
    fn results_are_published_to_their_queue_then_acked() {
        let done = Outcome::Processed(Box::new(report::Processed::for_tests(Vec::new())));
        let Action::PublishThenAck { queue, body, kind } = decide(&done, &amqp(), 7) else {
            panic!("a result is published");
        };
        assert_eq!((queue.as_str(), kind), ("done", "processed"));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["status"],
            "processed"
        );
    }

    #[test]
    fn the_message_s_own_faults_are_failure_events_not_retries() {
        let bad = failed(StageError::input(Stage::Validate, "not JSON"));
        let Action::PublishThenAck { queue, body, kind } = decide(&bad, &amqp(), 0) else {
            panic!("a poison message is answered, not requeued");
        };
        assert_eq!((queue.as_str(), kind), ("failed", "failed"));
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["stage"], "validate");
        assert_eq!(event["status"], "failed");
    }

    #[test]
    fn system_failures_go_back_to_the_queue_with_growing_backoff() {
        let broken = failed(StageError::system(Stage::Render, "No space left on device"));
        let delays: Vec<Duration> = [0, 1, 2, 10, 100]
            .iter()
            .map(|&n| match decide(&broken, &amqp(), n) {
                Action::Requeue { delay, reason } => {
                    assert!(reason.contains("render failed: No space"), "{reason}");
                    delay
                }
                other => panic!("a system failure is retried, not answered: {other:?}"),
            })
            .collect();
        assert_eq!(
            delays,
            [2, 4, 8, 300, 300].map(Duration::from_secs).to_vec()
        );
    }

    #[test]
    fn backoff_doubles_and_stops_at_its_cap() {
        let b = |n| backoff(n, Duration::from_millis(500), Duration::from_secs(30));
        assert_eq!(b(0), Duration::from_millis(500));
        assert_eq!(b(1), Duration::from_secs(1));
        assert_eq!(b(5), Duration::from_secs(16));
        assert_eq!(b(6), Duration::from_secs(30));
        assert_eq!(b(u32::MAX), Duration::from_secs(30));
    }
}
