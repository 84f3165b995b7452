//! One circle's live state on this device: its membership, the keys held,
//! the decoded documents and the tip of every author's log. One file per
//! concern: `load` (founding, loading, the sealed cache, rebuilding),
//! `members` (membership operations, epochs and key repair), `write`
//! (local edits into sealed entries), `ingest` (checking what arrives),
//! `outgoing` (what a peer or a bundle gets), `ready` (which entries a
//! document can take now), `fold` (folding this
//! device's own log), `forks` (proofs that an author forked its log) and, for tests, `craft` (hostile entries).

use crate::error::Rejection;
use crate::keyring::Keyring;
use crate::views::RejectionView;
use automerge::{AutoCommit, Change, ChangeHash};
use circlekeep_model::authorship;
use circlekeep_model::docs::{self, CircleDoc, HistoryPolicy};
use circlekeep_model::entry::Tip;
use circlekeep_model::membership::Membership;
use circlekeep_model::{CircleId, DocId, MemberId, OpHash};
use circlekeep_seal::DeviceIdentity;
use circlekeep_store::Store;
use std::collections::{BTreeMap, BTreeSet};

#[cfg(feature = "test-support")]
pub(crate) mod craft;
mod damage;
pub(crate) mod decode;
mod dormant;
mod fold;
mod forks;
mod ingest;
mod load;
mod members;
mod outgoing;
mod ready;
mod write;

#[cfg(feature = "test-support")]
pub(crate) use fold::encode_run;
pub use fold::{FOLD_MAX_ENTRIES, FOLD_MAX_OPS, FOLD_MIN_ENTRIES};

/// An entry's place: author and sequence number.
pub(crate) type Position = (MemberId, u64);

/// How many stored entries are decoded and applied at a time while loading.
pub(super) const LOAD_BATCH: usize = 4096;

/// What the engine hands every circle operation.
pub(crate) struct Ctx<'a, S> {
    pub store: &'a S,
    pub me: &'a DeviceIdentity,
    /// Announces circles whose stored records changed.
    pub changes: &'a tokio::sync::broadcast::Sender<CircleId>,
}

impl<S: Store> Ctx<'_, S> {
    /// This device's id, which signs what it writes.
    fn device_id(&self) -> MemberId {
        self.me.device_id()
    }

    /// The member this device is a device of.
    fn member_id(&self) -> MemberId {
        self.me.member_id()
    }

    /// Tells listeners (sync sessions, the app) that `circle` has new records.
    pub fn changed(&self, circle: CircleId) {
        // Nobody listening is fine.
        let _ = self.changes.send(circle);
    }
}

/// Positions of the records a peer is now known to hold.
#[derive(Debug, Default)]
pub(crate) struct Held {
    pub ops: Vec<OpHash>,
    pub entries: Vec<Position>,
}

/// One circle, decoded.
pub(crate) struct CircleRuntime {
    pub id: CircleId,
    pub membership: Membership,
    keyring: Keyring,
    docs: BTreeMap<DocId, AutoCommit>,
    tips: BTreeMap<MemberId, Tip>,
    /// Stored entries whose epoch keys this device does not hold, by epoch.
    unreadable: BTreeMap<Position, OpHash>,
    /// Entries held back until a change they depend on is in their
    /// document (`ready.rs`), and by what they wait on.
    queued: BTreeMap<Position, ready::Waiting>,
    waiting_on: BTreeMap<(DocId, ChangeHash), BTreeSet<Position>>,
    /// Stored entries found bad after storing; never applied.
    rejected: BTreeSet<Position>,
    /// Stored entries a removal's cut voids (`dormant.rs`).
    dormant: dormant::Dormant,
    /// This device's folds of its own log.
    folding: fold::Folding,
    /// In-memory state differs from the cache.
    dirty: bool,
    /// In-memory state may be ahead of the store: discard and reload.
    pub poisoned: bool,
    /// This device's own last stored entry is damaged (at this position):
    /// nothing more is written (`damage.rs`).
    pub(super) own_damaged: Option<u64>,
    /// The circle added this device, which has not accepted it yet.
    pub invitation: bool,
    /// Authors whose logs are proven forked, and where (`forks.rs`).
    forks: BTreeMap<MemberId, u64>,
    /// The circle document as last read; cleared whenever it changes, so
    /// views do not hydrate the whole document on every read (nor after
    /// every keystroke in a note or every note a catch-up applies).
    circle_view: std::cell::RefCell<Option<CircleDoc>>,
}

/// An entry after decryption.
enum Opened {
    Content { doc: DocId, changes: Vec<Change> },
    Sealed,
    Bad(Rejection),
}

impl CircleRuntime {
    fn empty(id: CircleId, membership: Membership) -> Self {
        CircleRuntime {
            id,
            membership,
            keyring: Keyring::default(),
            docs: BTreeMap::new(),
            tips: BTreeMap::new(),
            unreadable: BTreeMap::new(),
            queued: BTreeMap::new(),
            waiting_on: BTreeMap::new(),
            rejected: BTreeSet::new(),
            dormant: dormant::Dormant::default(),
            folding: fold::Folding::default(),
            dirty: true,
            poisoned: false,
            own_damaged: None,
            invitation: false,
            forks: BTreeMap::new(),
            circle_view: Default::default(),
        }
    }

