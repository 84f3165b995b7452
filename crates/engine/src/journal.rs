//! The private journal: a member's own reflections, each entry sealed with
//! age to this device's own recipient and kept in the local store only. It
//! is never an entry of a circle, so it is never synced or bundled; a backup
//! carries it (sealed to the same recipient).

use crate::views::JournalEntryView;
use crate::{check_text, circle, random_id, CircleId, Engine, EngineError, Store};
use circlekeep_seal::epoch::{open_with_identity, seal_to_recipient};
use circlekeep_store::BlobKind;

impl<S: Store> Engine<S> {
    /// Writes a journal entry (optionally about a circle); returns its id.
    pub fn journal_add(&self, text: &str, circle: Option<CircleId>) -> Result<String, EngineError> {
        let text = check_text(text, crate::MAX_TEXT_CHARS)?;
        let entry = JournalEntryView {
            id: random_id(),
            created: circle::now(),
            circle: circle.map(|c| c.to_hex()),
            text,
        };
        self.put_journal_entry(&entry)?;
        Ok(entry.id)
    }

    pub(crate) fn put_journal_entry(&self, entry: &JournalEntryView) -> Result<(), EngineError> {
        let plain = serde_json::to_vec(entry).map_err(|e| EngineError::Corrupt(e.to_string()))?;
        let sealed = seal_to_recipient(&self.me.recipient(), &plain);
        let key = format!("{}/{}", entry.created, entry.id);
        self.store
            .put_blob(BlobKind::Journal, key.as_bytes(), Some(&sealed))
            .map_err(EngineError::store)?;
        self.store.flush().map_err(EngineError::store)
    }

    /// The journal, oldest first (entries this identity cannot open are skipped).
    pub fn journal(&self) -> Result<Vec<JournalEntryView>, EngineError> {
        let rows = self
            .store
            .blobs(BlobKind::Journal, b"")
            .map_err(EngineError::store)?;
        Ok(rows
            .into_iter()
            .filter_map(|(_, sealed)| {
                let plain = open_with_identity(self.me.age_identity(), &sealed).ok()?;
                serde_json::from_slice(&plain).ok()
            })
            .collect())
    }
}
