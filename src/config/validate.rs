//! From [`RawConfig`] to [`Config`]: one function per section checks its keys and returns the
//! section, or records a [`Problem`] for every key at fault. Every problem is reported at
//! once, each with where its value came from.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;

use super::raw::{RawAmqp, RawConfig, RawDaemon, RawEncryption, RawMode, RawPaths, RawRecording};
use super::{
    origin_of, redact_url, AmqpConfig, Config, ConfigError, DaemonConfig, PathsConfig, Problem,
    QueueType, RecordingConfig,
};
use crate::names::Template;
use crate::pipeline::deliver::Modes;
use crate::recipient::PublicKey;

/// Checks every section of `raw`; `figment` tells where each value came from.
pub(super) fn validate(raw: RawConfig, figment: &Figment) -> Result<Config, ConfigError> {
    let mut problems = Problems {
        figment,
        found: Vec::new(),
    };
    let amqp = amqp(raw.amqp, &mut problems);
    let paths = paths(&raw.paths, &mut problems);
    let recording = recording(raw.recording, &mut problems);
    let daemon = daemon(&raw.daemon, &mut problems);
    let encryption = encryption(&raw.encryption, &mut problems);
    let listen = metrics_listen(&raw.metrics.listen, &mut problems);
    let record = crate::event::RecordingType::parse(&raw.policy.record)
        .filter(|_| raw.policy.record.bytes().all(|b| b.is_ascii_lowercase()));
    if record.is_none() {
        problems.push(
            "policy.record",
            format!(
                "{:?} is not a recording type; allowed: \"all\", \"video\", \"audio\" or \"none\"",
                raw.policy.record
            ),
        );
    }
    match (amqp, paths, recording, daemon, encryption, listen) {
        (
            Some(amqp),
            Some(paths),
            Some(recording),
            Some(daemon),
            Some(encryption),
            Some(metrics_listen),
        ) if record.is_some() => Ok(Config {
            amqp,
            paths,
            recording,
            encryption,
            daemon,
            log_format: raw.log.format,
            metrics_listen,
            policy: crate::policy::PolicyConfig {
                record: record.unwrap_or_default(),
                record_incoming_pstn: raw.policy.record_incoming_pstn,
            },
            public_key_setting: raw.encryption.public_key,
        }),
        _ => Err(ConfigError::Invalid(problems.found)),
    }
}

/// The problems found so far, in the order they were found.
struct Problems<'a> {
    figment: &'a Figment,
    found: Vec<Problem>,
}

impl Problems<'_> {
    /// `key` is wrong: `message` says how and what is allowed.
    fn push(&mut self, key: &str, message: String) {
        let origin = self.figment.find_metadata(key).map(|md| origin_of(md, key));
        self.found.push(Problem {
            key: key.to_owned(),
            message,
            origin,
        });
    }

    /// Whether the value of `key` came from an environment variable.
    fn set_by_env(&self, key: &str) -> bool {
        self.figment
            .find_metadata(key)
            .is_some_and(|md| md.name.contains("environment"))
    }

    fn count(&self) -> usize {
        self.found.len()
    }
}

// --- [amqp] -------------------------------------------------------------------------------

