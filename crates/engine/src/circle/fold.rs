//! Folding this device's own log: runs of its entries in one document and
//! one epoch become one fold each (the run's changes deflated together,
//! sealed and signed like any entry), which a member catching up receives
//! instead of the run's entries one by one.
//!
//! A fold carries the run's raw Automerge changes, not automerge's compact
//! bundle (about a third of the size): automerge 0.12's bundle decoder
//! lets a few crafted bytes allocate gigabytes (fuzzing folds found one),
//! while raw changes go through the same checked decoding as every
//! entry's, inflated here within a limit.
//!
//! Folds are made at checkpoints, never while typing. The run still being
//! written is folded again each time it has doubled, so the work stays
//! linear in the entries; a run ends at an entry of another document or
//! epoch, or at [`FOLD_MAX_OPS`] operations (what one apply may cost a
//! receiver while the app waits). This device keeps its own entries as
//! well: a peer gets a fold where it starts right after what the peer
//! holds, or where it covers the peer's next entry and is smaller than the
//! entries the peer lacks of it.

use super::decode::decode_changes;
use super::write::seal_payload;
use super::{CircleRuntime, Ctx, Opened};
use crate::error::{EngineError, Rejection};
use automerge::Change;
use circlekeep_model::entry::{Content, EntryBody, Fold, Payload, FOLD_VERSION};
use circlekeep_model::{CircleId, DocId, EntryHash, MemberId, OpHash};
use circlekeep_seal::signed::{sign_entry, verify_entry, MAX_ENTRY_BYTES};
use circlekeep_store::{BlobKind, Store};
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// Shortest run worth a fold.
pub const FOLD_MIN_ENTRIES: u64 = 16;
/// Most entries one fold stands for.
pub const FOLD_MAX_ENTRIES: u64 = 4096;
/// Most Automerge operations in one fold: a receiver decodes and applies a
/// fold in one hold of its engine, which the app may have to wait for
/// (late in the automerge-paper history, 32k operations held it 133 ms and
/// 16k 102 ms).
pub const FOLD_MAX_OPS: usize = 8 * 1024;

/// The least a signed, sealed entry takes (one keystroke's takes about 520
/// bytes): a fold covering entries a peer partly holds is sent if it is
/// smaller than this many bytes per entry it lacks.
const MIN_ENTRY_BYTES: usize = 256;

/// Largest a fold's run may be once inflated.
const MAX_RUN_BYTES: u64 = 64 << 20;

/// How many own entries are read at a time while looking for runs.
const SCAN_BATCH: usize = 1024;

/// This device's folds of its own log in one circle, and how far its log
/// has been looked at.
#[derive(Default)]
pub(crate) struct Folding {
    /// Own folds held in the store: first → last sequence number.
    own: BTreeMap<u64, u64>,
    /// Own entries up to here are settled: folded, or in a run that ended.
    settled: u64,
    /// The run being written after `settled`, as far as it was read.
    open: Option<Run>,
}

/// A run of own entries in one document and epoch.
struct Run {
    first: u64,
    last: u64,
    /// Chain hash before `first` (the first entry's `prev`).
    prev: Option<EntryHash>,
    /// Hash of the entry at `last`.
    last_hash: EntryHash,
    epoch: OpHash,
    doc: DocId,
    membership: Vec<OpHash>,
    /// The run's raw changes, in order.
    changes: Vec<Vec<u8>>,
    ops: usize,
    /// Length of the run when last folded (0: never).
    folded: u64,
}

impl Run {
    fn len(&self) -> u64 {
        self.last + 1 - self.first
    }

    fn takes(&self, epoch: &OpHash, doc: &DocId, ops: usize) -> bool {
        self.epoch == *epoch
            && self.doc == *doc
            && self.ops + ops <= FOLD_MAX_OPS
            && self.len() < FOLD_MAX_ENTRIES
    }
}

/// Store key of an own fold.
fn fold_key(circle: &CircleId, first: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(circle.as_bytes());
    key.extend_from_slice(&first.to_be_bytes());
    key
}

