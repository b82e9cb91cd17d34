//! Planning, pure: the bound on a call's length, the intervals between joins and leaves, and
//! the tile geometry of each interval (SPEC.md "Timeline and layout"); [`timeline`] places
//! the media on the output first. No I/O here; everything is unit-tested.
//!
//! Times are snapped to the output's frame grid (`recording.fps`) so that every interval holds
//! a whole number of frames, and the output is cut into ranges of about equal work that are
//! rendered in parallel and concatenate to exactly the planned length.

use std::time::Duration;

use crate::timestamp::Timestamp;

mod timeline;

pub use timeline::{
    gaps, timeline, AudioFacts, Placed, PlacedVoice, Span, Timeline, VideoFacts, VoiceFacts,
    SHORTEST_GAP_S,
};

/// An instant that measures how long a call is, and what it is, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    pub at: Timestamp,
    pub what: String,
}

/// A call whose times span more than `recording.max_duration`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the call would last {}, longer than recording.max_duration ({} s): from {} ({}) to {} ({})",
    span_words(.last.at.as_micros() as i128 - .first.at.as_micros() as i128),
    .max.as_secs(),
    .first.at.to_iso_millis(),
    .first.what,
    .last.at.to_iso_millis(),
    .last.what
)]
pub struct TooLong {
    pub first: Moment,
    pub last: Moment,
    pub max: Duration,
}

/// Checks that `moments` span at most `max` (SPEC.md "Configuration", `max_duration`); the
/// error names the earliest and the latest of them.
pub fn check_length(moments: &[Moment], max: Duration) -> Result<(), TooLong> {
    let (Some(first), Some(last)) = (
        moments.iter().min_by_key(|m| m.at),
        moments.iter().max_by_key(|m| m.at),
    ) else {
        return Ok(());
    };
    let span = last.at.as_micros() as i128 - first.at.as_micros() as i128;
    if span <= max.as_micros() as i128 {
        return Ok(());
    }
    Err(TooLong {
        first: first.clone(),
        last: last.clone(),
        max,
    })
}

/// A length of time in words: seconds, hours or days, whichever reads best.
fn span_words(micros: i128) -> String {
    let seconds = micros as f64 / 1e6;
    if seconds < 3600.0 {
        format!("{seconds:.1} s")
    } else if seconds < 2.0 * 86_400.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{:.0} days", seconds / 86_400.0)
    }
}

/// How a recording is delivered (SPEC.md "Outputs").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One video with every participant laid out in a grid.
    Merged,
    /// One file per track and the mixed audio, side by side in a directory.
    Split,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Merged => "merged",
            Mode::Split => "split",
        }
    }
}

/// The most tiles a merged layout may show (SPEC.md: `mix_limit` never above 9).
pub const MAX_TILES: u32 = 9;

/// Picks merged or split (SPEC.md): split when configured, when `mix_limit` is above 9, or
/// when more videos are visible at once than `mix_limit`; merged otherwise. Returns the mode
/// and the reason, in words for the processed event and the log.
pub fn choose_mode(split_configured: bool, mix_limit: u32, max_visible: usize) -> (Mode, String) {
    if split_configured {
        (Mode::Split, "split_recording_output is true".to_owned())
    } else if mix_limit > MAX_TILES {
        (
            Mode::Split,
            format!("mix_limit {mix_limit} is above {MAX_TILES}"),
        )
    } else if max_visible > mix_limit as usize {
        (
            Mode::Split,
            format!("{max_visible} videos are visible at once, more than mix_limit {mix_limit}"),
        )
    } else {
        (
            Mode::Merged,
            format!(
                "at most {max_visible} videos are visible at once, within mix_limit {mix_limit}"
            ),
        )
    }
}

/// A rectangle on the canvas, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// The grid of SPEC.md for `n` tiles on a `width`×`height` canvas: `cols = ceil(sqrt(n))`,
/// `rows = ceil(n / cols)`, tiles `2*floor(W/cols/2)` × `2*floor(H/rows/2)`, the grid centred,
/// a short last row centred horizontally. Tile k is in row `k / cols`, column `k % cols`.
pub fn grid(n: usize, width: u32, height: u32) -> Vec<Rect> {
    if n == 0 {
        return Vec::new();
    }
    let cols = ceil_sqrt(n);
    let rows = n.div_ceil(cols);
    let tw = 2 * (width / cols as u32 / 2);
    let th = 2 * (height / rows as u32 / 2);
    let top = (height - th * rows as u32) / 2;
    (0..n)
        .map(|k| {
            let row = k / cols;
            let col = k % cols;
            let in_row = if row == rows - 1 {
                n - row * cols
            } else {
                cols
            };
            let left = (width - tw * in_row as u32) / 2;
            Rect {
                x: left + tw * col as u32,
                y: top + th * row as u32,
                w: tw,
                h: th,
            }
        })
        .collect()
}

fn ceil_sqrt(n: usize) -> usize {
    let mut c = (n as f64).sqrt() as usize;
    while c * c < n {
        c += 1;
    }
    while c > 1 && (c - 1) * (c - 1) >= n {
        c -= 1;
    }
    c
}

/// One visible video track, as planning sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanTrack {
    /// Index into the conference's videos.
    pub track: usize,
    pub user_id: String,
    /// When its tile is there.
    pub span: Span,
    /// When its tile is black (see [`Placed::dark`]), in order.
    pub dark: Vec<Span>,
}

