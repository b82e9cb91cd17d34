//! The OpenPGP public key recordings are encrypted to (`encryption.public_key`): loaded and
//! checked once at startup, so a key that cannot be used stops recproc with a reason, never
//! a recording later (recproc never falls back to plaintext). Armored or binary.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sequoia_openpgp as openpgp;

use openpgp::parse::Parse as _;
use openpgp::policy::StandardPolicy;
use openpgp::types::{Features, KeyFlags, RevocationStatus};
use openpgp::Cert;

/// Sequoia's standard policy (which algorithms and hashes are acceptable), as of its version.
static POLICY: StandardPolicy<'static> = StandardPolicy::new();

/// Why the key cannot be used. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("public key file {path:?} does not exist; point encryption.public_key at the recipients' exported public key (gpg --export --armor FINGERPRINT > file)")]
    NotFound { path: PathBuf },
    #[error("public key file {path:?} cannot be read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path:?} is not an OpenPGP public key ({reason}); export one with gpg --export --armor FINGERPRINT or sq key extract-cert")]
    NotAKey { path: PathBuf, reason: String },
    #[error("{path:?} holds a secret key; give recproc only the public key (gpg --export --armor FINGERPRINT), and keep the secret key away from the recording servers")]
    SecretKey { path: PathBuf },
    #[error("the key in {path:?} ({fingerprint}) is revoked; recordings must not be encrypted to it: use the recipients' current key")]
    Revoked { path: PathBuf, fingerprint: String },
    #[error("the key in {path:?} ({fingerprint}) is expired or not yet valid ({reason}); extend its expiry (gpg --quick-set-expire) and export it again, or use the current key")]
    Expired {
        path: PathBuf,
        fingerprint: String,
        reason: String,
    },
    #[error("the key in {path:?} ({fingerprint}) is not valid under Sequoia's standard policy ({reason}); use a key made with current defaults")]
    Invalid {
        path: PathBuf,
        fingerprint: String,
        reason: String,
    },
    #[error("the key in {path:?} ({fingerprint}) has no usable encryption-capable (sub)key: each is missing, expired, revoked or of an unsupported algorithm; add an encryption subkey (gpg --quick-add-key FINGERPRINT default encr) and export it again")]
    NoEncryptionKey { path: PathBuf, fingerprint: String },
}

/// A checked public key.
#[derive(Debug, Clone)]
pub struct PublicKey {
    cert: Cert,
    path: PathBuf,
}

impl PublicKey {
    /// Loads `path` and checks, as of now, that recordings can be encrypted to it.
    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => KeyError::NotFound {
                path: path.to_owned(),
            },
            _ => KeyError::Unreadable {
                path: path.to_owned(),
                reason: e.to_string(),
            },
        })?;
        let cert = Cert::from_bytes(&bytes).map_err(|e| KeyError::NotAKey {
            path: path.to_owned(),
            reason: one_line(&e),
        })?;
        let key = PublicKey {
            cert,
            path: path.to_owned(),
        };
        if key.cert.is_tsk() {
            return Err(KeyError::SecretKey {
                path: path.to_owned(),
            });
        }
        key.check(SystemTime::now())?;
        Ok(key)
    }

    /// The primary key's fingerprint, for logs.
    pub fn fingerprint(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keys to encrypt to at `when`, or why there are none.
    pub fn check(&self, when: SystemTime) -> Result<usize, KeyError> {
        self.recipients(when).map(|r| r.len())
    }

    /// Recipients for [`sequoia_openpgp::serialize::stream::Encryptor`], as of `when`. Each
    /// says it supports only SEIPDv1 (and is named by key ID, a v3 PKESK), which GnuPG 2.2 —
    /// Debian 12's — can decrypt even when the key advertises SEIPDv2.
    pub fn recipients(
        &self,
        when: SystemTime,
    ) -> Result<Vec<openpgp::serialize::stream::Recipient<'_>>, KeyError> {
        let fingerprint = self.fingerprint();
        let path = self.path.clone();
        let valid = self
            .cert
            .with_policy(&POLICY, when)
            .map_err(|e| KeyError::Invalid {
                path: path.clone(),
                fingerprint: fingerprint.clone(),
                reason: one_line(&e),
            })?;
        if let RevocationStatus::Revoked(_) = valid.revocation_status() {
            return Err(KeyError::Revoked { path, fingerprint });
        }
        if let Err(e) = valid.alive() {
            return Err(KeyError::Expired {
                path,
                fingerprint,
                reason: one_line(&e),
            });
        }
        let recipients: Vec<_> = valid
            .keys()
            .supported()
            .alive()
            .revoked(false)
            .key_flags(
                KeyFlags::empty()
                    .set_storage_encryption()
                    .set_transport_encryption(),
            )
            .map(|ka| {
                openpgp::serialize::stream::Recipient::new(
                    Features::empty().set_seipdv1(),
                    Some(openpgp::KeyHandle::from(ka.key().keyid())),
                    ka.key(),
                )
            })
            .collect();
        if recipients.is_empty() {
            return Err(KeyError::NoEncryptionKey { path, fingerprint });
        }
        Ok(recipients)
    }
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}
