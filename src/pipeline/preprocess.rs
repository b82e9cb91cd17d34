//! Preprocess: every video `.mjr` is checked, re-anchored where its RTP clock leapt,
//! converted by janus-pp-rec (tracks in parallel) and probed for where its first decodable
//! frame and its end really are; the mixed WAV is probed for its length. What comes out is
//! what the media says, for the planner. The steps every `.mjr` goes through (the walk, the
//! conversion, the probe, leaving a track out) are here too, for the participants' audio
//! tracks (`voices`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::try_join_all;

use crate::event::{AudioSource, Opened, TrackSource};
use crate::media::mjr::Kind;
use crate::media::{ffmpeg, janus, leap, mjr, probe};
use crate::pipeline::{
    budget, clear, commit, create_dir, partial_path, Blame, Cause, ToolSlots, Workspace,
};
use crate::plan::{self, AudioFacts, VideoFacts};

/// The longest a track's last frame is held past its timestamp.
pub(crate) const MAX_LAST_FRAME_HOLD_S: f64 = 1.0;

/// One converted video track.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Track {
    pub source: TrackSource,
    /// As the `.mjr` header names it.
    pub codec: String,
    /// The janus-pp-rec output.
    pub file: PathBuf,
    pub width: u32,
    pub height: u32,
    /// The file's first timestamp, in seconds of its own clock: ffmpeg reads the file as
    /// starting there.
    pub file_start: f64,
    /// Its keyframes, in seconds of its own clock: where a seek into it starts decoding.
    pub keyframes: Vec<f64>,
    /// Its picture size from the first keyframe on, and where it changes: (seconds of its
    /// own clock, width, height).
    pub sizes: Vec<(f64, u32, u32)>,
    /// The rotation it signals (clockwise degrees) and where that changes, in seconds after
    /// its first packet; empty without the video-orientation extension.
    pub rotations: Vec<(f64, u16)>,
    pub facts: VideoFacts,
}

/// The mixed audio, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Audio {
    pub source: AudioSource,
    /// As ffprobe names it (`pcm_s16le`, …).
    pub codec: String,
    pub facts: AudioFacts,
}

