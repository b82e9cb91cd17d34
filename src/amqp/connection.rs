//! The connection to RabbitMQ: the URL from the configuration with recproc's heartbeat when
//! the URL sets none, a connection name that says which process it is (operators find it in
//! the management UI and `rabbitmqctl list_connections`), lapin's automatic recovery and what
//! it reports while it works, and closing the connection explicitly within a bounded time.

use std::str::FromStr as _;
use std::time::Duration;

use futures::StreamExt as _;
use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};

use crate::config::AmqpConfig;

/// The longest recproc waits for the broker to answer a cancel or a close.
pub(crate) const BROKER_CALL_LIMIT: Duration = Duration::from_secs(10);

/// Why there is no connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("amqp.url {url:?} cannot be parsed: {reason}")]
    Url { url: String, reason: String },
    /// lapin's error, as text: its chain would repeat the same cause.
    #[error("cannot connect to the broker at {url}: {reason}; is RabbitMQ running there, and are amqp.url's host, port, user and vhost right?")]
    Broker { url: String, reason: String },
}

/// `recproc@<host> pid <pid>`: unique per process, and says where to look.
pub(crate) fn connection_name() -> String {
    format!("recproc@{} pid {}", hostname(), std::process::id())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// The URI to connect to: `amqp.url`, with `amqp.heartbeat` unless the URL has its own
/// `?heartbeat=`.
pub(crate) fn uri(config: &AmqpConfig) -> Result<AMQPUri, ConnectError> {
    let mut uri = AMQPUri::from_str(&config.url).map_err(|reason| ConnectError::Url {
        url: config.url_redacted(),
        reason,
    })?;
    if uri.query.heartbeat.is_none() {
        let seconds = config.heartbeat.as_secs().min(u64::from(u16::MAX)) as u16;
        uri.query.heartbeat = Some(seconds);
    }
    Ok(uri)
}

/// Whether lapin should recover the connection by itself after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// The daemon: lapin recovers the connection (and its channels and consumers) after
    /// network failures, trying a few times; [`run`](super::run) reconnects from scratch,
    /// with its own backoff, when that gives up.
    Automatic,
    /// One attempt, for `check-config`: an unreachable broker is reported at once.
    None,
}

/// Opens the process's connection.
pub(crate) async fn connect(
    config: &AmqpConfig,
    recovery: Recovery,
) -> Result<Connection, ConnectError> {
    let uri = uri(config)?;
    let mut properties =
        ConnectionProperties::default().with_connection_name(connection_name().into());
    if recovery == Recovery::Automatic {
        // lapin's default (16 attempts, growing delays) would hide a dead broker for many
        // minutes; the daemon's own loop retries forever and says so in the log.
        properties = properties
            .enable_auto_recover()
            .configure_backoff(|b| b.with_max_times(4));
    }
    Connection::connect_uri(uri, properties)
        .await
        .map_err(|e| ConnectError::Broker {
            url: config.url_redacted(),
            reason: e.to_string(),
        })
}

/// Closes the connection explicitly (dropping it does not), within a bounded time.
pub(crate) async fn close(conn: &Connection) {
    let closing = conn.close(200, "recproc closes its connection".into());
    let _ = tokio::time::timeout(BROKER_CALL_LIMIT, closing).await;
}

/// Says what happens to the connection while lapin recovers it on its own.
pub(crate) async fn log_events(events: impl futures::Stream<Item = lapin::Event>) {
    futures::pin_mut!(events);
    while let Some(event) = events.next().await {
        match event {
            lapin::Event::Error(e) => tracing::warn!(
                error = crate::logs::field(&e),
                "The broker closed a channel or the connection. Jobs in flight go on; their messages go back to the queue and are answered again (from the receipt once delivered)."
            ),
            // The first connection was made before this listener: this is a recovery.
            lapin::Event::Connected => tracing::warn!(
                "The broker connection was lost and has been recovered; consuming again. The messages of jobs in flight went back to the queue and are answered again (from the receipt once delivered)."
            ),
            lapin::Event::ConnectionBlocked(reason) => tracing::warn!(
                reason = crate::logs::field(&reason),
                "The broker blocks publishing (a memory or disk alarm); results wait until it lifts."
            ),
            lapin::Event::ConnectionUnblocked => {
                tracing::info!("The broker accepts publishing again.")
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amqp(url: &str) -> AmqpConfig {
        AmqpConfig {
            url: url.into(),
            ..AmqpConfig::for_tests("q", "p", "f")
        }
    }

    #[test]
    fn the_heartbeat_comes_from_the_config_unless_the_url_has_one() {
        let u = uri(&amqp("amqp://u:secret@rabbit:5672/%2f")).unwrap();
        assert_eq!(u.query.heartbeat, Some(30));
        assert_eq!(u.authority.host, "rabbit");
        let u = uri(&amqp("amqp://u:secret@rabbit:5672/%2f?heartbeat=5")).unwrap();
        assert_eq!(u.query.heartbeat, Some(5));
    }

    #[test]
    fn a_bad_url_is_named_without_its_password() {
        let e = uri(&amqp("amqp://u:secret@rabbit:notaport/")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("amqp.url"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn the_connection_name_carries_the_pid() {
        let name = connection_name();
        assert!(name.starts_with("recproc@"), "{name}");
        assert!(
            name.ends_with(&format!(" pid {}", std::process::id())),
            "{name}"
        );
    }
}
