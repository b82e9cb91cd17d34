//! `recproc-fixture [--scenario FILE.json] OUT_DIR`: writes a sample conference of real media
//! (Janus `.mjr` video tracks, the mixed WAV, with the scenario's `janus_audio` Janus `.mjr`
//! microphone tracks, `event.json`, `recproc.toml`) into OUT_DIR and prints the paths of
//! `event.json` and `recproc.toml`, one per line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use recproc_fixture::{self as fixture, Scenario};

/// Generate a sample conference (real .mjr video, WAV audio, event, config) for recproc.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Scenario JSON; without it the built-in four-party sample is written.
    #[arg(long, value_name = "FILE.json")]
    scenario: Option<PathBuf>,
    /// Directory to write into (created if missing).
    out_dir: PathBuf,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("recproc-fixture: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let scenario = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read scenario {}", path.display()))?;
            Scenario::from_json(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => fixture::sample_four_party(),
    };
    let generated = fixture::generate(&scenario, &args.out_dir)?;
    let config = fixture::write_config(&args.out_dir, "")?;
    println!("{}", generated.event.display());
    println!("{}", config.display());
    Ok(())
}
