//! Split mode: each converted track as janus-pp-rec wrote it (videos, and the participants'
//! own audio tracks) and the call's audio as a WAV (a copy of the audiomixer's, or, without
//! one, recproc's mix of the participants' tracks in the audiomixer's format), named by
//! SPEC.md, sealed, with the metadata JSON, delivered as one directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::event::TrackSource;
use crate::media::ffmpeg;
use crate::media::mix::VoiceInput;
use crate::names;
use crate::pipeline::deliver::{Delivered, DeliveredFile, FileKind, MediaEntry, Placement};
use crate::pipeline::preprocess::Audio;
use crate::pipeline::seal::{self, seal, Plaintext, Sealed};
use crate::pipeline::target::SplitTarget;
use crate::pipeline::{
    blocking, budget, clear, commit, create_dir, fresh_dir, partial_path, step, AtStage, Blame,
    Cause, Material, Stage, StageError,
};
use crate::report;
use crate::timestamp::Timestamp;

/// A file staged for the directory, and what it is.
type Staged = (Sealed, FileKind);

/// Stages, seals and measures every file, writes the metadata, and says how to place them.
pub(crate) async fn split(
    m: &Material<'_>,
    target: &SplitTarget,
    delivered: &mut Delivered,
) -> Result<Placement, StageError> {
    let staging = m.work.output().join(&target.dir);
    fresh_dir(&m.work.output()).at(Stage::Deliver)?;
    create_dir(&staging).at(Stage::Deliver)?;

    let mut staged: Vec<Staged> = Vec::new();
    // The call's audio has its name before any track takes one.
    let mut taken = HashSet::from([target.audio.clone()]);
    let into = Staging {
        dir: staging.clone(),
        dest: target.dest.clone(),
    };
    // The call's audio first: a mix reads the participants' tracks before they are staged.
    let call = staging.join(&target.audio);
    let voices = m.mix_inputs();
    let audio = match (&m.audio, voices.is_empty()) {
        (Some(a), _) => Some(audio(m, a, &call, &target.dest).await?),
        (None, false) => Some(mixdown(m, &voices, &call, &target.dest).await?),
        (None, true) => None,
    };
    if let Some((entry, file)) = audio {
        staged.push((file, FileKind::Audio));
        delivered.audio = Some(entry);
    }
    let mut videos = Vec::with_capacity(m.tracks.len());
    for t in &m.tracks {
        let track = (
            &t.source,
            t.file.as_path(),
            t.facts.first_packet,
            t.facts.end,
        );
        let (entry, file) = stage_track(m, track, &into, &mut taken).await?;
        videos.push(entry);
        staged.push((file, FileKind::Video));
    }
    let mut voices = Vec::with_capacity(m.voices.len());
    for v in &m.voices {
        let track = (
            &v.source,
            v.recorded.as_path(),
            v.facts.first_packet,
            v.facts.duration,
        );
        let (entry, file) = stage_track(m, track, &into, &mut taken).await?;
        voices.push(entry);
        staged.push((file, FileKind::Voice));
    }
    delivered.duration = m.timeline.duration;
    delivered.videos = videos;
    delivered.voices = voices;

    let meta = metadata(m, delivered, staging.join(&target.metadata)).await?;
    staged.push((meta, FileKind::Metadata));
    let paths = staged.iter().map(|(s, _)| s.path.clone()).collect();
    let mut files: Vec<DeliveredFile> = staged
        .into_iter()
        .map(|(sealed, kind)| DeliveredFile {
            path: target
                .dest
                .join(sealed.path.file_name().unwrap_or_default()),
            kind,
            bytes: sealed.digest.bytes,
            sha256: sealed.digest.sha256,
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    delivered.directory = Some(target.dest.clone());
    delivered.files = files;
    Ok(Placement::Dir {
        files: paths,
        dest: target.dest.clone(),
    })
}

/// Where staged files go, and the directory they are delivered as.
struct Staging {
    dir: PathBuf,
    dest: PathBuf,
}

/// A converted track (its source, recproc's file, when its first packet was written and how
/// long its media lasts), moved into the staging directory under its SPEC.md name and
/// sealed.
async fn stage_track(
    m: &Material<'_>,
    (source, converted, at, length): (&TrackSource, &Path, Timestamp, f64),
    into: &Staging,
    taken: &mut HashSet<String>,
) -> Result<(MediaEntry, Sealed), StageError> {
    // {{date}}/{{time}} and startTime: when the file's media starts (its first packet).
    let ext = converted
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("webm");
    let name = unique_name(taken, names::split_video_name(at, &source.user_id, ext));
    let file = into.dir.join(&name);
    let (from, to) = (converted.to_owned(), file.clone());
    blocking(move || std::fs::rename(&from, &to).map_err(Cause::io("cannot stage", &to)))
        .await
        .at(Stage::Deliver)?;
    let sealed = seal_staged(m, file).await?;
    let entry = MediaEntry {
        path: into.dest.join(sealed.path.file_name().unwrap_or_default()),
        user_id: Some(source.user_id.clone()),
        start: at,
        stop: at.add_seconds(length),
        bytes: sealed.digest.bytes,
    };
    Ok((entry, sealed))
}

/// The participants' audio tracks mixed into `file`, a WAV in the audiomixer's format (8 kHz,
/// 16-bit mono) from t=0 to the end of the recording, sealed.
async fn mixdown(
    m: &Material<'_>,
    voices: &[VoiceInput<'_>],
    file: &Path,
    dest: &Path,
) -> Result<(MediaEntry, Sealed), StageError> {
    let id = m.conference.conference_id.as_str();
    let duration = m.timeline.duration;
    let mixing = async {
        let partial = partial_path(file);
        clear(&partial)?;
        let run = m
            .slots
            .run(
                &ffmpeg::mixdown(voices, duration, &partial),
                budget(duration, 1.0),
            )
            .await;
        // The staging directory, not the WAV: that is written under a partial name.
        let staging = file.parent().unwrap_or(file);
        let ours: Vec<&Path> = voices.iter().map(|v| v.file).chain([staging]).collect();
        ffmpeg::judge(run).map_err(Cause::tool_on(Blame::Input, &ours))?;
        commit(&partial, file)
    };
    step(id, Stage::Mux, "mix the participants' audio", mixing).await?;
    let sealed = seal_staged(m, file.to_owned()).await?;
    let origin = m.timeline.origin;
    let entry = MediaEntry {
        path: dest.join(sealed.path.file_name().unwrap_or_default()),
        user_id: None,
        start: origin,
        stop: origin.add_seconds(duration),
        bytes: sealed.digest.bytes,
    };
    Ok((entry, sealed))
}

/// A copy of the mixed WAV (the audiomixer's file, which stays), sealed: copied from the
/// file opened when the event was checked, not from its name.
async fn audio(
    m: &Material<'_>,
    a: &Audio,
    file: &Path,
    dest: &Path,
) -> Result<(MediaEntry, Sealed), StageError> {
    let (from, named, to) = (
        a.source.file.clone(),
        a.source.path.clone(),
        file.to_owned(),
    );
    blocking(move || {
        let mut reading = from.reopen().map_err(Cause::read(&named))?;
        let mut writing = std::fs::File::create(&to).map_err(Cause::io("cannot create", &to))?;
        std::io::copy(&mut reading, &mut writing)
            .map_err(Cause::io("cannot copy the audio to", &to))?;
        Ok(())
    })
    .await
    .at(Stage::Deliver)?;
    let sealed = seal_staged(m, file.to_owned()).await?;
    let entry = MediaEntry {
        path: dest.join(sealed.path.file_name().unwrap_or_default()),
        user_id: None,
        start: a.facts.start,
        stop: a.facts.start.add_seconds(a.facts.duration),
        bytes: sealed.digest.bytes,
    };
    Ok((entry, sealed))
}

/// With encryption, a staged media file is replaced by its `.gpg`: the plaintext copy is
/// removed at once.
async fn seal_staged(m: &Material<'_>, file: PathBuf) -> Result<Sealed, StageError> {
    let id = m.conference.conference_id.as_str();
    seal(id, m.config.encryption.as_ref(), file, Plaintext::Remove).await
}

/// Writes the metadata JSON, which names the files as they sit in the directory.
async fn metadata(
    m: &Material<'_>,
    delivered: &Delivered,
    path: PathBuf,
) -> Result<Sealed, StageError> {
    let metadata = report::metadata(m.conference, delivered, |p| {
        p.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    });
    let text = serde_json::to_vec_pretty(&metadata).expect("metadata serialises");
    let file = path.clone();
    blocking(move || std::fs::write(&file, text).map_err(Cause::io("cannot write", &file)))
        .await
        .at(Stage::Deliver)?;
    let id = m.conference.conference_id.as_str();
    let digest = step(id, Stage::Deliver, "digest", seal::digest(path.clone())).await?;
    Ok(Sealed { path, digest })
}

/// `name`, or `name` with `-2`, `-3`… before its extension if taken (one user publishing
/// twice within a second).
fn unique_name(taken: &mut HashSet<String>, name: String) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) => (s.to_owned(), format!(".{e}")),
        None => (name.clone(), String::new()),
    };
    (2..)
        .map(|n| format!("{stem}-{n}{ext}"))
        .find(|candidate| taken.insert(candidate.clone()))
        .expect("some suffix is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_taken_twice_get_a_suffix_before_the_extension() {
        let mut taken = HashSet::new();
        assert_eq!(
            unique_name(&mut taken, "rec-1-u.webm".into()),
            "rec-1-u.webm"
        );
        assert_eq!(
            unique_name(&mut taken, "rec-1-u.webm".into()),
            "rec-1-u-2.webm"
        );
        assert_eq!(
            unique_name(&mut taken, "rec-1-u.webm".into()),
            "rec-1-u-3.webm"
        );
        assert_eq!(unique_name(&mut taken, "rec-1-v.mp4".into()), "rec-1-v.mp4");
    }
}
