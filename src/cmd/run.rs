//! `recproc run`: the daemon. Listens for signals before anything starts, checks the tools,
//! hands over to [`amqp::run`], and turns how it stopped into the exit code: 0 when every job
//! in flight finished, 128 + signal when jobs were cancelled.

use std::process::ExitCode;
use std::sync::Arc;

use recproc::amqp::{self, Stopped};
use recproc::config::Config;
use recproc::metrics::{self, Readiness};
use recproc::pipeline::ToolSlots;
use recproc::signal::{self, Signals};

pub(crate) async fn run(config: Config) -> anyhow::Result<ExitCode> {
    // Listen before anything starts, so a signal never finds a child to orphan.
    let signals = Signals::listen()?;
    super::log_startup(&config);
    super::check_tools(&config).await?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "Recording started");
    let readiness = Arc::new(Readiness::default());
    if let Some(listen) = config.metrics_listen {
        let bound = recproc::serve::start(listen, Arc::clone(&readiness)).await?;
        tracing::info!(
            listen = %bound,
            "Serving /metrics, /healthz and /readyz on http://{bound}"
        );
    }
    metrics::key_expires(
        config
            .encryption
            .as_ref()
            .and_then(|key| key.expires(std::time::SystemTime::now())),
    );
    let slots = ToolSlots::for_this_machine();
    let stopped = amqp::run(Arc::new(config), slots, signals, readiness).await?;
    Ok(match stopped {
        Stopped::Drained { .. } => ExitCode::SUCCESS,
        Stopped::Cancelled { signal, .. } => ExitCode::from(signal::exit_code(signal)),
    })
}
