//! The subcommands of `recproc`, one module each, and what they share: the startup lines
//! operators look for and the check that every tool is there. They belong to the binary, not
//! the library: each returns the exit code of a run that happened, or an `anyhow` error for
//! `main` to report as a setup problem.

mod check_config;
mod process;
mod replay;
mod run;

pub(crate) use check_config::check_config;
pub(crate) use process::process;
pub(crate) use replay::replay;
pub(crate) use run::run;

use anyhow::Context as _;

use recproc::config::Config;
use recproc::media::tools;

/// The startup lines operators look for (SPEC.md "Logs").
fn log_startup(config: &Config) {
    if let Some(key) = &config.encryption {
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
