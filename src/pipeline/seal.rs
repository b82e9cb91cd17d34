//! Seal and digest: the last thing every delivered media file goes through, in both modes.
//! It is encrypted to the configured key when there is one (stage `encrypt`), then measured,
//! size and sha256 (stage `deliver`): the processed event and the receipt list what was
//! measured here. The file work runs off the async threads.

use std::path::PathBuf;

use crate::pipeline::deliver::{self, Digested};
use crate::pipeline::{blocking, encrypt, step, Cause, Stage, StageError};
use crate::recipient::PublicKey;

/// What becomes of a plaintext file once its encrypted copy is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plaintext {
    /// Kept in the work directory (a later attempt resumes from it; the work directory is
    /// removed once the job is done).
    Keep,
    /// Removed at once.
    Remove,
}

/// A file ready to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    /// The file to deliver: `file` itself, or its `.gpg`.
    pub(crate) path: PathBuf,
    pub(crate) digest: Digested,
}

/// Seals `file` (with `key`, when given) and measures what is to be delivered.
pub(crate) async fn seal(
    conference_id: &str,
    key: Option<&PublicKey>,
    file: PathBuf,
    plaintext: Plaintext,
) -> Result<Sealed, StageError> {
    let path = match key {
        Some(key) => {
            let key = key.clone();
            let sealing = blocking(move || {
                let sealed = encrypt::file(&key, &file)?;
                if plaintext == Plaintext::Remove {
                    std::fs::remove_file(&file).map_err(Cause::io("cannot remove", &file))?;
                }
                Ok(sealed)
            });
            step(conference_id, Stage::Encrypt, "encrypt", sealing).await?
        }
        None => file,
    };
    let digest = step(
        conference_id,
        Stage::Deliver,
        "digest",
        digest(path.clone()),
    )
    .await?;
    Ok(Sealed { path, digest })
}

/// Size and sha256 of `path`, read off the async threads.
pub(crate) async fn digest(path: PathBuf) -> Result<Digested, Cause> {
    blocking(move || deliver::digest(&path).map_err(Cause::io("cannot read", &path))).await
}
