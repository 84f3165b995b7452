//! The engine's errors: one enum for the facade, with a stable
//! machine-readable `code` the CLI and the UI switch on, and the reasons an
//! incoming record is rejected.

use circlekeep_model::entry::AppendFault;
use circlekeep_model::membership::OpRejection;
use circlekeep_seal::{CardError, KeyFileError, KeyringError, NameError, VerifyError};
use std::path::PathBuf;

/// A failed engine operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No identity in the home folder yet.
    #[error("no Circlekeep identity in {0}: run `circlekeep init` first")]
    NotInitialized(PathBuf),
    /// `init` on a home folder that has an identity.
    #[error("a Circlekeep identity already exists in {0}")]
    AlreadyInitialized(PathBuf),
    /// The key file could not be opened or written.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// A display name was refused.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A member card was refused.
    #[error(transparent)]
    Card(#[from] CardError),
    /// No circle matches the selector.
    #[error("no circle matches {0:?}")]
    UnknownCircle(String),
    /// No member matches the selector.
    #[error("no member matches {0:?}")]
    UnknownMember(String),
    /// No gathering matches the selector.
    #[error("no gathering matches {0:?}")]
    UnknownGathering(String),
    /// No note with that id in the gathering.
    #[error("no note {0:?} in that gathering")]
    UnknownNote(String),
    /// A selector matches several things.
    #[error("{0:?} is ambiguous; use more of the id")]
    Ambiguous(String),
    /// The circle has no gathering to write into.
    #[error("this circle has no gathering yet: start one with `circlekeep gathering new`")]
    NoGathering,
    /// This device is not (or no longer) a member.
    #[error("you are not a member of this circle")]
    NotAMember,
    /// The card belongs to a current member.
    #[error("{0} is already a member of this circle")]
    AlreadyMember(String),
    /// `member remove` naming oneself.
    #[error("you cannot remove yourself; leave the circle instead")]
    CannotRemoveSelf,
    /// The document is sealed under keys this device does not hold.
    #[error("this is sealed under keys you do not hold (written before you joined)")]
    Unreadable,
    /// A bundle file is damaged or of another kind.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    /// A bundle for a circle this device is not in.
    #[error("this bundle is for a circle you are not a member of")]
    NotInvited,
    /// A date argument did not parse.
    #[error("invalid date {0:?}: expected YYYY-MM-DD")]
    BadDate(String),
    /// Text input was refused.
    #[error("{0}")]
    BadText(&'static str),
    /// A network setting could not be used.
    #[error(transparent)]
    BadNetSetting(#[from] circlekeep_sync::NodeError),
    /// The cadence could not be understood.
    #[error(transparent)]
    Cadence(#[from] circlekeep_model::schedule::CadenceError),
    /// The circle has no cadence yet.
    #[error("the circle has no schedule yet; set one with `circlekeep circle setup --every-weeks … --weekday … --time …`")]
    NoCadence,
    /// No gathering is scheduled on that date.
    #[error("no gathering is scheduled on {0}")]
    NotScheduled(String),
    /// No goal (or milestone) matches.
    #[error("no goal or milestone matches {0:?} (use 4+ characters of its id)")]
    UnknownGoal(String),
    /// No contract matches.
    #[error("no contract matches {0:?} (use 4+ characters of its id)")]
    UnknownContract(String),
    /// The request makes no sense in the current state.
    #[error("{0}")]
    NotAllowed(&'static str),
    /// A backup could not be read.
    #[error("cannot restore this backup: {0}")]
    Backup(String),
    /// A member's recipient is invalid (cannot seal keys to them).
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    /// Another Circlekeep process (the app or the CLI) has this home open.
    #[error(
        "this Circlekeep data folder is in use by another Circlekeep process (the app, \
         or a command still running); close it first — to use the command line \
         alongside a running device, run `circlekeep serve` instead of the app"
    )]
    StoreLocked,
    /// The local store failed.
    #[error("local storage failed: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
    /// Local data is damaged.
    #[error("local data is damaged: {0}")]
    Corrupt(String),
    /// A document edit failed.
    #[error(transparent)]
    Document(#[from] circlekeep_model::docs::DocError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl EngineError {
    /// Stable machine-readable code for the UI and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::NotInitialized(_) => "not_initialized",
            EngineError::AlreadyInitialized(_) => "already_initialized",
            EngineError::KeyFile(KeyFileError::WrongPassphrase) => "wrong_passphrase",
            EngineError::KeyFile(_) => "key_file",
            EngineError::Name(_) => "bad_name",
            EngineError::Card(_) => "bad_card",
            EngineError::UnknownCircle(_) => "unknown_circle",
            EngineError::UnknownMember(_) => "unknown_member",
            EngineError::UnknownGathering(_) => "unknown_gathering",
            EngineError::UnknownNote(_) => "unknown_note",
            EngineError::Ambiguous(_) => "ambiguous",
            EngineError::NoGathering => "no_gathering",
            EngineError::NotAMember => "not_a_member",
            EngineError::AlreadyMember(_) => "already_member",
            EngineError::CannotRemoveSelf => "cannot_remove_self",
            EngineError::Unreadable => "unreadable",
            EngineError::Bundle(_) => "bad_bundle",
            EngineError::NotInvited => "not_invited",
            EngineError::BadDate(_) => "bad_date",
            EngineError::BadText(_) => "bad_text",
            EngineError::BadNetSetting(_) => "bad_net_setting",
            EngineError::Cadence(_) => "bad_cadence",
            EngineError::NoCadence => "no_cadence",
            EngineError::NotScheduled(_) => "not_scheduled",
            EngineError::UnknownGoal(_) => "unknown_goal",
            EngineError::UnknownContract(_) => "unknown_contract",
            EngineError::NotAllowed(_) => "not_allowed",
            EngineError::Backup(_) => "bad_backup",
            EngineError::Keyring(_) => "keyring",
            EngineError::StoreLocked => "store_locked",
            EngineError::Store(_) => "store",
            EngineError::Corrupt(_) => "corrupt",
            EngineError::Document(_) => "document",
            EngineError::Io { .. } => "io",
        }
    }

    pub(crate) fn store(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        EngineError::Store(Box::new(e))
    }
}

/// Why an incoming operation or entry was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Signature or encoding is bad (tampered or forged).
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A membership operation breaks the log's rules.
    #[error(transparent)]
    Op(#[from] OpRejection),
    /// An entry cannot follow its author's log.
    #[error(transparent)]
    Append(#[from] AppendFault),
    /// A different entry already holds this place in the author's log.
    #[error("a different entry already holds position {0} in this author's log (fork)")]
    Fork(u64),
    /// Sealed under a key this device holds, but does not open with it.
    #[error("payload does not decrypt with the epoch's key")]
    Undecryptable,
    /// Decrypts, but the plaintext is not a valid payload.
    #[error("payload is malformed")]
    MalformedPayload,
    /// Sealed with the wrong subkey for its document.
    #[error("payload sealed with the wrong key for its document")]
    WrongKeyClass,
    /// An Automerge change is not the signer's.
    #[error("an Automerge change in it was not made by its signer")]
    ActorMismatch,
    /// An Automerge change does not decode or apply.
    #[error("an Automerge change in it is invalid: {0}")]
    BadChange(String),
}

impl Rejection {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Verify(VerifyError::BadSignature) => "bad_signature",
            Rejection::Verify(VerifyError::TooLarge(_)) => "too_large",
            Rejection::Verify(_) => "malformed",
            Rejection::Op(OpRejection::AuthorNotMember) => "not_a_member",
            Rejection::Op(OpRejection::WrongCircle) => "wrong_circle",
            Rejection::Op(OpRejection::MissingDependency(_)) => "missing_dependency",
            Rejection::Op(_) => "invalid_operation",
            Rejection::Append(AppendFault::WrongCircle) => "wrong_circle",
            Rejection::Append(AppendFault::Gap { .. }) => "gap",
            Rejection::Append(AppendFault::BrokenChain) => "broken_chain",
            Rejection::Append(AppendFault::NotAMember) => "not_a_member",
            Rejection::Append(AppendFault::UnknownMembership) => "unknown_membership",
            Rejection::Append(AppendFault::MembershipRegressed) => "membership_regressed",
            Rejection::Append(AppendFault::BadEpoch) => "bad_epoch",
            Rejection::Append(AppendFault::EmptyFold) => "empty_fold",
            Rejection::Append(_) => "invalid_entry",
            Rejection::Fork(_) => "fork",
            Rejection::Undecryptable => "undecryptable",
            Rejection::MalformedPayload => "malformed_payload",
            Rejection::WrongKeyClass => "wrong_key_class",
            Rejection::ActorMismatch => "actor_mismatch",
            Rejection::BadChange(_) => "bad_change",
        }
    }
}
