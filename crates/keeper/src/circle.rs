//! One kept circle: its membership log, rebuilt from the signed
//! operations, and each device's last entry; taking records in with every
//! check that needs no key, and reading out what a device lacks.

use crate::{store_error, KeeperError};
use circlekeep_model::entry::{check_append, Entry, Tip};
use circlekeep_model::membership::{Membership, Op};
use circlekeep_model::{CircleId, EntryHash, MemberId, OpHash};
use circlekeep_seal::signed::{verify_entry, verify_op};
use circlekeep_store::{BlobKind, Store, StoredEntry};
use circlekeep_sync::{Records, Summary};
use std::collections::BTreeMap;

/// What one batch of records did.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub ops: Vec<OpHash>,
    pub entries: Vec<(MemberId, u64)>,
    pub accepted: usize,
    pub refused: usize,
}

pub(crate) struct KeptCircle {
    membership: Membership,
    tips: BTreeMap<MemberId, Tip>,
    /// Bytes of records stored (counted in the store beside them).
    bytes: u64,
    /// What the circle may store here.
    quota: u64,
}

/// Where a circle's stored bytes are counted.
fn counter_key(id: &CircleId) -> Vec<u8> {
    [b"bytes/".as_slice(), id.as_bytes()].concat()
}

impl KeptCircle {
    /// The circle as stored.
    pub fn load<S: Store>(store: &S, id: CircleId, quota: u64) -> Result<Self, KeeperError> {
        let ops = store.ops(&id).map_err(store_error)?;
        let ops = ops.iter().filter_map(|b| verify_op(b).ok());
        let (membership, _) = Membership::build(id, ops);
        let mut tips = BTreeMap::new();
        for device in membership.ever_devices() {
            if let Some((_, bytes)) = store.last_entry(&id, &device).map_err(store_error)? {
                if let Ok(entry) = verify_entry(&bytes) {
                    tips.insert(device, tip_of(&entry));
                }
            }
        }
        let counted = store
            .blob(BlobKind::Setting, &counter_key(&id))
            .map_err(store_error)?
            .and_then(|b| Some(u64::from_le_bytes(b.try_into().ok()?)));
        let mut circle = KeptCircle {
            membership,
            tips,
            bytes: 0,
            quota,
        };
        circle.bytes = match counted {
            Some(bytes) => bytes,
            None => circle.count(store)?,
        };
        Ok(circle)
    }

    /// Counts the bytes stored (a folder from before the counter).
    fn count<S: Store>(&self, store: &S) -> Result<u64, KeeperError> {
        let all = self.records_since(store, &Summary::default(), usize::MAX)?;
        Ok(all.byte_len() as u64)
    }

    /// Whether `more` bytes still fit in the quota (counting them if so).
    fn fits(&mut self, more: usize) -> bool {
        let after = self.bytes.saturating_add(more as u64);
        (after <= self.quota).then(|| self.bytes = after).is_some()
    }

