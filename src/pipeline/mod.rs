//! The staged pipeline of one conference: preprocess → plan → render → mux (which joins the
//! rendered ranges) → encrypt → deliver. Each stage is its own module, each mode too ([`merged`], [`split`]);
//! this one runs them in order ([`run`]) and owns what they share: the bound on parallel
//! tools, tool time limits, and the timing of each step. [`bounds`] refuses a call longer
//! than `recording.max_duration` before anything is rendered, so every length a tool's time
//! limit is derived from is bounded.

mod account;
mod bounds;
pub mod deliver;
pub mod encrypt;
mod error;
mod merged;
mod mux;
mod preprocess;
mod render;
mod seal;
mod seekable;
mod split;
mod target;
mod voices;
mod workspace;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::config::{Config, MAX_DURATION_LIMIT};
use crate::event::{Conference, RecordingType};
use crate::media::mix::{self, VoiceInput};
use crate::plan::{self, Mode, Plan, PlanTrack, Timeline};
use crate::process::{self, Finished, Invocation, ProcessError};
use crate::report::{self, Processed};
use deliver::{Delivered, Record};
use preprocess::{Audio, Skipped, Track};
use target::Target;
use voices::Voice;

pub(crate) use error::{AtStage, InStage};
pub use error::{Blame, Stage};
pub(crate) use error::{Cause, StageError};
pub(crate) use workspace::{clear, commit, create_dir, fresh_dir, partial_path, Workspace};

/// How many tools run at once, shared by every stage of a job (and, in the daemon, by every
/// job): one per core.
#[derive(Debug, Clone)]
pub struct ToolSlots {
    limit: Arc<Semaphore>,
    cores: usize,
}

impl ToolSlots {
    pub(crate) fn new(cores: usize) -> Self {
        let cores = cores.max(1);
        ToolSlots {
            limit: Arc::new(Semaphore::new(cores)),
            cores,
        }
    }

    /// One tool per core of this machine.
    pub fn for_this_machine() -> Self {
        ToolSlots::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    pub(crate) fn cores(&self) -> usize {
        self.cores
    }

    /// Threads each of `jobs` parallel tools should use so that together they fill the
    /// machine without oversubscribing it.
    pub(crate) fn threads_for(&self, jobs: usize) -> usize {
        (self.cores / jobs.clamp(1, self.cores)).max(1)
    }

    /// Runs `inv` to its exit once a slot is free; the tool's module reads what it means.
    pub(crate) async fn run(
        &self,
        inv: &Invocation,
        timeout: Duration,
    ) -> Result<Finished, ProcessError> {
        let _permit = self
            .limit
            .acquire()
            .await
            .expect("the tool slots' semaphore is never closed");
        tracing::debug!(command = crate::logs::field(inv.display()), "Running tool.");
        let run = process::run_to_exit(inv, timeout).await;
        if !run.as_ref().is_ok_and(|done| done.status.success()) {
            crate::metrics::tool_failed(&inv.program);
        }
        run
    }
}

/// A generous time limit for a tool working on `media_seconds` of media: tools that hang are
/// killed, slow machines are not punished. Callers pass lengths bounded by
/// `recording.max_duration` (the planned output, or a file's size capped by it); whatever
/// they pass, no limit is derived from more than the largest bound the configuration
/// accepts.
pub(crate) fn budget(media_seconds: f64, seconds_per_media_second: f64) -> Duration {
    let media = media_seconds.max(0.0).min(MAX_DURATION_LIMIT.as_secs_f64());
    Duration::from_secs_f64(120.0 + media * seconds_per_media_second.max(0.0))
}

/// Runs one step of `stage`, logs how long it took, and names the stage in its error (an
/// inner step's error keeps its own stage).
pub(crate) async fn step<T, E: InStage>(
    conference_id: &str,
    stage: Stage,
    step: &str,
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, StageError> {
    let started = Instant::now();
    let out = f.await.at(stage);
    crate::metrics::stage_took(stage.as_str(), started.elapsed());
    let out = out?;
    tracing::info!(
        conference_id = crate::logs::field(conference_id),
        stage = stage.as_str(),
        step,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "Stage finished."
    );
    Ok(out)
}

/// Runs blocking file work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Cause> + Send + 'static,
) -> Result<T, Cause> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Cause::System(format!("file task: {e}")))?
}

