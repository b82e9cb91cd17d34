//! Output names: the operator's `filename_format` template and the fixed names of the split
//! layout (SPEC "Outputs"). Pure code, no I/O.
//!
//! Every value that comes from an event (IDs, user IDs) enters a name through [`visible`]:
//! sanitised to `[A-Za-z0-9._-]`, so a rendered name is always one path component; tagged
//! with a hash of the raw value when sanitising changed it, so two different values never
//! give one name (`room 1` and `room_1`); and never starting with a dot, so no delivered name
//! is hidden or looks like recproc's own temporary names in `output_dir` (`.recproc`,
//! `.recproc-*.partial`), which a daemon start sweeps away.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::timestamp::Timestamp;

/// Replaces every character outside `[A-Za-z0-9._-]` with `_` (one `_` per character, so a
/// multi-byte character becomes a single `_`). Not injective by itself: names use
/// [`visible`].
pub fn sanitize(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// How many hex digits of the raw value's sha256 follow a value that sanitising changed.
pub const TAG_HEX_DIGITS: usize = 8;

/// A value as it appears in a delivered name (SPEC "Outputs"): [`sanitize`]d, with a leading
/// dot replaced by `_` (no name hides); when either changed the value, `-` and the first
/// [`TAG_HEX_DIGITS`] hex digits of the raw value's sha256 follow it, so values that sanitise
/// alike stay apart (`room 1` → `room_1-<hash>`, `room_1` → `room_1`). A value already in
/// the allowed set and not starting with a dot is used as it is.
pub fn visible(value: &str) -> String {
    let mut clean = sanitize(value);
    if clean.starts_with('.') {
        clean.replace_range(..1, "_");
    }
    if clean == value {
        return clean;
    }
    let tag = &format!("{:x}", Sha256::digest(value.as_bytes()))[..TAG_HEX_DIGITS];
    format!("{clean}-{tag}")
}

/// The values a name is built from. `at` is the track start (split video), or the call
/// start (merged output, split audio).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameValues<'a> {
    /// `recordingInfo.uuid`.
    pub uuid: &'a str,
    /// `conferenceId`.
    pub confbridgeid: &'a str,
    /// The participant, for per-track names; `None` renders `{{userid}}` as nothing.
    pub userid: Option<&'a str>,
    pub at: Timestamp,
}

/// A placeholder of a name template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Uuid,
    ConfBridgeId,
    UserId,
    Date,
    Time,
}

impl Placeholder {
    /// Every placeholder, in the order the documentation lists them.
    pub const ALL: [Placeholder; 5] = [
        Placeholder::Uuid,
        Placeholder::ConfBridgeId,
        Placeholder::UserId,
        Placeholder::Date,
        Placeholder::Time,
    ];

