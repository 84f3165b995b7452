//! The typed Automerge documents: the circle document (settings, charter,
//! member profiles, gatherings, goals, contracts) and one document per
//! gathering (notes).
//!
//! Structure is created and read with `autosurgeon`; text is edited with
//! Automerge's own `update_text`, which counts positions in the document's
//! encoding (UTF-16 code units, as the web front end does). autosurgeon's
//! `Text::update` counts bytes and would misplace edits in non-ASCII text.

use crate::authorship::Owner;
pub use crate::progress::{GoalStatus, Outcome};
use automerge::{
    transaction::Transactable, AutoCommit, AutomergeError, Change, ObjType, ReadDoc, TextEncoding,
    Value, ROOT,
};
use autosurgeon::{hydrate, hydrate_prop, reconcile, reconcile_prop, Hydrate, Reconcile, Text};
use std::collections::HashMap;

mod text;
pub use text::{splice_text, splice_text_at, update_text, TextEdit};

/// How positions in text are counted in every Circlekeep document.
pub const TEXT_ENCODING: TextEncoding = TextEncoding::Utf16CodeUnit;

/// A document operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocError {
    /// The document does not have the expected shape.
    #[error("document has an unexpected shape: {0}")]
    Shape(String),
    /// Automerge refused the operation.
    #[error("document operation failed: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

impl From<autosurgeon::HydrateError> for DocError {
    fn from(e: autosurgeon::HydrateError) -> Self {
        DocError::Shape(e.to_string())
    }
}

impl From<autosurgeon::ReconcileError> for DocError {
    fn from(e: autosurgeon::ReconcileError) -> Self {
        DocError::Shape(e.to_string())
    }
}

/// Who may read a circle's earlier gatherings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Reconcile, Hydrate)]
pub enum HistoryPolicy {
    /// Newcomers read the circle document, not earlier gatherings' notes.
    #[default]
    SinceJoining,
    /// Newcomers also receive the keys of every earlier epoch.
    NewcomersSeeHistory,
}

impl HistoryPolicy {
    /// The choice's name in the CLI, the app and views.
    pub fn name(self) -> &'static str {
        match self {
            HistoryPolicy::SinceJoining => "since-joining",
            HistoryPolicy::NewcomersSeeHistory => "newcomers-see-history",
        }
    }
}

impl std::str::FromStr for HistoryPolicy {
    type Err = crate::BadInput;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let choices = [
            HistoryPolicy::SinceJoining,
            HistoryPolicy::NewcomersSeeHistory,
        ];
        crate::error_code::named(choices, HistoryPolicy::name, text).ok_or(crate::BadInput {
            code: crate::ErrorCode::BadHistory,
            expected: "history is since-joining or newcomers-see-history",
        })
    }
}

/// The circle's shared document.
#[derive(Clone, Debug, Default, Reconcile, Hydrate)]
pub struct CircleDoc {
    /// Name, purpose and policies.
    pub settings: Settings,
    /// Ground rules every member accepts.
    pub charter: Charter,
    /// Profiles by member id (hex).
    pub members: HashMap<String, Profile>,
    /// Gatherings by document id (hex).
    pub gatherings: HashMap<String, GatheringInfo>,
    /// Goals by goal id.
    pub goals: HashMap<String, Goal>,
    /// Contracts by contract id.
    pub contracts: HashMap<String, Contract>,
    /// Changes to the generated schedule.
    #[autosurgeon(missing = "Default::default")]
    pub schedule: Schedule,
    /// Keepers the circle enrolled: keeper id (hex) → its ticket. Plain
    /// values, so adding one keeper never hides another.
    #[autosurgeon(missing = "Default::default")]
    pub keepers: HashMap<String, String>,
}

/// How often and when a circle meets, as stored and as typed into a form
/// (camelCase fields); checked into a [`crate::schedule::Cadence`] by
/// `Cadence::try_from`.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "camelCase")]
pub struct CadenceDoc {
    /// Weeks between gatherings.
    pub every_weeks: u64,
    /// Weekday (`thu`).
    pub weekday: String,
    /// Local start time (HH:MM).
    pub time: String,
    /// Length in minutes.
    pub minutes: u64,
    /// IANA time zone.
    pub time_zone: String,
    /// First date on or after which the circle meets (YYYY-MM-DD).
    pub first: String,
}

