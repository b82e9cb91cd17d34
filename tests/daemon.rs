//! `recproc run` against the real RabbitMQ on 127.0.0.1: events in, recordings and result
//! events out, acks only after confirms, and nothing lost when messages are bad, the daemon
//! is killed, the broker connection drops, or it is told to stop. Every test has its own
//! queues and sandbox.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::broker::{close_connection_of, wait_connection_of, Broker, Daemon, Queues};
use common::*;
use recproc_fixture::{Participant, Scenario};
use serde_json::Value;

/// Long enough for any one test's work on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(180);

/// A sandbox whose config names `queues`, plus `extra` TOML after the `[amqp]` keys.
fn world(tag: &str, prefetch: u16, extra: &str) -> (Sandbox, Queues, Broker) {
    let queues = Queues::unique(tag);
    let sb = Sandbox::new(&format!("{}{extra}", queues.toml(prefetch)));
    let broker = Broker::connect();
    broker.declare(&queues.input);
    (sb, queues, broker)
}

/// Puts a file where the state directory goes, so every attempt fails for a system reason
/// (recproc cannot take the conference's lock); returns that path.
fn block_state_dir(sb: &Sandbox) -> PathBuf {
    let state = sb.output_dir().join(recproc::ledger::STATE_DIR);
    std::fs::write(&state, b"in the way").unwrap();
    state
}

fn short_call(seconds: f64) -> Scenario {
    Scenario {
        duration: seconds,
        participants: vec![
            Participant::new("alice", "red", 0.0, seconds),
            Participant::new("bob", "blue", 0.0, seconds),
        ],
        ..Scenario::default()
    }
}

