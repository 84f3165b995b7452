//! sled backend: one database per device home, four trees (operations,
//! entries, blobs). Multi-record writes go through a `Batch` or a
//! transaction, so they land whole or not at all.

use crate::{
    blob_key, entry_key, log_prefix, op_key, seq_of, BlobKind, KeyValue, Store, StoredEntry,
};
use circlekeep_model::{CircleId, MemberId, OpHash};
use std::path::Path;

/// A failure of the sled backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SledStoreError {
    /// Another process (the app or the CLI) has this store open.
    #[error("the data folder is in use by another Circlekeep process")]
    Locked,
    /// The database reported corruption.
    #[error("the local database is damaged: {0}")]
    Corrupt(String),
    /// Reading or writing the disk failed.
    #[error("local database I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// Any other sled failure.
    #[error("local database failure: {0}")]
    Other(String),
}

impl From<sled::Error> for SledStoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            e if lock_held(&e) => SledStoreError::Locked,
            sled::Error::Io(io) => SledStoreError::Io(io),
            sled::Error::Corruption { .. } => SledStoreError::Corrupt(e.to_string()),
            other => SledStoreError::Other(other.to_string()),
        }
    }
}

/// A sled database in a folder.
#[derive(Clone, Debug)]
pub struct SledStore {
    db: sled::Db,
    ops: sled::Tree,
    entries: sled::Tree,
    blobs: sled::Tree,
}

impl SledStore {
    /// Opens (or creates) the database in `dir`.
    ///
    /// A process killed while sled wrote a snapshot leaves a partial
    /// `snap.*.generating` file that sled 0.34 mistakes for the newest
    /// snapshot and refuses to open. Such a file never holds data the log
    /// lacks (sled renames it into place only once complete), so on a
    /// corruption report it is set aside and the open retried once.
    pub fn open(dir: &Path) -> Result<Self, SledStoreError> {
        let config = sled::Config::new().path(dir);
        let db = match open_when_released(&config) {
            // sled reads snapshots only after taking the folder's lock, so a
            // corruption report means no other process is writing here.
            Err(sled::Error::Corruption { .. }) if set_aside_partial_snapshots(dir)? > 0 => {
                config.open()?
            }
            other => other?,
        };
        Ok(Self {
            ops: db.open_tree("ops")?,
            entries: db.open_tree("entries")?,
            blobs: db.open_tree("blobs")?,
            db,
        })
    }
}

/// How long `open` waits for a lock that a just-closed store in this
/// process still holds (sled's background threads let go of it after the
/// store is dropped).
const LOCK_RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the database, retrying briefly while the folder's lock is held.
fn open_when_released(config: &sled::Config) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + LOCK_RELEASE_WAIT;
    loop {
        match config.open() {
            Err(e) if lock_held(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            other => return other,
        }
    }
}

/// Whether sled refused because another handle holds the folder's lock.
fn lock_held(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// Renames sled's unfinished `snap.*.generating` files in `dir` so sled no
/// longer reads them; returns how many there were.
fn set_aside_partial_snapshots(dir: &Path) -> Result<usize, SledStoreError> {
    let mut set_aside = 0;
    for dirent in std::fs::read_dir(dir)? {
        let path = dirent?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("snap.") && name.ends_with(".generating") {
            // sled skips `*.in___motion`; the file stays for inspection.
            let mut aside = path.clone().into_os_string();
            aside.push(".in___motion");
            std::fs::rename(&path, aside)?;
            set_aside += 1;
        }
    }
    Ok(set_aside)
}

fn owned(iter: sled::Iter) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), SledStoreError>> {
    iter.map(|r| {
        r.map(|(k, v)| (k.to_vec(), v.to_vec()))
            .map_err(SledStoreError::from)
    })
}

impl Store for SledStore {
    type Error = SledStoreError;

    fn circles(&self) -> Result<Vec<CircleId>, SledStoreError> {
        let mut circles = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        // Jump from circle to circle rather than walking every operation.
        while let Some((key, _)) = self.ops.range(from.clone()..).next().transpose()? {
            let Some(id) = key.get(..32).and_then(|b| <[u8; 32]>::try_from(b).ok()) else {
                break;
            };
            circles.push(CircleId(id));
            let mut next = id.to_vec();
            next.push(0xff);
            next.extend_from_slice(&[0xff; 32]);
            from = next;
        }
        Ok(circles)
    }

