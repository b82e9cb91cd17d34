//! Preprocess for the participants' own audio tracks (Janus-only conferences, SPEC.md
//! "Conference-ended event"): each `.mjr` checked, re-anchored where its RTP clock leapt,
//! converted by janus-pp-rec as it was recorded (Opus → Ogg Opus, G.711/G.722 → WAV), tracks
//! in parallel, and measured: its length, its channels, and where its sender went quiet (from
//! the packets' RTP timestamps). Where it sits on the output is the timeline's business.

use std::path::PathBuf;
use std::time::Duration;

use futures::future::try_join_all;

use crate::event::TrackSource;
use crate::media::mjr::{self, Kind};
use crate::media::probe;
use crate::pipeline::preprocess::{
    convert, inspect, log_leaps, probe_file, skip, unusable, Skipped,
};
use crate::pipeline::{budget, create_dir, Cause, ToolSlots, Workspace};
use crate::plan::{self, VoiceFacts};

/// One participant's own audio track, converted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Voice {
    pub source: TrackSource,
    /// As the `.mjr` header names it.
    pub codec: String,
    /// The janus-pp-rec output, media time 0 at its first packet.
    pub file: PathBuf,
    /// The format janus-pp-rec wrote (`ogg` or `wav`), the only one it is read as.
    pub format: &'static str,
    /// Its channels (janus-pp-rec writes Opus as stereo).
    pub channels: u32,
    pub facts: VoiceFacts,
}

/// Converts and measures every participant's audio track, in parallel. A track in a codec
/// recproc cannot convert is left out (and said so) rather than failing the recording. No
/// call lasts more than `max` (`recording.max_duration`): the tools' time limits follow from
/// it.
pub(crate) async fn voices(
    slots: &ToolSlots,
    work: &Workspace,
    sources: &[TrackSource],
    max: Duration,
) -> Result<(Vec<Voice>, Vec<Skipped>), Cause> {
    if sources.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    create_dir(&work.tracks())?;
    let prepared = try_join_all(
        sources
            .iter()
            .enumerate()
            .map(|(i, s)| voice(slots, work, i, s, max)),
    )
    .await?;
    let mut voices = Vec::new();
    let mut skipped = Vec::new();
    for p in prepared {
        match p {
            Ok(v) => voices.push(v),
            Err(s) => skipped.push(s),
        }
    }
    Ok((voices, skipped))
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
    let extension = codec.container_extension();
    let file = work.voice(index, extension);
    // Packets are written as they arrive: the last one's time is about the track's length.
    let seconds = f64::from(inspection.last_packet_ms) / 1000.0;
    let timeout = budget(seconds.min(max.as_secs_f64()), 2.0);
    convert(slots, work, source, &inspection.leaps, &file, timeout).await?;

    let ours = [file.as_path()];
    let probed = probe_file(slots, (&file, &file), &ours, probe::Kind::Voice, timeout).await?;
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
        format: match extension {
            "opus" => "ogg",
            _ => "wav",
        },
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
