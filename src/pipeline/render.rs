//! Render: the merged layout drawn and encoded in a few large ranges of the output, in
//! parallel (about one per core). Each range is one ffmpeg run that decodes every track it
//! shows once, from the keyframe before the range, and encodes the range once, starting with
//! a keyframe; [`super::mux`] joins the ranges without re-encoding. A range is committed
//! whole, so a resumed job keeps the ranges an earlier attempt finished.

use std::path::{Path, PathBuf};

use futures::future::try_join_all;

use crate::media::ffmpeg::{self, Encoding, RangeInput, RangeRender, TileSpan};
use crate::pipeline::preprocess::{Track, MAX_LAST_FRAME_HOLD_S};
use crate::pipeline::{
    budget, clear, commit, create_dir, partial_path, Blame, Cause, ToolSlots, Workspace,
};
use crate::plan::{self, Plan, Range, Shown, Span, Timeline};

/// Renders every range of the layout, in parallel; returns the parts in order. `timeline`
/// places each track; a frame is held at most `max_freeze` seconds.
pub(crate) async fn ranges(
    slots: &ToolSlots,
    work: &Workspace,
    layout: &Plan,
    (tracks, timeline): (&[Track], &Timeline),
    (canvas, max_freeze): ((u32, u32), f64),
    encoding: Encoding,
) -> Result<Vec<PathBuf>, Cause> {
    create_dir(&work.parts())?;
    let media = Media::new(tracks, timeline, layout.fps, max_freeze);
    let shifts = &media.shifts;
    // Each file's keyframes, in seconds from its start: ffmpeg decodes a seek from the last
    // one at or before it.
    let keyframes: Vec<Vec<f64>> = tracks
        .iter()
        .map(|t| t.keyframes.iter().map(|k| k - t.file_start).collect())
        .collect();
    let lead_in = |s: &Shown, first: u64| {
        let seek = seek(layout, s, first, shifts[s.track], &media);
        let keys = &keyframes[s.track];
        let from = match keys.partition_point(|&k| k <= seek) {
            0 => 0.0,
            i => keys[i - 1],
        };
        let seconds = layout.seconds(first) - shifts[s.track] - from;
        (seconds * f64::from(layout.fps)).max(0.0)
    };
    let ranges = plan::ranges(layout, slots.cores(), &lead_in);
    let parts: Vec<PathBuf> = ranges.iter().map(|r| work.range_part(r)).collect();
    // Ranges an earlier attempt at this job rendered are complete (committed) and kept.
    let todo: Vec<usize> = (0..parts.len()).filter(|&i| !parts[i].exists()).collect();
    reused(
        work,
        "rendered ranges",
        parts.len() - todo.len(),
        parts.len(),
    );
    // From the plan, not from what is left to do: the encoder's bytes depend on it.
    let encoding = Encoding {
        threads: slots.threads_for(ranges.len()),
        ..encoding
    };
    let renderer = Renderer {
        slots,
        work,
        layout,
        files: tracks.iter().map(|t| t.file.as_path()).collect(),
        media: &media,
        canvas,
        encoding,
    };
    try_join_all(
        todo.into_iter()
            .map(|i| renderer.render(ranges[i], &parts[i])),
    )
    .await?;
    Ok(parts)
}

/// Where each track's media falls on the output, by track index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Media {
    /// Output seconds at which each file's first timestamp falls.
    pub shifts: Vec<f64>,
    /// The output frames from which each rotation a track signals holds, in order (none:
    /// upright throughout).
    pub turns: Vec<Vec<(u64, u16)>>,
    /// The output frames from which each picture size holds, in order (before the first:
    /// the first).
    pub sizes: Vec<Vec<(u64, (u32, u32))>>,
    /// Where no new frame comes (output seconds): each gap, and from the media's end on.
    pub holds: Vec<Vec<Span>>,
    /// The longest a frame is held, in seconds (`recording.max_freeze`).
    pub max_freeze: f64,
}

/// Changes by the frame they hold from; several at one frame stay in the order written (the
/// last holds).
fn in_order<T>(mut changes: Vec<(u64, T)>) -> Vec<(u64, T)> {
    changes.sort_by_key(|c| c.0);
    changes
}

