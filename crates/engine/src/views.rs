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
    /// Whether the circle added this device and waits for it to accept.
    pub invitation: bool,
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
    /// Whether the circle added this device and waits for it to accept.
    pub invitation: bool,
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
    /// Devices proven to have signed two different records for one place
    /// in their log (a copied key, or a modified app).
    pub forks: Vec<ForkView>,
    /// Keepers the circle enrolled.
    pub keepers: Vec<KeeperView>,
}

/// A device whose log forked: it signed two records that contradict each
/// other, which this device holds as the proof.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ForkView {
    /// The device (its signing key).
    pub device: String,
    /// Short id of the device.
    pub device_short: String,
    /// Its member.
    pub member: RoleHolder,
    /// The place in its log where the two records disagree.
    pub at: u64,
    /// Whether it is this device's own key (copied onto another computer).
    pub this_device: bool,
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

/// A keeper the circle enrolled: an always-on peer that stores and
/// forwards the circle's sealed records and reads none of them.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct KeeperView {
    /// The keeper's endpoint id.
    pub id: String,
    /// Short id.
    pub short: String,
    /// Where its ticket says it listens.
    pub addresses: Vec<String>,
    /// Its ticket (what `circle keeper add` takes, to enrol it in another circle).
    pub ticket: String,
}

/// One of this member's devices.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DeviceView {
    /// Device id (its signing key and iroh endpoint id).
    pub id: String,
    /// Short id.
    pub short: String,
    /// Whether it is this device.
    pub this: bool,
    /// In how many of this device's circles it is linked.
    pub circles: usize,
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
    /// A short series' first gathering: the day it reports back.
    pub report_on: Option<String>,
    /// A short series' second gathering: the first's id.
    pub follows: Option<String>,
}

/// The notes of one gathering.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct GatheringNotes {
    /// The gathering.
    pub gathering: GatheringView,
    /// The version these notes were read at, for `Engine::edit_note_at`
    /// (empty when unreadable).
    pub version: Vec<String>,
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
    /// Progress notes, oldest first.
    pub progress: Vec<ProgressView>,
    /// Milestones, oldest first by id order.
    pub milestones: Vec<MilestoneView>,
}

/// A progress note on a goal.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ProgressView {
    /// Note id.
    pub id: String,
    /// Author's member id.
    pub author: String,
    /// Author's display name.
    pub author_name: String,
    /// The note.
    pub text: String,
    /// When.
    pub created: String,
}

/// A milestone of a goal.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MilestoneView {
    /// Milestone id.
    pub id: String,
    /// The milestone.
    pub text: String,
    /// When it was reached.
    pub reached: Option<String>,
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
    /// Report back: `kept`, `partly`, `not`, `renegotiated`, or empty.
    pub outcome: String,
    /// What was learnt.
    pub reflection: String,
    /// When the outcome was reported.
    pub reported: Option<String>,
    /// Who wrote it down, if not its owner (the facilitator at the table).
    pub recorded_by: Option<RoleHolder>,
    /// Who set the outcome, if not its owner.
    pub reported_by: Option<RoleHolder>,
}

/// A member holding a role, or named in a list.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RoleHolder {
    /// Member id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// One scheduled gathering.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PlannedView {
    /// The date the cadence planned (its key).
    pub planned: String,
    /// The date it takes place.
    pub date: String,
    /// Local start time (HH:MM).
    pub time: String,
    /// Time zone of `time`.
    pub time_zone: String,
    /// Start (RFC 3339, UTC).
    pub starts: String,
    /// Length in minutes.
    pub minutes: u32,
    /// Whether it was cancelled.
    pub cancelled: bool,
    /// Whether it moved from its planned date.
    pub moved: bool,
    /// Role (`facilitator`, `timekeeper`, `host`) → who holds it.
    pub roles: std::collections::BTreeMap<String, RoleHolder>,
    /// Who said they will not come.
    pub absent: Vec<RoleHolder>,
    /// The gathering document, once opened.
    pub gathering: Option<String>,
    /// Where it meets (its own place, else the circle's), if set.
    pub place: Option<String>,
}

/// A member's acceptance of the current charter.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AcceptanceView {
    /// The member.
    pub member: RoleHolder,
    /// When they accepted this version, if they did.
    pub accepted: Option<String>,
}