/// What every mode works from: the job, and what preprocessing and planning found.
pub(crate) struct Material<'a> {
    pub(crate) config: &'a Config,
    pub(crate) slots: &'a ToolSlots,
    pub(crate) conference: &'a Conference,
    pub(crate) work: &'a Workspace,
    pub(crate) timeline: Timeline,
    pub(crate) tracks: Vec<Track>,
    /// The participants' own audio tracks.
    pub(crate) voices: Vec<Voice>,
    /// The audiomixer's WAV: when there is one, the call's audio.
    pub(crate) audio: Option<Audio>,
}

impl Material<'_> {
    /// The participants' audio tracks that make the call's audio, as the mix reads them:
    /// when there is no audiomixer's WAV, those of which something falls inside the output,
    /// in pieces (see [`mix::pieces`]), each where it falls.
    pub(crate) fn mix_inputs(&self) -> Vec<VoiceInput<'_>> {
        if self.audio.is_some() {
            return Vec::new();
        }
        let placed = self.voices.iter().zip(&self.timeline.voices);
        placed
            .filter_map(|(v, placed)| Some((v, placed.as_ref()?.anchor)))
            .flat_map(|(v, anchor)| {
                let pieces = mix::pieces(&v.facts.gaps, mix::LONG_SILENCE_S);
                pieces.into_iter().map(move |(from, to)| VoiceInput {
                    file: &v.file,
                    format: v.format,
                    channels: v.channels,
                    from,
                    to,
                    at: anchor + from,
                })
            })
            .collect()
    }
}

/// Runs every stage for `conference`, writing intermediates under `work`, and delivers,
/// writing `record`'s receipt; returns the processed event.
pub(crate) async fn run(
    config: &Config,
    slots: &ToolSlots,
    conference: &Conference,
    work: &Workspace,
    record: Record<'_>,
) -> Result<Processed, StageError> {
    let started = Instant::now();
    let mut delivered = nothing_yet(config, conference);
    if conference.recording_type == RecordingType::None {
        nothing_recorded(config, conference, &mut delivered);
        return Ok(report::processed(conference, &delivered));
    }
    let (m, skipped) = prepare(config, slots, conference, work).await?;
    let (layout, mode) = choose(&m);
    let target = Target::new(config, conference, mode.0, m.timeline.origin);
    target
        .check_lengths(config.encryption.is_some())
        .at(Stage::Validate)?;
    // Never render what could not be delivered: recproc does not overwrite recordings.
    target.check_free().at(Stage::Deliver)?;
    let merged = mode.0 == Mode::Merged;
    (delivered.mode, delivered.mode_reason) = mode;
    delivered.origin = Some(m.timeline.origin);
    delivered.skipped = skipped;
    if merged {
        delivered.skipped.extend(not_on_the_output(&m));
    }
    delivered.timeline = account::timeline(&m, &delivered.skipped, merged.then_some(&layout));
    account::log(&conference.conference_id, &delivered.timeline);
    let placement = match &target {
        Target::Merged(t) => merged::merged(&m, &layout, t, &mut delivered).await?,
        Target::Split(t) => split::split(&m, t, &mut delivered).await?,
    };
    let processed = report::processed(conference, &delivered);
    deliver::deliver(record, &processed, placement, config.paths.modes).await?;
    crate::metrics::delivered(delivered.duration, started.elapsed());
    Ok(processed)
}

