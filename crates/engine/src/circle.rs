//! One circle's live state on this device: its membership, the keys held,
//! the decoded documents and the tip of every author's log. Incoming
//! operations and entries are checked here before they are stored; local
//! edits become sealed, signed and flushed entries here.

use crate::bundle::Bundle;
use crate::cache::CircleCache;
use crate::error::{EngineError, Rejection};
use crate::keyring::Keyring;
use crate::views::{ImportReport, RejectionView};
use automerge::{AutoCommit, Change, ChangeHash};
use circlekeep_model::docs::{self, ApplyError, CircleDoc, HistoryPolicy, TEXT_ENCODING};
use circlekeep_model::entry::{check_append, Content, EntryBody, Payload, Tip, ENTRY_VERSION};
use circlekeep_model::membership::{
    Action, KeyClass, KeyGrant, Membership, Op, OpBody, OP_VERSION,
};
use circlekeep_model::{CircleId, DocId, MemberId, OpHash};
use circlekeep_seal::content::{self, OpenError, SymmetricKey};
use circlekeep_seal::epoch::seal_grants;
use circlekeep_seal::signed::{sign_entry, sign_op, verify_entry, verify_op};
use circlekeep_seal::{random_bytes, DeviceIdentity, EpochSecret, MemberCard};
use circlekeep_store::{BlobKind, Store, StoredEntry};
use std::collections::{BTreeMap, BTreeSet};

mod fold;
#[cfg(feature = "test-support")]
pub(crate) use fold::encode_run;
pub use fold::{FOLD_MAX_ENTRIES, FOLD_MAX_OPS, FOLD_MIN_ENTRIES};

/// An entry's place: author and sequence number.
pub(crate) type Position = (MemberId, u64);

/// How many stored entries are decoded and applied at a time while loading.
const LOAD_BATCH: usize = 4096;

/// What the engine hands every circle operation.
pub(crate) struct Ctx<'a, S> {
    pub store: &'a S,
    pub me: &'a DeviceIdentity,
    /// Announces circles whose stored records changed.
    pub changes: &'a tokio::sync::broadcast::Sender<CircleId>,
}

