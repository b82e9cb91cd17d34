//! One conference-ended event, start to finish: parse and validate it, run the pipeline in the
//! job's work directory, and turn the result into the processed or the failure event. The
//! daemon and `recproc process` both call [`process`]; neither touches the pipeline directly.
//! Under the conference's lock it counts the attempts that failed for system reasons (the
//! daemon stops retrying after `daemon.max_attempts`), and it keeps every failure event
//! within `amqp.max_event_bytes` (a larger original message is kept in the state directory).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::event::{self, Conference, Roots};
use crate::ledger::{self, Claim, Delivery, Ledger};
use crate::logs::{self, Inline};
use crate::names::sanitize;
use crate::pipeline::deliver::Record;
use crate::pipeline::{
    self, blocking, AtStage, Blame, Cause, InStage, Stage, StageError, ToolSlots, Workspace,
};
use crate::report::{self, Failed, Processed};

/// Decides, by the recording policy, what may be recorded of `conference`, says so, and
/// keeps only that.
fn apply_policy(config: &Config, conference: &mut Conference) {
    let decision = crate::policy::decide(
        conference.policy.as_ref(),
        conference.recording_type,
        &config.policy,
    );
    let id = logs::field(&conference.conference_id);
    match &decision.reason {
        None => tracing::info!(
            conference_id = id,
            source = decision.source.as_str(),
            recording_type = decision.recording_type(),
            "Recording policy: recorded ({}), decided by the {} permissions.",
            decision.recording_type(),
            decision.source.as_str()
        ),
        Some(reason) => tracing::info!(
            conference_id = id,
            source = decision.source.as_str(),
            reason = logs::field(reason),
            "Recording policy: not recorded: {}.",
            logs::Inline(reason)
        ),
    }
    conference.recording_type = decision.recording_type;
    conference.decision = Some(decision);
}

/// What became of one event.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The processed event (fresh, or the receipt's of an earlier delivery).
    Processed(Box<Processed>),
    Failed(Box<Failed>),
}

impl Outcome {
    /// The event to publish, as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Outcome::Processed(p) => {
                serde_json::to_value(p).expect("report types always serialise")
            }
            Outcome::Failed(f) => serde_json::to_value(f).expect("report types always serialise"),
        }
    }
}

/// The name of a conference's job: its work directory and its ledger entries. The same for
/// every attempt at the same event, and different for different IDs even where sanitising
/// makes them look alike (`room 1` and `room_1`; `a-b`+`c` and `a`+`b-c`): a hash of the raw
/// IDs ends the name.
pub fn job_name(conference_id: &str, uuid: &str) -> String {
    let mut h = Sha256::new();
    h.update(conference_id.as_bytes());
    h.update([0]);
    h.update(uuid.as_bytes());
    let tag = &format!("{:x}", h.finalize())[..8];
    format!(
        "{}-{}-{tag}",
        truncated(&sanitize(conference_id), JOB_NAME_PART),
        truncated(&sanitize(uuid), JOB_NAME_PART)
    )
}

/// The most bytes of each ID in a job name: with the hash and the ledger's suffixes, names
/// stay far below the filesystem's 255 (the hash keeps truncated names apart).
const JOB_NAME_PART: usize = 100;

fn truncated(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The work directory of a conference (see [`job_name`]).
pub fn work_dir(config: &Config, conference_id: &str, uuid: &str) -> PathBuf {
    config.paths.work_dir.join(job_name(conference_id, uuid))
}

/// What the intermediates in a work directory were made from: the event and every setting
/// that shapes them. A work directory made from anything else is emptied before use.
fn work_manifest(config: &Config, event_sha256: &str) -> String {
    format!(
        "recproc {}\nevent {event_sha256}\n{:?}\n{:?}\n",
        env!("CARGO_PKG_VERSION"),
        config.recording,
        config.paths
    )
}

const MANIFEST: &str = "job.manifest";

/// Creates the work directory, keeping what an earlier attempt at the same job left in it
/// (stages resume from it) and emptying it when it was made for something else.
fn prepare_work_dir(dir: &Path, manifest: &str) -> Result<bool, Cause> {
    let file = dir.join(MANIFEST);
    let resumed = match std::fs::read_to_string(&file) {
        Ok(found) if found == manifest => true,
        Ok(_) => {
            std::fs::remove_dir_all(dir).map_err(Cause::io("cannot empty", dir))?;
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Nothing of ours (or a manifest never written): start clean.
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(Cause::io("cannot empty", dir))?;
            }
            false
        }
        Err(e) => return Err(Cause::io("cannot read", &file)(e)),
    };
    std::fs::create_dir_all(dir).map_err(Cause::io("cannot create", dir))?;
    if !resumed {
        std::fs::write(&file, manifest).map_err(Cause::io("cannot write", &file))?;
    }
    Ok(resumed)
}

