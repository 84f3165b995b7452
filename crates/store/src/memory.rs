//! In-memory backend, for tests and benchmarks of everything above the store.

use crate::{
    blob_key, entry_key, log_prefix, op_key, seq_of, BlobKind, KeyValue, Store, StoredEntry,
};
use circlekeep_model::{CircleId, MemberId, OpHash};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Mutex, MutexGuard};

type Tree = BTreeMap<Vec<u8>, Vec<u8>>;

/// A store that lives and dies with the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    trees: Mutex<Trees>,
}

#[derive(Debug, Default)]
struct Trees {
    ops: Tree,
    entries: Tree,
    blobs: Tree,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Trees> {
        // A panic while holding the lock leaves plain maps intact: keep going.
        self.trees
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Entries whose keys start with `prefix`, as a double-ended range.
fn scan<'a>(
    tree: &'a Tree,
    prefix: &[u8],
) -> impl DoubleEndedIterator<Item = (&'a Vec<u8>, &'a Vec<u8>)> {
    use std::ops::Bound;
    // The first key after every key with this prefix: increment the last
    // byte that is not 0xff and cut what follows.
    let mut end = prefix.to_vec();
    while end.last() == Some(&0xff) {
        end.pop();
    }
    let upper = match end.last_mut() {
        Some(last) => {
            *last += 1;
            Bound::Excluded(end)
        }
        None => Bound::Unbounded,
    };
    tree.range((Bound::Included(prefix.to_vec()), upper))
}

impl Store for MemoryStore {
    type Error = Infallible;

    fn circles(&self) -> Result<Vec<CircleId>, Infallible> {
        let trees = self.lock();
        let mut circles: Vec<CircleId> = trees
            .ops
            .keys()
            .filter_map(|k| k.get(..32)?.try_into().ok().map(CircleId))
            .collect();
        circles.dedup();
        Ok(circles)
    }

    fn put_ops(&self, circle: &CircleId, ops: &[(OpHash, &[u8])]) -> Result<(), Infallible> {
        let mut trees = self.lock();
        for (hash, bytes) in ops {
            trees.ops.insert(op_key(circle, hash), bytes.to_vec());
        }
        Ok(())
    }

    fn ops(&self, circle: &CircleId) -> Result<Vec<Vec<u8>>, Infallible> {
        let trees = self.lock();
        Ok(scan(&trees.ops, circle.as_bytes())
            .map(|(_, v)| v.clone())
            .collect())
    }

    fn put_entries(&self, circle: &CircleId, entries: &[StoredEntry]) -> Result<(), Infallible> {
        let mut trees = self.lock();
        for e in entries {
            trees
                .entries
                .insert(entry_key(circle, &e.author, e.seq), e.bytes.clone());
        }
        Ok(())
    }

    fn entry(
        &self,
        circle: &CircleId,
        author: &MemberId,
        seq: u64,
    ) -> Result<Option<Vec<u8>>, Infallible> {
        Ok(self
            .lock()
            .entries
            .get(&entry_key(circle, author, seq))
            .cloned())
    }

    fn entries_after(
        &self,
        circle: &CircleId,
        author: &MemberId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, Infallible> {
        let trees = self.lock();
        let prefix = log_prefix(circle, author);
        let Some(start) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        Ok(trees
            .entries
            .range(entry_key(circle, author, start)..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, v)| Some((seq_of(k)?, v.clone())))
            .take(limit)
            .collect())
    }

    fn drop_entries_from(
        &self,
        circle: &CircleId,
        author: &MemberId,
        seq: u64,
    ) -> Result<usize, Infallible> {
        let mut trees = self.lock();
        let prefix = log_prefix(circle, author);
        let doomed: Vec<Vec<u8>> = trees
            .entries
            .range(entry_key(circle, author, seq)..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &doomed {
            trees.entries.remove(key);
        }
        Ok(doomed.len())
    }

    fn last_entry(
        &self,
        circle: &CircleId,
        author: &MemberId,
    ) -> Result<Option<(u64, Vec<u8>)>, Infallible> {
        let trees = self.lock();
        let prefix = log_prefix(circle, author);
        let last = scan(&trees.entries, &prefix)
            .next_back()
            .and_then(|(k, v)| Some((seq_of(k)?, v.clone())));
        Ok(last)
    }

    fn put_blob(&self, kind: BlobKind, key: &[u8], value: Option<&[u8]>) -> Result<(), Infallible> {
        let mut trees = self.lock();
        let key = blob_key(kind, key);
        match value {
            Some(v) => trees.blobs.insert(key, v.to_vec()),
            None => trees.blobs.remove(&key),
        };
        Ok(())
    }

    fn blob(&self, kind: BlobKind, key: &[u8]) -> Result<Option<Vec<u8>>, Infallible> {
        Ok(self.lock().blobs.get(&blob_key(kind, key)).cloned())
    }

    fn blobs(&self, kind: BlobKind, prefix: &[u8]) -> Result<Vec<KeyValue>, Infallible> {
        let trees = self.lock();
        let full = blob_key(kind, prefix);
        Ok(scan(&trees.blobs, &full)
            .map(|(k, v)| (k[1..].to_vec(), v.clone()))
            .collect())
    }

    fn flush(&self) -> Result<(), Infallible> {
        Ok(())
    }
}
