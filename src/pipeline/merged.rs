//! Merged mode: the layout rendered in ranges, the ranges joined and the call's audio (the
//! audiomixer's WAV, or the participants' own tracks mixed) muxed in; one file, sealed,
//! delivered under `filename_format`.

use crate::event::TrackSource;
use crate::media::ffmpeg::{Encoding, Sound};
use crate::pipeline::deliver::{Delivered, DeliveredFile, FileKind, MediaEntry, Placement};
use crate::pipeline::mux::mux;
use crate::pipeline::seal::{seal, Plaintext};
use crate::pipeline::target::MergedTarget;
use crate::pipeline::{budget, render, seekable, step, Material, Stage, StageError};
use crate::plan::{Plan, Span};

/// Renders and muxes the recording, seals it, and says how to place it.
pub(crate) async fn merged(
    m: &Material<'_>,
    layout: &Plan,
    target: &MergedTarget,
    delivered: &mut Delivered,
) -> Result<Placement, StageError> {
    let id = m.conference.conference_id.as_str();
    let rec = &m.config.recording;
    let encoding = Encoding {
        codec: rec.video_codec,
        quality: rec.quality,
        fps: rec.fps,
        threads: m.slots.cores(),
    };
    let voices = m.mix_inputs();
    let has_video = !layout.shown.is_empty() || (m.audio.is_none() && voices.is_empty());
    let duration = match has_video {
        true => layout.duration(),
        false => m.timeline.duration,
    };
    let parts = match has_video {
        true => video(m, layout, encoding).await?,
        false => Vec::new(),
    };
    let muxed = m.work.output().join(&target.name);
    // The mixed audio is read through the file opened when the event was checked.
    let wav = m.audio.as_ref().map(|a| a.source.file.path());
    let sound = match (&wav, voices.is_empty()) {
        (Some(wav), _) => Sound::Wav(wav),
        (None, false) => Sound::Voices(&voices),
        (None, true) => Sound::Silent,
    };
    let muxing = mux(m.slots, m.work, &parts, sound, duration, &encoding, &muxed);
    step(id, Stage::Mux, "mux", muxing).await?;

    let key = m.config.encryption.as_ref();
    let sealed = seal(id, key, muxed, Plaintext::Keep).await?;
    delivered.duration = duration;
    delivered.videos = sources(m, duration);
    delivered.voices = voice_sources(m, duration);
    delivered.audio = m.audio.as_ref().map(|a| MediaEntry {
        path: a.source.path.clone(),
        user_id: None,
        start: m.timeline.origin,
        stop: m
            .timeline
            .origin
            .add_seconds(a.facts.duration.min(duration)),
        bytes: a.source.file.len(),
    });
    delivered.files.push(DeliveredFile {
        path: target.dest.clone(),
        kind: FileKind::Merged,
        bytes: sealed.digest.bytes,
        sha256: sealed.digest.sha256,
    });
    Ok(Placement::File {
        from: sealed.path,
        to: target.dest.clone(),
    })
}

/// The video of the layout, rendered in ranges: the parts in order.
async fn video(
    m: &Material<'_>,
    layout: &Plan,
    encoding: Encoding,
) -> Result<Vec<std::path::PathBuf>, StageError> {
    let id = m.conference.conference_id.as_str();
    let canvas = (m.config.recording.width, m.config.recording.height);
    let (slots, work) = (m.slots, m.work);
    // A stream copy takes well under a second per minute of media.
    let indexing = seekable::tracks(slots, work, &m.tracks, budget(layout.duration(), 0.5));
    let tracks = step(id, Stage::Render, "seekable tracks", indexing).await?;
    let max_freeze = m.config.recording.max_freeze;
    let rendering = render::ranges(
        slots,
        work,
        layout,
        (&tracks, &m.timeline),
        (canvas, max_freeze),
        encoding,
    );
    step(id, Stage::Render, "render", rendering).await
}

/// The participants' audio tracks mixed in, as placed on the timeline, for the metadata.
fn voice_sources(m: &Material<'_>, duration: f64) -> Vec<MediaEntry> {
    if m.audio.is_some() {
        return Vec::new();
    }
    let spans = m.timeline.voices.iter().map(|p| p.as_ref().map(|p| p.span));
    let sources = m.voices.iter().map(|v| &v.source);
    placed(m, sources.zip(spans), duration)
}

/// The source tracks as placed on the timeline, for the metadata.
fn sources(m: &Material<'_>, duration: f64) -> Vec<MediaEntry> {
    let spans = m.timeline.tracks.iter().map(|p| p.as_ref().map(|p| p.span));
    let sources = m.tracks.iter().map(|t| &t.source);
    placed(m, sources.zip(spans), duration)
}

/// Each source with its span on the output (none: nothing of it is on the output), as the
/// metadata lists it, within an output `duration` seconds long.
fn placed<'a>(
    m: &Material<'_>,
    tracks: impl Iterator<Item = (&'a TrackSource, Option<Span>)>,
    duration: f64,
) -> Vec<MediaEntry> {
    let origin = m.timeline.origin;
    tracks
        .filter_map(|(source, span)| {
            let span = span?;
            Some(MediaEntry {
                path: source.path.clone(),
                user_id: Some(source.user_id.clone()),
                start: origin.add_seconds(span.start),
                stop: origin.add_seconds(span.end.min(duration)),
                bytes: source.file.len(),
            })
        })
        .collect()
}
