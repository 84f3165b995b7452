//! Entries a removal's cut voids (strong removal of content, the rules at
//! the top of `membership.rs` and `Membership::voids_entry`): stored and
//! kept in their chain, but neither applied nor passed on, unless an entry
//! that counts depends on one of their changes (a current member had
//! already built on it); then it is applied like any.
//!
//! Which entries sleep is a function of the records held, whatever order
//! they came in: an entry goes to sleep when it arrives void or when a
//! late cut voids it (the circle is rebuilt, [`CircleRuntime::enforce_cuts`]),
//! and wakes when an entry that counts turns out to need it.

use super::{CircleRuntime, Ctx, Position};
use crate::error::EngineError;
use automerge::{Change, ChangeHash};
use circlekeep_model::entry::EntryBody;
use circlekeep_model::{DocId, MemberId};
use circlekeep_seal::signed::verify_entry;
use circlekeep_store::Store;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The void entries held, with their decrypted changes.
#[derive(Default)]
pub(crate) struct Dormant {
    entries: BTreeMap<Position, (DocId, Vec<Change>)>,
    by_change: HashMap<(DocId, ChangeHash), Position>,
    /// Void entries applied because an entry that counts needs them.
    pub awake: BTreeSet<Position>,
}

impl Dormant {
    fn insert(&mut self, position: Position, doc: DocId, changes: Vec<Change>) {
        for change in &changes {
            self.by_change.insert((doc, change.hash()), position);
        }
        self.entries.insert(position, (doc, changes));
    }

    fn remove(&mut self, position: &Position) -> Option<(DocId, Vec<Change>)> {
        let (doc, changes) = self.entries.remove(position)?;
        for change in &changes {
            self.by_change.remove(&(doc, change.hash()));
        }
        Some((doc, changes))
    }

    /// Whether the entry at `position` sleeps.
    pub fn contains(&self, position: &Position) -> bool {
        self.entries.contains_key(position)
    }

    /// Every sleeping entry's place.
    pub fn positions(&self) -> impl Iterator<Item = &Position> {
        self.entries.keys()
    }

    /// Wakes, into `items`, every sleeping entry of `doc` that `items`
    /// need, directly or through another sleeping entry.
    pub(super) fn wake_needed(&mut self, doc: DocId, items: &mut Vec<super::ready::Item>) {
        if self.entries.is_empty() {
            return;
        }
        let mut needs: Vec<ChangeHash> = items
            .iter()
            .flat_map(|(_, changes)| changes.iter().flat_map(|c| c.deps().iter().copied()))
            .collect();
        while let Some(dep) = needs.pop() {
            let Some(position) = self.by_change.get(&(doc, dep)).copied() else {
                continue;
            };
            if let Some((_, changes)) = self.remove(&position) {
                self.awake.insert(position);
                needs.extend(changes.iter().flat_map(|c| c.deps().iter().copied()));
                items.push((position, changes));
            }
        }
    }

    /// Forgets every sleeping and woken entry (the circle is judged again).
    fn clear(&mut self) {
        self.entries.clear();
        self.by_change.clear();
        self.awake.clear();
    }
}

impl CircleRuntime {
    /// Whether a removal's cut voids this entry.
    pub(super) fn is_void(&self, body: &EntryBody) -> bool {
        self.membership
            .voids_entry(&body.author, body.seq, &body.membership)
    }

    /// Takes an opened entry: to `to_apply` if it counts, or if an entry
    /// already waiting needs it; to sleep otherwise.
    pub(super) fn take_opened(
        &mut self,
        position: Position,
        body: &EntryBody,
        doc: DocId,
        changes: Vec<Change>,
        to_apply: &mut Vec<(Position, DocId, Vec<Change>)>,
    ) {
        let awaited = changes
            .iter()
            .any(|c| self.waiting_on.contains_key(&(doc, c.hash())));
        match (self.is_void(body), awaited) {
            (false, _) => to_apply.push((position, doc, changes)),
            (true, true) => {
                self.dormant.awake.insert(position);
                to_apply.push((position, doc, changes));
            }
            (true, false) => self.dormant.insert(position, doc, changes),
        }
    }

    /// How far `author`'s log is passed on: up to its last entry that does
    /// not sleep (a sleeping entry before it is passed on too, since what
    /// follows chains on it; the receiver judges it the same way).
    pub(super) fn served_tip(&self, author: &MemberId, tip: u64) -> u64 {
        let mut seq = tip;
        while seq > 0 && self.dormant.contains(&(*author, seq)) {
            seq -= 1;
        }
        seq
    }

    /// After the log grew: if its cuts now void an entry that was applied,
    /// or no longer void one that sleeps, every document is built again
    /// from the stored entries, judged anew.
    pub(super) fn enforce_cuts<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<(), EngineError> {
        let devices = self.membership.cut_devices();
        let mut stale = self
            .dormant
            .positions()
            .any(|(author, _)| !devices.contains(author));
        for author in &devices {
            if stale {
                break;
            }
            let tip = self.tips.get(author).map_or(0, |t| t.seq);
            let mut after = 0;
            while after < tip && !stale {
                let chunk = ctx
                    .store
                    .entries_after(&self.id, author, after, super::LOAD_BATCH)
                    .map_err(EngineError::store)?;
                let Some(&(last, _)) = chunk.last() else {
                    break;
                };
                for (seq, bytes) in chunk {
                    let position = (*author, seq);
                    // Refused, unreadable and waiting entries are judged
                    // when they are applied: no need to read them here.
                    let settled = self.rejected.contains(&position)
                        || self.unreadable.contains_key(&position)
                        || self.queued.contains_key(&position);
                    if settled {
                        continue;
                    }
                    let Ok(entry) = verify_entry(&bytes) else {
                        continue;
                    };
                    let void = self.is_void(&entry.body);
                    let sleeps = self.dormant.contains(&position);
                    let woken = self.dormant.awake.contains(&position);
                    // Applied though void, or asleep though it counts.
                    if (void && !sleeps && !woken) || (!void && sleeps) {
                        stale = true;
                        break;
                    }
                }
                after = last;
            }
        }
        if stale {
            tracing::info!(circle = %self.id.short(), "a removal's cut changed what counts: rebuilding");
            let docs: BTreeSet<DocId> = self
                .docs
                .keys()
                .chain(self.dormant.entries.values().map(|(doc, _)| doc))
                .copied()
                .collect();
            self.dormant.clear();
            for doc in docs {
                for (position, why) in self.rebuild_doc(ctx, doc, &[])? {
                    self.rejected.insert(position);
                    tracing::warn!(author = %position.0.short(), seq = position.1, "stored entry refused: {why}");
                }
                // A document only void entries made is no document.
                if self
                    .docs
                    .get_mut(&doc)
                    .is_some_and(|d| d.get_heads().is_empty())
                {
                    self.docs.remove(&doc);
                }
                self.document_changed(doc);
            }
            self.dirty = true;
        }
        Ok(())
    }
}
