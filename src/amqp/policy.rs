//! What a job's outcome means for its message (pure: decided here, done by
//! [`consumer`](super::consumer)). A result, good or bad, is published and only then acked. A
//! failure that is the message's fault (invalid JSON, wrong schema, paths outside the roots,
//! corrupt media) is such a result: a failure event and an ack, never an endless requeue. A
//! failure of the system (a tool missing, a disk full) is not the message's fault: it goes
//! back to the queue after a backoff, so it is tried again once the system is fixed; but
//! only until `daemon.max_attempts` attempts at the conference have failed so. That one gets
//! a failure event saying how often and why, and is acked: nothing is retried for ever.

use std::time::Duration;

use crate::config::AmqpConfig;
use crate::job::{self, Outcome};
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
        /// Once acked, forget the attempts the state directory counted for this job: the
        /// conference is answered (recproc gave up on it).
        forget_attempts_of: Option<String>,
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

/// What the daemon knows of the failures before this outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failures {
    /// System failures in a row in this instance, before this one (a broken system slows
    /// the instance down instead of spinning).
    pub(crate) in_a_row: u32,
    /// Attempts at this conference that failed for system reasons, this one included: as
    /// the state directory counted them, or this instance alone when it could not.
    pub(crate) attempts: u32,
    /// `daemon.max_attempts`.
    pub(crate) max_attempts: u32,
}

/// Decides what `outcome` means, given the failures before it.
pub(crate) fn decide(outcome: &Outcome, amqp: &AmqpConfig, failures: Failures) -> Action {
    match outcome {
        Outcome::Failed(f)
            if f.blame == Blame::System && failures.attempts < failures.max_attempts =>
        {
            Action::Requeue {
                delay: backoff(failures.in_a_row, REQUEUE_BASE, REQUEUE_MAX),
                reason: format!("{} failed: {}", f.stage, f.error),
            }
        }
        Outcome::Failed(f) if f.blame == Blame::System => {
            let counted = f.attempts.is_some();
            let forget = match (&f.conference_id, &f.uuid) {
                (Some(id), Some(uuid)) if counted => Some(job::job_name(id, uuid)),
                _ => None,
            };
            let gave_up = (**f)
                .clone()
                .gave_up(failures.attempts, failures.max_attempts);
            Action::PublishThenAck {
                queue: amqp.failure_queue.clone(),
                body: serde_json::to_vec(&Outcome::Failed(Box::new(gave_up)).to_json())
                    .expect("events serialise"),
                kind: "failed",
                forget_attempts_of: forget,
            }
        }
        Outcome::Failed(_) => Action::PublishThenAck {
            queue: amqp.failure_queue.clone(),
            body: body(outcome),
            kind: "failed",
            forget_attempts_of: None,
        },
        Outcome::Processed(_) => Action::PublishThenAck {
            queue: amqp.processed_queue.clone(),
            body: body(outcome),
            kind: "processed",
            forget_attempts_of: None,
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

    /// The first failure of a conference, far from the most attempts.
    fn first(in_a_row: u32) -> Failures {
        Failures {
            in_a_row,
            attempts: 1,
            max_attempts: 10,
        }
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
        let Action::PublishThenAck {
            queue, body, kind, ..
        } = decide(&done, &amqp(), first(7))
        else {
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
        let Action::PublishThenAck {
            queue, body, kind, ..
        } = decide(&bad, &amqp(), first(0))
        else {
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
            .map(|&n| match decide(&broken, &amqp(), first(n)) {
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
    fn the_last_allowed_system_failure_is_answered_with_how_often_and_why() {
        let mut counted = Box::new(report::failed(
            (Some("c".into()), Some("u".into())),
            &StageError::system(Stage::Render, "ffmpeg is missing"),
            None,
            serde_json::json!({"conferenceId": "c"}),
        ));
        counted.attempts = Some(3);
        let counted = Outcome::Failed(counted);
        let at = |attempts| Failures {
            in_a_row: 5,
            attempts,
            max_attempts: 3,
        };
        for attempts in [1, 2] {
            assert!(matches!(
                decide(&counted, &amqp(), at(attempts)),
                Action::Requeue { .. }
            ));
        }
        for attempts in [3, 4, u32::MAX] {
            let Action::PublishThenAck {
                queue,
                body,
                kind,
                forget_attempts_of,
            } = decide(&counted, &amqp(), at(attempts))
            else {
                panic!("attempt {attempts} of 3 is not retried");
            };
            assert_eq!((queue.as_str(), kind), ("failed", "failed"));
            assert_eq!(forget_attempts_of, Some(job::job_name("c", "u")));
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(event["attempts"], attempts);
            assert_eq!(event["blame"], "system");
            assert_eq!(event["stage"], "render");
            assert_eq!(event["event"]["conferenceId"], "c");
            let error = event["error"].as_str().unwrap();
            assert!(
                error.starts_with(&format!(
                    "failed {attempts} times for system reasons (daemon.max_attempts is 3)"
                )),
                "{error}"
            );
            assert!(
                error.ends_with("the last time: ffmpeg is missing"),
                "{error}"
            );
        }
        // Counted by this instance alone (the state directory could not): nothing to forget.
        let alone = failed(StageError::system(Stage::Preprocess, "cannot create"));
        let Action::PublishThenAck {
            forget_attempts_of,
            body,
            ..
        } = decide(&alone, &amqp(), at(3))
        else {
            panic!("uncounted failures end too");
        };
        assert_eq!(forget_attempts_of, None);
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["attempts"], 3);
        // A result is never held back by the count.
        let bad = failed(StageError::input(Stage::Validate, "not JSON"));
        assert!(matches!(
            decide(&bad, &amqp(), at(1)),
            Action::PublishThenAck {
                forget_attempts_of: None,
                ..
            }
        ));
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
