//! Circlekeep's engine: every verb of the app — create a circle, add and
//! remove members, open gatherings, write notes, goals and contracts, export
//! and import bundles — as one headless facade over the model, seal and store
//! layers. The desktop app, the CLI and the tests all drive this.
//!
//! Architecture invariant: the engine knows nothing of Tauri, JSON-over-IPC
//! or terminals. Plaintext lives only in memory here; what it hands the store
//! is signed and sealed.
//!
//! ```
//! use circlekeep_engine::{Engine, HistoryPolicy};
//! use circlekeep_seal::DeviceIdentity;
//! use circlekeep_store::MemoryStore;
//!
//! let ada = Engine::with_store(MemoryStore::new(), DeviceIdentity::from_seed("Ada", [1; 32])?);
//! let bo = Engine::with_store(MemoryStore::new(), DeviceIdentity::from_seed("Bo", [2; 32])?);
//! let circle = ada.create_circle("Thursday circle", HistoryPolicy::SinceJoining)?;
//! ada.add_member(circle, bo.member_card().as_line())?;
//! let gathering = ada.new_gathering(circle, "2026-11-26".parse()?)?;
//! ada.add_note(circle, gathering, "We agreed to start on time.")?;
//!
//! // Bo receives a bundle (the offline transport) and reads the note.
//! bo.import_bundle(&ada.export_bundle(circle, None)?)?;
//! let notes = bo.notes(circle, None)?;
//! assert_eq!(notes[0].notes[0].text, "We agreed to start on time.");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod backup;
pub mod bundle;
mod cache;
mod circle;
pub mod error;
mod export;
mod gathering;
mod home;
mod invites;
mod journal;
mod keyring;
pub mod practice;
mod replica;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod views;

pub use backup::RestoreReport;
pub use chrono::{NaiveDate, Utc};
pub use circle::{FOLD_MAX_ENTRIES, FOLD_MAX_OPS, FOLD_MIN_ENTRIES};
pub use circlekeep_model::docs::{HistoryPolicy, TextEdit};
pub use circlekeep_model::{agenda, rota, schedule};
pub use circlekeep_model::{CircleId, DocId, MemberId};
pub use circlekeep_seal::{DeviceIdentity, MemberCard, SecretString};
pub use circlekeep_store::{MemoryStore, SledStore, Store};
pub use error::{EngineError, Rejection};
pub use export::write_owner_only;
pub use home::Home;

use bundle::Bundle;
use circle::{CircleRuntime, Ctx};
use circlekeep_model::docs::{self, CircleMap};
use circlekeep_model::membership::Membership;
use circlekeep_seal::card::fingerprint;
use circlekeep_seal::signed::verify_op;
use circlekeep_store::BlobKind;
use circlekeep_sync::{NodeConfig, Relay};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use views::*;

/// Longest a long ingest pauses between slices for callers waiting.
const LET_IN_AT_MOST: std::time::Duration = std::time::Duration::from_millis(5);

/// Longest note, goal or contract, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;

/// One device's Circlekeep: its identity, its store and its circles.
pub struct Engine<S: Store = SledStore> {
    store: S,
    me: DeviceIdentity,
    circles: Mutex<BTreeMap<CircleId, CircleRuntime>>,
    changes: tokio::sync::broadcast::Sender<CircleId>,
    /// Serialises invite redemption so a secret is used once.
    invites: Mutex<()>,
    /// Callers waiting for `circles`; a catch-up lets them in between slices.
    waiting: std::sync::atomic::AtomicUsize,
}

impl Engine<SledStore> {
    /// Creates an identity and an empty store in `home`.
    pub fn init(
        home: &Home,
        name: &str,
        passphrase: &SecretString,
        work_factor: u8,
    ) -> Result<Self, EngineError> {
        let me = home.create_identity(name, passphrase, work_factor)?;
        let store = home.open_store()?;
        Ok(Self::with_store(store, me))
    }

    /// Opens the identity and store in `home` with `passphrase`.
    pub fn open(home: &Home, passphrase: &SecretString) -> Result<Self, EngineError> {
        let me = home.open_identity(passphrase)?;
        let store = home.open_store()?;
        Ok(Self::with_store(store, me))
    }
}

impl<S: Store> Engine<S> {
    /// An engine over any store, for tests and benchmarks.
    pub fn with_store(store: S, me: DeviceIdentity) -> Self {
        Self {
            store,
            me,
            circles: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::broadcast::channel(1024).0,
            invites: Mutex::new(()),
            waiting: Default::default(),
        }
    }

