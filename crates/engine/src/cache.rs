//! The per-circle cache: decoded documents, held keys and bookkeeping, sealed
//! under this device's local key so opening a circle does not replay and
//! decrypt its whole history. Entries remain the source of truth; a missing,
//! stale or damaged cache is rebuilt from them.

use circlekeep_model::{DocId, MemberId, OpHash};
use circlekeep_seal::content::{self, SymmetricKey};
use serde::{Deserialize, Serialize};

const CACHE_VERSION: u8 = 2;

/// The keys held for one epoch.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HeldKey {
    pub epoch: OpHash,
    /// The whole epoch secret.
    pub full: Option<[u8; 32]>,
    /// The circle-document subkey.
    pub shared: Option<[u8; 32]>,
}

/// Everything needed to resume a circle without replaying covered entries.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct CircleCache {
    pub version: u8,
    /// Entries processed, per author.
    pub covered: Vec<(MemberId, u64)>,
    /// Saved documents.
    pub docs: Vec<(DocId, Vec<u8>)>,
    /// Held keys.
    pub keys: Vec<HeldKey>,
    /// Operations whose keys were already tried.
    pub tried: Vec<OpHash>,
    /// Covered entries without a key (yet), with their epochs.
    pub unreadable: Vec<(MemberId, u64, OpHash)>,
    /// Covered entries whose changes wait for missing dependencies.
    pub queued: Vec<(MemberId, u64)>,
    /// Covered entries found bad after they were stored.
    pub rejected: Vec<(MemberId, u64)>,
    /// Covered entries a removal's cut voids, not applied.
    pub void: Vec<(MemberId, u64)>,
    /// Covered void entries applied because an entry that counts needs them.
    pub awake: Vec<(MemberId, u64)>,
}

impl CircleCache {
    /// Seals the cache under the local key.
    pub fn seal(mut self, key: &SymmetricKey) -> Vec<u8> {
        self.version = CACHE_VERSION;
        // Serialising plain data into memory cannot fail.
        #[allow(clippy::expect_used)]
        let plain = zeroize::Zeroizing::new(postcard::to_stdvec(&self).expect("cache serialises"));
        content::seal(key, &plain)
    }

    /// Opens a sealed cache; `None` if it is damaged, foreign or outdated.
    pub fn open(key: &SymmetricKey, sealed: &[u8]) -> Option<CircleCache> {
        let (_, plain) = content::open(&[key], sealed).ok()?;
        let plain = zeroize::Zeroizing::new(plain);
        let cache: CircleCache = postcard::from_bytes(&plain).ok()?;
        (cache.version == CACHE_VERSION).then_some(cache)
    }
}