/// The tracks a merged recording leaves out: videos of which nothing falls inside the
/// output, and participants' audio tracks that are not mixed in (nothing of them inside the
/// output, or the audiomixer's WAV is the call's audio). A split recording delivers them as
/// they are.
fn not_on_the_output(m: &Material<'_>) -> Vec<Skipped> {
    let videos = m
        .tracks
        .iter()
        .zip(&m.timeline.tracks)
        .filter(|(_, placed)| placed.is_none())
        .map(|(t, _)| Skipped {
            source: t.source.clone(),
            kind: crate::media::mjr::Kind::Video,
            codec: t.codec.clone(),
            reason: "no picture of it falls inside the recording's time (from its start to \
                     recordingInfo.completed)"
                .into(),
        });
    let voices = m
        .voices
        .iter()
        .zip(&m.timeline.voices)
        .filter_map(|(v, placed)| {
            let reason = match (&m.audio, placed) {
                (Some(_), _) => {
                    "the audiomixer's mixed WAV is the call's audio; a participant's own \
                     track is delivered only in split mode"
                }
                (None, None) => {
                    "none of its sound falls inside the recording's time (from its start to \
                     recordingInfo.completed)"
                }
                (None, Some(_)) => return None,
            };
            Some(Skipped {
                source: v.source.clone(),
                kind: crate::media::mjr::Kind::Audio,
                codec: v.codec.clone(),
                reason: reason.into(),
            })
        });
    videos.chain(voices).collect()
}

/// What a run delivers before any stage ran.
fn nothing_yet(config: &Config, conference: &Conference) -> Delivered {
    Delivered {
        mode: Mode::Merged,
        mode_reason: String::new(),
        origin: None,
        duration: 0.0,
        should_record_audio: conference.recording_type.should_record_audio(),
        should_record_video: conference.recording_type.should_record_video(),
        encrypted: config.encryption.is_some(),
        videos: Vec::new(),
        voices: Vec::new(),
        audio: None,
        skipped: Vec::new(),
        directory: None,
        files: Vec::new(),
        timeline: crate::report::TimelineReport {
            tracks: Vec::new(),
            layout: Vec::new(),
        },
    }
}

/// `recordingType: none`: the mode the configuration asks for, with nothing in it.
fn nothing_recorded(config: &Config, conference: &Conference, delivered: &mut Delivered) {
    let rec = &config.recording;
    let (mode, reason) = plan::choose_mode(rec.split_recording_output, rec.mix_limit, 0);
    delivered.mode = mode;
    let why = match conference
        .decision
        .as_ref()
        .and_then(|d| d.reason.as_deref())
    {
        Some(policy) => format!("the recording policy does not allow it: {policy}"),
        None => "recordingType is none".to_owned(),
    };
    delivered.mode_reason = format!("{why}: nothing is recorded ({reason})");
    tracing::info!(
        conference_id = crate::logs::field(&conference.conference_id),
        "The recording type is none: nothing to render."
    );
}

