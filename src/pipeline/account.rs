//! The account of a run for the processed event's `timeline` (SPEC.md "Events"): for every
//! track how it was placed and what happened to it (its offset from the event's start, how
//! late its first picture came, its gaps, picture sizes and rotations, or why it was left
//! out; for a participant's audio track where it is heard and where it went quiet; the mixed
//! audio's length), and in merged mode who was in which tile when; and the same facts as one
//! INFO line per track.

use crate::plan::{Placed, PlacedVoice, Plan, Span};
use crate::report::{
    millis, GapEntry, LayoutEntry, ResolutionEntry, RotationEntry, TileEntry, TimelineReport,
    TrackEntry,
};
use crate::timestamp::Timestamp;

use super::preprocess::{Audio, Skipped, Track};
use super::voices::Voice;
use super::Material;

/// The timeline of `m`: its video tracks, then those `skipped` before they were converted,
/// then the participants' audio tracks, then the mixed audio; the layout of `layout`
/// (merged).
pub(crate) fn timeline(
    m: &Material<'_>,
    skipped: &[Skipped],
    layout: Option<&Plan>,
) -> TimelineReport {
    let mut tracks: Vec<TrackEntry> = m
        .tracks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let placed = m.timeline.tracks[i].as_ref();
            let left_out = skipped.iter().find(|s| s.source == t.source);
            let mut entry = placed_entry(t, placed, m.timeline.anchors[i]);
            if let Some(s) = left_out {
                entry.skipped = Some(s.reason.clone());
            }
            entry
        })
        .collect();
    let converted = |s: &&Skipped| {
        m.tracks.iter().any(|t| t.source == s.source)
            || m.voices.iter().any(|v| v.source == s.source)
    };
    tracks.extend(skipped.iter().filter(|s| !converted(s)).map(skipped_entry));
    tracks.extend(m.voices.iter().zip(&m.timeline.voices).map(|(v, placed)| {
        let mut entry = voice_entry(v, placed.as_ref());
        entry.skipped = skipped
            .iter()
            .find(|s| s.source == v.source)
            .map(|s| s.reason.clone());
        entry
    }));
    tracks.extend(
        m.audio
            .as_ref()
            .map(|a| audio_entry(a, m.timeline.duration)),
    );
    let users: Vec<&str> = m.tracks.iter().map(|t| t.source.user_id.as_str()).collect();
    TimelineReport {
        tracks,
        layout: layout.map_or_else(Vec::new, |p| layout_entries(p, &users)),
    }
}

/// Milliseconds from `from` to `to`.
fn ms_between(from: Timestamp, to: Timestamp) -> i64 {
    (to.seconds_since(from) * 1000.0).round() as i64
}

/// A converted track whose first packet falls at `anchor` on the output, `placed` there
/// (`None`: nothing of it falls inside the output).
fn placed_entry(t: &Track, placed: Option<&Placed>, anchor: f64) -> TrackEntry {
    let on_output = |s: f64| millis(anchor + s);
    // Where it is placed, the gaps within the output; else all of them.
    let gaps = match placed {
        Some(p) => p.gaps.clone(),
        None => t
            .facts
            .gaps
            .iter()
            .map(|g| crate::plan::Span {
                start: anchor + g.start,
                end: anchor + g.end,
            })
            .collect(),
    };
    TrackEntry {
        user_id: Some(t.source.user_id.clone()),
        kind: "video".into(),
        filename: t.source.path.display().to_string(),
        codec: t.codec.clone(),
        start: placed.map(|p| millis(p.span.start)),
        end: placed.map(|p| millis(p.span.end)),
        offset_ms: Some(ms_between(t.source.start, t.facts.first_packet)),
        first_frame_delay_ms: Some((t.facts.first_frame * 1000.0).round() as i64),
        gaps: gaps
            .iter()
            .map(|g| GapEntry {
                at: millis(g.start),
                seconds: millis(g.seconds()),
            })
            .collect(),
        resolutions: t
            .sizes
            .iter()
            .map(|&(at, width, height)| ResolutionEntry {
                at: on_output(at),
                width,
                height,
            })
            .collect(),
        rotations: t
            .rotations
            .iter()
            .map(|&(at, degrees)| RotationEntry {
                at: on_output(at),
                degrees,
            })
            .collect(),
        skipped: None,
    }
}

/// A participant's audio track, `placed` on the output (`None`: nothing of it falls inside
/// the output).
fn voice_entry(v: &Voice, placed: Option<&PlacedVoice>) -> TrackEntry {
    let gap = |g: &Span| GapEntry {
        at: millis(g.start),
        seconds: millis(g.seconds()),
    };
    TrackEntry {
        user_id: Some(v.source.user_id.clone()),
        kind: "audio".into(),
        filename: v.source.path.display().to_string(),
        codec: v.codec.clone(),
        start: placed.map(|p| millis(p.span.start)),
        end: placed.map(|p| millis(p.span.end)),
        offset_ms: Some(ms_between(v.source.start, v.facts.first_packet)),
        first_frame_delay_ms: None,
        gaps: placed.map_or_else(Vec::new, |p| p.gaps.iter().map(gap).collect()),
        resolutions: Vec::new(),
        rotations: Vec::new(),
        skipped: None,
    }
}

