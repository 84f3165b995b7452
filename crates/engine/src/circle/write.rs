//! Local edits: an edit runs on a document, and its changes become one
//! sealed, signed entry, flushed before the caller hears it is saved.

use super::{CircleRuntime, Ctx};
use crate::error::EngineError;
use automerge::AutoCommit;
use circlekeep_model::entry::{Content, EntryBody, Payload, Tip, ENTRY_VERSION};
use circlekeep_model::{docs, DocId, OpHash};
use circlekeep_seal::content::{self, SymmetricKey};
use circlekeep_seal::signed::sign_entry;
use circlekeep_store::{Store, StoredEntry};

impl CircleRuntime {
    /// Runs `edit` on a document and turns the result into one sealed,
    /// signed entry, flushed to disk before this returns.
    pub fn write<S: Store, T>(
        &mut self,
        ctx: &Ctx<'_, S>,
        doc_id: DocId,
        edit: impl FnOnce(&mut AutoCommit) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let me = ctx.device_id();
        self.require_member(&me)?;
        let epoch = self.ensure_write_epoch(ctx)?;
        let key = self
            .keyring
            .content_key(&epoch, &doc_id)
            .ok_or_else(|| EngineError::Corrupt("no key for the current epoch".into()))?;
        self.document_changed(doc_id);
        let doc = self
            .docs
            .entry(doc_id)
            .or_insert_with(|| docs::new_doc(me.as_bytes()));
        let before = doc.get_heads();
        let value = match edit(doc) {
            Ok(value) => value,
            Err(e) => {
                doc.rollback();
                return Err(e);
            }
        };
        doc.commit();
        let changes: Vec<Vec<u8>> = doc
            .get_changes(&before)
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        if changes.is_empty() {
            return Ok(value);
        }
        match self.append_entry(ctx, epoch, doc_id, changes, &key) {
            Ok(()) => Ok(value),
            Err(e) => {
                // The document holds a change the store does not: reload.
                self.poisoned = true;
                Err(e)
            }
        }
    }

    pub(super) fn append_entry<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        epoch: OpHash,
        doc: DocId,
        changes: Vec<Vec<u8>>,
        key: &SymmetricKey,
    ) -> Result<(), EngineError> {
        self.check_own_log()?;
        let me = ctx.device_id();
        let payload = Payload {
            doc,
            content: Content::Changes(changes),
        };
        let tip = self.tips.get(&me);
        let body = EntryBody {
            version: ENTRY_VERSION,
            circle: self.id,
            author: me,
            seq: tip.map_or(1, |t| t.seq + 1),
            prev: tip.map(|t| t.hash),
            epoch,
            membership: self.membership.heads().to_vec(),
            payload: seal_payload(key, &payload),
            fold: None,
        };
        let entry = sign_entry(ctx.me, body);
        ctx.store
            .put_entries(
                &self.id,
                &[StoredEntry {
                    author: me,
                    seq: entry.body.seq,
                    bytes: entry.signed.clone(),
                }],
            )
            .map_err(EngineError::store)?;
        ctx.store.flush().map_err(EngineError::store)?;
        self.tips.insert(
            me,
            Tip {
                seq: entry.body.seq,
                hash: entry.hash,
                membership: entry.body.membership,
            },
        );
        self.dirty = true;
        ctx.changed(self.id);
        Ok(())
    }
}

/// A payload sealed under `key`, as an entry (or a fold) carries it.
pub(crate) fn seal_payload(key: &SymmetricKey, payload: &Payload) -> Vec<u8> {
    // Serialising plain data into memory cannot fail.
    #[allow(clippy::expect_used)]
    let plaintext =
        zeroize::Zeroizing::new(postcard::to_stdvec(payload).expect("payload serialises"));
    content::seal(key, &plaintext)
}
