//! `recproc replay`: puts the chosen failed conferences back on the input queue (see
//! [`recproc::amqp::replay`]), printing what became of every message it looks at as it goes;
//! exits 1 when a conference asked for was not found or a chosen message could not be
//! replayed.

use std::process::ExitCode;

use recproc::amqp::replay::{self, Request};
use recproc::config::Config;

pub(crate) async fn replay(config: &Config, request: &Request) -> anyhow::Result<ExitCode> {
    let summary = replay::replay(config, request, |line| println!("{line}")).await?;
    let missing: Vec<&str> = request
        .conferences
        .iter()
        .filter(|c| !summary.found.contains(*c))
        .map(String::as_str)
        .collect();
    for id in &missing {
        println!("not found  {id}: no message of the queue is about it");
    }
    let verb = if request.dry_run {
        "would replay"
    } else {
        "replayed"
    };
    println!(
        "{verb} {} of {} messages; {} chosen could not be; the others stay in the queue",
        summary.replayed, summary.messages, summary.not_replayed
    );
    tracing::info!(
        replayed = summary.replayed,
        not_replayed = summary.not_replayed,
        messages = summary.messages,
        missing = missing.len(),
        dry_run = request.dry_run,
        "Replay finished."
    );
    Ok(match missing.is_empty() && summary.not_replayed == 0 {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    })
}
