//! Mux: the final file, from the joined video and/or the mixed audio.

use std::path::Path;

use crate::media::ffmpeg::{self, Encoding};
use crate::pipeline::{budget, clear, commit, create_dir, partial_path, Blame, Cause, ToolSlots};

/// Muxes the final file from the video (recproc's, in the work directory) and/or the audio
/// (the event's file, as opened when it was checked).
pub(crate) async fn mux(
    slots: &ToolSlots,
    video: Option<&Path>,
    audio: Option<&Path>,
    seconds: f64,
    encoding: &Encoding,
    output: &Path,
) -> Result<(), Cause> {
    if output.exists() {
        // Muxed by an earlier attempt that did not get to deliver it.
        return Ok(());
    }
    let dir = output.parent().unwrap_or(output);
    create_dir(dir)?;
    let partial = partial_path(output);
    clear(&partial)?;
    let muxed = slots
        .run(
            &ffmpeg::mux(video, audio, seconds, encoding, &partial),
            budget(seconds, 2.0),
        )
        .await;
    let ours: Vec<&Path> = video.into_iter().chain([dir]).collect();
    ffmpeg::judge(muxed).map_err(Cause::tool_on(Blame::Input, &ours))?;
    commit(&partial, output)
}
