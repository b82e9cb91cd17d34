//! Mux: the final file, from the rendered parts (joined as they are read, never re-encoded)
//! and/or the call's audio (the audiomixer's WAV, or the participants' tracks mixed).

use std::path::{Path, PathBuf};

use crate::media::ffmpeg::{self, Encoding, Sound};
use crate::pipeline::{
    budget, clear, commit, create_dir, partial_path, Blame, Cause, ToolSlots, Workspace,
};

/// Muxes the final file from the parts (recproc's, in the work directory, in order) and/or
/// the sound (the event's WAV as opened when it was checked, or recproc's converted voices).
pub(crate) async fn mux(
    slots: &ToolSlots,
    work: &Workspace,
    parts: &[PathBuf],
    sound: Sound<'_>,
    seconds: f64,
    encoding: &Encoding,
    output: &Path,
) -> Result<(), Cause> {
    if output.exists() {
        // Muxed by an earlier attempt that did not get to deliver it.
        return Ok(());
    }
    let list = match parts.is_empty() {
        true => None,
        false => {
            let list = work.concat_list();
            let refs: Vec<&Path> = parts.iter().map(PathBuf::as_path).collect();
            std::fs::write(&list, ffmpeg::concat_list(&refs))
                .map_err(Cause::io("cannot write", &list))?;
            Some(list)
        }
    };
    let dir = output.parent().unwrap_or(output);
    create_dir(dir)?;
    let partial = partial_path(output);
    clear(&partial)?;
    let muxed = slots
        .run(
            &ffmpeg::mux(list.as_deref(), sound, seconds, encoding, &partial),
            budget(seconds, 2.0),
        )
        .await;
    let voices = match sound {
        Sound::Voices(voices) => voices,
        _ => &[],
    };
    let ours: Vec<&Path> = list
        .iter()
        .map(PathBuf::as_path)
        .chain(parts.iter().map(PathBuf::as_path))
        .chain(voices.iter().map(|v| v.file))
        .chain([dir])
        .collect();
    ffmpeg::judge(muxed).map_err(Cause::tool_on(Blame::Input, &ours))?;
    commit(&partial, output)
}