fn event_of(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The same conference under another ID (its media shared): a different recording.
fn renamed(event: &Value, conference_id: &str) -> Value {
    let mut e = event.clone();
    e["conferenceId"] = conference_id.into();
    e
}

fn start(sb: &Sandbox, name: &str) -> Daemon {
    let daemon = Daemon::start(&sb.config, sb.path().join(format!("{name}.log")));
    assert!(
        daemon.wait_for_log("Consuming conference-ended events", PATIENCE),
        "the daemon did not start consuming:\n{}",
        daemon.log_text()
    );
    daemon
}

/// Asserts the queue has nothing waiting and nothing unacked.
fn assert_settled(broker: &Broker, queue: &str) {
    // Acks are asynchronous to the events a test waits for: give them a moment.
    let mut counts = (u32::MAX, u32::MAX);
    for _ in 0..50 {
        counts = broker.counts(queue);
        if counts == (0, 0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("queue {queue} still has (ready, unacked) = {counts:?}");
}

#[test]
fn an_event_on_the_queue_becomes_a_recording_and_one_processed_event() {
    let (sb, queues, broker) = world("happy", 2, "");
    let g = sb.generate(&short_call(3.0));
    let daemon = start(&sb, "daemon");
    broker.publish(&queues.input, &std::fs::read(&g.event).unwrap());

    let processed = broker.wait_for(&queues.processed, 1, PATIENCE);
    assert_eq!(processed.len(), 1, "{}", daemon.log_text());
    let event = &processed[0];
    assert_eq!(event["status"], "processed");
    assert_eq!(event["conferenceId"], "fixture-conf");
    let file = PathBuf::from(event["filename"].as_str().unwrap());
    assert_eq!(sb.outputs(), vec![file.clone()]);
    let p = probe(&file);
    assert!((p.duration - 3.0).abs() < 0.3, "duration {}", p.duration);
    assert_colours(
        &file,
        1.5,
        &[((160, 240), [255, 0, 0]), ((480, 240), [0, 0, 255])],
    );
    assert_eq!(
        event["files"][0]["sha256"].as_str().unwrap(),
        sha256_of(&file)
    );

    assert_settled(&broker, &queues.input);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        broker.get_all(&queues.processed).is_empty(),
        "one processed event only"
    );
    assert!(broker.get_all(&queues.failure).is_empty());
    let log = daemon.log_text();
    assert!(
        log.contains("Received a process recording event with id: fixture-conf"),
        "{log}"
    );
    assert!(
        log.contains("Recording with ID fixture-conf processed correctly."),
        "{log}"
    );
}

#[test]
fn poison_messages_get_one_failure_event_each_and_are_not_redelivered() {
    let (sb, queues, broker) = world("poison", 2, "");
    let g = sb.generate(&Scenario {
        duration: 2.0,
        participants: vec![Participant::new("alice", "red", 0.0, 2.0)],
        ..Scenario::default()
    });
    let mut traversal = event_of(&g.event);
    let sfu = &mut traversal["recordingInfo"]["video"]["alice"]["sfuvideo"];
    let key = sfu.as_object().unwrap().keys().next().unwrap().clone();
    sfu[key]["filename"] = "../../../../etc/passwd".into();
    traversal["conferenceId"] = "escape".into();

    let daemon = start(&sb, "daemon");
    broker.publish(&queues.input, b"{ this is not json");
    broker.publish(&queues.input, traversal.to_string().as_bytes());

    let failures = broker.wait_for(&queues.failure, 2, PATIENCE);
    assert_eq!(failures.len(), 2, "{}", daemon.log_text());
    let raw = failures
        .iter()
        .find(|f| f["event"].is_string())
        .expect("the invalid JSON's failure event");
    assert_eq!(raw["event"], "{ this is not json");
    assert_eq!(raw["stage"], "validate");
    assert_eq!(raw["blame"], "input");
    let escape = failures
        .iter()
        .find(|f| f["conferenceId"] == "escape")
        .expect("the traversal's failure event");
    assert_eq!(escape["stage"], "validate");
    assert!(
        escape["error"]
            .as_str()
            .unwrap()
            .contains("escapes video_root"),
        "{escape}"
    );

    // Acked: nothing comes back, however long we wait for it.
    assert_settled(&broker, &queues.input);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        broker.get_all(&queues.failure).is_empty(),
        "no redelivery loop"
    );
    assert!(broker.get_all(&queues.processed).is_empty());
    assert!(sb.outputs().is_empty());
}

#[test]
fn bad_file_names_get_failure_events_and_never_hold_the_slots() {
    // Prefetch 2: two messages that were retried for ever held both slots, and a valid
    // conference behind them waited for good.
    let (sb, queues, broker) = world("badnames", 2, "");
    let g = sb.generate(&Scenario {
        duration: 2.0,
        participants: vec![Participant::new("alice", "red", 0.0, 2.0)],
        ..Scenario::default()
    });
    let event = event_of(&g.event);
    let root = sb.video_root();
    std::os::unix::fs::symlink("loop.mjr", root.join("loop.mjr")).unwrap();
    let mjr = g.tracks[0].mjr.file_name().unwrap().to_str().unwrap();
    let bad = |conference_id: &str, filename: &str| {
        let mut e = renamed(&event, conference_id);
        let sfu = &mut e["recordingInfo"]["video"]["alice"]["sfuvideo"];
        let key = sfu.as_object().unwrap().keys().next().unwrap().clone();
        sfu[key]["filename"] = filename.into();
        e
    };
    let daemon = start(&sb, "daemon");
    for e in [bad("notdir", &format!("{mjr}/x")), bad("loop", "loop.mjr")] {
        broker.publish(&queues.input, e.to_string().as_bytes());
    }
    broker.publish(&queues.input, &std::fs::read(&g.event).unwrap());

    let failures = broker.wait_for(&queues.failure, 2, PATIENCE);
    let processed = broker.wait_for(&queues.processed, 1, PATIENCE);
    let log = daemon.log_text();
    assert_eq!(failures.len(), 2, "{log}");
    for (id, words) in [("notdir", "Not a directory"), ("loop", "symbolic links")] {
        let f = failures
            .iter()
            .find(|f| f["conferenceId"] == id)
            .unwrap_or_else(|| panic!("a failure event for {id}: {failures:?}"));
        assert_eq!(f["blame"], "input", "{f}");
        assert_eq!(f["stage"], "validate", "{f}");
        assert!(f["error"].as_str().unwrap().contains(words), "{f}");
    }
    assert_eq!(processed.len(), 1, "{log}");
    assert_eq!(processed[0]["conferenceId"], "fixture-conf");
    let file = PathBuf::from(processed[0]["filename"].as_str().unwrap());
    assert_eq!(sb.outputs(), vec![file]);
    assert_settled(&broker, &queues.input);
    assert!(!log.contains("The system failed, not the message"), "{log}");
}

/// A call whose render takes a few seconds: long enough to be interrupted in the middle.
fn busy_call() -> Scenario {
    Scenario {
        duration: 30.0,
        participants: vec![
            Participant::new("red", "red", 0.0, 30.0),
            Participant::new("green", "lime", 0.0, 30.0),
            Participant::new("blue", "blue", 5.0, 30.0),
            Participant::new("yellow", "yellow", 10.0, 30.0),
        ],
        ..Scenario::default()
    }
}

/// The output of `busy_call`, checked as a user would: its length and its tiles.
fn assert_busy_call_output(file: &std::path::Path) {
    let p = probe(file);
    assert!((p.duration - 30.0).abs() < 0.3, "duration {}", p.duration);
    assert_colours(
        file,
        20.0,
        &[
            // Same start: ordered by user ID.
            ((160, 120), [0, 255, 0]),
            ((480, 120), [255, 0, 0]),
            ((160, 360), [0, 0, 255]),
            ((480, 360), [255, 255, 0]),
        ],
    );
}

/// A range of the output rendered and committed in `sb`'s work directory: rendering is under
/// way and part of it can be kept.
fn a_range_is_rendered(sb: &Sandbox) -> bool {
    let Ok(jobs) = std::fs::read_dir(sb.work_dir()) else {
        return false;
    };
    jobs.flatten().any(|job| {
        std::fs::read_dir(job.path().join("parts")).is_ok_and(|parts| {
            parts.flatten().any(|p| {
                let name = p.file_name().to_string_lossy().into_owned();
                name.starts_with("range-") && name.ends_with(".mkv") && !name.contains(".partial")
            })
        })
    })
}

#[test]
fn a_daemon_killed_mid_render_is_finished_by_the_next_one() {
    let (sb, queues, broker) = world("crash", 1, "");
    let g = sb.generate(&busy_call());
    let mut first = start(&sb, "first");
    broker.publish(&queues.input, &std::fs::read(&g.event).unwrap());
    let started = std::time::Instant::now();
    while !a_range_is_rendered(&sb) && started.elapsed() < PATIENCE {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        a_range_is_rendered(&sb),
        "no range was ever rendered:\n{}",
        first.log_text()
    );
    first.kill();
    let first_log = first.log_text();
    assert!(
        !first_log.contains("processed correctly"),
        "killed too late to test a crash:\n{first_log}"
    );
    assert!(
        sb.outputs().is_empty(),
        "nothing delivered by the killed one"
    );

    let second = start(&sb, "second");
    let processed = broker.wait_for(&queues.processed, 1, PATIENCE);
    assert!(!processed.is_empty(), "{}", second.log_text());
    let file = PathBuf::from(processed[0]["filename"].as_str().unwrap());
    assert_eq!(sb.outputs(), vec![file.clone()], "exactly one output file");
    assert_busy_call_output(&file);
    let log = second.log_text();
    // It resumed from the first one's work: converted tracks and rendered ranges were kept.
    assert!(log.contains("Resuming an earlier attempt"), "{log}");
    assert!(
        log.contains("Reusing the track an earlier attempt converted"),
        "{log}"
    );
    assert!(log.contains("rendered ranges are kept"), "{log}");
    assert_settled(&broker, &queues.input);
    assert!(
        broker.get_all(&queues.failure).is_empty(),
        "no failure event"
    );
}

#[test]
fn a_lost_broker_connection_mid_job_loses_nothing() {
    let (sb, queues, broker) = world("connloss", 1, "");
    let g = sb.generate(&busy_call());
    let daemon = start(&sb, "daemon");
    assert!(
        wait_connection_of(daemon.pid(), PATIENCE),
        "{}",
        daemon.log_text()
    );
    broker.publish(&queues.input, &std::fs::read(&g.event).unwrap());
    assert!(
        daemon.wait_for_log("Processing video", PATIENCE),
        "{}",
        daemon.log_text()
    );
    assert!(
        close_connection_of(daemon.pid()),
        "the daemon's connection is listed"
    );

    let processed = broker.wait_for(&queues.processed, 1, PATIENCE);
    assert!(!processed.is_empty(), "{}", daemon.log_text());
    let file = PathBuf::from(processed[0]["filename"].as_str().unwrap());
    assert_eq!(sb.outputs(), vec![file.clone()], "exactly one output file");
    assert_busy_call_output(&file);
    // Back on the broker: the same daemon is connected again and the message is settled.
    assert!(
        wait_connection_of(daemon.pid(), PATIENCE),
        "{}",
        daemon.log_text()
    );
    assert_settled(&broker, &queues.input);
    assert!(
        broker.get_all(&queues.failure).is_empty(),
        "no failure event"
    );
    let log = daemon.log_text();
    assert!(
        log.contains("The broker connection was lost and has been recovered")
            || log.contains("Lost the broker"),
        "an operator is told:\n{log}"
    );
    // Any further processed event is the same one again (at least once, never different).
    for again in broker.get_all(&queues.processed) {
        assert_eq!(again["files"], processed[0]["files"]);
    }
}

#[test]
fn sigterm_lets_the_job_in_flight_finish_within_the_grace_period() {
    let (sb, queues, broker) = world("sigterm", 1, "[daemon]\nshutdown_grace = 150\n");
    let g = sb.generate(&busy_call());
    let mut daemon = start(&sb, "daemon");
    broker.publish(&queues.input, &std::fs::read(&g.event).unwrap());
    assert!(
        daemon.wait_for_log("Processing video", PATIENCE),
        "{}",
        daemon.log_text()
    );
    daemon.terminate();
    let status = daemon
        .wait_exit(PATIENCE)
        .expect("the daemon stops after its job");
    let log = daemon.log_text();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("Every job in flight finished"), "{log}");
    let processed = broker.get_all(&queues.processed);
    assert_eq!(processed.len(), 1, "published before exiting:\n{log}");
    assert_busy_call_output(std::path::Path::new(
        processed[0]["filename"].as_str().unwrap(),
    ));
    assert_settled(&broker, &queues.input);
}

