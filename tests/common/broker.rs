//! The real RabbitMQ on 127.0.0.1:5672 (guest/guest), driven synchronously from `#[test]`
//! functions: per-test queue names ([`Queues`]), a blocking AMQP client to publish and
//! drain them ([`Broker`]), `rabbitmqctl` to count messages and to close the daemon's
//! connection, and the `recproc run` daemon itself as a child process ([`Daemon`]).
//!
//! Tests of one binary run in parallel threads: every test takes its own [`Queues`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::Value;

/// The broker the tests use.
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// How long a single AMQP operation of the helpers may take before the test fails.
const OP_TIMEOUT: Duration = Duration::from_secs(15);

/// The four queues of one test, named `recproc-test-<tag>-<pid>-<hex>.{in,processed,failed,dead}`.
/// Dropping it deletes them (errors ignored).
#[derive(Debug)]
pub struct Queues {
    pub input: String,
    pub processed: String,
    pub failure: String,
    pub dead: String,
}

impl Queues {
    /// Fresh names, unique across the tests of this process and across processes.
    pub fn unique(tag: &str) -> Queues {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let random = nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n;
        let base = format!(
            "recproc-test-{tag}-{}-{:08x}{n:x}",
            std::process::id(),
            random as u32
        );
        Queues {
            input: format!("{base}.in"),
            processed: format!("{base}.processed"),
            failure: format!("{base}.failed"),
            dead: format!("{base}.dead"),
        }
    }

    /// An `[amqp]` section naming these queues. It ends inside `[amqp]`, so further keys
    /// (`queue_type`, `delivery_limit`, …) can be appended directly, before any other section.
    pub fn toml(&self, prefetch: u16) -> String {
        let q = |s: &str| serde_json::to_string(s).expect("a string serialises");
        format!(
            "[amqp]\n\
             url = {}\n\
             queue = {}\n\
             processed_queue = {}\n\
             failure_queue = {}\n\
             dead_letter_queue = {}\n\
             prefetch = {prefetch}\n\
             heartbeat = 10\n\
             confirm_timeout = 10\n",
            q(AMQP_URL),
            q(&self.input),
            q(&self.processed),
            q(&self.failure),
            q(&self.dead),
        )
    }

    fn all(&self) -> [&str; 4] {
        [&self.input, &self.processed, &self.failure, &self.dead]
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let names = self.all().map(str::to_owned);
        rt.block_on(async move {
            let work = async {
                let conn = Connection::connect(AMQP_URL, props("cleanup")).await?;
                // A failed delete (one that was never declared is fine: RabbitMQ answers
                // delete-ok) would close the channel; use one per queue to be safe.
                for name in names {
                    if let Ok(ch) = conn.create_channel().await {
                        let _ = ch
                            .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                            .await;
                        let _ = ch.close(200, "OK".into()).await;
                    }
                }
                conn.close(200, "OK".into()).await
            };
            let _ = tokio::time::timeout(Duration::from_secs(10), work).await;
        });
    }
}

fn props(what: &str) -> ConnectionProperties {
    ConnectionProperties::default()
        .with_connection_name(format!("recproc-test {what} pid {}", std::process::id()).into())
}

/// A blocking AMQP client: one connection and one channel in publisher-confirm mode.
pub struct Broker {
    rt: tokio::runtime::Runtime,
    conn: Connection,
    channel: Channel,
}

impl Broker {
    pub fn connect() -> Broker {
        // Multi-thread, so lapin's heartbeat task keeps running between calls.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let (conn, channel) = rt.block_on(async {
            let conn = Connection::connect(AMQP_URL, props("broker"))
                .await
                .unwrap_or_else(|e| panic!("connecting to RabbitMQ at {AMQP_URL}: {e}"));
            let channel = conn.create_channel().await.expect("create channel");
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .expect("confirm.select");
            (conn, channel)
        });
        Broker { rt, conn, channel }
    }

    fn block_on<T>(&self, what: &str, f: impl std::future::Future<Output = T>) -> T {
        self.rt
            .block_on(async { tokio::time::timeout(OP_TIMEOUT, f).await })
            .unwrap_or_else(|_| panic!("{what}: no answer from RabbitMQ in {OP_TIMEOUT:?}"))
    }

    /// Declares a durable classic queue without arguments (what the daemon declares for
    /// `queue_type = "classic"`).
    pub fn declare(&self, queue: &str) {
        self.block_on("queue.declare", async {
            self.channel
                .queue_declare(
                    queue.into(),
                    QueueDeclareOptions::durable(),
                    FieldTable::default(),
                )
                .await
                .unwrap_or_else(|e| panic!("declaring {queue}: {e}"))
        });
    }

    /// Publishes a persistent message to `queue` through the default exchange, as mandatory,
    /// and asserts the broker confirmed it and routed it (so the queue must exist).
    pub fn publish(&self, queue: &str, body: &[u8]) {
        self.block_on("basic.publish", async {
            let confirm = self
                .channel
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    body,
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await
                .unwrap_or_else(|e| panic!("publishing to {queue}: {e}"))
                .await
                .unwrap_or_else(|e| panic!("confirm of a publish to {queue}: {e}"));
            assert!(confirm.is_ack(), "the broker nacked a publish to {queue}");
            let returned = confirm.take_message();
            assert!(
                returned.is_none(),
                "a publish to {queue} was returned unroutable (no such queue?): {returned:?}"
            );
        });
    }

    /// Takes (and acks) every message now in `queue`; a body that is not JSON becomes a
    /// `Value::String` of its (lossy UTF-8) text.
    pub fn get_all(&self, queue: &str) -> Vec<Value> {
        self.block_on("basic.get", async {
            let mut out = Vec::new();
            loop {
                let got = self
                    .channel
                    .basic_get(queue.into(), BasicGetOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("basic.get from {queue}: {e}"));
                let Some(msg) = got else { break };
                let data = &msg.delivery.data;
                out.push(
                    serde_json::from_slice(data).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(data).into_owned())
                    }),
                );
                msg.delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("acking a message of {queue}: {e}"));
            }
            out
        })
    }

    /// Drains `queue` every 200 ms until at least `n` messages came or `timeout` passed;
    /// returns what came (never panics for too few).
    pub fn wait_for(&self, queue: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            got.extend(self.get_all(queue));
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// (ready, unacknowledged) messages of `queue`, as `rabbitmqctl list_queues` reports them.
    /// Panics if the queue does not exist.
    pub fn counts(&self, queue: &str) -> (u32, u32) {
        queue_counts(queue)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let conn = &self.conn;
        let _ = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), conn.close(200, "OK".into())).await
        });
    }
}

