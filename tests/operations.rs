//! What an operator plugs into their tools (SPEC.md "Operations"), against the real RabbitMQ
//! on 127.0.0.1: `/metrics` after a processed, a failed and a requeued job, checked by
//! Prometheus' own `promtool`; `/healthz`; `/readyz` following the broker connection and
//! shutdown; and the encryption key's expiry, warned about and published.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::broker::{close_connection_of, Broker, Daemon, Queues};
use common::*;
use recproc_fixture::{Participant, Scenario};

const PATIENCE: Duration = Duration::from_secs(180);

/// A sandbox whose daemon consumes its own queues and serves the endpoints on a port the
/// system picks; `extra` TOML follows the `[amqp]` keys.
fn world(tag: &str, extra: &str) -> (Sandbox, Queues, Broker) {
    let queues = Queues::unique(tag);
    let sb = Sandbox::new(&format!(
        "{}{extra}\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
        queues.toml(1)
    ));
    let broker = Broker::connect();
    broker.declare(&queues.input);
    (sb, queues, broker)
}

/// Starts the daemon and waits until it consumes; the address its endpoints are on.
fn start(sb: &Sandbox) -> (Daemon, String) {
    let daemon = Daemon::start(&sb.config, sb.path().join("daemon.log"));
    assert!(
        daemon.wait_for_log("Consuming conference-ended events", PATIENCE),
        "the daemon did not start consuming:\n{}",
        daemon.log_text()
    );
    let log = daemon.log_text();
    let at = log.find("on http://").expect("it says where it serves") + "on http://".len();
    let addr: String = log[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    (daemon, addr)
}

/// `GET path` from `addr`: the status code and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

/// Waits until `GET /readyz` answers `status`.
fn wait_ready(addr: &str, status: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if get(addr, "/readyz").0 == status {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The value of the sample `series` (name and labels, as written) in `text`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

fn call(seconds: f64) -> Scenario {
    Scenario {
        duration: seconds,
        participants: vec![Participant::new("ann", "red", 0.0, seconds)],
        ..Scenario::default()
    }
}

#[test]
fn metrics_say_what_happened_and_pass_promtool() {
    let (sb, queues, broker) = world(
        "metrics",
        "[daemon]\nmax_attempts = 2\n[log]\nformat = \"json\"\n",
    );
    let good = sb.generate(&call(3.0));
    let (daemon, addr) = start(&sb);
    assert_eq!(get(&addr, "/healthz").0, 200);

    // Processed.
    broker.publish(&queues.input, &std::fs::read(&good.event).unwrap());
    assert_eq!(broker.wait_for(&queues.processed, 1, PATIENCE).len(), 1);
    // Failed: not an event.
    broker.publish(&queues.input, b"{not json");
    // Requeued once, then failed: its work directory cannot be made (a system failure).
    let mut event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&good.event).unwrap()).unwrap();
    event["conferenceId"] = "blocked".into();
    std::fs::remove_dir_all(sb.work_dir()).unwrap();
    std::fs::write(sb.work_dir(), b"in the way").unwrap();
    broker.publish(&queues.input, event.to_string().as_bytes());
    let failures = broker.wait_for(&queues.failure, 2, PATIENCE);
    assert_eq!(failures.len(), 2, "{}", daemon.log_text());

    let (status, text) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    // Prometheus' own checker reads it as a scrape would.
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) is installed");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert_eq!(
        sample(&text, "recproc_jobs_total{outcome=\"processed\"}"),
        1.0
    );
    assert_eq!(sample(&text, "recproc_jobs_total{outcome=\"failed\"}"), 2.0);
    assert_eq!(
        sample(&text, "recproc_jobs_total{outcome=\"requeued\"}"),
        1.0
    );
    assert_eq!(
        sample(&text, "recproc_jobs_total{outcome=\"dead_lettered\"}"),
        0.0
    );
    assert_eq!(sample(&text, "recproc_jobs_in_flight"), 0.0);
    assert_eq!(sample(&text, "recproc_broker_connected"), 1.0);
    let seconds = sample(&text, "recproc_recording_seconds_total");
    assert!((seconds - 3.0).abs() < 0.1, "{seconds}");
    assert!(sample(&text, "recproc_realtime_factor") > 0.0);
    assert!(sample(&text, "recproc_stage_seconds_count{stage=\"render\"}") >= 1.0);
    assert_eq!(
        sample(&text, "recproc_encryption_key_expiry_timestamp_seconds"),
        0.0,
        "encryption is off"
    );

    // In JSON every line is an object, and every line about a conference's message names it:
    // also the daemon's own (the retry of the blocked one).
    let log = daemon.log_text();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let retry = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .unwrap()
                .starts_with("The system failed, not the message")
        })
        .expect("the blocked conference was retried");
    assert_eq!(retry["conference_id"], "blocked", "{retry}");
    let about_blocked = lines
        .iter()
        .filter(|l| l["conference_id"] == "blocked")
        .count();
    assert!(about_blocked >= 4, "{log}");
}

