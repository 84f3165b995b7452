//! Crafting hostile entries with real keys, for tests of the receiving side
//! (feature `test-support`; not part of the app).

pub use crate::circle::craft::Craft;
use crate::{CircleId, DocId, Engine, EngineError, Store};

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

    /// Flips the circle document's history field, as a member's modified
    /// client could: a valid edit, signed by this device.
    pub fn set_history_field(
        &self,
        circle: CircleId,
        history: crate::HistoryPolicy,
    ) -> Result<(), EngineError> {
        self.tamper(circle, DocId::CIRCLE, |doc| {
            circlekeep_model::docs::put_at(doc, &["settings"], "history", &history)
        })
    }

    /// Writes any edit to a document, as a member's modified client could:
    /// a valid Automerge change, sealed and signed by this device.
    pub fn tamper(
        &self,
        circle: CircleId,
        doc: DocId,
        edit: impl FnOnce(&mut automerge::AutoCommit) -> Result<(), circlekeep_model::docs::DocError>,
    ) -> Result<(), EngineError> {
        self.with_circle(circle, |c, ctx| c.write(ctx, doc, |d| Ok(edit(d)?)))
    }

    /// The signed folds this device made of its own log in `circle`.
    pub fn own_folds(&self, circle: CircleId) -> Result<Vec<Vec<u8>>, EngineError> {
        self.with_circle(circle, |c, ctx| c.own_folds(ctx))
    }

    /// Panics while holding the circle, as a bug in Automerge meeting
    /// hostile bytes would (in `save`, `fork`, an edit …).
    pub fn panic_inside(&self, circle: CircleId) -> Result<(), EngineError> {
        self.with_circle(circle, |_, _| -> Result<(), EngineError> {
            panic!("a bug meets hostile bytes")
        })
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
        let me = self.identity().device_id();
        self.with_circle(circle, |c, _| Ok(c.raw_changes(&doc, Some(me))))
    }
}

/// Raw Automerge changes as a fold's run carries them.
pub fn run_of(changes: &[Vec<u8>]) -> Vec<u8> {
    crate::circle::encode_run(changes)
}

/// A well-formed Automerge change by `author` (no operations, sequence
/// number 2, no dependencies) on which automerge 0.12's `apply_changes`
/// panics in any document that has no change of `author` yet.
pub fn change_automerge_fails_on(author: &crate::MemberId) -> Vec<u8> {
    change_automerge_fails_on_after(author, None)
}

/// Like [`change_automerge_fails_on`], but depending on the raw change
/// `after` (someone else's): Automerge holds it back until `after`
/// arrives, and fails on it only then.
pub fn change_automerge_fails_on_after(author: &crate::MemberId, after: Option<&[u8]>) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    // Its dependencies, the actor, seq 2, start op 74, time 0, no message,
    // no other actors, no op columns.
    let dep = after
        .and_then(|raw| automerge::Change::from_bytes(raw.to_vec()).ok())
        .map(|change| change.hash());
    let mut body = vec![u8::from(dep.is_some())];
    if let Some(dep) = dep {
        body.extend_from_slice(&dep.0);
    }
    body.push(32);
    body.extend_from_slice(author.as_bytes());
    body.extend_from_slice(&[2, 0x4a, 0, 0, 0, 0, 0, 0]);
    // A change chunk: magic, the first four bytes of the SHA-256 of what
    // follows them, chunk type 1 (a change), the body's length, the body.
    let mut hashed = vec![1u8, u8::try_from(body.len()).unwrap_or(u8::MAX)];
    hashed.extend_from_slice(&body);
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83];
    chunk.extend_from_slice(&Sha256::digest(&hashed)[..4]);
    chunk.extend_from_slice(&hashed);
    chunk
}

/// Writes the checksum of an Automerge chunk for what it now holds (after
/// bytes of its body were changed), so Automerge reads on past it.
pub fn fix_chunk_checksum(chunk: &mut [u8]) {
    use sha2::{Digest, Sha256};
    if chunk.len() > 8 {
        let sum = Sha256::digest(&chunk[8..]);
        chunk[4..8].copy_from_slice(&sum[..4]);
    }
}

/// A change of about 70 bytes by `author` that declares `ops` operations
/// (each column one run): automerge 0.12 walks every one as it decodes.
pub fn change_declaring_ops(author: &crate::MemberId, ops: u64) -> Vec<u8> {
    crate::circle::decode::change_declaring(author.as_bytes(), ops)
}

/// The operations an Automerge change declares, as read before automerge
/// parses it (`Err`: refused, with why).
pub fn change_ops_declared(chunk: &[u8]) -> Result<u64, String> {
    crate::circle::decode::check_change_chunk(chunk).map_err(|e| e.to_string())
}

/// The operations automerge counts in a change it decodes (`None`: it
/// refuses or panics). It walks every one: call it only on a change
/// [`change_ops_declared`] took.
pub fn change_ops_counted(chunk: &[u8]) -> Option<u64> {
    let bytes = chunk.to_vec();
    std::panic::catch_unwind(move || automerge::Change::from_bytes(bytes))
        .ok()?
        .ok()
        .map(|change| change.len() as u64)
}