impl<S: Store> Ctx<'_, S> {
    fn me_id(&self) -> MemberId {
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
    /// Applied entries whose changes wait for missing dependencies.
    queued: BTreeMap<Position, (DocId, Vec<ChangeHash>)>,
    /// Stored entries found bad after storing; never applied.
    rejected: BTreeSet<Position>,
    /// This device's folds of its own log.
    folding: fold::Folding,
    /// In-memory state differs from the cache.
    dirty: bool,
    /// In-memory state may be ahead of the store: discard and reload.
    pub poisoned: bool,
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
            rejected: BTreeSet::new(),
            folding: fold::Folding::default(),
            dirty: true,
            poisoned: false,
            circle_view: Default::default(),
        }
    }

    /// Founds a circle with this device as its only member.
    pub fn found<S: Store>(
        ctx: &Ctx<'_, S>,
        name: &str,
        history: HistoryPolicy,
    ) -> Result<Self, EngineError> {
        let recipient = ctx.me.recipient().to_string();
        let secret = EpochSecret::generate();
        let key = secret.seal_for([recipient.as_str()])?;
        let body = OpBody {
            version: OP_VERSION,
            circle: None,
            author: ctx.me_id(),
            deps: Vec::new(),
            action: Action::Create {
                recipient,
                nonce: random_bytes(),
                key,
            },
        };
        let genesis = sign_op(ctx.me, body);
        let id = CircleId::from(genesis.hash);
        ctx.store
            .put_ops(&id, &[(genesis.hash, &genesis.signed)])
            .map_err(EngineError::store)?;
        let (membership, _) = Membership::build(id, [genesis.clone()]);
        let mut circle = Self::empty(id, membership);
        circle.keyring.insert_full(genesis.hash, secret);
        let me = ctx.me_id().to_hex();
        let initial = CircleDoc {
            settings: docs::Settings {
                name: name.to_owned(),
                purpose: autosurgeon::Text::with_value(""),
                history,
                ..Default::default()
            },
            charter: docs::Charter {
                text: autosurgeon::Text::with_value(DEFAULT_CHARTER),
                accepted: [(
                    me.clone(),
                    docs::Acceptance {
                        at: now(),
                        version: docs::charter_version(DEFAULT_CHARTER),
                    },
                )]
                .into(),
            },
            members: [(
                me,
                docs::Profile {
                    name: ctx.me.name().to_owned(),
                    joined: now(),
                },
            )]
            .into(),
            ..Default::default()
        };
        circle.write(ctx, DocId::CIRCLE, |doc| {
            Ok(docs::init_circle(doc, &initial)?)
        })?;
        Ok(circle)
    }

    /// Loads a stored circle, from its sealed cache where possible.
    pub fn load<S: Store>(ctx: &Ctx<'_, S>, id: CircleId) -> Result<Self, EngineError> {
        let mut ops = Vec::new();
        for bytes in ctx.store.ops(&id).map_err(EngineError::store)? {
            match verify_op(&bytes) {
                Ok(op) => ops.push(op),
                Err(e) => {
                    tracing::warn!(circle = %id.short(), "skipping a damaged stored operation: {e}")
                }
            }
        }
        let (membership, rejected) = Membership::build(id, ops);
        if membership.ops().is_empty() {
            return Err(EngineError::UnknownCircle(id.short()));
        }
        for (hash, why) in rejected {
            tracing::warn!(circle = %id.short(), op = ?hash, "stored operation no longer valid: {why}");
        }
        let mut circle = Self::empty(id, membership);
        circle.folding = fold::Folding::load(ctx, &id)?;
        for author in circle.membership.ever_members() {
            let Some((seq, bytes)) = ctx
                .store
                .last_entry(&id, &author)
                .map_err(EngineError::store)?
            else {
                continue;
            };
            let entry = verify_entry(&bytes).map_err(|e| {
                EngineError::Corrupt(format!("stored entry {}/{seq}: {e}", author.short()))
            })?;
            circle.tips.insert(
                author,
                Tip {
                    seq,
                    hash: entry.chain_hash(),
                    membership: entry.body.membership,
                },
            );
        }

        let covered = circle.restore_cache(ctx).unwrap_or_default();
        circle.keyring.absorb(&circle.membership, ctx.me);

        // Replay what the cache does not cover, in bounded batches.
        let authors: Vec<(MemberId, u64)> = circle.tips.iter().map(|(a, t)| (*a, t.seq)).collect();
        for (author, tip) in authors {
            let mut after = covered.get(&author).copied().unwrap_or(0);
            while after < tip {
                let chunk = ctx
                    .store
                    .entries_after(&id, &author, after, LOAD_BATCH)
                    .map_err(EngineError::store)?;
                let Some(&(last, _)) = chunk.last() else {
                    break;
                };
                let mut batch = Vec::with_capacity(chunk.len());
                for (seq, bytes) in chunk {
                    let entry = verify_entry(&bytes).map_err(|e| {
                        EngineError::Corrupt(format!("stored entry {}/{seq}: {e}", author.short()))
                    })?;
                    batch.push(((author, seq), entry.body));
                }
                circle.open_and_apply(ctx, batch);
                after = last;
            }
        }
        circle.retry_unreadable(ctx)?;
        Ok(circle)
    }

    /// Restores documents, keys and bookkeeping from the sealed cache, and
    /// re-applies the entries whose changes were still queued. Returns what
    /// the cache covers, or `None` (and a clean slate) if it is unusable.
    fn restore_cache<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Option<BTreeMap<MemberId, u64>> {
        let sealed = ctx
            .store
            .blob(BlobKind::Cache, self.id.as_bytes())
            .ok()
            .flatten()?;
        let cache = CircleCache::open(&ctx.me.local_key(), &sealed)?;
        let covered: BTreeMap<MemberId, u64> = cache.covered.into_iter().collect();
        let consistent = covered
            .iter()
            .all(|(a, s)| self.tips.get(a).is_some_and(|t| t.seq >= *s));
        if !consistent {
            tracing::warn!(circle = %self.id.short(), "cache is ahead of the store; rebuilding");
            return None;
        }
        // Gather everything first: a cache that fails halfway changes nothing.
        let mut docs = BTreeMap::new();
        for (id, bytes) in cache.docs {
            let options = automerge::LoadOptions::new().text_encoding(TEXT_ENCODING);
            let mut doc = AutoCommit::load_with_options(&bytes, options).ok()?;
            doc.set_actor(ctx.me_id().as_bytes().as_slice().into());
            docs.insert(id, doc);
        }
        let mut reload = Vec::with_capacity(cache.queued.len());
        for (author, seq) in cache.queued {
            let entry = ctx.store.entry(&self.id, &author, seq).ok().flatten()?;
            reload.push(((author, seq), verify_entry(&entry).ok()?.body));
        }
        self.docs = docs;
        self.circle_view.get_mut().take();
        self.keyring.import(cache.keys);
        self.keyring.mark_tried(cache.tried);
        self.rejected = cache.rejected.into_iter().collect();
        self.unreadable = cache
            .unreadable
            .into_iter()
            .map(|(author, seq, epoch)| ((author, seq), epoch))
            .collect();
        self.dirty = false;
        // Automerge does not save changes still waiting for dependencies.
        self.open_and_apply(ctx, reload);
        Some(covered)
    }

    // ----- membership -------------------------------------------------------

    fn require_member(&self, me: &MemberId) -> Result<(), EngineError> {
        if self.membership.is_member(me) {
            Ok(())
        } else {
            Err(EngineError::NotAMember)
        }
    }

    fn recipients<'a>(
        &'a self,
        members: impl IntoIterator<Item = &'a MemberId>,
    ) -> Result<Vec<&'a str>, EngineError> {
        members
            .into_iter()
            .map(|m| {
                self.membership
                    .recipient(m)
                    .ok_or_else(|| EngineError::Corrupt(format!("no recipient for {}", m.short())))
            })
            .collect()
    }

    /// Signs, checks, stores and flushes a membership operation of ours.
    fn append_op<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        action: Action,
        secret: Option<EpochSecret>,
    ) -> Result<OpHash, EngineError> {
        let body = OpBody {
            version: OP_VERSION,
            circle: Some(self.id),
            author: ctx.me_id(),
            deps: self.membership.heads().to_vec(),
            action,
        };
        let op = sign_op(ctx.me, body);
        let hash = op.hash;
        let ops = self.membership.ops().iter().cloned().chain([op.clone()]);
        let (membership, rejected) = Membership::build(self.id, ops);
        if !membership.contains(&hash) {
            return Err(EngineError::Corrupt(format!(
                "own membership operation refused: {rejected:?}"
            )));
        }
        ctx.store
            .put_ops(&self.id, &[(hash, &op.signed)])
            .map_err(EngineError::store)?;
        ctx.store.flush().map_err(EngineError::store)?;
        self.membership = membership;
        if let Some(secret) = secret {
            self.keyring.insert_full(hash, secret);
        }
        self.dirty = true;
        ctx.changed(self.id);
        Ok(hash)
    }

    /// Adds the card's owner, writes their profile and hands them the keys
    /// of the circle document's past epochs.
    pub fn add_member<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        card: &MemberCard,
    ) -> Result<(), EngineError> {
        self.require_member(&ctx.me_id())?;
        if self.membership.is_member(&card.member) {
            return Err(EngineError::AlreadyMember(card.name.clone()));
        }
        let secret = EpochSecret::generate();
        let mut recipients = self.recipients(self.membership.members())?;
        recipients.push(&card.recipient);
        let key = secret.seal_for(recipients)?;
        self.append_op(
            ctx,
            Action::Add {
                member: card.member,
                recipient: card.recipient.clone(),
                key,
            },
            Some(secret),
        )?;
        let profile = docs::Profile {
            name: card.name.clone(),
            joined: now(),
        };
        self.write(ctx, DocId::CIRCLE, |doc| {
            Ok(docs::put_record(
                doc,
                docs::CircleMap::Members,
                &card.member.to_hex(),
                &profile,
            )?)
        })?;
        self.repair_keys(ctx)?;
        Ok(())
    }

    /// Removes a member and starts an epoch sealed to the others.
    pub fn remove_member<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        member: MemberId,
    ) -> Result<(), EngineError> {
        let me = ctx.me_id();
        self.require_member(&me)?;
        if member == me {
            return Err(EngineError::CannotRemoveSelf);
        }
        if !self.membership.is_member(&member) {
            return Err(EngineError::UnknownMember(member.short()));
        }
        let secret = EpochSecret::generate();
        let key = secret.seal_for(
            self.recipients(self.membership.members().iter().filter(|m| **m != member))?,
        )?;
        self.append_op(ctx, Action::Remove { member, key }, Some(secret))?;
        Ok(())
    }

    /// Leaves the circle (the next writer re-keys without this device).
    pub fn leave<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<(), EngineError> {
        self.require_member(&ctx.me_id())?;
        self.append_op(ctx, Action::Leave, None)?;
        Ok(())
    }

    /// The epoch to write under, re-keying first if none fits the members.
    fn ensure_write_epoch<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<OpHash, EngineError> {
        if let Some(epoch) = self.membership.write_epoch() {
            if self.keyring.full(&epoch).is_some() {
                return Ok(epoch);
            }
        }
        let secret = EpochSecret::generate();
        let key = secret.seal_for(self.recipients(self.membership.members())?)?;
        self.append_op(ctx, Action::Rekey { key }, Some(secret))
    }

    /// Hands current members the keys they lack and this device holds (the
    /// circle document's subkey of every epoch; every full secret where
    /// newcomers see history). Returns how many grants were made.
    pub fn repair_keys<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<usize, EngineError> {
        let me = ctx.me_id();
        if !self.membership.is_member(&me) {
            return Ok(0);
        }
        let history = self.history() == HistoryPolicy::NewcomersSeeHistory;
        let mut made = 0;
        for (member, wanted) in self.membership.missing_grants(history) {
            if member == me {
                continue;
            }
            // Where the full secret is owed but only the subkey is held,
            // hand over at least the subkey.
            let wanted: Vec<KeyGrant> = wanted
                .into_iter()
                .filter_map(|g| {
                    if g.class == KeyClass::Full && self.keyring.full(&g.epoch).is_none() {
                        let lacks = !self.membership.holds(&member, &g.epoch, KeyClass::Shared);
                        lacks.then_some(KeyGrant {
                            epoch: g.epoch,
                            class: KeyClass::Shared,
                        })
                    } else {
                        Some(g)
                    }
                })
                .collect();
            let keys = self.keyring.grantable(&wanted);
            let Some(recipient) = self.membership.recipient(&member) else {
                continue;
            };
            if keys.is_empty() {
                continue;
            }
            let (grants, sealed) = seal_grants(&keys, recipient)?;
            self.append_op(
                ctx,
                Action::ShareKeys {
                    to: member,
                    grants,
                    sealed,
                },
                None,
            )?;
            made += 1;
        }
        Ok(made)
    }

    // ----- writing ----------------------------------------------------------

    /// Runs `edit` on a document and turns the result into one sealed,
    /// signed entry, flushed to disk before this returns.
    pub fn write<S: Store, T>(
        &mut self,
        ctx: &Ctx<'_, S>,
        doc_id: DocId,
        edit: impl FnOnce(&mut AutoCommit) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let me = ctx.me_id();
        self.require_member(&me)?;
        let epoch = self.ensure_write_epoch(ctx)?;
        let key = self
            .keyring
            .content_key(&epoch, &doc_id)
            .ok_or_else(|| EngineError::Corrupt("no key for the current epoch".into()))?;
        self.document_changed(doc_id);
        let doc = self
            .docs
            .entry(doc_id)
            .or_insert_with(|| docs::new_doc(me.as_bytes()));
        let before = doc.get_heads();
        let value = match edit(doc) {
            Ok(value) => value,
            Err(e) => {
                doc.rollback();
                return Err(e);
            }
        };
        doc.commit();
        let changes: Vec<Vec<u8>> = doc
            .get_changes(&before)
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        if changes.is_empty() {
            return Ok(value);
        }
        match self.append_entry(ctx, epoch, doc_id, changes, &key) {
            Ok(()) => Ok(value),
            Err(e) => {
                // The document holds a change the store does not: reload.
                self.poisoned = true;
                Err(e)
            }
        }
    }

    fn append_entry<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        epoch: OpHash,
        doc: DocId,
        changes: Vec<Vec<u8>>,
        key: &SymmetricKey,
    ) -> Result<(), EngineError> {
        let me = ctx.me_id();
        let payload = Payload {
            doc,
            content: Content::Changes(changes),
        };
        let tip = self.tips.get(&me);
        let body = EntryBody {
            version: ENTRY_VERSION,
            circle: self.id,
            author: me,
            seq: tip.map_or(1, |t| t.seq + 1),
            prev: tip.map(|t| t.hash),
            epoch,
            membership: self.membership.heads().to_vec(),
            payload: seal_payload(key, &payload),
            fold: None,
        };
        let entry = sign_entry(ctx.me, body);
        ctx.store
            .put_entries(
                &self.id,
                &[StoredEntry {
                    author: me,
                    seq: entry.body.seq,
                    bytes: entry.signed.clone(),
                }],
            )
            .map_err(EngineError::store)?;
        ctx.store.flush().map_err(EngineError::store)?;
        self.tips.insert(
            me,
            Tip {
                seq: entry.body.seq,
                hash: entry.hash,
                membership: entry.body.membership,
            },
        );
        self.dirty = true;
        ctx.changed(self.id);
        Ok(())
    }

    // ----- receiving --------------------------------------------------------

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
    fn ingest_ops<S: Store>(
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
                Err(e) => report
                    .rejected
                    .push(rejection_view("operation", None, None, &e.into())),
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
            report
                .rejected
                .push(rejection_view("operation", author, None, &why.into()));
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
        self.membership = membership;
        self.dirty = true;
        Ok(self.keyring.absorb(&self.membership, ctx.me))
    }

    fn ingest_entries<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        entries: &[Vec<u8>],
        report: &mut ImportReport,
        held: &mut Held,
    ) -> Result<(), EngineError> {
        // Verify, then walk each author's log in order.
        let mut verified = Vec::with_capacity(entries.len());
        for bytes in entries {
            match verify_entry(bytes) {
                Ok(entry) => verified.push(entry),
                Err(e) => report
                    .rejected
                    .push(rejection_view("entry", None, None, &e.into())),
            }
        }
        verified.sort_by_key(|e| (e.body.author, e.body.seq));
        let mut accepted = Vec::new();
        let mut to_apply = Vec::new();
        for entry in verified {
            let author = entry.body.author;
            let seq = entry.body.seq;
            let reject = |report: &mut ImportReport, why: Rejection| {
                report
                    .rejected
                    .push(rejection_view("entry", Some(author), Some(seq), &why));
            };
            if entry.body.circle != self.id {
                reject(
                    report,
                    circlekeep_model::entry::AppendFault::WrongCircle.into(),
                );
                continue;
            }
            let tip = self.tips.get(&author);
            if tip.is_some_and(|t| seq <= t.seq) {
                if self.holds(ctx, &entry)? {
                    held.entries.push((author, seq));
                    report.duplicates += 1;
                } else {
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
                reject(report, fault.into());
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
                Opened::Content { doc, changes } => to_apply.push(((author, seq), doc, changes)),
            }
            self.tips.insert(
                author,
                Tip {
                    seq,
                    hash: entry.chain_hash(),
                    membership: entry.body.membership.clone(),
                },
            );
            accepted.push(StoredEntry {
                author,
                seq,
                bytes: entry.signed,
            });
        }
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
            report.rejected.push(rejection_view(
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
    fn document_changed(&mut self, doc: DocId) {
        if doc.is_circle() {
            self.circle_view.get_mut().take();
        }
    }

    /// Decrypts an entry's payload and checks its changes' authorship.
    fn open_entry(&self, body: &EntryBody) -> Opened {
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
            (false, Content::Changes(raw)) if !raw.is_empty() => {
                raw.into_iter().map(decode_change).collect()
            }
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
    fn open_and_apply<S: Store>(&mut self, ctx: &Ctx<'_, S>, entries: Vec<(Position, EntryBody)>) {
        let mut to_apply = Vec::with_capacity(entries.len());
        for (position, body) in entries {
            if self.rejected.contains(&position) {
                continue;
            }
            match self.open_entry(&body) {
                Opened::Content { doc, changes } => {
                    self.unreadable.remove(&position);
                    to_apply.push((position, doc, changes));
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
    /// document; entries whose changes Automerge refuses are marked rejected.
    /// A batch Automerge fails on midway leaves its document unusable: it is
    /// rebuilt from the stored entries, and the batch's entries are tried
    /// apart ([`Self::rebuild_doc`]).
    fn apply<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        items: Vec<(Position, DocId, Vec<Change>)>,
    ) -> Vec<(Position, Rejection)> {
        let me = ctx.me_id();
        let mut by_doc: BTreeMap<DocId, Vec<(Position, Vec<Change>)>> = BTreeMap::new();
        for (position, doc, changes) in items {
            by_doc.entry(doc).or_default().push((position, changes));
        }
        let mut refused = Vec::new();
        for (doc_id, group) in by_doc {
            self.dirty = true;
            self.document_changed(doc_id);
            let doc = self
                .docs
                .entry(doc_id)
                .or_insert_with(|| docs::new_doc(me.as_bytes()));
            let all: Vec<Change> = group.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
            let mut failed_midway = false;
            match docs::apply_changes(doc, all) {
                Ok(()) => {}
                Err(ApplyError::Refused(_)) => {
                    // Find the culprits; changes already applied are no-ops.
                    for (position, changes) in &group {
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
                refused.retain(|(p, _)| group.iter().all(|(q, _)| q != p));
                match self.rebuild_doc(ctx, doc_id, &group) {
                    Ok(found) => refused.extend(found),
                    Err(e) => {
                        tracing::warn!(circle = %self.id.short(), "cannot rebuild a document: {e}");
                        self.docs.remove(&doc_id);
                        self.poisoned = true;
                    }
                }
            }
            for (position, changes) in group {
                if refused.iter().any(|(p, _)| *p == position) {
                    continue;
                }
                let hashes: Vec<ChangeHash> = changes.iter().map(Change::hash).collect();
                self.queued.insert(position, (doc_id, hashes));
            }
            let mut doc = self.docs.get_mut(&doc_id);
            self.queued.retain(|_, (queued_doc, hashes)| {
                *queued_doc != doc_id
                    || hashes.iter().any(|h| {
                        doc.as_mut()
                            .is_none_or(|d| d.get_change_meta_by_hash(h).is_none())
                    })
            });
        }
        for (position, _) in &refused {
            self.rejected.insert(*position);
            self.queued.remove(position);
        }
        refused
    }

    /// Builds document `doc_id` afresh from every stored entry of it this
    /// device reads, except `batch` (whose application failed midway), then
    /// adds `batch`; each step is tried on a copy and split in halves while
    /// it fails, so only entries Automerge cannot take are refused.
    fn rebuild_doc<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        doc_id: DocId,
        batch: &[(Position, Vec<Change>)],
    ) -> Result<Vec<(Position, Rejection)>, EngineError> {
        let me = ctx.me_id();
        let mut stored = Vec::new();
        let logs: Vec<(MemberId, u64)> = self.tips.iter().map(|(a, t)| (*a, t.seq)).collect();
        for (author, tip) in logs {
            let mut after = 0;
            while after < tip {
                let chunk = ctx
                    .store
                    .entries_after(&self.id, &author, after, LOAD_BATCH)
                    .map_err(EngineError::store)?;
                let Some(&(last, _)) = chunk.last() else {
                    break;
                };
                for (seq, bytes) in chunk {
                    let position = (author, seq);
                    if self.rejected.contains(&position)
                        || batch.iter().any(|(p, _)| *p == position)
                    {
                        continue;
                    }
                    let Ok(entry) = verify_entry(&bytes) else {
                        continue;
                    };
                    if let Opened::Content { doc, changes } = self.open_entry(&entry.body) {
                        if doc == doc_id {
                            stored.push((position, changes));
                        }
                    }
                }
                after = last;
            }
        }
        let mut refused = Vec::new();
        let mut doc = docs::new_doc(me.as_bytes());
        apply_apart(&mut doc, &me, &stored, &mut refused);
        apply_apart(&mut doc, &me, batch, &mut refused);
        self.docs.insert(doc_id, doc);
        Ok(refused)
    }

    /// Re-opens stored entries this device had no key for.
    fn retry_unreadable<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<(), EngineError> {
        let now_open: Vec<Position> = self
            .unreadable
            .iter()
            .filter(|(_, epoch)| !self.keyring.candidates(epoch).is_empty())
            .map(|(p, _)| *p)
            .collect();
        if now_open.is_empty() {
            return Ok(());
        }
        let mut batch = Vec::with_capacity(now_open.len());
        for (author, seq) in now_open {
            let Some(bytes) = ctx
                .store
                .entry(&self.id, &author, seq)
                .map_err(EngineError::store)?
            else {
                self.unreadable.remove(&(author, seq));
                continue;
            };
            let entry = verify_entry(&bytes).map_err(|e| {
                EngineError::Corrupt(format!("stored entry {}/{seq}: {e}", author.short()))
            })?;
            batch.push(((author, seq), entry.body));
        }
        self.open_and_apply(ctx, batch);
        Ok(())
    }

    // ----- reading ----------------------------------------------------------

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
        let view = self
            .docs
            .get(&DocId::CIRCLE)
            .and_then(|doc| docs::read_circle(doc).ok())?;
        *self.circle_view.borrow_mut() = Some(view.clone());
        Some(view)
    }

    /// The circle's history policy (since-joining when unknown).
    pub fn history(&self) -> HistoryPolicy {
        self.doc(&DocId::CIRCLE)
            .and_then(|d| docs::read_history(d).ok())
            .unwrap_or_default()
    }

    /// What this device holds: author → last sequence number.
    pub fn version_vector(&self) -> Vec<(MemberId, u64)> {
        self.tips.iter().map(|(a, t)| (*a, t.seq)).collect()
    }

    /// What this device holds: per-author heights and operation hashes.
    pub fn summary(&self) -> circlekeep_sync::Summary {
        circlekeep_sync::Summary {
            have: self.tips.iter().map(|(a, t)| (*a, t.seq)).collect(),
            ops: self.membership.ops().iter().map(|op| op.hash).collect(),
        }
    }

    /// Records the holder of `known` lacks: every missing operation, then
    /// entries author by author, stopping once `budget` bytes are reached.
    pub fn records_since<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        known: &circlekeep_sync::Summary,
        budget: usize,
    ) -> Result<circlekeep_sync::Records, EngineError> {
        let mut records = circlekeep_sync::Records::default();
        for op in self.membership.ops() {
            if !known.ops.contains(&op.hash) {
                records.ops.push((op.hash, op.signed.clone()));
            }
        }
        let mut bytes = records.byte_len();
        for author in self.tips.keys() {
            if bytes >= budget {
                break;
            }
            let after = known.have.get(author).copied().unwrap_or(0);
            for (seq, entry) in self.log_records(ctx, author, after, budget - bytes)? {
                bytes += entry.len();
                records.entries.push((*author, seq, entry));
            }
        }
        Ok(records)
    }

    /// Entries held but not readable here.
    pub fn sealed_entries(&self) -> usize {
        self.unreadable.len()
    }

    /// Entries refused after storing.
    pub fn rejected_entries(&self) -> usize {
        self.rejected.len()
    }

    /// A bundle of all operations and the entries beyond `since`.
    pub fn export<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        since: &BTreeMap<MemberId, u64>,
    ) -> Result<Bundle, EngineError> {
        let mut entries = Vec::new();
        for author in self.tips.keys() {
            let after = since.get(author).copied().unwrap_or(0);
            for (_, bytes) in self.log_records(ctx, author, after, usize::MAX)? {
                entries.push(bytes);
            }
        }
        Ok(Bundle {
            circle: self.id,
            from: ctx.me_id(),
            have: self.version_vector(),
            ops: self
                .membership
                .ops()
                .iter()
                .map(|op| op.signed.clone())
                .collect(),
            entries,
        })
    }

    /// Writes the sealed cache if anything changed since the last one.
    pub fn checkpoint<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<(), EngineError> {
        if !self.dirty || self.poisoned {
            return Ok(());
        }
        // Folds only make catching up cheaper: never a reason not to cache.
        if let Err(e) = self.fold_own_log(ctx) {
            tracing::warn!(circle = %self.id.short(), "cannot fold this device's log: {e}");
        }
        let cache = CircleCache {
            version: 0,
            covered: self.version_vector(),
            docs: self
                .docs
                .iter_mut()
                .map(|(id, doc)| (*id, doc.save()))
                .collect(),
            keys: self.keyring.export(),
            tried: self.keyring.tried(),
            unreadable: self
                .unreadable
                .iter()
                .map(|(p, e)| (p.0, p.1, *e))
                .collect(),
            queued: self.queued.keys().copied().collect(),
            rejected: self.rejected.iter().copied().collect(),
        };
        let sealed = cache.seal(&ctx.me.local_key());
        ctx.store
            .put_blob(BlobKind::Cache, self.id.as_bytes(), Some(&sealed))
            .map_err(EngineError::store)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(feature = "test-support")]
impl CircleRuntime {
    /// Builds and signs an entry as this device with the given deviations.
    pub fn craft_entry<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        craft: crate::testing::Craft,
    ) -> Result<Vec<u8>, EngineError> {
        let me = ctx.me_id();
        let epoch = craft
            .epoch
            .or_else(|| self.membership.write_epoch())
            .ok_or(EngineError::NotAMember)?;
        let doc = craft.doc;
        let key = if craft.wrong_key_class {
            self.keyring.content_key(
                &epoch,
                &if doc.is_circle() {
                    DocId([9; 16])
                } else {
                    DocId::CIRCLE
                },
            )
        } else {
            self.keyring.content_key(&epoch, &doc)
        }
        .unwrap_or_else(|| SymmetricKey::from_bytes([0; 32]));
        let plaintext = match craft.raw_plaintext {
            Some(raw) => raw,
            None => postcard::to_stdvec(&Payload {
                doc,
                content: match craft.run {
                    Some(run) => Content::Run(run),
                    None => Content::Changes(craft.changes),
                },
            })
            .map_err(|e| EngineError::Corrupt(e.to_string()))?,
        };
        let tip = self.tips.get(&me);
        let body = EntryBody {
            version: if craft.fold.is_some() {
                circlekeep_model::entry::FOLD_VERSION
            } else {
                ENTRY_VERSION
            },
            circle: craft.circle.unwrap_or(self.id),
            author: me,
            seq: craft.seq.unwrap_or_else(|| tip.map_or(1, |t| t.seq + 1)),
            prev: craft.prev.unwrap_or_else(|| tip.map(|t| t.hash)),
            epoch,
            membership: self.membership.heads().to_vec(),
            payload: craft
                .payload
                .unwrap_or_else(|| content::seal(&key, &plaintext)),
            fold: craft.fold,
        };
        Ok(sign_entry(ctx.me, body).signed)
    }

    /// The signed folds of this device's own log, in order.
    pub fn own_folds<S: Store>(&self, ctx: &Ctx<'_, S>) -> Result<Vec<Vec<u8>>, EngineError> {
        Ok(ctx
            .store
            .blobs(BlobKind::Fold, self.id.as_bytes())
            .map_err(EngineError::store)?
            .into_iter()
            .map(|(_, fold)| fold)
            .collect())
    }

    /// The raw Automerge changes of a document held here (only `by`'s, if given).
    pub fn raw_changes(&mut self, doc: &DocId, by: Option<MemberId>) -> Vec<Vec<u8>> {
        self.docs
            .get_mut(doc)
            .map(|d| {
                d.get_changes(&[])
                    .iter()
                    .filter(|c| by.is_none_or(|m| c.actor_id().to_bytes() == m.as_bytes()))
                    .map(|c| c.raw_bytes().to_vec())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A payload sealed under `key`, as an entry (or a fold) carries it.
pub(crate) fn seal_payload(key: &SymmetricKey, payload: &Payload) -> Vec<u8> {
    // Serialising plain data into memory cannot fail.
    #[allow(clippy::expect_used)]
    let plaintext =
        zeroize::Zeroizing::new(postcard::to_stdvec(payload).expect("payload serialises"));
    content::seal(key, &plaintext)
}

/// Applies `group` to `doc` through a copy, adopted only if Automerge takes
/// it whole; a group it fails on is split in halves, down to the entries
/// it cannot take, which are refused.
fn apply_apart(
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

/// Largest Automerge change taken, once inflated (an entry is at most
/// 8 MiB signed).
const MAX_CHANGE_BYTES: u64 = 16 << 20;

/// Refuses bytes that are not one Automerge change before Automerge parses
/// them. Given other chunks (a bundle, a whole document) it parses them in
/// full before saying they are not a change, and it inflates a compressed
/// change without limit: either lets a few bytes allocate gigabytes.
fn check_change_chunk(bytes: &[u8]) -> Result<(), Rejection> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let refuse = |why: &str| Err(Rejection::BadChange(why.into()));
    if bytes.get(..4) != Some(MAGIC.as_slice()) {
        return refuse("not an Automerge change");
    }
    match bytes.get(8) {
        // A change.
        Some(1) => Ok(()),
        // A compressed change: its length (LEB128), then deflated bytes.
        Some(2) => {
            let mut at = 9;
            while bytes.get(at).is_some_and(|b| b & 0x80 != 0) {
                at += 1;
            }
            let Some(deflated) = bytes.get(at + 1..) else {
                return refuse("truncated Automerge change");
            };
            let mut inflated = std::io::Read::take(
                flate2::bufread::DeflateDecoder::new(deflated),
                MAX_CHANGE_BYTES + 1,
            );
            match std::io::copy(&mut inflated, &mut std::io::sink()) {
                Ok(n) if n <= MAX_CHANGE_BYTES => Ok(()),
                Ok(_) => refuse("compressed Automerge change inflates too far"),
                Err(_) => refuse("compressed Automerge change does not inflate"),
            }
        }
        _ => refuse("not an Automerge change"),
    }
}

/// Decodes an Automerge change, containing any panic on hostile bytes.
fn decode_change(bytes: Vec<u8>) -> Result<Change, Rejection> {
    check_change_chunk(&bytes)?;
    std::panic::catch_unwind(move || Change::from_bytes(bytes))
        .map_err(|_| Rejection::BadChange("change could not be decoded".into()))?
        .map_err(|e| Rejection::BadChange(e.to_string()))
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
        code: why.code().to_owned(),
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

#[cfg(test)]
pub(crate) mod tests {
    use super::{check_change_chunk, decode_change, MAX_CHANGE_BYTES};
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT};
    use circlekeep_model::docs::new_doc;
    use std::io::Write;

    /// At least `bytes` zero bytes, deflated (a few kilobytes).
    pub(crate) fn deflated_zeros(bytes: u64) -> Vec<u8> {
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..bytes.div_ceil(1 << 20) {
            deflate.write_all(&zeros).expect("deflate");
        }
        deflate.finish().expect("deflate")
    }

    #[test]
    fn only_change_chunks_reach_automerge_and_none_inflates_without_limit() {
        let mut doc = new_doc(&[1; 32]);
        let text = doc.put_object(ROOT, "text", ObjType::Text).expect("text");
        doc.commit();
        let small = doc
            .get_last_local_change()
            .expect("change")
            .raw_bytes()
            .to_vec();
        doc.splice_text(&text, 0, 0, &"long note ".repeat(2000))
            .expect("splice");
        doc.commit();
        let mut large = doc.get_last_local_change().expect("change").clone();
        let large = large.bytes().to_vec();
        assert_eq!(small[8], 1);
        assert_eq!(large[8], 2, "a large change compresses");
        for change in [small, large] {
            assert!(decode_change(change).is_ok());
        }
        // A whole document and a bundle are not changes: refused unparsed
        // (automerge's bundle decoder can be made to allocate gigabytes).
        let hashes: Vec<_> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
        let bundle = doc.bundle(hashes).expect("bundle").bytes().to_vec();
        for other in [doc.save(), bundle, b"not automerge".to_vec(), vec![]] {
            assert!(check_change_chunk(&other).is_err());
        }
        // A compressed change that would inflate past the limit.
        let deflated = deflated_zeros(MAX_CHANGE_BYTES + (1 << 20));
        let mut bomb = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
        let mut len = deflated.len();
        while len >= 0x80 {
            bomb.push(0x80 | (len & 0x7f) as u8);
            len >>= 7;
        }
        bomb.push(len as u8);
        bomb.extend_from_slice(&deflated);
        assert!(check_change_chunk(&bomb).is_err());
    }
}
