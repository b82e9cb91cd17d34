//! The OpenPGP public key recordings are encrypted to (`encryption.public_key`): loaded and
//! checked at startup, so a key that cannot be used stops recproc with a reason (recproc
//! never falls back to plaintext), and checked again by every job, since a key can expire
//! while recproc runs. Armored or binary; only keys GnuPG 2.2 can decrypt for.

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
    #[error("the key in {path:?} ({fingerprint}) can only be decrypted by newer OpenPGP software ({what}), not by GnuPG 2.2 (Debian 12's gpg); use a v4 key with an RSA or Curve25519 (cv25519) encryption subkey")]
    NotForGnuPg22 {
        path: PathBuf,
        fingerprint: String,
        what: String,
    },
    #[error("{path:?} holds several keys; recproc encrypts to exactly one: export just the recipients' key (gpg --export --armor FINGERPRINT)")]
    Several { path: PathBuf },
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
        let cert = Cert::from_bytes(&bytes).map_err(|e| {
            let reason = one_line(&e);
            if reason.contains("keyring") || reason.contains("Additional packets") {
                KeyError::Several {
                    path: path.to_owned(),
                }
            } else {
                KeyError::NotAKey {
                    path: path.to_owned(),
                    reason,
                }
            }
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
        if self.cert.primary_key().key().version() != 4 {
            return Err(KeyError::NotForGnuPg22 {
                path,
                fingerprint,
                what: format!("a v{} key", self.cert.primary_key().key().version()),
            });
        }
        let usable: Vec<_> = valid
            .keys()
            .supported()
            .alive()
            .revoked(false)
            .key_flags(
                KeyFlags::empty()
                    .set_storage_encryption()
                    .set_transport_encryption(),
            )
            .collect();
        let (readable, newer): (Vec<_>, Vec<_>) = usable
            .into_iter()
            .partition(|ka| gnupg_22_decrypts(ka.key().pk_algo()));
        if readable.is_empty() {
            if let Some(ka) = newer.first() {
                return Err(KeyError::NotForGnuPg22 {
                    path,
                    fingerprint,
                    what: format!("an encryption subkey of algorithm {}", ka.key().pk_algo()),
                });
            }
        }
        let recipients: Vec<_> = readable
            .into_iter()
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

/// Algorithms GnuPG 2.2 decrypts with: RSA, and ECDH (on Curve25519 or the NIST and
/// Brainpool curves). X25519/X448 as their own algorithms (RFC 9580) are newer.
fn gnupg_22_decrypts(algo: openpgp::types::PublicKeyAlgorithm) -> bool {
    use openpgp::types::PublicKeyAlgorithm as A;
    #[allow(deprecated)]
    let ok = matches!(algo, A::RSAEncryptSign | A::RSAEncrypt | A::ECDH);
    ok
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}
