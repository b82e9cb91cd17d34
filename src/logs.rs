//! recproc's log: how it is written (stderr, one line per event, `RECPROC_LOG` filters; as
//! text or, with `log.format = "json"`, one JSON object per line), and how values recproc
//! does not control get into it.
//!
//! A conference ID, a uuid, a user ID, a file name or path from an event, raw event text, or
//! an error text that may embed any of them can hold a newline or a terminal escape. Printed
//! as it is, it would end the line and write one of its own (`… ERROR Lost the broker;
//! reconnecting.`). Such a value enters a line only
//! - as a field, through [`field`]: recorded as a string, which the text format prints quoted
//!   with every control character escaped (`conference_id="a\nb"`), and which a JSON format
//!   writes as a JSON string; never as `%value`, which the text format prints raw;
//! - or, in the few lines SPEC.md names with a value in their text (`Received a process
//!   recording event with id: <conferenceId>`, `Processing video: <path>`, `Trying to encrypt
//!   file: <path>`, `Recording with ID <conferenceId> processed correctly.`), through
//!   [`Inline`] as well: escaped the same way, so the line cannot be ended or faked, while an
//!   ordinary value reads exactly as it is.

use std::fmt;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// An untrusted value as a log field: `conference_id = logs::field(id)`,
/// `error = logs::field(&err)`, `path = logs::field(path.display())`.
pub fn field(value: impl fmt::Display) -> String {
    value.to_string()
}

/// An untrusted value inside a message's text: its text with `\`, `"`, control characters and
/// other unprintable characters escaped as Rust writes them in a string literal (`\n`,
/// `\u{1b}`), without the quotes. Printable text, spaces included, is unchanged.
#[derive(Debug, Clone, Copy)]
pub struct Inline<T>(pub T);

impl<T: fmt::Display> fmt::Display for Inline<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = format!("{:?}", self.0.to_string());
        f.write_str(&quoted[1..quoted.len() - 1])
    }
}

/// Logs to stderr in `format`, filtered by `RECPROC_LOG` (default `info`, lapin off); text in
/// colour on a terminal only.
pub fn init(format: LogFormat) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // lapin logs every channel the broker closes as an error, including the expected ones
    // (check-config's look at a missing queue); recproc logs what matters itself.
    // `RECPROC_LOG=info,lapin=info` shows lapin's lines again.
    let filter =
        EnvFilter::try_from_env("RECPROC_LOG").unwrap_or_else(|_| EnvFilter::new("info,lapin=off"));
    let ansi = std::io::stderr().is_terminal();
    subscriber(format, filter, std::io::stderr, ansi).init();
}

