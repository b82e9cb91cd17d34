//! Encrypt: a finished media file becomes `<name>.gpg`, a binary OpenPGP message to the
//! configured public key that Debian 12's `gpg --decrypt` (GnuPG 2.2) reads: SEIPDv1, v3
//! PKESK, no compression (media does not compress). Streaming: memory does not grow with the
//! file. Written to a `.partial` name and renamed when complete, like every stage's output.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sequoia_openpgp as openpgp;

use openpgp::serialize::stream::{Encryptor, LiteralWriter, Message};
use openpgp::types::DataFormat;

use crate::pipeline::{clear, commit, partial_path, Cause};
use crate::recipient::PublicKey;

/// The suffix of an encrypted file.
pub(crate) const SUFFIX: &str = "gpg";

/// Copy buffer: large enough for full-speed sequential I/O, small enough not to matter.
const BUFFER: usize = 1 << 20;

/// `name.webm` → `name.webm.gpg`.
pub fn encrypted_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".");
    name.push(SUFFIX);
    path.with_file_name(name)
}

/// Why a file could not be encrypted: the key stopped being usable, or the file work failed.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct EncryptError(Cause);

impl From<EncryptError> for Cause {
    fn from(e: EncryptError) -> Cause {
        e.0
    }
}

/// Encrypts `source` into `encrypted_name(source)`, next to it; returns that path. The
/// plaintext is left for the caller to remove once the encrypted file is delivered.
pub fn file(key: &PublicKey, source: &Path) -> Result<PathBuf, EncryptError> {
    sealed(key, source).map_err(EncryptError)
}

fn sealed(key: &PublicKey, source: &Path) -> Result<PathBuf, Cause> {
    let target = encrypted_name(source);
    // Never reused from an earlier attempt: the key may have changed since (rotated, or
    // revoked). Encrypting again costs seconds an hour of recording.
    clear(&target)?;
    let partial = partial_path(&target);
    clear(&partial)?;
    tracing::info!(
        path = crate::logs::field(source.display()),
        "Trying to encrypt file: {}",
        crate::logs::Inline(source.display())
    );
    write(key, source, &partial).map_err(|e| match e {
        Failure::Key(e) => Cause::Key(e),
        Failure::Io(path, e) => Cause::io("cannot encrypt", &path)(e),
    })?;
    commit(&partial, &target)?;
    Ok(target)
}

enum Failure {
    /// The key stopped being usable since startup (it expired).
    Key(crate::recipient::KeyError),
    Io(PathBuf, io::Error),
}

fn write(key: &PublicKey, source: &Path, target: &Path) -> Result<(), Failure> {
    let recipients = key.recipients(SystemTime::now()).map_err(Failure::Key)?;
    let input = File::open(source).map_err(|e| Failure::Io(source.to_owned(), e))?;
    let output = File::create(target).map_err(|e| Failure::Io(target.to_owned(), e))?;
    let out_err = |e: anyhow::Error| Failure::Io(target.to_owned(), into_io(e));
    let mut sink = BufWriter::with_capacity(BUFFER, output);
    {
        let message = Message::new(&mut sink);
        let message = Encryptor::for_recipients(message, recipients)
            .build()
            .map_err(out_err)?;
        let mut literal = LiteralWriter::new(message)
            .format(DataFormat::Binary)
            .build()
            .map_err(out_err)?;
        let mut reader = BufReader::with_capacity(BUFFER, input);
        io::copy(&mut reader, &mut literal).map_err(|e| {
            // Either side: name the one that failed as well as we can.
            Failure::Io(target.to_owned(), e)
        })?;
        literal.finalize().map_err(out_err)?;
    }
    sink.flush()
        .map_err(|e| Failure::Io(target.to_owned(), e))?;
    let file = sink
        .into_inner()
        .map_err(|e| Failure::Io(target.to_owned(), e.into_error()))?;
    file.sync_all()
        .map_err(|e| Failure::Io(target.to_owned(), e))
}

/// Sequoia reports I/O failures as `anyhow` errors wrapping the `io::Error`: keep its kind
/// (a full disk must stay recognisable).
fn into_io(e: anyhow::Error) -> io::Error {
    match e.downcast::<io::Error>() {
        Ok(io) => io,
        Err(other) => io::Error::other(format!("{other:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encrypted_name_appends_gpg() {
        assert_eq!(
            encrypted_name(Path::new("/o/recording-a-b.webm")),
            Path::new("/o/recording-a-b.webm.gpg")
        );
        assert_eq!(
            encrypted_name(Path::new("/o/rec-20260101-100000-u.wav")),
            Path::new("/o/rec-20260101-100000-u.wav.gpg")
        );
    }
}
