//! Concat: the rendered parts joined into one video without re-encoding.

use std::path::{Path, PathBuf};

use crate::media::ffmpeg;
use crate::pipeline::render::reused;
use crate::pipeline::{budget, clear, commit, partial_path, Blame, Cause, ToolSlots, Workspace};

/// Joins the parts into one video, stream-copied.
pub(crate) async fn concat(
    slots: &ToolSlots,
    work: &Workspace,
    parts: &[PathBuf],
    seconds: f64,
) -> Result<PathBuf, Cause> {
    let list = work.concat_list();
    let refs: Vec<&Path> = parts.iter().map(PathBuf::as_path).collect();
    std::fs::write(&list, ffmpeg::concat_list(&refs)).map_err(Cause::io("cannot write", &list))?;
    let video = work.video();
    if video.exists() {
        reused(work, "joined videos", 1, 1);
        return Ok(video);
    }
    let partial = partial_path(&video);
    clear(&partial)?;
    let joined = slots
        .run(&ffmpeg::concat(&list, &partial), budget(seconds, 1.0))
        .await;
    ffmpeg::judge(joined).map_err(Cause::tool(Blame::System))?;
    commit(&partial, &video)?;
    Ok(video)
}
