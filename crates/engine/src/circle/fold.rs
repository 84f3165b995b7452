//! Folding this device's own log: runs of its entries in one document and
//! one epoch become one fold each (the run's changes as an Automerge
//! bundle, sealed and signed like any entry), which a member catching up
//! receives instead of the run's entries one by one.
//!
//! Folds are made at checkpoints, never while typing. The run still being
//! written is folded again each time it has doubled, so the work stays
//! linear in the entries; a run ends at an entry of another document or
//! epoch, or at [`FOLD_MAX_OPS`] operations (what one apply may cost a
//! receiver while the app waits). This device keeps its own entries as
//! well: a peer gets a fold where it starts right after what the peer
//! holds, or where it covers the peer's next entry and is smaller than the
//! entries the peer lacks of it.

use super::{CircleRuntime, Ctx, Opened};
use crate::error::{EngineError, Rejection};
use automerge::{Change, ChangeHash};
use circlekeep_model::entry::{Content, EntryBody, Fold, Payload, FOLD_VERSION};
use circlekeep_model::{CircleId, DocId, EntryHash, MemberId, OpHash};
use circlekeep_seal::content;
use circlekeep_seal::signed::{sign_entry, verify_entry, MAX_ENTRY_BYTES};
use circlekeep_store::{BlobKind, Store};
use std::collections::BTreeMap;

/// Shortest run worth a fold.
pub const FOLD_MIN_ENTRIES: u64 = 16;
/// Most entries one fold stands for.
pub const FOLD_MAX_ENTRIES: u64 = 4096;
/// Most Automerge operations in one fold: applying about this many takes a
/// receiver some tens of milliseconds, which the app may have to wait.
pub const FOLD_MAX_OPS: usize = 32 * 1024;

