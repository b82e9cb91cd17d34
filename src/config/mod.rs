//! Configuration: built-in defaults ← TOML file ← environment (`RECPROC_<SECTION>__<KEY>`),
//! as SPEC "Configuration" describes.
//!
//! Two layers, as ripgrep does with its arguments: `raw` holds what figment deserialises
//! (every section refuses unknown keys; its defaults are the built-in ones); `validate` turns
//! it into [`Config`], section by section. The rest of the program only ever sees a `Config`,
//! so it never meets an invalid value: directories exist and are canonical, sizes are in
//! range, the filename template is parsed, encryption is on exactly when there is a checked
//! key. This file holds `Config` and its sections, [`Config::load`], and the errors.

mod raw;
#[cfg(test)]
mod testing;
mod validate;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::{Figment, Metadata, Provider};
use serde::{Deserialize, Serialize};

use crate::names::Template;
use raw::{env_provider, env_var_for, Defaults, RawConfig};

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub amqp: AmqpConfig,
    pub paths: PathsConfig,
    pub recording: RecordingConfig,
    /// `[encryption]`: `Some` when encryption is on, with the checked key every delivered
    /// media file is encrypted to (a key that cannot be used stops recproc at startup: it
    /// never writes plaintext instead).
    pub encryption: Option<crate::recipient::PublicKey>,
    pub(crate) daemon: DaemonConfig,
    /// `log.format`.
    pub log_format: LogFormat,
    /// `[policy]`: the system's side of the recording policy.
    pub(crate) policy: crate::policy::PolicyConfig,
    /// `metrics.listen`: where `recproc run` serves `/metrics`, `/healthz` and `/readyz`;
    /// `None` when it is `""`.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `encryption.public_key` as configured, which `check-config` prints even while
    /// encryption is off.
    public_key_setting: PathBuf,
}

/// `[amqp]`. `Debug` hides the password of `url`.
#[derive(Clone)]
pub struct AmqpConfig {
    /// `amqp://` or `amqps://`, possibly with credentials: log [`AmqpConfig::url_redacted`].
    pub(crate) url: String,
    /// Conference-ended events are consumed from here.
    pub(crate) queue: String,
    pub(crate) processed_queue: String,
    pub(crate) failure_queue: String,
    /// Jobs in flight per instance, at least 1.
    pub(crate) prefetch: u16,
    /// Heartbeat interval proposed to the broker (0 turns heartbeats off).
    pub(crate) heartbeat: Duration,
    /// How long a publish may wait for the broker's confirm before it is retried.
    pub(crate) confirm_timeout: Duration,
    /// The type of the queues recproc declares.
    pub(crate) queue_type: QueueType,
    /// Quorum queues: deliveries of one message before the broker dead-letters it (a message
    /// that keeps killing its consumer).
    pub(crate) delivery_limit: u32,
    /// Quorum queues: where such messages go.
    pub(crate) dead_letter_queue: String,
    /// The most bytes a failure event may take; a larger original message is kept in the
    /// state directory instead of travelling in it.
    pub(crate) max_event_bytes: usize,
}

/// `amqp.queue_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum QueueType {
    Classic,
    Quorum,
}

/// `log.format`: how each line on stderr is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event: time, level, message, `key=value` fields.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `message` and every field.
    Json,
}

/// `[daemon]`: how `recproc run` behaves as a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DaemonConfig {
    /// On SIGTERM/SIGINT, how long jobs in flight may take to finish before they are
    /// cancelled (their messages go back to the queue).
    pub(crate) shutdown_grace: Duration,
    /// Attempts at one conference that may fail for system reasons before it gets a
    /// failure event instead of another retry.
    pub(crate) max_attempts: u32,
    /// How long the state directory keeps a settled conference's receipt, count and lock.
    pub(crate) state_retention: Duration,
}

