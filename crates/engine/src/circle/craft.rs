//! Crafting hostile entries with this device's real keys, for tests of
//! the receiving side (feature `test-support`; not part of the app).

use super::{CircleRuntime, Ctx};
use crate::error::EngineError;
use circlekeep_model::entry::{Content, EntryBody, Fold, Payload, ENTRY_VERSION};
use circlekeep_model::{CircleId, DocId, EntryHash, MemberId, OpHash};
use circlekeep_seal::content::{self, SymmetricKey};
use circlekeep_seal::signed::sign_entry;
use circlekeep_store::{BlobKind, Store};

/// How a crafted entry deviates from an honest one.
#[derive(Clone, Debug, Default)]
pub struct Craft {
    /// The document the payload claims.
    pub doc: DocId,
    /// Raw Automerge changes to carry.
    pub changes: Vec<Vec<u8>>,
    /// Override the sequence number.
    pub seq: Option<u64>,
    /// Override the previous-entry hash.
    pub prev: Option<Option<EntryHash>>,
    /// Override the epoch.
    pub epoch: Option<OpHash>,
    /// Override the sealed payload bytes.
    pub payload: Option<Vec<u8>>,
    /// Seal these bytes instead of an encoded payload.
    pub raw_plaintext: Option<Vec<u8>>,
    /// Seal with the other document class's subkey.
    pub wrong_key_class: bool,
    /// Override the circle id in the signed body.
    pub circle: Option<CircleId>,
    /// Make it a fold standing for this run (`seq` is its last entry).
    pub fold: Option<Fold>,
    /// Carry this as a fold's run ([`run_of`]) instead of `changes`.
    pub run: Option<Vec<u8>>,
}

impl CircleRuntime {
    /// Builds and signs an entry as this device with the given deviations.
    pub fn craft_entry<S: Store>(
        &self,
        ctx: &Ctx<'_, S>,
        craft: Craft,
    ) -> Result<Vec<u8>, EngineError> {
        let me = ctx.device_id();
        let epoch = craft
            .epoch
            .or_else(|| self.membership.write_epoch())
            .ok_or(EngineError::NotAMember)?;
        let doc = craft.doc;
        let key = if craft.wrong_key_class {
            self.keyring.content_key(
                &epoch,
                &if doc.is_circle() {
                    DocId([9; 16])
                } else {
                    DocId::CIRCLE
                },
            )
        } else {
            self.keyring.content_key(&epoch, &doc)
        }
        .unwrap_or_else(|| SymmetricKey::from_bytes([0; 32]));
        let plaintext = match craft.raw_plaintext {
            Some(raw) => raw,
            None => postcard::to_stdvec(&Payload {
                doc,
                content: match craft.run {
                    Some(run) => Content::Run(run),
                    None => Content::Changes(craft.changes),
                },
            })
            .map_err(|e| EngineError::Corrupt(e.to_string()))?,
        };
        let tip = self.tips.get(&me);
        let body = EntryBody {
            version: if craft.fold.is_some() {
                circlekeep_model::entry::FOLD_VERSION
            } else {
                ENTRY_VERSION
            },
            circle: craft.circle.unwrap_or(self.id),
            author: me,
            seq: craft.seq.unwrap_or_else(|| tip.map_or(1, |t| t.seq + 1)),
            prev: craft.prev.unwrap_or_else(|| tip.map(|t| t.hash)),
            epoch,
            membership: self.membership.heads().to_vec(),
            payload: craft
                .payload
                .unwrap_or_else(|| content::seal(&key, &plaintext)),
            fold: craft.fold,
        };
        Ok(sign_entry(ctx.me, body).signed)
    }

    /// The signed folds of this device's own log, in order.
    pub fn own_folds<S: Store>(&self, ctx: &Ctx<'_, S>) -> Result<Vec<Vec<u8>>, EngineError> {
        Ok(ctx
            .store
            .blobs(BlobKind::Fold, self.id.as_bytes())
            .map_err(EngineError::store)?
            .into_iter()
            .map(|(_, fold)| fold)
            .collect())
    }

    /// The raw Automerge changes of a document held here (only `by`'s, if given).
    pub fn raw_changes(&mut self, doc: &DocId, by: Option<MemberId>) -> Vec<Vec<u8>> {
        self.docs
            .get_mut(doc)
            .map(|d| {
                d.get_changes(&[])
                    .iter()
                    .filter(|c| by.is_none_or(|m| c.actor_id().to_bytes() == m.as_bytes()))
                    .map(|c| c.raw_bytes().to_vec())
                    .collect()
            })
            .unwrap_or_default()
    }
}