impl Folding {
    /// Reads which own folds the store holds for `circle`.
    pub fn load<S: Store>(ctx: &Ctx<'_, S>, circle: &CircleId) -> Result<Self, EngineError> {
        let mut own = BTreeMap::new();
        for (key, bytes) in ctx
            .store
            .blobs(BlobKind::Fold, circle.as_bytes())
            .map_err(EngineError::store)?
        {
            let first = key
                .get(32..40)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes);
            match (first, verify_entry(&bytes)) {
                (Some(first), Ok(fold)) if fold.body.first() == first => {
                    own.insert(first, fold.body.seq);
                }
                _ => tracing::warn!(circle = %circle.short(), "ignoring a damaged fold"),
            }
        }
        let settled = own.values().copied().max().unwrap_or(0);
        Ok(Folding {
            own,
            settled,
            open: None,
        })
    }
}

impl CircleRuntime {
    /// Folds runs of this device's entries written since the last time.
    /// Returns how many folds were made.
    pub fn fold_own_log<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<usize, EngineError> {
        let me = ctx.device_id();
        let Some(tip) = self.tips.get(&me).map(|t| t.seq) else {
            return Ok(0);
        };
        let mut made = 0;
        let mut scanned = self
            .folding
            .open
            .as_ref()
            .map_or(self.folding.settled, |r| r.last);
        while scanned < tip {
            let chunk = ctx
                .store
                .entries_after(&self.id, &me, scanned, SCAN_BATCH)
                .map_err(EngineError::store)?;
            if chunk.is_empty() {
                break;
            }
            for (seq, bytes) in chunk {
                scanned = seq;
                let Ok(entry) = verify_entry(&bytes) else {
                    // Loading reports a damaged entry; here it ends a run.
                    made += self.end_run(ctx)?;
                    self.folding.settled = seq;
                    continue;
                };
                let readable = entry.body.fold.is_none() && !self.rejected.contains(&(me, seq));
                let opened = if readable {
                    self.open_entry(&entry.body)
                } else {
                    Opened::Sealed
                };
                match opened {
                    Opened::Content { doc, changes } => {
                        let ops: usize = changes.iter().map(Change::len).sum();
                        let extends = self
                            .folding
                            .open
                            .as_ref()
                            .is_some_and(|r| r.takes(&entry.body.epoch, &doc, ops));
                        if !extends {
                            made += self.end_run(ctx)?;
                            self.folding.open = Some(Run {
                                first: seq,
                                last: seq,
                                prev: entry.body.prev,
                                last_hash: entry.hash,
                                epoch: entry.body.epoch,
                                doc,
                                membership: entry.body.membership.clone(),
                                changes: changes.iter().map(|c| c.raw_bytes().to_vec()).collect(),
                                ops,
                                folded: 0,
                            });
                        } else if let Some(run) = self.folding.open.as_mut() {
                            run.last = seq;
                            run.last_hash = entry.hash;
                            run.membership = entry.body.membership.clone();
                            run.changes
                                .extend(changes.iter().map(|c| c.raw_bytes().to_vec()));
                            run.ops += ops;
                        }
                    }
                    // A fold held as an entry (a restored device) or an
                    // entry that could not be read ends a run.
                    Opened::Sealed | Opened::Bad(_) => {
                        made += self.end_run(ctx)?;
                        self.folding.settled = seq;
                    }
                }
            }
        }
        // The run still being written: folded again once it has doubled.
        if let Some(mut run) = self.folding.open.take() {
            let due = run.len() >= FOLD_MIN_ENTRIES && run.len() >= 2 * run.folded;
            if due && self.make_fold(ctx, &run)? {
                run.folded = run.len();
                made += 1;
            }
            self.folding.open = Some(run);
        }
        Ok(made)
    }

    /// Ends the open run, folding it if it is long enough and has grown
    /// since it was last folded.
    fn end_run<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<usize, EngineError> {
        let Some(run) = self.folding.open.take() else {
            return Ok(0);
        };
        self.folding.settled = run.last;
        let due = run.len() >= FOLD_MIN_ENTRIES && run.len() > run.folded;
        Ok(usize::from(due && self.make_fold(ctx, &run)?))
    }

