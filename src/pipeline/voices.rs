//! Preprocess for the participants' own audio tracks (Janus-only conferences, SPEC.md
//! "Conference-ended event"): each `.mjr` checked, re-anchored where its RTP clock leapt,
//! converted by janus-pp-rec as it was recorded (Opus → Ogg Opus, G.711/G.722 → WAV) and, for
//! Opus, once more into Matroska, which dates every packet, to be mixed; tracks in parallel;
//! and measured: its length, its channels, and where its sender went quiet (from the
//! packets' RTP timestamps). Where it sits on the output is the timeline's business.

use std::path::PathBuf;
use std::time::Duration;

use futures::future::try_join_all;

use crate::event::TrackSource;
use crate::media::mjr::{self, Kind};
use crate::media::probe;
use crate::pipeline::preprocess::{
    convert, inspect, kept_and_skipped, log_leaps, probe_file, skip, unusable, Skipped,
};
use crate::pipeline::{budget, create_dir, Blame, Cause, ToolSlots, Workspace};
use crate::plan::{self, VoiceFacts};

/// One participant's own audio track, converted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Voice {
    pub source: TrackSource,
    /// As the `.mjr` header names it.
    pub codec: String,
    /// janus-pp-rec's output to be mixed, media time 0 at its first packet.
    pub file: PathBuf,
    /// The format of `file` (`matroska` or `wav`), the only one it is read as.
    pub format: &'static str,
    /// janus-pp-rec's output as recorded (`.opus` or `.wav`), which split mode delivers: for
    /// WAV, `file` itself.
    pub recorded: PathBuf,
    /// Its channels (janus-pp-rec writes Opus as stereo).
    pub channels: u32,
    pub facts: VoiceFacts,
}

/// Converts and measures every participant's audio track, in parallel. A track in a codec
/// recproc cannot convert, or in which nothing was recorded, is left out (and said so) rather
/// than failing the recording; when the tracks are `extra` (the audiomixer's WAV is the
/// call's audio), so is one the input spoilt in any way. No call lasts more than `max`
/// (`recording.max_duration`): the tools' time limits follow from it.
pub(crate) async fn voices(
    slots: &ToolSlots,
    work: &Workspace,
    sources: &[TrackSource],
    (max, extra): (Duration, bool),
) -> Result<(Vec<Voice>, Vec<Skipped>), Cause> {
    if sources.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    create_dir(&work.tracks())?;
    let prepared = try_join_all(sources.iter().enumerate().map(|(i, s)| async move {
        match voice(slots, work, i, s, max).await {
            Err(cause) if spares(&cause, extra) => {
                let reason = cause.to_string();
                Ok(Err(skip(work, s, Kind::Audio, String::new(), reason)))
            }
            done => done,
        }
    }))
    .await?;
    Ok(kept_and_skipped(prepared))
}

/// Whether a voice that failed with `cause` is left out rather than failing the recording:
/// nothing was recorded in it, or it is `extra` and the input's fault.
fn spares(cause: &Cause, extra: bool) -> bool {
    let empty = matches!(
        cause,
        Cause::Mjr {
            error: mjr::MjrError::Empty,
            ..
        }
    );
    empty || (extra && cause.blame() == Blame::Input)
}

async fn voice(
    slots: &ToolSlots,
    work: &Workspace,
    index: usize,
    source: &TrackSource,
    max: Duration,
) -> Result<Result<Voice, Skipped>, Cause> {
    let inspection = inspect(work, source, Kind::Audio).await?;
    let codec = match inspection.header.voice_codec() {
        Ok(codec) => codec,
        Err(e @ mjr::MjrError::UnsupportedCodec { .. }) => {
            let codec = inspection.header.codec;
            return Ok(Err(skip(work, source, Kind::Audio, codec, e.to_string())));
        }
        Err(e) => return Err(Cause::mjr(&source.path, e)),
    };
    log_leaps(work, source, &inspection.leaps);
    let (extension, format) = codec.mix_container();
    let file = work.voice(index, extension);
    let recorded = work.voice(index, codec.container_extension());
    // Packets are written as they arrive: the last one's time is about the track's length.
    let seconds = f64::from(inspection.last_packet_ms) / 1000.0;
    let timeout = budget(seconds.min(max.as_secs_f64()), 2.0);
    convert(slots, work, source, &inspection.leaps, &file, timeout).await?;
    if recorded != file {
        convert(slots, work, source, &inspection.leaps, &recorded, timeout).await?;
    }

    // Measured on the file as recorded: janus-pp-rec's Matroska states a longer duration
    // than its packets last (10.6 s for 9.66 s of packets in a real recording); an Ogg
    // stream ends at its last granule, a WAV at its last sample.
    let ours = [recorded.as_path()];
    let read = (recorded.as_path(), recorded.as_path());
    let probed = probe_file(slots, read, &ours, probe::Kind::Voice, timeout).await?;
    let stream = probed
        .first("audio")
        .ok_or_else(|| unusable(&source.path, "janus-pp-rec produced no audio stream"))?;
    let channels = stream.channels.filter(|&c| c > 0).unwrap_or(1);
    let (_, end) = probed
        .span("audio")
        .ok_or_else(|| unusable(&source.path, "the converted audio has no samples"))?;
    let (_, gaps) = plan::gaps(&inspection.audio_times, plan::SHORTEST_GAP_S);
    Ok(Ok(Voice {
        source: source.clone(),
        codec: inspection.header.codec,
        file,
        format,
        recorded,
        channels,
        facts: VoiceFacts {
            first_packet: inspection.header.first_packet,
            event_start: source.start,
            duration: end,
            event_stop: source.stop,
            gaps,
        },
    }))
}