#[test]
fn readyz_follows_the_broker_connection_and_shutdown() {
    let (sb, queues, broker) = world("readyz", "[daemon]\nshutdown_grace = 120\n");
    let (daemon, addr) = start(&sb);
    assert!(wait_ready(&addr, 200, Duration::from_secs(10)));

    // The broker drops the connection: not ready until recproc consumes again.
    assert!(close_connection_of(daemon.pid()));
    assert!(
        wait_ready(&addr, 503, Duration::from_secs(10)),
        "503 while the connection is down:\n{}",
        daemon.log_text()
    );
    assert_eq!(get(&addr, "/healthz").0, 200, "alive all the same");
    assert!(
        wait_ready(&addr, 200, PATIENCE),
        "200 again once consuming:\n{}",
        daemon.log_text()
    );

    // SIGTERM while a job runs: not ready while it drains, alive until it exits.
    let long = sb.generate(&call(20.0));
    broker.publish(&queues.input, &std::fs::read(&long.event).unwrap());
    assert!(daemon.wait_for_log("Processing video", PATIENCE));
    daemon.terminate();
    assert!(wait_ready(&addr, 503, Duration::from_secs(10)));
    assert_eq!(get(&addr, "/healthz").0, 200);
    assert_eq!(broker.wait_for(&queues.processed, 1, PATIENCE).len(), 1);
}

#[test]
fn a_key_expiring_within_fourteen_days_is_warned_about_and_published() {
    let dir = tempfile::tempdir().unwrap();
    let (key, expires) = common::keys::expiring_key(dir.path(), Duration::from_secs(5 * 86_400));
    let (sb, _queues, _broker) = world(
        "key",
        &format!("[encryption]\nenabled = true\npublic_key = {key:?}\n"),
    );
    let (daemon, addr) = start(&sb);
    assert!(
        daemon.wait_for_log(
            "The encryption key expires in 5.0 days",
            Duration::from_secs(10)
        ),
        "{}",
        daemon.log_text()
    );
    let (_, text) = get(&addr, "/metrics");
    let at = sample(&text, "recproc_encryption_key_expiry_timestamp_seconds");
    let want = expires
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert_eq!(at, want, "{text}");
}

#[test]
fn the_daemon_prunes_what_the_state_directory_keeps_no_longer() {
    let (sb, queues, broker) = world("prune", "[daemon]\nstate_retention_days = 7\n");
    // A conference delivered weeks ago.
    let old = sb.generate(&call(2.0));
    let run = sb.process(&old.event);
    run.delivered();
    let state = sb.output_dir().join(recproc::ledger::STATE_DIR);
    let weeks_ago = std::time::SystemTime::now() - Duration::from_secs(21 * 86_400);
    let mut aged = Vec::new();
    for entry in std::fs::read_dir(&state).unwrap() {
        let path = entry.unwrap().path();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(weeks_ago).unwrap();
        aged.push(path);
    }
    assert!(aged
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "json")));
    // And one delivered just now.
    let mut event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&old.event).unwrap()).unwrap();
    event["conferenceId"] = "recent".into();
    sb.process_text(&event.to_string()).delivered();
    let (daemon, _addr) = start(&sb);
    assert!(
        daemon.wait_for_log("Pruned the state directory", Duration::from_secs(10)),
        "{}",
        daemon.log_text()
    );
    for path in &aged {
        assert!(!path.exists(), "{} is pruned", path.display());
    }
    // What is recent stays: its redelivery is answered from its receipt.
    broker.publish(&queues.input, event.to_string().as_bytes());
    assert_eq!(broker.wait_for(&queues.processed, 1, PATIENCE).len(), 1);
    assert!(
        daemon.wait_for_log("already delivered", Duration::from_secs(10)),
        "{}",
        daemon.log_text()
    );
    let receipts = std::fs::read_dir(&state)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".json")
        })
        .count();
    assert_eq!(receipts, 1);
}

/// Waits until `queue` holds `n` messages ready.
fn wait_ready_messages(broker: &Broker, queue: &str, n: u32) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if broker.counts(queue).0 == n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn replay_republishes_the_conference_asked_for_once_fixed_and_leaves_the_rest_in_order() {
    let (sb, queues, broker) = world("replay", "");
    let g = sb.generate(&call(2.0));
    let event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&g.event).unwrap()).unwrap();
    let named = |id: &str| {
        let mut e = event.clone();
        e["conferenceId"] = id.into();
        e.to_string()
    };
    // Its file is gone (moved away by mistake): "missing", "junk" and "other" fail.
    let mjr = &g.tracks[0].mjr;
    let aside = sb.path().join("aside.mjr");
    std::fs::rename(mjr, &aside).unwrap();
    let (daemon, _addr) = start(&sb);
    for body in [named("missing"), "{not json".to_owned(), named("other")] {
        broker.publish(&queues.input, body.as_bytes());
    }
    assert!(
        wait_ready_messages(&broker, &queues.failure, 3),
        "{}",
        daemon.log_text()
    );
    std::fs::rename(&aside, mjr).unwrap();

    let config = sb.config.to_str().unwrap();
    let replay = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_recproc"))
            .args(["replay", "--config", config])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // Nothing changes on a dry run.
    let said = replay(&["--conference", "missing", "--dry-run"]);
    assert!(said.contains("would replay missing"), "{said}");
    assert!(wait_ready_messages(&broker, &queues.failure, 3));
    assert!(broker.get_all(&queues.processed).is_empty());

    // A conference no message is about: said, and exit 1.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recproc"))
        .args([
            "replay",
            "--config",
            config,
            "--conference",
            "nosuch",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not found  nosuch"));

    let said = replay(&["--conference", "missing"]);
    assert!(said.contains("replayed   missing"), "{said}");
    assert!(said.contains("kept       other"), "{said}");
    let processed = broker.wait_for(&queues.processed, 1, PATIENCE);
    assert_eq!(processed.len(), 1, "{}", daemon.log_text());
    assert_eq!(processed[0]["conferenceId"], "missing");
    // The other failure events stay, in their order.
    let left = broker.get_all(&queues.failure);
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[0]["event"], "{not json");
    assert_eq!(left[1]["conferenceId"], "other");
    // Neither --all nor --conference: a usage error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recproc"))
        .args(["replay", "--config", config])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