    /// Writes the fold of `run`; returns false (and logs why) if this
    /// device cannot make a sound one.
    fn make_fold<S: Store>(&mut self, ctx: &Ctx<'_, S>, run: &Run) -> Result<bool, EngineError> {
        let skip = |why: &str| {
            tracing::warn!(
                first = run.first,
                last = run.last,
                "not folding a run: {why}"
            );
            Ok(false)
        };
        let Some(key) = self.keyring.content_key(&run.epoch, &run.doc) else {
            return skip("no key for its epoch");
        };
        let payload = Payload {
            doc: run.doc,
            content: Content::Run(encode_run(&run.changes)),
        };
        let body = EntryBody {
            version: FOLD_VERSION,
            circle: self.id,
            author: ctx.device_id(),
            seq: run.last,
            prev: run.prev,
            epoch: run.epoch,
            membership: run.membership.clone(),
            payload: seal_payload(&key, &payload),
            fold: Some(Fold {
                first: run.first,
                last: run.last_hash,
            }),
        };
        let signed = sign_entry(ctx.me, body).signed;
        if signed.len() > MAX_ENTRY_BYTES {
            return skip("it would be too large");
        }
        ctx.store
            .put_blob(
                BlobKind::Fold,
                &fold_key(&self.id, run.first),
                Some(&signed),
            )
            .map_err(EngineError::store)?;
        self.folding.own.insert(run.first, run.last);
        Ok(true)
    }

    /// Up to `budget` bytes of `author`'s records after `after`, in order:
    /// in this device's own log its folds where they fit
    /// ([`Self::fold_to_send`]), otherwise the stored records.
    pub(super) fn log_records<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        author: &MemberId,
        mut after: u64,
        budget: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, EngineError> {
        let Some(tip) = self.tips.get(author).map(|t| t.seq) else {
            return Ok(Vec::new());
        };
        let tip = self.served_tip(author, tip);
        let own = *author == ctx.device_id();
        let mut records = Vec::new();
        let mut bytes = 0;
        while after < tip && bytes < budget {
            if own {
                if let Some(fold) = self.fold_to_send(ctx, after)? {
                    bytes += fold.1.len();
                    after = fold.0;
                    records.push(fold);
                    continue;
                }
            }
            // Entries up to where the next own fold starts.
            let next_fold = own
                .then(|| self.folding.own.range(after + 2..).next().map(|(f, _)| *f))
                .flatten();
            let limit = next_fold.map_or(64, |f| (f - after - 1).min(64)) as usize;
            let chunk = ctx
                .store
                .entries_after(&self.id, author, after, limit)
                .map_err(EngineError::store)?;
            if chunk.is_empty() {
                break;
            }
            for (seq, entry) in chunk {
                // An entry found bad keeps its place (its author's later
                // entries chain on it) but is passed on to nobody: every
                // device would pay for it again, and what follows it
                // cannot be taken without it.
                if bytes >= budget || self.rejected.contains(&(*author, seq)) {
                    return Ok(records);
                }
                bytes += entry.len();
                after = seq;
                records.push((seq, entry));
            }
        }
        Ok(records)
    }

    /// The own fold to send a peer holding this device's log up to `after`:
    /// one that starts right after it, or one that covers its next entry
    /// and is smaller than the entries of it the peer lacks would be.
    fn fold_to_send<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        after: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, EngineError> {
        let Some((&first, &last)) = self.folding.own.range(..=after + 1).next_back() else {
            return Ok(None);
        };
        if last <= after {
            return Ok(None);
        }
        let fold = ctx
            .store
            .blob(BlobKind::Fold, &fold_key(&self.id, first))
            .map_err(EngineError::store)?;
        let lacking = usize::try_from(last - after).unwrap_or(usize::MAX);
        Ok(fold
            .filter(|f| first == after + 1 || f.len() < lacking.saturating_mul(MIN_ENTRY_BYTES))
            .map(|f| (last, f)))
    }

