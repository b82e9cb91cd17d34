//! The recording policy (SPEC.md "Recording policy"), pure: from the event's
//! `recordingPolicy` (the caller's permissions), an explicit `recordingType` and the
//! `[policy]` configuration, whether the call may be recorded, which level of permissions
//! decided, and which media are kept. recproc never delivers more than this allows.
//!
//! - Internal calls: the user's permissions, else the domain's, else the system setting
//!   (`policy.record`). A level that sets neither field is no permission at all, and a field
//!   a level leaves out comes from the next (the profile from the domain, else `always`; the
//!   type from the domain, else `policy.record`): a partial user level never opens what the
//!   domain closed. `recordingProfile`: `always` records, `skip` never does, `optional`
//!   records when the caller chose to (`record`, default true); `recordingType` then selects
//!   the media.
//! - Incoming PSTN/SIP-trunk calls: all media when `policy.record_incoming_pstn`, else
//!   nothing; user and domain permissions do not apply.
//! - An explicit `recordingType` and the policy's: the more restrictive wins (the media both
//!   keep).

use crate::event::RecordingType;

/// `recordingPolicy.callType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum CallType {
    #[default]
    Internal,
    IncomingPstn,
}

impl CallType {
    pub(crate) const ALLOWED: &'static str = "\"internal\" or \"incomingPstn\"";

    /// ASCII case is ignored, as for `recordingType`.
    pub(crate) fn parse(text: &str) -> Option<CallType> {
        [
            ("internal", CallType::Internal),
            ("incomingPstn", CallType::IncomingPstn),
        ]
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, t)| t)
    }
}

/// `recordingProfile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    Always,
    Optional,
    Skip,
}

impl Profile {
    pub(crate) const ALLOWED: &'static str = "\"always\", \"optional\" or \"skip\"";

    /// ASCII case is ignored, as for `recordingType`.
    pub(crate) fn parse(text: &str) -> Option<Profile> {
        [
            ("always", Profile::Always),
            ("optional", Profile::Optional),
            ("skip", Profile::Skip),
        ]
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, p)| p)
    }
}

/// One level's permissions (`user` or `domain`); what it leaves out defaults to recording
/// everything (`always`, `all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Permissions {
    pub(crate) recording_type: Option<RecordingType>,
    pub(crate) profile: Option<Profile>,
}

/// The event's `recordingPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RecordingPolicy {
    pub(crate) call_type: CallType,
    pub(crate) user: Option<Permissions>,
    pub(crate) domain: Option<Permissions>,
    /// The caller's choice, for `optional`.
    pub(crate) record: Option<bool>,
}

/// `[policy]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PolicyConfig {
    /// The system's recording type, for calls without user or domain permissions.
    pub(crate) record: RecordingType,
    pub(crate) record_incoming_pstn: bool,
}

/// Which level decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    User,
    Domain,
    System,
    Pstn,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::User => "user",
            Source::Domain => "domain",
            Source::System => "system",
            Source::Pstn => "pstn",
        }
    }
}

/// What may be recorded of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub source: Source,
    /// The media kept; `None` when the call is not recorded.
    pub(crate) recording_type: RecordingType,
    /// Why it is not recorded (`None` when it is).
    pub reason: Option<String>,
}

impl Decision {
    pub fn recorded(&self) -> bool {
        self.recording_type != RecordingType::None
    }

    pub fn recording_type(&self) -> &'static str {
        self.recording_type.as_str()
    }
}

/// The media both `a` and `b` keep: the more restrictive of the two.
pub(crate) fn stricter(a: RecordingType, b: RecordingType) -> RecordingType {
    match (
        a.should_record_audio() && b.should_record_audio(),
        a.should_record_video() && b.should_record_video(),
    ) {
        (true, true) => RecordingType::All,
        (true, false) => RecordingType::Audio,
        (false, true) => RecordingType::Video,
        (false, false) => RecordingType::None,
    }
}

/// Decides what may be recorded of a call with `policy` (absent: an internal call without
/// user or domain permissions), an explicit `recording_type` (`all` when the event gives
/// none) and `config`.
pub(crate) fn decide(
    policy: Option<&RecordingPolicy>,
    explicit: RecordingType,
    config: &PolicyConfig,
) -> Decision {
    let policy = policy.copied().unwrap_or_default();
    let (source, allowed, why) = match policy.call_type {
        CallType::IncomingPstn => match config.record_incoming_pstn {
            true => (Source::Pstn, RecordingType::All, None),
            false => (
                Source::Pstn,
                RecordingType::None,
                Some(
                    "incoming PSTN calls are not recorded (policy.record_incoming_pstn is false)"
                        .to_owned(),
                ),
            ),
        },
        CallType::Internal => internal(&policy, config),
    };
    let kept = stricter(allowed, explicit);
    let reason = why.or_else(|| {
        (kept == RecordingType::None).then(|| {
            format!(
                "the event's recordingType {explicit} leaves nothing of what the {} permissions allow ({allowed})",
                source.as_str()
            )
        })
    });
    Decision {
        source,
        recording_type: kept,
        reason,
    }
}

