//! The one vocabulary of error codes that crosses to the desktop app and to
//! the CLI's `--json`: every library error maps to one of these, and the UI
//! and scripts switch on them (never on message text). Codes are
//! snake_case strings on the wire and never change meaning once released.

use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// A stable, machine-readable error code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* #[serde(rename = $text)] $variant,)*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it is written on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    // The data folder and the key file.
    /// No identity in this data folder yet.
    NotInitialized = "not_initialized",
    /// This data folder already has an identity.
    AlreadyInitialized = "already_initialized",
    /// The passphrase does not open the key file.
    WrongPassphrase = "wrong_passphrase",
    /// The key file cannot be read or is damaged.
    KeyFile = "key_file",
    /// Another process holds the data folder.
    StoreLocked = "store_locked",
    /// The store failed.
    Store = "store",
    /// Stored data is damaged.
    Corrupt = "corrupt",
    /// A file could not be read or written.
    Io = "io",
    /// The OS keychain failed.
    Keyring = "keyring",
    // What a person typed or picked.
    /// A display name that is not allowed.
    BadName = "bad_name",
    /// A member card that does not parse or verify.
    BadCard = "bad_card",
    /// Text that is empty, too long or otherwise refused.
    BadText = "bad_text",
    /// A date that does not parse.
    BadDate = "bad_date",
    /// A cadence (rhythm) that does not make sense.
    BadCadence = "bad_cadence",
    /// A relay or discovery setting that does not parse.
    BadNetSetting = "bad_net_setting",
    /// No such gathering template.
    BadTemplate = "bad_template",
    /// No such role.
    BadRole = "bad_role",
    /// No such kind of agenda step.
    BadStepKind = "bad_step_kind",
    /// No such history choice.
    BadHistory = "bad_history",
    /// An invite ticket that does not parse.
    BadTicket = "bad_ticket",
    /// A path that is not a place on this computer.
    BadPath = "bad_path",
    /// A file the user picked could not be read.
    BadFile = "bad_file",
    /// The user gave no key file where one is needed.
    NoKeyFile = "no_key_file",
    /// An export could not be written.
    WriteFailed = "write_failed",
    /// A selector matches more than one item.
    Ambiguous = "ambiguous",
    // What the circle holds.
    /// No such circle.
    UnknownCircle = "unknown_circle",
    /// No such member.
    UnknownMember = "unknown_member",
    /// No such gathering.
    UnknownGathering = "unknown_gathering",
    /// No such note.
    UnknownNote = "unknown_note",
    /// No such goal.
    UnknownGoal = "unknown_goal",
    /// No such contract.
    UnknownContract = "unknown_contract",
    /// No such keeper enrolled in the circle.
    UnknownKeeper = "unknown_keeper",
    /// The circle has no gathering this device can read.
    NoGathering = "no_gathering",
    /// The circle has no cadence yet.
    NoCadence = "no_cadence",
    /// Nothing is scheduled on that date.
    NotScheduled = "not_scheduled",
    /// This device cannot read that (sealed under keys it does not hold).
    Unreadable = "unreadable",
    /// The action is not allowed now (e.g. notes in an off-the-record turn).
    NotAllowed = "not_allowed",
    /// This device (or the record's author) is not a member.
    NotAMember = "not_a_member",
    /// Already a member.
    AlreadyMember = "already_member",
    /// A member cannot remove themselves (they leave).
    CannotRemoveSelf = "cannot_remove_self",
    /// A bundle names a circle this device was not added to.
    NotInvited = "not_invited",
    /// The circle added this device and waits for it to accept.
    NotAccepted = "not_accepted",
    /// A bundle file that does not parse.
    BadBundle = "bad_bundle",
    /// A backup that does not open or parse.
    BadBackup = "bad_backup",
    /// A document edit failed.
    Document = "document",
    // Records refused from bundles and peers.
    /// A signature does not verify.
    BadSignature = "bad_signature",
    /// A record is larger than allowed.
    TooLarge = "too_large",
    /// A record does not parse.
    Malformed = "malformed",
    /// A record names another circle.
    WrongCircle = "wrong_circle",
    /// An operation's dependency is missing.
    MissingDependency = "missing_dependency",
    /// An operation breaks the membership rules.
    InvalidOperation = "invalid_operation",
    /// An entry skips sequence numbers.
    Gap = "gap",
    /// An entry does not chain onto its author's previous one.
    BrokenChain = "broken_chain",
    /// An entry names membership heads this device does not know.
    UnknownMembership = "unknown_membership",
    /// An entry's membership heads go back in time.
    MembershipRegressed = "membership_regressed",
    /// An entry is not sealed under the write epoch.
    BadEpoch = "bad_epoch",
    /// A fold stands for no entries.
    EmptyFold = "empty_fold",
    /// An entry breaks another rule.
    InvalidEntry = "invalid_entry",
    /// Two different entries at one place in an author's log.
    Fork = "fork",
    /// A payload no held key opens.
    Undecryptable = "undecryptable",
    /// A payload that does not parse.
    MalformedPayload = "malformed_payload",
    /// Sealed with the other document class's key.
    WrongKeyClass = "wrong_key_class",
    /// An Automerge change whose actor is not the signer.
    ActorMismatch = "actor_mismatch",
    /// An Automerge change that does not decode or apply.
    BadChange = "bad_change",
    // Invites and the network.
    /// The invite is not known to the inviter.
    InviteUnknown = "invite_unknown",
    /// The invite was already used.
    InviteUsed = "invite_used",
    /// The invite has expired.
    InviteExpired = "invite_expired",
    /// The card presented is not the joining device's.
    NotYourCard = "not_your_card",
    /// The device request presented is not the dialing device's, or not
    /// signed by it.
    NotYourDevice = "not_your_device",
    /// The inviter is no longer a member.
    InviterNotMember = "inviter_not_member",
    /// The inviter failed to add the newcomer.
    InviteFailed = "invite_failed",
    /// The peer could not be reached.
    Unreachable = "unreachable",
    /// The peer broke the protocol.
    Protocol = "protocol",
    /// The sync node is not running.
    Offline = "offline",
    /// This data folder is already being served.
    AlreadyServing = "already_serving",
    // The app itself.
    /// Nothing is unlocked yet.
    Locked = "locked",
    /// Something inside the app failed.
    Internal = "internal",
    /// Anything else (the CLI's catch-all).
    Other = "error",
}