/// A track left out before it was converted or probed whole.
fn skipped_entry(s: &Skipped) -> TrackEntry {
    TrackEntry {
        user_id: Some(s.source.user_id.clone()),
        kind: s.kind.as_str().into(),
        filename: s.source.path.display().to_string(),
        codec: s.codec.clone(),
        start: None,
        end: None,
        offset_ms: None,
        first_frame_delay_ms: None,
        gaps: Vec::new(),
        resolutions: Vec::new(),
        rotations: Vec::new(),
        skipped: Some(s.reason.clone()),
    }
}

/// The mixed audio: t=0 is its start, and it lasts its length within an output of
/// `duration` seconds.
fn audio_entry(a: &Audio, duration: f64) -> TrackEntry {
    TrackEntry {
        user_id: None,
        kind: "audio".into(),
        filename: a.source.path.display().to_string(),
        codec: a.codec.clone(),
        start: Some(0.0),
        end: Some(millis(a.facts.duration.min(duration))),
        offset_ms: None,
        first_frame_delay_ms: None,
        gaps: Vec::new(),
        resolutions: Vec::new(),
        rotations: Vec::new(),
        skipped: None,
    }
}

/// Each interval of `plan`, in seconds, with its tiles; `users` by track index.
fn layout_entries(plan: &Plan, users: &[&str]) -> Vec<LayoutEntry> {
    plan.intervals
        .iter()
        .map(|iv| LayoutEntry {
            start: millis(plan.seconds(iv.start_frame)),
            end: millis(plan.seconds(iv.end_frame)),
            tiles: iv
                .tiles
                .iter()
                .map(|t| TileEntry {
                    user_id: users.get(t.track).copied().unwrap_or_default().to_owned(),
                    x: t.rect.x,
                    y: t.rect.y,
                    w: t.rect.w,
                    h: t.rect.h,
                })
                .collect(),
        })
        .collect()
}

/// One INFO line per track with what [`timeline`] says of it.
pub(crate) fn log(conference_id: &str, timeline: &TimelineReport) {
    for t in &timeline.tracks {
        let gaps: Vec<String> = t
            .gaps
            .iter()
            .map(|g| format!("{:.3}s+{:.3}s", g.at, g.seconds))
            .collect();
        let sizes: Vec<String> = t
            .resolutions
            .iter()
            .map(|r| format!("{}x{}@{:.3}s", r.width, r.height, r.at))
            .collect();
        let turns: Vec<String> = t
            .rotations
            .iter()
            .map(|r| format!("{}@{:.3}s", r.degrees, r.at))
            .collect();
        let span = match (t.start, t.end) {
            (Some(a), Some(b)) => format!("from {a:.3}s to {b:.3}s"),
            _ => "not on the output".to_owned(),
        };
        tracing::info!(
            conference_id = crate::logs::field(conference_id),
            user_id = t.user_id.as_deref().map(crate::logs::field),
            kind = t.kind.as_str(),
            path = crate::logs::field(&t.filename),
            codec = crate::logs::field(&t.codec),
            start_s = t.start,
            end_s = t.end,
            offset_ms = t.offset_ms,
            first_frame_delay_ms = t.first_frame_delay_ms,
            gaps = crate::logs::field(gaps.join(" ")),
            resolutions = crate::logs::field(sizes.join(" ")),
            rotations = crate::logs::field(turns.join(" ")),
            skipped = t.skipped.as_deref().map(crate::logs::field),
            "{} track of {}: {span}, {} gaps.",
            match t.kind.as_str() {
                "audio" => "Audio",
                _ => "Video",
            },
            crate::logs::Inline(t.user_id.as_deref().unwrap_or("the audiomixer")),
            t.gaps.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, PlanTrack};

    fn track(i: usize, user: &str, start: f64, end: f64) -> PlanTrack {
        PlanTrack::lit(i, user, start, end)
    }

    #[test]
    fn the_layout_names_each_tile_by_its_user_in_seconds() {
        let tracks = [track(0, "ann", 0.0, 10.0), track(1, "bob", 2.5, 6.0)];
        let p = plan(10.0, &tracks, 640, 480, 30);
        let entries = layout_entries(&p, &["ann", "bob"]);
        let tile = |u: &str, x, w| TileEntry {
            user_id: u.into(),
            x,
            y: 0,
            w,
            h: 480,
        };
        assert_eq!(
            entries,
            vec![
                LayoutEntry {
                    start: 0.0,
                    end: 2.5,
                    tiles: vec![tile("ann", 0, 640)]
                },
                LayoutEntry {
                    start: 2.5,
                    end: 6.0,
                    tiles: vec![tile("ann", 0, 320), tile("bob", 320, 320)]
                },
                LayoutEntry {
                    start: 6.0,
                    end: 10.0,
                    tiles: vec![tile("ann", 0, 640)]
                },
            ]
        );
    }

    #[test]
    fn times_are_written_to_the_millisecond() {
        assert_eq!(millis(4.033_333_3), 4.033);
        assert_eq!(millis(-0.000_4), -0.0);
        assert_eq!(
            ms_between(Timestamp::from_micros(0), Timestamp::from_micros(-1_500)),
            -2
        );
    }
}
