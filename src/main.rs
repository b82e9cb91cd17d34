//! The `recproc` command line: parse arguments, load the configuration, set up logging, run
//! the chosen command (one module each in [`cmd`]), and turn its result into an exit code.
//! `anyhow` lives here (and in `cmd`) only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use recproc::config::{Config, LogFormat};

mod cmd;

/// Turns the raw media of recorded video conferences into finished recording files.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The TOML configuration file (defaults ← this file ← RECPROC_<SECTION>__<KEY>).
    #[arg(long, global = true, env = "RECPROC_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The daemon: consume conference-ended events from amqp.queue, publish a processed or
    /// failure event for each, then ack. Stops on SIGTERM/SIGINT after jobs in flight finish
    /// (daemon.shutdown_grace); a second signal stops at once.
    Run,
    /// Process one conference-ended event file: prints the processed event as JSON and exits
    /// 0, or prints the failure event and exits 1.
    Process {
        /// The conference-ended event, as JSON.
        #[arg(value_name = "EVENT.json")]
        event: PathBuf,
    },
    /// Validate the configuration (keys, directories, tools and their versions, the broker
    /// and its queues) and print the effective configuration.
    CheckConfig,
    /// After the cause of failures is fixed: republish the original events of the chosen
    /// failure events (or dead-lettered events) to amqp.queue, each with a publisher
    /// confirm, and only then remove them; every other message stays where it was.
    #[command(group = clap::ArgGroup::new("which").required(true).args(["conference", "all"]))]
    Replay {
        /// A conference to replay (its conferenceId); may be given several times.
        #[arg(long, value_name = "ID")]
        conference: Vec<String>,
        /// Replay every message of the queue.
        #[arg(long)]
        all: bool,
        /// Where the messages are: the failure queue (failure events) or the dead-letter
        /// queue (originals the broker dead-lettered).
        #[arg(long, value_enum, default_value = "failed")]
        from: ReplayFrom,
        /// Say what would be replayed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `recproc replay --from`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ReplayFrom {
    Failed,
    Dead,
}

/// Exit code for a configuration or usage problem (the event was never processed).
const EXIT_SETUP: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = Config::log_format(cli.config.as_deref());
    recproc::logs::init(format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("recproc: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            let text = error_text(&e);
            tracing::error!(
                error = recproc::logs::field(&text),
                "recproc stopped: see the error."
            );
            // In JSON, the line above is the whole story: every line on stderr is an object.
            if format == LogFormat::Text {
                eprintln!("recproc: {text}");
            }
            ExitCode::from(EXIT_SETUP)
        }
    }
}

/// The error and its causes, joined by `: `. A cause the text already ends with is left out:
/// an error that says its source in its own text and reports it as its source too would
/// otherwise print it twice.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if text.ends_with(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::CheckConfig => cmd::check_config(&config).await,
        Command::Process { event } => cmd::process(&config, &event).await,
        Command::Run => cmd::run(config).await,
        Command::Replay {
            conference,
            all,
            from,
            dry_run,
        } => {
            let request = recproc::amqp::replay::Request {
                conferences: conference,
                all,
                from: match from {
                    ReplayFrom::Failed => recproc::amqp::replay::From::Failed,
                    ReplayFrom::Dead => recproc::amqp::replay::From::Dead,
                },
                dry_run,
            };
            cmd::replay(&config, &request).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("could not start `ffmpeg`: {source}")]
    struct Says {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_is_printed_once_even_when_its_error_says_it_too() {
        let io = std::io::Error::from_raw_os_error(libc::EACCES);
        let e = anyhow::Error::new(Says { source: io }).context("a required tool is missing");
        assert_eq!(
            error_text(&e),
            "a required tool is missing: could not start `ffmpeg`: Permission denied (os error 13)"
        );
        // Causes their error does not say are kept.
        let e = anyhow::anyhow!("disk")
            .context("cannot write")
            .context("setup");
        assert_eq!(error_text(&e), "setup: cannot write: disk");
    }
}