/// A circle's practice: purpose, cadence, guide, charter acceptance, next gatherings.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PracticeView {
    /// What the circle is for.
    pub purpose: String,
    /// The cadence, described.
    pub cadence: Option<String>,
    /// The same, as stored (what a setup form starts from).
    pub rhythm: Option<circlekeep_model::docs::CadenceDoc>,
    /// Where the circle meets, if set.
    pub place: Option<String>,
    /// Every role of the rota: facilitator, timekeeper, host, then the
    /// circle's own.
    pub roles: Vec<String>,
    /// The guide, if any.
    pub guide: Option<RoleHolder>,
    /// Prompt to hand over, after the guide's third gathering.
    pub guide_prompt: Option<String>,
    /// Fingerprint of the charter's current text.
    pub charter_version: String,
    /// Each member and whether they accepted the current charter.
    pub charter: Vec<AcceptanceView>,
    /// The next three gatherings that take place, and any cancelled among them.
    pub next: Vec<PlannedView>,
}

/// A reminder or nudge.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ReminderView {
    /// Circle id.
    pub circle: String,
    /// Circle name.
    pub circle_name: String,
    /// The roles this device's member holds there (upcoming gatherings).
    pub mine: Vec<String>,
    /// The day it is about (YYYY-MM-DD), when it is no planned gathering.
    pub on: Option<String>,
    /// How many of this member's contracts are due there (`contract`).
    pub due: usize,
    /// `upcoming`, `contract` (yours, due for report back there), `nudge`
    /// or `series` (a short series reports back soon).
    pub kind: String,
    /// What to tell the member.
    pub text: String,
    /// The gathering it is about.
    pub gathering: Option<PlannedView>,
}

/// One member's contract history.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ContractHistoryView {
    /// The member.
    pub member: RoleHolder,
    /// How many were kept.
    pub kept: usize,
    /// Their contracts, oldest first.
    pub contracts: Vec<ContractView>,
}

/// A step of a gathering's agenda.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct StepView {
    /// Kind (`open`, `check-in`, … `custom`).
    pub kind: String,
    /// Title.
    pub title: String,
    /// Planned minutes.
    pub minutes: u64,
    /// Whether it is the current step.
    pub current: bool,
    /// Whether time started at this step is a turn (else speaking time).
    pub holds_turns: bool,
}

/// A turn.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TurnView {
    /// Turn id.
    pub id: String,
    /// The presenter.
    pub member: RoleHolder,
    /// Minutes allotted.
    pub allotted: u64,
    /// The kind of feedback wanted.
    pub feedback_wanted: String,
    /// Whether no notes are kept.
    pub off_record: bool,
    /// When it started.
    pub started: String,
    /// When it ended.
    pub ended: Option<String>,
    /// Whether it is paused (the timer stands still).
    pub paused: bool,
    /// Seconds used so far (pauses not counted).
    pub elapsed_secs: u64,
    /// Seconds left of the allotment (0 when over).
    pub remaining_secs: u64,
    /// Whether the timer warns (near or past the end).
    pub warning: bool,
    /// Speaking time outside the turns (check-in, report back, a
    /// discussion): airtime, but no turn, and no contract at its end.
    pub speaking: bool,
}

/// Airtime of one member at a gathering.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AirtimeView {
    /// The member.
    pub member: RoleHolder,
    /// Whether present.
    pub present: Option<bool>,
    /// Minutes asked for.
    pub requested: Option<u64>,
    /// Minutes fitted into the time left.
    pub fitted: Option<u64>,
    /// Seconds of turns and speaking time so far.
    pub airtime_secs: u64,
}

/// A gathering in progress (or done): agenda, turns, airtime.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct GatheringStateView {
    /// Gathering id.
    pub id: String,
    /// Date.
    pub date: String,
    /// Template it started from.
    pub template: String,
    /// The agenda.
    pub agenda: Vec<StepView>,
    /// The turn running now.
    pub current_turn: Option<TurnView>,
    /// Every turn, in order.
    pub turns: Vec<TurnView>,
    /// Per member: attendance, requests, fitted minutes, airtime.
    pub airtime: Vec<AirtimeView>,
    /// Who has not had a turn yet (among those present or not marked).
    pub waiting: Vec<RoleHolder>,
}

/// What a gathering's steps bring to the table (`Engine::step_brief`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StepBriefView {
    /// The current step's kind (`open`, `report-back`, … `close`).
    pub step: String,
    /// The charter, read out at the opening.
    pub ground_rules: String,
    /// Present members' contracts to report back on: last gathering's, and
    /// older ones still open; by owner.
    pub report_back: Vec<ContractView>,
    /// Contracts made at this gathering, oldest first.
    pub made_here: Vec<ContractView>,
    /// Present members' open goals, which a new contract may serve.
    pub goals: Vec<GoalView>,
    /// The next gathering and its roles, confirmed at the close.
    pub next: Option<PlannedView>,
    /// At a short series' report-back gathering: the series in review
    /// (both gatherings, the actions set and how they went).
    pub review: Option<RetroView>,
}

