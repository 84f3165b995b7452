//! Receiving: operations and entries from a peer or a bundle are checked
//! (signature, circle, chain, membership, keys, authorship of every change)
//! before they are stored, then applied in one batch per document. Hostile
//! Automerge bytes are refused before Automerge parses them.

use super::{decode, fold, ready, rejection_view, CircleRuntime, Ctx, Held, Opened, Position};
use crate::error::{EngineError, Rejection};
use crate::views::ImportReport;
use automerge::{AutoCommit, Change, ChangeHash};
use circlekeep_model::docs::{self, ApplyError};
use circlekeep_model::entry::{check_append, AppendFault, Content, EntryBody, Payload, Tip};
use circlekeep_model::membership::{Membership, Op};
use circlekeep_model::{DocId, MemberId, OpHash};
use circlekeep_seal::content::{self, OpenError, SymmetricKey};
use circlekeep_seal::signed::{verify_entry, verify_op};
use circlekeep_store::{Store, StoredEntry};
use std::collections::BTreeMap;

impl CircleRuntime {
    /// Checks, stores and applies records from a peer or a bundle. Invalid
    /// records are reported and never stored or applied; the store is
    /// flushed before this returns. Returns what is now held of them.
    pub fn ingest<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        ops: &[Vec<u8>],
        entries: &[Vec<u8>],
        report: &mut ImportReport,
    ) -> Result<Held, EngineError> {
        let mut held = Held::default();
        let keys_grew = self.ingest_ops(ctx, ops, report, &mut held)?;
        self.ingest_entries(ctx, entries, report, &mut held)?;
        if keys_grew {
            self.retry_unreadable(ctx)?;
        }
        if report.ops_accepted + report.entries_accepted > 0 {
            ctx.changed(self.id);
        }
        Ok(held)
    }

    /// Returns whether this device gained keys.
    pub(super) fn ingest_ops<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        ops: &[Vec<u8>],
        report: &mut ImportReport,
        held: &mut Held,
    ) -> Result<bool, EngineError> {
        let mut fresh: BTreeMap<OpHash, Op> = BTreeMap::new();
        for bytes in ops {
            match verify_op(bytes) {
                Ok(op) if self.membership.contains(&op.hash) || fresh.contains_key(&op.hash) => {
                    held.ops.push(op.hash);
                    report.duplicates += 1;
                }
                Ok(op) => {
                    fresh.insert(op.hash, op);
                }
                Err(e) => report.refuse(rejection_view("operation", None, None, &e.into())),
            }
        }
        if fresh.is_empty() {
            return Ok(false);
        }
        let candidates = self
            .membership
            .ops()
            .iter()
            .cloned()
            .chain(fresh.values().cloned());
        let (membership, rejected) = Membership::build(self.id, candidates);
        for (hash, why) in rejected {
            let author = fresh.get(&hash).map(|op| op.body.author);
            report.refuse(rejection_view("operation", author, None, &why.into()));
        }
        let accepted: Vec<(OpHash, &[u8])> = fresh
            .values()
            .filter(|op| membership.contains(&op.hash))
            .map(|op| (op.hash, op.signed.as_slice()))
            .collect();
        if accepted.is_empty() {
            return Ok(false);
        }
        ctx.store
            .put_ops(&self.id, &accepted)
            .map_err(EngineError::store)?;
        ctx.store.flush().map_err(EngineError::store)?;
        report.ops_accepted += accepted.len();
        held.ops.extend(accepted.iter().map(|(h, _)| *h));
        let cuts = self.membership.cuts_digest();
        self.set_membership(membership);
        self.dirty = true;
        if self.membership.cuts_digest() != cuts {
            self.enforce_cuts(ctx)?;
        }
        Ok(self.keyring.absorb(&self.membership, ctx.me))
    }

    pub(super) fn ingest_entries<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        entries: &[Vec<u8>],
        report: &mut ImportReport,
        held: &mut Held,
    ) -> Result<(), EngineError> {
        let mut accepted = Vec::new();
        let mut to_apply = Vec::new();
        for entry in verified_in_order(entries, report) {
            let author = entry.body.author;
            let seq = entry.body.seq;
            let reject = |report: &mut ImportReport, why: Rejection| {
                report.refuse(rejection_view("entry", Some(author), Some(seq), &why));
            };
            if entry.body.circle != self.id {
                reject(report, AppendFault::WrongCircle.into());
                continue;
            }
            let tip = self.tips.get(&author);
            if tip.is_some_and(|t| seq <= t.seq) {
                if self.holds(ctx, &entry)? {
                    held.entries.push((author, seq));
                    report.duplicates += 1;
                } else {
                    self.fork_with_held(ctx, &entry, seq);
                    reject(report, Rejection::Fork(seq));
                }
                continue;
            }
            // A fold overlapping what is held chains onto the record before it.
            let held_before = |at| match self.chain_hash_at(ctx, &author, at) {
                Ok(hash) => hash,
                Err(e) => {
                    tracing::warn!(author = %author.short(), seq = at, "cannot read a stored entry: {e}");
                    None
                }
            };
            if let Err(fault) = check_append(&self.membership, tip, &entry.body, held_before) {
                if fault == AppendFault::BrokenChain {
                    self.fork_with_held(ctx, &entry, entry.body.first().saturating_sub(1));
                }
                if matches!(fault, AppendFault::Gap { .. }) {
                    let view = rejection_view("entry", Some(author), Some(seq), &fault.into());
                    report.refuse_early(view);
                } else {
                    reject(report, fault.into());
                }
                continue;
            }
            match self.open_entry(&entry.body) {
                Opened::Bad(why) => {
                    reject(report, why);
                    continue;
                }
                Opened::Sealed => {
                    self.unreadable.insert((author, seq), entry.body.epoch);
                }
                Opened::Content { doc, changes } => {
                    self.take_opened((author, seq), &entry.body, doc, changes, &mut to_apply)
                }
            }
            self.tips.insert(
                author,
                Tip {
                    seq,
                    hash: entry.chain_hash(),
                    membership: entry.body.membership.clone(),
                },
            );
            // This device's damaged entry, back from a member who held it.
            if author == ctx.device_id() && self.own_damaged.is_some_and(|at| seq >= at) {
                self.own_damaged = None;
            }
            accepted.push(StoredEntry {
                author,
                seq,
                bytes: entry.signed,
            });
        }
        self.store_and_apply(ctx, accepted, to_apply, report, held)
    }

    /// Stores accepted entries (flushed), then applies what they carry.
    fn store_and_apply<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        accepted: Vec<StoredEntry>,
        to_apply: Vec<(Position, DocId, Vec<Change>)>,
        report: &mut ImportReport,
        held: &mut Held,
    ) -> Result<(), EngineError> {
        if accepted.is_empty() {
            return Ok(());
        }
        if let Err(e) = ctx
            .store
            .put_entries(&self.id, &accepted)
            .and_then(|()| ctx.store.flush())
        {
            self.poisoned = true;
            return Err(EngineError::store(e));
        }
        report.entries_accepted += accepted.len();
        held.entries
            .extend(accepted.iter().map(|e| (e.author, e.seq)));
        self.dirty = true;
        for (position, why) in self.apply(ctx, to_apply) {
            report.refuse(rejection_view(
                "entry",
                Some(position.0),
                Some(position.1),
                &why,
            ));
        }
        Ok(())
    }

    /// Forgets what a change to `doc` makes stale: the circle view reads
    /// only the circle document.
    pub(super) fn document_changed(&mut self, doc: DocId) {
        if doc.is_circle() {
            self.circle_view.get_mut().take();
        }
    }

    /// Takes `membership` as the circle's; the circle view, whose names
    /// depend on who added whom, is read again.
    pub(super) fn set_membership(&mut self, membership: Membership) {
        self.membership = membership;
        self.circle_view.get_mut().take();
    }

    /// Decrypts an entry's payload and checks its changes' authorship.
    pub(super) fn open_entry(&self, body: &EntryBody) -> Opened {
        let candidates = self.keyring.candidates(&body.epoch);
        if candidates.is_empty() {
            return Opened::Sealed;
        }
        let keys: Vec<&SymmetricKey> = candidates.iter().map(|(k, _)| k).collect();
        let (index, plaintext) = match content::open(&keys, &body.payload) {
            Ok(opened) => opened,
            // Holding only the circle-document subkey, a notes entry is
            // simply not ours to read; holding both, it is broken.
            Err(OpenError::NoMatchingKey) if candidates.len() == 1 => return Opened::Sealed,
            Err(_) => return Opened::Bad(Rejection::Undecryptable),
        };
        let plaintext = zeroize::Zeroizing::new(plaintext);
        let Ok(payload) = postcard::from_bytes::<Payload>(&plaintext) else {
            return Opened::Bad(Rejection::MalformedPayload);
        };
        if payload.doc.is_circle() != candidates[index].1 {
            return Opened::Bad(Rejection::WrongKeyClass);
        }
        // An entry carries its changes, a fold its run.
        let decoded = match (body.fold.is_some(), payload.content) {
            (false, Content::Changes(raw)) if !raw.is_empty() => decode::decode_changes(raw),
            (true, Content::Run(run)) => fold::decode_run(&run),
            _ => Err(Rejection::MalformedPayload),
        };
        let changes: Vec<Change> = match decoded {
            Ok(changes) => changes,
            Err(why) => return Opened::Bad(why),
        };
        if changes
            .iter()
            .any(|c| c.actor_id().to_bytes() != body.author.as_bytes())
        {
            return Opened::Bad(Rejection::ActorMismatch);
        }
        Opened::Content {
            doc: payload.doc,
            changes,
        }
    }

    /// Opens and applies already-stored entries (loading, key arrival).
    pub(super) fn open_and_apply<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        entries: Vec<(Position, EntryBody)>,
    ) {
        let mut to_apply = Vec::with_capacity(entries.len());
        for (position, body) in entries {
            if self.rejected.contains(&position) {
                continue;
            }
            match self.open_entry(&body) {
                Opened::Content { doc, changes } => {
                    self.unreadable.remove(&position);
                    self.take_opened(position, &body, doc, changes, &mut to_apply);
                }
                Opened::Sealed => {
                    self.unreadable.insert(position, body.epoch);
                }
                Opened::Bad(why) => {
                    tracing::warn!(author = %position.0.short(), seq = position.1, "stored entry refused: {why}");
                    self.unreadable.remove(&position);
                    self.rejected.insert(position);
                    self.dirty = true;
                }
            }
        }
        for (position, why) in self.apply(ctx, to_apply) {
            tracing::warn!(author = %position.0.short(), seq = position.1, "stored entry refused: {why}");
        }
    }

    /// Applies decrypted changes to their documents in one batch per
    /// document, each entry after those it depends on; an entry lacking a
    /// dependency waits (`ready.rs`) and is applied, alone, once it
    /// arrives. Entries whose changes Automerge refuses are marked
    /// rejected. A batch Automerge fails on midway leaves its document
    /// unusable: it is rebuilt from the stored entries, and the batch's
    /// entries are tried apart ([`Self::rebuild_doc`]).
    pub(super) fn apply<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        items: Vec<(Position, DocId, Vec<Change>)>,
    ) -> Vec<(Position, Rejection)> {
        let me = ctx.device_id();
        let mut by_doc: BTreeMap<DocId, Vec<ready::Item>> = BTreeMap::new();
        for (position, doc, changes) in items {
            by_doc.entry(doc).or_default().push((position, changes));
        }
        let mut refused = Vec::new();
        for (doc_id, mut candidates) in by_doc {
            self.dirty = true;
            self.document_changed(doc_id);
            while !candidates.is_empty() {
                self.dormant.wake_needed(doc_id, &mut candidates);
                let doc = self
                    .docs
                    .entry(doc_id)
                    .or_insert_with(|| docs::new_doc(me.as_bytes()));
                let (group, waiting) = ready::in_order(doc, candidates);
                for (item, on) in waiting {
                    self.hold_back(doc_id, item, on);
                }
                let arrived: Vec<ChangeHash> = group
                    .iter()
                    .flat_map(|(_, changes)| changes.iter().map(Change::hash))
                    .collect();
                refused.extend(self.apply_group(ctx, doc_id, &group));
                candidates = self.woken_by(doc_id, &arrived);
            }
        }
        for (position, _) in &refused {
            self.rejected.insert(*position);
            self.release(position);
        }
        refused
    }

    /// Applies entries whose dependencies are all in `doc_id` (or earlier
    /// in `group`) as one batch; returns those Automerge refuses.
    fn apply_group<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        doc_id: DocId,
        group: &[ready::Item],
    ) -> Vec<(Position, Rejection)> {
        let mut refused = Vec::new();
        let Some(doc) = self.docs.get_mut(&doc_id) else {
            return refused;
        };
        let all: Vec<Change> = group.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
        let mut failed_midway = false;
        match docs::apply_changes(doc, all) {
            Ok(()) => {}
            Err(ApplyError::Refused(_)) => {
                // Find the culprits; changes already applied are no-ops.
                for (position, changes) in group {
                    match docs::apply_changes(doc, changes.iter().cloned()) {
                        Ok(()) => {}
                        Err(ApplyError::Refused(e)) => {
                            refused.push((*position, Rejection::BadChange(e.to_string())))
                        }
                        Err(e) => {
                            failed_midway = true;
                            tracing::warn!(circle = %self.id.short(), "{e}: rebuilding a document");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                failed_midway = true;
                tracing::warn!(circle = %self.id.short(), "{e}: rebuilding a document");
            }
        }
        if failed_midway {
            refused.clear();
            match self.rebuild_doc(ctx, doc_id, group) {
                Ok(found) => refused.extend(found),
                Err(e) => {
                    tracing::warn!(circle = %self.id.short(), "cannot rebuild a document: {e}");
                    self.docs.remove(&doc_id);
                    self.poisoned = true;
                }
            }
        }
        refused
    }
}

/// The entries whose signatures verify, in each author's order; the
/// others reported.
fn verified_in_order(
    entries: &[Vec<u8>],
    report: &mut ImportReport,
) -> Vec<circlekeep_model::entry::Entry> {
    let mut verified = Vec::with_capacity(entries.len());
    for bytes in entries {
        match verify_entry(bytes) {
            Ok(entry) => verified.push(entry),
            Err(e) => report.refuse(rejection_view("entry", None, None, &e.into())),
        }
    }
    verified.sort_by_key(|e| (e.body.author, e.body.seq));
    verified
}

/// Applies `group` to `doc` through a copy, adopted only if Automerge takes
/// it whole; a group it fails on is split in halves, down to the entries
/// it cannot take, which are refused.
pub(super) fn apply_apart(
    doc: &mut AutoCommit,
    me: &MemberId,
    group: &[(Position, Vec<Change>)],
    refused: &mut Vec<(Position, Rejection)>,
) {
    let Some(((only, _), rest)) = group.split_first() else {
        return;
    };
    let mut trial = doc.fork();
    trial.set_actor(me.as_bytes().as_slice().into());
    let changes: Vec<Change> = group.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
    match docs::apply_changes(&mut trial, changes) {
        Ok(()) => *doc = trial,
        Err(e) if rest.is_empty() => refused.push((*only, Rejection::BadChange(e.to_string()))),
        Err(_) => {
            let (first, second) = group.split_at(group.len() / 2);
            apply_apart(doc, me, first, refused);
            apply_apart(doc, me, second, refused);
        }
    }
}
