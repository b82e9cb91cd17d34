//! The output timeline, pure: where t=0 is, how long the output lasts, for each video
//! track when its tile is there, when it first shows a picture, where its media has gaps,
//! and so when the tile is black, and for each participant's own audio track where its
//! media falls (SPEC.md "Timeline and layout"). Also the gaps of a track from its frames' or
//! packets' timestamps.

use crate::timestamp::Timestamp;

use super::to_frame;

/// What the event and the media say about one video track.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFacts {
    /// When Janus wrote the track's first packet (`u` in the `.mjr` header).
    pub first_packet: Timestamp,
    /// The event's start time for the track: when the participant joined.
    pub event_start: Timestamp,
    /// Seconds after `first_packet` at which the first decodable frame shows.
    pub first_frame: f64,
    /// Seconds after `first_packet` at which the last frame ends.
    pub end: f64,
    /// The wrapper's stop time for the track, if the event gave one.
    pub event_stop: Option<Timestamp>,
    /// Where no new frame came, in seconds after `first_packet` (see [`gaps`]).
    pub gaps: Vec<Span>,
}

/// What the event and the media say about the mixed audio.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioFacts {
    /// The event's start time for the audio: the call start.
    pub start: Timestamp,
    /// Length of the WAV, in seconds.
    pub duration: f64,
    pub event_stop: Option<Timestamp>,
}

/// What the event and the media say about one participant's own audio track.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceFacts {
    /// When Janus wrote the track's first packet (`u` in the `.mjr` header): where its
    /// media time 0 is.
    pub first_packet: Timestamp,
    /// The event's start time for the track.
    pub event_start: Timestamp,
    /// Seconds of media from its first packet to its end.
    pub duration: f64,
    pub event_stop: Option<Timestamp>,
    /// Where no packet came (the sender went quiet), in seconds after `first_packet`.
    pub gaps: Vec<Span>,
}

/// One participant's audio track placed on the output, in seconds from t=0.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedVoice {
    /// Where its media time 0 falls (may be before t=0 when a mixed WAV sets t=0).
    pub anchor: f64,
    /// The part of its media inside the output.
    pub span: Span,
    /// Where its sender went quiet (within `span`): silence.
    pub gaps: Vec<Span>,
}

/// A stretch of time, in seconds (on the output, or of a track's own clock where said).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: f64,
    pub end: f64,
}

impl Span {
    /// How long it lasts.
    pub fn seconds(&self) -> f64 {
        self.end - self.start
    }

    /// The part of `self` inside `within`, if any.
    fn clip(self, within: Span) -> Option<Span> {
        let s = Span {
            start: self.start.max(within.start),
            end: self.end.min(within.end),
        };
        (s.end > s.start).then_some(s)
    }
}

/// One video track placed on the output, in seconds from t=0.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// When its tile is there: from the join (the event's start or the first packet,
    /// whichever is earlier) until the event's stop or the end of the media, whichever is
    /// later; within the output.
    pub span: Span,
    /// When its first decodable frame shows.
    pub picture: f64,
    /// When its last frame ends.
    pub media_end: f64,
    /// Where no new frame came (within `span`).
    pub gaps: Vec<Span>,
}

impl Placed {
    /// Where the tile is black: before the first picture, and where a gap or the time after
    /// the media's end outlasts `max_freeze` (the last frame is held that long, no longer).
    pub fn dark(&self, max_freeze: f64) -> Vec<Span> {
        let before = Span {
            start: self.span.start,
            end: self.picture,
        };
        let frozen_out = |g: &Span| Span {
            start: g.start + max_freeze,
            end: g.end,
        };
        let after = Span {
            start: self.media_end,
            end: self.span.end,
        };
        std::iter::once(before)
            .chain(self.gaps.iter().chain([&after]).map(frozen_out))
            .filter_map(|d| d.clip(self.span))
            .collect()
    }
}

/// The output timeline: its origin, its length, and each video track placed on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// The instant that is t=0 of the output.
    pub origin: Timestamp,
    /// Seconds.
    pub duration: f64,
    /// One per input video, in the same order; `None` for a track with no picture inside
    /// the output.
    pub tracks: Vec<Option<Placed>>,
    /// Seconds from t=0 at which each video's first packet was written: where its media
    /// timestamps are anchored.
    pub anchors: Vec<f64>,
    /// One per participant's audio track, in the same order; `None` for one of which nothing
    /// falls inside the output.
    pub voices: Vec<Option<PlacedVoice>>,
}