#[cfg(test)]
impl PlanTrack {
    /// Track `track` of `user`, there from `start` to `end` seconds and never black.
    pub(crate) fn lit(track: usize, user: &str, start: f64, end: f64) -> PlanTrack {
        PlanTrack {
            track,
            user_id: user.to_owned(),
            span: Span { start, end },
            dark: Vec::new(),
        }
    }
}

/// A tile of an interval: which track shows where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub track: usize,
    pub rect: Rect,
}

/// A stretch of the output during which the same tracks are visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub start_frame: u64,
    pub end_frame: u64,
    pub tiles: Vec<Tile>,
}

/// The output frames a track has a tile in, `[start_frame, end_frame)`, and those in which
/// the tile shows its picture rather than black.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub track: usize,
    pub start_frame: u64,
    pub end_frame: u64,
    /// `[from, to)` frame ranges, in order, within the tile's frames.
    pub lit: Vec<(u64, u64)>,
}

impl Shown {
    /// The first frame that shows the track's picture (`end_frame` if none does).
    pub fn picture_frame(&self) -> u64 {
        self.lit.first().map_or(self.end_frame, |l| l.0)
    }
}

/// The frames of `[start, end)` outside every one of `dark` (in order).
fn lit_frames(start: u64, end: u64, dark: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut lit = Vec::new();
    let mut from = start;
    for &(a, b) in dark {
        if a > from {
            lit.push((from, a.min(end)));
        }
        from = from.max(b);
        if from >= end {
            break;
        }
    }
    if from < end {
        lit.push((from, end));
    }
    lit.retain(|(a, b)| b > a);
    lit
}

/// The whole render plan of a merged recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Output frames per second.
    pub fps: u32,
    pub total_frames: u64,
    pub intervals: Vec<Interval>,
    /// Every visible track, by track index.
    pub shown: Vec<Shown>,
    /// The most tracks visible at one time.
    pub max_visible: usize,
}

impl Plan {
    pub fn duration(&self) -> f64 {
        self.seconds(self.total_frames)
    }

    /// Seconds from t=0 to output frame `frame`.
    pub fn seconds(&self, frame: u64) -> f64 {
        frame as f64 / f64::from(self.fps)
    }
}

/// Seconds to the nearest frame of a `fps` grid.
pub fn to_frame(seconds: f64, fps: u32) -> u64 {
    (seconds.max(0.0) * f64::from(fps)).round() as u64
}

/// Splits `duration` seconds into intervals at every join and leave, and lays out each
/// interval: tiles ordered by track start (ties: user ID, then track index), reflowing when
/// someone leaves. A track shorter than half a frame, or whose picture never shows for
/// half a frame, is not shown.
pub fn plan(duration: f64, tracks: &[PlanTrack], width: u32, height: u32, fps: u32) -> Plan {
    let fps = fps.max(1);
    let total_frames = to_frame(duration, fps);
    // Snap every track to the frame grid; drop what vanishes.
    let mut shown: Vec<(&PlanTrack, Shown)> = tracks
        .iter()
        .map(|t| {
            let frame = |s: f64| to_frame(s, fps).min(total_frames);
            let (start_frame, end_frame) = (frame(t.span.start), frame(t.span.end));
            let dark: Vec<(u64, u64)> = t
                .dark
                .iter()
                .map(|d| (frame(d.start), frame(d.end)))
                .collect();
            let shown = Shown {
                track: t.track,
                start_frame,
                end_frame,
                lit: lit_frames(start_frame, end_frame, &dark),
            };
            (t, shown)
        })
        .filter(|(_, s)| s.end_frame > s.start_frame && !s.lit.is_empty())
        .collect();
    shown.sort_by(|(a, sa), (b, sb)| {
        sa.start_frame
            .cmp(&sb.start_frame)
            .then_with(|| a.user_id.cmp(&b.user_id))
            .then_with(|| a.track.cmp(&b.track))
    });

    let mut bounds: Vec<u64> = vec![0, total_frames];
    for (_, s) in &shown {
        bounds.push(s.start_frame);
        bounds.push(s.end_frame);
    }
    bounds.sort_unstable();
    bounds.dedup();

    let mut intervals = Vec::new();
    let mut max_visible = 0;
    for w in bounds.windows(2) {
        let (a, b) = (w[0], w[1]);
        let visible: Vec<&Shown> = shown
            .iter()
            .map(|(_, s)| s)
            .filter(|s| s.start_frame <= a && b <= s.end_frame)
            .collect();
        max_visible = max_visible.max(visible.len());
        let rects = grid(visible.len(), width, height);
        let tiles = visible
            .iter()
            .zip(rects)
            .map(|(s, rect)| Tile {
                track: s.track,
                rect,
            })
            .collect();
        intervals.push(Interval {
            start_frame: a,
            end_frame: b,
            tiles,
        });
    }
    let mut shown: Vec<Shown> = shown.into_iter().map(|(_, s)| s).collect();
    shown.sort_by_key(|s| s.track);
    Plan {
        fps,
        total_frames,
        intervals,
        shown,
        max_visible,
    }
}

/// A stretch of output frames `[start_frame, end_frame)` rendered by one encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start_frame: u64,
    pub end_frame: u64,
}

impl Range {
    pub fn frames(&self) -> u64 {
        self.end_frame - self.start_frame
    }
}

