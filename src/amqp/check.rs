//! What `check-config` learns from the broker: one connection attempt within a time limit
//! (no retries: an unreachable broker is reported at once), a passive look at every queue
//! recproc uses, and one line per queue saying what the broker holds. Nothing is declared,
//! consumed or changed.

use std::time::Duration;

use crate::amqp::connection::{self, ConnectError, Recovery};
use crate::amqp::topology::{self, QueueSpec, QueueState};
use crate::config::AmqpConfig;

/// How long the broker has to accept the connection.
const CONNECT_LIMIT: Duration = Duration::from_secs(15);

/// Why the broker could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum BrokerCheckError {
    #[error("the broker at {url} did not answer within {limit:?}; is amqp.url right?")]
    TimedOut { url: String, limit: Duration },
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot inspect the queues")]
    Inspect(#[source] lapin::Error),
}

/// Connects to the broker and looks at every queue without changing anything: one line per
/// queue, input first.
pub async fn check_broker(amqp: &AmqpConfig) -> Result<Vec<String>, BrokerCheckError> {
    let conn = tokio::time::timeout(CONNECT_LIMIT, connection::connect(amqp, Recovery::None))
        .await
        .map_err(|_| BrokerCheckError::TimedOut {
            url: amqp.url_redacted(),
            limit: CONNECT_LIMIT,
        })??;
    let inspected = topology::inspect(&conn, amqp).await;
    let _ = conn.close(200, "check-config done".into()).await;
    let inspected = inspected.map_err(BrokerCheckError::Inspect)?;
    Ok(inspected
        .iter()
        .map(|(spec, state)| describe(spec, state))
        .collect())
}

/// One queue as `check-config` reports it.
fn describe(spec: &QueueSpec, state: &QueueState) -> String {
    match state {
        QueueState::Exists {
            messages,
            consumers,
        } => format!(
            "{} {:?}: {messages} messages waiting, {consumers} consumers",
            spec.role, spec.name
        ),
        QueueState::Missing => format!(
            "{} {:?}: does not exist yet; `recproc run` declares it",
            spec.role, spec.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_queue_is_one_line_with_its_role_name_and_state() {
        let specs = topology::queues(&AmqpConfig::for_tests("in", "done", "failed"));
        let waiting = QueueState::Exists {
            messages: 3,
            consumers: 1,
        };
        assert_eq!(
            describe(&specs[0], &waiting),
            "the input queue (amqp.queue) \"in\": 3 messages waiting, 1 consumers"
        );
        assert_eq!(
            describe(&specs[1], &QueueState::Missing),
            "the processed queue (amqp.processed_queue) \"done\": does not exist yet; `recproc run` declares it"
        );
    }

    #[test]
    fn an_unanswered_connection_says_where_it_went() {
        let e = BrokerCheckError::TimedOut {
            url: "amqp://u:***@rabbit:5672/%2f".into(),
            limit: CONNECT_LIMIT,
        };
        assert_eq!(
            e.to_string(),
            "the broker at amqp://u:***@rabbit:5672/%2f did not answer within 15s; is amqp.url right?"
        );
    }
}
