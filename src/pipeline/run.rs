//! One conference through every stage, in order, with each stage's time logged. After
//! preprocessing and planning, SPEC.md's rule picks the mode: merged (render, concat, mux)
//! or split (each converted track and the mixed WAV side by side, with a metadata JSON).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::Config;
use crate::event::{Conference, RecordingType};
use crate::media::ffmpeg::Encoding;
use crate::names::{self, NameValues};
use crate::pipeline::preprocess::{self, Audio, Skipped, Track};
use crate::pipeline::{
    deliver, encrypt, fresh_dir, render, Stage, StageError, ToolSlots, Workspace,
};
pub use crate::plan::Mode;
use crate::plan::{self, Plan, PlanTrack, Timeline};
use crate::report;
use crate::timestamp::Timestamp;

/// A file placed in the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredFile {
    pub path: PathBuf,
    pub kind: &'static str,
    pub bytes: u64,
    pub sha256: String,
}

/// One media item as the metadata lists it: a source track placed on the merged timeline, or
/// a delivered file of a split recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaEntry {
    pub path: PathBuf,
    /// The participant, for video.
    pub user_id: Option<String>,
    pub start: Timestamp,
    pub stop: Timestamp,
    pub bytes: u64,
}

/// What a successful run produced and what it was made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub mode: Mode,
    /// Why that mode, in words.
    pub mode_reason: String,
    /// t=0 of the output and its length in seconds (`None` when nothing was recorded).
    pub origin: Option<Timestamp>,
    pub duration: f64,
    pub should_record_audio: bool,
    pub should_record_video: bool,
    /// Every delivered media file is OpenPGP-encrypted (`.gpg`).
    pub encrypted: bool,
    pub videos: Vec<MediaEntry>,
    pub audio: Option<MediaEntry>,
    /// Video tracks left out because nothing in them could be shown.
    pub skipped: Vec<Skipped>,
    /// The split recording's directory.
    pub directory: Option<PathBuf>,
    pub files: Vec<DeliveredFile>,
}

/// How the finished files enter the output directory: the last, quick step of a job,
/// separate so the job can record what it is about to deliver (its receipt) first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Merged: one file, moved to its final name.
    File { from: PathBuf, to: PathBuf },
    /// Split: staged files, moved into a new directory all at once.
    Dir { files: Vec<PathBuf>, dest: PathBuf },
}

/// A run that has produced everything and checked it, but not yet delivered it.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// What will be delivered: every entry names a file at its final place.
    pub delivered: Delivered,
    /// `None` when nothing is recorded (`recordingType: none`).
    pub placement: Option<Placement>,
}

/// Moves the prepared files into the output directory (never over an existing file).
pub async fn place(placement: Placement, modes: deliver::Modes) -> Result<(), StageError> {
    blocking(move || match placement {
        Placement::File { from, to } => {
            deliver::place(&from, &to, modes).map_err(|e| delivery_error(&to, &e))
        }
        Placement::Dir { files, dest } => {
            deliver::place_dir(&files, &dest, modes).map_err(|e| delivery_error(&dest, &e))
        }
    })
    .await
}

/// The longest file name common filesystems accept.
const MAX_NAME_BYTES: usize = 255;

fn already_exists(dest: &Path) -> StageError {
    StageError::input(
        Stage::Deliver,
        format!(
            "{} already exists: recproc never overwrites a delivered recording (move it away to process this event again)",
            dest.display()
        ),
    )
}

/// `filename_format` rendered for this conference, with the container's extension.
fn merged_name(config: &Config, conference: &Conference, at: Timestamp) -> String {
    format!(
        "{}.{}",
        config.recording.filename_format.render(&NameValues {
            uuid: &conference.uuid,
            confbridgeid: &conference.conference_id,
            userid: None,
            at,
        }),
        config.recording.video_codec.extension()
    )
}

/// Runs one step of a stage and logs how long it took.
async fn timed<T>(
    conference_id: &str,
    stage: Stage,
    step: &str,
    f: impl Future<Output = Result<T, StageError>>,
) -> Result<T, StageError> {
    let started = Instant::now();
    let out = f.await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if out.is_ok() {
        tracing::info!(
            conference_id,
            stage = stage.as_str(),
            step,
            elapsed_ms,
            "Stage finished."
        );
    }
    out
}

