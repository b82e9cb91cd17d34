//! The configuration as figment deserialises it, before validation: built-in defaults ←
//! TOML file ← environment (`RECPROC_<SECTION>__<KEY>`). [`RawConfig::default`] *is* the
//! built-in defaults of SPEC "Configuration" (and `config/recproc.toml` states them, key for
//! key). Every section refuses unknown keys.
//!
//! The same shape, serialised, is the effective configuration `check-config` prints
//! ([`RawConfig::effective`]).

use std::path::{Path, PathBuf};

use figment::providers::{Env, Serialized};
use figment::value::{Dict, Map};
use figment::{Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use super::{Config, LogFormat, OutputCodec, Quality, QueueType};

/// Prefix of the environment variables that override the configuration.
pub(super) const ENV_PREFIX: &str = "RECPROC_";

/// `RECPROC_*` variables that are not configuration keys (`RECPROC_CONFIG` names the file,
/// `RECPROC_LOG` the log filter), given without the prefix.
const NON_CONFIG_ENV: [&str; 2] = ["CONFIG", "LOG"];

/// The configuration as deserialised. Its `Default` is the built-in defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) amqp: RawAmqp,
    pub(super) paths: RawPaths,
    pub(super) recording: RawRecording,
    pub(super) encryption: RawEncryption,
    pub(super) daemon: RawDaemon,
    pub(super) log: RawLog,
    pub(super) metrics: RawMetrics,
    pub(super) policy: RawPolicy,
}

/// `[policy]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) record: String,
    pub(super) record_incoming_pstn: bool,
}

impl Default for RawPolicy {
    fn default() -> Self {
        RawPolicy {
            record: "all".into(),
            record_incoming_pstn: false,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawMetrics {
    /// `host:port`, or `""` for none.
    pub(super) listen: String,
}

impl Default for RawMetrics {
    fn default() -> Self {
        RawMetrics {
            listen: "0.0.0.0:9464".into(),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) format: LogFormat,
}

/// `[amqp]`; durations in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawAmqp {
    pub(super) url: String,
    pub(super) queue: String,
    pub(super) processed_queue: String,
    pub(super) failure_queue: String,
    pub(super) prefetch: u16,
    pub(super) heartbeat: u64,
    pub(super) confirm_timeout: u64,
    pub(super) queue_type: QueueType,
    pub(super) delivery_limit: u32,
    pub(super) dead_letter_queue: String,
    pub(super) max_event_bytes: u64,
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
            max_event_bytes: 1_048_576,
        }
    }
}

/// `[paths]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawPaths {
    pub(super) video_root: PathBuf,
    pub(super) audio_root: PathBuf,
    pub(super) work_dir: PathBuf,
    pub(super) output_dir: PathBuf,
    pub(super) output_file_mode: RawMode,
    pub(super) output_dir_mode: RawMode,
}

/// A file mode as TOML gives it: an integer (`0o640`) or a string of octal digits (`"0640"`,
/// which is also what an environment variable holds).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum RawMode {
    Number(i64),
    Text(String),
}

impl RawMode {
    /// `mode` as recproc writes it: four octal digits in a string (`"0640"`).
    fn octal(mode: u32) -> RawMode {
        RawMode::Text(format!("{mode:04o}"))
    }
}

impl Default for RawPaths {
    fn default() -> Self {
        RawPaths {
            video_root: "/var/spool/recording/raw".into(),
            audio_root: "/var/spool/asterisk/monitor".into(),
            work_dir: "/var/lib/recproc/work".into(),
            output_dir: "/var/lib/recproc/postprocessed".into(),
            output_file_mode: RawMode::octal(0o640),
            output_dir_mode: RawMode::octal(0o750),
        }
    }
}

/// `[recording]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawRecording {
    pub(super) split_recording_output: bool,
    pub(super) mix_limit: u32,
    pub(super) clean_temporary_files: bool,
    pub(super) filename_format: String,
    pub(super) quality: Quality,
    pub(super) video_codec: OutputCodec,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) fps: u32,
    /// Seconds.
    pub(super) max_freeze: f64,
    /// Seconds.
    pub(super) max_duration: u64,
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
            fps: 30,
            max_freeze: 2.0,
            max_duration: 43_200,
        }
    }
}

/// `[encryption]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawEncryption {
    pub(super) enabled: bool,
    pub(super) public_key: PathBuf,
}

impl Default for RawEncryption {
    fn default() -> Self {
        RawEncryption {
            enabled: false,
            public_key: "/etc/recproc/recordings.asc".into(),
        }
    }
}