/// Processes one raw conference-ended event.
pub async fn process(config: &Config, slots: &ToolSlots, raw: &[u8]) -> Outcome {
    let value = match event::parse_json(raw) {
        Ok(v) => v,
        Err(e) => {
            let err = Cause::Event(e).at(Stage::Validate);
            tracing::warn!(
                error = logs::field(&err.cause),
                "Rejected an event that is not valid JSON."
            );
            let text = String::from_utf8_lossy(raw).into_owned();
            let failed = report::failed((None, None), &err, None, serde_json::Value::String(text));
            return failure(config, raw, failed).await;
        }
    };
    let ids = event::ids_best_effort(&value);
    let shown_id = ids.0.clone().unwrap_or_default();
    tracing::info!(
        conference_id = logs::field(&shown_id),
        "Received a process recording event with id: {}",
        Inline(&shown_id)
    );

    let roots = Roots::from_paths(&config.paths);
    let mut conference = match event::validate(&value, &roots) {
        Ok(c) => c,
        Err(e) => {
            let err = Cause::Event(e).at(Stage::Validate);
            tracing::warn!(
                conference_id = logs::field(&shown_id),
                error = logs::field(&err.cause),
                "Rejected an invalid event."
            );
            return failure(config, raw, report::failed(ids, &err, None, value)).await;
        }
    };

    apply_policy(config, &mut conference);
    let id = conference.conference_id.as_str();
    let dir = work_dir(config, id, &conference.uuid);
    let (result, attempts) = run(config, slots, &conference, &value, &dir).await;
    match result {
        Ok(processed) => {
            let files = processed.files.len();
            tracing::info!(
                conference_id = logs::field(id),
                files,
                "Recording with ID {} processed correctly.",
                Inline(id)
            );
            Outcome::Processed(Box::new(processed))
        }
        Err(err) => {
            let err = err.naming_full_disks(&config.paths.work_dir, &config.paths.output_dir);
            // ERROR when an operator must act (the system failed); a bad recording is
            // reported by its failure event and only warned about here.
            let (stage, work_dir) = (err.stage.as_str(), dir.display());
            match err.blame() {
                Blame::System => tracing::error!(
                    conference_id = logs::field(id),
                    stage,
                    work_dir = logs::field(&work_dir),
                    error = logs::field(&err.cause),
                    attempts,
                    "Processing failed for a system reason; the temporary files are kept."
                ),
                Blame::Input => tracing::warn!(
                    conference_id = logs::field(id),
                    stage,
                    work_dir = logs::field(&work_dir),
                    error = logs::field(&err.cause),
                    "Processing failed on this recording's input; the temporary files are kept."
                ),
            }
            let mut failed = report::failed(ids, &err, Some(&dir), value);
            failed.attempts = attempts;
            failure(config, raw, failed).await
        }
    }
}

/// One valid conference, under its job's lock (see [`claimed`]), and the attempts at it
/// that failed for system reasons so far, this one included, when this one did and they
/// could be counted in the state directory.
async fn run(
    config: &Config,
    slots: &ToolSlots,
    conference: &Conference,
    event: &serde_json::Value,
    dir: &Path,
) -> (Result<Processed, StageError>, Option<u32>) {
    let id = conference.conference_id.as_str();
    let job = job_name(id, &conference.uuid);
    let claim = match claim(config, id, &job).await {
        Ok(claim) => claim,
        Err(e) => return (Err(e), None),
    };
    let result = claimed(config, slots, conference, event, dir, &claim).await;
    let attempts = count_attempt(&claim, &result, id);
    (result, attempts)
}

