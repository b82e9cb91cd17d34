//! Configuration: built-in defaults ← TOML file ← environment (`RECPROC_<SECTION>__<KEY>`),
//! as SPEC "Configuration" describes.
//!
//! Two layers, as ripgrep does with its arguments: [`RawConfig`] is what figment deserialises
//! (every section refuses unknown keys); [`Config`] is the validated, typed result. The rest of
//! the program only ever sees a `Config`, so it never meets an invalid value: directories exist
//! and are canonical, sizes are in range, the filename template is parsed.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::names::Template;

/// Prefix of the environment variables that override the configuration.
pub const ENV_PREFIX: &str = "RECPROC_";

/// `RECPROC_*` variables that are not configuration keys (`RECPROC_CONFIG` names the file,
/// `RECPROC_LOG` the log filter), given without the prefix.
const NON_CONFIG_ENV: [&str; 2] = ["CONFIG", "LOG"];

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub amqp: AmqpConfig,
    pub paths: PathsConfig,
    pub recording: RecordingConfig,
    pub encryption: EncryptionConfig,
    pub daemon: DaemonConfig,
}

/// `[amqp]`. `Debug` hides the password of `url`.
#[derive(Clone)]
pub struct AmqpConfig {
    /// `amqp://` or `amqps://`, possibly with credentials: log [`AmqpConfig::url_redacted`].
    pub url: String,
    /// Conference-ended events are consumed from here.
    pub queue: String,
    pub processed_queue: String,
    pub failure_queue: String,
    /// Jobs in flight per instance, at least 1.
    pub prefetch: u16,
    /// Heartbeat interval proposed to the broker (0 turns heartbeats off).
    pub heartbeat: Duration,
    /// How long a publish may wait for the broker's confirm before it is retried.
    pub confirm_timeout: Duration,
    /// The type of the queues recproc declares.
    pub queue_type: QueueType,
    /// Quorum queues: deliveries of one message before the broker dead-letters it (a message
    /// that keeps killing its consumer).
    pub delivery_limit: u32,
    /// Quorum queues: where such messages go.
    pub dead_letter_queue: String,
}

/// `amqp.queue_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    Classic,
    Quorum,
}

impl QueueType {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        }
    }
}

/// `[daemon]`: how `recproc run` behaves as a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// On SIGTERM/SIGINT, how long jobs in flight may take to finish before they are
    /// cancelled (their messages go back to the queue).
    pub shutdown_grace: Duration,
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
            .finish()
    }
}

/// `[paths]`: existing directories, canonical (absolute, symlinks resolved); `work_dir` and
/// `output_dir` were writable when the configuration was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathsConfig {
    pub video_root: PathBuf,
    pub audio_root: PathBuf,
    pub work_dir: PathBuf,
    pub output_dir: PathBuf,
    /// Permissions of delivered files and directories.
    pub modes: crate::pipeline::deliver::Modes,
}

/// `[recording]`.
#[derive(Debug, Clone)]
pub struct RecordingConfig {
    pub split_recording_output: bool,
    /// At least 1; more than 9 means "always split".
    pub mix_limit: u32,
    pub clean_temporary_files: bool,
    pub filename_format: Template,
    pub quality: Quality,
    pub video_codec: OutputCodec,
    /// Even, 16..=7680.
    pub width: u32,
    /// Even, 16..=4320.
    pub height: u32,
}

/// Output quality (`recording.quality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    Low,
    Medium,
    High,
}

impl Quality {
    pub fn as_str(self) -> &'static str {
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
    pub fn as_str(self) -> &'static str {
        match self {
            OutputCodec::Vp8 => "vp8",
            OutputCodec::Vp9 => "vp9",
            OutputCodec::H264 => "h264",
        }
    }

    /// Container extension, without the dot: `webm` (VP8/VP9 + Opus) or `mp4` (H.264 + AAC).
    pub fn extension(self) -> &'static str {
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

/// `[encryption]`.
#[derive(Debug, Clone)]
pub struct EncryptionConfig {
    pub enabled: bool,
    pub public_key: PathBuf,
    /// The checked key, when `enabled` (loaded at startup: a key that cannot be used stops
    /// recproc, it never writes plaintext instead).
    pub key: Option<crate::recipient::PublicKey>,
}

// --- raw layer ----------------------------------------------------------------------------

