//! RabbitMQ's `consumer_timeout` against `recproc run`: the broker closes the channel of a
//! delivery that stays unacked too long; recproc says which setting to raise, consumes again,
//! and the conference is still answered once. The setting is global to the broker, so this
//! test has a binary of its own (test binaries run one after another) and puts the broker's
//! value back when it ends.

mod common;

use std::fs::OpenOptions;
use std::time::Duration;

use common::broker::{rabbitmqctl, Broker, Daemon, Queues};
use common::*;
use recproc_fixture::{Participant, Scenario};

/// Sets the broker's consumer_timeout for as long as it lives.
struct BrokerTimeout {
    previous: String,
}

impl BrokerTimeout {
    fn set(ms: u64) -> BrokerTimeout {
        let previous = rabbitmqctl(&["eval", "application:get_env(rabbit, consumer_timeout)."]);
        rabbitmqctl(&[
            "eval",
            &format!("application:set_env(rabbit, consumer_timeout, {ms})."),
        ]);
        BrokerTimeout {
            previous: previous.trim().to_owned(),
        }
    }
}

impl Drop for BrokerTimeout {
    fn drop(&mut self) {
        // `{ok,1800000}` or `undefined`.
        let restore = match self
            .previous
            .strip_prefix("{ok,")
            .and_then(|v| v.strip_suffix('}'))
        {
            Some(value) => format!("application:set_env(rabbit, consumer_timeout, {value})."),
            None => "application:unset_env(rabbit, consumer_timeout).".to_owned(),
        };
        rabbitmqctl(&["eval", &restore]);
    }
}

#[test]
fn a_delivery_past_consumer_timeout_is_reported_and_still_answered_once() {
    let queues = Queues::unique("ctimeout");
    let sb = Sandbox::new(&queues.toml(1));
    let g = sb.generate(&Scenario {
        duration: 2.0,
        participants: vec![Participant::new("alice", "red", 0.0, 2.0)],
        ..Scenario::default()
    });
    let broker = Broker::connect();
    broker.declare(&queues.input);

    // Hold the conference's lock, as a long job of another delivery would: the job waits,
    // its message stays unacked.
    let ledger = recproc::ledger::Ledger::open(&sb.output_dir()).unwrap();
    let job = recproc::job::job_name("fixture-conf", "fixture-uuid");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(ledger.dir().join(format!("{job}.lock")))
        .unwrap();
    lock.try_lock().unwrap();

    let _timeout = BrokerTimeout::set(2_000);
    let daemon = Daemon::start(&sb.config, sb.path().join("daemon.log"));
    assert!(
        daemon.wait_for_log("Consuming conference-ended events", Duration::from_secs(60)),
        "{}",
        daemon.log_text()
    );
    broker.publish(&queues.input, &std::fs::read(&g.event).unwrap());
    assert!(
        daemon.wait_for_log("waiting for it to finish", Duration::from_secs(60)),
        "{}",
        daemon.log_text()
    );
    // RabbitMQ checks the timeout about once a minute.
    assert!(
        daemon.wait_for_log("consumer_timeout", Duration::from_secs(180)),
        "the timeout was not reported:\n{}",
        daemon.log_text()
    );
    let log = daemon.log_text();
    assert!(
        log.contains("ERROR") && log.contains("Raise consumer_timeout in rabbitmq.conf"),
        "{log}"
    );
    drop(_timeout);
    lock.unlock().unwrap();

    let processed = broker.wait_for(&queues.processed, 1, Duration::from_secs(120));
    assert!(!processed.is_empty(), "{}", daemon.log_text());
    let file = std::path::PathBuf::from(processed[0]["filename"].as_str().unwrap());
    assert_eq!(sb.outputs(), vec![file]);
    assert!(broker.get_all(&queues.failure).is_empty());
    // Consuming again: the input queue is settled, nothing is left unacked.
    let mut counts = (1, 1);
    for _ in 0..50 {
        counts = broker.counts(&queues.input);
        if counts == (0, 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(counts, (0, 0), "{}", daemon.log_text());
}