#[test]
fn a_job_cut_off_by_shutdown_goes_back_to_the_queue_for_the_next_instance() {
    let (sb, queues, broker) = world("cutoff", 1, "[daemon]\nshutdown_grace = 1\n");
    let g = sb.generate(&busy_call());
    let mut first = start(&sb, "first");
    broker.publish(&queues.input, &std::fs::read(&g.event).unwrap());
    assert!(
        first.wait_for_log("Processing video", PATIENCE),
        "{}",
        first.log_text()
    );
    first.terminate();
    let status = first
        .wait_exit(PATIENCE)
        .expect("the daemon stops after its grace");
    let log = first.log_text();
    assert_eq!(
        status.code(),
        Some(143),
        "128 + SIGTERM when jobs were cancelled:\n{log}"
    );
    assert!(log.contains("Cancelled the jobs still running"), "{log}");
    assert!(sb.outputs().is_empty());
    assert_eq!(
        broker.counts(&queues.input),
        (1, 0),
        "the message is back, unacked by nobody"
    );

    let second = start(&sb, "second");
    let processed = broker.wait_for(&queues.processed, 1, PATIENCE);
    assert_eq!(processed.len(), 1, "{}", second.log_text());
    let file = PathBuf::from(processed[0]["filename"].as_str().unwrap());
    assert_eq!(sb.outputs(), vec![file.clone()]);
    assert_busy_call_output(&file);
    assert_settled(&broker, &queues.input);
    assert!(broker.get_all(&queues.failure).is_empty());
}

