//! `recproc run` against the real RabbitMQ on 127.0.0.1: events in, recordings and result
//! events out, acks only after confirms, and nothing lost when messages are bad, the daemon
//! is killed, the broker connection drops, or it is told to stop. Every test has its own
//! queues and sandbox.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::broker::{close_connection_of, wait_connection_of, Broker, Daemon, Queues};
use common::*;
use recproc::fixture::{Participant, Scenario};
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

fn merged_outputs(sb: &Sandbox) -> Vec<PathBuf> {
    sb.outputs()
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
    assert_eq!(merged_outputs(&sb), vec![file.clone()]);
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

fn sha256_of(path: &std::path::Path) -> String {
    recproc::pipeline::deliver::digest(path).unwrap().sha256
}

#[allow(dead_code)]
fn unused(_: &[&str]) {
    let _ = (close_connection_of, wait_connection_of, renamed);
}
