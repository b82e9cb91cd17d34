//! Test support for the configuration's unit tests: existing directories to point `[paths]`
//! at, and a look at refusals.

use std::fs;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::Figment;

use super::raw::Defaults;
use super::{Config, ConfigError};

/// Four existing directories and the TOML that points at them.
pub(super) struct Dirs {
    _tmp: tempfile::TempDir,
    pub(super) base: PathBuf,
}

impl Dirs {
    pub(super) fn new() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(tmp.path()).unwrap();
        for d in ["raw", "monitor", "work", "out"] {
            fs::create_dir(base.join(d)).unwrap();
        }
        Dirs { _tmp: tmp, base }
    }

    pub(super) fn paths_toml(&self) -> String {
        format!(
            "[paths]\nvideo_root = {}\naudio_root = {}\nwork_dir = {}\noutput_dir = {}\n",
            toml_path(&self.base.join("raw")),
            toml_path(&self.base.join("monitor")),
            toml_path(&self.base.join("work")),
            toml_path(&self.base.join("out")),
        )
    }

    /// Defaults ← these paths ← `extra` TOML.
    pub(super) fn figment(&self, extra: &str) -> Figment {
        Figment::from(Defaults)
            .merge(Toml::string(&self.paths_toml()))
            .merge(Toml::string(extra))
    }

    pub(super) fn load(&self, extra: &str) -> Result<Config, ConfigError> {
        Config::from_figment(self.figment(extra))
    }
}

/// The keys at fault and the one-line message of a refused configuration.
pub(super) fn invalid(result: Result<Config, ConfigError>) -> (Vec<String>, String) {
    let e = result.unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    (e.keys().into_iter().map(str::to_owned).collect(), msg)
}

/// `path` as a TOML string.
pub(super) fn toml_path(path: &Path) -> String {
    toml::Value::String(path.to_string_lossy().into_owned()).to_string()
}