/// Runs every stage for `conference` up to delivery, writing intermediates under `work`;
/// [`place`] delivers.
pub async fn run(
    config: &Config,
    slots: &ToolSlots,
    conference: &Conference,
    work: &Workspace,
) -> Result<Prepared, StageError> {
    let id = conference.conference_id.as_str();
    let rec = &config.recording;
    let keep_audio = conference.recording_type.should_record_audio();
    let keep_video = conference.recording_type.should_record_video();
    let mut delivered = Delivered {
        mode: Mode::Merged,
        mode_reason: String::new(),
        origin: None,
        duration: 0.0,
        should_record_audio: keep_audio,
        should_record_video: keep_video,
        encrypted: config.encryption.key.is_some(),
        videos: Vec::new(),
        audio: None,
        skipped: Vec::new(),
        directory: None,
        files: Vec::new(),
    };
    if conference.recording_type == RecordingType::None {
        // The mode the configuration asks for, with nothing in it.
        let (mode, reason) = plan::choose_mode(rec.split_recording_output, rec.mix_limit, 0);
        delivered.mode = mode;
        delivered.mode_reason = format!("recordingType is none: nothing is recorded ({reason})");
        tracing::info!(
            conference_id = id,
            "The recording type is none: nothing to render."
        );
        return Ok(Prepared {
            delivered,
            placement: None,
        });
    }
    let video_sources = if keep_video {
        conference.videos.clone()
    } else {
        Vec::new()
    };
    let audio_source = conference.audio.clone().filter(|_| keep_audio);
    if video_sources.is_empty() && audio_source.is_none() {
        return Err(StageError::input(
            Stage::Validate,
            "the event names no media to record: no video tracks and no audio",
        ));
    }

    let ((tracks, skipped), audio) = timed(id, Stage::Preprocess, "convert", async {
        let videos = preprocess::videos(slots, work, &video_sources);
        let audio = async {
            match &audio_source {
                Some(a) => preprocess::audio(slots, a).await.map(Some),
                None => Ok(None),
            }
        };
        tokio::try_join!(videos, audio)
    })
    .await?;

    // Plan, and choose the mode.
    let facts: Vec<_> = tracks.iter().map(|t| t.facts.clone()).collect();
    let timeline = plan::timeline(
        audio.as_ref().map(|a| &a.facts),
        &facts,
        conference.completed,
    )
    .ok_or_else(|| StageError::input(Stage::Plan, "no media to place on a timeline"))?;
    let plan_tracks: Vec<PlanTrack> = tracks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            timeline.tracks[i].map(|span| PlanTrack {
                track: i,
                user_id: t.source.user_id.clone(),
                span,
            })
        })
        .collect();
    let layout = plan::plan(timeline.duration, &plan_tracks, rec.width, rec.height);
    let (mode, reason) = plan::choose_mode(
        rec.split_recording_output,
        rec.mix_limit,
        layout.max_visible,
    );
    tracing::info!(
        conference_id = id,
        mode = mode.as_str(),
        reason = %reason,
        duration_s = layout.duration(),
        intervals = layout.intervals.len(),
        max_visible = layout.max_visible,
        "Delivering a {} recording: {reason}.",
        mode.as_str()
    );
    check_name_lengths(config, conference, mode, timeline.origin)?;
    delivered.mode = mode;
    delivered.mode_reason = reason;
    delivered.origin = Some(timeline.origin);
    delivered.skipped = skipped;
    let placement = match mode {
        Mode::Merged => {
            merged(
                config,
                slots,
                conference,
                work,
                &timeline,
                &layout,
                &tracks,
                audio.as_ref(),
                &mut delivered,
            )
            .await?
        }
        Mode::Split => {
            split(
                config,
                conference,
                work,
                &timeline,
                &tracks,
                audio.as_ref(),
                &mut delivered,
            )
            .await?
        }
    };
    Ok(Prepared {
        delivered,
        placement: Some(placement),
    })
}

