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
        // The same key, binary (unarmored), loads as well.
        let binary = dir.path().join(format!("{maker}-{algo:?}.gpg-key"));
        let dearmored = ring.gpg(&[
            "--dearmor",
            "-o",
            binary.to_str().unwrap(),
            public.to_str().unwrap(),
        ]);
        assert!(dearmored.status.success());
        assert_eq!(
            PublicKey::load(&binary).unwrap().fingerprint(),
            key.fingerprint()
        );
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

/// What recproc says about each of `bad_keys`.
fn refusal(what: &str) -> &'static str {
    match what {
        "missing" => "does not exist",
        "unreadable" => "cannot be read",
        "not a key" => "is not an OpenPGP public key",
        "secret key" => "holds a secret key",
        "expired" => "is expired",
        "revoked" => "is revoked",
        "no encryption subkey" => "no usable encryption-capable",
        "v6 key" | "x448 key" => "not by GnuPG 2.2",
        "keyring" => "holds several keys",
        other => panic!("{other}"),
    }
}

#[test]
fn unusable_keys_are_refused_each_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (what, path) in bad_keys(dir.path()) {
        let err = PublicKey::load(&path).expect_err(what).to_string();
        let expected = refusal(what);
        assert!(err.contains(expected), "{what}: {err}");
        assert!(
            err.contains(&*path.to_string_lossy()),
            "{what} names the file: {err}"
        );
    }
}

use std::path::{Path, PathBuf};

use common::{probe_fails, Sandbox};
use recproc_fixture::{Participant, Scenario};

/// Two participants and their own microphones, no audiomixer: recproc mixes the call's
/// audio, and split mode delivers each microphone's track too.
fn call() -> Scenario {
    Scenario {
        duration: 4.0,
        audio: false,
        janus_audio: true,
        participants: vec![
            Participant::new("alice", "red", 0.0, 4.0),
            Participant::new("bob", "blue", 1.0, 4.0).with_codec(recproc_fixture::Codec::H264),
        ],
        ..Scenario::default()
    }
}

