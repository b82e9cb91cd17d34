//! `recproc run`: the daemon. Listens for signals before anything starts, checks the tools,
//! serves the metrics and probes, watches the encryption key's expiry, hands over to
//! [`amqp::run`], and turns how it stopped into the exit code: 0 when every job in flight
//! finished, 128 + signal when jobs were cancelled.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use recproc::amqp::{self, Stopped};
use recproc::config::Config;
use recproc::metrics::{self, Readiness};
use recproc::pipeline::ToolSlots;
use recproc::recipient::PublicKey;
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
    if let Some(key) = &config.encryption {
        tokio::spawn(watch_key(key.clone()));
    }
    let slots = ToolSlots::for_this_machine();
    let stopped = amqp::run(Arc::new(config), slots, signals, readiness).await?;
    Ok(match stopped {
        Stopped::Drained { .. } => ExitCode::SUCCESS,
        Stopped::Cancelled { signal, .. } => ExitCode::from(signal::exit_code(signal)),
    })
}

/// How often the key's expiry is looked at again.
const KEY_CHECK_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Publishes when `key` expires, now and once a day, with a WARN while that is less than 14
/// days away: renewing it in time is the operator's job, and an expired key fails every job.
async fn watch_key(key: PublicKey) {
    loop {
        let now = SystemTime::now();
        metrics::key_expires(key.expires(now));
        match key.expires_soon(now) {
            Some(left) if left.is_zero() => tracing::error!(
                key = %key.fingerprint(),
                public_key = %key.path().display(),
                "The encryption key has expired: every job fails until it is extended (gpg --quick-set-expire), exported again to public_key, and recproc restarted."
            ),
            Some(left) => tracing::warn!(
                key = %key.fingerprint(),
                public_key = %key.path().display(),
                days_left = left.as_secs_f64() / 86_400.0,
                "The encryption key expires in {:.1} days; extend it (gpg --quick-set-expire), export it again to public_key and restart recproc, or every job fails once it has expired.",
                left.as_secs_f64() / 86_400.0
            ),
            None => {}
        }
        tokio::time::sleep(KEY_CHECK_EVERY).await;
    }
}