/// Changes to the generated schedule, keyed by a gathering's planned date
/// (YYYY-MM-DD). Flat maps of plain values, so concurrent changes to
/// different gatherings never collide and each change is last-writer-wins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Schedule {
    /// Planned date → the date it moved to.
    pub moved: HashMap<String, String>,
    /// Planned date → a different local start time (HH:MM).
    pub times: HashMap<String, String>,
    /// Planned date → cancelled.
    pub cancelled: HashMap<String, bool>,
    /// `date/role` → member (hex): swaps and roles frozen at opening.
    pub roles: HashMap<String, String>,
    /// `date/member` → will not come.
    pub absent: HashMap<String, bool>,
    /// Planned date → where this one gathering meets (instead of the
    /// circle's place).
    #[autosurgeon(missing = "Default::default")]
    pub places: HashMap<String, String>,
}

/// A circle's name, purpose and policies.
#[derive(Clone, Debug, Default, Reconcile, Hydrate)]
pub struct Settings {
    /// The circle's name.
    pub name: String,
    /// What the circle is for.
    pub purpose: Text,
    /// Who may read earlier gatherings, as the founder chose it. Display
    /// only: any member can edit this document, so keys follow the founder's
    /// signed `Policy` in the membership log, never this field.
    pub history: HistoryPolicy,
    /// When the circle meets, once set.
    #[autosurgeon(missing = "Default::default")]
    pub cadence: Option<CadenceDoc>,
    /// The guide (member hex) who helps launch the circle, if any.
    #[autosurgeon(missing = "Default::default")]
    pub guide: Option<String>,
    /// Where the circle meets (an address, a room or a video link), if set.
    #[autosurgeon(missing = "Default::default")]
    pub place: Option<String>,
    /// Roles the circle rotates beside facilitator, timekeeper and host
    /// (lunch, note-taker, …); read through `rota::Role::circle_roles`.
    #[autosurgeon(missing = "Default::default")]
    pub roles: Vec<String>,
}

/// The circle's ground rules.
#[derive(Clone, Debug, Default, Reconcile, Hydrate)]
pub struct Charter {
    /// The rules, as text members edit together.
    pub text: Text,
    /// Each member's (hex id) acceptance.
    pub accepted: HashMap<String, Acceptance>,
}

/// A member's acceptance of the charter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Acceptance {
    /// When (RFC 3339).
    pub at: String,
    /// Which text: [`charter_version`] of what was accepted.
    pub version: String,
}

/// A short fingerprint of a charter's text: an acceptance holds for the
/// text it names, so editing the charter asks everyone to accept again.
pub fn charter_version(text: &str) -> String {
    data_encoding::HEXLOWER.encode(&blake3::hash(text.trim().as_bytes()).as_bytes()[..8])
}

/// A member's profile in the circle.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Profile {
    /// Display name.
    pub name: String,
    /// When the member joined (RFC 3339).
    pub joined: String,
}

/// A gathering as listed in the circle document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct GatheringInfo {
    /// Date of the gathering (YYYY-MM-DD).
    pub date: String,
    /// Member (hex id) who opened it.
    pub opened_by: String,
    /// The scheduled gathering (planned date) it belongs to, if any.
    #[autosurgeon(missing = "Default::default")]
    pub planned: Option<String>,
    /// A short series' first gathering: the day (YYYY-MM-DD) it reports
    /// back on what it set.
    #[autosurgeon(missing = "Default::default")]
    pub report_on: Option<String>,
    /// A short series' second gathering: the first's id (hex).
    #[autosurgeon(missing = "Default::default")]
    pub follows: Option<String>,
}

/// A member's longer-term goal.
#[derive(Clone, Debug, Default, Reconcile, Hydrate)]
pub struct Goal {
    /// Member (hex id) whose goal it is.
    pub owner: String,
    /// The goal.
    pub text: Text,
    /// `open`, `achieved` or `dropped`.
    pub status: String,
    /// When it was set (RFC 3339).
    pub created: String,
    /// Progress notes by id.
    #[autosurgeon(missing = "Default::default")]
    pub progress: HashMap<String, ProgressNote>,
    /// Milestones by id.
    #[autosurgeon(missing = "Default::default")]
    pub milestones: HashMap<String, Milestone>,
}