fn amqp(a: RawAmqp, problems: &mut Problems) -> Option<AmqpConfig> {
    let before = problems.count();
    check_url(&a.url, problems);
    check_queue_names(&a, problems);
    if a.prefetch == 0 {
        problems.push(
            "amqp.prefetch",
            "is 0; set the number of jobs in flight per instance, at least 1".into(),
        );
    }
    if a.heartbeat > 3600 {
        problems.push(
            "amqp.heartbeat",
            format!("{} s is too long to notice a dead broker; allowed: 0 (off) to 3600 seconds, 30 is usual", a.heartbeat),
        );
    }
    if !(1..=3600).contains(&a.confirm_timeout) {
        problems.push(
            "amqp.confirm_timeout",
            format!(
                "{} is out of range; allowed: 1 to 3600 seconds",
                a.confirm_timeout
            ),
        );
    }
    if !(MIN_EVENT_BYTES..=MAX_EVENT_BYTES).contains(&a.max_event_bytes) {
        problems.push(
            "amqp.max_event_bytes",
            format!(
                "{} is out of range; allowed: {MIN_EVENT_BYTES} to {MAX_EVENT_BYTES} bytes (RabbitMQ's largest max_message_size), and at most the broker's max_message_size",
                a.max_event_bytes
            ),
        );
    }
    if a.queue_type == QueueType::Quorum {
        check_quorum(&a, problems);
    }
    if a.processed_queue == a.failure_queue && !a.failure_queue.is_empty() {
        problems.push(
            "amqp.failure_queue",
            format!("{:?} is also amqp.processed_queue; downstream could not tell results from failures, use another queue", a.failure_queue),
        );
    }
    (problems.count() == before).then(|| AmqpConfig {
        url: a.url,
        queue: a.queue,
        processed_queue: a.processed_queue,
        failure_queue: a.failure_queue,
        prefetch: a.prefetch,
        heartbeat: Duration::from_secs(a.heartbeat),
        confirm_timeout: Duration::from_secs(a.confirm_timeout),
        queue_type: a.queue_type,
        delivery_limit: a.delivery_limit,
        dead_letter_queue: a.dead_letter_queue,
        max_event_bytes: a.max_event_bytes as usize,
    })
}

/// `amqp.max_event_bytes`: room for a failure event's own fields (paths, the error) at the
/// least, RabbitMQ's largest message size at the most.
const MIN_EVENT_BYTES: u64 = 65_536;
const MAX_EVENT_BYTES: u64 = 536_870_912;

fn check_url(url: &str, problems: &mut Problems) {
    let has_scheme = ["amqp://", "amqps://"]
        .iter()
        .any(|s| url.len() > s.len() && url[..s.len()].eq_ignore_ascii_case(s));
    if !has_scheme {
        problems.push(
            "amqp.url",
            format!(
                "{:?} is not an AMQP URL; expected amqp://user:password@host:port/vhost or amqps://…",
                redact_url(url)
            ),
        );
    }
}

/// Each queue is named, within the AMQP limit, and recproc never consumes its own output.
fn check_queue_names(a: &RawAmqp, problems: &mut Problems) {
    for (key, name) in [
        ("amqp.queue", &a.queue),
        ("amqp.processed_queue", &a.processed_queue),
        ("amqp.failure_queue", &a.failure_queue),
    ] {
        if name.trim().is_empty() {
            problems.push(key, "is empty; set a queue name".into());
        } else if name.len() > 255 {
            problems.push(key, "is longer than 255 bytes, the AMQP limit".into());
        }
    }
    for (key, name) in [
        ("amqp.processed_queue", &a.processed_queue),
        ("amqp.failure_queue", &a.failure_queue),
    ] {
        if name == &a.queue && !name.is_empty() {
            problems.push(
                key,
                format!(
                    "{name:?} is also amqp.queue; recproc would consume its own output, use another queue"
                ),
            );
        }
    }
}

/// Quorum queues dead-letter a message after `delivery_limit` deliveries, to a queue of its own.
fn check_quorum(a: &RawAmqp, problems: &mut Problems) {
    if a.delivery_limit == 0 {
        problems.push(
            "amqp.delivery_limit",
            "is 0; set how many deliveries a message gets before the broker dead-letters it, at least 1".into(),
        );
    }
    let others = [&a.queue, &a.processed_queue, &a.failure_queue];
    if a.dead_letter_queue.trim().is_empty() {
        problems.push(
            "amqp.dead_letter_queue",
            "is empty; quorum queues need a queue for the messages that exceed amqp.delivery_limit"
                .into(),
        );
    } else if a.dead_letter_queue.len() > 255 {
        problems.push(
            "amqp.dead_letter_queue",
            "is longer than 255 bytes, the AMQP limit".into(),
        );
    } else if others.contains(&&a.dead_letter_queue) {
        problems.push(
            "amqp.dead_letter_queue",
            format!(
                "{:?} is also one of recproc's other queues; use a queue of its own",
                a.dead_letter_queue
            ),
        );
    }
}