    fn put_ops(&self, circle: &CircleId, ops: &[(OpHash, &[u8])]) -> Result<(), SledStoreError> {
        let mut batch = sled::Batch::default();
        for (hash, bytes) in ops {
            batch.insert(op_key(circle, hash), *bytes);
        }
        self.ops.apply_batch(batch)?;
        Ok(())
    }

    fn ops(&self, circle: &CircleId) -> Result<Vec<Vec<u8>>, SledStoreError> {
        owned(self.ops.scan_prefix(circle.as_bytes()))
            .map(|r| r.map(|(_, v)| v))
            .collect()
    }

    fn put_entries(
        &self,
        circle: &CircleId,
        entries: &[StoredEntry],
    ) -> Result<(), SledStoreError> {
        let mut batch = sled::Batch::default();
        for e in entries {
            batch.insert(entry_key(circle, &e.author, e.seq), e.bytes.as_slice());
        }
        self.entries.apply_batch(batch)?;
        Ok(())
    }

    fn entry(
        &self,
        circle: &CircleId,
        author: &MemberId,
        seq: u64,
    ) -> Result<Option<Vec<u8>>, SledStoreError> {
        Ok(self
            .entries
            .get(entry_key(circle, author, seq))?
            .map(|v| v.to_vec()))
    }

    fn entries_after(
        &self,
        circle: &CircleId,
        author: &MemberId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, SledStoreError> {
        let Some(start) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let end = log_prefix(circle, author)
            .into_iter()
            .chain(u64::MAX.to_be_bytes())
            .collect::<Vec<u8>>();
        let mut out = Vec::new();
        for item in owned(self.entries.range(entry_key(circle, author, start)..=end)).take(limit) {
            let (k, v) = item?;
            if let Some(seq) = seq_of(&k) {
                out.push((seq, v));
            }
        }
        Ok(out)
    }

    fn drop_entries_from(
        &self,
        circle: &CircleId,
        author: &MemberId,
        seq: u64,
    ) -> Result<usize, SledStoreError> {
        let end = log_prefix(circle, author)
            .into_iter()
            .chain(u64::MAX.to_be_bytes())
            .collect::<Vec<u8>>();
        let mut batch = sled::Batch::default();
        let mut dropped = 0;
        for item in self.entries.range(entry_key(circle, author, seq)..=end) {
            batch.remove(item?.0);
            dropped += 1;
        }
        self.entries.apply_batch(batch)?;
        Ok(dropped)
    }

    fn last_entry(
        &self,
        circle: &CircleId,
        author: &MemberId,
    ) -> Result<Option<(u64, Vec<u8>)>, SledStoreError> {
        let last = self
            .entries
            .scan_prefix(log_prefix(circle, author))
            .next_back()
            .transpose()?;
        Ok(last.and_then(|(k, v)| Some((seq_of(&k)?, v.to_vec()))))
    }

    fn put_blob(
        &self,
        kind: BlobKind,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), SledStoreError> {
        let key = blob_key(kind, key);
        match value {
            Some(v) => self.blobs.insert(key, v)?,
            None => self.blobs.remove(key)?,
        };
        Ok(())
    }

    fn blob(&self, kind: BlobKind, key: &[u8]) -> Result<Option<Vec<u8>>, SledStoreError> {
        Ok(self.blobs.get(blob_key(kind, key))?.map(|v| v.to_vec()))
    }

    fn blobs(&self, kind: BlobKind, prefix: &[u8]) -> Result<Vec<KeyValue>, SledStoreError> {
        owned(self.blobs.scan_prefix(blob_key(kind, prefix)))
            .map(|r| r.map(|(k, v)| (k[1..].to_vec(), v)))
            .collect()
    }

    fn flush(&self) -> Result<(), SledStoreError> {
        self.db.flush()?;
        Ok(())
    }
}