/// Runs `rabbitmqctl` with `args` and returns its stdout; panics on failure.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rabbitmqctl");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A JSON number, or a string holding one (older formatters), as u32.
fn json_u32(v: &Value) -> Option<u32> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .map(|n| n as u32)
}

/// (ready, unacknowledged) messages of `queue` per `rabbitmqctl list_queues`.
pub fn queue_counts(queue: &str) -> (u32, u32) {
    let text = rabbitmqctl(&[
        "list_queues",
        "-q",
        "name",
        "messages_ready",
        "messages_unacknowledged",
        "--formatter",
        "json",
    ]);
    let rows: Vec<Value> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("rabbitmqctl list_queues output is not JSON ({e}): {text}"));
    let row = rows
        .iter()
        .find(|r| r["name"].as_str() == Some(queue))
        .unwrap_or_else(|| {
            panic!("queue {queue:?} is not on the broker (rabbitmqctl list_queues)")
        });
    // A queue whose process is not up reports "" or null: count that as 0.
    (
        json_u32(&row["messages_ready"]).unwrap_or(0),
        json_u32(&row["messages_unacknowledged"]).unwrap_or(0),
    )
}

/// The `connection_name` client property of a `list_connections` row. `client_properties`
/// comes as a list of `[key, type, value]` triples; an object is accepted as well.
fn connection_name(row: &Value) -> Option<&str> {
    let props = &row["client_properties"];
    if let Some(list) = props.as_array() {
        list.iter().find_map(|p| {
            let p = p.as_array()?;
            (p.first()?.as_str()? == "connection_name").then(|| p.last()?.as_str())?
        })
    } else {
        props["connection_name"].as_str()
    }
}

/// Names (`"127.0.0.1:50952 -> 127.0.0.1:5672"`) of the connections whose `connection_name`
/// ends with `pid <pid>`.
fn connections_of(pid: u32) -> Vec<String> {
    let text = rabbitmqctl(&[
        "list_connections",
        "-q",
        "name",
        "client_properties",
        "--formatter",
        "json",
    ]);
    let rows: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("rabbitmqctl list_connections output is not JSON ({e}): {text}")
    });
    let suffix = format!(" pid {pid}");
    rows.iter()
        .filter(|r| connection_name(r).is_some_and(|n| n.ends_with(&suffix)))
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect()
}

/// The Erlang pid, as `close_connection` accepts it (`<rabbit@host.123.456.0>`), of the
/// connection named `name`. The JSON formatter prints pids as `#PID<12576.1112.0>`, which
/// `close_connection` rejects, so this reads the plain tab-separated output.
fn connection_pid(name: &str) -> Option<String> {
    let text = rabbitmqctl(&["list_connections", "-s", "pid", "name"]);
    text.lines().find_map(|line| {
        let (pid, n) = line.split_once('\t')?;
        (n.trim() == name).then(|| pid.trim().to_owned())
    })
}

/// Closes (from the broker side) the connection whose `connection_name` ends with
/// `pid <pid>`; whether there was one.
pub fn close_connection_of(pid: u32) -> bool {
    let mut closed = false;
    for name in connections_of(pid) {
        // `close_connection` takes the connection's Erlang pid, not its name.
        if let Some(erlang_pid) = connection_pid(&name) {
            rabbitmqctl(&["close_connection", &erlang_pid, "test closes it"]);
            closed = true;
        }
    }
    closed
}

/// Waits until a connection whose `connection_name` ends with `pid <pid>` exists.
pub fn wait_connection_of(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !connections_of(pid).is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `recproc run` as a child process, its stderr (the log) in a file. Dropping it
/// SIGKILLs and reaps it if still running.
pub struct Daemon {
    child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `recproc run --config <config>` with `RECPROC_LOG=info`, stderr to `log`.
    pub fn start(config: &Path, log: PathBuf) -> Daemon {
        let file = File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let child = Command::new(env!("CARGO_BIN_EXE_recproc"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RECPROC_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn recproc run");
        Daemon { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log_text().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) with a pid of our own child, which is not reaped yet while we hold
        // it (it is only reaped by `wait`/`try_wait` on `self.child`).
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(libc::SIGKILL);
        }
        let _ = self.child.wait();
    }

    /// SIGTERM (does not wait).
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Waits up to `timeout` for the daemon to exit; its status, or `None` if still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}