/// The same conference processed without and with encryption (RSA key made by GnuPG).
/// `clean_temporary_files = false`: encryption must clean the plaintext anyway.
fn both_runs(
    extra: &str,
) -> (
    Sandbox,
    serde_json::Value,
    Sandbox,
    serde_json::Value,
    Keyring,
) {
    let ring = Keyring::new();
    let key = ring.gpg_key(Algo::Rsa, ring.home.path());
    let plain = Sandbox::new(&format!(
        "[recording]\nclean_temporary_files = false\n{extra}"
    ));
    let sealed = Sandbox::new(&format!(
        "[recording]\nclean_temporary_files = false\n{extra}[encryption]\nenabled = true\npublic_key = {:?}\n",
        key
    ));
    // The same media for both (the fixture encoder is not bit-exact from run to run).
    let g = plain.generate(&call());
    for (from, to) in [
        (plain.video_root(), sealed.video_root()),
        (plain.audio_root(), sealed.audio_root()),
    ] {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    let mut runs = Vec::new();
    for sb in [&plain, &sealed] {
        let run = sb.process(&g.event);
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        runs.push(run.json);
    }
    let sealed_json = runs.pop().unwrap();
    let plain_json = runs.pop().unwrap();
    (plain, plain_json, sealed, sealed_json, ring)
}

fn files_of(event: &serde_json::Value) -> Vec<(PathBuf, String, u64, String)> {
    event["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                PathBuf::from(f["path"].as_str().unwrap()),
                f["kind"].as_str().unwrap().to_owned(),
                f["bytes"].as_u64().unwrap(),
                f["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Nothing the finished job left is a playable media file.
fn assert_nothing_playable(sb: &Sandbox) {
    for file in sb.outputs() {
        if file.extension().is_some_and(|e| e == "json") {
            continue;
        }
        assert!(
            file.extension().is_some_and(|e| e == "gpg"),
            "only encrypted media is delivered: {file:?}"
        );
        assert!(probe_fails(&file), "{file:?} must not play");
    }
    let work: Vec<_> = std::fs::read_dir(sb.work_dir()).unwrap().collect();
    assert!(work.is_empty(), "the work directory is removed: {work:?}");
}

#[test]
fn a_merged_recording_is_encrypted_and_decrypts_to_the_unencrypted_run() {
    let (plain, plain_json, sealed, sealed_json, ring) = both_runs("");
    assert_eq!(plain_json["encrypted"], false);
    assert_eq!(sealed_json["encrypted"], true);
    let original = PathBuf::from(plain_json["filename"].as_str().unwrap());
    let encrypted = PathBuf::from(sealed_json["filename"].as_str().unwrap());
    assert_eq!(
        encrypted.file_name().unwrap().to_string_lossy(),
        format!("{}.gpg", original.file_name().unwrap().to_string_lossy())
    );
    let (path, kind, bytes, sha256) = files_of(&sealed_json).remove(0);
    assert_eq!(
        (path.as_path(), kind.as_str()),
        (encrypted.as_path(), "merged")
    );
    assert_eq!(bytes, std::fs::metadata(&encrypted).unwrap().len());
    assert_eq!(
        sha256,
        recproc::pipeline::deliver::digest(&encrypted)
            .unwrap()
            .sha256
    );
    let decrypted = ring.decrypt(&encrypted);
    assert!(
        decrypted == std::fs::read(&original).unwrap(),
        "the decrypted recording is the unencrypted run's, byte for byte"
    );
    assert_nothing_playable(&sealed);
    let _ = plain;
}

#[test]
fn a_split_recording_is_encrypted_file_by_file() {
    let (plain, plain_json, sealed, sealed_json, ring) =
        both_runs("split_recording_output = true\n");
    let plain_files = files_of(&plain_json);
    let sealed_files = files_of(&sealed_json);
    assert_eq!(plain_files.len(), sealed_files.len());
    for (p, s) in plain_files.iter().zip(&sealed_files) {
        assert_eq!(p.1, s.1, "same kinds in the same order");
        if p.1 == "metadata" {
            continue;
        }
        assert_eq!(
            s.0.file_name().unwrap().to_string_lossy(),
            format!("{}.gpg", p.0.file_name().unwrap().to_string_lossy())
        );
        assert_eq!(
            s.3,
            recproc::pipeline::deliver::digest(&s.0).unwrap().sha256
        );
        let decrypted = ring.decrypt(&s.0);
        let original = std::fs::read(&p.0).unwrap();
        if p.1 == "audio" {
            // recproc's own mix of the microphones, made the same way both times.
            assert!(decrypted == original, "{:?}: the WAV, byte for byte", s.0);
        } else {
            // janus-pp-rec gives every file it writes random container IDs, so two runs
            // differ in those bytes: compare the length and every packet instead.
            assert_eq!(decrypted.len(), original.len(), "{:?}", s.0);
            let copy = sealed.path().join("decrypted.webm");
            std::fs::write(&copy, &decrypted).unwrap();
            assert_eq!(packets(&copy), packets(&p.0), "{:?}", s.0);
        }
    }
    // The metadata lists the encrypted names and their sizes.
    let dir = PathBuf::from(sealed_json["directory"].as_str().unwrap());
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&dir), 0o750, "directories 0750");
    for f in &sealed_files {
        assert_eq!(mode(&f.0), 0o640, "files 0640: {:?}", f.0);
    }
    let meta_path = sealed_files
        .iter()
        .find(|f| f.1 == "metadata")
        .unwrap()
        .0
        .clone();
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    let audio = meta["audio"]["filename"].as_str().unwrap();
    assert!(audio.ends_with(".wav.gpg"), "{audio}");
    assert!(dir.join(audio).exists());
    let voices = meta["audios"].as_array().unwrap();
    assert_eq!(voices.len(), 2, "{meta}");
    assert_eq!(sealed_files.iter().filter(|f| f.1 == "voice").count(), 2);
    for v in meta["videos"].as_array().unwrap().iter().chain(voices) {
        let name = v["filename"].as_str().unwrap();
        assert!(name.ends_with(".gpg"), "{name}");
        assert!(dir.join(name).exists(), "{name}");
    }
    assert_nothing_playable(&sealed);
    let _ = (plain, Path::new("."));
}

/// Every packet's checksum (ffmpeg's framemd5 of a stream copy).
fn packets(path: &Path) -> String {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0", "-c", "copy", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn recproc(args: &[&str], config: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_recproc"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RECPROC_CONFIG")
        .output()
        .expect("run recproc")
}

#[test]
fn check_config_and_run_refuse_each_unusable_key_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (what, path) in bad_keys(dir.path()) {
        let sb = Sandbox::new(&format!(
            "[encryption]\nenabled = true\npublic_key = {path:?}\n"
        ));
        let expected = refusal(what);
        for command in ["check-config", "run"] {
            let out = recproc(&[command], &sb.config);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{command} with a {what} key: {stderr}"
            );
            assert!(
                stderr.contains("encryption.public_key"),
                "{command}, {what}: {stderr}"
            );
            assert!(stderr.contains(expected), "{command}, {what}: {stderr}");
            assert!(
                stderr.contains("never falls back to writing plaintext"),
                "{stderr}"
            );
        }
    }
}

#[test]
fn check_config_names_the_key_it_encrypts_to() {
    let ring = Keyring::new();
    let key = ring.sequoia_key(Algo::Curve25519, ring.home.path());
    let sb = Sandbox::new(&format!(
        "[encryption]\nenabled = true\npublic_key = {key:?}\n"
    ));
    let out = recproc(&["check-config"], &sb.config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fingerprint = recproc::recipient::PublicKey::load(&key)
        .unwrap()
        .fingerprint();
    assert!(
        stdout.contains(&format!(
            "# encryption: every media file to key {fingerprint}"
        )),
        "{stdout}"
    );
}
