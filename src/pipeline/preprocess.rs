//! Preprocess: every video `.mjr` is checked, converted by janus-pp-rec (tracks in parallel)
//! and probed for where its first decodable frame and its end really are; the mixed WAV is
//! probed for its length. What comes out is what the media says, for the planner.

use std::path::{Path, PathBuf};

use futures::future::try_join_all;

use crate::event::{AudioSource, VideoSource};
use crate::media::{ffmpeg, janus, mjr, probe};
use crate::pipeline::{
    budget, clear, commit, create_dir, partial_path, Blame, Cause, ToolSlots, Workspace,
};
use crate::plan::{AudioFacts, VideoFacts};

/// The longest a track's last frame is held past its timestamp.
pub(crate) const MAX_LAST_FRAME_HOLD_S: f64 = 1.0;

/// One converted video track.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Track {
    pub source: VideoSource,
    /// The janus-pp-rec output.
    pub file: PathBuf,
    pub width: u32,
    pub height: u32,
    /// The file's first timestamp, in seconds of its own clock: ffmpeg reads the file as
    /// starting there.
    pub file_start: f64,
    pub facts: VideoFacts,
}

/// The mixed audio, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Audio {
    pub source: AudioSource,
    pub facts: AudioFacts,
}

/// What the media at `path` says that recproc cannot use.
fn unusable(path: &Path, problem: impl Into<String>) -> Cause {
    Cause::Media {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

/// A track left out of the recording, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Skipped {
    pub source: VideoSource,
    pub reason: String,
}

/// Converts and probes every video track, in parallel. A track with no decodable frame at all
/// is left out (it would show nothing) rather than failing everyone else's recording.
pub(crate) async fn videos(
    slots: &ToolSlots,
    work: &Workspace,
    sources: &[VideoSource],
) -> Result<(Vec<Track>, Vec<Skipped>), Cause> {
    // Tracks converted by an earlier attempt at this job are complete (committed) and kept.
    create_dir(&work.tracks())?;
    let prepared = try_join_all(
        sources
            .iter()
            .enumerate()
            .map(|(i, s)| video(slots, work, i, s)),
    )
    .await?;
    let mut tracks = Vec::new();
    let mut skipped = Vec::new();
    for p in prepared {
        match p {
            Ok(t) => tracks.push(t),
            Err(s) => skipped.push(s),
        }
    }
    Ok((tracks, skipped))
}

async fn video(
    slots: &ToolSlots,
    work: &Workspace,
    index: usize,
    source: &VideoSource,
) -> Result<Result<Track, Skipped>, Cause> {
    tracing::info!(
        conference_id = crate::logs::field(work.conference_id()),
        path = crate::logs::field(source.path.display()),
        user_id = crate::logs::field(&source.user_id),
        "Processing video: {}",
        crate::logs::Inline(source.path.display())
    );
    let path = source.path.clone();
    let inspection = tokio::task::spawn_blocking(move || mjr::inspect(&path))
        .await
        .map_err(|e| Cause::System(format!("inspection task: {e}")))?
        .map_err(|e| Cause::mjr(&source.path, e))?;
    let codec = inspection
        .header
        .video_codec()
        .map_err(|e| Cause::mjr(&source.path, e))?;

    let file = work.track(index, codec.container_extension());
    let size_mb = std::fs::metadata(&source.path).map_or(0, |m| m.len()) as f64 / 1e6;
    convert(slots, work, source, &file, size_mb).await?;

    // Stream facts and keyframes in one read; only keyframes are decoded.
    let probed = probe_file(slots, &file, probe::Kind::Video, budget(size_mb, 5.0)).await?;
    let stream = probed
        .first("video")
        .ok_or_else(|| unusable(&source.path, "janus-pp-rec produced no video stream"))?;
    let (width, height) = match (stream.width, stream.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => return Err(unusable(&source.path, "the video has no picture size")),
    };
    let (stream_start, last) = probed
        .span("video")
        .ok_or_else(|| unusable(&source.path, "the converted video has no frames"))?;
    // janus-pp-rec's WebM ends at the last frame's timestamp; like a player, keep that frame
    // on screen for one frame interval.
    let hold = probed
        .mean_frame_interval("video")
        .unwrap_or(0.0)
        .min(MAX_LAST_FRAME_HOLD_S);
    let end = last + hold;
    let file_start = probed.start_time.unwrap_or(stream_start).min(stream_start);
    let Some(first_frame) = probed.first_keyframe else {
        let reason = "no keyframe was recorded, so no frame of it can be decoded".to_owned();
        tracing::warn!(
            conference_id = crate::logs::field(work.conference_id()),
            path = crate::logs::field(source.path.display()),
            user_id = crate::logs::field(&source.user_id),
            "Leaving a video out of the recording: {reason}."
        );
        return Ok(Err(Skipped {
            source: source.clone(),
            reason,
        }));
    };
    Ok(Ok(Track {
        source: source.clone(),
        file,
        width,
        height,
        file_start,
        facts: VideoFacts {
            first_packet: inspection.header.first_packet,
            first_frame: first_frame.max(stream_start),
            end,
            event_stop: source.stop,
        },
    }))
}

/// Converts `source` into `file` with janus-pp-rec, unless an earlier attempt at this job
/// did (a committed track is complete).
async fn convert(
    slots: &ToolSlots,
    work: &Workspace,
    source: &VideoSource,
    file: &Path,
    size_mb: f64,
) -> Result<(), Cause> {
    if file.exists() {
        tracing::info!(
            conference_id = crate::logs::field(work.conference_id()),
            path = crate::logs::field(source.path.display()),
            "Reusing the track an earlier attempt converted."
        );
        return Ok(());
    }
    let partial = partial_path(file);
    clear(&partial)?;
    let converting = janus::convert(&source.path, &partial);
    let converted = slots.run(&converting, budget(size_mb, 5.0)).await;
    janus::judge(converted).map_err(|e| {
        Cause::tool(Blame::Input)(e).doing(format_args!("converting {}", source.path.display()))
    })?;
    commit(&partial, file)
}

async fn probe_file(
    slots: &ToolSlots,
    file: &Path,
    kind: probe::Kind,
    timeout: std::time::Duration,
) -> Result<probe::Probe, Cause> {
    let out = ffmpeg::judge(slots.run(&probe::invocation(file, kind), timeout).await)
        .map_err(Cause::tool(Blame::Input))?;
    probe::parse(&out.stdout).map_err(|e| unusable(file, e))
}

/// Checks the mixed WAV and measures it.
pub(crate) async fn audio(slots: &ToolSlots, source: &AudioSource) -> Result<Audio, Cause> {
    let probed = probe_file(slots, &source.path, probe::Kind::Wav, budget(0.0, 0.0))
        .await
        .map_err(|e| e.doing("the mixed audio is unreadable"))?;
    let (_, end) = probed.span("audio").ok_or_else(|| {
        unusable(
            &source.path,
            "holds no audio stream (expected the audiomixer's WAV)",
        )
    })?;
    Ok(Audio {
        source: source.clone(),
        facts: AudioFacts {
            start: source.start,
            duration: end,
            event_stop: source.stop,
        },
    })
}
