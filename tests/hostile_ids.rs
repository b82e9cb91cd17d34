//! IDs and file names chosen to collide, to hide, or to write log lines: conferences whose
//! IDs sanitise alike are both delivered under names of their own, no delivered name is
//! hidden or swept away as a leftover, and a newline in an ID or a file name never starts a
//! line of recproc's log.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::broker::Daemon;
use common::*;
use recproc_fixture::{Participant, Scenario};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What a forged log line looks like: a newline, then recproc's own ERROR.
const FORGED: &str = "\n2026-01-01T00:00:00Z ERROR Lost the broker; reconnecting.";

fn one_track() -> Scenario {
    Scenario {
        duration: 3.0,
        participants: vec![Participant::new("alice", "red", 0.0, 3.0)],
        ..Scenario::default()
    }
}

/// A sandbox with `extra_toml`, a good conference, and its event as JSON to change.
fn sandbox(extra_toml: &str) -> (Sandbox, Value) {
    let sb = Sandbox::new(extra_toml);
    let g = sb.generate(&one_track());
    let event: Value = serde_json::from_slice(&std::fs::read(&g.event).unwrap()).unwrap();
    (sb, event)
}

/// The first 8 hex digits of `value`'s sha256: what follows a value sanitising changed.
fn tag(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn name_of(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

#[test]
fn ids_that_sanitise_alike_are_both_delivered_under_their_own_names() {
    let (sb, mut event) = sandbox("");
    event["conferenceId"] = json!("room 1");
    let spaced = sb.process_text(&event.to_string()).delivered();
    event["conferenceId"] = json!("room_1");
    let run = sb.process_text(&event.to_string());
    let plain = run.delivered();
    assert_eq!(run.json["conferenceId"], "room_1");

    // `room_1` is left as it is; `room 1` was changed, so its hash follows it.
    assert_eq!(
        name_of(&spaced),
        format!("recording-room_1-{}-fixture-uuid.webm", tag("room 1"))
    );
    assert_eq!(
        name_of(&spaced),
        "recording-room_1-03803e9c-fixture-uuid.webm"
    );
    assert_eq!(name_of(&plain), "recording-room_1-fixture-uuid.webm");
    let out = sb.output_dir().canonicalize().unwrap();
    assert_eq!(sb.outputs().len(), 2, "{:?}", sb.outputs());
    for file in [&spaced, &plain] {
        assert_eq!(file.parent(), Some(out.as_path()));
        let p = probe(file);
        assert!(
            (p.duration - 3.0).abs() < 0.2,
            "{}: {}",
            file.display(),
            p.duration
        );
        assert_colours(file, 1.5, &[((320, 240), RED)]);
    }
}

/// `path`'s modification time set `ago` into the past.
fn age(path: &Path, ago: Duration) {
    let file = std::fs::File::open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

#[test]
fn a_split_recording_whose_ids_look_like_a_leftover_is_visible_and_survives_a_daemon_start() {
    let (sb, mut event) = sandbox("[recording]\nsplit_recording_output = true\n");
    event["conferenceId"] = json!("x.partial");
    event["recordingInfo"]["uuid"] = json!(".recproc");
    let run = sb.process_text(&event.to_string());
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json["mode"], "split");

    // Not `.recproc-x.partial`: the uuid's leading dot is a change, so it is replaced and
    // its hash follows; `x.partial` is left as it is.
    let out = sb.output_dir().canonicalize().unwrap();
    let dir = out.join(format!("_recproc-{}-x.partial", tag(".recproc")));
    assert_eq!(run.json["directory"], dir.to_str().unwrap());
    assert!(dir.is_dir());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let delivered = names.clone();
    assert_eq!(
        names,
        vec![
            "_recproc-83db60f9-x.partial.json".to_owned(),
            "rec-20260101-100000-_recproc-83db60f9-x.partial.wav".to_owned(),
            "rec-20260101-100000-alice.webm".to_owned(),
        ]
    );
    // Nothing hidden in output_dir but recproc's state directory.
    let top: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for p in &top {
        let n = name_of(p);
        assert!(
            !n.starts_with('.') || n == recproc::ledger::STATE_DIR,
            "{n:?}"
        );
    }

    // A day and more later, a daemon starts and sweeps what crashed deliveries left.
    let leftover = out.join(".recproc-crashed.partial");
    std::fs::create_dir(&leftover).unwrap();
    for p in [&dir, &leftover] {
        age(p, Duration::from_secs(3 * 24 * 3600));
    }
    let config = sb.path().join("daemon.toml");
    let mut text = std::fs::read_to_string(&sb.config).unwrap();
    // Nothing listens there: the daemon sweeps, then keeps trying to connect.
    text.push_str("\n[amqp]\nurl = \"amqp://guest:guest@127.0.0.1:1/%2f\"\n");
    std::fs::write(&config, text).unwrap();
    let mut daemon = Daemon::start(&config, sb.path().join("daemon.log"));
    assert!(
        daemon.wait_for_log("Lost the broker", Duration::from_secs(60)),
        "{}",
        daemon.log_text()
    );
    daemon.terminate();
    daemon.wait_exit(Duration::from_secs(30));
    let log = daemon.log_text();
    assert!(!leftover.exists(), "the sweep ran: {log}");
    assert!(dir.is_dir(), "the delivery was swept away: {log}");
    let mut after: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    after.sort();
    assert_eq!(after, delivered);
}

/// recproc's own line start: `2026-01-01T00:00:00.000000Z`, spaces, a level, a space.
fn is_own_line(line: &str) -> bool {
    let stamp_ok = line.len() > 27
        && line[..27].char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == 'T',
            13 | 16 => c == ':',
            19 => c == '.',
            26 => c == 'Z',
            _ => c.is_ascii_digit(),
        });
    let rest = line.get(27..).unwrap_or_default().trim_start();
    stamp_ok
        && ["TRACE ", "DEBUG ", "INFO ", "WARN ", "ERROR "]
            .iter()
            .any(|level| rest.starts_with(level))
}

