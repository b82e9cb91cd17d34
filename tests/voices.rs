//! Janus-only conferences (SPEC.md "Conference-ended event", issue "Janus-only conferences"):
//! each participant's own audio track, recorded by Janus as Opus or G.711 RTP, is heard in
//! the output exactly while they are in the call, in sync with their picture; split mode
//! delivers the tracks as janus-pp-rec writes them beside recproc's mixed WAV.

mod common;

use std::path::Path;

use common::*;
use recproc_fixture::{ColourChange, Participant, Scenario, VoiceCodec};
use serde_json::Value;

/// Ann (440 Hz, red) joins at 0.3 s and leaves at 10 s; Bob (660 Hz, green) joins at 2.5 s,
/// his microphone muted from 5.2 s to 6.8 s; Cat (880 Hz, blue) joins at 5.5 s, her
/// microphone's first packet 0.3 s later. Each beeps at every whole second they are present
/// and flashes white at one of them: Ann at 4 s, Bob at 7 s, Cat at 9 s. No audiomixer.
fn three_voices() -> Scenario {
    let flash = |p: Participant, at: f64| {
        let colour = p.colour.clone();
        Participant {
            colour_changes: vec![
                ColourChange {
                    at,
                    colour: "white".into(),
                },
                ColourChange {
                    at: at + 0.5,
                    colour,
                },
            ],
            keyframe_interval: 1.0,
            ..p
        }
    };
    let mut bob = flash(Participant::new("bob", "0x00FF00", 2.5, 12.0), 7.0);
    bob.muted = vec![(5.2, 6.8)];
    let mut cat = flash(Participant::new("cat", "blue", 5.5, 12.0), 9.0);
    cat.voice_join = Some(5.8);
    Scenario {
        duration: 12.0,
        audio: false,
        janus_audio: true,
        participants: vec![
            flash(Participant::new("ann", "red", 0.3, 10.0), 4.0),
            bob,
            cat,
        ],
        ..Scenario::default()
    }
}

/// How loud the `hz` beep that starts at whole second `t` is (its 100 ms).
fn beep(samples: &[i16], hz: f64, t: f64) -> f64 {
    tone(samples, hz, t, t + 0.1)
}

/// When the `hz` beep nearest `near` starts: the middle of the first 20 ms window, in 1 ms
/// steps, where the tone reaches half its level in the beep.
fn onset(samples: &[i16], hz: f64, near: f64) -> f64 {
    let full = tone(samples, hz, near + 0.03, near + 0.09);
    assert!(full > 1000.0, "no {hz} Hz beep near {near} s: {full:.0}");
    (0..200)
        .map(|ms| near - 0.1 + f64::from(ms) / 1000.0)
        .find(|&t| tone(samples, hz, t - 0.01, t + 0.01) >= full / 2.0)
        .expect("the beep starts")
}

/// The colour at `(x, y)` of every frame of `path` (30 fps from t=0).
fn colours_at(path: &Path, (x, y): (u32, u32)) -> Vec<[u8; 3]> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-vf"])
        .arg(format!("crop=8:8:{}:{}", x - 4, y - 4))
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
        .chunks_exact(8 * 8 * 3)
        .map(|f| {
            let mid = (4 * 8 + 4) * 3;
            [f[mid], f[mid + 1], f[mid + 2]]
        })
        .collect()
}