/// A note on progress towards a goal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct ProgressNote {
    /// Member (hex id) who wrote it.
    pub author: String,
    /// The note.
    pub text: String,
    /// When (RFC 3339).
    pub created: String,
}

/// A step on the way to a goal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Milestone {
    /// The milestone.
    pub text: String,
    /// When it was reached (RFC 3339), if it was.
    pub reached: Option<String>,
}

/// A commitment for the next two weeks.
#[derive(Clone, Debug, Default, Reconcile, Hydrate)]
pub struct Contract {
    /// Member (hex id) whose commitment it is: who wrote it, unless it was
    /// recorded on their behalf (`on_behalf`).
    pub owner: String,
    /// Written down by someone else at the table (the facilitator) for
    /// `owner`; counts only as the recorder also wrote `owner`.
    #[autosurgeon(missing = "Default::default")]
    pub on_behalf: bool,
    /// Member (hex id) who wrote it down, always from the signer.
    #[autosurgeon(missing = "Default::default")]
    pub recorded_by: String,
    /// The commitment.
    pub text: Text,
    /// Goal id it serves, if any.
    pub goal: Option<String>,
    /// Gathering (document id hex) where it was made, if any.
    pub gathering: Option<String>,
    /// When it was made (RFC 3339).
    pub created: String,
    /// The report back at the next gathering.
    #[autosurgeon(missing = "Default::default")]
    pub report: Report,
}

/// A contract's report back; created empty with the contract, so members
/// editing it concurrently edit one object and their edits merge.
#[derive(Clone, Debug, Default, Reconcile, Hydrate)]
pub struct Report {
    /// `kept`, `partly`, `not`, `renegotiated`, or empty before reporting.
    pub outcome: String,
    /// What was learnt (text members may edit together).
    pub reflection: Text,
    /// When the outcome was set (RFC 3339), if it was.
    pub reported: Option<String>,
    /// Member (hex id) who set the outcome, always from the signer.
    #[autosurgeon(missing = "Default::default")]
    pub reported_by: String,
}

/// One gathering's document.
#[derive(Clone, Debug, Default, Reconcile, Hydrate)]
pub struct GatheringDoc {
    /// Date of the gathering (YYYY-MM-DD).
    pub date: String,
    /// Notes by note id.
    pub notes: HashMap<String, Note>,
    /// The template it started from.
    #[autosurgeon(missing = "Default::default")]
    pub template: String,
    /// The agenda, editable.
    #[autosurgeon(missing = "Default::default")]
    pub agenda: Vec<AgendaStep>,
    /// Index of the current step.
    #[autosurgeon(missing = "Default::default")]
    pub step: u64,
    /// Member (hex) → present.
    #[autosurgeon(missing = "Default::default")]
    pub attendance: HashMap<String, bool>,
    /// Member (hex) → minutes asked for a turn.
    #[autosurgeon(missing = "Default::default")]
    pub requests: HashMap<String, u64>,
    /// Member (hex) → turns, by turn id.
    #[autosurgeon(missing = "Default::default")]
    pub turns: HashMap<String, Turn>,
    /// Member (hex) → their answers after the gathering.
    #[autosurgeon(missing = "Default::default")]
    pub pulse: HashMap<String, Pulse>,
}

/// A member's answers after a gathering, each 1 (not at all) to 5 (fully).
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Pulse {
    /// Was I heard?
    pub heard: u64,
    /// Was it useful?
    pub useful: u64,
    /// Was the time fair?
    pub time_fair: u64,
    /// When answered (RFC 3339).
    pub at: String,
}

/// A step of a gathering's agenda.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct AgendaStep {
    /// `open`, `check-in`, `report-back`, `time-requests`, `turns`,
    /// `appreciations`, `close` or `custom`.
    pub kind: String,
    /// What the facilitator reads out.
    pub title: String,
    /// Planned minutes.
    pub minutes: u64,
}