/// The least a signed, sealed entry takes (one keystroke's takes about 520
/// bytes): a fold covering entries a peer partly holds is sent if it is
/// smaller than this many bytes per entry it lacks.
const MIN_ENTRY_BYTES: usize = 256;

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
    changes: Vec<ChangeHash>,
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
        let me = ctx.me_id();
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
                            self.folding.settled = seq - 1;
                            self.folding.open = Some(Run {
                                first: seq,
                                last: seq,
                                prev: entry.body.prev,
                                last_hash: entry.hash,
                                epoch: entry.body.epoch,
                                doc,
                                membership: entry.body.membership.clone(),
                                changes: changes.iter().map(Change::hash).collect(),
                                ops,
                                folded: 0,
                            });
                        } else if let Some(run) = self.folding.open.as_mut() {
                            run.last = seq;
                            run.last_hash = entry.hash;
                            run.membership = entry.body.membership.clone();
                            run.changes.extend(changes.iter().map(Change::hash));
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
        let Some(doc) = self.docs.get(&run.doc) else {
            return skip("its document is not held");
        };
        let bundle = match doc.bundle(run.changes.iter().copied()) {
            Ok(bundle) => bundle.bytes().to_vec(),
            Err(e) => return skip(&e.to_string()),
        };
        // Automerge's bundle format is young: only a bundle that gives back
        // exactly the run's changes is used.
        let mut back: Vec<ChangeHash> = match decode_bundle(&bundle) {
            Ok(changes) => changes.iter().map(Change::hash).collect(),
            Err(e) => return skip(&e.to_string()),
        };
        let mut wanted = run.changes.clone();
        back.sort();
        wanted.sort();
        if back != wanted {
            return skip("the bundle does not give back the run's changes");
        }
        let Some(key) = self.keyring.content_key(&run.epoch, &run.doc) else {
            return skip("no key for its epoch");
        };
        let payload = Payload {
            doc: run.doc,
            content: Content::Bundle(bundle),
        };
        // Serialising plain data into memory cannot fail.
        #[allow(clippy::expect_used)]
        let plaintext =
            zeroize::Zeroizing::new(postcard::to_stdvec(&payload).expect("payload serialises"));
        let body = EntryBody {
            version: FOLD_VERSION,
            circle: self.id,
            author: ctx.me_id(),
            seq: run.last,
            prev: run.prev,
            epoch: run.epoch,
            membership: run.membership.clone(),
            payload: content::seal(&key, &plaintext),
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
        let own = *author == ctx.me_id();
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
                if bytes >= budget {
                    break;
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

/// Decodes an Automerge bundle into its changes, containing any panic on
/// hostile bytes.
pub(super) fn decode_bundle(bytes: &[u8]) -> Result<Vec<Change>, Rejection> {
    let decoded = std::panic::catch_unwind(|| {
        let bundle = automerge::Bundle::try_from(bytes).map_err(|e| e.to_string())?;
        bundle.to_changes().map_err(|e| e.to_string())
    });
    match decoded {
        Ok(Ok(changes)) if !changes.is_empty() => Ok(changes),
        Ok(Ok(_)) => Err(Rejection::MalformedPayload),
        Ok(Err(e)) => Err(Rejection::BadChange(e)),
        Err(_) => Err(Rejection::BadChange("bundle could not be decoded".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::decode_bundle;
    use automerge::{ReadDoc, ROOT};
    use circlekeep_model::docs::new_doc;
    use data_encoding::HEXLOWER;

    /// A bundle automerge 0.12.0 made of three changes by actor `07…07`
    /// (a text object, then "hello", then " fold", all at time 0).
    const BUNDLE_0_12: &str = "856f4a83144c1ca603a2010001200707070707070707070707070707070707070707070707070707070707070707090102030213042304330245025004530360020300030102017f057f010205030000037f0002017e000103000c010403061104130715082102340242045604570a7002b3010400010a0000017f0109000002090000017e000208017f0474657874000a0b00010a7f040a017f000a1668656c6c6f20666f6c640b007f000a01";
    const HASHES: [&str; 3] = [
        "a6d091caf7c593a6707f7513dd6778f7323e49c05667ce5cb7ae4184a10aebed",
        "cc08ff9bb6876b852ac942d9a610b1b31326480fb1e48b9b6b34bfb4810d1049",
        "1211b61bfab515b476821feadf3acbb869cba345165689b1bbb8dbc6b617cdaf",
    ];

    /// Folds at rest hold bundles in this format: an automerge that reads it
    /// differently must fail here before it meets a stored fold.
    #[test]
    fn a_bundle_of_this_automerge_still_decodes_to_the_same_changes() {
        let bytes = HEXLOWER
            .decode(BUNDLE_0_12.as_bytes())
            .expect("fixture hex");
        let changes = decode_bundle(&bytes).expect("decodes");
        let hashes: Vec<String> = changes.iter().map(|c| c.hash().to_string()).collect();
        assert_eq!(hashes, HASHES);
        let mut doc = new_doc(&[1; 32]);
        doc.apply_changes(changes).expect("applies");
        let (_, text) = doc.get(ROOT, "text").expect("read").expect("a text object");
        assert_eq!(doc.text(&text).expect("text"), "hello fold");
    }

    /// automerge's bundle parser panics on some damaged bundles (the fuzz
    /// target `fold_import` found one): every cut of a real bundle, and
    /// bytes changed throughout it, decode or are refused; nothing escapes.
    #[test]
    fn damaged_bundles_give_typed_refusals() {
        for bytes in [&b""[..], b"\x85\x6f\x4a\x83", &[0xff; 64]] {
            assert!(decode_bundle(bytes).is_err());
        }
        let real = HEXLOWER
            .decode(BUNDLE_0_12.as_bytes())
            .expect("fixture hex");
        for cut in 0..real.len() {
            assert!(decode_bundle(&real[..cut]).is_err());
        }
        for at in (0..real.len()).step_by(7) {
            let mut damaged = real.clone();
            damaged[at] ^= 0x94;
            let _ = decode_bundle(&damaged);
        }
    }
}