// --- [paths] ------------------------------------------------------------------------------

fn paths(p: &RawPaths, problems: &mut Problems) -> Option<PathsConfig> {
    let mut dir = |key: &str, path: &Path, writable: bool| {
        check_dir(path, writable)
            .map_err(|message| problems.push(key, message))
            .ok()
    };
    let video_root = dir("paths.video_root", &p.video_root, false);
    let audio_root = dir("paths.audio_root", &p.audio_root, false);
    let work_dir = dir("paths.work_dir", &p.work_dir, true);
    let output_dir = dir("paths.output_dir", &p.output_dir, true);
    let mut mode = |key: &str, raw: &RawMode, owner: u32| {
        let from_env = problems.set_by_env(key);
        parse_mode(raw, owner, from_env)
            .map_err(|message| problems.push(key, message))
            .ok()
    };
    let file_mode = mode("paths.output_file_mode", &p.output_file_mode, 0o600);
    let dir_mode = mode("paths.output_dir_mode", &p.output_dir_mode, 0o700);
    Some(PathsConfig {
        video_root: video_root?,
        audio_root: audio_root?,
        work_dir: work_dir?,
        output_dir: output_dir?,
        modes: Modes {
            file: file_mode?,
            dir: dir_mode?,
        },
    })
}

/// The canonical form of an existing directory (writable when asked), or what is wrong.
fn check_dir(path: &Path, writable: bool) -> Result<PathBuf, String> {
    if path.as_os_str().is_empty() {
        return Err("is empty; set it to an existing directory".into());
    }
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!(
                "directory {path:?} does not exist; create it (mkdir -p {path:?}) or point the key at an existing directory"
            ))
        }
        Err(e) => return Err(format!("cannot access {path:?}: {e}")),
    };
    if !metadata.is_dir() {
        return Err(format!(
            "{path:?} is not a directory; point the key at a directory"
        ));
    }
    let canonical =
        std::fs::canonicalize(path).map_err(|e| format!("cannot resolve {path:?}: {e}"))?;
    if writable {
        let probe = tempfile::Builder::new()
            .prefix(".recproc-write-check-")
            .tempfile_in(&canonical)
            .map_err(|e| {
                format!("directory {canonical:?} is not writable by this user ({e}); recproc writes its files there")
            })?;
        probe.close().map_err(|e| {
            format!("cannot remove a file from {canonical:?} ({e}); recproc needs to")
        })?;
    }
    Ok(canonical)
}

/// The mode, or what is wrong with it. `owner` is the owner's bits the mode must keep.
///
/// `from_env`: the value was text (`RECPROC_PATHS__OUTPUT_FILE_MODE=0640`) that figment
/// turned into the number 640: its digits are octal.
fn parse_mode(raw: &RawMode, owner: u32, from_env: bool) -> Result<u32, String> {
    let mode = match raw {
        RawMode::Number(n) if from_env => u32::from_str_radix(&n.to_string(), 8)
            .map_err(|_| format!("{n} is not an octal file mode; write it like 0640"))?,
        RawMode::Number(n) => u32::try_from(*n).map_err(|_| format!("{n} is not a file mode"))?,
        RawMode::Text(t) => {
            let digits = t.trim().trim_start_matches("0o");
            u32::from_str_radix(digits, 8).map_err(|_| {
                format!("{t:?} is not an octal file mode; write it like \"0640\" or 0o640")
            })?
        }
    };
    if mode > 0o777 {
        return Err(format!(
            "{mode:#o} is not a permission mode (at most 0o777; no setuid, setgid or sticky bits){}",
            match raw {
                RawMode::Number(_) if !from_env => {
                    "; a TOML number is decimal unless written 0o640"
                }
                _ => "",
            }
        ));
    }
    if mode & owner != owner {
        return Err(format!(
            "{mode:#o} leaves recproc's own user without {owner:#o}; it must keep at least that"
        ));
    }
    Ok(mode)
}

// --- [recording] --------------------------------------------------------------------------