/// `[daemon]`; durations in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawDaemon {
    pub(super) shutdown_grace: u64,
    pub(super) max_attempts: u32,
    pub(super) state_retention_days: u64,
}

impl Default for RawDaemon {
    fn default() -> Self {
        RawDaemon {
            shutdown_grace: 120,
            max_attempts: 10,
            state_retention_days: 30,
        }
    }
}

impl RawConfig {
    /// The effective values of a validated configuration in the shape of the file: the
    /// directories canonical, the modes as octal strings, the AMQP password hidden. Valid
    /// itself, and it validates to the same values (except the hidden password).
    pub(super) fn effective(config: &Config) -> RawConfig {
        let (a, p, r) = (&config.amqp, &config.paths, &config.recording);
        RawConfig {
            amqp: RawAmqp {
                url: a.url_redacted(),
                queue: a.queue.clone(),
                processed_queue: a.processed_queue.clone(),
                failure_queue: a.failure_queue.clone(),
                prefetch: a.prefetch,
                heartbeat: a.heartbeat.as_secs(),
                confirm_timeout: a.confirm_timeout.as_secs(),
                queue_type: a.queue_type,
                delivery_limit: a.delivery_limit,
                dead_letter_queue: a.dead_letter_queue.clone(),
                max_event_bytes: a.max_event_bytes as u64,
            },
            paths: RawPaths {
                video_root: lossy(&p.video_root),
                audio_root: lossy(&p.audio_root),
                work_dir: lossy(&p.work_dir),
                output_dir: lossy(&p.output_dir),
                output_file_mode: RawMode::octal(p.modes.file),
                output_dir_mode: RawMode::octal(p.modes.dir),
            },
            recording: RawRecording {
                split_recording_output: r.split_recording_output,
                mix_limit: r.mix_limit,
                clean_temporary_files: r.clean_temporary_files,
                filename_format: r.filename_format.as_str().to_owned(),
                quality: r.quality,
                video_codec: r.video_codec,
                width: r.width,
                height: r.height,
                fps: r.fps,
                max_freeze: r.max_freeze,
                max_duration: r.max_duration.as_secs(),
            },
            encryption: RawEncryption {
                enabled: config.encryption.is_some(),
                public_key: lossy(&config.public_key_setting),
            },
            daemon: RawDaemon {
                shutdown_grace: config.daemon.shutdown_grace.as_secs(),
                max_attempts: config.daemon.max_attempts,
                state_retention_days: config.daemon.state_retention.as_secs() / 86_400,
            },
            log: RawLog {
                format: config.log_format,
            },
            policy: RawPolicy {
                record: config.policy.record.as_str().into(),
                record_incoming_pstn: config.policy.record_incoming_pstn,
            },
            metrics: RawMetrics {
                listen: config
                    .metrics_listen
                    .map_or_else(String::new, |a| a.to_string()),
            },
        }
    }
}

/// A path TOML can hold (a canonical directory may resolve to a name that is not UTF-8).
fn lossy(path: &Path) -> PathBuf {
    PathBuf::from(path.to_string_lossy().into_owned())
}

/// The built-in defaults as a figment provider named so in error messages.
pub(super) struct Defaults;

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
pub(super) fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX)
        .ignore(&NON_CONFIG_ENV)
        .split("__")
}

/// The variable that sets `key` (`recording.mix_limit` → `RECPROC_RECORDING__MIX_LIMIT`).
pub(super) fn env_var_for(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_names_map_to_keys() {
        assert_eq!(
            env_var_for("recording.mix_limit"),
            "RECPROC_RECORDING__MIX_LIMIT"
        );
        assert_eq!(env_var_for("amqp.url"), "RECPROC_AMQP__URL");
    }

    #[test]
    fn the_example_config_states_every_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/recproc.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let file: toml::Table = toml::from_str(&text).unwrap();
        let defaults = toml::Table::try_from(RawConfig::default()).unwrap();
        let mut differences = Vec::new();
        for (section, values) in &defaults {
            let (values, stated) = (values.as_table().unwrap(), file.get(section));
            for (key, default) in values {
                let stated = stated.and_then(|s| s.get(key));
                if stated != Some(default) {
                    differences.push(format!(
                        "{section}.{key}: default {default}, file {stated:?}"
                    ));
                }
            }
        }
        assert!(differences.is_empty(), "{path:?}: {differences:#?}");
        // Nothing more: the file deserialises (no unknown key) and has no other section or key.
        let _: RawConfig = toml::from_str(&text).unwrap();
        assert_eq!(file, defaults);
    }
}
