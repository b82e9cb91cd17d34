//! One conference through every stage, in order, with each stage's time logged.

use std::future::Future;
use std::path::PathBuf;
use std::time::Instant;

use crate::config::Config;
use crate::event::{Conference, RecordingType};
use crate::media::ffmpeg::Encoding;
use crate::names::NameValues;
use crate::pipeline::preprocess::{self, Audio, Skipped, Track};
use crate::pipeline::{deliver, render, Runner, Stage, StageError, Workspace};
use crate::plan::{self, PlanTrack, Span};
use crate::timestamp::Timestamp;

/// How the recording was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Merged,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Merged => "merged",
        }
    }
}

/// A file placed in the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredFile {
    pub path: PathBuf,
    pub kind: &'static str,
    pub bytes: u64,
    pub sha256: String,
}

/// What a successful run produced and what it was made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub mode: Mode,
    /// t=0 of the output and its length in seconds (`None` when nothing was recorded).
    pub origin: Option<Timestamp>,
    pub duration: f64,
    pub should_record_audio: bool,
    pub should_record_video: bool,
    /// Each converted video track with where it shows on the output (`None`: not shown).
    pub tracks: Vec<(Track, Option<Span>)>,
    pub audio: Option<Audio>,
    /// Video tracks left out because nothing in them could be shown.
    pub skipped: Vec<Skipped>,
    pub files: Vec<DeliveredFile>,
}

/// The longest file name common filesystems accept.
const MAX_NAME_BYTES: usize = 255;

fn already_exists(dest: &std::path::Path) -> StageError {
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

/// Runs every stage for `conference`, writing intermediates under `work`.
pub async fn run(
    config: &Config,
    runner: &Runner,
    conference: &Conference,
    work: &Workspace,
) -> Result<Delivered, StageError> {
    let id = conference.conference_id.as_str();
    let rec = &config.recording;
    let keep_audio = conference.recording_type.should_record_audio();
    let keep_video = conference.recording_type.should_record_video();
    let video_sources = if keep_video {
        conference.videos.clone()
    } else {
        Vec::new()
    };
    let audio_source = conference.audio.clone().filter(|_| keep_audio);
    let mut delivered = Delivered {
        mode: Mode::Merged,
        origin: None,
        duration: 0.0,
        should_record_audio: keep_audio,
        should_record_video: keep_video,
        tracks: Vec::new(),
        audio: None,
        skipped: Vec::new(),
        files: Vec::new(),
    };
    if conference.recording_type == RecordingType::None {
        tracing::info!(
            conference_id = id,
            "The recording type is none: nothing to render."
        );
        return Ok(delivered);
    }
    // The name's length does not depend on the instant: check it before any work.
    let provisional = merged_name(config, conference, Timestamp::from_micros(0));
    if provisional.len() > MAX_NAME_BYTES {
        return Err(StageError::input(
            Stage::Validate,
            format!(
                "the output name would be {} bytes ({provisional:?}); file names may have at most {MAX_NAME_BYTES}: shorten recording.filename_format or the IDs",
                provisional.len()
            ),
        ));
    }
    if video_sources.is_empty() && audio_source.is_none() {
        return Err(StageError::input(
            Stage::Validate,
            "the event names no media to record: no video tracks and no audio",
        ));
    }

    let ((tracks, skipped), audio) = timed(id, Stage::Preprocess, "convert", async {
        let videos = preprocess::videos(runner, work, &video_sources);
        let audio = async {
            match &audio_source {
                Some(a) => preprocess::audio(runner, a).await.map(Some),
                None => Ok(None),
            }
        };
        tokio::try_join!(videos, audio)
    })
    .await?;

    // Plan.
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
    let canvas = (rec.width, rec.height);
    let layout = plan::plan(timeline.duration, &plan_tracks, canvas.0, canvas.1);
    // The configuration refuses settings that always mean split output; what remains is a
    // conference with more videos at once than the layout may show.
    let limit = rec.mix_limit as usize;
    if layout.max_visible > limit {
        return Err(StageError::input(
            Stage::Plan,
            format!(
                "{} videos are visible at once but mix_limit is {}: this conference needs split output, which this version of recproc does not produce yet",
                layout.max_visible, rec.mix_limit
            ),
        ));
    }
    tracing::info!(
        conference_id = id,
        duration_s = layout.duration(),
        intervals = layout.intervals.len(),
        tracks = layout.cuts.len(),
        max_visible = layout.max_visible,
        "Planned the merged layout."
    );

    // Never render what could not be delivered: recproc does not overwrite recordings.
    let name = merged_name(config, conference, timeline.origin);
    let dest = config.paths.output_dir.join(&name);
    if dest.exists() {
        return Err(already_exists(&dest));
    }

    let encoding = Encoding {
        codec: rec.video_codec,
        quality: rec.quality,
        threads: runner.cores(),
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
            render::slices(runner, work, &layout, &tracks, &timeline.anchors, canvas),
        )
        .await?;
        let parts = timed(
            id,
            Stage::Render,
            "layout",
            render::intervals(runner, work, &layout, canvas, encoding),
        )
        .await?;
        Some(
            timed(
                id,
                Stage::Concat,
                "concat",
                render::concat(runner, work, &parts, duration),
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
            runner,
            video.as_deref(),
            audio.as_ref().map(|a| a.source.path.as_path()),
            duration,
            &encoding,
            &muxed,
        ),
    )
    .await?;

    let file = timed(id, Stage::Deliver, "place", async {
        let (muxed, dest) = (muxed.clone(), dest.clone());
        tokio::task::spawn_blocking(move || {
            let digested = deliver::digest(&muxed)
                .map_err(|e| StageError::from_io(Stage::Deliver, "cannot read", &muxed, &e))?;
            deliver::place(&muxed, &dest).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    already_exists(&dest)
                } else {
                    StageError::from_io(Stage::Deliver, "cannot deliver to", &dest, &e)
                }
            })?;
            Ok(DeliveredFile {
                path: dest,
                kind: "merged",
                bytes: digested.bytes,
                sha256: digested.sha256,
            })
        })
        .await
        .map_err(|e| StageError::system(Stage::Deliver, format!("delivery task: {e}")))?
    })
    .await?;

    delivered.origin = Some(timeline.origin);
    delivered.duration = duration;
    delivered.tracks = tracks
        .into_iter()
        .zip(timeline.tracks.iter().copied())
        .collect();
    delivered.audio = audio;
    delivered.skipped = skipped;
    delivered.files.push(file);
    Ok(delivered)
}
