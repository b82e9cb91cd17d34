//! Where a recording goes: its names in `output_dir`, computed once from the configuration,
//! the conference, the mode and the recording's t=0, and used both to check that every name
//! fits a filesystem and to build the paths; and the refusal to deliver where something
//! already is.

use std::path::PathBuf;

use crate::config::Config;
use crate::event::Conference;
use crate::names::{self, NameValues};
use crate::pipeline::{encrypt, Cause};
use crate::plan::Mode;
use crate::timestamp::Timestamp;

/// The longest file name common filesystems accept.
const MAX_NAME_BYTES: usize = 255;

/// The names and places of one recording's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Merged(MergedTarget),
    Split(SplitTarget),
}

/// One file: `name` (`filename_format` with the container's extension), delivered as `dest`
/// (with `.gpg` appended when encrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MergedTarget {
    pub(crate) name: String,
    pub(crate) dest: PathBuf,
}

/// A directory `dir` of files, delivered as `dest`; in it the mixed audio is named `audio`
/// (before `.gpg`) and the metadata `metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitTarget {
    pub(crate) dir: String,
    pub(crate) dest: PathBuf,
    pub(crate) audio: String,
    pub(crate) metadata: String,
}

impl Target {
    /// The names of `conference`'s recording in `mode`, which starts at `origin`.
    pub(crate) fn new(
        config: &Config,
        conference: &Conference,
        mode: Mode,
        origin: Timestamp,
    ) -> Self {
        let (uuid, conf) = (conference.uuid.as_str(), conference.conference_id.as_str());
        let output_dir = &config.paths.output_dir;
        match mode {
            Mode::Merged => {
                let name = format!(
                    "{}.{}",
                    config.recording.filename_format.render(&NameValues {
                        uuid,
                        confbridgeid: conf,
                        userid: None,
                        at: origin,
                    }),
                    config.recording.video_codec.extension()
                );
                let dest = output_dir.join(&name);
                let dest = match config.encryption {
                    Some(_) => encrypt::encrypted_name(&dest),
                    None => dest,
                };
                Target::Merged(MergedTarget { name, dest })
            }
            Mode::Split => {
                let dir = names::split_dir_name(uuid, conf);
                Target::Split(SplitTarget {
                    dest: output_dir.join(&dir),
                    dir,
                    audio: names::split_audio_name(origin, uuid, conf),
                    metadata: names::split_metadata_name(uuid, conf),
                })
            }
        }
    }

    /// Every name must fit a filesystem: checked before any work. Media files are written as
    /// `<name>.partial` first (the longest name they ever have), and get `.gpg` appended when
    /// `encrypted`; the directory and the metadata keep theirs.
    pub(crate) fn check_lengths(&self, encrypted: bool) -> Result<(), Cause> {
        let media = match encrypted {
            true => format!(".partial.{}", encrypt::SUFFIX),
            false => ".partial".to_owned(),
        };
        let names = match self {
            Target::Merged(m) => vec![("recording.filename_format", m.name.clone() + &media)],
            Target::Split(SplitTarget {
                dir,
                audio,
                metadata,
                ..
            }) => vec![
                ("the split directory", dir.clone()),
                ("the split audio file", audio.clone() + &media),
                ("the split metadata file", metadata.clone()),
            ],
        };
        match names
            .into_iter()
            .find(|(_, name)| name.len() > MAX_NAME_BYTES)
        {
            Some((what, name)) => Err(Cause::NameTooLong {
                what,
                name,
                limit: MAX_NAME_BYTES,
            }),
            None => Ok(()),
        }
    }

    /// Where the recording is delivered.
    pub(crate) fn dest(&self) -> &PathBuf {
        match self {
            Target::Merged(MergedTarget { dest, .. }) | Target::Split(SplitTarget { dest, .. }) => {
                dest
            }
        }
    }

    /// recproc never overwrites a delivered recording: nothing may be at [`Self::dest`].
    /// Checked before rendering, so nothing is rendered that could not be delivered.
    pub(crate) fn check_free(&self) -> Result<(), Cause> {
        match self.dest().exists() {
            true => Err(Cause::Exists(self.dest().clone())),
            false => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RecordingType;
    use std::path::Path;

    /// A configuration whose directories exist, with `extra` TOML on top.
    fn config(dir: &Path, extra: &str) -> Config {
        let mut toml = String::from("[paths]\n");
        for (key, sub) in [
            ("video_root", "raw"),
            ("audio_root", "monitor"),
            ("work_dir", "work"),
            ("output_dir", "out"),
        ] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
            toml.push_str(&format!(
                "{key} = {:?}\n",
                dir.join(sub).display().to_string()
            ));
        }
        toml.push_str(extra);
        let file = dir.join("recproc.toml");
        std::fs::write(&file, toml).unwrap();
        Config::load(Some(&file)).unwrap()
    }

    fn conference(id: &str, uuid: &str) -> Conference {
        Conference {
            conference_id: id.into(),
            uuid: uuid.into(),
            completed: None,
            recording_type: RecordingType::All,
            videos: Vec::new(),
            voices: Vec::new(),
            audio: None,
            policy: None,
            decision: None,
        }
    }

    #[test]
    fn a_name_too_long_is_refused_with_what_to_shorten() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), "[recording]\nfilename_format = \"{{uuid}}\"\n");
        let at = Timestamp::parse("2026-01-02T03:04:05.000Z").unwrap();
        let long = "u".repeat(250);
        let check = |c: &Conference, mode| Target::new(&config, c, mode, at).check_lengths(false);
        let e = check(&conference("c", &long), Mode::Merged).unwrap_err();
        assert_eq!(e.blame(), crate::pipeline::Blame::Input);
        assert_eq!(
            e.to_string(),
            format!("the name of recording.filename_format would be 263 bytes with recproc's working suffix (\"{long}.webm.partial\"); file names may have at most 255: shorten recording.filename_format or the IDs")
        );
        let e = check(&conference(&"c".repeat(128), &"u".repeat(128)), Mode::Split).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the name of the split directory would be 257 bytes"),
            "{e}"
        );
        assert!(check(&conference("c", "u"), Mode::Split).is_ok());
        // Encryption makes the name longer.
        let fits = "u".repeat(255 - ".webm.partial".len());
        assert!(check(&conference("c", &fits), Mode::Merged).is_ok());
        let merged = Target::new(&config, &conference("c", &fits), Mode::Merged, at);
        assert!(merged.check_lengths(true).is_err());
    }

    #[test]
    fn a_delivered_recording_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), "");
        let at = Timestamp::parse("2026-01-02T03:04:05.000Z").unwrap();
        let target = Target::new(&config, &conference("c", "u"), Mode::Merged, at);
        assert_eq!(
            target.dest(),
            &config.paths.output_dir.join("recording-c-u.webm")
        );
        assert!(target.check_free().is_ok());
        std::fs::write(target.dest(), b"theirs").unwrap();
        let e = target.check_free().unwrap_err();
        assert_eq!(e.blame(), crate::pipeline::Blame::Input);
        assert_eq!(
            e.to_string(),
            format!(
                "{} already exists: recproc never overwrites a delivered recording (move it away to process this event again)",
                target.dest().display()
            )
        );
    }
}
