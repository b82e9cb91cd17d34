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

/// How long before a key expires recproc starts warning (SPEC.md "Operations": 14 days).
pub const EXPIRY_WARNING: std::time::Duration = std::time::Duration::from_secs(14 * 86_400);

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

    /// When recordings can no longer be encrypted to it: the latest expiry of its encryption
    /// keys, or the primary key's when that is earlier; in the past once it has expired;
    /// `None` when it does not expire (or cannot be read under the policy at `now`:
    /// [`PublicKey::check`] says why).
    pub fn expires(&self, now: SystemTime) -> Option<SystemTime> {
        let valid = self.cert.with_policy(&POLICY, now).ok()?;
        let primary = valid.primary_key().key_expiration_time();
        let encryption = encryption_keys(&valid)
            .filter(|ka| gnupg_22_decrypts(ka.key().pk_algo()))
            .map(|ka| ka.key_expiration_time())
            // A key that never expires outlasts every other.
            .max_by(|a, b| match (a, b) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })?;
        match (primary, encryption) {
            (Some(p), Some(e)) => Some(p.min(e)),
            (p, e) => p.or(e),
        }
    }

    /// How long it stays usable, as of `now`, when that is less than [`EXPIRY_WARNING`]
    /// (zero once it has expired).
    pub fn expires_soon(&self, now: SystemTime) -> Option<std::time::Duration> {
        let left = self.expires(now)?.duration_since(now).unwrap_or_default();
        (left < EXPIRY_WARNING).then_some(left)
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
        let usable: Vec<_> = encryption_keys(&valid).alive().collect();
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

/// The keys of `valid` that recordings could be encrypted to, alive or not: supported, not
/// revoked, flagged for encryption.
fn encryption_keys<'a>(
    valid: &openpgp::cert::ValidCert<'a>,
) -> openpgp::cert::amalgamation::key::ValidKeyAmalgamationIter<
    'a,
    openpgp::packet::key::PublicParts,
    openpgp::packet::key::UnspecifiedRole,
> {
    valid.keys().supported().revoked(false).key_flags(
        KeyFlags::empty()
            .set_storage_encryption()
            .set_transport_encryption(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use openpgp::cert::{CertBuilder, CipherSuite};
    use std::time::Duration;

    const DAY: Duration = Duration::from_secs(86_400);

    /// A key made a minute ago whose primary key is valid for `primary` and whose
    /// encryption subkey for `subkey` (`None`: for ever).
    fn key(primary: Option<Duration>, subkey: Option<Duration>) -> (PublicKey, SystemTime) {
        // OpenPGP keeps whole seconds.
        let ago = SystemTime::now() - Duration::from_secs(60);
        let seconds = ago
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let made = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        let flags = KeyFlags::empty()
            .set_transport_encryption()
            .set_storage_encryption();
        let (cert, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::RSA2k)
            .set_creation_time(made)
            .set_validity_period(primary)
            .add_userid("recordings@example.org")
            .add_subkey(flags, subkey, None)
            .generate()
            .unwrap();
        let key = PublicKey {
            cert: cert.strip_secret_key_material(),
            path: PathBuf::from("recordings.asc"),
        };
        (key, made)
    }

    #[test]
    fn a_key_expires_with_the_first_of_its_primary_key_and_its_last_encryption_subkey() {
        let now = SystemTime::now();
        let (k, made) = key(Some(30 * DAY), None);
        assert_eq!(k.expires(now), Some(made + 30 * DAY));
        let (k, made) = key(None, Some(10 * DAY));
        assert_eq!(k.expires(now), Some(made + 10 * DAY));
        let (k, made) = key(Some(30 * DAY), Some(400 * DAY));
        assert_eq!(k.expires(now), Some(made + 30 * DAY));
        let (k, _) = key(None, None);
        assert_eq!(k.expires(now), None);
        assert!(k.check(now).is_ok());
    }

    #[test]
    fn a_key_is_said_to_expire_soon_within_fourteen_days() {
        let now = SystemTime::now();
        let (k, made) = key(Some(10 * DAY), None);
        assert_eq!(
            k.expires_soon(now),
            Some((made + 10 * DAY).duration_since(now).unwrap())
        );
        let (k, _) = key(Some(15 * DAY), None);
        assert_eq!(k.expires_soon(now), None);
        assert!(k.expires_soon(now + 2 * DAY).is_some(), "two days later");
        assert_eq!(key(None, None).0.expires_soon(now), None);
        // Once expired it still says when, and that nothing is left.
        let (k, made) = key(Some(10 * DAY), None);
        let later = now + 20 * DAY;
        assert_eq!(k.expires(later), Some(made + 10 * DAY));
        assert_eq!(k.expires_soon(later), Some(Duration::ZERO));
        assert!(k.check(later).is_err());
    }
}