/// Why the media cannot be placed on a timeline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    #[error("no media to place on a timeline")]
    NoMedia,
    #[error(
        "recordingInfo.completed ({}) is not after the call's start ({}): nothing would be recorded",
        .completed.to_iso_millis(),
        .origin.to_iso_millis()
    )]
    CompletedBeforeStart {
        completed: Timestamp,
        origin: Timestamp,
    },
}

/// When a track starts: its join (the event's start), or its first packet if that came
/// earlier.
fn track_start(event_start: Timestamp, first_packet: Timestamp) -> Timestamp {
    event_start.min(first_packet)
}

/// Places every track on one timeline (SPEC.md "Timeline and layout"):
/// t=0 is the mixed audio's start when there is one, otherwise the earliest track start,
/// audio or video; the output lasts until the latest stop time (`completed` standing in for
/// a missing one) or the end of the media, whichever is later, but never past `completed`:
/// media beyond the event's end is cut. With a mixed WAV, that is the call's audio: the
/// participants' own tracks are placed but do not make the output longer.
pub fn timeline(
    audio: Option<&AudioFacts>,
    videos: &[VideoFacts],
    voices: &[VoiceFacts],
    completed: Option<Timestamp>,
    fps: u32,
) -> Result<Timeline, TimelineError> {
    let origin = match audio {
        Some(a) => a.start,
        None => videos
            .iter()
            .map(|v| track_start(v.event_start, v.first_packet))
            .chain(
                voices
                    .iter()
                    .map(|v| track_start(v.event_start, v.first_packet)),
            )
            .min()
            .ok_or(TimelineError::NoMedia)?,
    };
    let at = |t: Timestamp| t.seconds_since(origin);

    let mut end: f64 = 0.0;
    if let Some(a) = audio {
        end = end.max(a.duration);
        if let Some(stop) = a.event_stop.or(completed) {
            end = end.max(at(stop));
        }
    }
    let anchors: Vec<f64> = videos.iter().map(|v| at(v.first_packet)).collect();
    for (v, anchor) in videos.iter().zip(&anchors) {
        if let Some(stop) = v.event_stop.or(completed) {
            end = end.max(at(stop));
        }
        end = end.max(anchor + v.end);
    }
    if audio.is_none() {
        for v in voices {
            if let Some(stop) = v.event_stop.or(completed) {
                end = end.max(at(stop));
            }
            end = end.max(at(v.first_packet) + v.duration);
        }
    }
    if let Some(completed) = completed {
        end = end.min(at(completed));
        if to_frame(end, fps) == 0 {
            return Err(TimelineError::CompletedBeforeStart { completed, origin });
        }
    }
    let tracks = videos
        .iter()
        .zip(&anchors)
        .map(|(v, &anchor)| {
            place(
                v,
                anchor,
                at(track_start(v.event_start, v.first_packet)),
                v.event_stop.map(at),
                end,
            )
        })
        .collect();
    let voices = voices
        .iter()
        .map(|v| place_voice(v, at(v.first_packet), end))
        .collect();
    Ok(Timeline {
        origin,
        duration: end,
        tracks,
        anchors,
        voices,
    })
}

/// Places one audio track whose media time 0 falls at `anchor` on an output `end` seconds
/// long.
fn place_voice(v: &VoiceFacts, anchor: f64, end: f64) -> Option<PlacedVoice> {
    let on_output = |s: &Span| Span {
        start: anchor + s.start,
        end: anchor + s.end,
    };
    let whole = Span {
        start: 0.0,
        end: v.duration,
    };
    let span = on_output(&whole).clip(Span { start: 0.0, end })?;
    Some(PlacedVoice {
        anchor,
        span,
        gaps: v
            .gaps
            .iter()
            .filter_map(|g| on_output(g).clip(span))
            .collect(),
    })
}

/// Places one track whose first packet falls at `anchor`, that joined at `join` and left
/// at `stop` (output seconds), on an output `end` seconds long.
fn place(v: &VideoFacts, anchor: f64, join: f64, stop: Option<f64>, end: f64) -> Option<Placed> {
    let media_end = anchor + v.end;
    let span = Span {
        start: join.max(0.0),
        end: stop.map_or(media_end, |s| s.max(media_end)).min(end),
    };
    let picture = (anchor + v.first_frame).max(span.start);
    if picture >= span.end {
        return None;
    }
    let gaps = v
        .gaps
        .iter()
        .filter_map(|g| {
            Span {
                start: anchor + g.start,
                end: anchor + g.end,
            }
            .clip(span)
        })
        .collect();
    Some(Placed {
        span,
        picture,
        media_end,
        gaps,
    })
}