    /// Announces the circles whose stored records change, from local edits
    /// or from peers (for sync sessions and the app).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<CircleId> {
        self.changes.subscribe()
    }

    /// This device's identity.
    pub fn identity(&self) -> &DeviceIdentity {
        &self.me
    }

    /// This device's member card, to give to circles that add it.
    pub fn member_card(&self) -> MemberCard {
        self.me.card()
    }

    /// The store (for tests that inspect what is at rest).
    pub fn store(&self) -> &S {
        &self.store
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<CircleId, CircleRuntime>> {
        use std::sync::atomic::Ordering::Relaxed;
        self.waiting.fetch_add(1, Relaxed);
        // A panic mid-operation poisons nothing the store does not hold:
        // keep serving, the runtime reloads from disk if it was marked.
        let circles = self.circles.lock().unwrap_or_else(|p| p.into_inner());
        self.waiting.fetch_sub(1, Relaxed);
        circles
    }

    /// Gives callers already waiting for the circles a moment to go first
    /// (between the slices of a long ingest: std's lock lets the releasing
    /// thread take it straight back, which kept the app waiting for whole
    /// catch-ups; a fair lock everywhere halved typing throughput).
    pub(crate) fn let_waiting_callers_in(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let deadline = std::time::Instant::now() + LET_IN_AT_MOST;
        while self.waiting.load(Relaxed) > 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
    }

    fn ctx(&self) -> Ctx<'_, S> {
        Ctx {
            store: &self.store,
            me: &self.me,
            changes: &self.changes,
        }
    }

    /// Runs `f` on a loaded circle; a circle left inconsistent is dropped
    /// from memory so the next call reloads it from the store.
    fn with_circle<T>(
        &self,
        id: CircleId,
        f: impl FnOnce(&mut CircleRuntime, &Ctx<'_, S>) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let mut circles = self.lock();
        let ctx = self.ctx();
        let runtime = match circles.entry(id) {
            std::collections::btree_map::Entry::Occupied(held) => held.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(CircleRuntime::load(&ctx, id)?)
            }
        };
        let result = f(runtime, &ctx);
        if runtime.poisoned {
            circles.remove(&id);
        }
        result
    }

    /// Founds a circle with this device as its first member.
    pub fn create_circle(
        &self,
        name: &str,
        history: HistoryPolicy,
    ) -> Result<CircleId, EngineError> {
        let name = check_text(name, 200)?;
        let runtime = CircleRuntime::found(&self.ctx(), &name, history)?;
        let id = runtime.id;
        self.lock().insert(id, runtime);
        Ok(id)
    }

    /// Every circle this device holds.
    pub fn circles(&self) -> Result<Vec<CircleSummary>, EngineError> {
        let ids = self.store.circles().map_err(EngineError::store)?;
        let me = self.me.member_id();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let summary = self.with_circle(id, |c, _| {
                Ok(CircleSummary {
                    id: id.to_hex(),
                    short: id.short(),
                    name: c.circle_doc().map(|d| d.settings.name),
                    members: c.membership.members().len(),
                    member: c.membership.is_member(&me),
                })
            })?;
            out.push(summary);
        }
        Ok(out)
    }

    /// Finds a circle by id prefix (4+ hex digits), name, or name prefix.
    pub fn find_circle(&self, selector: &str) -> Result<CircleId, EngineError> {
        let all = self.circles()?;
        let found = select(&all, selector, |c| &c.id, |c| c.name.as_deref())
            .map_err(|miss| miss.into_error(selector, EngineError::UnknownCircle))?;
        CircleId::from_hex(&found.id).map_err(|e| EngineError::Corrupt(e.to_string()))
    }

    /// A circle in full: settings, charter, members, gatherings, goals, contracts.
    pub fn circle(&self, id: CircleId) -> Result<CircleView, EngineError> {
        let me = self.me.member_id();
        self.with_circle(id, |c, _| {
            let doc = c.circle_doc().ok_or(EngineError::Unreadable)?;
            let names = profile_names(&doc);
            let name_of = |hex: &str| names.get(hex).cloned().unwrap_or_else(|| short_hex(hex));
            let mut goals: Vec<GoalView> = doc
                .goals
                .iter()
                .map(|(id, g)| GoalView {
                    id: id.clone(),
                    owner: g.owner.clone(),
                    owner_name: name_of(&g.owner),
                    text: g.text.as_str().to_owned(),
                    status: g.status.clone(),
                    created: g.created.clone(),
                    progress: {
                        let mut p: Vec<_> = g
                            .progress
                            .iter()
                            .map(|(id, n)| views::ProgressView {
                                id: id.clone(),
                                author_name: name_of(&n.author),
                                text: n.text.clone(),
                                created: n.created.clone(),
                            })
                            .collect();
                        p.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
                        p
                    },
                    milestones: {
                        let mut m: Vec<_> = g
                            .milestones
                            .iter()
                            .map(|(id, m)| views::MilestoneView {
                                id: id.clone(),
                                text: m.text.clone(),
                                reached: m.reached.clone(),
                            })
                            .collect();
                        m.sort_by(|a, b| a.id.cmp(&b.id));
                        m
                    },
                })
                .collect();
            goals.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
            let mut contracts: Vec<ContractView> = doc
                .contracts
                .iter()
                .map(|(id, k)| ContractView {
                    id: id.clone(),
                    owner: k.owner.clone(),
                    owner_name: name_of(&k.owner),
                    text: k.text.as_str().to_owned(),
                    goal: k.goal.clone(),
                    gathering: k.gathering.clone(),
                    created: k.created.clone(),
                    outcome: k.report.outcome.clone(),
                    reflection: k.report.reflection.as_str().to_owned(),
                    reported: k.report.reported.clone(),
                })
                .collect();
            contracts.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
            Ok(CircleView {
                id: id.to_hex(),
                short: id.short(),
                name: doc.settings.name.clone(),
                purpose: doc.settings.purpose.as_str().to_owned(),
                history: history_name(doc.settings.history).to_owned(),
                charter: doc.charter.text.as_str().to_owned(),
                member: c.membership.is_member(&me),
                members: member_views(&c.membership, &names, &me),
                gatherings: gathering_views(c, &doc),
                goals,
                contracts,
                sealed_entries: c.sealed_entries(),
                rejected_entries: c.rejected_entries(),
            })
        })
    }

    /// The current members of a circle.
    pub fn members(&self, id: CircleId) -> Result<Vec<MemberView>, EngineError> {
        let me = self.me.member_id();
        self.with_circle(id, |c, _| {
            let names = c
                .circle_doc()
                .map(|d| profile_names(&d))
                .unwrap_or_default();
            Ok(member_views(&c.membership, &names, &me))
        })
    }

    /// Finds a current member by id prefix (4+ hex digits), name, or name prefix.
    pub fn find_member(&self, id: CircleId, selector: &str) -> Result<MemberId, EngineError> {
        let members = self.members(id)?;
        let found = select(&members, selector, |m| &m.id, |m| Some(m.name.as_str()))
            .map_err(|miss| miss.into_error(selector, EngineError::UnknownMember))?;
        MemberId::from_hex(&found.id).map_err(|e| EngineError::Corrupt(e.to_string()))
    }

    /// Adds the owner of a member card to a circle.
    pub fn add_member(&self, id: CircleId, card: &str) -> Result<MemberView, EngineError> {
        let card: MemberCard = card.parse()?;
        self.with_circle(id, |c, ctx| c.add_member(ctx, &card))?;
        Ok(MemberView {
            id: card.member.to_hex(),
            short: card.member.short(),
            name: card.name.clone(),
            fingerprint: card.fingerprint(),
            me: false,
        })
    }

    /// Removes a member; what is written afterwards is sealed away from them.
    pub fn remove_member(&self, id: CircleId, member: MemberId) -> Result<(), EngineError> {
        self.with_circle(id, |c, ctx| c.remove_member(ctx, member))
    }

    /// Leaves a circle.
    pub fn leave_circle(&self, id: CircleId) -> Result<(), EngineError> {
        self.with_circle(id, |c, ctx| c.leave(ctx))
    }

    /// Opens a gathering on `date` from the biweekly template and returns its id.
    pub fn new_gathering(&self, id: CircleId, date: NaiveDate) -> Result<DocId, EngineError> {
        self.open_gathering(id, date, circlekeep_model::agenda::Template::Biweekly)
    }

    /// Finds a gathering by id prefix (4+ hex digits) or date (YYYY-MM-DD).
    pub fn find_gathering(&self, id: CircleId, selector: &str) -> Result<DocId, EngineError> {
        let gatherings = self.circle(id)?.gatherings;
        let found = select(&gatherings, selector, |g| &g.id, |g| Some(g.date.as_str()))
            .map_err(|miss| miss.into_error(selector, EngineError::UnknownGathering))?;
        DocId::from_hex(&found.id).map_err(|e| EngineError::Corrupt(e.to_string()))
    }

    /// The most recent gathering this device can read.
    pub fn latest_gathering(&self, id: CircleId) -> Result<DocId, EngineError> {
        let latest = self
            .circle(id)?
            .gatherings
            .into_iter()
            .rfind(|g| g.readable)
            .ok_or(EngineError::NoGathering)?;
        DocId::from_hex(&latest.id).map_err(|e| EngineError::Corrupt(e.to_string()))
    }

    /// Adds a note to a gathering; returns the note id once it is on disk.
    pub fn add_note(
        &self,
        id: CircleId,
        gathering: DocId,
        text: &str,
    ) -> Result<String, EngineError> {
        let text = check_text(text, MAX_TEXT_CHARS)?;
        let note_id = random_id();
        let running = self
            .gathering_doc(id, gathering)
            .ok()
            .and_then(|g| gathering::running_turn(&g).map(|(k, t)| (k.clone(), t.off_record)));
        if let Some((_, true)) = running {
            return Err(EngineError::NotAllowed(
                "this turn is off the record: no notes are kept",
            ));
        }
        let note = docs::Note {
            author: self.me.member_id().to_hex(),
            text: autosurgeon::Text::with_value(text),
            created: circle::now(),
            turn: running.map(|(k, _)| k),
        };
        self.with_circle(id, |c, ctx| {
            if gathering.is_circle() || c.doc(&gathering).is_none() {
                return Err(
                    if c.circle_doc()
                        .is_some_and(|d| d.gatherings.contains_key(&gathering.to_hex()))
                    {
                        EngineError::Unreadable
                    } else {
                        EngineError::UnknownGathering(gathering.short())
                    },
                );
            }
            c.write(ctx, gathering, |doc| {
                Ok(docs::put_note(doc, &note_id, &note)?)
            })
        })?;
        Ok(note_id)
    }

    /// Types into a note: applies `edits` in order as one change in one
    /// sealed entry, on disk before this returns.
    pub fn edit_note(
        &self,
        id: CircleId,
        gathering: DocId,
        note: &str,
        edits: &[TextEdit],
    ) -> Result<(), EngineError> {
        self.splice_note(id, gathering, note, edits, false)
    }

    /// Edits a note as the editor saw it at `version` (from `notes`):
    /// splices typed against an older text land where they were meant and
    /// merge with edits that arrived since. Returns the version the editor
    /// holds next (its text with these edits), for the following splice.
    pub fn edit_note_at(
        &self,
        id: CircleId,
        gathering: DocId,
        note: &str,
        edits: &[TextEdit],
        version: &[String],
    ) -> Result<Vec<String>, EngineError> {
        check_inserted(edits)?;
        let version = version
            .iter()
            .map(|h| h.parse())
            .collect::<Result<Vec<automerge::ChangeHash>, _>>()
            .map_err(|_| EngineError::BadText("that note version is not one this app gave"))?;
        self.with_circle(id, |c, ctx| {
            require_note(c, gathering, note)?;
            let next = c.write(ctx, gathering, |doc| {
                Ok(docs::splice_text_at(
                    doc,
                    &["notes", note, "text"],
                    edits,
                    &version,
                )?)
            })?;
            Ok(next.iter().map(|h| h.to_string()).collect())
        })
    }

    fn splice_note(
        &self,
        id: CircleId,
        gathering: DocId,
        note: &str,
        edits: &[TextEdit],
        commit_each: bool,
    ) -> Result<(), EngineError> {
        check_inserted(edits)?;
        self.with_circle(id, |c, ctx| {
            require_note(c, gathering, note)?;
            c.write(ctx, gathering, |doc| {
                Ok(docs::splice_text(
                    doc,
                    &["notes", note, "text"],
                    edits,
                    commit_each,
                )?)
            })
        })
    }

    /// The notes of one gathering, or of every gathering (unreadable ones
    /// listed without notes).
    pub fn notes(
        &self,
        id: CircleId,
        gathering: Option<DocId>,
    ) -> Result<Vec<GatheringNotes>, EngineError> {
        self.with_circle(id, |c, _| {
            let doc = c.circle_doc().ok_or(EngineError::Unreadable)?;
            let names = profile_names(&doc);
            let mut out = Vec::new();
            for view in gathering_views(c, &doc) {
                if gathering.is_some_and(|g| g.to_hex() != view.id) {
                    continue;
                }
                let doc_id = DocId::from_hex(&view.id).ok();
                let notes = doc_id
                    .and_then(|g| c.doc(&g))
                    .and_then(|d| docs::read_gathering(d).ok())
                    .map(|g| {
                        let mut notes: Vec<NoteView> = g
                            .notes
                            .into_iter()
                            .map(|(note_id, n)| NoteView {
                                id: note_id,
                                author_name: names
                                    .get(&n.author)
                                    .cloned()
                                    .unwrap_or_else(|| short_hex(&n.author)),
                                author: n.author,
                                text: n.text.as_str().to_owned(),
                                created: n.created,
                            })
                            .collect();
                        notes.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
                        notes
                    })
                    .unwrap_or_default();
                let version = doc_id
                    .map(|g| c.version(&g).iter().map(|h| h.to_string()).collect())
                    .unwrap_or_default();
                out.push(GatheringNotes {
                    gathering: view,
                    version,
                    notes,
                });
            }
            if let Some(g) = gathering {
                if out.is_empty() {
                    return Err(EngineError::UnknownGathering(g.short()));
                }
            }
            Ok(out)
        })
    }

    /// Sets a goal for this device's member; returns the goal id.
    pub fn add_goal(&self, id: CircleId, text: &str) -> Result<String, EngineError> {
        let text = check_text(text, MAX_TEXT_CHARS)?;
        let goal_id = random_id();
        let goal = docs::Goal {
            owner: self.me.member_id().to_hex(),
            text: autosurgeon::Text::with_value(text),
            status: "open".into(),
            created: circle::now(),
            ..Default::default()
        };
        self.with_circle(id, |c, ctx| {
            c.write(ctx, DocId::CIRCLE, |doc| {
                Ok(docs::put_record(doc, CircleMap::Goals, &goal_id, &goal)?)
            })
        })?;
        Ok(goal_id)
    }

    /// Makes a contract for this device's member; returns the contract id.
    pub fn add_contract(
        &self,
        id: CircleId,
        text: &str,
        goal: Option<&str>,
        gathering: Option<DocId>,
    ) -> Result<String, EngineError> {
        let text = check_text(text, MAX_TEXT_CHARS)?;
        let contract_id = random_id();
        let contract = docs::Contract {
            owner: self.me.member_id().to_hex(),
            text: autosurgeon::Text::with_value(text),
            goal: goal.map(str::to_owned),
            gathering: gathering.map(|g| g.to_hex()),
            created: circle::now(),
            report: docs::Report::default(),
        };
        self.with_circle(id, |c, ctx| {
            if let Some(goal) = goal {
                let known = c.circle_doc().is_some_and(|d| d.goals.contains_key(goal));
                if !known {
                    return Err(EngineError::BadText("no goal with that id"));
                }
            }
            c.write(ctx, DocId::CIRCLE, |doc| {
                Ok(docs::put_record(
                    doc,
                    CircleMap::Contracts,
                    &contract_id,
                    &contract,
                )?)
            })
        })?;
        Ok(contract_id)
    }

    /// A bundle of what `for_member` lacks (as far as this device knows from
    /// their last bundle), or of everything.
    pub fn export_bundle(
        &self,
        id: CircleId,
        for_member: Option<MemberId>,
    ) -> Result<Vec<u8>, EngineError> {
        let since = match for_member {
            Some(member) => self.peer_versions(id, member)?,
            None => BTreeMap::new(),
        };
        let bundle = self.with_circle(id, |c, ctx| {
            if let Some(member) = for_member {
                if !c.membership.is_member(&member) {
                    return Err(EngineError::UnknownMember(member.short()));
                }
            }
            c.export(ctx, &since)
        })?;
        Ok(bundle.encode())
    }

    /// Checks and imports a bundle. Valid records are stored (flushed) and
    /// applied; invalid ones are listed in the report and never applied.
    pub fn import_bundle(&self, bytes: &[u8]) -> Result<ImportReport, EngineError> {
        let bundle = Bundle::decode(bytes)?;
        let id = bundle.circle;
        let (report, _) = self.receive(id, &bundle.ops, &bundle.entries)?;
        self.with_circle(id, |c, ctx| {
            let from_is_member = c.membership.ever_members().contains(&bundle.from);
            if from_is_member && bundle.from != ctx.me.member_id() {
                let mut key = id.as_bytes().to_vec();
                key.extend_from_slice(bundle.from.as_bytes());
                let value = postcard::to_stdvec(&bundle.have)
                    .map_err(|e| EngineError::Corrupt(e.to_string()))?;
                ctx.store
                    .put_blob(BlobKind::PeerVersions, &key, Some(&value))
                    .map_err(EngineError::store)?;
            }
            Ok(())
        })?;
        Ok(report)
    }

    /// Checks, stores and applies records of one circle from a bundle or a
    /// peer, taking the circle in if this device was added to it.
    pub(crate) fn receive(
        &self,
        id: CircleId,
        ops: &[Vec<u8>],
        entries: &[Vec<u8>],
    ) -> Result<(ImportReport, circle::Held), EngineError> {
        let mut report = ImportReport {
            circle: id.to_hex(),
            ..Default::default()
        };
        let known = self
            .store
            .circles()
            .map_err(EngineError::store)?
            .contains(&id);
        let mut adopted = Vec::new();
        let ops: &[Vec<u8>] = if known {
            ops
        } else {
            adopted = self.adopt_circle(id, ops, &mut report)?;
            report.joined = true;
            &[]
        };
        let mut held = self.with_circle(id, |c, ctx| {
            if !known {
                ctx.changed(id);
            }
            let held = c.ingest(ctx, ops, entries, &mut report)?;
            c.repair_keys(ctx)?;
            Ok(held)
        })?;
        held.ops.extend(adopted);
        self.record_rejections(id, &report.rejected)?;
        Ok((report, held))
    }

    /// Stores the operations of a circle this device was invited to.
    fn adopt_circle(
        &self,
        id: CircleId,
        ops: &[Vec<u8>],
        report: &mut ImportReport,
    ) -> Result<Vec<circlekeep_model::OpHash>, EngineError> {
        let mut verified = Vec::with_capacity(ops.len());
        for bytes in ops {
            match verify_op(bytes) {
                Ok(op) => verified.push(op),
                Err(e) => {
                    report
                        .rejected
                        .push(circle::rejection_view("operation", None, None, &e.into()))
                }
            }
        }
        let authors: BTreeMap<_, _> = verified
            .iter()
            .map(|op| (op.hash, op.body.author))
            .collect();
        let (membership, rejected) = Membership::build(id, verified);
        if !membership.is_member(&self.me.member_id()) {
            return Err(EngineError::NotInvited);
        }
        for (hash, why) in rejected {
            let author = authors.get(&hash).copied();
            report.rejected.push(circle::rejection_view(
                "operation",
                author,
                None,
                &why.into(),
            ));
        }
        let accepted: Vec<_> = membership
            .ops()
            .iter()
            .map(|op| (op.hash, op.signed.as_slice()))
            .collect();
        self.store
            .put_ops(&id, &accepted)
            .map_err(EngineError::store)?;
        self.store.flush().map_err(EngineError::store)?;
        report.ops_accepted = accepted.len();
        Ok(accepted.iter().map(|(h, _)| *h).collect())
    }

    fn peer_versions(
        &self,
        id: CircleId,
        member: MemberId,
    ) -> Result<BTreeMap<MemberId, u64>, EngineError> {
        let mut key = id.as_bytes().to_vec();
        key.extend_from_slice(member.as_bytes());
        let Some(bytes) = self
            .store
            .blob(BlobKind::PeerVersions, &key)
            .map_err(EngineError::store)?
        else {
            return Ok(BTreeMap::new());
        };
        let have: Vec<(MemberId, u64)> = postcard::from_bytes(&bytes).unwrap_or_default();
        Ok(have.into_iter().collect())
    }

    fn record_rejections(
        &self,
        id: CircleId,
        rejected: &[RejectionView],
    ) -> Result<(), EngineError> {
        for view in rejected {
            let mut key = id.as_bytes().to_vec();
            key.extend_from_slice(&chrono::Utc::now().timestamp_micros().to_be_bytes());
            key.extend_from_slice(&circlekeep_seal::random_bytes::<4>());
            let record = StoredRejection {
                at: circle::now(),
                view: view.clone(),
            };
            let value =
                postcard::to_stdvec(&record).map_err(|e| EngineError::Corrupt(e.to_string()))?;
            self.store
                .put_blob(BlobKind::Report, &key, Some(&value))
                .map_err(EngineError::store)?;
        }
        Ok(())
    }

    /// Records refused from a circle's bundles and peers, oldest first.
    pub fn rejections(&self, id: CircleId) -> Result<Vec<(String, RejectionView)>, EngineError> {
        let rows = self
            .store
            .blobs(BlobKind::Report, id.as_bytes())
            .map_err(EngineError::store)?;
        Ok(rows
            .into_iter()
            .filter_map(|(_, v)| postcard::from_bytes::<StoredRejection>(&v).ok())
            .map(|r| (r.at, r.view))
            .collect())
    }

    /// The heads of every document this device can read, for checking that
    /// devices converged: document id → sorted change hashes (hex).
    pub fn heads(&self, id: CircleId) -> Result<BTreeMap<String, Vec<String>>, EngineError> {
        self.with_circle(id, |c, _| Ok(c.heads()))
    }

    /// A device setting (not circle content), e.g. `relay`.
    pub fn setting(&self, key: &str) -> Result<Option<String>, EngineError> {
        let value = self
            .store
            .blob(BlobKind::Setting, key.as_bytes())
            .map_err(EngineError::store)?;
        Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The sync node's settings: `chosen` where given, else this device's
    /// `relay` and `local-discovery` settings, else iroh's relays and local
    /// discovery on.
    pub fn node_config(&self, chosen: &NetChoice) -> Result<NodeConfig, EngineError> {
        let relay = match &chosen.relay {
            Some(r) => r.clone(),
            None => self.setting("relay")?.unwrap_or_else(|| "default".into()),
        };
        let local_discovery = match chosen.local_discovery {
            Some(on) => on,
            None => self.setting("local-discovery")?.as_deref() != Some("off"),
        };
        Ok(NodeConfig {
            relay: relay.parse::<Relay>()?,
            local_discovery,
            bind: chosen.bind,
        })
    }

    /// Sets the device's network settings (each if given): `relay` is
    /// `default`, `disabled` or an iroh-relay URL. Returns what a node
    /// started with no overrides now uses.
    pub fn set_network(
        &self,
        relay: Option<&str>,
        local_discovery: Option<bool>,
    ) -> Result<NodeConfig, EngineError> {
        if let Some(relay) = relay {
            relay.parse::<Relay>()?;
            self.set_setting("relay", Some(relay.trim()))?;
        }
        if let Some(on) = local_discovery {
            self.set_setting("local-discovery", Some(if on { "on" } else { "off" }))?;
        }
        self.node_config(&NetChoice::default())
    }

    /// Sets (or with `None` clears) a device setting.
    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<(), EngineError> {
        self.store
            .put_blob(BlobKind::Setting, key.as_bytes(), value.map(str::as_bytes))
            .map_err(EngineError::store)?;
        self.store.flush().map_err(EngineError::store)
    }

    /// Writes every changed circle's sealed cache and flushes the store.
    /// Call it when idle and before exiting; entries are already durable,
    /// the cache only makes the next start faster.
    pub fn checkpoint(&self) -> Result<(), EngineError> {
        let mut circles = self.lock();
        let ctx = self.ctx();
        for runtime in circles.values_mut() {
            runtime.checkpoint(&ctx)?;
        }
        self.store.flush().map_err(EngineError::store)
    }
}