/// Cost of encoding one output frame, in the unit of [`DECODE_COST`]; measured on the
/// four-party bench (`cargo bench --bench merged_speed`): VP8 at 640x480 encodes a frame in
/// about 3.4 ms; a 640x480 camera frame is decoded in about 0.95 ms, and scaled and overlaid
/// in 0.3 ms more.
const ENCODE_COST: f64 = 3.0;
/// Cost of decoding, scaling and overlaying one frame of one visible track.
const DECODE_COST: f64 = 1.0;
/// Cost of decoding one frame before a range's start (a seek's lead-in): decoded only.
const LEAD_IN_COST: f64 = 0.8;

/// No range is made shorter than this many seconds: each one costs a keyframe and a
/// decoder start for every track it shows.
pub const MIN_RANGE_SECONDS: f64 = 5.0;

/// How many frames of a shown track a range whose first frame showing it is `frame` decodes
/// before that frame (from the keyframe its seek starts at): the price of starting there.
pub type LeadIn<'a> = &'a dyn Fn(&Shown, u64) -> f64;

/// Splits the output into at most `n` ranges of about equal work, none shorter than
/// [`MIN_RANGE_SECONDS`] unless the whole output is. A range's work is the encoder's frames,
/// every visible track's decoded frames, and each track's `lead_in` from where the range
/// starts decoding it: with one keyframe per track, a range late in a call decodes every
/// track from its beginning, and gets fewer frames of its own for that. Ranges are rendered
/// in parallel, each with a keyframe at its start, and joined without re-encoding.
pub fn ranges(plan: &Plan, n: usize, lead_in: LeadIn<'_>) -> Vec<Range> {
    let total = plan.total_frames;
    let min_frames = ((MIN_RANGE_SECONDS * f64::from(plan.fps)).ceil() as u64).max(1);
    let n = (n as u64).min(total / min_frames).max(1) as usize;
    let cost = |a: u64, b: u64| range_cost(plan, a, b, lead_in);
    // The least bound on a range's work for which cutting greedily (each range as long as
    // the bound allows) needs at most n ranges; found by bisection.
    let whole = cost(0, total);
    let (mut low, mut high) = (whole / n as f64, whole);
    // `best` always holds the greedy cuts for `high` (one range for the whole work).
    let mut best = vec![0, total];
    for _ in 0..48 {
        let bound = (low + high) / 2.0;
        match greedy_cuts(total, min_frames, n, bound, &cost) {
            Some(cuts) => {
                best = cuts;
                high = bound;
            }
            None => low = bound,
        }
        if high - low <= 0.5 * DECODE_COST {
            break;
        }
    }
    let window = u64::from(plan.fps) * REFINE_SECONDS;
    refine(&mut best, min_frames, window, &cost);
    best.windows(2)
        .flat_map(|w| few_tracks(plan, w[0], w[1]))
        .collect()
}

/// The work of rendering frames `[a, b)`: see [`ranges`].
fn range_cost(plan: &Plan, a: u64, b: u64, lead_in: LeadIn<'_>) -> f64 {
    let frames: f64 = plan
        .intervals
        .iter()
        .map(|iv| {
            let overlap = iv.end_frame.min(b).saturating_sub(iv.start_frame.max(a));
            overlap as f64 * (ENCODE_COST + DECODE_COST * iv.tiles.len() as f64)
        })
        .sum();
    let lead: f64 = plan
        .shown
        .iter()
        .filter(|s| s.picture_frame() < b && a < s.end_frame)
        .map(|s| lead_in(s, s.picture_frame().max(a)))
        .sum();
    frames + LEAD_IN_COST * lead
}

/// How far a cut may move to where the range after it starts cheaper (seconds).
const REFINE_SECONDS: u64 = 15;

/// Moves each cut, within `window` frames, to where the costlier of the two ranges beside it
/// costs least. A range's price for starting at a frame jumps with the keyframes (a seek
/// just before a keyframe decodes from the one before), so a cut a few frames later can
/// save seconds of decoding; the greedy cut, which only bounds the work, does not see that.
fn refine(cuts: &mut [u64], min_frames: u64, window: u64, cost: &dyn Fn(u64, u64) -> f64) {
    for _ in 0..2 {
        for i in 1..cuts.len().saturating_sub(1) {
            let (prev, next) = (cuts[i - 1], cuts[i + 1]);
            let lo = (prev + min_frames).max(cuts[i].saturating_sub(window));
            let hi = next.saturating_sub(min_frames).min(cuts[i] + window);
            let worse = |c: u64| cost(prev, c).max(cost(c, next));
            let mut best = (worse(cuts[i]), cuts[i]);
            for c in lo..=hi {
                let w = worse(c);
                if w < best.0 {
                    best = (w, c);
                }
            }
            cuts[i] = best.1;
        }
    }
}

