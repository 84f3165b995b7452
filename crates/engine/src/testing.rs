//! Crafting hostile entries with real keys, for tests of the receiving side
//! (feature `test-support`; not part of the app).

use crate::{CircleId, DocId, Engine, EngineError, Store};
use circlekeep_model::entry::Fold;
use circlekeep_model::{EntryHash, OpHash};

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
    /// Carry this Automerge bundle instead of `changes`.
    pub bundle: Option<Vec<u8>>,
}

impl<S: Store> Engine<S> {
    /// Signs a crafted entry as this device, sealed with its real keys.
    pub fn craft_entry(&self, circle: CircleId, craft: Craft) -> Result<Vec<u8>, EngineError> {
        self.with_circle(circle, |c, ctx| c.craft_entry(ctx, craft))
    }

    /// Like [`Engine::edit_note`], but each edit is its own Automerge change
    /// (all in one entry): builds long histories quickly for benchmarks.
    pub fn edit_note_change_per_edit(
        &self,
        circle: CircleId,
        gathering: DocId,
        note: &str,
        edits: &[crate::TextEdit],
    ) -> Result<(), EngineError> {
        self.splice_note(circle, gathering, note, edits, true)
    }

    /// The signed folds this device made of its own log in `circle`.
    pub fn own_folds(&self, circle: CircleId) -> Result<Vec<Vec<u8>>, EngineError> {
        self.with_circle(circle, |c, ctx| c.own_folds(ctx))
    }

    /// Raw changes of a document this device holds, as an Automerge bundle.
    pub fn bundle_of(
        &self,
        circle: CircleId,
        doc: DocId,
        changes: &[Vec<u8>],
    ) -> Result<Vec<u8>, EngineError> {
        self.with_circle(circle, |c, _| c.bundle_of(&doc, changes))
    }

    /// The raw Automerge changes of a document this device holds.
    pub fn raw_changes(&self, circle: CircleId, doc: DocId) -> Result<Vec<Vec<u8>>, EngineError> {
        self.with_circle(circle, |c, _| Ok(c.raw_changes(&doc, None)))
    }

    /// The raw Automerge changes this device made to a document.
    pub fn own_raw_changes(
        &self,
        circle: CircleId,
        doc: DocId,
    ) -> Result<Vec<Vec<u8>>, EngineError> {
        let me = self.identity().member_id();
        self.with_circle(circle, |c, _| Ok(c.raw_changes(&doc, Some(me))))
    }
}
