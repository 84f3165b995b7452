//! Founding a circle, loading it from the store (from its sealed cache
//! where possible), rebuilding a document from stored entries, and writing
//! the cache back.

use super::ingest::apply_apart;
use super::ready;
use super::{fold, forks, now, CircleRuntime, Ctx, Opened, Position, DEFAULT_CHARTER, LOAD_BATCH};
use crate::cache::CircleCache;
use crate::error::{EngineError, Rejection};
use automerge::{AutoCommit, Change};
use circlekeep_model::docs::{self, CircleDoc, HistoryPolicy, TEXT_ENCODING};
use circlekeep_model::membership::{Action, Membership, OpBody, OP_VERSION};
use circlekeep_model::{CircleId, DocId, MemberId};
use circlekeep_seal::signed::{sign_op, verify_entry, verify_op};
use circlekeep_seal::{random_bytes, EpochSecret};
use circlekeep_store::{BlobKind, Store};
use std::collections::BTreeMap;

impl CircleRuntime {
    /// Founds a circle with this device as its only member.
    pub fn found<S: Store>(
        ctx: &Ctx<'_, S>,
        name: &str,
        history: HistoryPolicy,
    ) -> Result<Self, EngineError> {
        let recipient = ctx.me.recipient().to_string();
        let secret = EpochSecret::generate();
        let key = secret.seal_for([recipient.as_str()])?;
        let nonce = random_bytes();
        // A linked device founds as its member, shown by its attestation.
        let action = if ctx.device_id() == ctx.member_id() {
            Action::Create {
                recipient,
                nonce,
                key,
            }
        } else {
            Action::Found {
                attestation: crate::devices::required_attestation(ctx.store, ctx.me)?,
                nonce,
                key,
            }
        };
        let body = OpBody {
            version: OP_VERSION,
            circle: None,
            author: ctx.device_id(),
            deps: Vec::new(),
            action,
        };
        let genesis = sign_op(ctx.me, body);
        let id = CircleId::from(genesis.hash);
        ctx.store
            .put_ops(&id, &[(genesis.hash, &genesis.signed)])
            .map_err(EngineError::store)?;
        let (membership, _) = Membership::build(id, [genesis.clone()]);
        let mut circle = Self::empty(id, membership);
        circle.keyring.insert_full(genesis.hash, secret);
        // Who gets which key is the log's: the founder's choice is signed
        // there (the document's field only mirrors it for older readers).
        if history == HistoryPolicy::NewcomersSeeHistory {
            circle.append_op(ctx, Action::Policy { history: true }, None)?;
        }
        let me = ctx.member_id().to_hex();
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
        circle.invitation = crate::invitations::is_invitation(ctx.store, &id)?;
        circle.folding = fold::Folding::load(ctx, &id)?;
        circle.forks = forks::load(ctx, &id)?;
        for author in circle.membership.ever_devices() {
            if let Some(tip) = circle.stored_tip(ctx, &author)? {
                circle.tips.insert(author, tip);
            }
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
                let mut cut = false;
                for (seq, bytes) in chunk {
                    match verify_entry(&bytes) {
                        Ok(entry) => batch.push(((author, seq), entry.body)),
                        Err(e) => {
                            cut = circle.damaged_on_replay(ctx, &author, seq, &e.to_string())?;
                            if cut {
                                break;
                            }
                        }
                    }
                }
                circle.open_and_apply(ctx, batch);
                if cut {
                    break;
                }
                after = last;
            }
        }
        circle.retry_unreadable(ctx)?;
        // A cut stored after the cache was written voids what it covers.
        circle.enforce_cuts(ctx)?;
        Ok(circle)
    }

    /// Restores documents, keys and bookkeeping from the sealed cache, and
    /// re-applies the entries whose changes were still queued. Returns what
    /// the cache covers, or `None` (and a clean slate) if it is unusable.
    pub(super) fn restore_cache<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
    ) -> Option<BTreeMap<MemberId, u64>> {
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
            doc.set_actor(ctx.device_id().as_bytes().as_slice().into());
            docs.insert(id, doc);
        }
        let mut reload = Vec::with_capacity(cache.queued.len() + cache.void.len());
        // Queued and void entries are not in the saved documents.
        for (author, seq) in cache.queued.into_iter().chain(cache.void) {
            let entry = ctx.store.entry(&self.id, &author, seq).ok().flatten()?;
            reload.push(((author, seq), verify_entry(&entry).ok()?.body));
        }
        self.docs = docs;
        self.circle_view.get_mut().take();
        self.keyring.import(cache.keys);
        self.keyring.mark_tried(cache.tried);
        self.rejected = cache.rejected.into_iter().collect();
        self.dormant.awake = cache.awake.into_iter().collect();
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

    /// Builds document `doc_id` afresh from every stored entry of it this
    /// device reads and `batch` (whose application failed midway), each
    /// entry after those it depends on: tried on a copy and split in halves
    /// while it fails, so only entries Automerge cannot take are refused.
    pub(super) fn rebuild_doc<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        doc_id: DocId,
        batch: &[(Position, Vec<Change>)],
    ) -> Result<Vec<(Position, Rejection)>, EngineError> {
        let me = ctx.device_id();
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
                            self.take_opened(position, &entry.body, doc, changes, &mut stored);
                        }
                    }
                }
                after = last;
            }
        }
        let mut refused = Vec::new();
        let mut doc = docs::new_doc(me.as_bytes());
        // Each step in an order that puts dependencies first, so no half
        // of a split needs the other; what lacks one waits again.
        let mut stored: Vec<(Position, Vec<Change>)> = stored
            .into_iter()
            .map(|(position, _, changes)| (position, changes))
            .collect();
        stored.extend(batch.iter().cloned());
        self.dormant.wake_needed(doc_id, &mut stored);
        for (position, _) in &stored {
            self.release(position);
        }
        let (ready, waiting) = ready::in_order(&mut doc, stored);
        for (item, on) in waiting {
            self.hold_back(doc_id, item, on);
        }
        apply_apart(&mut doc, &me, &ready, &mut refused);
        self.docs.insert(doc_id, doc);
        Ok(refused)
    }

    /// Re-opens stored entries this device had no key for.
    pub(super) fn retry_unreadable<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
    ) -> Result<(), EngineError> {
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
            void: self.dormant.positions().copied().collect(),
            awake: self.dormant.awake.iter().copied().collect(),
        };
        let sealed = cache.seal(&ctx.me.local_key());
        ctx.store
            .put_blob(BlobKind::Cache, self.id.as_bytes(), Some(&sealed))
            .map_err(EngineError::store)?;
        self.dirty = false;
        Ok(())
    }
}
