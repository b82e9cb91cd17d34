//! `recproc replay`: puts the chosen failed conferences back on the input queue (see
//! [`recproc::amqp::replay`]) and prints what became of every message it looked at.

use std::process::ExitCode;

use recproc::amqp::replay::{self, Request};
use recproc::config::Config;

pub(crate) async fn replay(config: &Config, request: &Request) -> anyhow::Result<ExitCode> {
    let lines = replay::replay(config, request).await?;
    let replayed = lines.iter().filter(|l| l.starts_with("replayed")).count();
    for line in &lines {
        println!("{line}");
    }
    let verb = if request.dry_run {
        "would replay"
    } else {
        "replayed"
    };
    println!(
        "{verb} {} of {} messages; the others stay in the queue",
        if request.dry_run {
            lines.iter().filter(|l| l.starts_with("would")).count()
        } else {
            replayed
        },
        lines.len()
    );
    tracing::info!(
        replayed,
        messages = lines.len(),
        dry_run = request.dry_run,
        "Replay finished."
    );
    Ok(ExitCode::SUCCESS)
}