/// A member's turn.
#[derive(Clone, Debug, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Turn {
    /// The presenter (hex).
    pub member: String,
    /// Minutes allotted.
    pub allotted: u64,
    /// The kind of feedback wanted.
    pub feedback_wanted: String,
    /// No notes are kept of an off-the-record turn.
    pub off_record: bool,
    /// When it started (RFC 3339).
    pub started: String,
    /// When it ended (RFC 3339), once it did.
    pub ended: Option<String>,
    /// Its place among the gathering's turns (ties broken by start time).
    #[autosurgeon(missing = "Default::default")]
    pub order: u64,
    /// Since when it is paused (RFC 3339), while it is.
    #[autosurgeon(missing = "Default::default")]
    pub paused: Option<String>,
    /// Seconds it was paused before: not its time.
    #[autosurgeon(missing = "Default::default")]
    pub paused_secs: u64,
    /// Speaking time outside the turns (a check-in, a report back,
    /// appreciations, a discussion): it counts as airtime, but is no turn
    /// and ends without a contract.
    #[autosurgeon(missing = "Default::default")]
    pub speaking: bool,
}

/// A note taken during a gathering.
#[derive(Clone, Debug, Default, Reconcile, Hydrate)]
pub struct Note {
    /// Member (hex id) who wrote it.
    pub author: String,
    /// The note.
    pub text: Text,
    /// When it was written (RFC 3339).
    pub created: String,
    /// The turn (id) it was taken in, if any.
    #[autosurgeon(missing = "Default::default")]
    pub turn: Option<String>,
}

/// The maps of the circle document that hold records by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircleMap {
    /// `members`
    Members,
    /// `gatherings`
    Gatherings,
    /// `goals`
    Goals,
    /// `contracts`
    Contracts,
}

impl CircleMap {
    fn key(self) -> &'static str {
        match self {
            CircleMap::Members => "members",
            CircleMap::Gatherings => "gatherings",
            CircleMap::Goals => "goals",
            CircleMap::Contracts => "contracts",
        }
    }
}

/// A new, empty document writing as `actor`.
pub fn new_doc(actor: &[u8]) -> AutoCommit {
    AutoCommit::new_with_encoding(TEXT_ENCODING).with_actor(actor.into())
}

/// Why received changes were not applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// Automerge refused them before changing the document.
    #[error("Automerge refused the changes: {0}")]
    Refused(#[from] AutomergeError),
    /// Automerge panicked on them (some well-formed changes do that): the
    /// document may be half-changed and must not be used again.
    #[error("Automerge failed on the changes")]
    Panicked,
}

/// Applies received changes to a document, keeping nothing but the result.
///
/// automerge 0.12 records a patch for every op it applies, even into a patch
/// log nobody activated, and keeps them until the log is reset: about 150 MB
/// for a two-year circle caught up from entries. The log is dropped here.
/// A panic inside Automerge is contained and reported as
/// [`ApplyError::Panicked`].
pub fn apply_changes(
    doc: &mut AutoCommit,
    changes: impl IntoIterator<Item = Change> + Clone,
) -> Result<(), ApplyError> {
    let applied =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.apply_changes(changes)))
            .map_err(|_| ApplyError::Panicked)?;
    doc.reset_diff_cursor();
    Ok(applied?)
}

/// Writes the whole initial circle document (only its founder does this, so
/// every container exists exactly once).
pub fn init_circle(doc: &mut AutoCommit, circle: &CircleDoc) -> Result<(), DocError> {
    reconcile(doc, circle)?;
    Ok(())
}

/// Reads the circle document, each claimed author set from the signer
/// ([`crate::authorship`]).
pub fn read_circle(doc: &AutoCommit) -> Result<CircleDoc, DocError> {
    read_circle_by(doc, &crate::authorship::own)
}

/// Reads the circle document, each author from the signing device's member.
pub fn read_circle_by(doc: &AutoCommit, owner: Owner<'_>) -> Result<CircleDoc, DocError> {
    let mut circle = hydrate(doc)?;
    crate::authorship::attribute_circle(doc, owner, &mut circle);
    Ok(circle)
}

/// Puts one record into a map of the circle document, leaving the others alone.
pub fn put_record<T: Reconcile>(
    doc: &mut AutoCommit,
    map: CircleMap,
    id: &str,
    value: &T,
) -> Result<(), DocError> {
    let obj = map_obj(doc, &ROOT, map.key())?;
    reconcile_prop(doc, obj, id, value)?;
    Ok(())
}

