//! AV1 tracks made seekable for the render. janus-pp-rec 1.1.2 flags an AV1 frame as a
//! keyframe only when the *last* RTP packet of the frame says so (Z = 0, N = 1), but a sender
//! sets N on the *first* packet: a keyframe larger than one packet (any camera picture) is not
//! flagged. When no frame is flagged its MP4 has no sync-sample table, which says every frame
//! is a keyframe, so a range that starts with a seek starts decoding at an inter frame and the
//! tile stays black until the next real keyframe. A stream copy through ffmpeg, whose AV1
//! parser finds the real keyframes, writes a true table. Only the render reads the copy: split
//! mode delivers janus-pp-rec's own file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::media::ffmpeg;
use crate::pipeline::preprocess::Track;
use crate::pipeline::{clear, commit, partial_path, Blame, Cause, ToolSlots, Workspace};
use crate::process::Invocation;

/// The tracks as the render reads them: each AV1 track replaced by its seekable copy (made
/// now, or kept from an earlier attempt at this job), the others as they are.
pub(crate) async fn tracks(
    slots: &ToolSlots,
    work: &Workspace,
    tracks: &[Track],
    timeout: Duration,
) -> Result<Vec<Track>, Cause> {
    let mut out = Vec::with_capacity(tracks.len());
    for t in tracks {
        // The codec is the recording's, as its header names it.
        if t.codec != "av1" {
            out.push(t.clone());
            continue;
        }
        let copy = copy_path(&t.file);
        if copy.exists() {
            tracing::info!(
                conference_id = crate::logs::field(work.conference_id()),
                path = crate::logs::field(t.source.path.display()),
                "Reusing the seekable copy of an AV1 track an earlier attempt made."
            );
        } else {
            let partial = partial_path(&copy);
            clear(&partial)?;
            let copied = slots.run(&stream_copy(&t.file, &partial), timeout).await;
            let tracks_dir = copy.parent().unwrap_or(&copy);
            let ours = [t.file.as_path(), tracks_dir];
            ffmpeg::judge(copied).map_err(|e| {
                Cause::tool_on(Blame::Input, &ours)(e)
                    .doing(format_args!("indexing {}", t.source.path.display()))
            })?;
            commit(&partial, &copy)?;
        }
        out.push(Track {
            file: copy,
            ..t.clone()
        });
    }
    Ok(out)
}

/// Where the seekable copy of the converted track `file` goes: beside it.
fn copy_path(file: &Path) -> PathBuf {
    file.with_extension("seekable.mp4")
}

/// ffmpeg copying the video of `from` into a new MP4 at `to`, without decoding it: every
/// packet (also those before the first keyframe, which ffmpeg drops by default) at its very
/// timestamp (janus-pp-rec's 90 kHz time base, not one ffmpeg picks), so the planner's facts,
/// probed on janus-pp-rec's file, hold for the copy.
fn stream_copy(from: &Path, to: &Path) -> Invocation {
    Invocation::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
        .path_arg(from)
        .args(["-map", "0:v:0", "-c", "copy", "-copyinkf"])
        .args(["-video_track_timescale", "90000", "-f", "mp4"])
        .path_arg(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_the_video_stream_copied_into_mp4_beside_the_track() {
        let file = Path::new("/w/tracks/track-01.mp4");
        assert_eq!(
            copy_path(file),
            Path::new("/w/tracks/track-01.seekable.mp4")
        );
        let partial = partial_path(&copy_path(file));
        assert_eq!(
            stream_copy(file, &partial).args_lossy(),
            [
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-i",
                "/w/tracks/track-01.mp4",
                "-map",
                "0:v:0",
                "-c",
                "copy",
                "-copyinkf",
                "-video_track_timescale",
                "90000",
                "-f",
                "mp4",
                "/w/tracks/track-01.seekable.partial.mp4",
            ]
        );
    }
}
