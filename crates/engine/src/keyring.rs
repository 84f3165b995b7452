//! The keys this device holds for one circle: epoch secrets it was sealed,
//! and subkeys or secrets other members granted it.

use crate::cache::HeldKey;
use circlekeep_model::membership::{Action, Membership};
use circlekeep_model::{DocId, OpHash};
use circlekeep_seal::content::SymmetricKey;
use circlekeep_seal::epoch::{open_grants, GrantedKey};
use circlekeep_seal::{DeviceIdentity, EpochSecret};
use std::collections::{BTreeMap, BTreeSet};

/// Keys of one epoch.
#[derive(Clone, Debug, Default)]
pub(crate) struct EpochKeys {
    pub full: Option<EpochSecret>,
    pub shared: Option<SymmetricKey>,
}

/// Every key this device holds for a circle.
#[derive(Debug, Default)]
pub(crate) struct Keyring {
    epochs: BTreeMap<OpHash, EpochKeys>,
    /// Operations already tried, so each is opened at most once.
    tried: BTreeSet<OpHash>,
}

/// Which subkey seals a document.
fn wants_shared(doc: &DocId) -> bool {
    doc.is_circle()
}

impl Keyring {
    /// Records a secret this device made itself.
    pub fn insert_full(&mut self, epoch: OpHash, secret: EpochSecret) {
        let keys = self.epochs.entry(epoch).or_default();
        keys.shared = Some(secret.shared());
        keys.full = Some(secret);
        self.tried.insert(epoch);
    }

    fn insert_shared(&mut self, epoch: OpHash, shared: SymmetricKey) {
        let keys = self.epochs.entry(epoch).or_default();
        if keys.shared.is_none() {
            keys.shared = Some(shared);
        }
    }

    /// Opens every epoch key and grant addressed to `me` not tried before.
    /// Returns whether any key was added.
    pub fn absorb(&mut self, membership: &Membership, me: &DeviceIdentity) -> bool {
        let my_id = me.device_id();
        let before = self.count();
        for (op, audience) in membership.epochs() {
            if self.tried.contains(&op.hash) || !audience.contains(&my_id) {
                continue;
            }
            self.tried.insert(op.hash);
            let Some(key) = op.body.action.epoch_key() else {
                continue;
            };
            match EpochSecret::open(key, me.age_identity()) {
                Ok(secret) => self.insert_full(op.hash, secret),
                Err(e) => {
                    tracing::warn!(epoch = ?op.hash, "cannot open an epoch key sealed to me: {e}")
                }
            }
        }
        let grants: Vec<_> = membership.grants_to(&my_id).cloned().collect();
        for op in grants {
            if !self.tried.insert(op.hash) {
                continue;
            }
            let Action::ShareKeys { grants, sealed, .. } = &op.body.action else {
                continue;
            };
            let lookup =
                |epoch: &OpHash| membership.op(epoch).and_then(|o| o.body.action.epoch_key());
            match open_grants(sealed, grants, me.age_identity(), lookup) {
                Ok(keys) => {
                    for (epoch, key) in keys {
                        match key {
                            GrantedKey::Full(secret) => {
                                if self.full(&epoch).is_none() {
                                    self.insert_full(epoch, secret);
                                }
                            }
                            GrantedKey::Shared(shared) => self.insert_shared(epoch, shared),
                        }
                    }
                }
                Err(e) => tracing::warn!(grant = ?op.hash, "ignoring a key grant: {e}"),
            }
        }
        self.count() > before
    }

    fn count(&self) -> usize {
        self.epochs
            .values()
            .map(|k| usize::from(k.full.is_some()) + usize::from(k.shared.is_some()))
            .sum()
    }

    /// The full secret of an epoch, if held.
    pub fn full(&self, epoch: &OpHash) -> Option<&EpochSecret> {
        self.epochs.get(epoch).and_then(|k| k.full.as_ref())
    }

    /// The circle-document subkey of an epoch, if held.
    pub fn shared(&self, epoch: &OpHash) -> Option<&SymmetricKey> {
        self.epochs.get(epoch).and_then(|k| k.shared.as_ref())
    }

    /// The key that seals `doc` in `epoch`, if held.
    pub fn content_key(&self, epoch: &OpHash, doc: &DocId) -> Option<SymmetricKey> {
        if wants_shared(doc) {
            self.shared(epoch).cloned()
        } else {
            self.full(epoch).map(EpochSecret::notes)
        }
    }

    /// Candidate keys for opening an entry of `epoch`, each with whether it
    /// is the circle-document subkey. Empty when nothing is held.
    pub fn candidates(&self, epoch: &OpHash) -> Vec<(SymmetricKey, bool)> {
        let mut keys = Vec::with_capacity(2);
        if let Some(shared) = self.shared(epoch) {
            keys.push((shared.clone(), true));
        }
        if let Some(full) = self.full(epoch) {
            keys.push((full.notes(), false));
        }
        keys
    }

    /// Every held key, for the sealed cache.
    pub fn export(&self) -> Vec<HeldKey> {
        self.epochs
            .iter()
            .map(|(epoch, keys)| HeldKey {
                epoch: *epoch,
                full: keys.full.as_ref().map(EpochSecret::to_bytes),
                shared: keys.shared.as_ref().map(|k| *k.as_bytes()),
            })
            .collect()
    }

    /// Restores keys from the sealed cache (already checked when first held).
    pub fn import(&mut self, keys: Vec<HeldKey>) {
        for held in keys {
            if let Some(full) = held.full {
                self.insert_full(held.epoch, EpochSecret::from_bytes(full));
            }
            if let Some(shared) = held.shared {
                self.insert_shared(held.epoch, SymmetricKey::from_bytes(shared));
            }
        }
    }

    /// Operations already opened (restored with the cache).
    pub fn tried(&self) -> Vec<OpHash> {
        self.tried.iter().copied().collect()
    }

    /// Marks operations as already opened.
    pub fn mark_tried(&mut self, ops: impl IntoIterator<Item = OpHash>) {
        self.tried.extend(ops);
    }

    /// The grant this device can give `member` for the keys it lacks.
    pub fn grantable(
        &self,
        wanted: &[circlekeep_model::membership::KeyGrant],
    ) -> Vec<(OpHash, GrantedKey)> {
        use circlekeep_model::membership::KeyClass;
        wanted
            .iter()
            .filter_map(|g| match g.class {
                KeyClass::Full => self
                    .full(&g.epoch)
                    .map(|s| (g.epoch, GrantedKey::Full(s.clone()))),
                KeyClass::Shared => self
                    .shared(&g.epoch)
                    .map(|k| (g.epoch, GrantedKey::Shared(k.clone()))),
            })
            .collect()
    }
}