/// Takes the job's lock: one attempt at a conference at a time, across every instance.
async fn claim(config: &Config, id: &str, job: &str) -> Result<Claim, StageError> {
    let output_dir = &config.paths.output_dir;
    let ledger = Ledger::open(output_dir)
        .map_err(Cause::io(
            "cannot create",
            &output_dir.join(ledger::STATE_DIR),
        ))
        .at(Stage::Preprocess)?;
    ledger
        .claim(job, || {
            tracing::info!(
                conference_id = logs::field(id),
                "Another delivery of this conference is being processed; waiting for it to finish."
            );
        })
        .await
        .map_err(Cause::io("cannot lock", ledger.dir()))
        .at(Stage::Preprocess)
}

/// Counts a system failure in the state directory, under the job's lock; forgets the
/// count once the conference is answered (delivered, or failed on its input). `None` when
/// there is nothing to count or the count could not be kept.
fn count_attempt(claim: &Claim, result: &Result<Processed, StageError>, id: &str) -> Option<u32> {
    let counted = match result {
        Err(e) if e.blame() == Blame::System => claim.count_failed_attempt().map(Some),
        _ => claim.forget_attempts().map(|()| None),
    };
    counted.unwrap_or_else(|e| {
        tracing::warn!(conference_id = logs::field(id), error = logs::field(&e), "Could not keep the count of failed attempts in the state directory; this instance counts them on its own.");
        None
    })
}

/// The work of one valid conference, holding its lock: the receipt of an earlier delivery
/// answers it again, or the pipeline runs in `dir` and delivers.
async fn claimed(
    config: &Config,
    slots: &ToolSlots,
    conference: &Conference,
    event: &serde_json::Value,
    dir: &Path,
    claim: &Claim,
) -> Result<Processed, StageError> {
    let id = conference.conference_id.as_str();
    let (ledger, job) = (claim.ledger(), claim.job());
    let event_sha256 = ledger::event_digest(event);
    if let Some(done) = already_delivered(ledger, job, &event_sha256).await? {
        tracing::info!(
            conference_id = logs::field(id),
            "This conference was already delivered; publishing its processed event again."
        );
        clean_work_dir(config, id, dir);
        return Ok(done);
    }
    check_key(config).at(Stage::Encrypt)?;
    let resumed =
        prepare_work_dir(dir, &work_manifest(config, &event_sha256)).at(Stage::Preprocess)?;
    if resumed {
        tracing::info!(
            conference_id = logs::field(id),
            work_dir = logs::field(dir.display()),
            "Resuming an earlier attempt at this conference."
        );
    }
    let work = Workspace::new(dir.to_owned(), id);
    let record = Record {
        conference_id: id,
        ledger,
        job,
        event_sha256: &event_sha256,
    };
    let processed = pipeline::run(config, slots, conference, &work, record).await?;
    clean_work_dir(config, id, dir);
    Ok(processed)
}