    /// The name between the braces: `uuid` for `{{uuid}}`.
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::Uuid => "uuid",
            Placeholder::ConfBridgeId => "confbridgeid",
            Placeholder::UserId => "userid",
            Placeholder::Date => "date",
            Placeholder::Time => "time",
        }
    }

    fn from_name(name: &str) -> Option<Placeholder> {
        Placeholder::ALL.into_iter().find(|p| p.name() == name)
    }

    fn render(self, values: &NameValues<'_>) -> String {
        match self {
            Placeholder::Uuid => visible(values.uuid),
            Placeholder::ConfBridgeId => visible(values.confbridgeid),
            Placeholder::UserId => values.userid.map(visible).unwrap_or_default(),
            Placeholder::Date => values.at.date_compact(),
            Placeholder::Time => values.at.time_compact(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Placeholder(Placeholder),
}

/// A parsed name template such as `recording-{{confbridgeid}}-{{uuid}}`.
///
/// Placeholders are `{{uuid}}`, `{{confbridgeid}}`, `{{userid}}`, `{{date}}` and `{{time}}`
/// (spaces inside the braces are allowed: `{{ uuid }}`). The literal text is used as written
/// but may not contain `/`, `\` or control characters, so the rendered name is always a single
/// path component, and may not put a dot first, so the rendered name is never hidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// Why a name template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{{{name}}}}} in {template:?}; the placeholders are {{{{uuid}}}}, {{{{confbridgeid}}}}, {{{{userid}}}}, {{{{date}}}} and {{{{time}}}}")]
    UnknownPlaceholder { template: String, name: String },
    #[error(
        "unclosed \"{{{{\" at byte {offset} of {template:?}; close the placeholder with \"}}}}\""
    )]
    Unclosed { template: String, offset: usize },
    #[error("\"}}}}\" without an opening \"{{{{\" at byte {offset} of {template:?}")]
    UnmatchedClose { template: String, offset: usize },
    #[error("{template:?} contains {found}; a name template makes one file name, so it may not contain '/', '\\' or control characters")]
    ForbiddenCharacter { template: String, found: String },
    #[error("{template:?} can render an empty name; add literal text or {{{{uuid}}}}, {{{{confbridgeid}}}}, {{{{date}}}} or {{{{time}}}}")]
    Empty { template: String },
    #[error("{template:?} can render a name that starts with '.', a hidden file; start it with a letter, a digit, '_', '-' or a placeholder other than {{{{userid}}}}")]
    LeadingDot { template: String },
}

impl Template {
    /// Parses a template, refusing unknown placeholders, unclosed `{{`, a stray `}}`, path
    /// separators or control characters in the literal text, and a template that can render
    /// an empty name or one that starts with a dot.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while !rest.is_empty() {
            let open = rest.find("{{");
            let literal_end = open.unwrap_or(rest.len());
            let literal = &rest[..literal_end];
            if let Some(close) = literal.find("}}") {
                return Err(TemplateError::UnmatchedClose {
                    template: text.to_owned(),
                    offset: offset + close,
                });
            }
            if let Some(bad) = literal
                .chars()
                .find(|&c| c == '/' || c == '\\' || c.is_control())
            {
                let found = match bad {
                    '/' => "'/'".to_owned(),
                    '\\' => "'\\'".to_owned(),
                    '\0' => "a NUL character".to_owned(),
                    c => format!("the control character {:?}", c),
                };
                return Err(TemplateError::ForbiddenCharacter {
                    template: text.to_owned(),
                    found,
                });
            }
            if !literal.is_empty() {
                parts.push(Part::Literal(literal.to_owned()));
            }
            let Some(open) = open else { break };
            let after_open = &rest[open + 2..];
            let Some(close) = after_open.find("}}") else {
                return Err(TemplateError::Unclosed {
                    template: text.to_owned(),
                    offset: offset + open,
                });
            };
            let name = &after_open[..close];
            // `{{a{{b}}` would otherwise report the confusing name "a{{b".
            if name.contains("{{") {
                return Err(TemplateError::Unclosed {
                    template: text.to_owned(),
                    offset: offset + open,
                });
            }
            let placeholder = Placeholder::from_name(name.trim()).ok_or_else(|| {
                TemplateError::UnknownPlaceholder {
                    template: text.to_owned(),
                    name: name.to_owned(),
                }
            })?;
            parts.push(Part::Placeholder(placeholder));
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        // `{{userid}}` is empty when there is no participant (merged output).
        let can_be_empty = parts
            .iter()
            .all(|p| matches!(p, Part::Placeholder(Placeholder::UserId)));
        if can_be_empty {
            return Err(TemplateError::Empty {
                template: text.to_owned(),
            });
        }
        // Values never start with a dot ([`visible`]); `{{userid}}` may render as nothing.
        let first = parts
            .iter()
            .find(|p| !matches!(p, Part::Placeholder(Placeholder::UserId)));
        if matches!(first, Some(Part::Literal(text)) if text.starts_with('.')) {
            return Err(TemplateError::LeadingDot {
                template: text.to_owned(),
            });
        }
        Ok(Template {
            source: text.to_owned(),
            parts,
        })
    }

    /// The template as the operator wrote it.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The placeholders the template uses, in order of appearance (with repeats).
    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder(p) => Some(*p),
            Part::Literal(_) => None,
        })
    }

    /// The name for `values`: literal text as written, values as [`visible`] makes them.
    pub fn render(&self, values: &NameValues<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Placeholder(p) => out.push_str(&p.render(values)),
            }
        }
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Template {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Template::parse(s)
    }
}

