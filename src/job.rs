//! One conference-ended event, start to finish: parse and validate it, run the pipeline in the
//! job's work directory, and turn the result into the processed or the failure event. The
//! daemon and `recproc process` both call [`process`]; neither touches the pipeline directly.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::event::{self, Roots};
use crate::names::sanitize;
use crate::pipeline::{self, Blame, Runner, Stage, StageError, Workspace};
use crate::report::{self, Failed, Processed};

/// What became of one event.
#[derive(Debug, Clone)]
pub enum Outcome {
    Processed(Box<Processed>),
    Failed(Box<Failed>),
}

impl Outcome {
    /// The event to publish, as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Outcome::Processed(p) => serde_json::to_value(p),
            Outcome::Failed(f) => serde_json::to_value(f),
        }
        .expect("report types always serialise")
    }
}

/// The work directory of a conference: the same for every attempt at the same event, and
/// different for different IDs even where sanitising makes them look alike (`room 1` and
/// `room_1`; `a-b`+`c` and `a`+`b-c`): a hash of the raw IDs ends the name.
pub fn work_dir(config: &Config, conference_id: &str, uuid: &str) -> PathBuf {
    let mut h = Sha256::new();
    h.update(conference_id.as_bytes());
    h.update([0]);
    h.update(uuid.as_bytes());
    let tag: String = h.finalize()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    config.paths.work_dir.join(format!(
        "{}-{}-{tag}",
        sanitize(conference_id),
        sanitize(uuid)
    ))
}

/// Processes one raw conference-ended event.
pub async fn process(config: &Config, runner: &Runner, raw: &[u8]) -> Outcome {
    let value = match event::parse_json(raw) {
        Ok(v) => v,
        Err(e) => {
            let err = StageError::input(Stage::Validate, e.to_string());
            tracing::warn!(error = %err.message, "Rejected an event that is not valid JSON.");
            let text = String::from_utf8_lossy(raw).into_owned();
            return Outcome::Failed(Box::new(report::failed(
                (None, None),
                &err,
                None,
                serde_json::Value::String(text),
            )));
        }
    };
    let ids = event::ids_best_effort(&value);
    let shown_id = ids.0.clone().unwrap_or_default();
    tracing::info!(conference_id = %shown_id, "Received a process recording event with id: {shown_id}");

    let roots = Roots::from_paths(&config.paths);
    let conference = match event::validate(&value, &roots) {
        Ok(c) => c,
        Err(e) => {
            let err = if e.is_input_fault() {
                StageError::input(Stage::Validate, e.to_string())
            } else {
                StageError::system(Stage::Validate, e.to_string())
            };
            tracing::warn!(conference_id = %shown_id, error = %err.message, "Rejected an invalid event.");
            return Outcome::Failed(Box::new(report::failed(ids, &err, None, value)));
        }
    };

    let dir = work_dir(config, &conference.conference_id, &conference.uuid);
    let work = Workspace::new(dir.clone(), &conference.conference_id);
    let result = match std::fs::create_dir_all(&dir) {
        Ok(()) => pipeline::run(config, runner, &conference, &work).await,
        Err(e) => Err(StageError::from_io(
            Stage::Preprocess,
            "cannot create",
            &dir,
            &e,
        )),
    };
    match result {
        Ok(delivered) => {
            if config.recording.clean_temporary_files {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!(conference_id = %conference.conference_id, work_dir = %dir.display(), error = %e, "Could not remove the temporary files.");
                }
            }
            let id = &conference.conference_id;
            tracing::info!(conference_id = %id, files = delivered.files.len(), "Recording with ID {id} processed correctly.");
            Outcome::Processed(Box::new(report::processed(&conference, &delivered)))
        }
        Err(err) => {
            // ERROR when an operator must act (the system failed); a bad recording is
            // reported by its failure event and only warned about here.
            let id = conference.conference_id.as_str();
            let (stage, work_dir) = (err.stage.as_str(), dir.display());
            match err.blame {
                Blame::System => tracing::error!(
                    conference_id = id, stage, %work_dir, error = %err.message,
                    "Processing failed for a system reason; the temporary files are kept."
                ),
                Blame::Input => tracing::warn!(
                    conference_id = id, stage, %work_dir, error = %err.message,
                    "Processing failed on this recording's input; the temporary files are kept."
                ),
            }
            Outcome::Failed(Box::new(report::failed(ids, &err, Some(&dir), value)))
        }
    }
}
