//! `recproc replay` (SPEC.md "Command line"): after an operator fixed what made conferences
//! fail, their original events go back to the input queue. The messages the failure queue
//! (failure events, whose `event` is the original) or the dead-letter queue (the originals
//! themselves) holds when the run starts, and no more, are taken one by one and held (a
//! replayed event that fails again comes back behind them and is not taken again); each
//! chosen one (`--conference ID`, or `--all`) is republished to `amqp.queue` with a publisher
//! confirm, and only then is its message removed. Every other message, and a chosen one
//! whose republish was not confirmed, goes back to its queue when the run ends by closing
//! the channel that holds them, not by a nack per message: RabbitMQ returns them to their
//! places, and a quorum queue does not count that as a failed delivery (RabbitMQ 4 counts
//! nacks against its delivery limit). `--dry-run` says what it would do and changes
//! nothing.
//!
//! What a message holds is read here, purely ([`original`]); the broker work is [`replay`].

use std::path::{Path, PathBuf};

use lapin::options::{BasicAckOptions, BasicGetOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use sha2::{Digest as _, Sha256};

use crate::amqp::connection::{self, Recovery, BROKER_CALL_LIMIT};
use crate::amqp::publish;
use crate::config::Config;
use crate::ledger::STATE_DIR;

/// Which queue the messages come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// `amqp.failure_queue`: failure events.
    Failed,
    /// `amqp.dead_letter_queue`: original events the broker dead-lettered.
    Dead,
}

/// What to replay.
#[derive(Debug, Clone)]
pub struct Request {
    /// The conferences to replay (by `conferenceId`); with `all`, every message.
    pub conferences: Vec<String>,
    pub all: bool,
    pub from: From,
    pub dry_run: bool,
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Connect(#[from] connection::ConnectError),
    #[error("{doing}: {source}")]
    Broker {
        doing: String,
        #[source]
        source: lapin::Error,
    },
}

fn broker(doing: impl Into<String>) -> impl FnOnce(lapin::Error) -> ReplayError {
    let doing = doing.into();
    move |source| ReplayError::Broker { doing, source }
}

/// One message of the queue, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The conference it is about, when it says.
    pub conference_id: Option<String>,
    /// What would be republished, or why nothing can be.
    pub original: Result<Vec<u8>, String>,
}