#[test]
fn two_instances_share_forty_conferences_without_duplicates() {
    const N: usize = 40;
    let (sb, queues, broker) = world("load", 2, "");
    let g = sb.generate(&Scenario {
        duration: 1.0,
        participants: vec![Participant::new("alice", "red", 0.0, 1.0)],
        ..Scenario::default()
    });
    let event = event_of(&g.event);
    for i in 0..N {
        let e = renamed(&event, &format!("load-{i:02}"));
        broker.publish(&queues.input, e.to_string().as_bytes());
    }
    let a = start(&sb, "a");
    let b = start(&sb, "b");

    let processed = broker.wait_for(&queues.processed, N, PATIENCE * 2);
    let mut ids: Vec<String> = processed
        .iter()
        .map(|p| p["conferenceId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let expected: Vec<String> = (0..N).map(|i| format!("load-{i:02}")).collect();
    assert_eq!(ids, expected, "one processed event per conference");
    let outputs = sb.outputs();
    assert_eq!(outputs.len(), N, "{outputs:?}");
    for p in &processed {
        let file = PathBuf::from(p["filename"].as_str().unwrap());
        assert!(outputs.contains(&file), "{file:?}");
        assert_eq!(p["files"][0]["sha256"].as_str().unwrap(), sha256_of(&file));
    }
    assert_settled(&broker, &queues.input);
    assert!(broker.get_all(&queues.failure).is_empty());
    // RabbitMQ spread the work: both instances processed conferences.
    for d in [&a, &b] {
        let log = d.log_text();
        assert!(log.contains("processed correctly"), "{log}");
    }
}

fn recproc(args: &[&str], config: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_recproc"));
    cmd.args(args).arg("--config").arg(config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run recproc")
}

#[test]
fn check_config_reports_the_broker_and_each_queue() {
    let (sb, queues, broker) = world("check", 2, "");
    broker.publish(&queues.input, b"{}");
    let out = recproc(&["check-config"], &sb.config, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("# broker: connected to amqp://guest:***@127.0.0.1:5672"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "\"{}\": 1 messages waiting, 0 consumers",
            queues.input
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("\"{}\": does not exist yet", queues.processed)),
        "{stdout}"
    );
    // It only looked: the missing queue was not created, and nothing was consumed.
    assert!(!rabbitmq_lists(&queues.processed));
    assert_eq!(broker.counts(&queues.input), (1, 0));
    assert!(
        !stderr.contains("ERROR"),
        "expected channel closes are not errors: {stderr}"
    );
}

fn rabbitmq_lists(queue: &str) -> bool {
    common::broker::rabbitmqctl(&["list_queues", "-q", "name"])
        .lines()
        .any(|l| l.trim() == queue)
}

#[test]
fn an_unreachable_broker_stops_check_config_and_says_where() {
    let sb = Sandbox::new("");
    let out = recproc(
        &["check-config"],
        &sb.config,
        &[("RECPROC_AMQP__URL", "amqp://guest:guest@127.0.0.1:1/%2f")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot connect to the broker at amqp://guest:***@127.0.0.1:1/%2f"),
        "{stderr}"
    );
    assert!(stderr.contains("is RabbitMQ running"), "{stderr}");
}

#[test]
fn a_queue_declared_with_other_settings_stops_the_daemon_with_a_clear_error() {
    // world() declared the input queue classic; the config asks for quorum.
    let (sb, _queues, _broker) = world("inequivalent", 1, "queue_type = \"quorum\"\n");
    let out = recproc(&["run"], &sb.config, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot declare the input queue (amqp.queue)"),
        "{stderr}"
    );
    assert!(stderr.contains("set amqp.queue_type"), "{stderr}");
}

#[test]
fn quorum_queues_dead_letter_a_message_that_keeps_failing_for_system_reasons() {
    let queues = Queues::unique("quorum");
    let sb = Sandbox::new(&format!(
        "{}queue_type = \"quorum\"\ndelivery_limit = 1\n",
        queues.toml(1)
    ));
    let g = sb.generate(&Scenario {
        duration: 1.0,
        participants: vec![Participant::new("alice", "red", 0.0, 1.0)],
        ..Scenario::default()
    });
    // The state directory cannot be created: a system failure, not the message's fault.
    block_state_dir(&sb);
    let broker = Broker::connect();
    let daemon = start(&sb, "daemon");
    broker.publish(&queues.input, &std::fs::read(&g.event).unwrap());

    let dead = broker.wait_for(&queues.dead, 1, PATIENCE);
    assert_eq!(dead.len(), 1, "{}", daemon.log_text());
    assert_eq!(
        dead[0]["conferenceId"], "fixture-conf",
        "the original event"
    );
    let log = daemon.log_text();
    assert!(log.contains("The system failed, not the message"), "{log}");
    assert!(
        broker.get_all(&queues.failure).is_empty(),
        "not blamed on the message"
    );
    assert!(broker.get_all(&queues.processed).is_empty());
    assert_settled(&broker, &queues.input);
}

fn sha256_of(path: &std::path::Path) -> String {
    recproc::pipeline::deliver::digest(path).unwrap().sha256
}

/// The job name of the event at `path` (its work directory and state files are named so).
fn job_of(path: &std::path::Path) -> String {
    let event = event_of(path);
    recproc::job::job_name(
        event["conferenceId"].as_str().unwrap(),
        event["recordingInfo"]["uuid"].as_str().unwrap(),
    )
}

/// Asserts `failure` is the one failure event of a conference recproc gave up on after
/// `attempts` system failures.
fn assert_gave_up(failure: &Value, attempts: u32, because: &str) {
    assert_eq!(failure["attempts"], attempts, "{failure}");
    assert_eq!(failure["blame"], "system", "{failure}");
    assert_eq!(failure["conferenceId"], "fixture-conf", "{failure}");
    assert_eq!(
        failure["event"]["conferenceId"], "fixture-conf",
        "the original event"
    );
    let error = failure["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "failed {attempts} times for system reasons (daemon.max_attempts is {attempts}), so recproc stopped retrying it; the last time: "
        )),
        "{error}"
    );
    assert!(error.contains(because), "{error}");
}

#[test]
fn a_conference_failing_for_system_reasons_gets_a_failure_event_after_max_attempts() {
    let (sb, queues, broker) = world("attempts", 1, "[daemon]\nmax_attempts = 2\n");
    let g = sb.generate(&short_call(1.0));
    let job = job_of(&g.event);
    // Where the job's work directory goes, a file: every attempt fails in recproc's own
    // directory, after the conference's lock is taken (so the state directory counts).
    let work = sb.work_dir().join(&job);
    std::fs::write(&work, b"in the way").unwrap();
    let daemon = start(&sb, "daemon");
    broker.publish(&queues.input, &std::fs::read(&g.event).unwrap());

    let failures = broker.wait_for(&queues.failure, 1, PATIENCE);
    assert_eq!(failures.len(), 1, "{}", daemon.log_text());
    assert_gave_up(
        &failures[0],
        2,
        &format!("{}", work.join("job.manifest").display()),
    );
    assert_eq!(failures[0]["stage"], "preprocess");
    assert_settled(&broker, &queues.input);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        broker.get_all(&queues.failure).is_empty(),
        "one failure event"
    );
    assert!(broker.get_all(&queues.processed).is_empty());
    let log = daemon.log_text();
    assert_eq!(
        log.matches("The system failed, not the message").count(),
        1,
        "retried once, then answered:\n{log}"
    );
    // Answered: the count is gone, so the same event sent again gets its attempts again.
    let state = sb.output_dir().join(recproc::ledger::STATE_DIR);
    assert!(!state.join(format!("{job}.attempts")).exists());
}

#[test]
fn attempts_the_state_directory_cannot_count_end_too() {
    let (sb, queues, broker) = world("uncounted", 1, "[daemon]\nmax_attempts = 3\n");
    let g = sb.generate(&short_call(1.0));
    // The state directory cannot be created: not even the lock can be taken, and the
    // attempts are counted by the instance alone.
    let state = block_state_dir(&sb);
    let daemon = start(&sb, "daemon");
    broker.publish(&queues.input, &std::fs::read(&g.event).unwrap());

    let failures = broker.wait_for(&queues.failure, 1, PATIENCE);
    assert_eq!(failures.len(), 1, "{}", daemon.log_text());
    assert_gave_up(
        &failures[0],
        3,
        &format!("cannot create {}", state.display()),
    );
    assert_settled(&broker, &queues.input);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        broker.get_all(&queues.failure).is_empty(),
        "one failure event"
    );
}

