//! The engine's errors: one enum for the facade, with a stable
//! machine-readable `code` the CLI and the UI switch on, and the reasons an
//! incoming record is rejected.

use circlekeep_model::entry::AppendFault;
use circlekeep_model::membership::OpRejection;
pub use circlekeep_model::ErrorCode;
use circlekeep_seal::{CardError, KeyFileError, KeyringError, NameError, VerifyError};
use std::path::PathBuf;

/// A failed engine operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No identity in the home folder yet.
    #[error("no Circlekeep identity in {0} yet")]
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
    /// No keeper enrolled in the circle matches the selector.
    #[error("no keeper of this circle matches {0:?} (see `circle keeper list`)")]
    UnknownKeeper(String),
    /// A keeper ticket did not parse.
    #[error(
        "not a keeper ticket (one starts with circlekeep-keeper1:; run `circlekeep keeper ticket` on the keeper)"
    )]
    KeeperTicket,
    /// A selector matches several things.
    #[error("{0:?} is ambiguous; use more of the id")]
    Ambiguous(String),
    /// The circle has no gathering to write into.
    #[error("this circle has no gathering yet")]
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
    /// A circle that added this device, not accepted yet.
    #[error("this circle added you and waits for you to accept it")]
    NotAccepted,
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
    #[error("the circle has no schedule yet")]
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
    /// Working on a circle failed unexpectedly (a panic, e.g. in Automerge
    /// on bytes a member signed); nothing stored is lost.
    #[error(
        "working on this circle failed unexpectedly ({0}); it is read again from what is \
         stored — try again, and if it keeps failing, report it"
    )]
    Panicked(String),
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
    /// Words that name none of the choices (a template, a role, a history
    /// policy).
    #[error(transparent)]
    Input(#[from] circlekeep_model::BadInput),
}

impl EngineError {
    /// Stable machine-readable code for the UI and scripts.
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::NotInitialized(_) => ErrorCode::NotInitialized,
            EngineError::AlreadyInitialized(_) => ErrorCode::AlreadyInitialized,
            EngineError::KeyFile(KeyFileError::WrongPassphrase) => ErrorCode::WrongPassphrase,
            EngineError::KeyFile(_) => ErrorCode::KeyFile,
            EngineError::Name(_) => ErrorCode::BadName,
            EngineError::Card(_) => ErrorCode::BadCard,
            EngineError::UnknownCircle(_) => ErrorCode::UnknownCircle,
            EngineError::UnknownMember(_) => ErrorCode::UnknownMember,
            EngineError::UnknownGathering(_) => ErrorCode::UnknownGathering,
            EngineError::UnknownNote(_) => ErrorCode::UnknownNote,
            EngineError::Ambiguous(_) => ErrorCode::Ambiguous,
            EngineError::NoGathering => ErrorCode::NoGathering,
            EngineError::NotAMember => ErrorCode::NotAMember,
            EngineError::NotAccepted => ErrorCode::NotAccepted,
            EngineError::AlreadyMember(_) => ErrorCode::AlreadyMember,
            EngineError::CannotRemoveSelf => ErrorCode::CannotRemoveSelf,
            EngineError::Unreadable => ErrorCode::Unreadable,
            EngineError::Bundle(_) => ErrorCode::BadBundle,
            EngineError::NotInvited => ErrorCode::NotInvited,
            EngineError::BadDate(_) => ErrorCode::BadDate,
            EngineError::BadText(_) => ErrorCode::BadText,
            EngineError::BadNetSetting(_) => ErrorCode::BadNetSetting,
            EngineError::Cadence(_) => ErrorCode::BadCadence,
            EngineError::NoCadence => ErrorCode::NoCadence,
            EngineError::NotScheduled(_) => ErrorCode::NotScheduled,
            EngineError::UnknownGoal(_) => ErrorCode::UnknownGoal,
            EngineError::UnknownContract(_) => ErrorCode::UnknownContract,
            EngineError::UnknownKeeper(_) => ErrorCode::UnknownKeeper,
            EngineError::KeeperTicket => ErrorCode::BadTicket,
            EngineError::NotAllowed(_) => ErrorCode::NotAllowed,
            EngineError::Backup(_) => ErrorCode::BadBackup,
            EngineError::Keyring(_) => ErrorCode::Keyring,
            EngineError::StoreLocked => ErrorCode::StoreLocked,
            EngineError::Store(_) => ErrorCode::Store,
            EngineError::Corrupt(_) => ErrorCode::Corrupt,
            EngineError::Panicked(_) => ErrorCode::Internal,
            EngineError::Document(_) => ErrorCode::Document,
            EngineError::Io { .. } => ErrorCode::Io,
            EngineError::Input(e) => e.code,
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
    pub fn code(&self) -> ErrorCode {
        match self {
            Rejection::Verify(VerifyError::BadSignature) => ErrorCode::BadSignature,
            Rejection::Verify(VerifyError::TooLarge(_)) => ErrorCode::TooLarge,
            Rejection::Verify(_) => ErrorCode::Malformed,
            Rejection::Op(OpRejection::AuthorNotMember) => ErrorCode::NotAMember,
            Rejection::Op(OpRejection::WrongCircle) => ErrorCode::WrongCircle,
            Rejection::Op(OpRejection::MissingDependency(_)) => ErrorCode::MissingDependency,
            Rejection::Op(_) => ErrorCode::InvalidOperation,
            Rejection::Append(AppendFault::WrongCircle) => ErrorCode::WrongCircle,
            Rejection::Append(AppendFault::Gap { .. }) => ErrorCode::Gap,
            Rejection::Append(AppendFault::BrokenChain) => ErrorCode::BrokenChain,
            Rejection::Append(AppendFault::NotAMember) => ErrorCode::NotAMember,
            Rejection::Append(AppendFault::UnknownMembership) => ErrorCode::UnknownMembership,
            Rejection::Append(AppendFault::MembershipRegressed) => ErrorCode::MembershipRegressed,
            Rejection::Append(AppendFault::BadEpoch) => ErrorCode::BadEpoch,
            Rejection::Append(AppendFault::EmptyFold) => ErrorCode::EmptyFold,
            Rejection::Append(_) => ErrorCode::InvalidEntry,
            Rejection::Fork(_) => ErrorCode::Fork,
            Rejection::Undecryptable => ErrorCode::Undecryptable,
            Rejection::MalformedPayload => ErrorCode::MalformedPayload,
            Rejection::WrongKeyClass => ErrorCode::WrongKeyClass,
            Rejection::ActorMismatch => ErrorCode::ActorMismatch,
            Rejection::BadChange(_) => ErrorCode::BadChange,
        }
    }
}
