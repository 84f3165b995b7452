//! What the engine shows: plain serialisable views for the CLI (`--json`)
//! and the desktop app. Ids are full lowercase hex; `short` forms are for people.

use serde::{Deserialize, Serialize};

/// A circle in the list of circles.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CircleSummary {
    /// Circle id.
    pub id: String,
    /// Short id.
    pub short: String,
    /// Name, if this device can read the circle document.
    pub name: Option<String>,
    /// Number of current members.
    pub members: usize,
    /// Whether this device is a current member.
    pub member: bool,
}

/// One circle in full.
#[derive(Clone, Debug, Serialize)]
pub struct CircleView {
    /// Circle id.
    pub id: String,
    /// Short id.
    pub short: String,
    /// Name.
    pub name: String,
    /// Purpose.
    pub purpose: String,
    /// `since-joining` or `newcomers-see-history`.
    pub history: String,
    /// Ground rules.
    pub charter: String,
    /// Whether this device is a current member.
    pub member: bool,
    /// Current members.
    pub members: Vec<MemberView>,
    /// Gatherings, oldest first.
    pub gatherings: Vec<GatheringView>,
    /// Goals.
    pub goals: Vec<GoalView>,
    /// Contracts.
    pub contracts: Vec<ContractView>,
    /// Entries held that this device cannot read (sealed before it joined).
    pub sealed_entries: usize,
    /// Entries refused since they were stored.
    pub rejected_entries: usize,
}

/// A member.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MemberView {
    /// Member id.
    pub id: String,
    /// Short id.
    pub short: String,
    /// Display name (from the circle document).
    pub name: String,
    /// Fingerprint to compare out of band.
    pub fingerprint: String,
    /// Whether this is this device.
    pub me: bool,
}

/// A gathering in a circle's list.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct GatheringView {
    /// Document id.
    pub id: String,
    /// Short id.
    pub short: String,
    /// Date (YYYY-MM-DD).
    pub date: String,
    /// Whether this device can read its notes.
    pub readable: bool,
}

/// The notes of one gathering.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct GatheringNotes {
    /// The gathering.
    pub gathering: GatheringView,
    /// Its notes, oldest first (empty when unreadable).
    pub notes: Vec<NoteView>,
}

/// A note.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NoteView {
    /// Note id.
    pub id: String,
    /// Author's member id.
    pub author: String,
    /// Author's display name.
    pub author_name: String,
    /// The note.
    pub text: String,
    /// When it was written.
    pub created: String,
}

/// A goal.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct GoalView {
    /// Goal id.
    pub id: String,
    /// Owner's member id.
    pub owner: String,
    /// Owner's display name.
    pub owner_name: String,
    /// The goal.
    pub text: String,
    /// Status.
    pub status: String,
    /// When it was set.
    pub created: String,
}

/// A contract.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ContractView {
    /// Contract id.
    pub id: String,
    /// Owner's member id.
    pub owner: String,
    /// Owner's display name.
    pub owner_name: String,
    /// The commitment.
    pub text: String,
    /// Goal id it serves.
    pub goal: Option<String>,
    /// Gathering id where it was made.
    pub gathering: Option<String>,
    /// When it was made.
    pub created: String,
}

/// What importing a bundle did.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    /// Circle id.
    pub circle: String,
    /// Whether this device learnt of the circle from this bundle.
    pub joined: bool,
    /// New membership operations accepted.
    pub ops_accepted: usize,
    /// New entries accepted.
    pub entries_accepted: usize,
    /// Records already held.
    pub duplicates: usize,
    /// Records refused, with reasons.
    pub rejected: Vec<RejectionView>,
}

/// One refused record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RejectionView {
    /// `operation` or `entry`.
    pub kind: String,
    /// Author (signing) member id, if readable.
    pub author: Option<String>,
    /// Position in the author's log, for entries.
    pub seq: Option<u64>,
    /// Machine-readable reason.
    pub code: String,
    /// Human-readable reason.
    pub message: String,
}