/// RabbitMQ's `max_message_size`, in bytes.
fn broker_max_message_size() -> usize {
    let said =
        common::broker::rabbitmqctl(&["eval", "application:get_env(rabbit, max_message_size)."]);
    said.trim()
        .trim_start_matches("{ok,")
        .trim_end_matches('}')
        .parse()
        .unwrap_or_else(|e| panic!("rabbitmqctl said {said:?}: {e}"))
}

#[test]
fn a_24_mb_poison_message_gets_one_failure_event_within_the_limit() {
    let (sb, queues, broker) = world("huge", 1, "");
    // 24 MiB of control bytes: 144 MiB as a JSON string, more than the broker takes.
    let poison = vec![1u8; 24 << 20];
    let daemon = start(&sb, "daemon");
    broker.publish(&queues.input, &poison);

    let failures = broker.wait_for(&queues.failure, 1, PATIENCE);
    assert_eq!(failures.len(), 1, "{}", daemon.log_text());
    let failure = &failures[0];
    // Published compactly from a JSON value, as serialising it again gives.
    let size = serde_json::to_vec(failure).unwrap().len();
    assert!(size <= 1_048_576, "the failure event takes {size} bytes");
    assert_eq!(failure["stage"], "validate");
    assert_eq!(failure["blame"], "input");
    let kept = &failure["event"];
    assert_eq!(kept["bytes"], poison.len());
    assert_eq!(kept["prefix"], "\u{1}".repeat(256));
    let path = PathBuf::from(kept["path"].as_str().unwrap());
    assert_eq!(
        path.parent(),
        Some(sb.output_dir().join(recproc::ledger::STATE_DIR).as_path())
    );
    assert_eq!(kept["sha256"].as_str().unwrap(), sha256_of(&path));
    assert_eq!(std::fs::read(&path).unwrap(), poison, "kept whole");

    assert_settled(&broker, &queues.input);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        broker.get_all(&queues.failure).is_empty(),
        "no redelivery loop"
    );
    assert!(sb.outputs().is_empty());
}