/// The original event in `message`, from the queue `from`; `state_dir` is where a failure
/// event's kept originals are (`output_dir/.recproc`).
pub fn original(message: &[u8], from: From, state_dir: &Path) -> Found {
    let value: Option<serde_json::Value> = serde_json::from_slice(message).ok();
    let id_of = |v: &serde_json::Value| {
        v.get("conferenceId")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    if from == From::Dead {
        return Found {
            conference_id: value.as_ref().and_then(id_of),
            original: Ok(message.to_vec()),
        };
    }
    let Some(failure) =
        value.filter(|v| v.get("status").and_then(|s| s.as_str()) == Some("failed"))
    else {
        return Found {
            conference_id: None,
            original: Err("not a failure event of recproc's".into()),
        };
    };
    let original = match failure.get("event") {
        // Not valid JSON when it came: its text, as it was.
        Some(serde_json::Value::String(text)) => Ok(text.clone().into_bytes()),
        Some(kept @ serde_json::Value::Object(o))
            if o.contains_key("sha256") && !o.contains_key("conferenceId") =>
        {
            kept_original(kept, state_dir)
        }
        Some(event @ serde_json::Value::Object(_)) => {
            Ok(serde_json::to_vec(event).expect("a JSON value serialises"))
        }
        _ => Err("its failure event carries no original event".into()),
    };
    Found {
        conference_id: id_of(&failure),
        original,
    }
}

/// The original kept in the state directory that a failure event names: read only from
/// `state_dir`, and only when its content has the sha256 the event gives.
fn kept_original(kept: &serde_json::Value, state_dir: &Path) -> Result<Vec<u8>, String> {
    let sha256 = kept
        .get("sha256")
        .and_then(serde_json::Value::as_str)
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("its kept original has no valid sha256")?;
    let path: PathBuf = state_dir.join(format!("{sha256}.original"));
    let bytes = std::fs::read(&path).map_err(|e| {
        format!(
            "its original was kept in {} but cannot be read: {e}",
            path.display()
        )
    })?;
    if format!("{:x}", Sha256::digest(&bytes)) != sha256 {
        return Err(format!(
            "{} does not hold the original it names",
            path.display()
        ));
    }
    Ok(bytes)
}

/// Whether `found` is one of those `request` asks for.
fn chosen(found: &Found, request: &Request) -> bool {
    request.all
        || found
            .conference_id
            .as_ref()
            .is_some_and(|id| request.conferences.contains(id))
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Messages looked at.
    pub messages: usize,
    /// Chosen and republished (with `--dry-run`: chosen and republishable).
    pub replayed: usize,
    /// Chosen but not republished (nothing to republish, or no confirm): still in the queue.
    pub not_replayed: usize,
    /// The conferences found among the messages.
    pub found: std::collections::BTreeSet<String>,
}

/// Replays what `request` asks for, handing `say` a line per message, as it goes, that says
/// what became of it (so that what was done is known even when the broker fails midway).
pub async fn replay(
    config: &Config,
    request: &Request,
    mut say: impl FnMut(&str),
) -> Result<Summary, ReplayError> {
    let amqp = &config.amqp;
    let queue = match request.from {
        From::Failed => amqp.failure_queue.as_str(),
        From::Dead => amqp.dead_letter_queue.as_str(),
    };
    let state_dir = config.paths.output_dir.join(STATE_DIR);
    let conn = connection::connect(amqp, Recovery::None).await?;
    let result = async {
        let taking = conn
            .create_channel()
            .await
            .map_err(broker("cannot open a channel"))?;
        let publishing = conn
            .create_channel()
            .await
            .map_err(broker("cannot open a channel"))?;
        publishing
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(broker("cannot turn on publisher confirms"))?;
        // The input queue must be there: a republish to no queue would be lost.
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        publishing
            .queue_declare(amqp.queue.as_str().into(), passive, FieldTable::default())
            .await
            .map_err(broker(format!(
                "the input queue {:?} is not there (start recproc run once)",
                amqp.queue
            )))?;
        let reading = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let waiting = taking
            .queue_declare(queue.into(), reading, FieldTable::default())
            .await
            .map_err(broker(format!("the queue {queue:?} is not there")))?
            .message_count();
        let mut summary = Summary::default();
        for _ in 0..waiting {
            let got = taking
                .basic_get(queue.into(), BasicGetOptions { no_ack: false })
                .await
                .map_err(broker(format!("cannot read {queue:?}")))?;
            let Some(message) = got else { break };
            // Not acked, it stays held by `taking` until that closes.
            let delivery = message.delivery;
            let found = original(&delivery.data, request.from, &state_dir);
            let id = found
                .conference_id
                .as_deref()
                .unwrap_or("(no conferenceId)");
            summary.messages += 1;
            summary.found.extend(found.conference_id.clone());
            let line = match (&found.original, chosen(&found, request)) {
                (_, false) => {
                    format!("kept       {id}")
                }
                (Err(why), true) => {
                    summary.not_replayed += 1;
                    format!("kept       {id}: cannot replay it: {why}")
                }
                (Ok(_), true) if request.dry_run => {
                    summary.replayed += 1;
                    format!("would replay {id} to {:?}", amqp.queue)
                }
                (Ok(body), true) => {
                    let published = publish::confirmed(
                        &publishing,
                        &amqp.queue,
                        body,
                        amqp.confirm_timeout,
                        |_| false,
                    )
                    .await;
                    match published {
                        Ok(()) => {
                            delivery
                                .acker
                                .ack(BasicAckOptions::default())
                                .await
                                .map_err(broker(format!(
                                    "cannot remove the replayed message from {queue:?}"
                                )))?;
                            summary.replayed += 1;
                            format!("replayed   {id} to {:?}", amqp.queue)
                        }
                        Err(e) => {
                            summary.not_replayed += 1;
                            format!("kept       {id}: the republish was not confirmed: {e}")
                        }
                    }
                }
            };
            say(&line);
        }
        // Everything else goes back where it was, in order, when the channel holding it closes.
        let closing = taking.close(200, "replay done: the messages not replayed go back".into());
        let _ = tokio::time::timeout(BROKER_CALL_LIMIT, closing).await;
        Ok(summary)
    }
    .await;
    connection::close(&conn).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(conferences: &[&str], all: bool) -> Request {
        Request {
            conferences: conferences.iter().map(|c| c.to_string()).collect(),
            all,
            from: From::Failed,
            dry_run: false,
        }
    }

    #[test]
    fn a_failure_event_gives_back_its_original() {
        let dir = tempfile::tempdir().unwrap();
        let event = json!({"conferenceId": "c1", "recordingInfo": {"uuid": "u"}});
        let failure =
            json!({"conferenceId": "c1", "status": "failed", "stage": "validate", "event": event});
        let found = original(failure.to_string().as_bytes(), From::Failed, dir.path());
        assert_eq!(found.conference_id.as_deref(), Some("c1"));
        let body: serde_json::Value = serde_json::from_slice(&found.original.unwrap()).unwrap();
        assert_eq!(body, event);
        // Not valid JSON when it came: its text.
        let failure = json!({"conferenceId": null, "status": "failed", "event": "{not json"});
        let found = original(failure.to_string().as_bytes(), From::Failed, dir.path());
        assert_eq!(found.original.unwrap(), b"{not json");
        // Not a failure event at all.
        let found = original(b"hello", From::Failed, dir.path());
        assert!(found.original.is_err());
    }

    #[test]
    fn a_kept_original_is_read_from_the_state_directory_only_when_its_digest_matches() {
        let dir = tempfile::tempdir().unwrap();
        let message = br#"{"conferenceId": "big", "recordingInfo": {}}"#;
        let sha256 = format!("{:x}", Sha256::digest(message));
        std::fs::write(dir.path().join(format!("{sha256}.original")), message).unwrap();
        let failure = |sha: &str| {
            json!({"conferenceId": "big", "status": "failed",
                   "event": {"path": "/elsewhere/x", "bytes": 44, "sha256": sha, "prefix": "{"}})
        };
        let found = original(
            failure(&sha256).to_string().as_bytes(),
            From::Failed,
            dir.path(),
        );
        assert_eq!(found.original.unwrap(), message);
        // A name that is not a digest, or a file that does not hold it, is refused.
        let found = original(
            failure("../../etc/passwd").to_string().as_bytes(),
            From::Failed,
            dir.path(),
        );
        assert!(found.original.is_err());
        std::fs::write(dir.path().join(format!("{sha256}.original")), b"other").unwrap();
        let found = original(
            failure(&sha256).to_string().as_bytes(),
            From::Failed,
            dir.path(),
        );
        assert!(found.original.unwrap_err().contains("does not hold"));
    }

    #[test]
    fn a_dead_lettered_message_is_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let found = original(br#"{"conferenceId": "d"}"#, From::Dead, dir.path());
        assert_eq!(found.conference_id.as_deref(), Some("d"));
        assert_eq!(found.original.unwrap(), br#"{"conferenceId": "d"}"#);
    }

    #[test]
    fn the_conferences_asked_for_or_all_are_chosen() {
        let found = |id: Option<&str>| Found {
            conference_id: id.map(str::to_owned),
            original: Ok(Vec::new()),
        };
        assert!(chosen(&found(Some("a")), &request(&["a", "b"], false)));
        assert!(!chosen(&found(Some("c")), &request(&["a", "b"], false)));
        assert!(!chosen(&found(None), &request(&["a"], false)));
        assert!(chosen(&found(None), &request(&[], true)));
    }
}