    /// The chain hash held at `seq` in `author`'s log (`None` at 0 or if
    /// no record is held there).
    pub(super) fn chain_hash_at<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        author: &MemberId,
        seq: u64,
    ) -> Result<Option<EntryHash>, EngineError> {
        if seq == 0 {
            return Ok(None);
        }
        if let Some(tip) = self.tips.get(author).filter(|t| t.seq == seq) {
            return Ok(Some(tip.hash));
        }
        let stored = ctx
            .store
            .entry(&self.id, author, seq)
            .map_err(EngineError::store)?;
        Ok(stored
            .and_then(|bytes| verify_entry(&bytes).ok())
            .map(|e| e.chain_hash()))
    }

    /// Whether `entry`, at or below the author's tip here, is what this
    /// device holds at its place: the same chain hash there, or a place
    /// inside a fold held here (which cannot be told apart from a fork
    /// without the run's entries; nothing of it is stored or applied).
    pub(super) fn holds<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        entry: &circlekeep_model::entry::Entry,
    ) -> Result<bool, EngineError> {
        let (author, seq) = (entry.body.author, entry.body.seq);
        if let Some(held) = self.chain_hash_at(ctx, &author, seq)? {
            return Ok(held == entry.chain_hash());
        }
        let next = ctx
            .store
            .entries_after(&self.id, &author, seq, 1)
            .map_err(EngineError::store)?;
        Ok(next
            .first()
            .and_then(|(_, bytes)| verify_entry(bytes).ok())
            .is_some_and(|n| n.body.first() <= seq))
    }
}

/// A run's raw changes as a fold carries them: postcard, deflated.
pub(crate) fn encode_run(changes: &[Vec<u8>]) -> Vec<u8> {
    // Serialising and deflating into memory cannot fail.
    #[allow(clippy::expect_used)]
    let plain = zeroize::Zeroizing::new(postcard::to_stdvec(changes).expect("run serialises"));
    let mut deflate =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    #[allow(clippy::expect_used)]
    deflate.write_all(&plain).expect("deflates into memory");
    #[allow(clippy::expect_used)]
    deflate.finish().expect("deflates into memory")
}

/// Decodes a fold's run into its changes: inflated within a limit, then
/// each change checked and decoded as an entry's are.
pub(super) fn decode_run(bytes: &[u8]) -> Result<Vec<Change>, Rejection> {
    let mut plain = zeroize::Zeroizing::new(Vec::new());
    let inflated = flate2::read::DeflateDecoder::new(bytes)
        .take(MAX_RUN_BYTES + 1)
        .read_to_end(&mut plain);
    match inflated {
        Ok(n) if n as u64 <= MAX_RUN_BYTES => {}
        Ok(_) => return Err(Rejection::BadChange("a fold's run inflates too far".into())),
        Err(_) => return Err(Rejection::MalformedPayload),
    }
    let raw: Vec<Vec<u8>> =
        postcard::from_bytes(&plain).map_err(|_| Rejection::MalformedPayload)?;
    if raw.is_empty() {
        return Err(Rejection::MalformedPayload);
    }
    decode_changes(raw)
}

#[cfg(test)]
mod tests {
    use super::{decode_run, encode_run, MAX_RUN_BYTES};
    use crate::error::Rejection;
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ReadDoc, ROOT};
    use circlekeep_model::docs::new_doc;

    #[test]
    fn a_run_decodes_to_its_changes_and_damage_is_refused() {
        let mut doc = new_doc(&[7; 32]);
        let text = doc.put_object(ROOT, "text", ObjType::Text).expect("text");
        doc.commit();
        for word in ["hello", " fold"] {
            let at = doc.length(&text);
            doc.splice_text(&text, at, 0, word).expect("splice");
            doc.commit();
        }
        let raw: Vec<Vec<u8>> = doc
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        let run = encode_run(&raw);
        let changes = decode_run(&run).expect("decodes");
        let mut back = new_doc(&[1; 32]);
        back.apply_changes(changes).expect("applies");
        assert_eq!(back.text(&text).expect("text"), "hello fold");

        for cut in 0..run.len() {
            assert!(decode_run(&run[..cut]).is_err());
        }
        assert!(matches!(
            decode_run(&encode_run(&[])),
            Err(Rejection::MalformedPayload)
        ));
        assert!(matches!(
            decode_run(&encode_run(&[b"not a change".to_vec()])),
            Err(Rejection::BadChange(_))
        ));
        // A run that would inflate past the limit is refused partway.
        let bomb = super::super::decode::tests::deflated_zeros(MAX_RUN_BYTES + (1 << 20));
        assert!(matches!(decode_run(&bomb), Err(Rejection::BadChange(_))));
    }
}