/// The failure outcome, its event within `amqp.max_event_bytes` (see [`within_limit`]).
async fn failure(config: &Config, raw: &[u8], failed: Failed) -> Outcome {
    let limit = config
        .amqp
        .max_event_bytes
        .saturating_sub(report::GIVE_UP_RESERVE);
    if report::fits(&failed, limit) {
        return Outcome::Failed(Box::new(failed));
    }
    // Writing the original can take a while: off the async threads.
    let (output_dir, raw) = (config.paths.output_dir.clone(), raw.to_vec());
    let bounded =
        tokio::task::spawn_blocking(move || within_limit(&output_dir, &raw, failed, limit));
    match bounded.await {
        Ok(failed) => Outcome::Failed(Box::new(failed)),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The failure event, at most `limit` bytes long. When the original message makes it
/// longer, the original is kept whole in the state directory and the event's `event` says
/// where, with its size, sha256 and first bytes; the event's own texts are shortened should
/// it still be too long. If the original cannot be kept, that is the system's failure (the
/// message goes back to the queue rather than being answered without it).
fn within_limit(output_dir: &Path, raw: &[u8], mut failed: Failed, limit: usize) -> Failed {
    if report::fits(&failed, limit) {
        return failed;
    }
    let conference_id = failed.conference_id.clone().unwrap_or_default();
    match Ledger::open(output_dir).and_then(|l| l.keep_original(raw)) {
        Ok(kept) => {
            tracing::warn!(conference_id, original = logs::field(kept.path.display()), bytes = kept.bytes, "The message is too large to travel in its failure event (amqp.max_event_bytes); it is kept in the state directory and the event names it.");
            failed.event = report::kept_original(Some(&kept.path), kept.bytes, &kept.sha256, raw);
        }
        Err(e) => {
            let state = output_dir.join(ledger::STATE_DIR);
            tracing::error!(conference_id, state_dir = logs::field(state.display()), error = logs::field(&e), "Could not keep a message too large for its failure event; it goes back to the queue.");
            failed.error = format!(
                "cannot keep the original message ({} bytes, too large for its failure event: amqp.max_event_bytes) in {}: {e}; it failed before that because: {}",
                raw.len(),
                state.display(),
                failed.error
            );
            failed.blame = Blame::System;
            let sha256 = format!("{:x}", Sha256::digest(raw));
            failed.event = report::kept_original(None, raw.len() as u64, &sha256, raw);
        }
    }
    report::shorten_to_fit(&mut failed, limit);
    failed
}

/// Keeps `message` whole in the state directory of `config`'s output directory; where.
pub(crate) fn keep_original(config: &Config, message: &[u8]) -> std::io::Result<PathBuf> {
    Ledger::open(&config.paths.output_dir)?
        .keep_original(message)
        .map(|kept| kept.path)
}

/// Forgets the attempts counted for `job` once its conference is answered.
pub(crate) fn forget_attempts(config: &Config, job: &str) -> std::io::Result<()> {
    Ledger::open(&config.paths.output_dir)?.forget_attempts(job)
}

/// The receipt's processed event when this event's recording is already in the output
/// directory; a failure when the output directory disagrees with the receipt. Reads and
/// hashes the delivered files: off the async threads.
async fn already_delivered(
    ledger: &Ledger,
    job: &str,
    event_sha256: &str,
) -> Result<Option<Processed>, StageError> {
    let (ledger, job, event_sha256) = (ledger.clone(), job.to_owned(), event_sha256.to_owned());
    blocking(move || check_receipt(&ledger, &job, &event_sha256))
        .await
        .at(Stage::Deliver)
}

fn check_receipt(
    ledger: &Ledger,
    job: &str,
    event_sha256: &str,
) -> Result<Option<Processed>, Cause> {
    let checking = "cannot check the earlier delivery of this conference in";
    let Some(receipt) = ledger
        .read(job)
        .map_err(Cause::io(checking, ledger.dir()))?
    else {
        return Ok(None);
    };
    match ledger::check(&receipt, event_sha256).map_err(Cause::io(checking, ledger.dir()))? {
        Delivery::NotDelivered => Ok(None),
        Delivery::Delivered => Ok(Some(receipt.processed)),
        Delivery::Conflict(why) => Err(Cause::Conflict {
            why,
            receipt: ledger.dir().join(format!("{job}.json")),
        }),
    }
}

/// Removes a finished job's work directory when `clean_temporary_files` asks for it, and
/// always with encryption on (it holds the plaintext), while the job's lock is still held so
/// no next attempt is using it.
fn clean_work_dir(config: &Config, conference_id: &str, dir: &Path) {
    let encrypted = config.encryption.is_some();
    let wanted = config.recording.clean_temporary_files || encrypted;
    if wanted && dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            if encrypted {
                tracing::error!(conference_id = logs::field(conference_id), work_dir = logs::field(dir.display()), error = logs::field(&e), "Could not remove the temporary files: they hold the recording in plaintext; remove them.");
            } else {
                tracing::warn!(
                    conference_id = logs::field(conference_id),
                    work_dir = logs::field(dir.display()),
                    error = logs::field(&e),
                    "Could not remove the temporary files."
                );
            }
        }
    }
}