/// Writes the whole initial gathering document.
pub fn init_gathering(doc: &mut AutoCommit, gathering: &GatheringDoc) -> Result<(), DocError> {
    reconcile(doc, gathering)?;
    Ok(())
}

/// Reads a gathering document, each note's author set from the signer
/// ([`crate::authorship`]).
pub fn read_gathering(doc: &AutoCommit) -> Result<GatheringDoc, DocError> {
    read_gathering_by(doc, &crate::authorship::own)
}

/// Reads a gathering document, each note's author from the signing
/// device's member.
pub fn read_gathering_by(doc: &AutoCommit, owner: Owner<'_>) -> Result<GatheringDoc, DocError> {
    let mut gathering = hydrate(doc)?;
    crate::authorship::attribute_gathering(doc, owner, &mut gathering);
    Ok(gathering)
}

/// Reads only a gathering's turns (cheap beside [`read_gathering`], which
/// reads every note's text).
pub fn read_turns(doc: &AutoCommit) -> Result<HashMap<String, Turn>, DocError> {
    let turns: Option<HashMap<String, Turn>> = hydrate_prop(doc, &ROOT, "turns")?;
    Ok(turns.unwrap_or_default())
}

/// The running turn among `turns`, if any: (id, turn). If devices started
/// turns concurrently, the last in the gathering's order is the one running.
pub fn running_turn(turns: &HashMap<String, Turn>) -> Option<(&String, &Turn)> {
    turns
        .iter()
        .filter(|(_, t)| t.ended.is_none())
        .max_by(|a, b| (a.1.order, &a.1.started, a.0).cmp(&(b.1.order, &b.1.started, b.0)))
}

/// Adds a note to a gathering document.
pub fn put_note(doc: &mut AutoCommit, id: &str, note: &Note) -> Result<(), DocError> {
    let obj = map_obj(doc, &ROOT, "notes")?;
    reconcile_prop(doc, obj, id, note)?;
    Ok(())
}

/// Whether a gathering document holds the note `id`.
pub fn has_note(doc: &AutoCommit, id: &str) -> bool {
    map_obj(doc, &ROOT, "notes")
        .ok()
        .and_then(|notes| doc.get(&notes, id).ok().flatten())
        .is_some()
}

/// Sets (or with `None` deletes) `key` to a plain value in the map at
/// `path` (a chain of map keys from the root).
pub fn put_value<V: Into<automerge::ScalarValue>>(
    doc: &mut AutoCommit,
    path: &[&str],
    key: &str,
    value: Option<V>,
) -> Result<(), DocError> {
    let mut obj = ROOT;
    for step in path {
        obj = map_obj(doc, &obj, step)?;
    }
    match value {
        Some(v) => doc.put(&obj, key, v.into())?,
        None => doc.delete(&obj, key)?,
    }
    Ok(())
}

/// Makes `key` of the root map a map if it is none (documents made before
/// it existed).
pub fn ensure_root_map(doc: &mut AutoCommit, key: &str) -> Result<(), DocError> {
    if !matches!(doc.get(ROOT, key)?, Some((Value::Object(ObjType::Map), _))) {
        doc.put_object(ROOT, key, ObjType::Map)?;
    }
    Ok(())
}

/// Reconciles `value` into `key` of the map at `path`, leaving siblings alone.
pub fn put_at<T: Reconcile>(
    doc: &mut AutoCommit,
    path: &[&str],
    key: &str,
    value: &T,
) -> Result<(), DocError> {
    let mut obj = ROOT;
    for step in path {
        obj = map_obj(doc, &obj, step)?;
    }
    reconcile_prop(doc, obj, key, value)?;
    Ok(())
}

/// Reconciles `value` into `key` of the root map.
pub fn put_root<T: Reconcile>(doc: &mut AutoCommit, key: &str, value: &T) -> Result<(), DocError> {
    reconcile_prop(doc, ROOT, key, value)?;
    Ok(())
}

