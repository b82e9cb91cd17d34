//! The `recproc` command line: parse arguments, load the configuration, set up logging, run
//! the chosen command, and turn its result into an exit code. `anyhow` lives here only.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use recproc::amqp;
use recproc::config::Config;
use recproc::job::{self, Outcome};
use recproc::media::tools;
use recproc::pipeline::ToolSlots;
use recproc::signal::{self, Signals};

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
}

/// Exit code for a configuration or usage problem (the event was never processed).
const EXIT_SETUP: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
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
            tracing::error!("{e:#}");
            eprintln!("recproc: {e:#}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

fn init_logging() {
    // lapin logs every channel the broker closes as an error, including the expected ones
    // (check-config's look at a missing queue); recproc logs what matters itself.
    // `RECPROC_LOG=info,lapin=info` shows lapin's lines again.
    let filter = tracing_subscriber::EnvFilter::try_from_env("RECPROC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,lapin=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::CheckConfig => check_config(&config).await,
        Command::Process { event } => process(&config, &event).await,
        Command::Run => run_daemon(config).await,
    }
}

/// The startup lines operators look for (SPEC.md "Logs").
fn log_startup(config: &Config) {
    if let Some(key) = &config.encryption.key {
        tracing::info!(
            key = %key.fingerprint(),
            public_key = %key.path().display(),
            "File encryption is enabled"
        );
    } else {
        tracing::info!("File encryption is disabled");
    }
    let names = serde_json::json!({
        "filenameFormat": config.recording.filename_format.to_string(),
        "outputDir": config.paths.output_dir,
        "videoCodec": config.recording.video_codec.to_string(),
    });
    tracing::info!("FilenameGenerator configured with: {names}");
}

async fn check_tools(config: &Config) -> anyhow::Result<Vec<tools::ToolVersion>> {
    tools::check(config.recording.video_codec)
        .await
        .context("a required tool is missing")
}

async fn check_config(config: &Config) -> anyhow::Result<ExitCode> {
    let versions = check_tools(config).await?;
    let queues = amqp::check_broker(&config.amqp).await?;
    println!(
        "# recproc {} — configuration is valid",
        env!("CARGO_PKG_VERSION")
    );
    for v in &versions {
        println!("# {}: {}", v.tool, v.version);
    }
    match &config.encryption.key {
        Some(key) => println!(
            "# encryption: every media file to key {} ({})",
            key.fingerprint(),
            key.path().display()
        ),
        None => println!("# encryption: disabled"),
    }
    println!("# broker: connected to {}", config.amqp.url_redacted());
    for line in queues {
        println!("# {line}");
    }
    println!("{}", config.effective_toml());
    Ok(ExitCode::SUCCESS)
}

async fn run_daemon(config: Config) -> anyhow::Result<ExitCode> {
    // Listen before anything starts, so a signal never finds a child to orphan.
    let signals = Signals::listen()?;
    log_startup(&config);
    check_tools(&config).await?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "Recording started");
    let stopped = amqp::run(
        std::sync::Arc::new(config),
        ToolSlots::for_this_machine(),
        signals,
    )
    .await?;
    Ok(match stopped {
        amqp::Stopped::Drained { .. } => ExitCode::SUCCESS,
        amqp::Stopped::Cancelled { signal, .. } => ExitCode::from(signal::exit_code(signal)),
    })
}

async fn process(config: &Config, event: &std::path::Path) -> anyhow::Result<ExitCode> {
    // Listen before the first tool starts, so a signal never finds a child to orphan.
    let mut signals = Signals::listen()?;
    log_startup(config);
    check_tools(config).await?;
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