fn recording(r: RawRecording, problems: &mut Problems) -> Option<RecordingConfig> {
    let before = problems.count();
    if r.mix_limit == 0 {
        problems.push(
            "recording.mix_limit",
            "is 0; set the most tiles of a merged video, at least 1 (more than 9 means always split)"
                .into(),
        );
    }
    for (key, value, max) in [
        ("recording.width", r.width, 7680),
        ("recording.height", r.height, 4320),
    ] {
        if !(16..=max).contains(&value) {
            problems.push(
                key,
                format!("{value} is out of range; allowed: 16 to {max}"),
            );
        } else if value % 2 != 0 {
            problems.push(
                key,
                format!(
                    "{value} is odd; video encoders need an even size, use {}",
                    value - 1
                ),
            );
        }
    }
    if !(1..=super::MAX_FPS).contains(&r.fps) {
        problems.push(
            "recording.fps",
            format!(
                "{} is out of range; allowed: 1 to {} frames per second",
                r.fps,
                super::MAX_FPS
            ),
        );
    }
    if !(0.0..=super::MAX_FREEZE_LIMIT).contains(&r.max_freeze) {
        problems.push(
            "recording.max_freeze",
            format!(
                "{} is out of range; allowed: 0 to {} seconds",
                r.max_freeze,
                super::MAX_FREEZE_LIMIT
            ),
        );
    }
    let limit = super::MAX_DURATION_LIMIT.as_secs();
    if !(1..=limit).contains(&r.max_duration) {
        problems.push(
            "recording.max_duration",
            format!(
                "{} is out of range; allowed: 1 to {limit} seconds (a week)",
                r.max_duration
            ),
        );
    }
    let filename_format = Template::parse(&r.filename_format)
        .map_err(|e| problems.push("recording.filename_format", e.to_string()))
        .ok();
    if problems.count() > before {
        return None;
    }
    Some(RecordingConfig {
        split_recording_output: r.split_recording_output,
        mix_limit: r.mix_limit,
        clean_temporary_files: r.clean_temporary_files,
        filename_format: filename_format?,
        quality: r.quality,
        video_codec: r.video_codec,
        width: r.width,
        height: r.height,
        fps: r.fps,
        max_freeze: r.max_freeze,
        max_duration: Duration::from_secs(r.max_duration),
    })
}

// --- [daemon] -----------------------------------------------------------------------------

/// `metrics.listen`: an IP address and a port, or `""` (off).
fn metrics_listen(listen: &str, problems: &mut Problems) -> Option<Option<std::net::SocketAddr>> {
    if listen.is_empty() {
        return Some(None);
    }
    match listen.parse() {
        Ok(addr) => Some(Some(addr)),
        Err(_) => {
            problems.push(
                "metrics.listen",
                format!(
                    "{listen:?} is not an address to listen on; expected an IP address and a port (\"0.0.0.0:9464\", \"127.0.0.1:9464\", \"[::]:9464\") or \"\" to serve nothing"
                ),
            );
            None
        }
    }
}

fn daemon(d: &RawDaemon, problems: &mut Problems) -> Option<DaemonConfig> {
    let before = problems.count();
    if d.shutdown_grace > 86_400 {
        problems.push(
            "daemon.shutdown_grace",
            format!(
                "{} is out of range; allowed: 0 to 86400 seconds",
                d.shutdown_grace
            ),
        );
    }
    if !(1..=10_000).contains(&d.max_attempts) {
        problems.push(
            "daemon.max_attempts",
            format!(
                "{} is out of range; allowed: 1 to 10000 attempts",
                d.max_attempts
            ),
        );
    }
    if !(1..=3650).contains(&d.state_retention_days) {
        problems.push(
            "daemon.state_retention_days",
            format!(
                "{} is out of range; allowed: 1 to 3650 days",
                d.state_retention_days
            ),
        );
    }
    (problems.count() == before).then(|| DaemonConfig {
        shutdown_grace: Duration::from_secs(d.shutdown_grace),
        max_attempts: d.max_attempts,
        state_retention: Duration::from_secs(d.state_retention_days * 86_400),
    })
}

// --- [encryption] -------------------------------------------------------------------------