/// What the permissions of an internal call allow: the first level that sets anything
/// decides, each field it leaves out coming from the next level; and why nothing when
/// nothing.
fn internal(
    policy: &RecordingPolicy,
    config: &PolicyConfig,
) -> (Source, RecordingType, Option<String>) {
    let levels: Vec<(Source, Permissions)> =
        [(Source::User, policy.user), (Source::Domain, policy.domain)]
            .into_iter()
            .filter_map(|(source, p)| {
                p.filter(|p| *p != Permissions::default())
                    .map(|p| (source, p))
            })
            .collect();
    let Some(&(source, _)) = levels.first() else {
        let why = (config.record == RecordingType::None).then(|| {
            "neither the user nor the domain has recording permissions, and policy.record is none"
                .to_owned()
        });
        return (Source::System, config.record, why);
    };
    let profile = levels
        .iter()
        .find_map(|(s, p)| p.profile.map(|profile| (*s, profile)));
    let allowed = levels
        .iter()
        .find_map(|(s, p)| p.recording_type.map(|t| (s.as_str(), t)))
        .unwrap_or(("system", config.record));
    let not = |why: String| (source, RecordingType::None, Some(why));
    match profile {
        Some((from, Profile::Skip)) => {
            not(format!("the {}'s recordingProfile is skip", from.as_str()))
        }
        Some((from, Profile::Optional)) if !policy.record.unwrap_or(true) => not(format!(
            "the {}'s recordingProfile is optional and the caller chose not to record (record: false)",
            from.as_str()
        )),
        _ if allowed.1 == RecordingType::None => {
            not(format!("the {}'s recordingType is none", allowed.0))
        }
        _ => (source, allowed.1, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecordingType as T;

    fn perms(t: Option<T>, p: Option<Profile>) -> Option<Permissions> {
        Some(Permissions {
            recording_type: t,
            profile: p,
        })
    }

    fn internal(user: Option<Permissions>, domain: Option<Permissions>) -> RecordingPolicy {
        RecordingPolicy {
            call_type: CallType::Internal,
            user,
            domain,
            record: None,
        }
    }

    const SYSTEM: PolicyConfig = PolicyConfig {
        record: T::All,
        record_incoming_pstn: false,
    };

    fn decided(p: &RecordingPolicy, explicit: T, config: &PolicyConfig) -> (Source, T) {
        let d = decide(Some(p), explicit, config);
        assert_eq!(d.recorded(), d.reason.is_none(), "{d:?}");
        (d.source, d.recording_type)
    }

    #[test]
    fn the_seed_example_records_alice_and_not_the_others_of_her_domain() {
        let domain = perms(Some(T::None), Some(Profile::Skip));
        let alice = internal(perms(Some(T::All), Some(Profile::Always)), domain);
        assert_eq!(decided(&alice, T::All, &SYSTEM), (Source::User, T::All));
        let other = internal(None, domain);
        let d = decide(Some(&other), T::All, &SYSTEM);
        assert_eq!((d.source, d.recorded()), (Source::Domain, false));
        assert!(d
            .reason
            .unwrap()
            .contains("domain's recordingProfile is skip"));
    }

    #[test]
    fn user_then_domain_then_system() {
        let user = perms(Some(T::Video), Some(Profile::Always));
        let domain = perms(Some(T::Audio), Some(Profile::Always));
        assert_eq!(
            decided(&internal(user, domain), T::All, &SYSTEM),
            (Source::User, T::Video)
        );
        assert_eq!(
            decided(&internal(None, domain), T::All, &SYSTEM),
            (Source::Domain, T::Audio)
        );
        let audio_system = PolicyConfig {
            record: T::Audio,
            ..SYSTEM
        };
        assert_eq!(
            decided(&internal(None, None), T::All, &audio_system),
            (Source::System, T::Audio)
        );
        // No policy at all: an internal call without permissions.
        let d = decide(None, T::All, &audio_system);
        assert_eq!((d.source, d.recording_type), (Source::System, T::Audio));
        let none_system = PolicyConfig {
            record: T::None,
            ..SYSTEM
        };
        assert!(!decide(None, T::All, &none_system).recorded());
    }

    #[test]
    fn each_profile() {
        let with = |profile, record| RecordingPolicy {
            record,
            ..internal(perms(Some(T::All), Some(profile)), None)
        };
        assert!(decide(Some(&with(Profile::Always, Some(false))), T::All, &SYSTEM).recorded());
        assert!(!decide(Some(&with(Profile::Skip, Some(true))), T::All, &SYSTEM).recorded());
        assert!(decide(Some(&with(Profile::Optional, Some(true))), T::All, &SYSTEM).recorded());
        assert!(decide(Some(&with(Profile::Optional, None)), T::All, &SYSTEM).recorded());
        let declined = decide(Some(&with(Profile::Optional, Some(false))), T::All, &SYSTEM);
        assert!(!declined.recorded());
        assert!(declined.reason.unwrap().contains("chose not to record"));
        // An empty level is no permission: the domain (or the system) decides.
        let skip_domain = perms(Some(T::None), Some(Profile::Skip));
        let empty_user = decide(
            Some(&internal(perms(None, None), skip_domain)),
            T::All,
            &SYSTEM,
        );
        assert_eq!(
            (empty_user.source, empty_user.recorded()),
            (Source::Domain, false)
        );
        assert_eq!(
            decided(&internal(perms(None, None), None), T::All, &SYSTEM),
            (Source::System, T::All)
        );
        // A field a level leaves out comes from the next: never more than the domain allows.
        let audio_domain = perms(Some(T::Audio), Some(Profile::Always));
        let profile_only = internal(perms(None, Some(Profile::Always)), audio_domain);
        assert_eq!(
            decided(&profile_only, T::All, &SYSTEM),
            (Source::User, T::Audio)
        );
        let type_only = decide(
            Some(&internal(perms(Some(T::All), None), skip_domain)),
            T::All,
            &SYSTEM,
        );
        assert_eq!(
            (type_only.source, type_only.recorded()),
            (Source::User, false)
        );
        assert!(type_only
            .reason
            .unwrap()
            .contains("domain's recordingProfile is skip"));
        let video_system = PolicyConfig {
            record: T::Video,
            ..SYSTEM
        };
        let user_profile = internal(perms(None, Some(Profile::Always)), None);
        assert_eq!(
            decided(&user_profile, T::All, &video_system),
            (Source::User, T::Video)
        );
        assert_eq!(
            CallType::parse("INCOMINGPSTN"),
            Some(CallType::IncomingPstn)
        );
        assert_eq!(Profile::parse("Skip"), Some(Profile::Skip));
        let none = decide(
            Some(&internal(perms(Some(T::None), Some(Profile::Always)), None)),
            T::All,
            &SYSTEM,
        );
        assert!(none
            .reason
            .unwrap()
            .contains("user's recordingType is none"));
    }

    #[test]
    fn incoming_pstn_calls_follow_the_switch_only() {
        let pstn = RecordingPolicy {
            call_type: CallType::IncomingPstn,
            ..internal(perms(Some(T::None), Some(Profile::Skip)), None)
        };
        let off = decide(Some(&pstn), T::All, &SYSTEM);
        assert_eq!((off.source, off.recorded()), (Source::Pstn, false));
        assert!(off.reason.unwrap().contains("record_incoming_pstn"));
        let on = PolicyConfig {
            record_incoming_pstn: true,
            ..SYSTEM
        };
        assert_eq!(decided(&pstn, T::All, &on), (Source::Pstn, T::All));
    }

    #[test]
    fn an_explicit_recording_type_and_the_policy_the_stricter_wins() {
        let video_user = internal(perms(Some(T::Video), Some(Profile::Always)), None);
        // Stricter than the policy.
        let all_user = internal(perms(Some(T::All), None), None);
        assert_eq!(
            decided(&all_user, T::Audio, &SYSTEM),
            (Source::User, T::Audio)
        );
        // Looser: the policy's stays.
        assert_eq!(
            decided(&video_user, T::All, &SYSTEM),
            (Source::User, T::Video)
        );
        // Disjoint: nothing, said why.
        let d = decide(Some(&video_user), T::Audio, &SYSTEM);
        assert!(!d.recorded());
        assert!(d
            .reason
            .unwrap()
            .contains("recordingType audio leaves nothing"));
        assert_eq!(stricter(T::All, T::None), T::None);
    }
}