impl serde::Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

/// The split-mode directory: `{{uuid}}-{{confbridgeid}}`.
pub fn split_dir_name(uuid: &str, confbridgeid: &str) -> String {
    format!("{}-{}", visible(uuid), visible(confbridgeid))
}

/// The split-mode audio file: `rec-{{date}}-{{time}}-{{uuid}}-{{confbridgeid}}.wav`, with the
/// date and time of the audio start.
pub fn split_audio_name(at: Timestamp, uuid: &str, confbridgeid: &str) -> String {
    format!(
        "rec-{}-{}-{}-{}.wav",
        at.date_compact(),
        at.time_compact(),
        visible(uuid),
        visible(confbridgeid)
    )
}

/// A split-mode video file: `rec-{{date}}-{{time}}-{{userid}}.<ext>`, with the date and time
/// of the track start. `ext` is given without the dot (`webm`, `mp4`): recproc's own, only
/// sanitised.
pub fn split_video_name(at: Timestamp, userid: &str, ext: &str) -> String {
    format!(
        "rec-{}-{}-{}.{}",
        at.date_compact(),
        at.time_compact(),
        visible(userid),
        sanitize(ext)
    )
}

/// The split-mode metadata file: `{{uuid}}-{{confbridgeid}}.json`.
pub fn split_metadata_name(uuid: &str, confbridgeid: &str) -> String {
    format!("{}.json", split_dir_name(uuid, confbridgeid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn at() -> Timestamp {
        Timestamp::parse("2020-05-25T07:42:36.277Z").unwrap()
    }

    fn values<'a>(userid: Option<&'a str>) -> NameValues<'a> {
        NameValues {
            uuid: "61408347",
            confbridgeid: "c48eb251b2",
            userid,
            at: at(),
        }
    }

    #[test]
    fn sanitize_keeps_the_allowed_set() {
        assert_eq!(sanitize("Az09._-"), "Az09._-");
        assert_eq!(sanitize(""), "");
    }

    #[test]
    fn sanitize_replaces_space_slash_and_specials() {
        assert_eq!(sanitize("a b/c\\d"), "a_b_c_d");
        assert_eq!(sanitize("user@example.com"), "user_example.com");
        assert_eq!(sanitize("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(sanitize("a\0b\nc\td"), "a_b_c_d");
        assert_eq!(sanitize("{{uuid}}"), "__uuid__");
    }

    #[test]
    fn sanitize_replaces_each_unicode_char_with_one_underscore() {
        assert_eq!(sanitize("José"), "Jos_");
        assert_eq!(sanitize("日本"), "__");
        assert_eq!(sanitize("👍x"), "_x");
    }

    #[test]
    fn sanitize_keeps_dots() {
        assert_eq!(sanitize("..."), "...");
        assert_eq!(sanitize(".hidden"), ".hidden");
    }

    #[test]
    fn default_template_renders_as_spec() {
        let t = Template::parse("recording-{{confbridgeid}}-{{uuid}}").unwrap();
        assert_eq!(t.render(&values(None)), "recording-c48eb251b2-61408347");
    }

    #[test]
    fn every_placeholder_renders() {
        let t = Template::parse("{{uuid}}_{{confbridgeid}}_{{userid}}_{{date}}_{{time}}").unwrap();
        assert_eq!(
            t.render(&values(Some("alice"))),
            "61408347_c48eb251b2_alice_20200525_074236"
        );
        assert_eq!(
            t.placeholders().collect::<Vec<_>>(),
            Placeholder::ALL.to_vec()
        );
    }

    #[test]
    fn date_and_time_are_utc() {
        let t = Template::parse("{{date}}-{{time}}").unwrap();
        let v = NameValues {
            at: Timestamp::parse("2020-05-25T23:59:58.999-01:00").unwrap(),
            ..values(None)
        };
        assert_eq!(t.render(&v), "20200526-005958");
    }

    #[test]
    fn missing_userid_renders_empty() {
        let t = Template::parse("rec-{{userid}}-{{uuid}}").unwrap();
        assert_eq!(t.render(&values(None)), "rec--61408347");
    }

    #[test]
    fn values_are_sanitised_literal_is_not() {
        let t = Template::parse("Rec ord+{{userid}}-{{confbridgeid}}").unwrap();
        let v = NameValues {
            confbridgeid: "../x y",
            ..values(Some("José/é"))
        };
        assert_eq!(t.render(&v), "Rec ord+Jos___-b944d70c-_._x_y-46c740c6");
    }

    #[test]
    fn repeated_placeholders_and_spaces_inside_braces() {
        let t = Template::parse("{{ uuid }}{{uuid}}").unwrap();
        assert_eq!(t.render(&values(None)), "6140834761408347");
    }

    #[test]
    fn literal_only_template_is_allowed() {
        let t = Template::parse("recording").unwrap();
        assert_eq!(t.render(&values(None)), "recording");
    }

    #[test]
    fn display_and_serialize_give_the_source_text() {
        let src = "recording-{{ confbridgeid }}-{{uuid}}";
        let t = Template::parse(src).unwrap();
        assert_eq!(t.to_string(), src);
        assert_eq!(t.as_str(), src);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            serde_json::to_string(src).unwrap()
        );
        assert_eq!(src.parse::<Template>().unwrap(), t);
    }

    #[test]
    fn unknown_placeholder_is_named() {
        let e = Template::parse("rec-{{conferenceId}}").unwrap_err();
        assert!(
            matches!(&e, TemplateError::UnknownPlaceholder { name, .. } if name == "conferenceId")
        );
        let msg = e.to_string();
        assert!(msg.contains("{{conferenceId}}"), "{msg}");
        assert!(msg.contains("{{confbridgeid}}"), "{msg}");
        assert!(!msg.contains('\n'));
        // Placeholder names are case-sensitive.
        assert!(Template::parse("{{UUID}}").is_err());
        assert!(Template::parse("{{}}").is_err());
    }

    #[test]
    fn unclosed_placeholder_is_refused() {
        let e = Template::parse("rec-{{uuid").unwrap_err();
        assert_eq!(
            e,
            TemplateError::Unclosed {
                template: "rec-{{uuid".into(),
                offset: 4
            }
        );
        assert!(e.to_string().contains("unclosed"), "{e}");
        assert!(matches!(
            Template::parse("{{uuid}}-{{").unwrap_err(),
            TemplateError::Unclosed { offset: 9, .. }
        ));
        assert!(matches!(
            Template::parse("{{a{{uuid}}").unwrap_err(),
            TemplateError::Unclosed { offset: 0, .. }
        ));
    }

    #[test]
    fn stray_closing_braces_are_refused() {
        assert!(matches!(
            Template::parse("rec-uuid}}").unwrap_err(),
            TemplateError::UnmatchedClose { offset: 8, .. }
        ));
    }

    #[test]
    fn single_braces_are_literal() {
        let t = Template::parse("a{b}-{{uuid}}").unwrap();
        assert_eq!(t.render(&values(None)), "a{b}-61408347");
    }

    #[test]
    fn path_separators_and_control_characters_are_refused() {
        for bad in [
            "out/{{uuid}}",
            "out\\{{uuid}}",
            "{{uuid}}\0",
            "a\nb-{{uuid}}",
            "/{{uuid}}",
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert!(
                matches!(e, TemplateError::ForbiddenCharacter { .. }),
                "{bad:?}: {e}"
            );
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }

    #[test]
    fn templates_that_can_render_empty_are_refused() {
        for bad in ["", "{{userid}}", "{{userid}}{{ userid }}"] {
            assert!(
                matches!(Template::parse(bad), Err(TemplateError::Empty { .. })),
                "{bad:?}"
            );
        }
        assert!(Template::parse("{{userid}}-").is_ok());
        assert!(Template::parse("{{date}}").is_ok());
    }

    #[test]
    fn split_names_follow_the_spec() {
        assert_eq!(
            split_dir_name("61408347", "c48eb251b2"),
            "61408347-c48eb251b2"
        );
        assert_eq!(
            split_audio_name(at(), "61408347", "c48eb251b2"),
            "rec-20200525-074236-61408347-c48eb251b2.wav"
        );
        assert_eq!(
            split_video_name(at(), "alice", "webm"),
            "rec-20200525-074236-alice.webm"
        );
        assert_eq!(
            split_metadata_name("61408347", "c48eb251b2"),
            "61408347-c48eb251b2.json"
        );
    }

    #[test]
    fn split_names_are_sanitised() {
        assert_eq!(split_dir_name("a/b", "c d"), "a_b-c14cddc0-c_d-b561f19f");
        assert_eq!(
            split_audio_name(at(), "../u", "ü"),
            "rec-20200525-074236-_._u-ffab3b70-_-607474ca.wav"
        );
        assert_eq!(
            split_video_name(at(), "bob@example.com", "mp4"),
            "rec-20200525-074236-bob_example.com-5ff860bf.mp4"
        );
        assert_eq!(split_metadata_name("x\0", "y"), "x_-14f825b2-y.json");
    }

    #[test]
    fn visible_keeps_values_sanitising_leaves_alone() {
        for v in [
            "61408347",
            "c48eb251b2",
            "Az09._-",
            "x.partial",
            "a..b",
            "room_1",
            "a-",
        ] {
            assert_eq!(visible(v), v);
        }
        // The uuid form recproc sees most.
        let uuid = "123e4567-e89b-12d3-a456-426614174000";
        assert_eq!(visible(uuid), uuid);
    }

    #[test]
    fn visible_tags_a_changed_value_with_its_raw_hash() {
        // sha256("room 1") starts 03803e9c.
        assert_eq!(visible("room 1"), "room_1-03803e9c");
        assert_eq!(visible("José"), "Jos_-24c2ab65");
        assert_eq!(visible("日本"), "__-cf2abf0c");
        assert_eq!(visible(" "), "_-36a9e7f1");
        assert_eq!(visible("conf 42@été"), "conf_42__t_-efab2448");
    }

    #[test]
    fn visible_never_starts_with_a_dot() {
        // A leading dot is a change: replaced and hashed.
        assert_eq!(visible(".recproc"), "_recproc-83db60f9");
        assert_eq!(visible(".hidden"), "_hidden-16924190");
        assert_eq!(visible("."), "_-cdb4ee2a");
        assert_eq!(visible("..x"), format!("_.x-{}", &hex_sha256("..x")[..8]));
        // ... and not confused with the value that is already that way.
        assert_eq!(visible("_recproc"), "_recproc");
        for v in [".", "..", ".a", "./", ". ", ".\n", ".recproc-x.partial"] {
            let name = visible(v);
            assert!(!name.starts_with('.'), "{v:?} → {name:?}");
        }
    }

    fn hex_sha256(v: &str) -> String {
        Sha256::digest(v.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn visible_names_stay_in_the_allowed_set() {
        for v in [
            "a b",
            "ü/../x",
            "\0\n\t",
            "{{uuid}}",
            ".",
            "日本",
            "a\u{202e}b",
            "%2e%2e",
        ] {
            let name = visible(v);
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
                "{v:?} → {name:?}"
            );
            assert!(!name.is_empty());
        }
    }

    #[test]
    fn values_that_sanitise_alike_get_different_names() {
        let alike = [
            "room 1", "room_1", "room/1", "room\\1", "room@1", "room\t1", "roomü1", "room日1",
            ".oom_1", "_oom_1",
        ];
        let names: HashSet<String> = alike.iter().map(|v| visible(v)).collect();
        assert_eq!(names.len(), alike.len(), "{names:?}");
        // Through every name that carries a value.
        let t = Template::parse("recording-{{confbridgeid}}-{{uuid}}").unwrap();
        let merged: HashSet<String> = alike
            .iter()
            .map(|v| {
                t.render(&NameValues {
                    confbridgeid: v,
                    ..values(None)
                })
            })
            .collect();
        assert_eq!(merged.len(), alike.len());
        for name in [
            |v: &str| split_dir_name("u", v),
            |v: &str| split_dir_name(v, "c"),
            |v: &str| split_audio_name(at(), v, "c"),
            |v: &str| split_audio_name(at(), "u", v),
            |v: &str| split_video_name(at(), v, "webm"),
            |v: &str| split_metadata_name(v, "c"),
            |v: &str| split_metadata_name("u", v),
        ] {
            let got: HashSet<String> = alike.iter().map(|v| name(v)).collect();
            assert_eq!(got.len(), alike.len(), "{got:?}");
        }
    }

    #[test]
    fn no_delivered_name_starts_with_a_dot() {
        let t = Template::parse("{{uuid}}").unwrap();
        let hidden = NameValues {
            uuid: ".recproc",
            confbridgeid: ".x",
            userid: Some(".u"),
            at: at(),
        };
        for name in [
            t.render(&hidden),
            Template::parse("{{userid}}{{confbridgeid}}")
                .unwrap()
                .render(&hidden),
            split_dir_name(".recproc", "x.partial"),
            split_audio_name(at(), ".recproc", ".x"),
            split_video_name(at(), ".u", "webm"),
            split_metadata_name(".recproc", "x.partial"),
        ] {
            assert!(!name.starts_with('.'), "{name:?}");
        }
        assert_eq!(
            split_dir_name(".recproc", "x.partial"),
            "_recproc-83db60f9-x.partial"
        );
    }

    #[test]
    fn templates_that_can_start_with_a_dot_are_refused() {
        for bad in [
            ".{{uuid}}",
            ".rec-{{uuid}}",
            "{{userid}}.{{uuid}}",
            "{{ userid }}{{userid}}..x",
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert_eq!(
                e,
                TemplateError::LeadingDot {
                    template: bad.into()
                }
            );
            assert!(e.to_string().contains("starts with '.'"), "{e}");
        }
        for good in [
            "{{uuid}}.x",
            "_.{{uuid}}",
            "{{date}}.{{uuid}}",
            "{{userid}}-.x",
            "a.{{userid}}",
        ] {
            assert!(Template::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn a_delivered_name_survives_the_start_up_sweep() {
        // The daemon sweeps `.recproc-*.partial` leftovers from output_dir at start; a name
        // recproc delivers never looks like one, however the IDs are chosen.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let delivered = [
            split_dir_name(".recproc", "x.partial"),
            split_dir_name("recproc", "x.partial"),
            Template::parse("{{uuid}}{{confbridgeid}}")
                .unwrap()
                .render(&NameValues {
                    uuid: ".recproc-",
                    confbridgeid: "x.partial",
                    userid: None,
                    at: at(),
                }),
        ];
        for name in &delivered {
            std::fs::create_dir(d.join(name)).unwrap();
        }
        std::fs::create_dir(d.join(".recproc-leftover.partial")).unwrap();
        let swept = crate::pipeline::deliver::sweep_partials(d, std::time::Duration::ZERO);
        assert_eq!(swept, vec![d.join(".recproc-leftover.partial")]);
        for name in &delivered {
            assert!(d.join(name).is_dir(), "{name:?} was swept");
        }
    }
}