impl AmqpConfig {
    /// The built-in defaults with these queue names, for unit tests elsewhere.
    #[cfg(test)]
    pub(crate) fn for_tests(queue: &str, processed: &str, failure: &str) -> AmqpConfig {
        AmqpConfig {
            url: "amqp://127.0.0.1".into(),
            queue: queue.into(),
            processed_queue: processed.into(),
            failure_queue: failure.into(),
            prefetch: 2,
            heartbeat: Duration::from_secs(30),
            confirm_timeout: Duration::from_secs(30),
            queue_type: QueueType::Classic,
            delivery_limit: 4,
            dead_letter_queue: "dead".into(),
            max_event_bytes: 1_048_576,
        }
    }

    /// `url` with its password replaced by `***`, for logs and `check-config`.
    pub fn url_redacted(&self) -> String {
        redact_url(&self.url)
    }
}

impl fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &self.url_redacted())
            .field("queue", &self.queue)
            .field("processed_queue", &self.processed_queue)
            .field("failure_queue", &self.failure_queue)
            .field("prefetch", &self.prefetch)
            .field("heartbeat", &self.heartbeat)
            .field("confirm_timeout", &self.confirm_timeout)
            .field("queue_type", &self.queue_type)
            .field("delivery_limit", &self.delivery_limit)
            .field("dead_letter_queue", &self.dead_letter_queue)
            .field("max_event_bytes", &self.max_event_bytes)
            .finish()
    }
}

/// `url` with the password of its user info replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    // The last '@' ends the user info even when the password holds an unencoded '/' or '@'.
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = rest[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..rest_start],
        &rest[..colon],
        &rest[at..]
    )
}

/// `[paths]`: existing directories, canonical (absolute, symlinks resolved); `work_dir` and
/// `output_dir` were writable when the configuration was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathsConfig {
    pub(crate) video_root: PathBuf,
    pub(crate) audio_root: PathBuf,
    pub(crate) work_dir: PathBuf,
    pub output_dir: PathBuf,
    /// Permissions of delivered files and directories.
    pub(crate) modes: crate::pipeline::deliver::Modes,
}

/// `[recording]`.
#[derive(Debug, Clone)]
pub struct RecordingConfig {
    pub(crate) split_recording_output: bool,
    /// At least 1; more than 9 means "always split".
    pub(crate) mix_limit: u32,
    pub(crate) clean_temporary_files: bool,
    pub filename_format: Template,
    pub(crate) quality: Quality,
    pub video_codec: OutputCodec,
    /// Even, 16..=7680.
    pub(crate) width: u32,
    /// Even, 16..=4320.
    pub(crate) height: u32,
    /// Output frame rate, 1..=[`MAX_FPS`].
    pub fps: u32,
    /// Seconds a stalled track's last frame is held before its tile turns black, 0 to
    /// [`MAX_FREEZE_LIMIT`].
    pub(crate) max_freeze: f64,
    /// The longest call recproc renders (1 s to [`MAX_DURATION_LIMIT`]); a longer one is
    /// refused as bad input, and every tool's time limit follows from it.
    pub(crate) max_duration: Duration,
}

/// The highest `recording.fps` accepted.
pub(crate) const MAX_FPS: u32 = 120;

/// The largest `recording.max_freeze` accepted, in seconds: a longer freeze is a stopped
/// camera shown as if it were live.
pub(crate) const MAX_FREEZE_LIMIT: f64 = 60.0;

/// The largest `recording.max_duration` accepted: a week.
pub(crate) const MAX_DURATION_LIMIT: Duration = Duration::from_secs(7 * 86_400);

/// Output quality (`recording.quality`). Public because `media::ffmpeg::Encoding` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    Low,
    Medium,
    High,
}