/// When a running device writes its caches: once changes have been quiet
/// for a moment, and at least this often while they keep coming.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointPolicy {
    /// Quiet time after the last change.
    pub quiet: std::time::Duration,
    /// Longest time a change waits to be cached.
    pub at_most: std::time::Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            quiet: std::time::Duration::from_secs(2),
            at_most: std::time::Duration::from_secs(30),
        }
    }
}

impl<S: Store + Send + Sync + 'static> Engine<S> {
    /// Writes caches whenever changes settle, until the engine is dropped,
    /// so the next start reads a fresh cache instead of replaying entries
    /// even if this process is killed.
    pub async fn checkpoint_when_settled(engine: std::sync::Weak<Self>, policy: CheckpointPolicy) {
        use tokio::sync::broadcast::error::RecvError;
        let Some(mut changes) = engine.upgrade().map(|e| e.subscribe()) else {
            return;
        };
        loop {
            if let Err(RecvError::Closed) = changes.recv().await {
                return;
            }
            let first = tokio::time::Instant::now();
            loop {
                let deadline =
                    (tokio::time::Instant::now() + policy.quiet).min(first + policy.at_most);
                match tokio::time::timeout_at(deadline, changes.recv()).await {
                    Err(_elapsed) => break,
                    Ok(Err(RecvError::Closed)) => return,
                    Ok(_) => continue,
                }
            }
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let written = tokio::task::spawn_blocking(move || engine.checkpoint()).await;
            if let Ok(Err(e)) = written {
                tracing::warn!("cannot write caches: {e}");
            }
        }
    }
}

