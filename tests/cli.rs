//! The command line as an operator meets it: `check-config` on good and bad configurations,
//! and `process` on an event file that is not there.

mod common;

use std::process::{Command, Output};

use common::*;

fn recproc(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recproc"));
    cmd.args(args).env_remove("RECPROC_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run recproc")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_config_prints_tools_and_the_effective_configuration() {
    let sb = Sandbox::new("[recording]\nmix_limit = 4\n");
    let out = recproc(
        &["check-config", "--config", sb.config.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("ffmpeg version"), "{stdout}");
    assert!(stdout.contains("Janus version"), "{stdout}");
    assert!(stdout.contains("mix_limit = 4"), "{stdout}");
    assert!(
        stdout.contains(&*sb.output_dir().canonicalize().unwrap().to_string_lossy()),
        "{stdout}"
    );
    // The broker password is not printed.
    assert!(!stdout.contains("guest:guest"), "{stdout}");
}

#[test]
fn the_config_file_can_come_from_the_environment() {
    let sb = Sandbox::new("");
    let out = recproc(
        &["check-config"],
        &[("RECPROC_CONFIG", sb.config.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn an_unknown_key_is_named() {
    let sb = Sandbox::new("[recording]\nmix_limt = 4\n");
    let out = recproc(
        &["check-config", "--config", sb.config.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("mix_limt"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_bad_environment_value_is_named_with_its_variable() {
    let sb = Sandbox::new("");
    let out = recproc(
        &["check-config", "--config", sb.config.to_str().unwrap()],
        &[("RECPROC_RECORDING__WIDTH", "641")],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("recording.width"), "{stderr}");
    assert!(stderr.contains("RECPROC_RECORDING__WIDTH"), "{stderr}");
}

#[test]
fn a_missing_directory_is_named() {
    let sb = Sandbox::new("");
    std::fs::remove_dir(sb.output_dir()).unwrap();
    let out = recproc(
        &["check-config", "--config", sb.config.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("paths.output_dir"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_config_file_is_an_error_not_the_defaults() {
    let out = recproc(
        &["check-config", "--config", "/nonexistent/recproc.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("/nonexistent/recproc.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_event_file_is_a_usage_error() {
    let sb = Sandbox::new("");
    let out = recproc(
        &[
            "process",
            "--config",
            sb.config.to_str().unwrap(),
            "/nonexistent/event.json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("/nonexistent/event.json"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn an_output_name_too_long_for_the_filesystem_fails_before_any_work() {
    let sb = Sandbox::new(
        "[recording]\nfilename_format = \"{{confbridgeid}}-{{uuid}}-{{confbridgeid}}-{{uuid}}\"\n",
    );
    let mut scenario = recproc_fixture::Scenario {
        duration: 2.0,
        ..Default::default()
    };
    scenario.conference_id = "c".repeat(120);
    let run = sb.process(&sb.generate(&scenario).event);
    run.failed("validate", &["at most 255", "filename_format"]);
    assert!(sb.outputs().is_empty());
}

#[test]
fn sigterm_stops_the_tools_and_delivers_nothing() {
    let sb = Sandbox::new("");
    let generated = sb.generate(&recproc_fixture::sample_four_party());
    let child = Command::new(env!("CARGO_BIN_EXE_recproc"))
        .args(["process", "--config"])
        .arg(&sb.config)
        .arg(&generated.event)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until a tool is working on the job (writing into the work directory), then stop
    // recproc.
    let work = sb.work_dir().canonicalize().unwrap();
    // Children of every thread of recproc (a tool is a child of the thread that spawned it).
    let children_of = |pid: u32| -> String {
        let mut all = String::new();
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
        for task in tasks.into_iter().flatten().flatten() {
            if let Ok(c) = std::fs::read_to_string(task.path().join("children")) {
                all.push_str(&c);
                all.push(' ');
            }
        }
        all
    };
    let working = || -> Option<String> {
        let children = children_of(pid);
        let busy = children.split_whitespace().any(|c| {
            std::fs::read(format!("/proc/{c}/cmdline"))
                .map(|cmd| String::from_utf8_lossy(&cmd).contains(&*work.to_string_lossy()))
                .unwrap_or(false)
        });
        busy.then_some(children)
    };
    let started = std::time::Instant::now();
    let children = loop {
        if let Some(c) = working() {
            break c;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "recproc never started a tool on the job"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    // Every tool it had running is gone, not re-parented and still writing.
    std::thread::sleep(std::time::Duration::from_millis(200));
    for child in children.split_whitespace() {
        let alive = std::fs::read_to_string(format!("/proc/{child}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "tool {child} still runs after recproc was stopped");
    }
    assert!(sb.outputs().is_empty());
}

/// How often each stderr line of `out` says `needle`, for the lines that say it.
fn mentions_per_line(out: &Output, needle: &str) -> Vec<usize> {
    text(&out.stderr)
        .lines()
        .map(|l| l.matches(needle).count())
        .filter(|&n| n > 0)
        .collect()
}

#[test]
fn a_missing_tool_is_named_once() {
    let sb = Sandbox::new("");
    let config = sb.config.to_str().unwrap();
    let event = sb.path().join("event.json");
    std::fs::write(&event, "{}").unwrap();
    // A PATH without ffmpeg; and one where "ffmpeg" is there but cannot be run.
    let empty = sb.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let broken = sb.path().join("broken-bin");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("ffmpeg"), "not a program").unwrap();
    for (path, says) in [
        (&empty, "`ffmpeg` was not found"),
        (&broken, "Permission denied"),
    ] {
        let env = [("PATH", path.to_str().unwrap())];
        for args in [
            vec!["check-config", "--config", config],
            vec!["process", "--config", config, event.to_str().unwrap()],
        ] {
            let out = recproc(&args, &env);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            // Once in the ERROR line, once in the line printed before exiting; never twice
            // in one line.
            assert_eq!(
                mentions_per_line(&out, says),
                vec![1, 1],
                "{args:?}: {stderr}"
            );
            assert!(
                stderr.contains("recproc: a required tool is missing: "),
                "{stderr}"
            );
        }
    }
}

/// Every line `stderr` holds, each parsed as a JSON object with a timestamp, a level and a
/// message.
fn json_lines(stderr: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    stderr
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
            let object = v.as_object().unwrap_or_else(|| panic!("{line}")).clone();
            for key in ["timestamp", "level", "message"] {
                assert!(object.contains_key(key), "no {key}: {line}");
            }
            object
        })
        .collect()
}

#[test]
fn with_log_format_json_every_line_is_an_object_and_every_job_line_names_its_conference() {
    let scenario = recproc_fixture::Scenario {
        duration: 3.0,
        participants: vec![recproc_fixture::Participant::new("ann", "red", 0.0, 3.0)],
        ..recproc_fixture::Scenario::default()
    };
    // From the file, and from the environment.
    let from_file = Sandbox::new("[log]\nformat = \"json\"\n");
    let from_env = Sandbox::new("");
    for (sb, env) in [
        (&from_file, &[][..]),
        (&from_env, &[("RECPROC_LOG__FORMAT", "json")][..]),
    ] {
        let event = sb.generate(&scenario).event;
        let config = sb.config.to_str().unwrap();
        let out = recproc(
            &["process", "--config", config, event.to_str().unwrap()],
            env,
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let lines = json_lines(&text(&out.stderr));
        let first_job_line = lines
            .iter()
            .position(|l| {
                l["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Received a process")
            })
            .expect("the job starts");
        let job = &lines[first_job_line..];
        assert!(job.len() > 5, "{job:?}");
        for line in job {
            assert_eq!(line["conference_id"], "fixture-conf", "{line:?}");
        }
        let done = job.last().unwrap();
        assert_eq!(
            done["message"],
            "Recording with ID fixture-conf processed correctly."
        );
        assert_eq!(done["level"], "INFO");
    }

    // An event file that is not there, and a configuration file that is not there (the
    // format then comes from the environment), are said in JSON too.
    let out = recproc(
        &[
            "process",
            "--config",
            from_file.config.to_str().unwrap(),
            "/nonexistent.json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let lines = json_lines(&text(&out.stderr));
    assert_eq!(lines.last().unwrap()["level"], "ERROR", "{lines:?}");
    let out = recproc(
        &["check-config", "--config", "/nonexistent/recproc.toml"],
        &[("RECPROC_LOG__FORMAT", "json")],
    );
    assert_eq!(out.status.code(), Some(2));
    let lines = json_lines(&text(&out.stderr));
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR", "{lines:?}");
    assert!(last["error"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/recproc.toml"));
}

#[test]
fn a_log_format_that_does_not_exist_is_named() {
    let sb = Sandbox::new("[log]\nformat = \"xml\"\n");
    let out = recproc(
        &["check-config", "--config", sb.config.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("log.format"), "{stderr}");
    assert!(stderr.contains("json"), "{stderr}");
}