#[test]
fn a_result_the_broker_refuses_for_good_is_dead_lettered_not_looped() {
    let queues = Queues::unique("refused");
    // Failure events as large as they come, in a quorum queue that dead-letters.
    let sb = Sandbox::new(&format!(
        "{}queue_type = \"quorum\"\nmax_event_bytes = 536870912\n",
        queues.toml(1)
    ));
    let broker = Broker::connect();
    // Control bytes take 6 bytes each in the failure event: more than the broker takes.
    let poison = vec![1u8; broker_max_message_size() / 5];
    let daemon = start(&sb, "daemon");
    broker.publish(&queues.input, &poison);

    let dead = broker.wait_for(&queues.dead, 1, PATIENCE);
    assert_eq!(dead.len(), 1, "{}", daemon.log_text());
    assert!(
        dead[0] == Value::String(String::from_utf8_lossy(&poison).into_owned()),
        "the original message is dead-lettered"
    );
    let log = daemon.log_text();
    assert_eq!(
        log.matches("The broker refused the failed event for good")
            .count(),
        1,
        "{log}"
    );
    let kept = sb
        .output_dir()
        .join(recproc::ledger::STATE_DIR)
        .join(format!("{}.original", sha256_hex(&poison)));
    assert_eq!(std::fs::read(&kept).unwrap(), poison, "and kept whole");
    assert!(broker.get_all(&queues.failure).is_empty());
    assert_settled(&broker, &queues.input);

    // The daemon publishes on: the next poison message gets its failure event.
    broker.publish(&queues.input, b"{ nope");
    let failures = broker.wait_for(&queues.failure, 1, PATIENCE);
    assert_eq!(failures.len(), 1, "{}", daemon.log_text());
    assert_eq!(failures[0]["event"], "{ nope");
    assert_settled(&broker, &queues.input);
    assert!(
        broker.get_all(&queues.dead).is_empty(),
        "dead-lettered once"
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn sigterm_ends_a_retry_backoff_at_once_and_the_message_goes_back() {
    let (sb, queues, broker) = world("backoff", 1, "[daemon]\nshutdown_grace = 120\n");
    let g = sb.generate(&Scenario {
        duration: 1.0,
        participants: vec![Participant::new("alice", "red", 0.0, 1.0)],
        ..Scenario::default()
    });
    // The state directory cannot be created: a system failure, retried with a backoff of
    // 2 s doubling on every attempt.
    block_state_dir(&sb);
    let mut daemon = start(&sb, "daemon");
    broker.publish(&queues.input, &std::fs::read(&g.event).unwrap());
    // The fourth attempt failed: its message waits 16 s before going back.
    assert!(
        daemon.wait_for_log("retry_in_s=16", PATIENCE),
        "{}",
        daemon.log_text()
    );
    let signalled = std::time::Instant::now();
    daemon.terminate();
    let status = daemon
        .wait_exit(PATIENCE)
        .expect("the daemon stops after its job");
    let took = signalled.elapsed();
    let log = daemon.log_text();
    assert!(took < Duration::from_secs(8), "took {took:?}:\n{log}");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("Every job in flight finished"), "{log}");
    assert!(
        log.contains("the message waiting to be retried goes back to the queue now"),
        "{log}"
    );
    assert_eq!(
        broker.counts(&queues.input),
        (1, 0),
        "the message is back in the queue:\n{log}"
    );
    assert!(broker.get_all(&queues.failure).is_empty(), "not answered");
    assert!(broker.get_all(&queues.processed).is_empty());
}