/// The log in `format`, writing to `writer`.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    match format {
        LogFormat::Text => Box::new(fmt.with_ansi(ansi).finish()),
        // `{"timestamp", "level", "message", <every field>}`: the fields beside the message,
        // not under a `fields` object, so a log pipeline finds `conference_id` at the top.
        LogFormat::Json => Box::new(
            fmt.json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    /// A conference ID that tries to write a line of its own.
    const FORGED: &str = "c1\n2026-01-01T00:00:00.000000Z ERROR Lost the broker; reconnecting.";

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Captured {
            self.clone()
        }
    }

    /// What recproc's text log writes for the events `log` makes.
    fn logged(ansi: bool, log: impl FnOnce()) -> String {
        logged_as(LogFormat::Text, ansi, log)
    }

    fn logged_as(format: LogFormat, ansi: bool, log: impl FnOnce()) -> String {
        let out = Captured::default();
        let sub = subscriber(format, EnvFilter::new("debug"), out.clone(), ansi);
        tracing::subscriber::with_default(sub, log);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    /// recproc's own line start: an RFC 3339 UTC timestamp, then a level.
    fn is_own_line(line: &str) -> bool {
        let mut words = line.split_whitespace();
        let stamp = words.next().unwrap_or_default();
        let level = words.next().unwrap_or_default();
        // 2026-01-01T00:00:00.000000Z
        let shape = stamp.len() == 27
            && stamp.char_indices().all(|(i, c)| match i {
                4 | 7 => c == '-',
                10 => c == 'T',
                13 | 16 => c == ':',
                19 => c == '.',
                26 => c == 'Z',
                _ => c.is_ascii_digit(),
            });
        shape && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level)
    }

    #[test]
    fn inline_escapes_what_could_end_or_fake_a_line() {
        assert_eq!(Inline("c48eb251b2").to_string(), "c48eb251b2");
        assert_eq!(Inline("room 1/José's").to_string(), "room 1/José's");
        assert_eq!(Inline("a\nb").to_string(), "a\\nb");
        assert_eq!(Inline("a\r\tb").to_string(), "a\\r\\tb");
        assert_eq!(Inline("\u{1b}[31mred").to_string(), "\\u{1b}[31mred");
        assert_eq!(
            Inline("nel\u{85}ls\u{2028}ps\u{2029}").to_string(),
            "nel\\u{85}ls\\u{2028}ps\\u{2029}"
        );
        assert_eq!(Inline("\0\u{7f}").to_string(), "\\0\\u{7f}");
        // The escapes themselves stay apart from text that looks like them.
        assert_eq!(Inline("a\\nb").to_string(), "a\\\\nb");
        assert_eq!(
            Inline("x stage=\"render\"").to_string(),
            "x stage=\\\"render\\\""
        );
        assert_eq!(
            Inline(std::path::Path::new("/v/a\nb.mjr").display()).to_string(),
            "/v/a\\nb.mjr"
        );
        for nasty in [FORGED, "\r", "\u{b}\u{c}", "\u{85}", "\u{2028}", "\u{2029}"] {
            let text = Inline(nasty).to_string();
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_forged_line_in_a_field_or_message_stays_inside_its_line() {
        for ansi in [false, true] {
            let text = logged(ansi, || {
                tracing::info!(
                    conference_id = field(FORGED),
                    "Received a process recording event with id: {}",
                    Inline(FORGED)
                );
                tracing::error!(
                    path =
                        field(std::path::Path::new("/v/x\n2026-01-01T00:00:00Z ERROR y").display()),
                    error = field(format_args!("cannot open /v/x\rERROR z: {}", "\u{1b}[2J")),
                    "Processing failed."
                );
            });
            // Two events, two lines, each begun by recproc; `\r` or an escape sequence cannot
            // rewrite a line on a terminal either.
            let lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
            assert_eq!(lines.len(), 2, "{text}");
            for line in &lines {
                assert!(!line.starts_with("2026-01-01"), "{line:?}");
                assert!(!line.contains('\r'), "{line:?}");
                if !ansi {
                    assert!(is_own_line(line), "{line:?}");
                    assert!(!line.contains('\u{1b}'), "{line:?}");
                }
            }
        }
        let text = logged(false, || {
            tracing::info!(
                conference_id = field(FORGED),
                "Received a process recording event with id: {}",
                Inline(FORGED)
            )
        });
        // The field is quoted and escaped; the message keeps the SPEC text before the value.
        assert!(
            text.contains("Received a process recording event with id: c1\\n2026-01-01T00:00:00.000000Z ERROR Lost the broker; reconnecting. conference_id=\"c1\\n2026"),
            "{text}"
        );
    }

    #[test]
    fn in_json_each_event_is_one_object_with_its_fields_beside_the_message() {
        let text = logged_as(LogFormat::Json, true, || {
            tracing::info!(
                conference_id = field(FORGED),
                files = 2,
                "Recording with ID {} processed correctly.",
                Inline(FORGED)
            );
            tracing::warn!(stage = "render", "Lost the broker; reconnecting.");
        });
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        let first = &lines[0];
        // The untrusted value is a JSON string, whole; no colour codes even on a terminal.
        assert_eq!(first["conference_id"], FORGED);
        assert_eq!(first["files"], 2);
        assert_eq!(first["level"], "INFO");
        assert!(first["message"]
            .as_str()
            .unwrap()
            .starts_with("Recording with ID c1\\n2026"));
        assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["stage"], "render");
        assert_eq!(lines[1]["level"], "WARN");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn an_ordinary_value_reads_as_it_is() {
        let text = logged(false, || {
            tracing::info!(
                conference_id = field("room 1"),
                files = 2,
                "Recording with ID {} processed correctly.",
                Inline("room 1")
            )
        });
        assert!(
            text.trim_end().ends_with(
                "INFO Recording with ID room 1 processed correctly. conference_id=\"room 1\" files=2"
            ),
            "{text}"
        );
        assert!(is_own_line(&text));
    }
}