/// Converts and probes the media the recording type keeps, and places it on a timeline.
async fn prepare<'a>(
    config: &'a Config,
    slots: &'a ToolSlots,
    conference: &'a Conference,
    work: &'a Workspace,
) -> Result<(Material<'a>, Vec<Skipped>), StageError> {
    let id = conference.conference_id.as_str();
    let video_sources = match conference.recording_type.should_record_video() {
        true => conference.videos.clone(),
        false => Vec::new(),
    };
    let keeps_audio = conference.recording_type.should_record_audio();
    let audio_source = conference.audio.clone().filter(|_| keeps_audio);
    let voice_sources = match keeps_audio {
        true => conference.voices.clone(),
        false => Vec::new(),
    };
    if video_sources.is_empty() && audio_source.is_none() && voice_sources.is_empty() {
        let none = "the event names no media to record: no video tracks and no audio";
        return Err(Cause::Input(none.into()).at(Stage::Validate));
    }
    let max = config.recording.max_duration;
    // With the audiomixer's WAV the voices are extra: they cannot make the call longer.
    let extra = audio_source.is_some();

    let event_times = bounds::event_moments(
        conference,
        &video_sources,
        if extra { &[] } else { &voice_sources },
        audio_source.as_ref(),
    );
    bounds::check(&event_times, max).at(Stage::Validate)?;
    let ((tracks, mut skipped), (voices, voices_skipped), audio) =
        step(id, Stage::Preprocess, "convert", async {
            let max_freeze = config.recording.max_freeze;
            let videos = preprocess::videos(slots, work, &video_sources, (max, max_freeze));
            let voices = voices::voices(slots, work, &voice_sources, (max, extra));
            let audio = async {
                match &audio_source {
                    Some(a) => preprocess::audio(slots, a).await.map(Some),
                    None => Ok(None),
                }
            };
            tokio::try_join!(videos, voices, audio)
        })
        .await?;
    skipped.extend(voices_skipped);
    let mut times = event_times;
    let measured = if extra { &[][..] } else { &voices[..] };
    times.extend(bounds::media_moments(&tracks, measured, audio.as_ref()));
    bounds::check(&times, max).at(Stage::Plan)?;
    let facts: Vec<_> = tracks.iter().map(|t| t.facts.clone()).collect();
    let voice_facts: Vec<_> = voices.iter().map(|v| v.facts.clone()).collect();
    let timeline = plan::timeline(
        audio.as_ref().map(|a| &a.facts),
        &facts,
        &voice_facts,
        conference.completed,
        config.recording.fps,
    )
    .map_err(|e| Cause::Input(e.to_string()))
    .at(Stage::Plan)?;
    let m = Material {
        config,
        slots,
        conference,
        work,
        timeline,
        tracks,
        voices,
        audio,
    };
    Ok((m, skipped))
}

/// Lays the tracks out and picks the mode by SPEC.md's rule (with why, in words).
fn choose(m: &Material<'_>) -> (Plan, (Mode, String)) {
    let rec = &m.config.recording;
    let plan_tracks: Vec<PlanTrack> = m
        .tracks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            m.timeline.tracks[i].as_ref().map(|placed| PlanTrack {
                track: i,
                user_id: t.source.user_id.clone(),
                span: placed.span,
                dark: placed.dark(rec.max_freeze),
            })
        })
        .collect();
    let layout = plan::plan(
        m.timeline.duration,
        &plan_tracks,
        rec.width,
        rec.height,
        rec.fps,
    );
    let (mode, reason) = plan::choose_mode(
        rec.split_recording_output,
        rec.mix_limit,
        layout.max_visible,
    );
    tracing::info!(
        conference_id = crate::logs::field(&m.conference.conference_id),
        mode = mode.as_str(),
        reason = %reason,
        duration_s = layout.duration(),
        intervals = layout.intervals.len(),
        max_visible = layout.max_visible,
        "Delivering a {} recording: {reason}.",
        mode.as_str()
    );
    (layout, (mode, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_split_the_cores_between_parallel_tools() {
        let r = ToolSlots::new(8);
        assert_eq!(r.threads_for(1), 8);
        assert_eq!(r.threads_for(3), 2);
        assert_eq!(r.threads_for(8), 1);
        assert_eq!(r.threads_for(50), 1);
        assert_eq!(r.threads_for(0), 8);
        assert_eq!(ToolSlots::new(0).cores(), 1);
    }

    #[test]
    fn budget_grows_with_media_length() {
        assert_eq!(budget(0.0, 10.0), Duration::from_secs(120));
        assert_eq!(budget(60.0, 10.0), Duration::from_secs(720));
    }

    #[test]
    fn no_budget_exceeds_the_largest_bound() {
        let most = Duration::from_secs(120 + 10 * MAX_DURATION_LIMIT.as_secs());
        for seconds in [1e12, f64::INFINITY, f64::MAX] {
            assert_eq!(budget(seconds, 10.0), most, "{seconds}");
        }
        for seconds in [f64::NAN, -5.0, f64::NEG_INFINITY] {
            assert_eq!(budget(seconds, 10.0), Duration::from_secs(120), "{seconds}");
        }
    }
}
