//! What an operator's Prometheus scrapes (SPEC.md "Operations"): the metric families of the
//! process, in one registry, recorded where things happen (a job settled, a stage finished, a
//! tool failed, the broker came and went) and written in the Prometheus text format; and the
//! readiness `/readyz` reports. The HTTP edge that serves them is `serve`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use prometheus::{
    Encoder as _, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// How a job's message was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobOutcome {
    /// Its processed event was published and the message acked.
    Processed,
    /// Its failure event was published and the message acked.
    Failed,
    /// It went back to the queue to be tried again (the system failed).
    Requeued,
    /// Its result was refused by the broker for good: rejected without requeue.
    DeadLettered,
}

impl JobOutcome {
    fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Processed => "processed",
            JobOutcome::Failed => "failed",
            JobOutcome::Requeued => "requeued",
            JobOutcome::DeadLettered => "dead_lettered",
        }
    }
}

/// The families, registered once.
struct Families {
    registry: Registry,
    jobs: IntCounterVec,
    in_flight: IntGauge,
    stage_seconds: HistogramVec,
    recording_seconds: prometheus::Counter,
    realtime_factor: Gauge,
    tool_failures: IntCounterVec,
    broker_connected: IntGauge,
    key_expiry: Gauge,
}

/// Stage durations from a tenth of a second to three hours.
const STAGE_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 10800.0,
];

static FAMILIES: LazyLock<Families> = LazyLock::new(|| {
    let registry = Registry::new();
    let jobs = IntCounterVec::new(
        Opts::new(
            "recproc_jobs_total",
            "Conference-ended events settled, by outcome.",
        ),
        &["outcome"],
    )
    .expect("a valid family");
    let in_flight =
        IntGauge::new("recproc_jobs_in_flight", "Jobs running now.").expect("a valid family");
    let stage_seconds = HistogramVec::new(
        HistogramOpts::new(
            "recproc_stage_seconds",
            "How long each step of a job's stages took, by stage.",
        )
        .buckets(STAGE_BUCKETS.to_vec()),
        &["stage"],
    )
    .expect("a valid family");
    let recording_seconds = prometheus::Counter::new(
        "recproc_recording_seconds_total",
        "Seconds of recording delivered (the length of each output).",
    )
    .expect("a valid family");
    let realtime_factor = Gauge::new(
        "recproc_realtime_factor",
        "The last delivered job's recording length over the time it took (above 1: faster than realtime).",
    )
    .expect("a valid family");
    let tool_failures = IntCounterVec::new(
        Opts::new(
            "recproc_tool_failures_total",
            "Runs of an external tool that failed (exit status, signal, timeout, or not started), by tool.",
        ),
        &["tool"],
    )
    .expect("a valid family");
    let broker_connected = IntGauge::new(
        "recproc_broker_connected",
        "1 while connected to the broker and consuming, else 0.",
    )
    .expect("a valid family");
    let key_expiry = Gauge::new(
        "recproc_encryption_key_expiry_timestamp_seconds",
        "When the encryption key stops being usable, in seconds since the epoch; 0 when it does not expire or encryption is off.",
    )
    .expect("a valid family");
    for family in [
        Box::new(jobs.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(in_flight.clone()),
        Box::new(stage_seconds.clone()),
        Box::new(recording_seconds.clone()),
        Box::new(realtime_factor.clone()),
        Box::new(tool_failures.clone()),
        Box::new(broker_connected.clone()),
        Box::new(key_expiry.clone()),
    ] {
        registry.register(family).expect("each family once");
    }
    // Every outcome and every tool is there from the start, at 0: a rate over a series that
    // appears only with its first event misses that event.
    for outcome in [
        JobOutcome::Processed,
        JobOutcome::Failed,
        JobOutcome::Requeued,
        JobOutcome::DeadLettered,
    ] {
        jobs.with_label_values(&[outcome.as_str()]);
    }
    for tool in ["ffmpeg", "ffprobe", "janus-pp-rec"] {
        tool_failures.with_label_values(&[tool]);
    }
    Families {
        registry,
        jobs,
        in_flight,
        stage_seconds,
        recording_seconds,
        realtime_factor,
        tool_failures,
        broker_connected,
        key_expiry,
    }
});

/// A job's message was settled so.
pub(crate) fn job_settled(outcome: JobOutcome) {
    FAMILIES.jobs.with_label_values(&[outcome.as_str()]).inc();
}

/// A job runs while this lives.
pub(crate) struct InFlight(());

impl InFlight {
    pub(crate) fn start() -> InFlight {
        FAMILIES.in_flight.inc();
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        FAMILIES.in_flight.dec();
    }
}

/// A step of `stage` took `elapsed`.
pub(crate) fn stage_took(stage: &str, elapsed: Duration) {
    FAMILIES
        .stage_seconds
        .with_label_values(&[stage])
        .observe(elapsed.as_secs_f64());
}

/// A job delivered `seconds` of recording in `took`.
pub(crate) fn delivered(seconds: f64, took: Duration) {
    if seconds.is_finite() && seconds > 0.0 {
        FAMILIES.recording_seconds.inc_by(seconds);
        let took = took.as_secs_f64();
        if took > 0.0 {
            FAMILIES.realtime_factor.set(seconds / took);
        }
    }
}

/// A run of `tool` failed.
pub(crate) fn tool_failed(tool: &str) {
    FAMILIES.tool_failures.with_label_values(&[tool]).inc();
}

/// When the encryption key expires (`None`: it does not, or encryption is off).
pub fn key_expires(at: Option<SystemTime>) {
    let seconds = at
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    FAMILIES.key_expiry.set(seconds);
}

/// Every family in the Prometheus text format (0.0.4).
pub fn render() -> String {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&FAMILIES.registry.gather(), &mut out)
        .expect("the text format writes to memory");
    String::from_utf8(out).expect("the text format is UTF-8")
}

