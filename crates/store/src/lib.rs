//! Circlekeep's storage: signed membership operations, signed entries, and
//! small keyed blobs (sealed caches, peer version vectors, reports,
//! settings), behind the [`Store`] trait with a sled backend for devices and
//! an in-memory backend for tests.
//!
//! Architecture invariant: the store deals in bytes it does not interpret.
//! Plaintext never reaches it — everything about circle content arrives
//! already sealed by the engine; keys hold only public identifiers (circle,
//! author, sequence number, operation hash).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod memory;
mod sled_store;
#[cfg(test)]
mod tests;

pub use memory::MemoryStore;
pub use sled_store::{SledStore, SledStoreError};

use circlekeep_model::{CircleId, MemberId, OpHash};

/// What kind of small keyed blob is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BlobKind {
    /// A circle's decoded state, sealed to this device.
    Cache,
    /// What a peer last said it holds (public: ids and counters).
    PeerVersions,
    /// What was refused, per circle: a bounded summary sealed to this device.
    Report,
    /// Device settings that are not circle content.
    Setting,
    /// Pending invites this device issued (hash of the secret → circle, expiry, use).
    Invite,
    /// Where members can be reached, sealed to this device.
    Addresses,
    /// Private journal entries, each sealed to this device's age recipient.
    Journal,
    /// Gatherings this device has announced, sealed to this device.
    Announced,
    /// Folds of this device's own log (signed, sealed entries), by circle
    /// and first sequence number.
    Fold,
    /// Circles that added this device and wait for it to accept, and
    /// circles it asked to join (public: circle ids).
    Invitation,
    /// Proofs that an author's log forked (two signed, sealed records),
    /// by circle and author.
    Fork,
}

impl BlobKind {
    fn tag(self) -> u8 {
        match self {
            BlobKind::Cache => 1,
            BlobKind::PeerVersions => 2,
            BlobKind::Report => 3,
            BlobKind::Setting => 4,
            BlobKind::Invite => 5,
            BlobKind::Addresses => 6,
            BlobKind::Journal => 7,
            BlobKind::Announced => 8,
            BlobKind::Fold => 9,
            BlobKind::Invitation => 10,
            BlobKind::Fork => 11,
        }
    }
}

/// A key and its value, as listed by [`Store::blobs`].
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// One signed entry to store at its place in its author's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// The author.
    pub author: MemberId,
    /// Position in the author's log.
    pub seq: u64,
    /// The signed entry bytes.
    pub bytes: Vec<u8>,
}

/// Durable storage for one device.
///
/// Writes become crash-safe at the next [`Store::flush`]; the engine flushes
/// before it reports anything saved.
pub trait Store: Send + Sync + 'static {
    /// The backend's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Circles with at least one stored operation.
    fn circles(&self) -> Result<Vec<CircleId>, Self::Error>;

    /// Stores signed membership operations (idempotent, atomic).
    fn put_ops(&self, circle: &CircleId, ops: &[(OpHash, &[u8])]) -> Result<(), Self::Error>;

    /// All stored operations of a circle, in hash order.
    fn ops(&self, circle: &CircleId) -> Result<Vec<Vec<u8>>, Self::Error>;

    /// Stores entries (idempotent per position, atomic).
    fn put_entries(&self, circle: &CircleId, entries: &[StoredEntry]) -> Result<(), Self::Error>;

    /// The entry at `seq` in `author`'s log.
    fn entry(
        &self,
        circle: &CircleId,
        author: &MemberId,
        seq: u64,
    ) -> Result<Option<Vec<u8>>, Self::Error>;

    /// Up to `limit` entries of `author` with sequence numbers above `after`, in order.
    fn entries_after(
        &self,
        circle: &CircleId,
        author: &MemberId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, Self::Error>;

    /// Deletes `author`'s entries from `seq` on (a damaged stretch, to be
    /// fetched again); returns how many there were.
    fn drop_entries_from(
        &self,
        circle: &CircleId,
        author: &MemberId,
        seq: u64,
    ) -> Result<usize, Self::Error>;

    /// The last entry in `author`'s log.
    fn last_entry(
        &self,
        circle: &CircleId,
        author: &MemberId,
    ) -> Result<Option<(u64, Vec<u8>)>, Self::Error>;

    /// Stores (or with `None` deletes) a blob.
    fn put_blob(&self, kind: BlobKind, key: &[u8], value: Option<&[u8]>)
        -> Result<(), Self::Error>;

    /// Reads a blob.
    fn blob(&self, kind: BlobKind, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error>;

    /// Blobs of one kind whose keys start with `prefix`, in key order.
    fn blobs(&self, kind: BlobKind, prefix: &[u8]) -> Result<Vec<KeyValue>, Self::Error>;

    /// Makes every earlier write durable.
    fn flush(&self) -> Result<(), Self::Error>;
}

/// Key of an entry: circle, author, big-endian sequence number.
fn entry_key(circle: &CircleId, author: &MemberId, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(72);
    key.extend_from_slice(circle.as_bytes());
    key.extend_from_slice(author.as_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Prefix of one author's log.
fn log_prefix(circle: &CircleId, author: &MemberId) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    key.extend_from_slice(circle.as_bytes());
    key.extend_from_slice(author.as_bytes());
    key
}

/// Reads the sequence number off an entry key.
fn seq_of(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(64..72)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

fn op_key(circle: &CircleId, hash: &OpHash) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    key.extend_from_slice(circle.as_bytes());
    key.extend_from_slice(hash.as_bytes());
    key
}

fn blob_key(kind: BlobKind, key: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(key.len() + 1);
    full.push(kind.tag());
    full.extend_from_slice(key);
    full
}