/// `Some(None)`: encryption is off (the key is not even looked at); `Some(Some(key))`: on,
/// with the checked key; `None`: on, but the key cannot be used. A key that cannot be used
/// stops recproc: it never writes plaintext instead.
fn encryption(e: &RawEncryption, problems: &mut Problems) -> Option<Option<PublicKey>> {
    if !e.enabled {
        return Some(None);
    }
    match PublicKey::load(&e.public_key) {
        Ok(key) => Some(Some(key)),
        Err(err) => {
            problems.push(
                "encryption.public_key",
                format!("{err}; recproc never falls back to writing plaintext"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::raw::Defaults;
    use super::super::testing::{invalid, toml_path, Dirs};
    use super::super::Config;
    use super::*;
    use figment::providers::{Format, Toml};
    use std::fs;

    #[test]
    fn output_modes_default_to_0640_and_0750_and_are_checked() {
        let d = Dirs::new();
        let c = d.load("").unwrap();
        assert_eq!((c.paths.modes.file, c.paths.modes.dir), (0o640, 0o750));
        assert!(c.effective_toml().contains("output_file_mode = \"0640\""));
        let c = d
            .load("[paths]\noutput_file_mode = 0o600\noutput_dir_mode = \"0o700\"\n")
            .unwrap();
        assert_eq!((c.paths.modes.file, c.paths.modes.dir), (0o600, 0o700));
        let (keys, msg) =
            invalid(d.load("[paths]\noutput_file_mode = 640\noutput_dir_mode = \"0640\"\n"));
        assert_eq!(
            keys,
            ["paths.output_file_mode", "paths.output_dir_mode"],
            "{msg}"
        );
        assert!(msg.contains("decimal unless written 0o640"), "{msg}");
        assert!(msg.contains("without 0o700"), "{msg}");
        let (keys, _) = invalid(d.load("[paths]\noutput_file_mode = \"rw-r-----\"\n"));
        assert_eq!(keys, ["paths.output_file_mode"]);
    }

    #[test]
    fn bad_daemon_and_broker_settings_are_named() {
        let d = Dirs::new();
        let (keys, msg) = invalid(d.load(
            "[amqp]\nqueue_type = \"quorum\"\ndelivery_limit = 0\ndead_letter_queue = \"recording.process\"\nconfirm_timeout = 0\nheartbeat = 7200\nfailure_queue = \"recording.processed\"\n[daemon]\nshutdown_grace = 100000\n",
        ));
        assert_eq!(
            keys,
            [
                "amqp.heartbeat",
                "amqp.confirm_timeout",
                "amqp.delivery_limit",
                "amqp.dead_letter_queue",
                "amqp.failure_queue",
                "daemon.shutdown_grace"
            ],
            "{msg}"
        );
        assert!(msg.contains("use a queue of its own"), "{msg}");
        let (keys, msg) = invalid(d.load("[amqp]\nqueue_type = \"stream\"\n"));
        assert_eq!(keys, ["amqp.queue_type"], "{msg}");
        assert!(msg.contains("classic, quorum"), "{msg}");
        let (keys, _) = invalid(d.load("[daemon]\ngrace = 1\n"));
        assert_eq!(keys, ["daemon.grace"]);
    }

    #[test]
    fn the_metrics_address_and_the_log_format_are_checked() {
        let d = Dirs::new();
        let c = d.load("").unwrap();
        assert_eq!(c.metrics_listen, Some("0.0.0.0:9464".parse().unwrap()));
        assert_eq!(c.log_format, crate::config::LogFormat::Text);
        let c = d
            .load("[metrics]\nlisten = \"[::1]:9100\"\n[log]\nformat = \"json\"\n")
            .unwrap();
        assert_eq!(c.metrics_listen, Some("[::1]:9100".parse().unwrap()));
        assert_eq!(c.log_format, crate::config::LogFormat::Json);
        assert!(c.effective_toml().contains("listen = \"[::1]:9100\""));
        let c = d.load("[metrics]\nlisten = \"\"\n").unwrap();
        assert_eq!(c.metrics_listen, None);
        for bad in ["localhost:9464", "9464", "0.0.0.0"] {
            let (keys, msg) = invalid(d.load(&format!("[metrics]\nlisten = {bad:?}\n")));
            assert_eq!(keys, ["metrics.listen"], "{bad}");
            assert!(msg.contains("an IP address and a port"), "{msg}");
        }
        let (keys, _) = invalid(d.load("[log]\nformat = \"xml\"\n"));
        assert_eq!(keys, ["log.format"]);
        let c = d
            .load("[policy]\nrecord = \"audio\"\nrecord_incoming_pstn = true\n")
            .unwrap();
        assert_eq!(c.policy.record, crate::event::RecordingType::Audio);
        assert!(c.policy.record_incoming_pstn);
        assert!(c.effective_toml().contains("record = \"audio\""));
        let (keys, msg) = invalid(d.load("[policy]\nrecord = \"All\"\n"));
        assert_eq!(keys, ["policy.record"]);
        assert!(msg.contains("\"none\""), "{msg}");
    }

    #[test]
    fn retries_and_event_sizes_are_bounded() {
        let d = Dirs::new();
        let c = d.load("").unwrap();
        assert_eq!(c.daemon.max_attempts, 10);
        assert_eq!(c.amqp.max_event_bytes, 1_048_576);
        let c = d
            .load("[amqp]\nmax_event_bytes = 65536\n[daemon]\nmax_attempts = 1\n")
            .unwrap();
        assert_eq!((c.amqp.max_event_bytes, c.daemon.max_attempts), (65_536, 1));
        let (keys, msg) =
            invalid(d.load("[amqp]\nmax_event_bytes = 65535\n[daemon]\nmax_attempts = 0\n"));
        assert_eq!(
            keys,
            ["amqp.max_event_bytes", "daemon.max_attempts"],
            "{msg}"
        );
        assert!(msg.contains("allowed: 65536 to 536870912 bytes"), "{msg}");
        assert!(msg.contains("allowed: 1 to 10000 attempts"), "{msg}");
        let (keys, _) = invalid(d.load("[amqp]\nmax_event_bytes = 536870913\n"));
        assert_eq!(keys, ["amqp.max_event_bytes"]);
    }

    #[test]
    fn odd_or_out_of_range_sizes_are_refused() {
        let d = Dirs::new();
        let (keys, msg) = invalid(d.load("[recording]\nwidth = 641\n"));
        assert_eq!(keys, ["recording.width"]);
        assert!(msg.contains("641 is odd"), "{msg}");
        let (keys, msg) = invalid(d.load("[recording]\nheight = 4322\nwidth = 8\n"));
        assert_eq!(keys, ["recording.width", "recording.height"]);
        assert!(msg.contains("2 problems"), "{msg}");
        assert!(
            msg.contains("16 to 4320") && msg.contains("16 to 7680"),
            "{msg}"
        );
        assert!(d.load("[recording]\nwidth = 7680\nheight = 4320\n").is_ok());
        assert!(d.load("[recording]\nwidth = 16\nheight = 16\n").is_ok());
    }

    #[test]
    fn a_frame_rate_outside_1_to_120_is_refused() {
        let d = Dirs::new();
        for bad in [0, 121] {
            let (keys, msg) = invalid(d.load(&format!("[recording]\nfps = {bad}\n")));
            assert_eq!(keys, ["recording.fps"]);
            assert!(msg.contains("allowed: 1 to 120 frames per second"), "{msg}");
        }
        let (keys, _) = invalid(d.load("[recording]\nfps = 29.97\n"));
        assert_eq!(keys, ["recording.fps"]);
        for good in [1, 25, 30, 120] {
            let c = d.load(&format!("[recording]\nfps = {good}\n")).unwrap();
            assert_eq!(c.recording.fps, good);
        }
        assert_eq!(d.load("").unwrap().recording.fps, 30);
    }

    #[test]
    fn max_duration_is_a_positive_number_of_seconds_up_to_a_week() {
        let d = Dirs::new();
        let c = d.load("").unwrap();
        assert_eq!(c.recording.max_duration, Duration::from_secs(43_200));
        for bad in ["0", "604801"] {
            let (keys, msg) = invalid(d.load(&format!("[recording]\nmax_duration = {bad}\n")));
            assert_eq!(keys, ["recording.max_duration"]);
            assert!(msg.contains("1 to 604800 seconds"), "{msg}");
        }
        let (keys, _) = invalid(d.load("[recording]\nmax_duration = -5\n"));
        assert_eq!(keys, ["recording.max_duration"]);
        let c = d.load("[recording]\nmax_duration = 604800\n").unwrap();
        assert_eq!(c.recording.max_duration, Duration::from_secs(604_800));
        let c = d.load("[recording]\nmax_duration = 1\n").unwrap();
        assert_eq!(c.recording.max_duration, Duration::from_secs(1));
    }

    #[test]
    fn max_freeze_is_zero_to_a_minute_of_seconds() {
        let d = Dirs::new();
        assert_eq!(d.load("").unwrap().recording.max_freeze, 2.0);
        for bad in ["-0.5", "60.5", "nan", "inf"] {
            let (keys, msg) = invalid(d.load(&format!("[recording]\nmax_freeze = {bad}\n")));
            assert_eq!(keys, ["recording.max_freeze"], "{bad}");
            assert!(msg.contains("0 to 60 seconds"), "{msg}");
        }
        for good in [("0", 0.0), ("0.25", 0.25), ("60", 60.0)] {
            let c = d
                .load(&format!("[recording]\nmax_freeze = {}\n", good.0))
                .unwrap();
            assert_eq!(c.recording.max_freeze, good.1);
        }
    }

    #[test]
    fn mix_limit_and_prefetch_must_be_positive() {
        let d = Dirs::new();
        let (keys, _) = invalid(d.load("[recording]\nmix_limit = 0\n[amqp]\nprefetch = 0\n"));
        assert_eq!(keys, ["amqp.prefetch", "recording.mix_limit"]);
        assert_eq!(
            d.load("[recording]\nmix_limit = 1\n")
                .unwrap()
                .recording
                .mix_limit,
            1
        );
        assert_eq!(
            d.load("[recording]\nmix_limit = 40\n")
                .unwrap()
                .recording
                .mix_limit,
            40
        );
    }

    #[test]
    fn queues_and_url_are_checked() {
        let d = Dirs::new();
        let (keys, _) = invalid(d.load("[amqp]\nqueue = \"\"\nfailure_queue = \" \"\n"));
        assert_eq!(keys, ["amqp.queue", "amqp.failure_queue"]);
        let (keys, msg) = invalid(d.load("[amqp]\nurl = \"http://u:secret@host\"\n"));
        assert_eq!(keys, ["amqp.url"]);
        assert!(!msg.contains("secret"), "{msg}");
        assert!(msg.contains("amqps://"), "{msg}");
        let (keys, _) = invalid(d.load("[amqp]\nurl = \"amqp://\"\n"));
        assert_eq!(keys, ["amqp.url"]);
        let (keys, msg) = invalid(d.load("[amqp]\nprocessed_queue = \"recording.process\"\n"));
        assert_eq!(keys, ["amqp.processed_queue"]);
        assert!(msg.contains("its own output"), "{msg}");
        assert!(d.load("[amqp]\nurl = \"AMQPS://h\"\n").is_ok());
    }

    #[test]
    fn bad_filename_format_is_named() {
        let d = Dirs::new();
        let (keys, msg) = invalid(d.load("[recording]\nfilename_format = \"rec-{{room}}\"\n"));
        assert_eq!(keys, ["recording.filename_format"]);
        assert!(msg.contains("{{room}}"), "{msg}");
        let (keys, _) = invalid(d.load("[recording]\nfilename_format = \"out/{{uuid}}\"\n"));
        assert_eq!(keys, ["recording.filename_format"]);
    }

    #[test]
    fn missing_directory_is_named_with_its_path() {
        let d = Dirs::new();
        let missing = d.base.join("nope");
        let (keys, msg) =
            invalid(d.load(&format!("[paths]\nwork_dir = {}\n", toml_path(&missing))));
        assert_eq!(keys, ["paths.work_dir"]);
        assert!(msg.contains(&missing.display().to_string()), "{msg}");
        assert!(
            msg.contains("does not exist") && msg.contains("mkdir -p"),
            "{msg}"
        );
    }

    #[test]
    fn file_instead_of_directory_is_refused() {
        let d = Dirs::new();
        let file = d.base.join("file");
        fs::write(&file, "x").unwrap();
        let (keys, msg) = invalid(d.load(&format!("[paths]\nvideo_root = {}\n", toml_path(&file))));
        assert_eq!(keys, ["paths.video_root"]);
        assert!(msg.contains("not a directory"), "{msg}");
    }

    #[test]
    fn default_directories_are_reported_as_defaults() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("missing");
        let figment = Figment::from(Defaults).merge(Toml::string(&format!(
            "[paths]\nvideo_root = {}",
            toml_path(&missing)
        )));
        let e = Config::from_figment(figment).unwrap_err();
        let ConfigError::Invalid(problems) = &e else {
            panic!("{e}")
        };
        let video = problems
            .iter()
            .find(|p| p.key == "paths.video_root")
            .unwrap();
        assert_eq!(video.origin.as_deref(), Some("TOML source string"));
        if !Path::new("/var/spool/asterisk/monitor").exists() {
            let audio = problems
                .iter()
                .find(|p| p.key == "paths.audio_root")
                .unwrap();
            assert_eq!(audio.origin.as_deref(), Some("built-in defaults"));
        }
    }

    #[cfg(unix)]
    #[test]
    fn directories_are_canonicalised() {
        let d = Dirs::new();
        let link = d.base.join("raw-link");
        std::os::unix::fs::symlink(d.base.join("raw"), &link).unwrap();
        let c = d
            .load(&format!(
                "[paths]\nvideo_root = {}\naudio_root = {}\n",
                toml_path(&link),
                toml_path(&d.base.join("monitor/../monitor/."))
            ))
            .unwrap();
        assert_eq!(c.paths.video_root, d.base.join("raw"));
        assert_eq!(c.paths.audio_root, d.base.join("monitor"));
    }

    #[cfg(unix)]
    #[test]
    fn unwritable_output_dir_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = Dirs::new();
        let out = d.base.join("out");
        fs::set_permissions(&out, fs::Permissions::from_mode(0o555)).unwrap();
        // Root writes anyway; then there is nothing to test.
        let writable = tempfile::tempfile_in(&out).is_ok();
        if !writable {
            let (keys, msg) = invalid(d.load(""));
            assert_eq!(keys, ["paths.output_dir"]);
            assert!(msg.contains("not writable"), "{msg}");
        }
        fs::set_permissions(&out, fs::Permissions::from_mode(0o755)).unwrap();
        // The write check leaves nothing behind.
        d.load("").unwrap();
        assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
    }

    #[test]
    fn encryption_without_a_usable_key_is_refused() {
        let d = Dirs::new();
        let (keys, msg) = invalid(
            d.load("[encryption]\nenabled = true\npublic_key = \"/nonexistent/recordings.asc\"\n"),
        );
        assert_eq!(keys, ["encryption.public_key"]);
        assert!(msg.contains("/nonexistent/recordings.asc"), "{msg}");
        assert!(msg.contains("does not exist"), "{msg}");
        assert!(
            msg.contains("never falls back to writing plaintext"),
            "{msg}"
        );
        // Disabled: the key is not even looked at.
        let c = d.load("[encryption]\nenabled = false\npublic_key = \"/nonexistent\"\n");
        assert!(c.unwrap().encryption.is_none());
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let d = Dirs::new();
        let (keys, msg) = invalid(d.load(
            "[amqp]\nprefetch = 0\n[recording]\nwidth = 3\nfilename_format = \"\"\n[encryption]\nenabled = true\npublic_key = \"/nonexistent.asc\"\n",
        ));
        assert_eq!(
            keys,
            [
                "amqp.prefetch",
                "recording.width",
                "recording.filename_format",
                "encryption.public_key"
            ]
        );
        assert!(
            msg.starts_with("invalid configuration: 4 problems: "),
            "{msg}"
        );
    }
}