/// Words a person typed that name none of the choices: the code, and what
/// the choices are (shown as the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{expected}")]
pub struct BadInput {
    /// The code the UI and scripts see.
    pub code: ErrorCode,
    /// The choices, in words.
    pub expected: &'static str,
}

/// The one of `choices` whose name is `text` (trimmed), if any: how the
/// closed choices a person types (template, history, status, outcome) parse.
pub(crate) fn named<T: Copy>(
    choices: impl IntoIterator<Item = T>,
    name: fn(T) -> &'static str,
    text: &str,
) -> Option<T> {
    choices.into_iter().find(|c| name(*c) == text.trim())
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == text)
            .ok_or(())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use std::collections::BTreeSet;

    #[test]
    fn every_code_is_distinct_snake_case_and_serialises_as_written() {
        let texts: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            texts.len(),
            ErrorCode::ALL.len(),
            "no two codes share a text"
        );
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(
                text.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{text}"
            );
            assert_eq!(
                serde_json::to_string(code).ok(),
                Some(format!("\"{text}\""))
            );
            assert_eq!(text.parse::<ErrorCode>(), Ok(*code));
        }
    }

    #[test]
    fn typed_choices_parse_their_names_and_refuse_others_with_their_code() {
        use crate::{agenda::Template, docs::HistoryPolicy, rota::Role};
        for role in Role::CORE {
            assert_eq!(role.name().parse::<Role>(), Ok(role));
        }
        assert_eq!("Lunch ".parse::<Role>(), Ok(Role::Circle("Lunch".into())));
        for template in Template::ALL {
            assert_eq!(template.name().parse::<Template>(), Ok(template));
        }
        for policy in [
            HistoryPolicy::SinceJoining,
            HistoryPolicy::NewcomersSeeHistory,
        ] {
            assert_eq!(policy.name().parse::<HistoryPolicy>(), Ok(policy));
        }
        for status in crate::docs::GoalStatus::ALL {
            assert_eq!(status.name().parse(), Ok(status));
        }
        for outcome in crate::docs::Outcome::ALL {
            assert_eq!(outcome.name().parse(), Ok(outcome));
        }
        let code = |e: crate::BadInput| e.code;
        let refused = "done".parse::<crate::docs::GoalStatus>().map_err(code);
        assert_eq!(refused, Err(ErrorCode::BadText));
        let refused = "maybe".parse::<crate::docs::Outcome>().map_err(code);
        assert_eq!(refused, Err(ErrorCode::BadText));
        assert_eq!(
            "chair/host".parse::<Role>().map_err(code),
            Err(ErrorCode::BadRole)
        );
        assert_eq!(
            "chat".parse::<crate::agenda::StepKind>().map_err(code),
            Err(ErrorCode::BadStepKind)
        );
        assert_eq!(
            "weekly".parse::<Template>().map_err(code),
            Err(ErrorCode::BadTemplate)
        );
        assert_eq!(
            "all".parse::<HistoryPolicy>().map_err(code),
            Err(ErrorCode::BadHistory)
        );
    }

    proptest::proptest! {
        #[test]
        fn any_words_parse_or_are_refused_with_a_code(text in ".{0,40}") {
            use crate::{agenda::Template, docs::HistoryPolicy, rota::Role};
            let _ = text.parse::<Role>();
            let _ = text.parse::<Template>();
            let _ = text.parse::<HistoryPolicy>();
            let _ = text.parse::<crate::docs::GoalStatus>();
            let _ = text.parse::<crate::docs::Outcome>();
            let _ = text.parse::<ErrorCode>();
        }
    }
}