/// Refuses a splice that inserts more than a whole note may hold.
fn check_inserted(edits: &[TextEdit]) -> Result<(), EngineError> {
    let inserted: usize = edits.iter().map(|e| e.insert.chars().count()).sum();
    if inserted > MAX_TEXT_CHARS {
        return Err(EngineError::BadText(
            "that edit inserts too much text at once",
        ));
    }
    Ok(())
}

/// Checks that `note` exists in gathering `gathering` of this circle.
fn require_note(c: &CircleRuntime, gathering: DocId, note: &str) -> Result<(), EngineError> {
    let doc = c
        .doc(&gathering)
        .filter(|_| !gathering.is_circle())
        .ok_or_else(|| EngineError::UnknownGathering(gathering.short()))?;
    if docs::has_note(doc, note) {
        Ok(())
    } else {
        Err(EngineError::UnknownNote(note.to_owned()))
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredRejection {
    at: String,
    view: RejectionView,
}

/// A stored YYYY-MM-DD date (today if unreadable).
fn practice_date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_else(|_| today())
}

/// Network settings chosen for one run (command-line flags); `None`
/// leaves the choice to the device's settings.
#[derive(Clone, Debug, Default)]
pub struct NetChoice {
    /// `default`, `disabled` or a relay URL.
    pub relay: Option<String>,
    /// Local-network discovery on or off.
    pub local_discovery: Option<bool>,
    /// Address to listen on.
    pub bind: Option<SocketAddr>,
}

/// Today's date on this device's clock.
pub fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

/// Why a selector picked nothing, or too much.
enum Miss {
    None,
    Many,
}

impl Miss {
    fn into_error(self, selector: &str, none: fn(String) -> EngineError) -> EngineError {
        match self {
            Miss::None => none(selector.trim().to_owned()),
            Miss::Many => EngineError::Ambiguous(selector.trim().to_owned()),
        }
    }
}

/// Picks the one item a person meant: by id prefix (4+ hex digits), else by
/// exact name, else by name prefix (names compared case-insensitively).
fn select<'a, T>(
    items: &'a [T],
    selector: &str,
    id: impl Fn(&T) -> &str,
    name: impl Fn(&T) -> Option<&str>,
) -> Result<&'a T, Miss> {
    let wanted = selector.trim().to_lowercase();
    let rules: [&dyn Fn(&T) -> bool; 3] = [
        &|t| wanted.len() >= 4 && id(t).starts_with(&wanted),
        &|t| name(t).is_some_and(|n| n.to_lowercase() == wanted),
        &|t| !wanted.is_empty() && name(t).is_some_and(|n| n.to_lowercase().starts_with(&wanted)),
    ];
    for rule in rules {
        let mut matches = items.iter().filter(|t| rule(t));
        match (matches.next(), matches.next()) {
            (Some(one), None) => return Ok(one),
            (Some(_), Some(_)) => return Err(Miss::Many),
            _ => {}
        }
    }
    Err(Miss::None)
}