    /// The decoded document, if this device can read it.
    pub fn doc(&self, id: &DocId) -> Option<&AutoCommit> {
        self.docs.get(id)
    }

    /// The version (sorted heads) of a held document; empty if not held.
    pub fn version(&mut self, id: &DocId) -> Vec<ChangeHash> {
        let mut heads = self
            .docs
            .get_mut(id)
            .map(AutoCommit::get_heads)
            .unwrap_or_default();
        heads.sort();
        heads
    }

    /// Heads of every held document: document id → sorted change hashes.
    pub fn heads(&mut self) -> BTreeMap<String, Vec<String>> {
        let ids: Vec<DocId> = self.docs.keys().copied().collect();
        ids.into_iter()
            .map(|id| {
                let heads = self.version(&id).iter().map(|h| h.to_string()).collect();
                (id.to_hex(), heads)
            })
            .collect()
    }

    /// The circle document, if readable.
    pub fn circle_doc(&self) -> Option<CircleDoc> {
        if let Some(view) = self.circle_view.borrow().as_ref() {
            return Some(view.clone());
        }
        let doc = self.docs.get(&DocId::CIRCLE)?;
        let mut view = docs::read_circle_by(doc, &self.owners()).ok()?;
        self.bind_names(doc, &mut view);
        *self.circle_view.borrow_mut() = Some(view.clone());
        Some(view)
    }

    /// Runs `f` on the circle document's cached view, without copying it.
    pub(crate) fn read_circle_doc<T>(&self, f: impl FnOnce(&CircleDoc) -> T) -> Option<T> {
        if self.circle_view.borrow().is_none() {
            self.circle_doc()?;
        }
        self.circle_view.borrow().as_ref().map(f)
    }

    /// Maps a signing device's hex id to its member's (the log's links).
    pub(crate) fn owners(&self) -> impl Fn(String) -> String + '_ {
        |device: String| {
            MemberId::from_hex(&device)
                .ok()
                .and_then(|d| self.membership.owner(&d))
                .map_or(device, |member| member.to_hex())
        }
    }

    /// A gathering document, each note's author its signer's member.
    pub(crate) fn read_gathering(
        &self,
        doc: &AutoCommit,
    ) -> Result<docs::GatheringDoc, docs::DocError> {
        docs::read_gathering_by(doc, &self.owners())
    }

    /// Clears each display name that neither its member nor who added the
    /// member wrote (a name is the member's to choose: DESIGN's authorship
    /// rule); views then show the member's short id.
    fn bind_names(&self, doc: &AutoCommit, view: &mut CircleDoc) {
        let writers = authorship::name_writers(doc, &self.owners());
        for (member, profile) in &mut view.members {
            let named = writers.get(member).is_some_and(|writer| {
                writer == member
                    || MemberId::from_hex(member).is_ok_and(|m| {
                        self.membership
                            .adders(&m)
                            .iter()
                            .any(|a| a.to_hex() == *writer)
                    })
            });
            if !named {
                profile.name.clear();
            }
        }
    }

    /// The circle's history policy, as its founder signed it in the log
    /// (never read from the shared document, which any member may edit).
    pub fn history(&self) -> HistoryPolicy {
        if self.membership.history() {
            HistoryPolicy::NewcomersSeeHistory
        } else {
            HistoryPolicy::SinceJoining
        }
    }

    /// What this device holds: author → last sequence number.
    pub fn version_vector(&self) -> Vec<(MemberId, u64)> {
        self.tips.iter().map(|(a, t)| (*a, t.seq)).collect()
    }

    /// What this device holds: per-author heights (and the chain hash
    /// there) and operation hashes.
    pub fn summary(&self) -> circlekeep_sync::Summary {
        circlekeep_sync::Summary {
            have: self.tips.iter().map(|(a, t)| (*a, t.seq)).collect(),
            ops: self.membership.ops().iter().map(|op| op.hash).collect(),
            tips: self.tips.iter().map(|(a, t)| (*a, t.hash)).collect(),
        }
    }

    /// Entries held but not readable here.
    pub fn sealed_entries(&self) -> usize {
        self.unreadable.len()
    }

    /// Entries refused after storing.
    pub fn rejected_entries(&self) -> usize {
        self.rejected.len()
    }
}

pub(crate) fn rejection_view(
    kind: &str,
    author: Option<MemberId>,
    seq: Option<u64>,
    why: &Rejection,
) -> RejectionView {
    RejectionView {
        kind: kind.to_owned(),
        author: author.map(|a| a.to_hex()),
        seq,
        code: why.code().as_str().to_owned(),
        message: why.to_string(),
    }
}

/// The current time as RFC 3339, to the second, in UTC.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Ground rules a new circle starts from; members edit them together.
pub(crate) const DEFAULT_CHARTER: &str = "\
1. Commitment: we prepare, show up and engage; we tell the circle if we cannot come.
2. Balancing roles: each of us is both mentor and mentee; we share the time fairly.
3. Vulnerability: we bring real issues and meet them with challenge and support, not rescue.
4. Confidentiality: what is said in the circle stays in the circle, including who is in it.";
