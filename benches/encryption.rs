//! Encryption throughput and memory, side by side with GnuPG, on one file:
//!
//! ```sh
//! cargo bench --bench encryption            # 500 MB
//! ENCRYPTION_BENCH_MB=100 cargo bench --bench encryption
//! ```
//!
//! recproc's encryption stage (`pipeline::encrypt::file`, the code the daemon runs) and
//! `gpg --encrypt` (Debian 12's GnuPG 2.2, compression off as recproc's, and with its default
//! compression) encrypt the same file to the same Curve25519 key. Each runs in a child process
//! of its own, so its peak RSS is its own; recproc's is also measured on a 1 MB file, to show
//! that memory does not grow with the file. Every output is checked to decrypt.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sequoia_openpgp as openpgp;

use openpgp::cert::{CertBuilder, CipherSuite};
use openpgp::serialize::SerializeInto as _;

const CHILD: &str = "RECPROC_ENCRYPTION_BENCH_CHILD";

fn main() {
    // The child: encrypt one file with recproc's stage, nothing else.
    if let Ok(args) = std::env::var(CHILD) {
        let (key, file) = args.split_once('\n').expect("key and file");
        let key = recproc::recipient::PublicKey::load(Path::new(key)).expect("key");
        recproc::pipeline::encrypt::file(&key, Path::new(file)).expect("encrypt");
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks.
    }
    let mb: u64 = std::env::var("ENCRYPTION_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::Builder::new()
        .prefix("encbench")
        .tempdir_in(
            std::env::var_os("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from),
        )
        .unwrap();
    let home = tempfile::Builder::new()
        .prefix("gpg")
        .tempdir_in("/tmp")
        .unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--yes", "--quiet", "--trust-model", "always"])
            .args(args)
            .output()
            .expect("gpg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };

    // One key for everyone; gpg also gets the secret, to check the outputs.
    let (cert, _) = CertBuilder::general_purpose(Some("bench <bench@example.org>"))
        .set_cipher_suite(CipherSuite::Cv25519)
        .generate()
        .unwrap();
    let public = dir.path().join("key.asc");
    std::fs::write(&public, cert.armored().to_vec().unwrap()).unwrap();
    let secret = dir.path().join("secret.asc");
    std::fs::write(&secret, cert.as_tsk().armored().to_vec().unwrap()).unwrap();
    gpg(&["--import", secret.to_str().unwrap()]);
    let fpr = cert.fingerprint().to_hex();

    let big = dir.path().join("recording.webm");
    write_incompressible(&big, mb << 20);
    let small = dir.path().join("small.webm");
    write_incompressible(&small, 1 << 20);

    println!(
        "encrypting {mb} MB (incompressible, like encoded media) to a Curve25519 key, 2 cores\n"
    );
    println!("| encrypter | seconds | MB/s | peak RSS |");
    println!("| --- | ---: | ---: | ---: |");

    let (secs, rss) = child_run(&mut recproc_child(&public, &big));
    row("recproc (sequoia-openpgp, OpenSSL)", mb, secs, rss);
    let (_, small_rss) = child_run(&mut recproc_child(&public, &small));

    for (label, extra) in [
        (
            "gpg --encrypt --compress-algo none",
            vec!["--compress-algo", "none"],
        ),
        ("gpg --encrypt (default compression)", vec![]),
    ] {
        let out = dir.path().join("gpg.out");
        let mut cmd = Command::new("gpg");
        cmd.arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--yes", "--quiet", "--trust-model", "always"])
            .args(&extra)
            .args(["-r", &fpr, "-o"])
            .arg(&out)
            .arg("--encrypt")
            .arg(&big);
        let (secs, rss) = child_run(&mut cmd);
        row(label, mb, secs, rss);
        std::fs::remove_file(&out).unwrap();
    }
    println!(
        "\nrecproc's peak RSS on a 1 MB file: {:.1} MB (on {mb} MB: see above)",
        small_rss as f64 / 1024.0
    );

    // The outputs decrypt: a benchmark of something that does not work is worth nothing.
    let sealed = recproc::pipeline::encrypt::encrypted_name(&big);
    let check = dir.path().join("check.webm");
    gpg(&[
        "-o",
        check.to_str().unwrap(),
        "--decrypt",
        sealed.to_str().unwrap(),
    ]);
    assert_eq!(
        recproc::pipeline::deliver::digest(&check).unwrap(),
        recproc::pipeline::deliver::digest(&big).unwrap(),
        "recproc's output decrypts to the input"
    );
    println!("checked: gpg --decrypt gives the {mb} MB back, byte for byte");
}

fn recproc_child(key: &Path, file: &Path) -> Command {
    let _ = std::fs::remove_file(recproc::pipeline::encrypt::encrypted_name(file));
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(CHILD, format!("{}\n{}", key.display(), file.display()));
    cmd
}

/// Runs `cmd` to completion; its wall time and peak RSS in KiB (from wait4).
fn child_run(cmd: &mut Command) -> (f64, i64) {
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; both pointers are valid for the call.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed"
    );
    std::mem::forget(child); // reaped by wait4 above
    (secs, usage.ru_maxrss)
}

fn row(label: &str, mb: u64, secs: f64, rss_kib: i64) {
    println!(
        "| {label} | {secs:.2} | {:.0} | {:.1} MB |",
        mb as f64 / secs,
        rss_kib as f64 / 1024.0
    );
}

/// `len` bytes of xorshift output, written in 1 MiB blocks.
fn write_incompressible(path: &Path, len: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}