impl Quality {
    fn as_str(self) -> &'static str {
        match self {
            Quality::Low => "low",
            Quality::Medium => "medium",
            Quality::High => "high",
        }
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Video codec of the merged output (`recording.video_codec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputCodec {
    Vp8,
    Vp9,
    H264,
}

impl OutputCodec {
    fn as_str(self) -> &'static str {
        match self {
            OutputCodec::Vp8 => "vp8",
            OutputCodec::Vp9 => "vp9",
            OutputCodec::H264 => "h264",
        }
    }

    /// Container extension, without the dot: `webm` (VP8/VP9 + Opus) or `mp4` (H.264 + AAC).
    pub(crate) fn extension(self) -> &'static str {
        match self {
            OutputCodec::Vp8 | OutputCodec::Vp9 => "webm",
            OutputCodec::H264 => "mp4",
        }
    }
}

impl fmt::Display for OutputCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// --- errors -------------------------------------------------------------------------------

/// One problem with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `section.key` (`recording.width`), or the section alone for an unknown section.
    pub(crate) key: String,
    /// What is wrong and what is allowed.
    pub(crate) message: String,
    /// Where the value came from (`/etc/recproc.toml`, `environment variable RECPROC_…`,
    /// `built-in defaults`), when known.
    pub(crate) origin: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)?;
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        Ok(())
    }
}

/// Why the configuration was refused. The message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path:?} does not exist; create it or point --config / RECPROC_CONFIG at an existing file")]
    FileNotFound { path: PathBuf },
    #[error("configuration file {path:?} cannot be read: {source}")]
    FileUnreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("configuration file {path:?} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("invalid configuration: {}", join_problems(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The keys at fault, in the order they were found (empty for file errors).
    #[cfg(test)]
    pub(crate) fn keys(&self) -> Vec<&str> {
        match self {
            ConfigError::Invalid(problems) => problems.iter().map(|p| p.key.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

fn join_problems(problems: &[Problem]) -> String {
    let joined = problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > 1 {
        format!("{} problems: {joined}", problems.len())
    } else {
        joined
    }
}

// --- loading ------------------------------------------------------------------------------

impl Config {
    /// Defaults ← `file` (when given; it must exist) ← `RECPROC_<SECTION>__<KEY>`, validated.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::from_figment(layered(file)?)
    }

    /// `log.format` as the layers set it, before anything else is checked: the log must be
    /// in its format before the first line, also the line that says the configuration is
    /// wrong. When the file cannot be read, the environment's (`RECPROC_LOG__FORMAT`); text
    /// when neither says (what is wrong is [`Config::load`]'s to report).
    pub fn log_format(file: Option<&Path>) -> LogFormat {
        let without_file = || Figment::from(Defaults).merge(env_provider());
        layered(file)
            .unwrap_or_else(|_| without_file())
            .extract_inner("log.format")
            .unwrap_or_default()
    }

    /// Extracts and validates any figment (tests build theirs from strings). Keys the figment
    /// does not set take their built-in default.
    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let raw: RawConfig = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(figment_problems(e)))?;
        validate::validate(raw, &figment)
    }

    /// The effective configuration as TOML (for `check-config`): every key with its value, the
    /// AMQP password hidden.
    pub fn effective_toml(&self) -> String {
        toml::to_string(&RawConfig::effective(self))
            .expect("the effective configuration holds only strings, integers and booleans")
    }
}

/// Defaults ← `file` (when given; it must exist and be TOML) ← `RECPROC_<SECTION>__<KEY>`.
fn layered(file: Option<&Path>) -> Result<Figment, ConfigError> {
    let mut figment = Figment::from(Defaults);
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                ConfigError::FileNotFound {
                    path: path.to_owned(),
                }
            } else {
                ConfigError::FileUnreadable {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        if let Err(e) = Toml::string(&text).data() {
            return Err(ConfigError::Syntax {
                path: path.to_owned(),
                message: one_line_toml_error(&e.to_string()),
            });
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    Ok(figment.merge(env_provider()))
}

/// Turns every figment error into a [`Problem`] naming its key.
fn figment_problems(error: figment::Error) -> Vec<Problem> {
    use figment::error::Kind;
    error
        .into_iter()
        .map(|e| {
            let mut path = e.path.clone();
            let message = match &e.kind {
                Kind::UnknownField(field, expected) => {
                    let allowed = expected.join(", ");
                    // figment's path usually ends with the unknown field already.
                    if path.last() != Some(field) {
                        path.push(field.clone());
                    }
                    let what = if path.len() == 1 { "section" } else { "key" };
                    format!("unknown {what}; allowed: {allowed}")
                }
                Kind::UnknownVariant(value, expected) => {
                    format!("unknown value {value:?}; allowed: {}", expected.join(", "))
                }
                Kind::InvalidType(actual, expected) => {
                    format!("wrong type: expected {expected}, found {actual}")
                }
                Kind::InvalidValue(actual, expected) => {
                    format!("invalid value {actual}: expected {expected}")
                }
                other => other.to_string(),
            };
            let key = if path.is_empty() {
                "(top level)".to_owned()
            } else {
                path.join(".")
            };
            let origin = e.metadata.as_ref().map(|md| origin_of(md, &key));
            let mut message = one_line(&message);
            // The environment layer reads `123` or `true` as a number or a boolean.
            let from_env = origin
                .as_deref()
                .is_some_and(|o| o.starts_with("environment variable"));
            if from_env
                && matches!(&e.kind, Kind::InvalidType(_, expected) if expected.contains("string"))
            {
                message.push_str(&format!(
                    "; to pass a number or a boolean as text, quote it: {}='\"...\"'",
                    env_var_for(&key)
                ));
            }
            Problem {
                key,
                message,
                origin,
            }
        })
        .collect()
}

/// Where a value came from, for messages.
fn origin_of(metadata: &Metadata, key: &str) -> String {
    if let Some(path) = metadata.source.as_ref().and_then(|s| s.file_path()) {
        return path.display().to_string();
    }
    if metadata.name.contains("environment") {
        return format!("environment variable {}", env_var_for(key));
    }
    metadata.name.to_string()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// toml's errors are several lines with a source excerpt; keep the position and the words.
fn one_line_toml_error(text: &str) -> String {
    let is_excerpt = |line: &str| {
        let t = line.trim_start();
        t.is_empty()
            || t.starts_with('|')
            || t.split_once(" |")
                .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !is_excerpt(l))
        .map(str::trim)
        .collect();
    if kept.is_empty() {
        one_line(text)
    } else {
        kept.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{invalid, Dirs};
    use super::*;
    use std::fs;

    #[test]
    fn daemon_and_broker_settings_have_safe_defaults() {
        let d = Dirs::new();
        let c = d.load("").unwrap();
        assert_eq!(c.amqp.heartbeat, Duration::from_secs(30));
        assert_eq!(c.amqp.confirm_timeout, Duration::from_secs(30));
        assert_eq!(c.amqp.queue_type, QueueType::Classic);
        assert_eq!(c.amqp.delivery_limit, 20);
        assert_eq!(c.amqp.dead_letter_queue, "recording.dead");
        assert_eq!(c.daemon.shutdown_grace, Duration::from_secs(120));
        let toml = c.effective_toml();
        assert!(toml.contains("queue_type = \"classic\""), "{toml}");
        assert!(toml.contains("[daemon]\nshutdown_grace = 120\n"), "{toml}");

        let c = d
            .load("[amqp]\nqueue_type = \"quorum\"\ndelivery_limit = 3\nheartbeat = 0\n[daemon]\nshutdown_grace = 5\n")
            .unwrap();
        assert_eq!(c.amqp.queue_type, QueueType::Quorum);
        assert_eq!(c.amqp.delivery_limit, 3);
        assert_eq!(c.amqp.heartbeat, Duration::ZERO);
        assert_eq!(c.daemon.shutdown_grace, Duration::from_secs(5));
    }

    #[test]
    fn defaults_match_the_spec() {
        let d = Dirs::new();
        let c = d.load("").unwrap();
        assert_eq!(c.amqp.url, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(c.amqp.queue, "recording.process");
        assert_eq!(c.amqp.processed_queue, "recording.processed");
        assert_eq!(c.amqp.failure_queue, "recording.failed");
        assert_eq!(c.amqp.prefetch, 2);
        assert!(!c.recording.split_recording_output);
        assert_eq!(c.recording.mix_limit, 9);
        assert!(c.recording.clean_temporary_files);
        assert_eq!(
            c.recording.filename_format.as_str(),
            "recording-{{confbridgeid}}-{{uuid}}"
        );
        assert_eq!(c.recording.quality, Quality::Medium);
        assert_eq!(c.recording.video_codec, OutputCodec::Vp8);
        assert_eq!((c.recording.width, c.recording.height), (640, 480));
        assert!(c.encryption.is_none());
        assert_eq!(
            c.public_key_setting,
            PathBuf::from("/etc/recproc/recordings.asc")
        );
        let raw = RawConfig::default();
        assert_eq!(
            raw.paths.video_root,
            PathBuf::from("/var/spool/recording/raw")
        );
        assert_eq!(
            raw.paths.audio_root,
            PathBuf::from("/var/spool/asterisk/monitor")
        );
        assert_eq!(raw.paths.work_dir, PathBuf::from("/var/lib/recproc/work"));
        assert_eq!(
            raw.paths.output_dir,
            PathBuf::from("/var/lib/recproc/postprocessed")
        );
    }

    #[test]
    fn an_empty_figment_means_defaults() {
        // `from_figment` does not need the defaults layer; only the directories may fail.
        let e = Config::from_figment(Figment::new()).err();
        if let Some(e) = e {
            assert!(e.keys().iter().all(|k| k.starts_with("paths.")), "{e}");
        }
    }

    #[test]
    fn toml_overrides_defaults() {
        let d = Dirs::new();
        let c = d
            .load(
                r#"
                [amqp]
                url = "amqps://u:p@broker:5671/vh"
                queue = "in"
                prefetch = 5
                [recording]
                split_recording_output = true
                mix_limit = 12
                clean_temporary_files = false
                filename_format = "{{uuid}}_{{date}}"
                quality = "high"
                video_codec = "h264"
                width = 1280
                height = 720
                "#,
            )
            .unwrap();
        assert_eq!(c.amqp.url, "amqps://u:p@broker:5671/vh");
        assert_eq!(c.amqp.queue, "in");
        assert_eq!(c.amqp.processed_queue, "recording.processed");
        assert_eq!(c.amqp.prefetch, 5);
        assert!(c.recording.split_recording_output);
        assert_eq!(c.recording.mix_limit, 12);
        assert!(!c.recording.clean_temporary_files);
        assert_eq!(c.recording.filename_format.as_str(), "{{uuid}}_{{date}}");
        assert_eq!(c.recording.quality, Quality::High);
        assert_eq!(c.recording.video_codec, OutputCodec::H264);
        assert_eq!(c.recording.video_codec.extension(), "mp4");
        assert_eq!((c.recording.width, c.recording.height), (1280, 720));
        assert_eq!(c.paths.video_root, d.base.join("raw"));
        assert_eq!(c.paths.output_dir, d.base.join("out"));
    }

    #[test]
    fn env_overrides_toml_and_skips_config_and_log() {
        // The only test that touches the process environment (and the only caller of
        // `Config::load` and `env_provider` in this crate's unit tests).
        let d = Dirs::new();
        let file = d.base.join("recproc.toml");
        fs::write(
            &file,
            format!(
                "{}\n[recording]\nmix_limit = 3\nquality = \"low\"\n",
                d.paths_toml()
            ),
        )
        .unwrap();
        let vars = [
            ("RECPROC_RECORDING__MIX_LIMIT", "4"),
            ("RECPROC_AMQP__QUEUE", "from-env"),
            ("RECPROC_RECORDING__FILENAME_FORMAT", "{{uuid}}-x"),
            ("RECPROC_AMQP__PROCESSED_QUEUE", "\"123\""),
            // Octal as an operator writes it; figment reads it as the number 600.
            ("RECPROC_PATHS__OUTPUT_FILE_MODE", "0600"),
            ("RECPROC_CONFIG", "/nonexistent/recproc.toml"),
            ("RECPROC_LOG", "debug"),
        ];
        for (k, v) in vars {
            std::env::set_var(k, v);
        }
        let keys: Vec<String> = env_provider().iter().map(|(k, _)| k.to_string()).collect();
        let loaded = Config::load(Some(&file));
        std::env::set_var("RECPROC_RECORDING__WIDTH", "abc");
        let bad = Config::load(Some(&file));
        std::env::remove_var("RECPROC_RECORDING__WIDTH");
        std::env::set_var("RECPROC_BOGUS", "1");
        let unknown = Config::load(None);
        std::env::remove_var("RECPROC_BOGUS");
        std::env::set_var("RECPROC_AMQP__FAILURE_QUEUE", "123");
        let numeric = Config::load(Some(&file));
        std::env::remove_var("RECPROC_AMQP__FAILURE_QUEUE");
        for (k, _) in vars {
            std::env::remove_var(k);
        }

        assert!(keys.contains(&"recording.mix_limit".to_owned()), "{keys:?}");
        assert!(
            !keys.iter().any(|k| k == "config" || k == "log"),
            "{keys:?}"
        );
        let c = loaded.unwrap();
        assert_eq!(c.recording.mix_limit, 4);
        assert_eq!(c.recording.quality, Quality::Low);
        assert_eq!(c.amqp.queue, "from-env");
        assert_eq!(c.recording.filename_format.as_str(), "{{uuid}}-x");
        assert_eq!(c.amqp.processed_queue, "123");
        assert_eq!(c.paths.modes.file, 0o600);

        let (keys, msg) = invalid(numeric);
        assert_eq!(keys, ["amqp.failure_queue"]);
        assert!(
            msg.contains("quote it: RECPROC_AMQP__FAILURE_QUEUE="),
            "{msg}"
        );

        let (keys, msg) = invalid(bad);
        assert_eq!(keys, ["recording.width"]);
        assert!(msg.contains("RECPROC_RECORDING__WIDTH"), "{msg}");

        let (keys, msg) = invalid(unknown);
        assert!(keys.contains(&"bogus".to_owned()), "{msg}");
        assert!(msg.contains("RECPROC_BOGUS"), "{msg}");
    }

    #[test]
    fn unknown_key_is_named() {
        let d = Dirs::new();
        let (keys, msg) = invalid(d.load("[recording]\nmix_limt = 3\n"));
        assert_eq!(keys, ["recording.mix_limt"]);
        assert!(msg.contains("unknown key"), "{msg}");
        assert!(msg.contains("mix_limit"), "lists the allowed keys: {msg}");
    }

    #[test]
    fn unknown_section_is_named() {
        let d = Dirs::new();
        let (keys, msg) = invalid(d.load("[recordings]\nmix_limit = 3\n"));
        assert_eq!(keys, ["recordings"]);
        assert!(msg.contains("unknown section"), "{msg}");
    }

    #[test]
    fn bad_enum_value_is_named_with_the_allowed_ones() {
        let d = Dirs::new();
        let (keys, msg) = invalid(d.load("[recording]\nquality = \"ultra\"\n"));
        assert_eq!(keys, ["recording.quality"]);
        assert!(
            msg.contains("ultra") && msg.contains("low, medium, high"),
            "{msg}"
        );
        let (keys, msg) = invalid(d.load("[recording]\nvideo_codec = \"av1\"\n"));
        assert_eq!(keys, ["recording.video_codec"]);
        assert!(msg.contains("vp8, vp9, h264"), "{msg}");
    }

    #[test]
    fn wrong_type_is_named() {
        let d = Dirs::new();
        let (keys, msg) = invalid(d.load("[recording]\nwidth = \"wide\"\n"));
        assert_eq!(keys, ["recording.width"]);
        assert!(msg.contains("wrong type"), "{msg}");
        assert!(
            msg.contains("TOML source string"),
            "names the origin: {msg}"
        );
        let (keys, _) = invalid(d.load("[amqp]\nprefetch = 70000\n"));
        assert_eq!(keys, ["amqp.prefetch"]);
        let (keys, _) = invalid(d.load("[recording]\nmix_limit = -1\n"));
        assert_eq!(keys, ["recording.mix_limit"]);
        let (keys, _) = invalid(d.load("recording = 3\n"));
        assert_eq!(keys, ["recording"]);
    }

    #[test]
    fn missing_config_file_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("absent.toml");
        let e = Config::load(Some(&path)).unwrap_err();
        assert!(matches!(e, ConfigError::FileNotFound { .. }), "{e}");
        assert!(e.to_string().contains("absent.toml"), "{e}");
        let e = Config::load(Some(tmp.path())).unwrap_err();
        assert!(matches!(e, ConfigError::FileUnreadable { .. }), "{e}");
    }

    #[test]
    fn toml_syntax_error_names_the_file_on_one_line() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("broken.toml");
        fs::write(&path, "[recording]\nwidth = \n").unwrap();
        let e = Config::load(Some(&path)).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ConfigError::Syntax { .. }), "{msg}");
        assert!(msg.contains("broken.toml"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn toml_error_is_condensed() {
        let text = "TOML parse error at line 3, column 7\n  |\n3 | width = \n  |       ^\ninvalid string\nexpected `\"`, `'`\n";
        assert_eq!(
            one_line_toml_error(text),
            "TOML parse error at line 3, column 7: invalid string: expected `\"`, `'`"
        );
    }

