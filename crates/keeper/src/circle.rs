//! One kept circle: its membership log, rebuilt from the signed
//! operations, and each device's last entry; taking records in with every
//! check that needs no key, and reading out what a device lacks.

use crate::{store_error, KeeperError};
use circlekeep_model::entry::{check_append, Entry, Tip};
use circlekeep_model::membership::{Membership, Op};
use circlekeep_model::{CircleId, EntryHash, MemberId, OpHash};
use circlekeep_seal::signed::{verify_entry, verify_op};
use circlekeep_store::{Store, StoredEntry};
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
}

impl KeptCircle {
    /// The circle as stored.
    pub fn load<S: Store>(store: &S, id: CircleId) -> Result<Self, KeeperError> {
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
        Ok(KeptCircle { membership, tips })
    }

    /// A circle first shown here by `ops`, if they found it and make
    /// `device` a current device of it (nothing is stored yet).
    pub fn adopt(id: CircleId, ops: &[Vec<u8>], device: &MemberId) -> Option<Self> {
        let ops = ops.iter().filter_map(|b| verify_op(b).ok());
        let (membership, _) = Membership::build(id, ops);
        membership
            .devices()
            .contains_key(device)
            .then(|| KeptCircle {
                membership: Membership::build(id, []).0,
                tips: BTreeMap::new(),
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
        let id = membership.circle();
        store.put_ops(&id, &accepted).map_err(store_error)?;
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
        let mut accepted = Vec::new();
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
            self.tips.insert(author, tip_of(&entry));
            taken.entries.push((author, seq));
            accepted.push(StoredEntry {
                author,
                seq,
                bytes: entry.signed,
            });
        }
        if accepted.is_empty() {
            return Ok(());
        }
        taken.accepted += accepted.len();
        store.put_entries(&id, &accepted).map_err(store_error)?;
        store.flush().map_err(store_error)
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