/// Cuts `[0, total)` from the start into ranges each as long as `bound` allows (at least
/// `min_frames`, and never leaving a shorter rest); `None` when that takes more than `n`.
fn greedy_cuts(
    total: u64,
    min_frames: u64,
    n: usize,
    bound: f64,
    cost: &dyn Fn(u64, u64) -> f64,
) -> Option<Vec<u64>> {
    let mut cuts = vec![0];
    let mut a = 0;
    while a < total {
        if cuts.len() > n {
            return None;
        }
        let (lo, hi) = (a + min_frames, total.saturating_sub(min_frames));
        let b = if cost(a, total) <= bound || lo > hi {
            total
        } else if cost(a, lo) > bound {
            lo
        } else {
            // The last end in [lo, hi] within the bound (work grows with the end).
            let (mut ok, mut over) = (lo, hi + 1);
            while over - ok > 1 {
                let mid = ok + (over - ok) / 2;
                match cost(a, mid) <= bound {
                    true => ok = mid,
                    false => over = mid,
                }
            }
            ok
        };
        cuts.push(b);
        a = b;
    }
    (cuts.len() - 1 <= n).then_some(cuts)
}

/// The most tracks one range shows (more when one interval alone shows more). Each track a
/// range shows costs every frame of the range a pass through its overlay (a copy of the
/// canvas, whether the tile is shown at that moment or not), and a decoder held open: without
/// a bound, a long call with many people coming and going would cost more per minute the
/// longer it is.
pub const MAX_RANGE_TRACKS: usize = 8;