fn check_text(text: &str, max: usize) -> Result<String, EngineError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(EngineError::BadText("text cannot be empty"));
    }
    if text.chars().count() > max {
        return Err(EngineError::BadText("text is too long"));
    }
    Ok(text.to_owned())
}

fn random_id() -> String {
    data_encoding::HEXLOWER.encode(&circlekeep_seal::random_bytes::<8>())
}

fn short_hex(hex: &str) -> String {
    hex.chars().take(8).collect()
}

fn history_name(policy: HistoryPolicy) -> &'static str {
    match policy {
        HistoryPolicy::SinceJoining => "since-joining",
        HistoryPolicy::NewcomersSeeHistory => "newcomers-see-history",
    }
}

fn profile_names(doc: &docs::CircleDoc) -> BTreeMap<String, String> {
    doc.members
        .iter()
        .map(|(id, p)| (id.clone(), p.name.clone()))
        .collect()
}

fn member_views(
    membership: &Membership,
    names: &BTreeMap<String, String>,
    me: &MemberId,
) -> Vec<MemberView> {
    let mut views: Vec<MemberView> = membership
        .members()
        .iter()
        .map(|m| MemberView {
            id: m.to_hex(),
            short: m.short(),
            name: names.get(&m.to_hex()).cloned().unwrap_or_else(|| m.short()),
            fingerprint: fingerprint(m),
            me: m == me,
        })
        .collect();
    views.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    views
}

fn gathering_views(c: &CircleRuntime, doc: &docs::CircleDoc) -> Vec<GatheringView> {
    let mut views: Vec<GatheringView> = doc
        .gatherings
        .iter()
        .map(|(id, g)| {
            let readable = DocId::from_hex(id)
                .ok()
                .and_then(|d| c.doc(&d))
                .is_some_and(|d| docs::read_gathering(d).is_ok());
            GatheringView {
                id: id.clone(),
                short: id.chars().take(8).collect(),
                date: g.date.clone(),
                readable,
            }
        })
        .collect();
    views.sort_by(|a, b| (&a.date, &a.id).cmp(&(&b.date, &b.id)));
    views
}