/// What the media at `path` says that recproc cannot use.
pub(super) fn unusable(path: &Path, problem: impl Into<String>) -> Cause {
    Cause::Media {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

/// A track left out of the recording, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Skipped {
    pub source: TrackSource,
    /// Video, or a participant's own audio.
    pub kind: Kind,
    /// As the `.mjr` header names it.
    pub codec: String,
    pub reason: String,
}

/// Converts and probes every video track, in parallel. A track with no decodable frame at all
/// is left out (it would show nothing) rather than failing everyone else's recording. No call
/// lasts more than `max` (`recording.max_duration`): the tools' time limits follow from it.
/// Gaps are found down to `max_freeze` seconds (`recording.max_freeze`), or
/// [`plan::SHORTEST_GAP_S`] if that is shorter.
pub(crate) async fn videos(
    slots: &ToolSlots,
    work: &Workspace,
    sources: &[TrackSource],
    (max, max_freeze): (Duration, f64),
) -> Result<(Vec<Track>, Vec<Skipped>), Cause> {
    // Tracks converted by an earlier attempt at this job are complete (committed) and kept.
    create_dir(&work.tracks())?;
    let prepared = try_join_all(
        sources
            .iter()
            .enumerate()
            .map(|(i, s)| video(slots, work, i, s, (max, max_freeze))),
    )
    .await?;
    Ok(kept_and_skipped(prepared))
}

/// The tracks prepared, and those left out.
pub(super) fn kept_and_skipped<T>(prepared: Vec<Result<T, Skipped>>) -> (Vec<T>, Vec<Skipped>) {
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for p in prepared {
        match p {
            Ok(t) => kept.push(t),
            Err(s) => skipped.push(s),
        }
    }
    (kept, skipped)
}

async fn video(
    slots: &ToolSlots,
    work: &Workspace,
    index: usize,
    source: &TrackSource,
    (max, max_freeze): (Duration, f64),
) -> Result<Result<Track, Skipped>, Cause> {
    let inspection = inspect(work, source, Kind::Video).await?;
    let codec = match inspection.header.video_codec() {
        Ok(codec) => codec,
        // Another participant's codec is never a reason to lose everyone's recording.
        Err(e @ mjr::MjrError::UnsupportedCodec { .. }) => {
            let codec = inspection.header.codec;
            return Ok(Err(skip(work, source, Kind::Video, codec, e.to_string())));
        }
        Err(e) => return Err(Cause::mjr(&source.path, e)),
    };

    log_leaps(work, source, &inspection.leaps);
    let file = work.track(index, codec.container_extension());
    // A megabyte of recording holds a second of video or more (8 Mbit/s at most), and no
    // call is longer than `max`: the tools get time for the lesser of the two.
    let size_mb = source.file.len() as f64 / 1e6;
    let timeout = budget(size_mb.min(max.as_secs_f64()), 5.0);
    convert(slots, work, source, &inspection.leaps, &file, timeout).await?;

    // Stream facts, keyframes and every frame's timestamp in one read; only keyframes are
    // decoded.
    let ours = [file.as_path()];
    let probed = probe_file(slots, (&file, &file), &ours, probe::Kind::Video, timeout).await?;
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
    let (interval, gaps) = plan::gaps(&probed.frames, plan::SHORTEST_GAP_S.min(max_freeze));
    // janus-pp-rec's WebM ends at the last frame's timestamp; like a player, keep that frame
    // on screen for one frame interval.
    let hold = match interval > 0.0 {
        true => interval,
        false => probed.mean_frame_interval("video").unwrap_or(0.0),
    }
    .min(MAX_LAST_FRAME_HOLD_S);
    let end = last + hold;
    let file_start = probed.start_time.unwrap_or(stream_start).min(stream_start);
    let Some(first_frame) = probed.first_keyframe() else {
        let reason = "no keyframe was recorded, so no frame of it can be decoded";
        let codec = inspection.header.codec;
        return Ok(Err(skip(
            work,
            source,
            Kind::Video,
            codec,
            reason.to_owned(),
        )));
    };
    Ok(Ok(Track {
        source: source.clone(),
        codec: inspection.header.codec,
        file,
        width,
        height,
        file_start,
        keyframes: probed.keyframes,
        sizes: probed.sizes,
        rotations: inspection.rotations,
        facts: VideoFacts {
            first_packet: inspection.header.first_packet,
            event_start: source.start,
            first_frame: first_frame.max(stream_start),
            end,
            event_stop: source.stop,
            gaps,
        },
    }))
}

/// Says which track is being processed, and walks its `.mjr` whole: its header, its
/// packets, where its RTP clock leapt.
pub(super) async fn inspect(
    work: &Workspace,
    source: &TrackSource,
    kind: Kind,
) -> Result<mjr::Inspection, Cause> {
    tracing::info!(
        conference_id = crate::logs::field(work.conference_id()),
        path = crate::logs::field(source.path.display()),
        user_id = crate::logs::field(&source.user_id),
        "Processing {}: {}",
        kind.as_str(),
        crate::logs::Inline(source.path.display())
    );
    let path = source.file.path();
    tokio::task::spawn_blocking(move || mjr::inspect(&path))
        .await
        .map_err(|e| Cause::System(format!("inspection task: {e}")))?
        .map_err(|e| Cause::mjr(&source.path, e))
}

/// Leaves `source` (of `kind`) out of the recording for `reason`, with a warning that says
/// so.
pub(super) fn skip(
    work: &Workspace,
    source: &TrackSource,
    kind: Kind,
    codec: String,
    reason: String,
) -> Skipped {
    tracing::warn!(
        conference_id = crate::logs::field(work.conference_id()),
        path = crate::logs::field(source.path.display()),
        user_id = crate::logs::field(&source.user_id),
        "Leaving {} out of the recording: {reason}.",
        match kind {
            Kind::Audio => "an audio track",
            _ => "a video",
        }
    );
    Skipped {
        source: source.clone(),
        kind,
        codec,
        reason,
    }
}

/// Says where a track's RTP clock leapt and how far, if it did.
pub(super) fn log_leaps(work: &Workspace, source: &TrackSource, leaps: &[leap::Leap]) {
    if leaps.is_empty() {
        return;
    }
    tracing::info!(
        conference_id = crate::logs::field(work.conference_id()),
        path = crate::logs::field(source.path.display()),
        user_id = crate::logs::field(&source.user_id),
        leaps = %leap::describe(leaps),
        "A track's RTP clock leapt: its timestamps are re-anchored to when its packets arrived."
    );
}

/// Writes the copy of the recording `from` (opened when the event was checked; `named` in
/// messages) whose RTP clock no longer leaps (see [`crate::media::leap`]) to `to`, whole or
/// not at all.
fn write_reanchored(from: &Opened, named: &Path, to: &Path) -> Result<(), Cause> {
    let partial = partial_path(to);
    clear(&partial)?;
    let input = from.reopen().map_err(Cause::read(named))?;
    let output = std::fs::File::create(&partial).map_err(Cause::io("cannot create", &partial))?;
    let writer = std::io::BufWriter::new(output);
    mjr::reanchor(std::io::BufReader::new(input), writer).map_err(|e| match e {
        // Reading or writing: the recording was read whole moments ago, so most likely the
        // copy (a full disk is told from the error's kind either way).
        mjr::MjrError::Io(source) => Cause::Io {
            doing: "cannot copy the recording, re-anchored, to",
            path: partial.clone(),
            source,
        },
        e => Cause::mjr(named, e),
    })?;
    commit(&partial, to)
}

/// Converts `source` into `file` with janus-pp-rec, unless an earlier attempt at this job
/// did (a committed track is complete). When its RTP clock `leaps`, janus-pp-rec converts a
/// re-anchored copy of it instead, written beside `file` and removed once converted.
pub(super) async fn convert(
    slots: &ToolSlots,
    work: &Workspace,
    source: &TrackSource,
    leaps: &[leap::Leap],
    file: &Path,
    timeout: Duration,
) -> Result<(), Cause> {
    if file.exists() {
        tracing::info!(
            conference_id = crate::logs::field(work.conference_id()),
            path = crate::logs::field(source.path.display()),
            "Reusing the track an earlier attempt converted."
        );
        return Ok(());
    }
    let copy = (!leaps.is_empty()).then(|| file.with_extension("mjr"));
    if let Some(copy) = &copy {
        let (from, named, to) = (source.file.clone(), source.path.clone(), copy.clone());
        tokio::task::spawn_blocking(move || write_reanchored(&from, &named, &to))
            .await
            .map_err(|e| Cause::System(format!("re-anchoring task: {e}")))??;
    }
    let partial = partial_path(file);
    clear(&partial)?;
    // The recording as opened when the event was checked, or recproc's re-anchored copy.
    let read = copy.clone().unwrap_or_else(|| source.file.path());
    let converting = janus::convert(&read, &partial);
    let converted = slots.run(&converting, timeout).await;
    let tracks = partial.parent().unwrap_or(&partial);
    let ours: Vec<&Path> = copy.iter().map(PathBuf::as_path).chain([tracks]).collect();
    janus::judge(converted).map_err(|e| {
        Cause::tool_on(Blame::Input, &ours)(e)
            .doing(format_args!("converting {}", source.path.display()))
    })?;
    commit(&partial, file)?;
    copy.map_or(Ok(()), |copy| clear(&copy))
}

/// Probes the file at `read`, `named` so in messages; `ours` is what of it recproc made in
/// the work directory (see [`Cause::tool_on`]).
pub(super) async fn probe_file(
    slots: &ToolSlots,
    (read, named): (&Path, &Path),
    ours: &[&Path],
    kind: probe::Kind,
    timeout: Duration,
) -> Result<probe::Probe, Cause> {
    let out = ffmpeg::judge(slots.run(&probe::invocation(read, kind), timeout).await)
        .map_err(Cause::tool_on(Blame::Input, ours))?;
    probe::parse(&out.stdout).map_err(|e| unusable(named, e))
}

/// Checks the mixed WAV and measures it.
pub(crate) async fn audio(slots: &ToolSlots, source: &AudioSource) -> Result<Audio, Cause> {
    let read = source.file.path();
    let probed = probe_file(
        slots,
        (&read, &source.path),
        &[],
        probe::Kind::Wav,
        budget(0.0, 0.0),
    )
    .await
    .map_err(|e| {
        // The tool names the opened file (/proc/…): say which file that is.
        let named = source.path.display();
        e.doing(format_args!("the mixed audio {named} is unreadable"))
    })?;
    let (_, end) = probed.span("audio").ok_or_else(|| {
        unusable(
            &source.path,
            "holds no audio stream (expected the audiomixer's WAV)",
        )
    })?;
    let codec = probed
        .first("audio")
        .map(|a| a.codec_name.clone())
        .unwrap_or_default();
    Ok(Audio {
        source: source.clone(),
        codec,
        facts: AudioFacts {
            start: source.start,
            duration: end,
            event_stop: source.stop,
        },
    })
}