/// The configuration as deserialised, before validation. Its `Default` is the built-in
/// defaults of SPEC "Configuration".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    amqp: RawAmqp,
    paths: RawPaths,
    recording: RawRecording,
    encryption: RawEncryption,
    daemon: RawDaemon,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawAmqp {
    url: String,
    queue: String,
    processed_queue: String,
    failure_queue: String,
    prefetch: u16,
    heartbeat: u64,
    confirm_timeout: u64,
    queue_type: QueueType,
    delivery_limit: u32,
    dead_letter_queue: String,
}

impl Default for RawAmqp {
    fn default() -> Self {
        RawAmqp {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            queue: "recording.process".into(),
            processed_queue: "recording.processed".into(),
            failure_queue: "recording.failed".into(),
            prefetch: 2,
            heartbeat: 30,
            confirm_timeout: 30,
            queue_type: QueueType::Classic,
            delivery_limit: 20,
            dead_letter_queue: "recording.dead".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPaths {
    video_root: PathBuf,
    audio_root: PathBuf,
    work_dir: PathBuf,
    output_dir: PathBuf,
    output_file_mode: RawMode,
    output_dir_mode: RawMode,
}

/// A file mode as TOML gives it: an integer (`0o640`) or a string of octal digits (`"0640"`,
/// which is also what an environment variable holds).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum RawMode {
    Number(i64),
    Text(String),
}

impl RawMode {
    /// The mode, or what is wrong with it. `owner` is the owner's bits the mode must keep.
    ///
    /// `from_env`: the value was text (`RECPROC_PATHS__OUTPUT_FILE_MODE=0640`) that figment
    /// turned into the number 640: its digits are octal.
    fn parse(&self, owner: u32, from_env: bool) -> Result<u32, String> {
        let mode = match self {
            RawMode::Number(n) if from_env => u32::from_str_radix(&n.to_string(), 8)
                .map_err(|_| format!("{n} is not an octal file mode; write it like 0640"))?,
            RawMode::Number(n) => {
                u32::try_from(*n).map_err(|_| format!("{n} is not a file mode"))?
            }
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
                match self {
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
}

impl Default for RawPaths {
    fn default() -> Self {
        RawPaths {
            video_root: "/var/spool/recording/raw".into(),
            audio_root: "/var/spool/asterisk/monitor".into(),
            work_dir: "/var/lib/recproc/work".into(),
            output_dir: "/var/lib/recproc/postprocessed".into(),
            output_file_mode: RawMode::Text("0640".into()),
            output_dir_mode: RawMode::Text("0750".into()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawRecording {
    split_recording_output: bool,
    mix_limit: u32,
    clean_temporary_files: bool,
    filename_format: String,
    quality: Quality,
    video_codec: OutputCodec,
    width: u32,
    height: u32,
}

impl Default for RawRecording {
    fn default() -> Self {
        RawRecording {
            split_recording_output: false,
            mix_limit: 9,
            clean_temporary_files: true,
            filename_format: "recording-{{confbridgeid}}-{{uuid}}".into(),
            quality: Quality::Medium,
            video_codec: OutputCodec::Vp8,
            width: 640,
            height: 480,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawEncryption {
    enabled: bool,
    public_key: PathBuf,
}

impl Default for RawEncryption {
    fn default() -> Self {
        RawEncryption {
            enabled: false,
            public_key: "/etc/recproc/recordings.asc".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawDaemon {
    shutdown_grace: u64,
}

impl Default for RawDaemon {
    fn default() -> Self {
        RawDaemon {
            shutdown_grace: 120,
        }
    }
}

/// The built-in defaults as a figment provider named so in error messages.
struct Defaults;

impl Provider for Defaults {
    fn metadata(&self) -> Metadata {
        Metadata::named("built-in defaults")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(RawConfig::default()).data()
    }
}

/// The environment layer: `RECPROC_RECORDING__MIX_LIMIT` → `recording.mix_limit`;
/// `RECPROC_CONFIG` and `RECPROC_LOG` are skipped.
fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX)
        .ignore(&NON_CONFIG_ENV)
        .split("__")
}

/// The variable that sets `key` (`recording.mix_limit` → `RECPROC_RECORDING__MIX_LIMIT`).
fn env_var_for(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

// --- errors -------------------------------------------------------------------------------

/// One problem with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `section.key` (`recording.width`), or the section alone for an unknown section.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
    /// Where the value came from (`/etc/recproc.toml`, `environment variable RECPROC_…`,
    /// `built-in defaults`), when known.
    pub origin: Option<String>,
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
    pub fn keys(&self) -> Vec<&str> {
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
        figment = figment.merge(env_provider());
        Config::from_figment(figment)
    }

    /// Extracts and validates any figment (tests build theirs from strings). Keys the figment
    /// does not set take their built-in default.
    pub fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let raw: RawConfig = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(figment_problems(e)))?;
        validate(raw, &figment)
    }

    /// The effective configuration as TOML (for `check-config`), the AMQP password hidden.
    pub fn effective_toml(&self) -> String {
        let mut out = String::new();
        let mut section = |name: &str, entries: &[(&str, String)]| {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("[{name}]\n"));
            for (key, value) in entries {
                out.push_str(&format!("{key} = {value}\n"));
            }
        };
        let a = &self.amqp;
        section(
            "amqp",
            &[
                ("url", toml_string(&a.url_redacted())),
                ("queue", toml_string(&a.queue)),
                ("processed_queue", toml_string(&a.processed_queue)),
                ("failure_queue", toml_string(&a.failure_queue)),
                ("prefetch", a.prefetch.to_string()),
                ("heartbeat", a.heartbeat.as_secs().to_string()),
                ("confirm_timeout", a.confirm_timeout.as_secs().to_string()),
                ("queue_type", toml_string(a.queue_type.as_str())),
                ("delivery_limit", a.delivery_limit.to_string()),
                ("dead_letter_queue", toml_string(&a.dead_letter_queue)),
            ],
        );
        let p = &self.paths;
        section(
            "paths",
            &[
                ("video_root", toml_path(&p.video_root)),
                ("audio_root", toml_path(&p.audio_root)),
                ("work_dir", toml_path(&p.work_dir)),
                ("output_dir", toml_path(&p.output_dir)),
                (
                    "output_file_mode",
                    toml_string(&format!("{:04o}", p.modes.file)),
                ),
                (
                    "output_dir_mode",
                    toml_string(&format!("{:04o}", p.modes.dir)),
                ),
            ],
        );
        let r = &self.recording;
        section(
            "recording",
            &[
                (
                    "split_recording_output",
                    r.split_recording_output.to_string(),
                ),
                ("mix_limit", r.mix_limit.to_string()),
                ("clean_temporary_files", r.clean_temporary_files.to_string()),
                ("filename_format", toml_string(r.filename_format.as_str())),
                ("quality", toml_string(r.quality.as_str())),
                ("video_codec", toml_string(r.video_codec.as_str())),
                ("width", r.width.to_string()),
                ("height", r.height.to_string()),
            ],
        );
        let e = &self.encryption;
        section(
            "encryption",
            &[
                ("enabled", e.enabled.to_string()),
                ("public_key", toml_path(&e.public_key)),
            ],
        );
        section(
            "daemon",
            &[(
                "shutdown_grace",
                self.daemon.shutdown_grace.as_secs().to_string(),
            )],
        );
        out
    }
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

// --- validation ---------------------------------------------------------------------------

fn validate(raw: RawConfig, figment: &Figment) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    let mut problem = |key: &str, message: String| {
        let origin = figment.find_metadata(key).map(|md| origin_of(md, key));
        problems.push(Problem {
            key: key.to_owned(),
            message,
            origin,
        });
    };

    // [amqp]
    let a = &raw.amqp;
    let has_scheme = ["amqp://", "amqps://"]
        .iter()
        .any(|s| a.url.len() > s.len() && a.url[..s.len()].eq_ignore_ascii_case(s));
    if !has_scheme {
        problem(
            "amqp.url",
            format!(
                "{:?} is not an AMQP URL; expected amqp://user:password@host:port/vhost or amqps://…",
                redact_url(&a.url)
            ),
        );
    }
    for (key, name) in [
        ("amqp.queue", &a.queue),
        ("amqp.processed_queue", &a.processed_queue),
        ("amqp.failure_queue", &a.failure_queue),
    ] {
        if name.trim().is_empty() {
            problem(key, "is empty; set a queue name".into());
        } else if name.len() > 255 {
            problem(key, "is longer than 255 bytes, the AMQP limit".into());
        }
    }
    for (key, name) in [
        ("amqp.processed_queue", &a.processed_queue),
        ("amqp.failure_queue", &a.failure_queue),
    ] {
        if name == &a.queue && !name.is_empty() {
            problem(
                key,
                format!(
                    "{name:?} is also amqp.queue; recproc would consume its own output, use another queue"
                ),
            );
        }
    }
    if a.prefetch == 0 {
        problem(
            "amqp.prefetch",
            "is 0; set the number of jobs in flight per instance, at least 1".into(),
        );
    }
    if a.heartbeat > 3600 {
        problem(
            "amqp.heartbeat",
            format!("{} s is too long to notice a dead broker; allowed: 0 (off) to 3600 seconds, 30 is usual", a.heartbeat),
        );
    }
    if !(1..=3600).contains(&a.confirm_timeout) {
        problem(
            "amqp.confirm_timeout",
            format!(
                "{} is out of range; allowed: 1 to 3600 seconds",
                a.confirm_timeout
            ),
        );
    }
    if a.queue_type == QueueType::Quorum {
        if a.delivery_limit == 0 {
            problem(
                "amqp.delivery_limit",
                "is 0; set how many deliveries a message gets before the broker dead-letters it, at least 1".into(),
            );
        }
        let others = [&a.queue, &a.processed_queue, &a.failure_queue];
        if a.dead_letter_queue.trim().is_empty() {
            problem(
                "amqp.dead_letter_queue",
                "is empty; quorum queues need a queue for the messages that exceed amqp.delivery_limit".into(),
            );
        } else if a.dead_letter_queue.len() > 255 {
            problem(
                "amqp.dead_letter_queue",
                "is longer than 255 bytes, the AMQP limit".into(),
            );
        } else if others.contains(&&a.dead_letter_queue) {
            problem(
                "amqp.dead_letter_queue",
                format!(
                    "{:?} is also one of recproc's other queues; use a queue of its own",
                    a.dead_letter_queue
                ),
            );
        }
    }
    if a.processed_queue == a.failure_queue && !a.failure_queue.is_empty() {
        problem(
            "amqp.failure_queue",
            format!("{:?} is also amqp.processed_queue; downstream could not tell results from failures, use another queue", a.failure_queue),
        );
    }

    // [paths]
    let mut dir = |key: &str, path: &Path, writable: bool| match check_dir(path, writable) {
        Ok(canonical) => Some(canonical),
        Err(message) => {
            problem(key, message);
            None
        }
    };
    let video_root = dir("paths.video_root", &raw.paths.video_root, false);
    let audio_root = dir("paths.audio_root", &raw.paths.audio_root, false);
    let work_dir = dir("paths.work_dir", &raw.paths.work_dir, true);
    let output_dir = dir("paths.output_dir", &raw.paths.output_dir, true);
    let from_env = |key: &str| {
        figment
            .find_metadata(key)
            .is_some_and(|md| md.name.contains("environment"))
    };
    let env_modes = (
        from_env("paths.output_file_mode"),
        from_env("paths.output_dir_mode"),
    );
    let mut mode = |key: &str, raw: &RawMode, owner: u32, env: bool| match raw.parse(owner, env) {
        Ok(m) => m,
        Err(message) => {
            problem(key, message);
            0
        }
    };
    let modes = crate::pipeline::deliver::Modes {
        file: mode(
            "paths.output_file_mode",
            &raw.paths.output_file_mode,
            0o600,
            env_modes.0,
        ),
        dir: mode(
            "paths.output_dir_mode",
            &raw.paths.output_dir_mode,
            0o700,
            env_modes.1,
        ),
    };

    // [recording]
    let r = &raw.recording;
    if r.mix_limit == 0 {
        problem(
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
            problem(
                key,
                format!("{value} is out of range; allowed: 16 to {max}"),
            );
        } else if value % 2 != 0 {
            problem(
                key,
                format!(
                    "{value} is odd; video encoders need an even size, use {}",
                    value - 1
                ),
            );
        }
    }
    let filename_format = match Template::parse(&r.filename_format) {
        Ok(t) => Some(t),
        Err(e) => {
            problem("recording.filename_format", e.to_string());
            None
        }
    };

    // [daemon]
    if raw.daemon.shutdown_grace > 86_400 {
        problem(
            "daemon.shutdown_grace",
            format!(
                "{} is out of range; allowed: 0 to 86400 seconds",
                raw.daemon.shutdown_grace
            ),
        );
    }

    // [encryption]
    let key = if raw.encryption.enabled {
        match crate::recipient::PublicKey::load(&raw.encryption.public_key) {
            Ok(key) => Some(key),
            Err(e) => {
                problem(
                    "encryption.public_key",
                    format!("{e}; recproc never falls back to writing plaintext"),
                );
                None
            }
        }
    } else {
        None
    };

    let (
        true,
        Some(video_root),
        Some(audio_root),
        Some(work_dir),
        Some(output_dir),
        Some(filename_format),
    ) = (
        problems.is_empty(),
        video_root,
        audio_root,
        work_dir,
        output_dir,
        filename_format,
    )
    else {
        return Err(ConfigError::Invalid(problems));
    };

    Ok(Config {
        amqp: AmqpConfig {
            url: raw.amqp.url,
            queue: raw.amqp.queue,
            processed_queue: raw.amqp.processed_queue,
            failure_queue: raw.amqp.failure_queue,
            prefetch: raw.amqp.prefetch,
            heartbeat: Duration::from_secs(raw.amqp.heartbeat),
            confirm_timeout: Duration::from_secs(raw.amqp.confirm_timeout),
            queue_type: raw.amqp.queue_type,
            delivery_limit: raw.amqp.delivery_limit,
            dead_letter_queue: raw.amqp.dead_letter_queue,
        },
        paths: PathsConfig {
            video_root,
            audio_root,
            work_dir,
            output_dir,
            modes,
        },
        recording: RecordingConfig {
            split_recording_output: r.split_recording_output,
            mix_limit: r.mix_limit,
            clean_temporary_files: r.clean_temporary_files,
            filename_format,
            quality: r.quality,
            video_codec: r.video_codec,
            width: r.width,
            height: r.height,
        },
        encryption: EncryptionConfig {
            enabled: raw.encryption.enabled,
            public_key: raw.encryption.public_key,
            key,
        },
        daemon: DaemonConfig {
            shutdown_grace: Duration::from_secs(raw.daemon.shutdown_grace),
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

// --- TOML output --------------------------------------------------------------------------

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

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_path(path: &Path) -> String {
    toml_string(&path.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Four existing directories and the TOML that points at them.
    struct Dirs {
        _tmp: tempfile::TempDir,
        base: PathBuf,
    }

    impl Dirs {
        fn new() -> Dirs {
            let tmp = tempfile::tempdir().unwrap();
            let base = fs::canonicalize(tmp.path()).unwrap();
            for d in ["raw", "monitor", "work", "out"] {
                fs::create_dir(base.join(d)).unwrap();
            }
            Dirs { _tmp: tmp, base }
        }

        fn paths_toml(&self) -> String {
            format!(
                "[paths]\nvideo_root = {}\naudio_root = {}\nwork_dir = {}\noutput_dir = {}\n",
                toml_path(&self.base.join("raw")),
                toml_path(&self.base.join("monitor")),
                toml_path(&self.base.join("work")),
                toml_path(&self.base.join("out")),
            )
        }

        /// Defaults ← these paths ← `extra` TOML.
        fn figment(&self, extra: &str) -> Figment {
            Figment::from(Defaults)
                .merge(Toml::string(&self.paths_toml()))
                .merge(Toml::string(extra))
        }

        fn load(&self, extra: &str) -> Result<Config, ConfigError> {
            Config::from_figment(self.figment(extra))
        }
    }

    fn invalid(result: Result<Config, ConfigError>) -> (Vec<String>, String) {
        let e = result.unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "{msg}");
        (e.keys().into_iter().map(str::to_owned).collect(), msg)
    }

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
        assert!(!c.encryption.enabled);
        assert_eq!(
            c.encryption.public_key,
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
    fn env_var_names_map_to_keys() {
        assert_eq!(
            env_var_for("recording.mix_limit"),
            "RECPROC_RECORDING__MIX_LIMIT"
        );
        assert_eq!(env_var_for("amqp.url"), "RECPROC_AMQP__URL");
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
        assert!(c.unwrap().encryption.key.is_none());
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
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
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