impl Media {
    /// The media of `tracks` placed by `timeline`, on a `fps` grid.
    fn new(tracks: &[Track], timeline: &Timeline, fps: u32, max_freeze: f64) -> Media {
        let anchors = &timeline.anchors;
        let frame = |anchor: f64, at: f64| plan::to_frame(anchor + at, fps);
        let shifts = tracks
            .iter()
            .zip(anchors)
            .map(|(t, anchor)| anchor + t.file_start)
            .collect();
        let turns = tracks
            .iter()
            .zip(anchors)
            .map(|(t, &anchor)| {
                in_order(
                    t.rotations
                        .iter()
                        .map(|&(at, d)| (frame(anchor, at), d))
                        .collect(),
                )
            })
            .collect();
        let sizes = tracks
            .iter()
            .zip(anchors)
            .map(|(t, &anchor)| {
                let changes = t
                    .sizes
                    .iter()
                    .map(|&(at, w, h)| (frame(anchor, at), (w, h)));
                match t.sizes.is_empty() {
                    true => vec![(0, (t.width, t.height))],
                    false => in_order(changes.collect()),
                }
            })
            .collect();
        let holds = timeline
            .tracks
            .iter()
            .map(|placed| match placed {
                Some(p) => p
                    .gaps
                    .iter()
                    .copied()
                    .chain([Span {
                        start: p.media_end,
                        end: f64::INFINITY,
                    }])
                    .collect(),
                None => Vec::new(),
            })
            .collect();
        Media {
            shifts,
            turns,
            sizes,
            holds,
            max_freeze,
        }
    }

    /// How much earlier than output second `t` a range that shows `track` from `t` starts
    /// reading it: the frame shown at `t` came at most one held frame earlier, or, in a gap
    /// or after the media's end, when that began (but no more than `max_freeze` ago: after
    /// that the tile is black); and a second more, for ffmpeg drops what comes before the
    /// point it seeks to.
    fn margin(&self, track: usize, t: f64) -> f64 {
        let held = self.holds[track]
            .iter()
            .find(|h| h.start <= t && t < h.end)
            .map_or(0.0, |h| (t - h.start).min(self.max_freeze));
        held + MAX_LAST_FRAME_HOLD_S + 1.0
    }
}

/// What every range of one job is rendered from.
struct Renderer<'a> {
    slots: &'a ToolSlots,
    work: &'a Workspace,
    layout: &'a Plan,
    /// Each track's file, by track index.
    files: Vec<&'a Path>,
    media: &'a Media,
    canvas: (u32, u32),
    encoding: Encoding,
}

impl Renderer<'_> {
    /// Renders `range` into `target`, committed whole.
    async fn render(&self, range: Range, target: &Path) -> Result<(), Cause> {
        let (layout, work) = (self.layout, self.work);
        let output = partial_path(target);
        clear(&output)?;
        let inputs = inputs(layout, range, self.media);
        let render = RangeRender {
            inputs: inputs
                .iter()
                .map(|i| RangeInput {
                    file: self.files[i.track],
                    seek: i.seek,
                    at: i.at,
                    from_frame: i.from_frame,
                    tiles: i.tiles.clone(),
                })
                .collect(),
            hold: self.media.max_freeze + MAX_LAST_FRAME_HOLD_S,
            width: self.canvas.0,
            height: self.canvas.1,
            frames: range.frames(),
            encoding: self.encoding,
            output: &output,
        };
        let script = work.range_graph(&range);
        std::fs::write(&script, ffmpeg::range_graph(&render))
            .map_err(Cause::io("cannot write", &script))?;
        let inv = ffmpeg::render_range(&render, &script);
        // A range may decode its tracks from their beginning (a single keyframe).
        let rendered = self.slots.run(&inv, budget(layout.duration(), 10.0)).await;
        let parts = work.parts();
        let ours: Vec<&Path> = inputs
            .iter()
            .map(|i| self.files[i.track])
            .chain([script.as_path(), parts.as_path()])
            .collect();
        // The tracks were converted and probed already, and undecodable frames do not fail a
        // range: a range that fails is the system's fault (and retried), not the recording's.
        ffmpeg::judge(rendered).map_err(|e| {
            Cause::tool_on(Blame::System, &ours)(e).doing(format_args!(
                "rendering the output from {:.2}s to {:.2}s",
                layout.seconds(range.start_frame),
                layout.seconds(range.end_frame)
            ))
        })?;
        commit(&output, target)
    }
}