    #[test]
    fn effective_toml_round_trips_and_hides_the_password() {
        let d = Dirs::new();
        let c = d
            .load("[amqp]\nurl = \"amqp://guest:s3cr\\\"et@host:5672/%2f\"\n[recording]\nquality = \"high\"\n")
            .unwrap();
        let text = c.effective_toml();
        assert!(
            text.contains("url = \"amqp://guest:***@host:5672/%2f\""),
            "{text}"
        );
        assert!(!text.contains("s3cr"), "{text}");
        assert!(!format!("{c:?}").contains("s3cr"));
        // The printed configuration is itself a valid configuration with the same values.
        let again = Config::from_figment(Figment::from(Toml::string(&text))).unwrap();
        assert_eq!(again.recording.quality, Quality::High);
        assert_eq!(again.paths, c.paths);
        assert_eq!(again.amqp.url, "amqp://guest:***@host:5672/%2f");
        assert_eq!(again.effective_toml(), text);
        for section in ["[amqp]", "[paths]", "[recording]", "[encryption]"] {
            assert!(text.contains(section), "{text}");
        }
    }

    #[test]
    fn url_redaction() {
        assert_eq!(redact_url("amqp://u:p@h/v"), "amqp://u:***@h/v");
        assert_eq!(redact_url("amqps://u:p/x@y@h:1/v"), "amqps://u:***@h:1/v");
        assert_eq!(redact_url("amqp://u@h/v"), "amqp://u@h/v");
        assert_eq!(redact_url("amqp://h:5672/v"), "amqp://h:5672/v");
        assert_eq!(redact_url("nonsense"), "nonsense");
    }

    #[test]
    fn effective_toml_escapes_strings() {
        let d = Dirs::new();
        let odd = "a\"b\\c\nd\u{1}";
        let c = d
            .load(&format!("[amqp]\nqueue = {}\n", toml::Value::from(odd)))
            .unwrap();
        let text = c.effective_toml();
        let again = Config::from_figment(Figment::from(Toml::string(&text))).unwrap();
        assert_eq!(again.amqp.queue, odd, "{text}");
    }

    #[test]
    fn enums_display_and_serde_lowercase() {
        assert_eq!(Quality::Low.to_string(), "low");
        assert_eq!(OutputCodec::H264.to_string(), "h264");
        assert_eq!(OutputCodec::Vp8.extension(), "webm");
        assert_eq!(OutputCodec::Vp9.extension(), "webm");
        assert_eq!(serde_json::to_string(&OutputCodec::Vp9).unwrap(), "\"vp9\"");
        assert_eq!(
            serde_json::from_str::<Quality>("\"high\"").unwrap(),
            Quality::High
        );
    }
}