/// Every line of `stderr` is one recproc began, and the forged line is not one of them.
fn assert_no_forged_line(stderr: &str) {
    assert!(!stderr.contains('\r'), "{stderr}");
    for line in stderr.split('\n').filter(|l| !l.is_empty()) {
        assert!(
            is_own_line(line),
            "a line recproc did not begin: {line:?}\n{stderr}"
        );
        assert!(!line.starts_with("2026-01-01T00:00:00Z"), "{line:?}");
    }
}

#[test]
fn a_newline_in_a_conference_id_writes_no_line_of_its_own() {
    let (sb, mut event) = sandbox("");
    let id = format!("c1{FORGED}");
    event["conferenceId"] = json!(id);
    let run = sb.process_text(&event.to_string());
    run.failed("validate", &["conferenceId", "control character"]);
    assert_eq!(run.json["conferenceId"], id.as_str());
    assert_no_forged_line(&run.stderr);
    // The ID is logged, escaped: in the SPEC line's text and as a field.
    let escaped = "c1\\n2026-01-01T00:00:00Z ERROR Lost the broker; reconnecting.";
    assert!(
        run.stderr.contains(&format!(
            "Received a process recording event with id: {escaped}"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("conference_id=\"{escaped}\"")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Rejected an invalid event."),
        "{}",
        run.stderr
    );
}

#[test]
fn a_newline_in_a_file_name_writes_no_line_of_its_own() {
    let (sb, mut event) = sandbox("");
    let sfu = &mut event["recordingInfo"]["video"]["alice"]["sfuvideo"];
    let key = sfu.as_object().unwrap().keys().next().unwrap().clone();
    let old = sfu[&key]["filename"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_owned();
    let hostile = format!("alice{FORGED}.mjr");
    std::fs::rename(sb.video_root().join(&old), sb.video_root().join(&hostile)).unwrap();
    sfu[&key]["filename"] = json!(hostile);

    let run = sb.process_text(&event.to_string());
    let file = run.delivered();
    assert_colours(&file, 1.5, &[((320, 240), RED)]);
    assert_no_forged_line(&run.stderr);
    let escaped = "alice\\n2026-01-01T00:00:00Z ERROR Lost the broker; reconnecting..mjr";
    let processing = run
        .stderr
        .split('\n')
        .find(|l| l.contains("Processing video: "))
        .unwrap_or_else(|| panic!("no Processing video line: {}", run.stderr));
    assert!(processing.contains(escaped), "{processing}");
    assert!(
        processing.contains(&format!("{escaped}\"")),
        "the path field: {processing}"
    );

    // The same name in an error's text, logged as a field.
    std::fs::remove_file(sb.video_root().join(&hostile)).unwrap();
    let mut again = event.clone();
    again["conferenceId"] = json!("c2");
    let run = sb.process_text(&again.to_string());
    run.failed("validate", &["not found"]);
    assert_no_forged_line(&run.stderr);
    let rejected = run
        .stderr
        .split('\n')
        .find(|l| l.contains("Rejected an invalid event."))
        .unwrap_or_else(|| panic!("no Rejected line: {}", run.stderr));
    assert!(rejected.contains("ERROR Lost the broker"), "{rejected}");
}
