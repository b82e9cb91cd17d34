//! `recproc process EVENT.json`: one conference, in the foreground. Prints the processed
//! event and exits 0, or prints the failure event and exits 1; a signal stops the tools and
//! exits 128 + signal with nothing delivered.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use recproc::config::Config;
use recproc::job::{self, Outcome};
use recproc::pipeline::ToolSlots;
use recproc::signal::{self, Signals};

pub(crate) async fn process(config: &Config, event: &Path) -> anyhow::Result<ExitCode> {
    // Listen before the first tool starts, so a signal never finds a child to orphan.
    let mut signals = Signals::listen()?;
    super::log_startup(config);
    super::check_tools(config).await?;
    let raw = std::fs::read(event)
        .with_context(|| format!("cannot read the event file {}", event.display()))?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "Recording started");
    let slots = ToolSlots::for_this_machine();
    let outcome = tokio::select! {
        outcome = job::process(config, &slots, &raw) => outcome,
        number = signals.first() => {
            // The job's future is dropped here, and with it every tool it was running.
            let code = signal::exit_code(number);
            tracing::warn!(exit_code = code, "Interrupted: the tools were stopped; the work directory is kept and nothing was delivered.");
            return Ok(ExitCode::from(code));
        }
    };
    let json = serde_json::to_string_pretty(&outcome.to_json())?;
    println!("{json}");
    Ok(match outcome {
        Outcome::Processed(_) => ExitCode::SUCCESS,
        Outcome::Failed(_) => ExitCode::FAILURE,
    })
}