/// One track as a range reads it (see [`RangeInput`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Input {
    pub track: usize,
    pub seek: f64,
    pub at: f64,
    pub from_frame: u64,
    pub tiles: Vec<TileSpan>,
}

/// The tracks whose picture `range` shows, each with where to start reading it and the
/// spans in which its tiles show it, in the range's own frames (adjacent intervals with the
/// same tile merged into one span; no span where the tile is black; a span for each
/// rotation).
pub(crate) fn inputs(layout: &Plan, range: Range, media: &Media) -> Vec<Input> {
    let (a, b) = (range.start_frame, range.end_frame);
    let shown: Vec<&Shown> = layout
        .shown
        .iter()
        .filter(|s| s.picture_frame() < b && a < s.end_frame)
        .collect();
    let mut inputs = Vec::with_capacity(shown.len());
    for s in shown {
        let mut tiles: Vec<TileSpan> = Vec::new();
        for iv in &layout.intervals {
            let (from, to) = (iv.start_frame.max(a), iv.end_frame.min(b));
            if from >= to {
                continue;
            }
            let Some(tile) = iv.tiles.iter().find(|t| t.track == s.track) else {
                continue;
            };
            match tiles.last_mut() {
                Some(last) if last.to_frame == from - a && last.rect == tile.rect => {
                    last.to_frame = to - a;
                }
                _ => tiles.push(TileSpan {
                    from_frame: from - a,
                    to_frame: to - a,
                    rect: tile.rect,
                    picture: (0, 0),
                    rotation: 0,
                }),
            }
        }
        let tiles = lit_only(&tiles, &s.lit, a);
        if tiles.is_empty() {
            continue;
        }
        let tiles = cut_at(&tiles, &media.turns[s.track], a, |t, r| t.rotation = r);
        let tiles = cut_at(&tiles, &media.sizes[s.track], a, |t, p| t.picture = p);
        let first = s.picture_frame().max(a);
        let shift = media.shifts[s.track];
        let seek = seek(layout, s, first, shift, media);
        inputs.push(Input {
            track: s.track,
            seek,
            at: shift + seek - layout.seconds(a),
            from_frame: first - a,
            tiles,
        });
    }
    inputs
}

/// The parts of `tiles` (in a range's frames, the range starting at output frame `a`) in
/// which the track's picture shows (`lit`, in output frames).
fn lit_only(tiles: &[TileSpan], lit: &[(u64, u64)], a: u64) -> Vec<TileSpan> {
    let mut out = Vec::new();
    for t in tiles {
        for &(from, to) in lit {
            let from = from.saturating_sub(a).max(t.from_frame);
            let to = to.saturating_sub(a).min(t.to_frame);
            if from < to {
                out.push(TileSpan {
                    from_frame: from,
                    to_frame: to,
                    ..*t
                });
            }
        }
    }
    out
}

/// `tiles` (in a range's frames, the range starting at output frame `a`) cut where a
/// property of the track changes, each part given its value by `set`: `changes` are the
/// output frames from which each value holds, in order (before the first: the first;
/// several at one frame: the last; none: `tiles` as they are).
fn cut_at<T: Copy + PartialEq>(
    tiles: &[TileSpan],
    changes: &[(u64, T)],
    a: u64,
    set: impl Fn(&mut TileSpan, T),
) -> Vec<TileSpan> {
    let Some(&(_, first)) = changes.first() else {
        return tiles.to_vec();
    };
    let mut out = Vec::new();
    let mut push = |t: &TileSpan, from: u64, to: u64, value: T| {
        if from < to {
            let mut part = TileSpan {
                from_frame: from - a,
                to_frame: to - a,
                ..*t
            };
            set(&mut part, value);
            out.push(part);
        }
    };
    for t in tiles {
        let (start, end) = (a + t.from_frame, a + t.to_frame);
        let mut value = changes
            .iter()
            .take_while(|c| c.0 <= start)
            .last()
            .map_or(first, |c| c.1);
        let mut from = start;
        for &(at, v) in changes.iter().skip_while(|c| c.0 <= start) {
            if at >= end {
                break;
            }
            if v != value {
                push(t, from, at, value);
                (from, value) = (at, v);
            }
        }
        push(t, from, end, value);
    }
    out
}

