//! `recproc run`: the daemon. Listens for signals before anything starts, checks the tools,
//! hands over to [`amqp::run`], and turns how it stopped into the exit code: 0 when every job
//! in flight finished, 128 + signal when jobs were cancelled.

use std::process::ExitCode;
use std::sync::Arc;

use recproc::amqp::{self, Stopped};
use recproc::config::Config;
use recproc::pipeline::ToolSlots;
use recproc::signal::{self, Signals};

pub(crate) async fn run(config: Config) -> anyhow::Result<ExitCode> {
    // Listen before anything starts, so a signal never finds a child to orphan.
    let signals = Signals::listen()?;
    super::log_startup(&config);
    super::check_tools(&config).await?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "Recording started");
    let stopped = amqp::run(Arc::new(config), ToolSlots::for_this_machine(), signals).await?;
    Ok(match stopped {
        Stopped::Drained { .. } => ExitCode::SUCCESS,
        Stopped::Cancelled { signal, .. } => ExitCode::from(signal::exit_code(signal)),
    })
}