#[test]
fn each_voice_is_heard_exactly_while_its_person_is_in_the_call_in_sync_with_their_picture() {
    let sb = Sandbox::new("");
    let run = sb.process(&sb.generate(&three_voices()).event);
    let out = run.delivered();
    assert_eq!(probe(&out).codecs(), ["vp8", "opus"]);
    // t=0 is Ann's join, the earliest start of any track.
    assert_eq!(run.json["startTime"], "2026-01-01T10:00:00.300Z");
    let samples = audio_samples(&out);
    // Output seconds are call seconds minus 0.3.
    let at = |call: f64| call - 0.3;
    for (who, hz, heard, silent) in [
        ("ann", 440.0, &[1.0, 4.0, 9.0][..], &[10.0, 11.0][..]),
        ("bob", 660.0, &[3.0, 5.0, 7.0, 11.0], &[1.0, 2.0, 6.0]),
        ("cat", 880.0, &[6.0, 8.0, 11.0], &[1.0, 4.0, 5.0]),
    ] {
        for &t in heard {
            let level = beep(&samples, hz, at(t));
            assert!(level > 1000.0, "{who} not heard at {t} s: {level:.0}");
        }
        for &t in silent {
            let level = beep(&samples, hz, at(t));
            assert!(level < 100.0, "{who} heard at {t} s: {level:.0}");
        }
    }
    // Every voice at its own level, whoever else speaks: the fixture's beeps are sines of
    // amplitude 8000, which measure about 4000; Ann's alone at 1 s and with two others at
    // 9 s (a mix scaling by the number of voices would give a third of that).
    for (t, with) in [(1.0, "alone"), (9.0, "with two others")] {
        let level = beep(&samples, 440.0, at(t));
        assert!(
            (level / 4000.0 - 1.0).abs() < 0.15,
            "Ann {with}: {level:.0}"
        );
    }

    // Each flash against the beep in that person's own track (tiles in order of joining).
    for (who, hz, call, tile) in [
        ("ann", 440.0, 4.0, (160, 240)),
        ("bob", 660.0, 7.0, (480, 120)),
        ("cat", 880.0, 9.0, (320, 360)),
    ] {
        let colours = colours_at(&out, tile);
        let from = (at(call) * 30.0) as usize - 15;
        let white = from
            + colours[from..]
                .iter()
                .position(|c| close(*c, WHITE))
                .unwrap_or_else(|| panic!("{who}'s picture turns white"));
        let picture = white as f64 / 30.0;
        let sound = onset(&samples, hz, at(call));
        eprintln!("{who}: picture at {picture:.3} s, beep at {sound:.3} s");
        assert!((sound - at(call)).abs() <= 0.01, "{who}'s beep at {sound}");
        assert!(
            (picture - sound).abs() <= 1.0 / 30.0 + 0.002,
            "{who}: picture at {picture} s, beep at {sound} s"
        );
    }

    // The timeline has each voice where it is heard, Bob's mute as a gap.
    let tracks = run.json["timeline"]["tracks"].as_array().unwrap();
    let voice = |user: &str| {
        tracks
            .iter()
            .find(|t| t["kind"] == "audio" && t["userID"] == user)
            .unwrap_or_else(|| panic!("no audio track of {user}: {tracks:?}"))
    };
    let bob = voice("bob");
    assert_eq!(bob["codec"], "opus");
    let gap = &bob["gaps"][0];
    let (gap_at, gap_s) = (
        gap["at"].as_f64().unwrap(),
        gap["seconds"].as_f64().unwrap(),
    );
    assert!(
        (gap_at - at(5.2)).abs() < 0.03 && (gap_s - 1.6).abs() < 0.03,
        "{bob}"
    );
    assert!((voice("cat")["start"].as_f64().unwrap() - at(5.8)).abs() < 0.01);
    assert_eq!(run.json["audios"].as_array().unwrap().len(), 3);
}