/// With encryption on, the key must still be usable now (it may have expired since startup):
/// checked before any work, so a job does not render for nothing.
fn check_key(config: &Config) -> Result<(), Cause> {
    let Some(key) = &config.encryption else {
        return Ok(());
    };
    key.check(std::time::SystemTime::now())
        .map(|_| ())
        .map_err(Cause::StaleKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Receipt;

    #[test]
    fn a_full_disk_is_named_by_the_directories_to_free() {
        let (work, out) = (Path::new("/w"), Path::new("/o"));
        let failed = |stage, doing, path: &str, errno| {
            Cause::io(doing, Path::new(path))(std::io::Error::from_raw_os_error(errno))
                .at(stage)
                .naming_full_disks(work, out)
        };
        let e = failed(
            Stage::Deliver,
            "cannot deliver to",
            "/o/a.webm",
            libc::ENOSPC,
        );
        assert_eq!(
            e.cause.to_string(),
            "cannot deliver to /o/a.webm: No space left on device (os error 28) (a disk is full: free space where work_dir /w or output_dir /o is)"
        );
        let e = failed(Stage::Render, "cannot create", "/w/x", libc::EDQUOT);
        assert!(e.cause.to_string().ends_with("Disk quota exceeded (os error 122) (a disk is full: free space where work_dir /w or output_dir /o is)"), "{}", e.cause);
        let e = failed(Stage::Render, "cannot create", "/w/x", libc::EACCES);
        assert_eq!(
            e.cause.to_string(),
            "cannot create /w/x: Permission denied (os error 13)"
        );
        assert_eq!((e.stage, e.blame()), (Stage::Render, Blame::System));
    }

    /// A receipt for `files` (name, bytes as delivered) in `dir`.
    fn receipt(dir: &Path, files: &[(&str, &[u8])]) -> Receipt {
        let files = files
            .iter()
            .map(|(name, bytes)| report::FileEntry {
                path: dir.join(name).display().to_string(),
                kind: pipeline::deliver::FileKind::Merged,
                bytes: bytes.len() as u64,
                sha256: format!("{:x}", Sha256::digest(bytes)),
            })
            .collect();
        Receipt {
            event_sha256: "E".into(),
            processed: Processed::for_tests(files),
            placed: false,
        }
    }

    #[tokio::test]
    async fn a_delivery_that_was_changed_since_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        ledger
            .write("job", &receipt(dir.path(), &[("a.webm", b"aaa")]))
            .unwrap();
        assert_eq!(already_delivered(&ledger, "job", "E").await.unwrap(), None);
        std::fs::write(dir.path().join("a.webm"), b"aab").unwrap();
        let e = already_delivered(&ledger, "job", "E").await.unwrap_err();
        assert_eq!((e.stage, e.blame()), (Stage::Deliver, Blame::Input));
        let file = dir.path().join("a.webm");
        assert_eq!(
            e.cause.to_string(),
            format!(
                "this conference was delivered before, but {} is not the file recproc delivered (sha256 {:x}, expected {:x}); recproc never overwrites a delivery: move its files away and remove {} to process this event again",
                file.display(),
                Sha256::digest(b"aab"),
                Sha256::digest(b"aaa"),
                ledger.dir().join("job.json").display()
            )
        );
        std::fs::write(dir.path().join("a.webm"), b"aaa").unwrap();
        assert!(already_delivered(&ledger, "job", "E")
            .await
            .unwrap()
            .is_some());
        std::fs::write(ledger.dir().join("job.json"), b"{").unwrap();
        let e = already_delivered(&ledger, "job", "E").await.unwrap_err();
        assert_eq!((e.stage, e.blame()), (Stage::Deliver, Blame::System));
        assert!(
            e.cause.to_string().starts_with(&format!(
                "cannot check the earlier delivery of this conference in {}: receipt {} is not valid: ",
                ledger.dir().display(),
                ledger.dir().join("job.json").display()
            )),
            "{}",
            e.cause
        );
    }

    /// The failure event of a message that is not JSON.
    fn not_json(raw: &[u8]) -> Failed {
        let err = StageError::input(Stage::Validate, "expected value");
        let text = String::from_utf8_lossy(raw).into_owned();
        report::failed((None, None), &err, None, serde_json::Value::String(text))
    }

    fn published_len(f: &Failed) -> usize {
        serde_json::to_vec(&Outcome::Failed(Box::new(f.clone())).to_json())
            .unwrap()
            .len()
    }

    #[test]
    fn a_message_too_large_for_its_failure_event_is_kept_in_the_state_directory() {
        let out = tempfile::tempdir().unwrap();
        let raw = vec![1u8; 100_000]; // 600 000 bytes once escaped in JSON
        let failed = within_limit(out.path(), &raw, not_json(&raw), 65_536);
        assert!(
            published_len(&failed) <= 65_536,
            "{}",
            published_len(&failed)
        );
        assert_eq!((failed.blame, failed.stage), (Blame::Input, "validate"));
        let sha256 = format!("{:x}", Sha256::digest(&raw));
        let path = out
            .path()
            .join(ledger::STATE_DIR)
            .join(format!("{sha256}.original"));
        assert_eq!(failed.event["path"], path.display().to_string());
        assert_eq!(failed.event["bytes"], 100_000);
        assert_eq!(failed.event["sha256"], sha256);
        assert_eq!(failed.event["prefix"], "\u{1}".repeat(256));
        assert_eq!(std::fs::read(&path).unwrap(), raw);

        // A small one stays in its event, and nothing is kept.
        let out = tempfile::tempdir().unwrap();
        let small = within_limit(out.path(), b"{ nope", not_json(b"{ nope"), 65_536);
        assert_eq!(small.event, "{ nope");
        assert!(!out.path().join(ledger::STATE_DIR).exists());
    }

    #[test]
    fn a_message_that_cannot_be_kept_is_the_system_s_failure() {
        let out = tempfile::tempdir().unwrap();
        std::fs::write(out.path().join(ledger::STATE_DIR), b"in the way").unwrap();
        let raw = vec![1u8; 100_000];
        let failed = within_limit(out.path(), &raw, not_json(&raw), 65_536);
        assert!(published_len(&failed) <= 65_536);
        assert_eq!(failed.blame, Blame::System);
        assert_eq!(failed.event["path"], serde_json::Value::Null);
        assert_eq!(failed.event["bytes"], 100_000);
        assert!(
            failed.error.starts_with(&format!(
                "cannot keep the original message (100000 bytes, too large for its failure event: amqp.max_event_bytes) in {}: Not a directory",
                out.path().join(ledger::STATE_DIR).display()
            )),
            "{}",
            failed.error
        );
        assert!(failed
            .error
            .ends_with("it failed before that because: expected value"));
    }

    #[tokio::test]
    async fn system_failures_are_counted_and_an_answer_forgets_them() {
        let out = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(out.path()).unwrap();
        let claim = ledger.claim("job", || panic!("free")).await.unwrap();
        let broken = || Err(StageError::system(Stage::Render, "ffmpeg is missing"));
        assert_eq!(count_attempt(&claim, &broken(), "c"), Some(1));
        assert_eq!(count_attempt(&claim, &broken(), "c"), Some(2));
        let bad = Err(StageError::input(Stage::Preprocess, "corrupt"));
        assert_eq!(count_attempt(&claim, &bad, "c"), None);
        assert_eq!(count_attempt(&claim, &broken(), "c"), Some(1));
        let done = Ok(Processed::for_tests(Vec::new()));
        assert_eq!(count_attempt(&claim, &done, "c"), None);
        assert!(!ledger.dir().join("job.attempts").exists());
    }

    #[test]
    fn job_names_stay_short_and_distinct() {
        assert_eq!(job_name("room 1", "u").len(), "room_1-u-".len() + 8);
        assert_ne!(job_name("room 1", "u"), job_name("room_1", "u"));
        assert_ne!(job_name("a-b", "c"), job_name("a", "b-c"));
        let long = "é".repeat(64); // 128 bytes, the longest ID an event may carry
        let name = job_name(&long, &long);
        assert!(name.len() <= 2 * JOB_NAME_PART + 10, "{}", name.len());
        assert!(format!("{name}.lock").len() < 255);
        let other = format!("{}x", &long[..long.len() - 2]);
        assert_ne!(job_name(&long, &long), job_name(&other, &long));
    }
}