/// The shortest stretch without a new frame that counts as a gap, in seconds: a few frames
/// lost in the network are not one.
pub const SHORTEST_GAP_S: f64 = 0.5;

/// The gaps of a track whose frames have the timestamps `frames` (in any order): every
/// stretch from when a frame was due (the last one plus the track's usual frame interval,
/// the median of the steps between frames) to when the next one came, where that is at
/// least `shortest` seconds and at least one such interval (a frame missing). Returns the
/// usual interval too (0 with fewer than two frames).
pub fn gaps(frames: &[f64], shortest: f64) -> (f64, Vec<Span>) {
    let mut times: Vec<f64> = frames.iter().copied().filter(|t| t.is_finite()).collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let mut steps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.is_empty() {
        return (0.0, Vec::new());
    }
    steps.sort_by(f64::total_cmp);
    let interval = steps[steps.len() / 2];
    let shortest = shortest.max(interval);
    let gaps = times
        .windows(2)
        .filter_map(|w| {
            let due = w[0] + interval;
            (w[1] - due >= shortest).then_some(Span {
                start: due,
                end: w[1],
            })
        })
        .collect();
    (interval, gaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: f64) -> Timestamp {
        Timestamp::from_micros(1_700_000_000_000_000).add_seconds(s)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    fn span(start: f64, end: f64) -> Span {
        Span { start, end }
    }

    /// A track that joined when its first packet came.
    fn video(first_packet: f64, first_frame: f64, end: f64, stop: Option<f64>) -> VideoFacts {
        VideoFacts {
            first_packet: ts(first_packet),
            event_start: ts(first_packet),
            first_frame,
            end,
            event_stop: stop.map(ts),
            gaps: Vec::new(),
        }
    }

    fn placed(t: &Timeline, i: usize) -> &Placed {
        t.tracks[i].as_ref().unwrap()
    }

    fn audio(start: f64, duration: f64, stop: Option<f64>) -> AudioFacts {
        AudioFacts {
            start: ts(start),
            duration,
            event_stop: stop.map(ts),
        }
    }

    /// A participant's audio track whose event start is `start`, first packet `first_packet`.
    fn voice(start: f64, first_packet: f64, duration: f64, stop: Option<f64>) -> VoiceFacts {
        VoiceFacts {
            first_packet: ts(first_packet),
            event_start: ts(start),
            duration,
            event_stop: stop.map(ts),
            gaps: Vec::new(),
        }
    }

    fn placed_voice(t: &Timeline, i: usize) -> &PlacedVoice {
        t.voices[i].as_ref().unwrap()
    }

    #[test]
    fn without_a_wav_the_earliest_start_of_audio_or_video_is_t0() {
        // Her microphone's first packet came 0.2 s before anyone's camera.
        let videos = [video(1.0, 0.0, 9.0, Some(10.0))];
        let mut quiet = voice(1.5, 0.8, 5.0, Some(6.0));
        quiet.gaps = vec![span(1.0, 2.5)];
        let voices = [quiet, voice(3.0, 3.05, 8.0, None)];
        let t = timeline(None, &videos, &voices, None, 25).unwrap();
        assert_eq!(t.origin, ts(0.8));
        assert!(close(placed(&t, 0).span.start, 0.2));
        let first = placed_voice(&t, 0);
        assert!(close(first.anchor, 0.0));
        assert!(close(first.span.start, 0.0) && close(first.span.end, 5.0));
        assert!(close(first.gaps[0].start, 1.0) && close(first.gaps[0].end, 2.5));
        // The second voice's media runs past every stop time: the output lasts until it ends.
        let second = placed_voice(&t, 1);
        assert!(close(second.anchor, 2.25) && close(second.span.end, 10.25));
        assert!(close(t.duration, 10.25));
    }

    #[test]
    fn with_a_wav_the_voices_are_placed_on_its_clock_but_do_not_lengthen_the_call() {
        let voices = [voice(-1.0, -0.5, 4.0, None), voice(2.0, 2.0, 30.0, None)];
        let t = timeline(Some(&audio(0.0, 10.0, Some(10.0))), &[], &voices, None, 25).unwrap();
        assert_eq!(t.origin, ts(0.0));
        assert!(close(t.duration, 10.0));
        // Before t=0 and after the end nothing of a voice is on the output.
        let early = placed_voice(&t, 0);
        assert!(close(early.anchor, -0.5));
        assert!(close(early.span.start, 0.0) && close(early.span.end, 3.5));
        assert!(close(placed_voice(&t, 1).span.end, 10.0));
    }

    #[test]
    fn a_voice_entirely_outside_the_output_is_not_placed() {
        let voices = [voice(0.0, 0.0, 5.0, None), voice(20.0, 20.0, 5.0, None)];
        let t = timeline(None, &[], &voices, Some(ts(10.0)), 25).unwrap();
        assert!(close(t.duration, 10.0));
        assert!(t.voices[0].is_some() && t.voices[1].is_none());
    }

    #[test]
    fn audio_start_is_t0_and_video_is_placed_by_its_first_packet() {
        let videos = [
            video(0.035, 0.0, 19.76, Some(19.8)),
            video(4.2, 0.0, 9.6, Some(13.8)),
        ];
        let t = timeline(Some(&audio(0.0, 20.0, Some(20.0))), &videos, &[], None, 25).unwrap();
        assert_eq!(t.origin, ts(0.0));
        assert!(close(t.duration, 20.0));
        // It left at 19.8 s, just after its media's end (19.795 s).
        let p0 = placed(&t, 0);
        assert!(close(p0.span.start, 0.035) && close(p0.span.end, 19.8));
        assert!(close(p0.media_end, 19.795));
        // It left at 13.8 s, its media ended at 13.8 s.
        let p1 = placed(&t, 1);
        assert!(close(p1.span.start, 4.2) && close(p1.span.end, 13.8));
        assert!(close(p1.media_end, 13.8));
    }

    #[test]
    fn a_late_first_keyframe_delays_the_picture_not_the_tile() {
        // Packets from 3 s, first decodable frame 2 s later.
        let t = timeline(
            Some(&audio(0.0, 10.0, None)),
            &[video(3.0, 2.0, 7.0, None)],
            &[],
            None,
            25,
        )
        .unwrap();
        let p = placed(&t, 0);
        assert_eq!(p.span, span(3.0, 10.0));
        assert!(close(p.picture, 5.0));
        assert!(close(t.anchors[0], 3.0));
        // Black until the picture; the media ends with the tile.
        assert_eq!(p.dark(2.0), vec![span(3.0, 5.0)]);
    }

    #[test]
    fn a_tile_starts_at_the_join_when_that_is_before_the_first_packet() {
        let mut v = video(3.0, 0.5, 7.0, None);
        v.event_start = ts(1.0);
        let t = timeline(Some(&audio(0.0, 10.0, None)), &[v.clone()], &[], None, 25).unwrap();
        let p = placed(&t, 0);
        assert_eq!(p.span.start, 1.0);
        assert!(close(p.picture, 3.5));
        // And at the first packet when the event's start is later (clock skew).
        v.event_start = ts(4.0);
        let t = timeline(Some(&audio(0.0, 10.0, None)), &[v], &[], None, 25).unwrap();
        assert_eq!(placed(&t, 0).span.start, 3.0);
    }

    #[test]
    fn without_audio_the_earliest_track_start_is_t0() {
        let mut late_keyframe = video(3.0, 1.5, 4.0, None);
        late_keyframe.event_start = ts(2.5);
        let videos = [video(5.0, 0.5, 10.0, None), late_keyframe];
        let t = timeline(None, &videos, &[], None, 25).unwrap();
        // The second joined at 2.5 s, before any picture (4.5 s).
        assert_eq!(t.origin, ts(2.5));
        let first = placed(&t, 0);
        assert!(close(first.span.start, 2.5) && close(first.picture, 3.0));
        let second = placed(&t, 1);
        assert!(close(second.span.start, 0.0) && close(second.picture, 2.0));
        assert!(close(t.duration, 12.5));
    }

    #[test]
    fn a_tile_stays_until_its_stop_time_black_after_the_freeze() {
        // Media until 6 s, the participant left at 10 s.
        let t = timeline(
            Some(&audio(0.0, 12.0, None)),
            &[video(1.0, 0.0, 5.0, Some(10.0))],
            &[],
            None,
            25,
        )
        .unwrap();
        let p = placed(&t, 0);
        assert_eq!(p.span, span(1.0, 10.0));
        assert_eq!(p.dark(2.0), vec![span(8.0, 10.0)]);
        assert_eq!(p.dark(0.0), vec![span(6.0, 10.0)]);
        assert_eq!(p.dark(5.0), vec![]);
    }

    #[test]
    fn a_gap_freezes_for_max_freeze_then_is_black() {
        let mut v = video(1.0, 0.0, 20.0, None);
        v.gaps = vec![span(4.0, 14.0), span(15.0, 16.0)];
        let t = timeline(Some(&audio(0.0, 21.0, None)), &[v], &[], None, 25).unwrap();
        let p = placed(&t, 0);
        assert_eq!(p.gaps, vec![span(5.0, 15.0), span(16.0, 17.0)]);
        // The 10 s gap: frozen 2 s, then black; the 1 s gap only frozen.
        assert_eq!(p.dark(2.0), vec![span(7.0, 15.0)]);
        assert_eq!(p.dark(0.5), vec![span(5.5, 15.0), span(16.5, 17.0)]);
    }

    #[test]
    fn gaps_outside_the_output_are_cut() {
        let mut v = video(0.0, 0.0, 20.0, None);
        v.gaps = vec![span(0.5, 3.0), span(9.0, 12.0)];
        let t = timeline(Some(&audio(1.0, 9.0, None)), &[v], &[], Some(ts(11.0)), 25).unwrap();
        assert_eq!(placed(&t, 0).gaps, vec![span(0.0, 2.0), span(8.0, 10.0)]);
    }

    #[test]
    fn nothing_at_all_has_no_timeline() {
        assert_eq!(
            timeline(None, &[], &[], None, 25),
            Err(TimelineError::NoMedia)
        );
    }

    #[test]
    fn output_lasts_until_the_latest_stop_or_completed() {
        let t = timeline(Some(&audio(0.0, 8.0, None)), &[], &[], Some(ts(9.5)), 25).unwrap();
        assert!(close(t.duration, 9.5));
        let t = timeline(
            Some(&audio(0.0, 8.0, Some(8.5))),
            &[],
            &[],
            Some(ts(9.5)),
            25,
        )
        .unwrap();
        assert!(close(t.duration, 8.5), "a stop time beats completed");
    }

    #[test]
    fn media_longer_than_the_stop_time_is_not_cut() {
        let a = audio(0.0, 12.0, Some(10.0));
        let t = timeline(
            Some(&a),
            &[video(1.0, 0.0, 11.5, Some(10.0))],
            &[],
            None,
            25,
        )
        .unwrap();
        assert!(close(t.duration, 12.5));
        assert!(close(placed(&t, 0).span.end, 12.5));
    }

    #[test]
    fn media_past_completed_is_cut() {
        let videos = [
            video(1.0, 0.0, 11.5, Some(12.0)),
            video(10.5, 0.0, 1.0, Some(12.0)),
        ];
        let a = audio(0.0, 12.0, Some(12.0));
        let t = timeline(Some(&a), &videos, &[], Some(ts(10.0)), 25).unwrap();
        assert!(close(t.duration, 10.0), "{}", t.duration);
        assert_eq!(placed(&t, 0).span, span(1.0, 10.0));
        assert_eq!(
            t.tracks[1], None,
            "a track that starts after completed is not shown"
        );
        assert!(close(t.anchors[1], 10.5));
    }

    #[test]
    fn a_track_whose_clock_ran_hours_ahead_is_cut_at_completed() {
        // What an RTP leap that was not taken out would look like: media for six hours.
        let videos = [video(0.0, 0.0, 21_620.0, Some(20.0))];
        let t = timeline(None, &videos, &[], Some(ts(20.0)), 25).unwrap();
        assert!(close(t.duration, 20.0));
        assert!(close(placed(&t, 0).span.end, 20.0));
    }

    #[test]
    fn completed_before_the_start_records_nothing() {
        let a = audio(5.0, 10.0, None);
        let e = timeline(Some(&a), &[], &[], Some(ts(4.0)), 25).unwrap_err();
        assert_eq!(
            e,
            TimelineError::CompletedBeforeStart {
                completed: ts(4.0),
                origin: ts(5.0)
            }
        );
        assert!(e.to_string().contains("not after the call's start"), "{e}");
        // Half a frame is still nothing.
        assert!(timeline(Some(&a), &[], &[], Some(ts(5.01)), 25).is_err());
        assert!(timeline(Some(&a), &[], &[], Some(ts(5.04)), 25).is_ok());
    }

    #[test]
    fn video_before_the_audio_start_is_trimmed_to_t0() {
        let a = audio(1.0, 10.0, None);
        let t = timeline(Some(&a), &[video(0.0, 0.0, 5.0, None)], &[], None, 25).unwrap();
        let p = placed(&t, 0);
        assert_eq!(p.span.start, 0.0);
        assert_eq!(p.picture, 0.0);
        assert!(close(p.span.end, 4.0));
        assert!(close(t.anchors[0], -1.0));
        assert_eq!(p.dark(2.0), vec![]);
    }

    #[test]
    fn video_entirely_before_t0_is_not_shown() {
        let a = audio(10.0, 10.0, None);
        let t = timeline(Some(&a), &[video(0.0, 0.0, 5.0, None)], &[], None, 25).unwrap();
        assert_eq!(t.tracks[0], None);
    }

    #[test]
    fn a_track_without_a_picture_inside_the_output_is_not_shown() {
        let a = audio(0.0, 20.0, None);
        let t = timeline(Some(&a), &[video(1.0, 6.0, 7.0, Some(5.0))], &[], None, 25).unwrap();
        // Its picture (7 s) comes after it left (5 s) but while its media lasts (8 s).
        assert!(placed(&t, 0).picture < placed(&t, 0).span.end);
        let t = timeline(
            Some(&a),
            &[video(1.0, 6.0, 7.0, Some(5.0))],
            &[],
            Some(ts(6.5)),
            25,
        );
        assert_eq!(t.unwrap().tracks[0], None);
    }

    // ---- gaps -----------------------------------------------------------------------------

    #[test]
    fn frames_every_33_ms_have_no_gap() {
        let frames: Vec<f64> = (0..300).map(|i| f64::from(i) / 30.0).collect();
        let (interval, gaps) = super::gaps(&frames, SHORTEST_GAP_S);
        assert!(close(interval, 1.0 / 30.0));
        assert_eq!(gaps, vec![]);
    }

    #[test]
    fn a_camera_stopped_for_two_seconds_is_one_gap_from_when_its_frame_was_due() {
        // 30 fps, nothing from 5 s to 7 s; given out of order, with a duplicate.
        let mut frames: Vec<f64> = (0..360)
            .map(|i| f64::from(i) / 30.0)
            .filter(|t| !(4.99..6.99).contains(t))
            .collect();
        frames.reverse();
        frames.push(1.0);
        let (_, gaps) = super::gaps(&frames, SHORTEST_GAP_S);
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(
            close(gaps[0].start, 5.0) && close(gaps[0].end, 7.0),
            "{gaps:?}"
        );
        assert!(close(gaps[0].seconds(), 2.0));
    }

    #[test]
    fn a_few_lost_frames_are_no_gap_unless_asked() {
        let frames: Vec<f64> = (0..90)
            .filter(|i| !(40..45).contains(i))
            .map(|i| f64::from(i) / 30.0)
            .collect();
        assert_eq!(super::gaps(&frames, SHORTEST_GAP_S).1, vec![]);
        let (_, gaps) = super::gaps(&frames, 0.1);
        assert_eq!(gaps.len(), 1);
        assert!(close(gaps[0].start, 40.0 / 30.0) && close(gaps[0].end, 45.0 / 30.0));
    }

    #[test]
    fn one_frame_or_none_has_no_interval() {
        assert_eq!(super::gaps(&[], 0.5), (0.0, vec![]));
        assert_eq!(super::gaps(&[3.0, f64::NAN], 0.5), (0.0, vec![]));
    }

    #[test]
    fn asked_for_every_gap_a_frame_on_time_is_none() {
        let mut frames: Vec<f64> = (0..30).map(|i| f64::from(i) / 30.0).collect();
        assert_eq!(super::gaps(&frames, 0.0).1, vec![]);
        frames.retain(|&t| !close(t, 0.5));
        let (_, gaps) = super::gaps(&frames, 0.0);
        assert_eq!(gaps.len(), 1);
        assert!(close(gaps[0].start, 0.5) && close(gaps[0].seconds(), 1.0 / 30.0));
    }
}
