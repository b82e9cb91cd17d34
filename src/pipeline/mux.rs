//! Mux: the final file, from the joined video and/or the mixed audio.

use std::path::Path;

use crate::media::ffmpeg::{self, Encoding};
use crate::pipeline::{budget, clear, commit, create_dir, partial_path, Blame, Cause, ToolSlots};

/// Muxes the final file from the video and/or the audio.
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
    if let Some(dir) = output.parent() {
        create_dir(dir)?;
    }
    let partial = partial_path(output);
    clear(&partial)?;
    let muxed = slots
        .run(
            &ffmpeg::mux(video, audio, seconds, encoding, &partial),
            budget(seconds, 2.0),
        )
        .await;
    ffmpeg::judge(muxed).map_err(Cause::tool(Blame::Input))?;
    commit(&partial, output)
}
