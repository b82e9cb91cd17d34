//! OpenPGP keys for the encryption tests: made by GnuPG (Debian 12's `gpg`, 2.2) or by
//! Sequoia (the library `sq` is built on), RSA or Curve25519, and a private GnuPG home per
//! test that holds every secret key, to decrypt with the real `gpg --batch --decrypt`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use sequoia_openpgp as openpgp;

use openpgp::cert::{CertBuilder, CipherSuite};
use openpgp::serialize::SerializeInto as _;

/// Which algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Rsa,
    Curve25519,
}

/// A public key made by Sequoia (RSA, with an encryption subkey) that expires `valid_for`
/// after it was made (a minute ago, to the second), written to `dir`; and when it expires.
pub fn expiring_key(dir: &Path, valid_for: Duration) -> (PathBuf, SystemTime) {
    let seconds = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 60;
    let made = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
    let (cert, _) = CertBuilder::general_purpose(Some("expiring <x@example.org>"))
        .set_cipher_suite(CipherSuite::RSA2k)
        .set_creation_time(made)
        .set_validity_period(valid_for)
        .generate()
        .unwrap();
    let path = dir.join("expiring.asc");
    std::fs::write(&path, cert.armored().to_vec().unwrap()).unwrap();
    (path, made + valid_for)
}

/// A GnuPG home of one's own.
pub struct Keyring {
    pub home: tempfile::TempDir,
}

impl Keyring {
    pub fn new() -> Keyring {
        // Short: gpg-agent's socket path must fit in 108 bytes.
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .expect("gpg home");
        Keyring { home }
    }

    pub fn gpg(&self, args: &[&str]) -> Output {
        Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("run gpg")
    }

    fn gpg_ok(&self, args: &[&str]) -> Output {
        let out = self.gpg(args);
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A key made by GnuPG; returns the armored public key, written to `dir`.
    pub fn gpg_key(&self, algo: Algo, dir: &Path) -> PathBuf {
        let (uid, primary, sub) = match algo {
            Algo::Rsa => ("RSA recordings <rsa@example.org>", "rsa3072", "rsa3072"),
            Algo::Curve25519 => ("Cv25519 recordings <cv@example.org>", "ed25519", "cv25519"),
        };
        self.gpg_ok(&["--quick-gen-key", uid, primary, "sign,cert", "never"]);
        let fpr = self.fingerprint(uid);
        self.gpg_ok(&["--quick-add-key", &fpr, sub, "encr", "never"]);
        let public = self.gpg_ok(&["--armor", "--export", &fpr]).stdout;
        let path = dir.join(format!("gpg-{algo:?}.asc"));
        std::fs::write(&path, public).unwrap();
        path
    }

    fn fingerprint(&self, uid: &str) -> String {
        let out = self.gpg_ok(&["--with-colons", "--list-keys", uid]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|r| r.trim_matches(':').to_owned())
            })
            .expect("a fingerprint")
    }

    /// A key made by Sequoia (general purpose: it advertises SEIPDv2), its secret imported
    /// here; returns the public key, armored, written to `dir`.
    pub fn sequoia_key(&self, algo: Algo, dir: &Path) -> PathBuf {
        let suite = match algo {
            Algo::Rsa => CipherSuite::RSA3k,
            Algo::Curve25519 => CipherSuite::Cv25519,
        };
        let (cert, _rev) =
            CertBuilder::general_purpose(Some("Sequoia recordings <sq@example.org>"))
                .set_cipher_suite(suite)
                .generate()
                .unwrap();
        let secret = dir.join(format!("sq-{algo:?}-secret.asc"));
        std::fs::write(&secret, cert.as_tsk().armored().to_vec().unwrap()).unwrap();
        self.gpg_ok(&["--import", secret.to_str().unwrap()]);
        std::fs::remove_file(&secret).unwrap();
        let public = dir.join(format!("sq-{algo:?}.asc"));
        std::fs::write(&public, cert.armored().to_vec().unwrap()).unwrap();
        public
    }

    /// `gpg --batch --decrypt FILE`: the plaintext.
    pub fn decrypt(&self, file: &Path) -> Vec<u8> {
        self.gpg_ok(&["--decrypt", file.to_str().unwrap()]).stdout
    }
}

/// Keys recproc must refuse, made with Sequoia, written to `dir`: (what, path).
pub fn bad_keys(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let write = |name: &str, bytes: Vec<u8>| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let mut out = Vec::new();
    out.push(("missing", dir.join("no-such-key.asc")));
    let unreadable = dir.join("a-directory.asc");
    std::fs::create_dir_all(&unreadable).unwrap();
    out.push(("unreadable", unreadable));
    out.push((
        "not a key",
        write(
            "garbage.asc",
            b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n".to_vec(),
        ),
    ));

    let (cert, _) = CertBuilder::general_purpose(Some("secret <s@example.org>"))
        .generate()
        .unwrap();
    out.push((
        "secret key",
        write("secret.asc", cert.as_tsk().armored().to_vec().unwrap()),
    ));

    let day = Duration::from_secs(86_400);
    let (cert, _) = CertBuilder::general_purpose(Some("expired <e@example.org>"))
        .set_creation_time(SystemTime::now() - 10 * day)
        .set_validity_period(day)
        .generate()
        .unwrap();
    out.push((
        "expired",
        write("expired.asc", cert.armored().to_vec().unwrap()),
    ));

    let (cert, revocation) = CertBuilder::general_purpose(Some("revoked <r@example.org>"))
        .generate()
        .unwrap();
    let (cert, _) = cert.insert_packets(revocation).unwrap();
    out.push((
        "revoked",
        write("revoked.asc", cert.armored().to_vec().unwrap()),
    ));

    let (cert, _) = CertBuilder::new()
        .add_userid("signing only <so@example.org>")
        .add_signing_subkey()
        .generate()
        .unwrap();
    out.push((
        "no encryption subkey",
        write("sign-only.asc", cert.armored().to_vec().unwrap()),
    ));

    // Keys GnuPG 2.2 cannot decrypt for: a v6 key, and X448.
    let (cert, _) = CertBuilder::general_purpose(Some("v6 <v6@example.org>"))
        .set_profile(openpgp::Profile::RFC9580)
        .unwrap()
        .generate()
        .unwrap();
    out.push(("v6 key", write("v6.asc", cert.armored().to_vec().unwrap())));
    let (cert, _) = CertBuilder::general_purpose(Some("cv448 <448@example.org>"))
        .set_cipher_suite(CipherSuite::Cv448)
        .generate()
        .unwrap();
    out.push((
        "x448 key",
        write("x448.asc", cert.armored().to_vec().unwrap()),
    ));

    // Two keys in one file.
    let (a, _) = CertBuilder::general_purpose(Some("a <a@example.org>"))
        .generate()
        .unwrap();
    let (b, _) = CertBuilder::general_purpose(Some("b <b@example.org>"))
        .generate()
        .unwrap();
    let mut both = a.to_vec().unwrap();
    both.extend(b.to_vec().unwrap());
    out.push(("keyring", write("keyring.gpg", both)));
    out
}