/// Every name the chosen mode will write must fit a filesystem: checked before any work.
fn check_name_lengths(
    config: &Config,
    conference: &Conference,
    mode: Mode,
    at: Timestamp,
) -> Result<(), StageError> {
    let (uuid, conf) = (conference.uuid.as_str(), conference.conference_id.as_str());
    // Media files are written as `<name>.partial` first (the longest name they ever have),
    // and get `.gpg` appended when encrypted; the directory and the metadata keep theirs.
    let media = match config.encryption.key {
        Some(_) => format!(".partial.{}", encrypt::SUFFIX),
        None => ".partial".to_owned(),
    };
    let candidates = match mode {
        Mode::Merged => vec![(
            "recording.filename_format",
            merged_name(config, conference, at) + &media,
        )],
        Mode::Split => vec![
            ("the split directory", names::split_dir_name(uuid, conf)),
            (
                "the split audio file",
                names::split_audio_name(at, uuid, conf) + &media,
            ),
            (
                "the split metadata file",
                names::split_metadata_name(uuid, conf),
            ),
        ],
    };
    for (what, name) in candidates {
        if name.len() > MAX_NAME_BYTES {
            return Err(StageError::input(
                Stage::Validate,
                format!(
                    "the name of {what} would be {} bytes with recproc's working suffix ({name:?}); file names may have at most {MAX_NAME_BYTES}: shorten recording.filename_format or the IDs",
                    name.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Merged: render every interval, concat, mux the audio, deliver one file.
#[allow(clippy::too_many_arguments)]
async fn merged(
    config: &Config,
    slots: &ToolSlots,
    conference: &Conference,
    work: &Workspace,
    timeline: &Timeline,
    layout: &Plan,
    tracks: &[Track],
    audio: Option<&Audio>,
    delivered: &mut Delivered,
) -> Result<Placement, StageError> {
    let id = conference.conference_id.as_str();
    let rec = &config.recording;
    // Never render what could not be delivered: recproc does not overwrite recordings.
    let name = merged_name(config, conference, timeline.origin);
    let key = config.encryption.key.clone();
    let dest = match &key {
        Some(_) => encrypt::encrypted_name(&config.paths.output_dir.join(&name)),
        None => config.paths.output_dir.join(&name),
    };
    if dest.exists() {
        return Err(already_exists(&dest));
    }

    let canvas = (rec.width, rec.height);
    let encoding = Encoding {
        codec: rec.video_codec,
        quality: rec.quality,
        threads: slots.cores(),
    };
    let has_video = !layout.cuts.is_empty() || audio.is_none();
    let duration = if has_video {
        layout.duration()
    } else {
        timeline.duration
    };
    let video = if has_video {
        timed(
            id,
            Stage::Render,
            "slice",
            render::slices(slots, work, layout, tracks, &timeline.anchors, canvas),
        )
        .await?;
        let parts = timed(
            id,
            Stage::Render,
            "layout",
            render::intervals(slots, work, layout, canvas, encoding),
        )
        .await?;
        Some(
            timed(
                id,
                Stage::Concat,
                "concat",
                render::concat(slots, work, &parts, duration),
            )
            .await?,
        )
    } else {
        None
    };

    let muxed = work.output().join(&name);
    timed(
        id,
        Stage::Mux,
        "mux",
        render::mux(
            slots,
            video.as_deref(),
            audio.map(|a| a.source.path.as_path()),
            duration,
            &encoding,
            &muxed,
        ),
    )
    .await?;

    let muxed = match key {
        Some(key) => {
            timed(id, Stage::Encrypt, "encrypt", async move {
                blocking(move || encrypt::file(&key, &muxed)).await
            })
            .await?
        }
        None => muxed,
    };
    let file = timed(id, Stage::Deliver, "digest", async {
        let (dest, muxed) = (dest.clone(), muxed.clone());
        blocking(move || {
            let digested = deliver::digest(&muxed)
                .map_err(|e| StageError::from_io(Stage::Deliver, "cannot read", &muxed, &e))?;
            Ok(DeliveredFile {
                path: dest,
                kind: "merged",
                bytes: digested.bytes,
                sha256: digested.sha256,
            })
        })
        .await
    })
    .await?;

    let origin = timeline.origin;
    delivered.duration = duration;
    delivered.videos = tracks
        .iter()
        .zip(&timeline.tracks)
        .filter_map(|(t, span)| {
            let span = (*span)?;
            Some(MediaEntry {
                path: t.source.path.clone(),
                user_id: Some(t.source.user_id.clone()),
                start: origin.add_seconds(span.start),
                stop: origin.add_seconds(span.end.min(duration)),
                bytes: file_size(&t.source.path),
            })
        })
        .collect();
    delivered.audio = audio.map(|a| MediaEntry {
        path: a.source.path.clone(),
        user_id: None,
        start: origin,
        stop: origin.add_seconds(a.facts.duration.min(duration)),
        bytes: file_size(&a.source.path),
    });
    delivered.files.push(file);
    Ok(Placement::File {
        from: muxed,
        to: dest,
    })
}

/// Split: each converted track as janus-pp-rec wrote it and a copy of the mixed WAV, named by
/// SPEC.md, with the metadata JSON, delivered as one directory.
async fn split(
    config: &Config,
    conference: &Conference,
    work: &Workspace,
    timeline: &Timeline,
    tracks: &[Track],
    audio: Option<&Audio>,
    delivered: &mut Delivered,
) -> Result<Placement, StageError> {
    let id = conference.conference_id.as_str();
    let (uuid, conf) = (conference.uuid.as_str(), conference.conference_id.as_str());
    let dir_name = names::split_dir_name(uuid, conf);
    let dest_dir = config.paths.output_dir.join(&dir_name);
    if dest_dir.exists() {
        return Err(already_exists(&dest_dir));
    }
    fresh_dir(Stage::Deliver, &work.output())?;
    let staging = work.output().join(&dir_name);
    std::fs::create_dir_all(&staging)
        .map_err(|e| StageError::from_io(Stage::Deliver, "cannot create", &staging, &e))?;
    let io_error = |what: &str, path: &Path, e: std::io::Error| {
        StageError::from_io(Stage::Deliver, what, path, &e)
    };

    // With encryption, a staged media file is replaced by its `.gpg` (the plaintext copy
    // removed at once); returns what to deliver.
    let key = config.encryption.key.clone();
    let seal = |file: PathBuf| {
        let key = key.clone();
        async move {
            let Some(key) = key else {
                return Ok(file);
            };
            timed(id, Stage::Encrypt, "encrypt", async move {
                blocking(move || {
                    let sealed = encrypt::file(&key, &file)?;
                    std::fs::remove_file(&file).map_err(|e| {
                        StageError::from_io(Stage::Encrypt, "cannot remove", &file, &e)
                    })?;
                    Ok(sealed)
                })
                .await
            })
            .await
        }
    };
    let delivered_name = |file: &Path| file.file_name().unwrap_or_default().to_owned();

    // Stage the files under their final names: the tracks are ours (moved), the WAV is the
    // audiomixer's (copied). Entries name where each file will be once delivered.
    let mut staged: Vec<(PathBuf, &'static str)> = Vec::new();
    let mut taken = std::collections::HashSet::new();
    let mut videos = Vec::with_capacity(tracks.len());
    for t in tracks {
        // {{date}}/{{time}} and startTime: when the file's media starts (its first packet).
        let at = t.facts.first_packet;
        let ext = t
            .file
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("webm");
        let name = unique_name(
            &mut taken,
            names::split_video_name(at, &t.source.user_id, ext),
        );
        let file = staging.join(&name);
        std::fs::rename(&t.file, &file).map_err(|e| io_error("cannot stage", &file, e))?;
        let file = seal(file).await?;
        videos.push(MediaEntry {
            path: dest_dir.join(delivered_name(&file)),
            user_id: Some(t.source.user_id.clone()),
            start: at,
            stop: at.add_seconds(t.facts.end),
            bytes: std::fs::metadata(&file)
                .map_err(|e| io_error("cannot read", &file, e))?
                .len(),
        });
        staged.push((file, "video"));
    }
    let audio_entry = match audio {
        Some(a) => {
            let name = names::split_audio_name(timeline.origin, uuid, conf);
            let file = staging.join(&name);
            std::fs::copy(&a.source.path, &file)
                .map_err(|e| io_error("cannot copy the audio to", &file, e))?;
            let file = seal(file).await?;
            let bytes = std::fs::metadata(&file)
                .map_err(|e| io_error("cannot read", &file, e))?
                .len();
            staged.push((file.clone(), "audio"));
            Some(MediaEntry {
                path: dest_dir.join(delivered_name(&file)),
                user_id: None,
                start: a.facts.start,
                stop: a.facts.start.add_seconds(a.facts.duration),
                bytes,
            })
        }
        None => None,
    };
    delivered.duration = timeline.duration;
    delivered.videos = videos;
    delivered.audio = audio_entry;

    // The metadata names the files as they sit in the directory.
    let metadata = report::metadata(conference, delivered, |p| {
        p.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    });
    let meta = staging.join(names::split_metadata_name(uuid, conf));
    let text = serde_json::to_vec_pretty(&metadata).expect("metadata serialises");
    std::fs::write(&meta, text).map_err(|e| io_error("cannot write", &meta, e))?;
    staged.push((meta, "metadata"));

    let paths: Vec<PathBuf> = staged.iter().map(|(p, _)| p.clone()).collect();
    let files = timed(id, Stage::Deliver, "digest", async {
        let dest_dir = dest_dir.clone();
        blocking(move || {
            // Digests first: once the directory is in place nothing may fail the job.
            let mut files = Vec::with_capacity(staged.len());
            for (path, kind) in &staged {
                let d = deliver::digest(path).map_err(|e| io_error("cannot read", path, e))?;
                files.push(DeliveredFile {
                    path: dest_dir.join(path.file_name().unwrap_or_default()),
                    kind,
                    bytes: d.bytes,
                    sha256: d.sha256,
                });
            }
            files.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(files)
        })
        .await
    })
    .await?;
    delivered.directory = Some(dest_dir.clone());
    delivered.files = files;
    Ok(Placement::Dir {
        files: paths,
        dest: dest_dir,
    })
}

/// `name`, or `name` with `-2`, `-3`… before its extension if taken (one user publishing
/// twice within a second).
fn unique_name(taken: &mut std::collections::HashSet<String>, name: String) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) => (s.to_owned(), format!(".{e}")),
        None => (name.clone(), String::new()),
    };
    (2..)
        .map(|n| format!("{stem}-{n}{ext}"))
        .find(|candidate| taken.insert(candidate.clone()))
        .expect("some suffix is free")
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn delivery_error(dest: &Path, e: &std::io::Error) -> StageError {
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        already_exists(dest)
    } else {
        StageError::from_io(Stage::Deliver, "cannot deliver to", dest, e)
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StageError> + Send + 'static,
) -> Result<T, StageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StageError::system(Stage::Deliver, format!("delivery task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration whose directories exist, with `extra` TOML on top.
    fn config(dir: &Path, extra: &str) -> Config {
        let mut toml = String::from("[paths]\n");
        for (key, sub) in [
            ("video_root", "raw"),
            ("audio_root", "monitor"),
            ("work_dir", "work"),
            ("output_dir", "out"),
        ] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
            toml.push_str(&format!(
                "{key} = {:?}\n",
                dir.join(sub).display().to_string()
            ));
        }
        toml.push_str(extra);
        {
            use figment::providers::Format as _;
            Config::from_figment(figment::Figment::from(figment::providers::Toml::string(
                &toml,
            )))
        }
        .unwrap()
    }

    fn conference(id: &str, uuid: &str) -> Conference {
        Conference {
            conference_id: id.into(),
            uuid: uuid.into(),
            completed: None,
            recording_type: RecordingType::All,
            videos: Vec::new(),
            audio: None,
        }
    }

    #[test]
    fn a_name_too_long_is_refused_with_what_to_shorten() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), "[recording]\nfilename_format = \"{{uuid}}\"\n");
        let at = Timestamp::parse("2026-01-02T03:04:05.000Z").unwrap();
        let long = "u".repeat(250);
        let e = check_name_lengths(&config, &conference("c", &long), Mode::Merged, at).unwrap_err();
        assert_eq!(
            (e.stage, e.blame),
            (Stage::Validate, crate::pipeline::Blame::Input)
        );
        assert_eq!(
            e.message,
            format!("the name of recording.filename_format would be 263 bytes with recproc's working suffix (\"{long}.webm.partial\"); file names may have at most 255: shorten recording.filename_format or the IDs")
        );
        let e = check_name_lengths(
            &config,
            &conference(&"c".repeat(128), &"u".repeat(128)),
            Mode::Split,
            at,
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("the name of the split directory would be 257 bytes"),
            "{}",
            e.message
        );
        assert!(check_name_lengths(&config, &conference("c", "u"), Mode::Split, at).is_ok());
    }

    #[test]
    fn a_delivered_recording_is_never_overwritten() {
        let e = already_exists(Path::new("/out/rec.webm"));
        assert_eq!(
            (e.stage, e.blame),
            (Stage::Deliver, crate::pipeline::Blame::Input)
        );
        assert_eq!(
            e.message,
            "/out/rec.webm already exists: recproc never overwrites a delivered recording (move it away to process this event again)"
        );
        let taken = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
        assert_eq!(delivery_error(Path::new("/out/rec.webm"), &taken), e);
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let e = delivery_error(Path::new("/out/rec.webm"), &full);
        assert_eq!(
            (e.stage, e.blame),
            (Stage::Deliver, crate::pipeline::Blame::System)
        );
        assert_eq!(
            e.message,
            "cannot deliver to /out/rec.webm: No space left on device (os error 28)"
        );
    }

    #[test]
    fn names_taken_twice_get_a_suffix_before_the_extension() {
        let mut taken = std::collections::HashSet::new();
        assert_eq!(
            unique_name(&mut taken, "rec-1-u.webm".into()),
            "rec-1-u.webm"
        );
        assert_eq!(
            unique_name(&mut taken, "rec-1-u.webm".into()),
            "rec-1-u-2.webm"
        );
        assert_eq!(
            unique_name(&mut taken, "rec-1-u.webm".into()),
            "rec-1-u-3.webm"
        );
        assert_eq!(unique_name(&mut taken, "rec-1-v.mp4".into()), "rec-1-v.mp4");
    }
}