/// Every packet of `path`'s first stream: its time, length and a digest of its bytes.
fn packets(path: &Path) -> String {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_data_hash",
            "sha256",
            "-select_streams",
            "0",
        ])
        .args([
            "-show_entries",
            "stream=codec_name:packet=pts,duration,size,data_hash",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {}", path.display());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().count() > 10, "{}: {text}", path.display());
    text
}

#[test]
fn split_delivers_each_track_as_janus_pp_rec_writes_it_and_a_mixed_wav() {
    let mut scenario = three_voices();
    scenario.participants[2].voice_codec = VoiceCodec::Pcmu;
    let sb = Sandbox::new("[recording]\nsplit_recording_output = true\n");
    let generated = sb.generate(&scenario);
    let run = sb.process(&generated.event);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let e = &run.json;
    let dir = Path::new(e["directory"].as_str().unwrap());

    // Each participant's track: the bytes janus-pp-rec writes from the recording.
    let audios = e["audios"].as_array().unwrap();
    assert_eq!(audios.len(), 3);
    for v in &generated.voices {
        let entry = audios
            .iter()
            .find(|a| a["userID"] == v.user.as_str())
            .unwrap_or_else(|| panic!("{} is not in audios: {audios:?}", v.user));
        let file = Path::new(entry["filename"].as_str().unwrap());
        let ext = match v.codec {
            VoiceCodec::Opus => "opus",
            _ => "wav",
        };
        assert_eq!(file.extension().unwrap(), ext);
        let own = sb.path().join(format!("{}.{ext}", v.user));
        let converted = std::process::Command::new("janus-pp-rec")
            .arg(&v.mjr)
            .arg(&own)
            .output()
            .unwrap();
        assert!(converted.status.success());
        // janus-pp-rec picks a new Ogg stream serial number each run: the same packets at
        // the same times, in the same container, are what "as recorded" means.
        assert_eq!(packets(file), packets(&own), "{}", file.display());
        assert_eq!(entry["startTime"], v.first_packet.to_iso_millis());
        let bytes = std::fs::metadata(file).unwrap().len();
        assert_eq!(entry["bytes"], bytes);
        let listed = e["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == entry["filename"])
            .unwrap();
        assert_eq!(listed["kind"], "voice");
    }

    // The call's audio: recproc's mix in the audiomixer's format, from t=0 to the end.
    let wav = Path::new(e["audio"]["filename"].as_str().unwrap());
    assert_eq!(wav.parent().unwrap(), dir);
    let header = std::fs::read(wav).unwrap();
    assert_eq!(&header[..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([header[22], header[23]]), 1, "mono");
    assert_eq!(u32::from_le_bytes(header[24..28].try_into().unwrap()), 8000);
    assert_eq!(u16::from_le_bytes([header[34], header[35]]), 16);
    assert!((probe(wav).duration - 11.7).abs() < 0.05);
    let samples = audio_samples(wav);
    assert!(
        beep(&samples, 880.0, 8.0 - 0.3) > 1000.0,
        "cat's G.711 voice is mixed in"
    );
    assert!(
        beep(&samples, 660.0, 6.0 - 0.3) < 100.0,
        "bob is muted at 6 s"
    );
    // The metadata in the directory says the same as the event.
    let name = format!("{}.json", dir.file_name().unwrap().to_string_lossy());
    let meta: Value = serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap();
    assert_eq!(meta["audios"].as_array().unwrap().len(), 3);
    assert_eq!(meta["audio"]["startTime"], e["startTime"]);
}

#[test]
fn a_voice_quiet_for_longer_than_a_piece_resumes_on_time() {
    // Ann's microphone sends nothing from 3.5 s to 16.5 s: the mix reads her track in two
    // pieces, and her beep at 17 s must still come with her flash.
    let mut ann = Participant::new("ann", "red", 0.0, 20.0);
    ann.muted = vec![(3.5, 16.5)];
    ann.keyframe_interval = 1.0;
    ann.colour_changes = vec![
        ColourChange {
            at: 17.0,
            colour: "white".into(),
        },
        ColourChange {
            at: 17.5,
            colour: "red".into(),
        },
    ];
    let scenario = Scenario {
        duration: 20.0,
        audio: false,
        janus_audio: true,
        participants: vec![ann],
        ..Scenario::default()
    };
    let sb = Sandbox::new("");
    let run = sb.process(&sb.generate(&scenario).event);
    let out = run.delivered();
    let samples = audio_samples(&out);
    for t in [1.0, 2.0, 3.0, 17.0, 18.0, 19.0] {
        assert!(beep(&samples, 440.0, t) > 1000.0, "ann not heard at {t} s");
    }
    for t in [4.0, 10.0, 16.0] {
        assert!(beep(&samples, 440.0, t) < 100.0, "ann heard at {t} s");
    }
    let colours = colours_at(&out, (320, 240));
    let white = colours.iter().position(|c| close(*c, WHITE)).unwrap();
    let sound = onset(&samples, 440.0, 17.0);
    assert!((sound - 17.0).abs() <= 0.01, "beep at {sound}");
    assert!((white as f64 / 30.0 - sound).abs() <= 1.0 / 30.0 + 0.002);
    assert_eq!(probe(&out).duration.round(), 20.0);
}

#[test]
fn a_voice_in_which_nothing_was_recorded_is_left_out_not_fatal() {
    let sb = Sandbox::new("");
    let generated = sb.generate(&three_voices());
    // Janus created Bob's recorder, but no packet came: the header and nothing after it.
    let bob = &generated.voices[1].mjr;
    let bytes = std::fs::read(bob).unwrap();
    let header = 10 + usize::from(u16::from_be_bytes([bytes[8], bytes[9]]));
    std::fs::write(bob, &bytes[..header]).unwrap();
    let run = sb.process(&generated.event);
    run.delivered();
    let skipped = run.json["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["userID"], "bob");
    assert!(skipped[0]["reason"]
        .as_str()
        .unwrap()
        .contains("no packets"));
    assert_eq!(run.json["audios"].as_array().unwrap().len(), 2);
}

#[test]
fn with_the_audiomixers_wav_the_voices_are_extra() {
    let mut scenario = three_voices();
    scenario.audio = true;
    let sb = Sandbox::new("");
    let generated = sb.generate(&scenario);
    // Even a broken one cannot cost the recording: Cat's is cut off in the middle.
    let cat = &generated.voices[2].mjr;
    let bytes = std::fs::read(cat).unwrap();
    std::fs::write(cat, &bytes[..bytes.len() / 2 + 3]).unwrap();
    let run = sb.process(&generated.event);
    run.delivered();
    // The WAV sets t=0 (the call start) and is the sound; the voices are said to be left out.
    assert_eq!(run.json["startTime"], "2026-01-01T10:00:00.000Z");
    let skipped = run.json["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    for s in skipped {
        assert_eq!(s["kind"], "audio");
        let reason = s["reason"].as_str().unwrap();
        match s["userID"].as_str() {
            Some("cat") => assert!(reason.contains("truncated"), "{s}"),
            _ => assert!(reason.contains("split mode"), "{s}"),
        }
    }
}

#[test]
fn in_an_mp4_the_voices_are_mixed_into_aac() {
    let scenario = Scenario {
        duration: 4.0,
        audio: false,
        janus_audio: true,
        participants: vec![
            Participant::new("ann", "red", 0.0, 4.0),
            Participant::new("bob", "blue", 1.5, 4.0),
        ],
        ..Scenario::default()
    };
    let sb = Sandbox::new("[recording]\nvideo_codec = \"h264\"\n");
    let out = sb.process(&sb.generate(&scenario).event).delivered();
    assert_eq!(probe(&out).codecs(), ["h264", "aac"]);
    let samples = audio_samples(&out);
    assert!(beep(&samples, 440.0, 1.0) > 1000.0);
    assert!(beep(&samples, 660.0, 1.0) < 100.0, "bob is not there yet");
    assert!(beep(&samples, 660.0, 2.0) > 1000.0);
}

#[test]
fn the_recording_type_picks_the_voices_with_the_audio() {
    for (kind, codecs, voices) in [("video", &["vp8"][..], 0), ("audio", &["opus"][..], 3)] {
        let sb = Sandbox::new("");
        let generated = sb.generate(&three_voices());
        let mut event: Value =
            serde_json::from_slice(&std::fs::read(&generated.event).unwrap()).unwrap();
        event["recordingType"] = kind.into();
        let run = sb.process_text(&event.to_string());
        let out = run.delivered();
        assert_eq!(probe(&out).codecs(), codecs, "{kind}");
        let listed = run.json["audios"].as_array().map_or(0, Vec::len);
        assert_eq!(listed, voices, "{kind}");
    }
}

#[test]
fn an_audio_entry_of_an_unknown_shape_fails_naming_it() {
    let sb = Sandbox::new("");
    let generated = sb.generate(&three_voices());
    let mut event: Value =
        serde_json::from_slice(&std::fs::read(&generated.event).unwrap()).unwrap();
    let entry = event["recordingInfo"]["audio"]["ann"]["sfuaudio"].clone();
    event["recordingInfo"]["audio"]["ann"] = serde_json::json!({"mic": entry});
    let run = sb.process_text(&event.to_string());
    run.failed("validate", &["recordingInfo.audio.ann.mic", "sfuaudio"]);
    assert_eq!(run.json["event"], event);
    assert!(sb.outputs().is_empty());
}

#[test]
fn voices_that_add_up_past_full_scale_are_limited_not_clipped() {
    // Nine people beeping at the same moments: their sum would reach far past full scale.
    let colours = [
        "red", "green", "blue", "yellow", "white", "cyan", "magenta", "gray", "orange",
    ];
    let participants = colours
        .iter()
        .enumerate()
        .map(|(i, c)| Participant::new(&format!("p{i}"), c, 0.0, 3.0))
        .collect();
    let scenario = Scenario {
        duration: 3.0,
        audio: false,
        janus_audio: true,
        participants,
        ..Scenario::default()
    };
    let sb = Sandbox::new("[recording]\nsplit_recording_output = true\n");
    let run = sb.process(&sb.generate(&scenario).event);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let wav = Path::new(run.json["audio"]["filename"].as_str().unwrap());
    let samples = audio_samples(wav);
    let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
    let clipped = samples.iter().filter(|s| s.unsigned_abs() >= 32767).count();
    eprintln!("peak {peak}, {clipped} samples at full scale");
    assert!(peak > 20_000, "the voices add up: {peak}");
    assert!(peak <= 29_500, "the limiter holds about -1 dBFS: {peak}");
    assert_eq!(clipped, 0);
    // Every voice is still there (440, 660, … Hz).
    for i in 0..9 {
        let hz = 440.0 + 220.0 * f64::from(i);
        if hz >= 4000.0 {
            continue; // above what 8 kHz can carry
        }
        let level = beep(&samples, hz, 1.0);
        assert!(level > 300.0, "{hz} Hz: {level:.0}");
    }
}
