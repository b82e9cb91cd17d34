//! Encryption as a key holder meets it: every delivered file decrypts with the real
//! `gpg --batch --decrypt` of Debian 12 (GnuPG 2.2), for keys made by GnuPG and by Sequoia,
//! RSA and Curve25519; keys recproc cannot use are refused with the reason.

mod common;

use common::keys::{bad_keys, Algo, Keyring};
use recproc::pipeline::encrypt;
use recproc::recipient::PublicKey;

fn random_bytes(len: usize) -> Vec<u8> {
    // xorshift: incompressible enough, no extra crate.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn files_decrypt_with_gnupg_2_2_for_gnupg_and_sequoia_keys() {
    let ring = Keyring::new();
    let dir = tempfile::tempdir().unwrap();
    let plain = random_bytes(3 << 20);
    for (maker, algo) in [
        ("gpg", Algo::Rsa),
        ("gpg", Algo::Curve25519),
        ("sequoia", Algo::Rsa),
        ("sequoia", Algo::Curve25519),
    ] {
        let public = match maker {
            "gpg" => ring.gpg_key(algo, dir.path()),
            _ => ring.sequoia_key(algo, dir.path()),
        };
        let key = PublicKey::load(&public).unwrap_or_else(|e| panic!("{maker} {algo:?}: {e}"));
        let source = dir.path().join(format!("{maker}-{algo:?}.webm"));
        std::fs::write(&source, &plain).unwrap();
        let encrypted = encrypt::file(&key, &source).unwrap();
        assert_eq!(
            encrypted,
            dir.path().join(format!("{maker}-{algo:?}.webm.gpg"))
        );
        let ciphertext = std::fs::read(&encrypted).unwrap();
        assert!(
            !ciphertext.windows(64).any(|w| w == &plain[1000..1064]),
            "{maker} {algo:?}: no plaintext in the ciphertext"
        );
        assert_eq!(
            ring.decrypt(&encrypted),
            plain,
            "{maker} {algo:?}: gpg --decrypt gives the bytes back"
        );
    }
}

#[test]
fn unusable_keys_are_refused_each_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (what, path) in bad_keys(dir.path()) {
        let err = PublicKey::load(&path).expect_err(what).to_string();
        let expected = match what {
            "missing" => "does not exist",
            "unreadable" => "cannot be read",
            "not a key" => "is not an OpenPGP public key",
            "secret key" => "holds a secret key",
            "expired" => "is expired",
            "revoked" => "is revoked",
            "no encryption subkey" => "no usable encryption-capable",
            other => panic!("{other}"),
        };
        assert!(err.contains(expected), "{what}: {err}");
        assert!(
            err.contains(&*path.to_string_lossy()),
            "{what} names the file: {err}"
        );
    }
}