    /// A circle first shown here by `ops`, if they found it and make
    /// `device` a current device of it (nothing is stored yet).
    pub fn adopt(id: CircleId, ops: &[Vec<u8>], device: &MemberId, quota: u64) -> Option<Self> {
        let ops = ops.iter().filter_map(|b| verify_op(b).ok());
        let (membership, _) = Membership::build(id, ops);
        membership
            .devices()
            .contains_key(device)
            .then(|| KeptCircle {
                membership: Membership::build(id, []).0,
                tips: BTreeMap::new(),
                bytes: 0,
                quota,
            })
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    pub fn ops(&self) -> usize {
        self.membership.ops().len()
    }

    pub fn entries(&self) -> u64 {
        self.tips.values().map(|t| t.seq).sum()
    }

    pub fn summary(&self) -> Summary {
        Summary {
            have: self.tips.iter().map(|(a, t)| (*a, t.seq)).collect(),
            ops: self.membership.ops().iter().map(|op| op.hash).collect(),
            tips: self.tips.iter().map(|(a, t)| (*a, t.hash)).collect(),
        }
    }

    /// Checks and stores operations and entries (flushed before this
    /// returns).
    pub fn take<S: Store>(
        &mut self,
        store: &S,
        ops: &[Vec<u8>],
        entries: &[Vec<u8>],
    ) -> Result<Taken, KeeperError> {
        let mut taken = Taken::default();
        self.take_ops(store, ops, &mut taken)?;
        self.take_entries(store, entries, &mut taken)?;
        Ok(taken)
    }

    fn take_ops<S: Store>(
        &mut self,
        store: &S,
        ops: &[Vec<u8>],
        taken: &mut Taken,
    ) -> Result<(), KeeperError> {
        let mut fresh: BTreeMap<OpHash, Op> = BTreeMap::new();
        for bytes in ops {
            match verify_op(bytes) {
                Ok(op) if self.membership.contains(&op.hash) => taken.ops.push(op.hash),
                Ok(op) => {
                    fresh.insert(op.hash, op);
                }
                Err(_) => taken.refused += 1,
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let all = self
            .membership
            .ops()
            .iter()
            .cloned()
            .chain(fresh.values().cloned());
        let (membership, rejected) = Membership::build(self.membership.circle(), all);
        taken.refused += rejected.len();
        let accepted: Vec<(OpHash, &[u8])> = fresh
            .values()
            .filter(|op| membership.contains(&op.hash))
            .map(|op| (op.hash, op.signed.as_slice()))
            .collect();
        if accepted.is_empty() {
            return Ok(());
        }
        // Counted, never refused for the quota: a removal must always get
        // in (a member who filled the quota would stay let in otherwise).
        let bytes: usize = accepted.iter().map(|(_, b)| b.len()).sum();
        self.bytes = self.bytes.saturating_add(bytes as u64);
        let id = membership.circle();
        store.put_ops(&id, &accepted).map_err(store_error)?;
        self.put_count(store)?;
        store.flush().map_err(store_error)?;
        taken.accepted += accepted.len();
        taken.ops.extend(accepted.iter().map(|(h, _)| *h));
        self.membership = membership;
        Ok(())
    }

    fn take_entries<S: Store>(
        &mut self,
        store: &S,
        entries: &[Vec<u8>],
        taken: &mut Taken,
    ) -> Result<(), KeeperError> {
        let id = self.membership.circle();
        let mut verified: Vec<Entry> = Vec::with_capacity(entries.len());
        for bytes in entries {
            match verify_entry(bytes) {
                Ok(entry) => verified.push(entry),
                Err(_) => taken.refused += 1,
            }
        }
        verified.sort_by_key(|e| (e.body.author, e.body.seq));
        let (mut accepted, mut over_quota) = (Vec::new(), 0);
        for entry in verified {
            let (author, seq) = (entry.body.author, entry.body.seq);
            let tip = self.tips.get(&author);
            if tip.is_some_and(|t| seq <= t.seq) {
                if self.holds(store, &entry)? {
                    taken.entries.push((author, seq));
                } else {
                    taken.refused += 1;
                }
                continue;
            }
            let held_before = |at| chain_hash_at(store, &id, &author, at);
            let voids = || {
                self.membership
                    .voids_entry(&author, seq, &entry.body.membership)
            };
            if check_append(&self.membership, tip, &entry.body, held_before).is_err() || voids() {
                taken.refused += 1;
                continue;
            }
            if !self.fits(entry.signed.len()) {
                over_quota += 1;
                continue;
            }
            self.tips.insert(author, tip_of(&entry));
            taken.entries.push((author, seq));
            accepted.push(StoredEntry {
                author,
                seq,
                bytes: entry.signed,
            });
        }
        if over_quota > 0 {
            tracing::warn!(circle = %id.short(), refused = over_quota, "a circle is past its quota here");
            taken.refused += over_quota;
        }
        if accepted.is_empty() {
            return Ok(());
        }
        taken.accepted += accepted.len();
        store.put_entries(&id, &accepted).map_err(store_error)?;
        self.put_count(store)?;
        store.flush().map_err(store_error)
    }

    /// Stores the byte count beside the records (flushed with them).
    fn put_count<S: Store>(&self, store: &S) -> Result<(), KeeperError> {
        let key = counter_key(&self.membership.circle());
        store
            .put_blob(BlobKind::Setting, &key, Some(&self.bytes.to_le_bytes()))
            .map_err(store_error)
    }

    /// Whether the entry held at `entry`'s place is `entry`.
    fn holds<S: Store>(&self, store: &S, entry: &Entry) -> Result<bool, KeeperError> {
        let id = self.membership.circle();
        let held = store
            .entry(&id, &entry.body.author, entry.body.seq)
            .map_err(store_error)?;
        Ok(held.is_some_and(|bytes| bytes == entry.signed))
    }

    /// Records the holder of `known` lacks: operations, then entries in
    /// each author's order, up to about `budget` bytes.
    pub fn records_since<S: Store>(
        &self,
        store: &S,
        known: &Summary,
        budget: usize,
    ) -> Result<Records, KeeperError> {
        let id = self.membership.circle();
        let mut records = Records::default();
        let mut bytes = 0usize;
        for op in self.membership.ops() {
            if !known.ops.contains(&op.hash) {
                bytes += op.signed.len();
                records.ops.push((op.hash, op.signed.clone()));
            }
        }
        for (author, tip) in &self.tips {
            let mut after = known.have.get(author).copied().unwrap_or(0);
            while after < tip.seq && bytes < budget {
                let batch = store
                    .entries_after(&id, author, after, 64)
                    .map_err(store_error)?;
                let Some((last, _)) = batch.last() else {
                    break;
                };
                after = *last;
                for (seq, entry) in batch {
                    bytes += entry.len();
                    records.entries.push((*author, seq, entry));
                    if bytes >= budget {
                        break;
                    }
                }
            }
        }
        Ok(records)
    }
}

/// The chain hash of `author`'s entry at `seq` as stored.
fn chain_hash_at<S: Store>(
    store: &S,
    id: &CircleId,
    author: &MemberId,
    seq: u64,
) -> Option<EntryHash> {
    let bytes = store.entry(id, author, seq).ok()??;
    verify_entry(&bytes).ok().map(|e| e.chain_hash())
}

fn tip_of(entry: &Entry) -> Tip {
    Tip {
        seq: entry.body.seq,
        hash: entry.chain_hash(),
        membership: entry.body.membership.clone(),
    }
}