/// Whether the session consuming from the broker is up right now (its connection and its
/// channel open; `false` while they are being recovered).
pub(crate) type Liveness = Box<dyn Fn() -> bool + Send + Sync>;

/// Whether the daemon can take work: a session is consuming, its connection and channel are
/// up as of now, and no shutdown signal came. `/readyz` answers from it, and
/// `recproc_broker_connected` says the same at each scrape.
#[derive(Default)]
pub struct Readiness {
    session: Mutex<Option<Liveness>>,
    draining: AtomicBool,
}

impl Readiness {
    /// A session consumes; `alive` says whether it still can.
    pub(crate) fn consuming(&self, alive: Liveness) {
        *self.session.lock().expect("never poisoned") = Some(alive);
    }

    /// The session ended (lost, or shut down).
    pub(crate) fn stopped(&self) {
        *self.session.lock().expect("never poisoned") = None;
    }

    /// A shutdown signal came: no new work, whatever the broker.
    pub(crate) fn draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        let session = self.session.lock().expect("never poisoned");
        let up = session.as_ref().is_some_and(|alive| alive());
        FAMILIES.broker_connected.set(i64::from(up));
        up && !self.draining.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_written_with_help_and_type_and_outcomes_start_at_zero() {
        let text = render();
        for family in [
            "recproc_jobs_total",
            "recproc_jobs_in_flight",
            "recproc_recording_seconds_total",
            "recproc_realtime_factor",
            "recproc_broker_connected",
            "recproc_encryption_key_expiry_timestamp_seconds",
        ] {
            assert!(
                text.contains(&format!("# HELP {family} ")),
                "{family}: {text}"
            );
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family}: {text}"
            );
        }
        assert!(
            text.contains("recproc_jobs_total{outcome=\"requeued\"}"),
            "{text}"
        );
    }

    #[test]
    fn readiness_needs_a_live_session_and_no_shutdown() {
        let r = Readiness::default();
        assert!(!r.is_ready());
        let up = std::sync::Arc::new(AtomicBool::new(true));
        let alive = std::sync::Arc::clone(&up);
        r.consuming(Box::new(move || alive.load(Ordering::SeqCst)));
        assert!(r.is_ready());
        // The connection drops while the session is being recovered.
        up.store(false, Ordering::SeqCst);
        assert!(!r.is_ready());
        up.store(true, Ordering::SeqCst);
        assert!(r.is_ready());
        r.stopped();
        assert!(!r.is_ready());
        r.consuming(Box::new(|| true));
        r.draining();
        assert!(!r.is_ready());
    }

    #[test]
    fn a_stage_and_a_job_are_counted() {
        stage_took("render", Duration::from_millis(1500));
        delivered(60.0, Duration::from_secs(6));
        let text = render();
        assert!(text.contains("recproc_stage_seconds_bucket{stage=\"render\",le=\"2.5\"}"));
        assert!(text.contains("recproc_realtime_factor 10"), "{text}");
        // Nothing delivered, nothing measured.
        delivered(0.0, Duration::from_secs(1));
        assert!(render().contains("recproc_realtime_factor 10"));
    }
}