/// One member's answers to a gathering's pulse, each 1 (not at all) to 5 (fully).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PulseAnswers {
    /// Was I heard?
    pub heard: u8,
    /// Was it useful?
    pub useful: u8,
    /// Was the time fair?
    pub time_fair: u8,
}

/// A gathering's pulse as the circle sees it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PulseView {
    /// Gathering id.
    pub gathering: String,
    /// How many members answered.
    pub answered: usize,
    /// How many must answer before the averages show.
    pub needed: usize,
    /// Average of "was I heard" (one decimal), once enough answered.
    pub heard: Option<f64>,
    /// Average of "was it useful".
    pub useful: Option<f64>,
    /// Average of "was the time fair".
    pub time_fair: Option<f64>,
    /// This member's own answers, if given.
    pub mine: Option<PulseAnswers>,
}

/// A retrospective of a stretch of the circle's life.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RetroView {
    /// The circle's name.
    pub circle: String,
    /// First day covered (YYYY-MM-DD), or from the first gathering.
    pub from: Option<String>,
    /// Last day covered.
    pub to: String,
    /// Gatherings held, oldest first.
    pub gatherings: Vec<RetroGathering>,
    /// Each member: attendance, airtime, contracts.
    pub members: Vec<RetroMember>,
    /// Contracts made in the stretch, with their report back.
    pub contracts: Vec<ContractView>,
    /// Goals achieved (set by the last day).
    pub goals_achieved: Vec<RetroGoal>,
    /// Milestones reached in the stretch.
    pub milestones: Vec<RetroGoal>,
}

/// One gathering in a retrospective.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RetroGathering {
    /// Gathering id.
    pub id: String,
    /// Its date.
    pub date: String,
    /// How many were marked present.
    pub present: usize,
    /// How many turns were taken.
    pub turns: usize,
    /// Its pulse (averages only where enough answered).
    pub pulse: PulseView,
}

/// One member in a retrospective.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RetroMember {
    /// The member.
    pub member: RoleHolder,
    /// Gatherings they were marked present at.
    pub attended: usize,
    /// Seconds of their turns.
    pub airtime_secs: u64,
    /// Contracts they made.
    pub contracts: usize,
    /// Contracts by outcome (`kept`, `partly`, `not`, `renegotiated`, `open`).
    pub outcomes: std::collections::BTreeMap<String, usize>,
}

impl RetroMember {
    pub(crate) fn new(member: RoleHolder) -> Self {
        RetroMember {
            member,
            attended: 0,
            airtime_secs: 0,
            contracts: 0,
            outcomes: Default::default(),
        }
    }
}

/// A goal achieved, or a milestone reached towards it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RetroGoal {
    /// Whose goal.
    pub owner: RoleHolder,
    /// The goal.
    pub goal: String,
    /// The milestone reached, if this is one.
    pub milestone: Option<String>,
}

/// Something a search found.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SearchHit {
    /// `note`, `goal`, `progress`, `milestone`, `contract`, `report` or `journal`.
    pub kind: String,
    /// The record's id (a report's is its contract's).
    pub id: String,
    /// Its text.
    pub text: String,
    /// Who wrote or owns it, where that can be told.
    pub author: Option<RoleHolder>,
    /// Its day: the gathering's for a note, else when it was written (RFC 3339).
    pub date: String,
    /// Where it is, in words ("gathering notes, Bo's turn").
    pub context: String,
    /// The gathering (document id) a note is in or a contract was made at.
    pub gathering: Option<String>,
    /// Whose turn a note was taken in.
    pub turn_of: Option<RoleHolder>,
}

/// A private journal entry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JournalEntryView {
    /// Entry id.
    pub id: String,
    /// When written.
    pub created: String,
    /// Circle it is about, if any.
    pub circle: Option<String>,
    /// The text.
    pub text: String,
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
    /// How many records were refused.
    pub refused: usize,
    /// Records refused, with reasons: the first
    /// [`DETAILED`](crate::rejections::DETAILED) of them.
    pub rejected: Vec<RejectionView>,
    /// All of them, grouped (kept for the user).
    #[serde(skip)]
    pub(crate) refusals: crate::rejections::RefusalLog,
}

/// Refusals of one kind of record, from one claimed author (or from many,
/// past a limit), for one reason.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RejectionSummary {
    /// When first seen (RFC 3339, UTC).
    pub first: String,
    /// When last seen.
    pub last: String,
    /// How many were refused.
    pub count: u64,
    /// The last one seen.
    pub rejection: RejectionView,
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
