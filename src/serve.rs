//! The daemon's HTTP edge on `metrics.listen` (SPEC.md "Operations"): `/metrics` in the
//! Prometheus text format, `/healthz` (200 while the process runs: a liveness probe) and
//! `/readyz` (200 only while consuming from the broker and not shutting down, else 503: a
//! readiness probe). axum on the runtime the daemon already has; nothing else is served.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::metrics::{self, Readiness};

/// Why the endpoints could not be served.
#[derive(Debug, thiserror::Error)]
#[error("metrics.listen {addr}: cannot listen there: {source}")]
pub struct ServeError {
    addr: SocketAddr,
    #[source]
    source: std::io::Error,
}

/// Listens on `addr` and serves the endpoints until the process ends; returns the address
/// bound (the port the system picked for port 0).
pub async fn start(addr: SocketAddr, readiness: Arc<Readiness>) -> Result<SocketAddr, ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError { addr, source })?;
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(readiness);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(
                error = crate::logs::field(&e),
                "The metrics endpoint stopped."
            );
        }
    });
    Ok(bound)
}

async fn scrape(State(readiness): State<Arc<Readiness>>) -> impl IntoResponse {
    // Brings recproc_broker_connected up to date.
    readiness.is_ready();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(),
    )
}

async fn ready(State(readiness): State<Arc<Readiness>>) -> impl IntoResponse {
    match readiness.is_ready() {
        true => (StatusCode::OK, "ready\n"),
        false => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not consuming from the broker (connecting, reconnecting or shutting down)\n",
        ),
    }
}
