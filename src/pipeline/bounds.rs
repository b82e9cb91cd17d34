//! The bound on a job's length (`recording.max_duration`): the times that measure a call, as
//! the event gives them (checked before any tool runs) and as its media gives them (checked
//! once preprocessing has read them, before anything is rendered). A call that spans more is
//! the input's fault, and the failure names its earliest and latest time.

use std::time::Duration;

use crate::event::{AudioSource, Conference, TrackSource};
use crate::pipeline::preprocess::{Audio, Track};
use crate::pipeline::voices::Voice;
use crate::pipeline::Cause;
use crate::plan::{self, Moment};

/// The event's times for the media that are kept: each track's start and stop, and
/// `completed`.
pub(crate) fn event_moments(
    conference: &Conference,
    videos: &[TrackSource],
    voices: &[TrackSource],
    audio: Option<&AudioSource>,
) -> Vec<Moment> {
    let mut moments = Vec::new();
    let mut push = |at: Option<_>, what: String| {
        if let Some(at) = at {
            moments.push(Moment { at, what });
        }
    };
    push(conference.completed, "recordingInfo.completed".into());
    if let Some(a) = audio {
        push(Some(a.start), "the audio's startTime".into());
        push(a.stop, "the audio's stopTime".into());
    }
    for v in videos {
        push(
            Some(v.start),
            format!("the startTime of video {}", v.filename),
        );
        push(v.stop, format!("the stopTime of video {}", v.filename));
    }
    for v in voices {
        push(
            Some(v.start),
            format!("the startTime of audio {}", v.filename),
        );
        push(v.stop, format!("the stopTime of audio {}", v.filename));
    }
    moments
}

/// When each converted track's media starts and ends, and when the WAV's samples end.
pub(crate) fn media_moments(
    tracks: &[Track],
    voices: &[Voice],
    audio: Option<&Audio>,
) -> Vec<Moment> {
    let mut moments = Vec::new();
    let spans = tracks
        .iter()
        .map(|t| (&t.source, t.facts.first_packet, t.facts.end))
        .chain(
            voices
                .iter()
                .map(|v| (&v.source, v.facts.first_packet, v.facts.duration)),
        );
    for (source, first, end) in spans {
        let path = source.path.display();
        moments.push(Moment {
            at: first,
            what: format!("the first packet of {path}, its header's u"),
        });
        moments.push(Moment {
            at: first.add_seconds(end),
            what: format!("the end of the media of {path}, its header's u plus {end:.3} s"),
        });
    }
    if let Some(a) = audio {
        moments.push(Moment {
            at: a.facts.start.add_seconds(a.facts.duration),
            what: format!("the end of the samples of {}", a.source.path.display()),
        });
    }
    moments
}

/// Refuses a call whose `moments` span more than `max`.
pub(crate) fn check(moments: &[Moment], max: Duration) -> Result<(), Cause> {
    plan::check_length(moments, max).map_err(|e| Cause::Input(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Opened;
    use crate::pipeline::Blame;
    use crate::plan::VideoFacts;
    use crate::timestamp::Timestamp;
    use std::path::PathBuf;

    fn ts(s: f64) -> Timestamp {
        Timestamp::parse("2026-01-01T10:00:00Z")
            .unwrap()
            .add_seconds(s)
    }

    fn video(filename: &str, start: f64, stop: Option<f64>) -> TrackSource {
        TrackSource {
            user_id: "alice".into(),
            key: "0".into(),
            path: PathBuf::from("/v").join(filename),
            file: Opened::for_tests(),
            filename: filename.into(),
            start: ts(start),
            stop: stop.map(ts),
        }
    }

    fn conference(completed: Option<f64>, videos: Vec<TrackSource>) -> Conference {
        Conference {
            conference_id: "c".into(),
            uuid: "u".into(),
            completed: completed.map(ts),
            recording_type: crate::event::RecordingType::All,
            videos,
            voices: Vec::new(),
            audio: None,
            policy: None,
            decision: None,
        }
    }

    const TWELVE_HOURS: Duration = Duration::from_secs(43_200);

    #[test]
    fn the_event_times_of_the_kept_media_are_measured() {
        let videos = vec![video("a.mjr", 1.0, Some(20.0)), video("b.mjr", 3.0, None)];
        let audio = AudioSource {
            path: "/a/x.wav".into(),
            file: Opened::for_tests(),
            filename: "x.wav".into(),
            start: ts(0.0),
            stop: Some(ts(20.0)),
        };
        let c = conference(Some(20.5), videos.clone());
        let m = event_moments(&c, &videos, &[], Some(&audio));
        let what: Vec<&str> = m.iter().map(|m| m.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "recordingInfo.completed",
                "the audio's startTime",
                "the audio's stopTime",
                "the startTime of video a.mjr",
                "the stopTime of video a.mjr",
                "the startTime of video b.mjr",
            ]
        );
        assert!(check(&m, TWELVE_HOURS).is_ok());
        assert_eq!(event_moments(&c, &[], &[], None).len(), 1);
    }

    #[test]
    fn completed_a_century_ahead_is_the_inputs_fault() {
        let videos = vec![video("a.mjr", 0.0, Some(20.0))];
        let c = conference(Some(100.0 * 365.25 * 86_400.0), videos.clone());
        let e = check(&event_moments(&c, &videos, &[], None), TWELVE_HOURS).unwrap_err();
        assert_eq!(e.blame(), Blame::Input);
        let text = e.to_string();
        assert!(
            text.contains("2126-01-02T10:00:00.000Z (recordingInfo.completed)"),
            "{text}"
        );
        assert!(
            text.contains("from 2026-01-01T10:00:00.000Z (the startTime of video a.mjr)"),
            "{text}"
        );
    }

    #[test]
    fn a_header_u_far_ahead_is_named_by_its_file() {
        let source = video("a.mjr", 0.0, Some(20.0));
        let track = Track {
            source: source.clone(),
            codec: "vp8".into(),
            file: "/w/track-00.webm".into(),
            width: 320,
            height: 240,
            file_start: 0.0,
            keyframes: vec![0.0],
            sizes: vec![(0.0, 320, 240)],
            rotations: Vec::new(),
            facts: VideoFacts {
                first_packet: ts(50.0 * 365.0 * 86_400.0),
                event_start: source.start,
                first_frame: 0.0,
                end: 20.0,
                event_stop: source.stop,
                gaps: Vec::new(),
            },
        };
        let c = conference(Some(20.0), vec![source.clone()]);
        let mut m = event_moments(&c, &[source], &[], None);
        m.extend(media_moments(&[track], &[], None));
        let text = check(&m, TWELVE_HOURS).unwrap_err().to_string();
        assert!(
            text.contains("(the end of the media of /v/a.mjr, its header's u plus 20.000 s)"),
            "{text}"
        );
        assert!(text.contains("would last 18250 days"), "{text}");
    }
}