/// `[start, end)` cut at interval boundaries into ranges that each show at most
/// [`MAX_RANGE_TRACKS`] tracks (or one interval's tiles, if that is more).
fn few_tracks(plan: &Plan, start: u64, end: u64) -> Vec<Range> {
    let mut out = Vec::new();
    let mut from = start;
    let mut tracks: Vec<usize> = Vec::new();
    for iv in &plan.intervals {
        if iv.end_frame <= start || iv.start_frame >= end {
            continue;
        }
        let new: Vec<usize> = iv
            .tiles
            .iter()
            .map(|t| t.track)
            .filter(|t| !tracks.contains(t))
            .collect();
        let at = iv.start_frame.max(start);
        if !new.is_empty() && tracks.len() + new.len() > MAX_RANGE_TRACKS && at > from {
            out.push(Range {
                start_frame: from,
                end_frame: at,
            });
            from = at;
            tracks = iv.tiles.iter().map(|t| t.track).collect();
        } else {
            tracks.extend(new);
        }
    }
    out.push(Range {
        start_frame: from,
        end_frame: end,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: f64) -> Timestamp {
        Timestamp::from_micros(1_700_000_000_000_000).add_seconds(s)
    }

    fn track(i: usize, user: &str, start: f64, end: f64) -> PlanTrack {
        PlanTrack::lit(i, user, start, end)
    }

    fn rect(x: u32, y: u32, w: u32, h: u32) -> Rect {
        Rect { x, y, w, h }
    }

    // ---- mode -----------------------------------------------------------------------------

    #[test]
    fn split_when_configured_whatever_the_count() {
        assert_eq!(choose_mode(true, 9, 1).0, Mode::Split);
        assert!(choose_mode(true, 9, 1).1.contains("split_recording_output"));
    }

    #[test]
    fn split_when_mix_limit_is_above_nine() {
        let (mode, why) = choose_mode(false, 10, 2);
        assert_eq!(mode, Mode::Split);
        assert!(why.contains("mix_limit 10"), "{why}");
    }

    #[test]
    fn split_when_more_are_visible_than_the_limit() {
        assert_eq!(choose_mode(false, 3, 4).0, Mode::Split);
        assert_eq!(choose_mode(false, 4, 4).0, Mode::Merged);
        assert_eq!(choose_mode(false, 9, 0).0, Mode::Merged);
        assert!(choose_mode(false, 3, 4).1.contains("4 videos"));
    }

    // ---- geometry -------------------------------------------------------------------------

    #[test]
    fn one_tile_fills_the_canvas() {
        assert_eq!(grid(1, 640, 480), vec![rect(0, 0, 640, 480)]);
    }

    #[test]
    fn two_tiles_side_by_side_full_height() {
        // cols 2, rows 1: 320x480 each.
        assert_eq!(
            grid(2, 640, 480),
            vec![rect(0, 0, 320, 480), rect(320, 0, 320, 480)]
        );
    }

    #[test]
    fn three_tiles_short_last_row_is_centred() {
        // cols 2, rows 2: 320x240; the third alone in row 1, centred: x = (640-320)/2.
        assert_eq!(
            grid(3, 640, 480),
            vec![
                rect(0, 0, 320, 240),
                rect(320, 0, 320, 240),
                rect(160, 240, 320, 240)
            ]
        );
    }

    #[test]
    fn four_tiles_two_by_two() {
        assert_eq!(
            grid(4, 640, 480),
            vec![
                rect(0, 0, 320, 240),
                rect(320, 0, 320, 240),
                rect(0, 240, 320, 240),
                rect(320, 240, 320, 240)
            ]
        );
    }

    #[test]
    fn five_tiles_three_columns_centred_grid() {
        // cols 3, rows 2: tw = 2*floor(640/3/2) = 212, th = 240; grid 636 wide.
        let g = grid(5, 640, 480);
        assert_eq!(g[0], rect(2, 0, 212, 240));
        assert_eq!(g[2], rect(426, 0, 212, 240));
        // last row of 2: (640 - 424) / 2 = 108.
        assert_eq!(g[3], rect(108, 240, 212, 240));
        assert_eq!(g[4], rect(320, 240, 212, 240));
    }

    #[test]
    fn seven_tiles_three_rows_with_centred_single() {
        // cols 3, rows 3: th = 2*floor(480/3/2) = 160.
        let g = grid(7, 640, 480);
        assert_eq!(g.len(), 7);
        assert_eq!(g[6], rect(214, 320, 212, 160));
    }

    #[test]
    fn nine_tiles_three_by_three() {
        let g = grid(9, 640, 480);
        assert_eq!(g[4], rect(214, 160, 212, 160));
        assert_eq!(g[8], rect(426, 320, 212, 160));
    }

    #[test]
    fn odd_canvas_sizes_keep_tiles_even_and_centred() {
        let g = grid(3, 1000, 562);
        // cols 2, rows 2: tw = 500, th = 2*floor(562/2/2) = 280; vertical margin (562-560)/2.
        assert_eq!(g[0], rect(0, 1, 500, 280));
        assert_eq!(g[2], rect(250, 281, 500, 280));
        for r in grid(6, 1000, 562) {
            assert_eq!(r.w % 2, 0);
            assert_eq!(r.h % 2, 0);
        }
    }

    #[test]
    fn tiles_never_overlap_nor_leave_the_canvas() {
        for n in 1..=9 {
            for (w, h) in [(640, 480), (1280, 720), (320, 240), (642, 482)] {
                let g = grid(n, w, h);
                assert_eq!(g.len(), n);
                for (i, a) in g.iter().enumerate() {
                    assert!(a.x + a.w <= w && a.y + a.h <= h, "n={n} {a:?}");
                    for b in &g[i + 1..] {
                        let apart = a.x + a.w <= b.x
                            || b.x + b.w <= a.x
                            || a.y + a.h <= b.y
                            || b.y + b.h <= a.y;
                        assert!(apart, "n={n}: {a:?} overlaps {b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn no_tiles_for_nobody() {
        assert!(grid(0, 640, 480).is_empty());
    }

    #[test]
    fn ceil_sqrt_matches_definition() {
        for n in 1..200usize {
            let c = ceil_sqrt(n);
            assert!(c * c >= n && (c - 1) * (c - 1) < n, "n={n} c={c}");
        }
    }

    // ---- length ---------------------------------------------------------------------------

    fn moment(seconds: f64, what: &str) -> Moment {
        Moment {
            at: ts(seconds),
            what: what.to_owned(),
        }
    }

    const TWELVE_HOURS: Duration = Duration::from_secs(43_200);

    #[test]
    fn a_call_within_the_bound_passes() {
        let m = [moment(5.0, "b"), moment(0.0, "a"), moment(43_200.0, "c")];
        assert_eq!(check_length(&m, TWELVE_HOURS), Ok(()));
        assert_eq!(check_length(&[], TWELVE_HOURS), Ok(()));
        assert_eq!(check_length(&m[..1], Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn a_longer_call_names_its_earliest_and_latest_times() {
        let m = [
            moment(10.0, "the startTime of alice's video"),
            moment(0.0, "the audio's startTime"),
            moment(43_200.5, "recordingInfo.completed"),
            moment(20.0, "x"),
        ];
        let e = check_length(&m, TWELVE_HOURS).unwrap_err();
        assert_eq!(e.first, m[1]);
        assert_eq!(e.last, m[2]);
        let text = e.to_string();
        for part in [
            "the call would last 12.0 h",
            "recording.max_duration (43200 s)",
            "from 2023-11-14T22:13:20.000Z (the audio's startTime)",
            "to 2023-11-15T10:13:20.500Z (recordingInfo.completed)",
        ] {
            assert!(text.contains(part), "{part:?} not in {text}");
        }
    }

    #[test]
    fn a_century_is_counted_in_days() {
        let century = 100.0 * 365.25 * 86_400.0;
        let m = [moment(0.0, "start"), moment(century, "a header's u")];
        let e = check_length(&m, TWELVE_HOURS).unwrap_err();
        assert!(e.to_string().contains("would last 36525 days"), "{e}");
        assert_eq!(span_words(90_000_000), "90.0 s");
        assert_eq!(span_words(7_200_000_000), "2.0 h");
    }

    #[test]
    fn times_at_the_ends_of_the_clock_do_not_overflow() {
        let m = [
            Moment {
                at: Timestamp::from_micros(i64::MIN),
                what: "a".into(),
            },
            Moment {
                at: Timestamp::from_micros(i64::MAX),
                what: "b".into(),
            },
        ];
        assert!(check_length(&m, TWELVE_HOURS).is_err());
    }

    // ---- intervals ------------------------------------------------------------------------

    #[test]
    fn a_tile_keeps_its_place_from_the_join_though_its_picture_comes_later() {
        // a joins at 0 s, its first picture at 2 s; b joins at 1 s with a picture at once.
        let mut a = track(0, "zed", 0.0, 10.0);
        a.dark = vec![Span {
            start: 0.0,
            end: 2.0,
        }];
        let b = track(1, "amy", 1.0, 10.0);
        let p = plan(10.0, &[a, b], 640, 480, 30);
        // a is the first tile from its join on, before the alphabetically first amy.
        let who: Vec<Vec<usize>> = p
            .intervals
            .iter()
            .map(|i| i.tiles.iter().map(|t| t.track).collect())
            .collect();
        assert_eq!(who, vec![vec![0], vec![0, 1]]);
        assert_eq!(p.intervals[0].end_frame, 30);
        assert_eq!(p.shown[0].start_frame, 0);
        assert_eq!(p.shown[0].picture_frame(), 60);
        assert_eq!(p.shown[0].lit, vec![(60, 300)]);
        assert_eq!(p.shown[1].lit, vec![(30, 300)]);
    }

    #[test]
    fn dark_stretches_are_cut_out_of_what_a_tile_shows() {
        let mut a = track(0, "a", 1.0, 20.0);
        a.dark = vec![
            Span {
                start: 1.0,
                end: 1.5,
            },
            Span {
                start: 7.0,
                end: 15.0,
            },
            Span {
                start: 18.0,
                end: 20.0,
            },
        ];
        let p = plan(20.0, &[a], 640, 480, 10);
        assert_eq!(p.shown[0].lit, vec![(15, 70), (150, 180)]);
        // A track that is black all along is not shown.
        let mut b = track(0, "b", 1.0, 5.0);
        b.dark = vec![Span {
            start: 1.0,
            end: 5.0,
        }];
        assert_eq!(plan(20.0, &[b], 640, 480, 10).shown, vec![]);
    }

    #[test]
    fn lit_frames_are_what_no_dark_stretch_covers() {
        assert_eq!(lit_frames(0, 10, &[]), vec![(0, 10)]);
        assert_eq!(lit_frames(0, 10, &[(0, 3), (5, 6)]), vec![(3, 5), (6, 10)]);
        assert_eq!(lit_frames(2, 10, &[(0, 4), (3, 5), (9, 12)]), vec![(5, 9)]);
        assert_eq!(lit_frames(2, 10, &[(0, 10)]), vec![]);
        assert_eq!(lit_frames(0, 10, &[(4, 4)]), vec![(0, 4), (4, 10)]);
    }

    #[test]
    fn four_party_joins_and_a_leave_make_five_intervals() {
        // The conference: joins at 0, 3, 6, 9; the third leaves at 14; 20 s.
        let tracks = [
            track(0, "red", 0.0, 20.0),
            track(1, "green", 3.0, 20.0),
            track(2, "blue", 6.0, 14.0),
            track(3, "yellow", 9.0, 20.0),
        ];
        let p = plan(20.0, &tracks, 640, 480, 25);
        assert_eq!(p.total_frames, 500);
        let spans: Vec<(u64, u64)> = p
            .intervals
            .iter()
            .map(|i| (i.start_frame, i.end_frame))
            .collect();
        assert_eq!(
            spans,
            vec![(0, 75), (75, 150), (150, 225), (225, 350), (350, 500)]
        );
        let who: Vec<Vec<usize>> = p
            .intervals
            .iter()
            .map(|i| i.tiles.iter().map(|t| t.track).collect())
            .collect();
        assert_eq!(
            who,
            vec![
                vec![0],
                vec![0, 1],
                vec![0, 1, 2],
                vec![0, 1, 2, 3],
                vec![0, 1, 3]
            ]
        );
        assert_eq!(p.max_visible, 4);
        // After blue leaves, yellow reflows into blue's place (third tile, centred last row).
        let last = &p.intervals[4];
        assert_eq!(last.tiles[2].rect, rect(160, 240, 320, 240));
    }

    #[test]
    fn intervals_cover_the_whole_output_without_gaps() {
        let tracks = [
            track(0, "a", 1.01, 7.3),
            track(1, "b", 2.5, 3.0),
            track(2, "c", 6.99, 12.0),
        ];
        let p = plan(12.345, &tracks, 640, 480, 25);
        assert_eq!(p.intervals.first().unwrap().start_frame, 0);
        assert_eq!(p.intervals.last().unwrap().end_frame, p.total_frames);
        for w in p.intervals.windows(2) {
            assert_eq!(w[0].end_frame, w[1].start_frame);
            assert!(w[0].end_frame > w[0].start_frame);
        }
        assert_eq!(p.intervals[0].tiles, vec![], "black before anyone shows");
    }

    #[test]
    fn ties_in_start_time_are_ordered_by_user_id() {
        let tracks = [track(0, "zoe", 0.0, 5.0), track(1, "adam", 0.0, 5.0)];
        let p = plan(5.0, &tracks, 640, 480, 25);
        let order: Vec<usize> = p.intervals[0].tiles.iter().map(|t| t.track).collect();
        assert_eq!(order, vec![1, 0]);
    }

    #[test]
    fn a_user_with_two_tracks_gets_two_tiles() {
        let tracks = [track(0, "a", 0.0, 10.0), track(1, "a", 5.0, 10.0)];
        let p = plan(10.0, &tracks, 640, 480, 25);
        assert_eq!(p.intervals[1].tiles.len(), 2);
    }

    #[test]
    fn each_visible_track_is_shown_from_its_start_to_its_end() {
        let tracks = [
            track(0, "a", 0.0, 20.0),
            track(1, "b", 4.0, 14.0),
            track(2, "c", 8.0, 20.0),
        ];
        let p = plan(20.0, &tracks, 640, 480, 25);
        let shown: Vec<(usize, u64, u64)> = p
            .shown
            .iter()
            .map(|s| (s.track, s.start_frame, s.end_frame))
            .collect();
        assert_eq!(shown, vec![(0, 0, 500), (1, 100, 350), (2, 200, 500)]);
        // A tile is in an interval exactly when its track is shown throughout it.
        for iv in &p.intervals {
            for s in &p.shown {
                let inside = s.start_frame <= iv.start_frame && iv.end_frame <= s.end_frame;
                assert_eq!(iv.tiles.iter().any(|t| t.track == s.track), inside);
            }
        }
    }

    #[test]
    fn a_blip_shorter_than_half_a_frame_is_dropped() {
        let tracks = [track(0, "a", 0.0, 10.0), track(1, "b", 5.0, 5.01)];
        let p = plan(10.0, &tracks, 640, 480, 25);
        assert_eq!(p.intervals.len(), 1);
        assert_eq!(p.shown.len(), 1);
    }

    #[test]
    fn tracks_are_clamped_to_the_output() {
        let tracks = [track(0, "a", 2.0, 30.0)];
        let p = plan(10.0, &tracks, 640, 480, 25);
        assert_eq!(p.shown[0].end_frame, 250);
        assert_eq!(p.intervals.len(), 2);
    }

    #[test]
    fn audio_only_is_one_black_interval() {
        let p = plan(3.0, &[], 640, 480, 25);
        assert_eq!(p.intervals.len(), 1);
        assert!(p.intervals[0].tiles.is_empty());
        assert_eq!(p.max_visible, 0);
    }

    #[test]
    fn ten_at_once_is_reported_for_splitting() {
        let tracks: Vec<PlanTrack> = (0..10).map(|i| track(i, "u", 0.0, 5.0)).collect();
        let p = plan(5.0, &tracks, 640, 480, 25);
        assert_eq!(p.max_visible, 10);
    }

    #[test]
    fn the_frame_grid_follows_fps() {
        let tracks = [track(0, "a", 1.0, 2.5)];
        let p = plan(4.0, &tracks, 640, 480, 30);
        assert_eq!(p.total_frames, 120);
        assert_eq!(p.shown[0].start_frame, 30);
        assert_eq!(p.shown[0].end_frame, 75);
        assert!((p.seconds(75) - 2.5).abs() < 1e-9);
        assert!((p.duration() - 4.0).abs() < 1e-9);
    }

    // ---- ranges ---------------------------------------------------------------------------

    fn spans(rs: &[Range]) -> Vec<(u64, u64)> {
        rs.iter().map(|r| (r.start_frame, r.end_frame)).collect()
    }

    fn no_lead_in(_: &Shown, _: u64) -> f64 {
        0.0
    }

    fn assert_cover(p: &Plan, rs: &[Range]) {
        assert_eq!(rs.first().unwrap().start_frame, 0);
        assert_eq!(rs.last().unwrap().end_frame, p.total_frames);
        for w in rs.windows(2) {
            assert_eq!(w[0].end_frame, w[1].start_frame);
        }
        for r in rs {
            assert!(r.frames() > 0, "{rs:?}");
        }
    }

    #[test]
    fn one_range_per_core_of_equal_work() {
        // Nobody throughout: every frame costs the same, so the ranges are equal.
        let p = plan(120.0, &[], 640, 480, 30);
        assert_eq!(
            spans(&ranges(&p, 2, &no_lead_in)),
            vec![(0, 1800), (1800, 3600)]
        );
        assert_eq!(spans(&ranges(&p, 1, &no_lead_in)), vec![(0, 3600)]);
        let four = ranges(&p, 4, &no_lead_in);
        assert_eq!(four.len(), 4);
        assert_cover(&p, &four);
    }

    #[test]
    fn busier_stretches_get_shorter_ranges() {
        // One tile for the first 60 s, four for the last 60 s: per frame 3+1 against 3+4.
        let mut tracks = vec![track(0, "a", 0.0, 120.0)];
        tracks.extend((1..4).map(|i| track(i, "b", 60.0, 120.0)));
        let p = plan(120.0, &tracks, 640, 480, 30);
        let rs = ranges(&p, 2, &no_lead_in);
        assert_cover(&p, &rs);
        let work = |r: &Range| -> f64 {
            (r.start_frame..r.end_frame)
                .map(|f| if f < 1800 { 4.0 } else { 7.0 })
                .sum()
        };
        let (a, b) = (work(&rs[0]), work(&rs[1]));
        assert!((a - b).abs() <= 7.0, "{rs:?}: {a} against {b}");
        assert!(rs[0].frames() > rs[1].frames());
    }

    #[test]
    fn a_range_that_must_decode_from_far_back_gets_fewer_frames() {
        // Two people throughout, each with one keyframe at its start: a range from frame f
        // decodes both tracks from 0 first. Work per frame 3 + 2; the later range pays
        // 2 · 0.8 · f.
        let tracks = [track(0, "a", 0.0, 120.0), track(1, "b", 0.0, 120.0)];
        let p = plan(120.0, &tracks, 640, 480, 30);
        let from_start = |_: &Shown, frame: u64| frame as f64;
        let rs = ranges(&p, 2, &from_start);
        assert_cover(&p, &rs);
        assert_eq!(rs.len(), 2);
        // 5·c = 5·(3600 − c) + 1.6·c  →  c = 18000 / 8.4 ≈ 2143.
        let cut = rs[0].end_frame;
        assert!((2142..=2144).contains(&cut), "{rs:?}");
        // Without that price the cut is in the middle.
        assert_eq!(
            spans(&ranges(&p, 2, &no_lead_in)),
            vec![(0, 1800), (1800, 3600)]
        );
        // Only tracks the range shows pay. One person for the first 60 s: per frame 4, then
        // 3. Unpriced, the cut is at 4·c = 12600 / 2 (c = 1575); priced, a cut before 1800
        // makes the second range decode the person from 0, so the cut moves to where they
        // leave (the first range 4·1800 = 7200, the second 5400 and nobody to decode), or
        // just before it (4·c = 4·(1800 − c) + 5400 + 0.8·c, c ≈ 1790).
        let early = [track(0, "a", 0.0, 60.0)];
        let p = plan(120.0, &early, 640, 480, 30);
        assert_eq!(
            spans(&ranges(&p, 2, &no_lead_in)),
            vec![(0, 1575), (1575, 3600)]
        );
        let cut = ranges(&p, 2, &from_start)[0].end_frame;
        assert!((1749..=1751).contains(&cut), "{cut}");
    }

    #[test]
    fn a_cut_lands_where_the_next_range_starts_cheaply() {
        // Keyframes every 10 s (300 frames) and a 2 s margin: starting at frame f costs
        // 60 + (f − 60) mod 300 frames of decoding per track. For two ranges the best cut
        // (found by trying every one) is what ranges() picks.
        let tracks = [track(0, "a", 0.0, 120.0), track(1, "b", 0.0, 120.0)];
        let p = plan(120.0, &tracks, 640, 480, 30);
        let sawtooth = |_: &Shown, f: u64| match f {
            0..=59 => f as f64,
            _ => (60 + (f - 60) % 300) as f64,
        };
        let worse =
            |c: u64| range_cost(&p, 0, c, &sawtooth).max(range_cost(&p, c, 3600, &sawtooth));
        let best = (150..=3450).map(worse).fold(f64::INFINITY, f64::min);
        let rs = ranges(&p, 2, &sawtooth);
        assert_eq!(rs.len(), 2);
        assert_eq!(worse(rs[0].end_frame), best, "{rs:?}");
        // Better than the middle, where a keyframe was just missed.
        assert!(best < worse(1800));
    }

    #[test]
    fn more_cores_than_work_for_them_still_cover_the_call_once() {
        for n in 1..=16 {
            let tracks = [track(0, "a", 0.0, 40.0), track(1, "b", 10.0, 33.0)];
            let p = plan(40.0, &tracks, 640, 480, 30);
            let rs = ranges(&p, n, &|_, f| f as f64 / 2.0);
            assert_cover(&p, &rs);
            assert!(rs.len() <= n.max(1), "{n}: {rs:?}");
            for r in &rs {
                assert!(r.frames() >= 150, "{n}: {rs:?}");
            }
        }
    }

    #[test]
    fn short_calls_are_not_cut_below_the_minimum_range() {
        let p = plan(7.0, &[track(0, "a", 0.0, 7.0)], 640, 480, 30);
        assert_eq!(spans(&ranges(&p, 16, &no_lead_in)), vec![(0, 210)]);
        let p = plan(12.0, &[track(0, "a", 0.0, 12.0)], 640, 480, 30);
        let rs = ranges(&p, 16, &no_lead_in);
        assert_eq!(rs.len(), 2);
        assert_cover(&p, &rs);
        let p = plan(0.04, &[], 640, 480, 25);
        assert_eq!(spans(&ranges(&p, 4, &no_lead_in)), vec![(0, 1)]);
    }

    #[test]
    fn a_range_shows_at_most_a_few_tracks() {
        // A host throughout and 30 guests one after another (5 s each, 20 s apart): two
        // cores, but no range may show more than MAX_RANGE_TRACKS tracks.
        let mut tracks = vec![track(0, "host", 0.0, 600.0)];
        tracks.extend(
            (1..=30).map(|i| track(i, "g", i as f64 * 20.0 - 15.0, i as f64 * 20.0 - 10.0)),
        );
        let p = plan(600.0, &tracks, 640, 480, 30);
        let rs = ranges(&p, 2, &no_lead_in);
        assert_cover(&p, &rs);
        for r in &rs {
            let shown = p
                .shown
                .iter()
                .filter(|s| s.start_frame < r.end_frame && r.start_frame < s.end_frame)
                .count();
            assert!(shown <= MAX_RANGE_TRACKS, "{shown} tracks in {r:?}");
        }
        assert!(rs.len() >= 31 / MAX_RANGE_TRACKS, "{}", rs.len());
        // Nine at once is more than the bound: such an interval is still one range.
        let nine: Vec<PlanTrack> = (0..9).map(|i| track(i, "u", 0.0, 60.0)).collect();
        let p = plan(60.0, &nine, 640, 480, 30);
        assert_eq!(spans(&ranges(&p, 1, &no_lead_in)), vec![(0, 1800)]);
    }

    #[test]
    fn many_cores_get_many_ranges_on_a_long_call() {
        let tracks: Vec<PlanTrack> = (0..50)
            .map(|i| track(i, "u", i as f64 * 10.0, i as f64 * 10.0 + 55.0))
            .collect();
        let p = plan(600.0, &tracks, 640, 480, 30);
        let rs = ranges(&p, 16, &no_lead_in);
        // One per core at least; more where a range would show too many tracks.
        assert!(rs.len() >= 16, "{rs:?}");
        assert_cover(&p, &rs);
        // Work ranges are at least MIN_RANGE_SECONDS long; where the track bound cuts one
        // further, a piece can be shorter (a known cost: a keyframe and decoder starts).
        let long = rs.iter().filter(|r| r.frames() >= 150).count();
        assert!(long >= 16, "{rs:?}");
    }
}