/// Seconds into the file of `s` where a range whose first frame showing it is `first` starts
/// reading it (the file's first timestamp falls at `shift` on the output): early enough for
/// the frame shown then ([`Media::margin`]). ffmpeg cannot seek to before a file's first
/// keyframe (it then decodes nothing at all): such a track is read from its beginning, which
/// holds nothing decodable before that keyframe anyway.
fn seek(layout: &Plan, s: &Shown, first: u64, shift: f64, media: &Media) -> f64 {
    let first_picture = layout.seconds(s.picture_frame()) - shift;
    let margin = media.margin(s.track, layout.seconds(first));
    let target = layout.seconds(first) - shift - margin;
    match target > first_picture + 1.0 / f64::from(layout.fps) {
        true => target,
        false => 0.0,
    }
}

/// Logs how much of a step an earlier attempt at this job already did.
pub(crate) fn reused(work: &Workspace, what: &str, done: usize, of: usize) {
    if done > 0 {
        tracing::info!(
            conference_id = crate::logs::field(work.conference_id()),
            reused = done,
            total = of,
            "Resuming: {done} of {of} {what} are kept from an earlier attempt."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanTrack, Rect, Span};

    fn track(i: usize, user: &str, start: f64, end: f64) -> PlanTrack {
        PlanTrack::lit(i, user, start, end)
    }

    /// Upright tracks of one size without gaps whose files start at `shifts`: sought 2 s
    /// early.
    fn media(shifts: &[f64]) -> Media {
        Media {
            shifts: shifts.to_vec(),
            turns: vec![Vec::new(); shifts.len()],
            sizes: vec![vec![(0, (640, 480))]; shifts.len()],
            holds: vec![Vec::new(); shifts.len()],
            max_freeze: 2.0,
        }
    }

    fn range(start_frame: u64, end_frame: u64) -> Range {
        Range {
            start_frame,
            end_frame,
        }
    }

    #[test]
    fn a_range_reads_each_track_it_shows_from_shortly_before_its_first_frame() {
        // a from 0 s, b from 10 s; 30 fps; a's file starts 0.5 s into the output.
        let tracks = [track(0, "a", 0.5, 40.0), track(1, "b", 10.0, 40.0)];
        let layout = plan::plan(40.0, &tracks, 640, 480, 30);
        let places = [0.5, 9.9];
        // The second half: both shown throughout, side by side.
        let second = inputs(&layout, range(600, 1200), &media(&places));
        assert_eq!(second.len(), 2);
        let a = &second[0];
        assert_eq!(a.track, 0);
        assert_eq!(a.from_frame, 0);
        // 20 s of output is 19.5 s into a's file; reading starts 2 s earlier.
        assert!((a.seek - 17.5).abs() < 1e-9, "{a:?}");
        // The file's 17.5 s falls at 18 s of the output, i.e. 2 s before the range.
        assert!((a.at - -2.0).abs() < 1e-9, "{a:?}");
        assert_eq!(
            a.tiles,
            vec![TileSpan {
                from_frame: 0,
                to_frame: 600,
                picture: (640, 480),
                rotation: 0,
                rect: Rect {
                    x: 0,
                    y: 0,
                    w: 320,
                    h: 480
                }
            }]
        );
        // The first half: b joins at frame 300; the seek cannot go before the file.
        let first = inputs(&layout, range(0, 600), &media(&places));
        let b = &first[1];
        assert_eq!((b.track, b.from_frame, b.seek), (1, 300, 0.0));
        assert!((b.at - 9.9).abs() < 1e-9, "{b:?}");
        let a = &first[0];
        assert_eq!(a.from_frame, 15, "a shows from 0.5 s");
        let spans: Vec<(u64, u64, u32)> = a
            .tiles
            .iter()
            .map(|t| (t.from_frame, t.to_frame, t.rect.w))
            .collect();
        assert_eq!(spans, vec![(15, 300, 640), (300, 600, 320)]);
    }

    #[test]
    fn a_track_is_not_sought_to_before_its_first_keyframe() {
        // b's file starts at 1 s, its first picture (keyframe) at 35 s; the range starts at
        // 20 s and shows b from 35 s: reading 2 s early would seek before the keyframe.
        let tracks = [track(0, "a", 0.0, 40.0), track(1, "b", 35.0, 40.0)];
        let layout = plan::plan(40.0, &tracks, 640, 480, 30);
        let b = &inputs(&layout, range(600, 1200), &media(&[0.0, 1.0]))[1];
        assert_eq!((b.seek, b.from_frame), (0.0, 450));
        assert!((b.at - -19.0).abs() < 1e-9, "{b:?}");
        // Later in the call, past that keyframe, it is sought: 50 s of output is 49 s into
        // b's file, and reading starts 2 s earlier.
        let tracks = [track(0, "a", 0.0, 60.0), track(1, "b", 35.0, 60.0)];
        let layout = plan::plan(60.0, &tracks, 640, 480, 30);
        let b = &inputs(&layout, range(1500, 1800), &media(&[0.0, 1.0]))[1];
        assert!((b.seek - 47.0).abs() < 1e-9, "{b:?}");
    }

    #[test]
    fn a_range_overlays_a_track_only_where_its_picture_shows() {
        // a's tile is there from 0 s, its first picture at 2 s, and black from 12 to 20 s
        // (a stopped camera); the range is 10 s to 40 s.
        let mut a = track(0, "a", 0.0, 40.0);
        a.dark = vec![
            Span {
                start: 0.0,
                end: 2.0,
            },
            Span {
                start: 12.0,
                end: 20.0,
            },
        ];
        let layout = plan::plan(40.0, &[a], 640, 480, 30);
        let input = &inputs(&layout, range(300, 1200), &media(&[0.0]))[0];
        let spans: Vec<(u64, u64)> = input
            .tiles
            .iter()
            .map(|t| (t.from_frame, t.to_frame))
            .collect();
        assert_eq!(spans, vec![(0, 60), (300, 900)]);
        // Read from 2 s before the range, not before the first picture.
        assert!((input.seek - 8.0).abs() < 1e-9, "{input:?}");
        // A range wholly inside the black stretch does not read the track at all, nor one
        // before its first picture.
        assert_eq!(inputs(&layout, range(400, 550), &media(&[0.0])), vec![]);
        assert_eq!(inputs(&layout, range(0, 60), &media(&[0.0])), vec![]);
        // The first range that shows it reads it from its beginning.
        let first = &inputs(&layout, range(0, 300), &media(&[0.0]))[0];
        assert_eq!((first.seek, first.from_frame), (0.0, 60));
    }

    #[test]
    fn a_tile_is_cut_where_its_rotation_changes() {
        let rect = Rect {
            x: 0,
            y: 0,
            w: 10,
            h: 10,
        };
        let span = |from_frame, to_frame| TileSpan {
            from_frame,
            to_frame,
            rect,
            picture: (640, 480),
            rotation: 0,
        };
        let turned = |tiles: &[TileSpan], turns: &[(u64, u16)]| -> Vec<(u64, u64, u16)> {
            cut_at(tiles, turns, 100, |t, r| t.rotation = r)
                .iter()
                .map(|t| (t.from_frame, t.to_frame, t.rotation))
                .collect()
        };
        // No rotation signalled: upright.
        assert_eq!(turned(&[span(0, 50)], &[]), vec![(0, 50, 0)]);
        // 90 from before the range, 270 from output frame 120, 270 again at 130 (no cut),
        // 0 from 170; the second span starts inside the 0.
        let turns = [(30, 90), (120, 270), (130, 270), (170, 0), (400, 180)];
        assert_eq!(
            turned(&[span(0, 50), span(60, 100)], &turns),
            vec![(0, 20, 90), (20, 50, 270), (60, 70, 270), (70, 100, 0)]
        );
        // Before the first signal, the first; two at one frame: the last; no empty parts.
        let turns = [(110, 90), (120, 180), (120, 270)];
        assert_eq!(
            turned(&[span(0, 50)], &turns),
            vec![(0, 20, 90), (20, 50, 270)]
        );
        let turns = [(100, 90), (100, 180)];
        assert_eq!(turned(&[span(0, 50)], &turns), vec![(0, 50, 180)]);
    }

    #[test]
    fn a_seek_reaches_back_to_the_frame_a_freeze_holds() {
        let mut m = media(&[0.0]);
        m.holds = vec![vec![
            Span {
                start: 10.0,
                end: 20.0,
            },
            Span {
                start: 30.0,
                end: f64::INFINITY,
            },
        ]];
        // Outside a freeze: a held frame (1 s) and a second.
        assert_eq!(m.margin(0, 5.0), 2.0);
        // 1.5 s into a gap: its last frame came then.
        assert_eq!(m.margin(0, 11.5), 3.5);
        // Past max_freeze (2 s) the tile is black: no further back than that.
        assert_eq!(m.margin(0, 15.0), 4.0);
        // After the media's end, the same.
        assert_eq!(m.margin(0, 30.5), 2.5);
        assert_eq!(m.margin(0, 100.0), 4.0);
    }

    #[test]
    fn lit_only_keeps_each_tile_where_its_picture_shows() {
        let rect = Rect {
            x: 0,
            y: 0,
            w: 10,
            h: 10,
        };
        let other = Rect { x: 10, ..rect };
        let tiles = [
            TileSpan {
                from_frame: 0,
                to_frame: 50,
                rect,
                picture: (640, 480),
                rotation: 0,
            },
            TileSpan {
                from_frame: 50,
                to_frame: 100,
                rect: other,
                picture: (640, 480),
                rotation: 0,
            },
        ];
        // In output frames; the range starts at frame 100.
        let lit = [(90, 120), (140, 160), (190, 400)];
        let kept: Vec<(u64, u64, u32)> = lit_only(&tiles, &lit, 100)
            .iter()
            .map(|t| (t.from_frame, t.to_frame, t.rect.x))
            .collect();
        assert_eq!(
            kept,
            vec![(0, 20, 0), (40, 50, 0), (50, 60, 10), (90, 100, 10)]
        );
    }

    #[test]
    fn a_range_leaves_out_the_tracks_it_does_not_show() {
        let tracks = [track(0, "a", 0.0, 10.0), track(1, "b", 20.0, 30.0)];
        let layout = plan::plan(30.0, &tracks, 640, 480, 30);
        let places = [0.0, 20.0];
        let who = |r| -> Vec<usize> {
            inputs(&layout, r, &media(&places))
                .iter()
                .map(|i| i.track)
                .collect()
        };
        assert_eq!(who(range(0, 300)), vec![0]);
        assert_eq!(who(range(300, 600)), Vec::<usize>::new());
        assert_eq!(who(range(450, 900)), vec![1]);
    }

    #[test]
    fn the_same_tile_over_several_intervals_is_one_span() {
        // b comes and goes twice while a stays in the first tile of a two-tile grid... then
        // reflows; the spans split only where a's tile changes.
        let tracks = [
            track(0, "a", 0.0, 30.0),
            track(1, "b", 5.0, 10.0),
            track(2, "c", 10.0, 20.0),
        ];
        let layout = plan::plan(30.0, &tracks, 640, 480, 30);
        let a = &inputs(&layout, range(0, 900), &media(&[0.0; 3]))[0];
        let spans: Vec<(u64, u64)> = a.tiles.iter().map(|t| (t.from_frame, t.to_frame)).collect();
        // Alone, beside b, beside c (same tile as beside b: merged), alone again.
        assert_eq!(spans, vec![(0, 150), (150, 600), (600, 900)]);
    }
}
