//! Render: each visible track is decoded once and cut into keyframe-aligned pieces on the
//! output frame grid; every interval is laid out from its pieces (intervals in parallel, one
//! tool per core) into a part, for [`super::concat`] to join.

use std::path::PathBuf;

use futures::future::try_join_all;

use crate::media::ffmpeg::{self, Encoding, Render, Slice, TileInput};
use crate::pipeline::preprocess::{Track, MAX_LAST_FRAME_HOLD_S};
use crate::pipeline::{
    budget, clear, commit, create_dir, partial_path, Blame, Cause, ToolSlots, Workspace,
};
use crate::plan::{fit_within, Interval, Plan, Tile, TrackCut, FPS};

/// How far before a track's planned end its decoded frames may run out: the plan holds a
/// track's last frame for up to `MAX_LAST_FRAME_HOLD_S` past its timestamp (plus one frame of
/// rounding).
const TAIL_TOLERANCE_FRAMES: u64 = (MAX_LAST_FRAME_HOLD_S * FPS as f64) as u64 + 1;

/// Cuts every visible track into its pieces, in parallel.
pub(crate) async fn slices(
    slots: &ToolSlots,
    work: &Workspace,
    plan: &Plan,
    tracks: &[Track],
    anchors: &[f64],
    canvas: (u32, u32),
) -> Result<(), Cause> {
    create_dir(&work.slices())?;
    // Tracks an earlier attempt at this job sliced completely are kept.
    let todo: Vec<&TrackCut> = plan
        .cuts
        .iter()
        .filter(|cut| !work.slice_dir(cut.track).exists())
        .collect();
    reused(
        work,
        "sliced tracks",
        plan.cuts.len() - todo.len(),
        plan.cuts.len(),
    );
    // From the plan, not from what is left to do: the pieces' bytes depend on it, and a
    // resumed job must make the same ones as a fresh one.
    let threads = slots.threads_for(plan.cuts.len());
    try_join_all(todo.into_iter().map(|cut| {
        let track = &tracks[cut.track];
        slice(slots, work, cut, track, anchors[cut.track], canvas, threads)
    }))
    .await?;
    Ok(())
}

async fn slice(
    slots: &ToolSlots,
    work: &Workspace,
    cut: &TrackCut,
    track: &Track,
    anchor: f64,
    canvas: (u32, u32),
    threads: usize,
) -> Result<(), Cause> {
    // Sliced into a partial directory, renamed whole when every piece is written.
    let dir = work.slice_dir(cut.track);
    let partial = partial_path(&dir);
    clear(&partial)?;
    create_dir(&partial)?;
    let (width, height) = fit_within(track.width, track.height, canvas.0, canvas.1);
    let in_partial = |p: PathBuf| partial.join(p.file_name().unwrap_or_default());
    let pattern = in_partial(work.piece_pattern(cut.track));
    let single = in_partial(work.piece(cut.track, 0));
    let frames = cut.end_frame - cut.start_frame;
    let inv = ffmpeg::slice(&Slice {
        input: &track.file,
        shift: anchor + track.file_start,
        start_frame: cut.start_frame,
        frames,
        cuts: &cut.cuts,
        width,
        height,
        pattern: &pattern,
        single: &single,
        threads,
    });
    let seconds = frames as f64 / FPS as f64;
    let sliced = slots.run(&inv, budget(seconds, 4.0)).await;
    ffmpeg::judge(sliced).map_err(|e| {
        Cause::tool_on(Blame::Input, &[&track.file, &partial])(e).doing(format_args!(
            "slicing {} (user {})",
            track.source.path.display(),
            track.source.user_id
        ))
    })?;
    commit(&partial, &dir)
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

/// Lays out every interval, in parallel; returns the parts in order.
pub(crate) async fn intervals(
    slots: &ToolSlots,
    work: &Workspace,
    plan: &Plan,
    canvas: (u32, u32),
    encoding: Encoding,
) -> Result<Vec<PathBuf>, Cause> {
    create_dir(&work.parts())?;
    let parts: Vec<PathBuf> = (0..plan.intervals.len()).map(|i| work.part(i)).collect();
    // Parts an earlier attempt at this job rendered are complete (committed) and kept.
    let todo: Vec<usize> = (0..parts.len()).filter(|&i| !parts[i].exists()).collect();
    reused(
        work,
        "interval parts",
        parts.len() - todo.len(),
        parts.len(),
    );
    // From the plan, not from what is left to do: the encoder's bytes depend on it.
    let encoding = Encoding {
        threads: slots.threads_for(parts.len()),
        ..encoding
    };
    try_join_all(todo.into_iter().map(|i| {
        let interval = &plan.intervals[i];
        let target = &parts[i];
        async move {
            let output = &partial_path(target);
            clear(output)?;
            let pieces = pieces(work, plan, interval)?;
            let inv = ffmpeg::render(&Render {
                tiles: pieces
                    .iter()
                    .map(|(p, rect)| TileInput {
                        piece: p,
                        rect: *rect,
                    })
                    .collect(),
                width: canvas.0,
                height: canvas.1,
                frames: interval.frames(),
                encoding,
                output,
            });
            let rendered = slots.run(&inv, budget(interval.seconds(), 10.0)).await;
            ffmpeg::judge(rendered).map_err(|e| {
                Cause::tool(Blame::System)(e).doing(format_args!(
                    "rendering the interval at {:.2}s",
                    interval.start_seconds()
                ))
            })?;
            commit(output, target)
        }
    }))
    .await?;
    Ok(parts)
}

/// The pieces an interval shows, each with its tile. A missing piece is legitimate only in
/// the held tail of a track (its decoded frames ended within the hold the plan added after
/// its last timestamp): its tile stays black.
fn pieces(
    work: &Workspace,
    plan: &Plan,
    interval: &Interval,
) -> Result<Vec<(PathBuf, crate::plan::Rect)>, Cause> {
    let mut pieces = Vec::with_capacity(interval.tiles.len());
    for t in &interval.tiles {
        let piece = work.piece(t.track, t.piece);
        if piece.exists() {
            pieces.push((piece, t.rect));
            continue;
        }
        if !in_held_tail(plan, interval, t) {
            return Err(Cause::System(format!(
                "slicing left no piece {} of track {} ({}) for the interval at {:.2}s",
                t.piece,
                t.track,
                piece.display(),
                interval.start_seconds()
            )));
        }
        tracing::warn!(
            conference_id = crate::logs::field(work.conference_id()),
            track = t.track,
            piece = t.piece,
            "A track's held last frame has no piece; its tile stays black for {} frames.",
            interval.frames()
        );
    }
    Ok(pieces)
}

/// Whether `interval` lies within the held tail of `tile`'s track.
fn in_held_tail(plan: &Plan, interval: &Interval, tile: &Tile) -> bool {
    let track_end = plan
        .cuts
        .iter()
        .find(|c| c.track == tile.track)
        .map_or(0, |c| c.end_frame);
    interval.start_frame + TAIL_TOLERANCE_FRAMES >= track_end
}