fn map_obj(
    doc: &AutoCommit,
    parent: &automerge::ObjId,
    key: &str,
) -> Result<automerge::ObjId, DocError> {
    match doc.get(parent, key)? {
        Some((Value::Object(ObjType::Map), obj)) => Ok(obj),
        _ => Err(DocError::Shape(format!("{key} is not a map"))),
    }
}

#[cfg(test)]
mod tests {
    use super::text::text_obj;
    use super::*;
    use automerge::ChangeHash;

    fn circle() -> CircleDoc {
        CircleDoc {
            settings: Settings {
                name: "Thursday circle".into(),
                purpose: Text::with_value("grow together"),
                history: HistoryPolicy::SinceJoining,
                ..Default::default()
            },
            charter: Charter {
                text: Text::with_value("What is said here stays here."),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn circle_document_round_trips_and_records_merge() {
        let mut a = new_doc(&[1; 32]);
        init_circle(&mut a, &circle()).expect("init");
        let mut b = a.fork().with_actor([2; 32].as_slice().into());
        let profile = |name: &str| Profile {
            name: name.into(),
            joined: "2026-11-22T10:00:00Z".into(),
        };
        put_record(&mut a, CircleMap::Members, "aa", &profile("Ada")).expect("put");
        put_record(&mut b, CircleMap::Members, "bb", &profile("Bo")).expect("put");
        a.merge(&mut b).expect("merge");
        let read = read_circle(&a).expect("read");
        assert_eq!(read.settings.name, "Thursday circle");
        assert_eq!(read.settings.history, HistoryPolicy::SinceJoining);
        assert_eq!(read.members.len(), 2);
        assert_eq!(read.members["bb"], profile("Bo"));
    }

    #[test]
    fn concurrent_text_edits_merge_by_character_even_beyond_ascii() {
        let mut a = new_doc(&[1; 32]);
        init_circle(&mut a, &circle()).expect("init");
        update_text(
            &mut a,
            &["charter", "text"],
            "Vertraulich 🤝: what is said stays.",
        )
        .expect("edit");
        let mut b = a.fork().with_actor([2; 32].as_slice().into());
        update_text(
            &mut a,
            &["charter", "text"],
            "Vertraulich 🤝: what is said here stays.",
        )
        .expect("edit a");
        update_text(
            &mut b,
            &["charter", "text"],
            "Vertraulich 🤝🌱: what is said stays!",
        )
        .expect("edit b");
        a.merge(&mut b).expect("merge");
        let read = read_circle(&a).expect("read");
        assert_eq!(
            read.charter.text.as_str(),
            "Vertraulich 🤝🌱: what is said here stays!"
        );
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        let mut doc = new_doc(&[1; 32]);
        assert!(put_record(&mut doc, CircleMap::Goals, "g", &Profile::default()).is_err());
        assert!(update_text(&mut doc, &["nothing"], "x").is_err());
        assert!(update_text(&mut doc, &[], "x").is_err());
        assert!(read_circle(&doc).is_err());
    }

    fn note_doc(text: &str) -> AutoCommit {
        let mut doc = new_doc(&[1; 32]);
        init_gathering(&mut doc, &GatheringDoc::default()).expect("gathering");
        put_note(
            &mut doc,
            "n",
            &Note {
                text: Text::with_value(text),
                ..Default::default()
            },
        )
        .expect("note");
        doc.commit();
        doc
    }

    fn note_text(doc: &AutoCommit) -> String {
        let obj = text_obj(doc, &["notes", "n", "text"]).expect("text");
        doc.text(&obj).expect("read")
    }

    proptest::proptest! {
        #[test]
        fn splices_match_a_mirror_and_out_of_bounds_ones_are_refused(
            edits in proptest::collection::vec(
                (0usize..30, 0usize..6, "[a-cé ]{0,3}"), 0..20),
            commit_each: bool,
        ) {
            let start = "héllo wörld";
            let mut doc = note_doc(start);
            let mut mirror: Vec<u16> = start.encode_utf16().collect();
            for (position, delete, insert) in edits {
                let edit = TextEdit { position, delete, insert: insert.clone() };
                let in_bounds = position + delete <= mirror.len();
                let result = splice_text(&mut doc, &["notes", "n", "text"], &[edit], commit_each);
                proptest::prop_assert_eq!(result.is_ok(), in_bounds);
                if in_bounds {
                    mirror.splice(position..position + delete, insert.encode_utf16());
                }
            }
            proptest::prop_assert_eq!(note_text(&doc), String::from_utf16_lossy(&mirror));
        }

        #[test]
        fn splices_through_surrogate_pairs_never_panic(
            edits in proptest::collection::vec(
                (0usize..20, 0usize..5, "[a🌱🤝]{0,3}"), 0..20),
        ) {
            let mut doc = note_doc("🤝 hi 🌱");
            for (position, delete, insert) in edits {
                let edit = TextEdit { position, delete, insert };
                let _ = splice_text(&mut doc, &["notes", "n", "text"], &[edit], true);
            }
            let _ = note_text(&doc);
        }
    }

    #[test]
    fn splices_outside_the_text_or_into_non_text_are_refused() {
        let mut doc = note_doc("héllo");
        let far = TextEdit {
            position: 99,
            delete: 0,
            insert: "x".into(),
        };
        assert!(splice_text(&mut doc, &["notes", "n", "text"], &[far], false).is_err());
        let over = TextEdit {
            position: 2,
            delete: 99,
            insert: String::new(),
        };
        assert!(splice_text(&mut doc, &["notes", "n", "text"], &[over], false).is_err());
        assert!(splice_text(&mut doc, &["notes", "n", "author"], &[], false).is_err());
        assert!(splice_text(&mut doc, &["notes", "missing", "text"], &[], false).is_err());
    }

    fn edit(position: usize, delete: usize, insert: &str) -> TextEdit {
        TextEdit {
            position,
            delete,
            insert: insert.into(),
        }
    }

    #[test]
    fn a_splice_typed_against_an_older_text_lands_where_it_was_meant() {
        let path = ["notes", "n", "text"];
        let mut mine = note_doc("hello");
        let seen = mine.get_heads();
        // Another member's edit arrives before this keystroke is applied.
        let mut theirs = mine.fork().with_actor(automerge::ActorId::from([2; 32]));
        splice_text(&mut theirs, &path, &[edit(0, 0, "Oh, ")], false).expect("edit");
        theirs.commit();
        apply_changes(&mut mine, theirs.get_changes(&seen)).expect("merge");
        assert_eq!(note_text(&mine), "Oh, hello");

        // Typed at the end of "hello", as the editor saw it.
        let seen = splice_text_at(&mut mine, &path, &[edit(5, 0, "!")], &seen).expect("edit");
        assert_eq!(note_text(&mine), "Oh, hello!");
        // The next keystroke builds on the editor's own text, "hello!".
        splice_text_at(&mut mine, &path, &[edit(1, 1, "E")], &seen).expect("edit");
        assert_eq!(note_text(&mine), "Oh, hEllo!");

        // Unknown versions and bad splices change nothing.
        let before = mine.get_heads();
        let unknown = [ChangeHash([7; 32])];
        assert!(splice_text_at(&mut mine, &path, &[edit(0, 0, "x")], &unknown).is_err());
        assert!(splice_text_at(&mut mine, &path, &[edit(99, 0, "x")], &seen).is_err());
        assert_eq!(mine.get_heads(), before);
        assert_eq!(note_text(&mine), "Oh, hEllo!");
    }

    proptest::proptest! {
        /// At the current version, a versioned splice is a plain splice.
        #[test]
        fn a_splice_at_the_current_version_is_a_plain_splice(
            start in "[a-zé🙂 ]{0,12}",
            edits in proptest::collection::vec((0usize..16, 0usize..4, "[a-z🙂]{0,3}"), 1..6),
        ) {
            let path = ["notes", "n", "text"];
            let mut plain = note_doc(&start);
            let mut versioned = note_doc(&start);
            for (position, delete, insert) in edits {
                let one = [edit(position, delete, &insert)];
                let expected = splice_text(&mut plain, &path, &one, false);
                plain.commit();
                let now = versioned.get_heads();
                let got = splice_text_at(&mut versioned, &path, &one, &now);
                proptest::prop_assert_eq!(expected.is_ok(), got.is_ok());
                proptest::prop_assert_eq!(note_text(&plain), note_text(&versioned));
            }
        }
    }
}
