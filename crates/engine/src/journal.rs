//! The private journal: a member's own reflections, each entry sealed with
//! age to this device's own recipient and kept in the local store. It is
//! never an entry of a circle, so it is never bundled, and it syncs only
//! between devices of the one member: the sending device opens each entry
//! and seals it to the receiving device alone. A backup carries it (sealed
//! to the same recipient).

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
        // Nobody listening is fine.
        let _ = self.changes.send(circlekeep_sync::JOURNAL_CHANGED);
        Ok(entry.id)
    }

    pub(crate) fn put_journal_entry(&self, entry: &JournalEntryView) -> Result<(), EngineError> {
        let plain = serde_json::to_vec(entry).map_err(|e| EngineError::Corrupt(e.to_string()))?;
        let sealed = seal_to_recipient(&self.me.recipient(), &plain);
        // Filed under its random id alone: the key is stored in the clear,
        // so it must not tell when the member wrote.
        self.store
            .put_blob(BlobKind::Journal, entry.id.as_bytes(), Some(&sealed))
            .map_err(EngineError::store)?;
        self.store.flush().map_err(EngineError::store)
    }

    /// The journal, oldest first (entries this identity cannot open are skipped).
    pub fn journal(&self) -> Result<Vec<JournalEntryView>, EngineError> {
        let rows = self
            .store
            .blobs(BlobKind::Journal, b"")
            .map_err(EngineError::store)?;
        let mut entries: Vec<JournalEntryView> = rows
            .into_iter()
            .filter_map(|(_, sealed)| self.open_journal_entry(&sealed))
            .collect();
        entries.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
        Ok(entries)
    }

    fn open_journal_entry(&self, sealed: &[u8]) -> Option<JournalEntryView> {
        let plain = open_with_identity(self.me.age_identity(), sealed).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// Files entries an earlier version kept under `created/id` (a key
    /// that told when each was written) under their id alone.
    pub(crate) fn rekey_legacy_journal(&self) -> Result<(), EngineError> {
        let rows = self
            .store
            .blobs(BlobKind::Journal, b"")
            .map_err(EngineError::store)?;
        let mut moved = false;
        for (key, sealed) in rows.into_iter().filter(|(key, _)| key.contains(&b'/')) {
            // One this identity cannot open stays as it is.
            let Some(entry) = self.open_journal_entry(&sealed) else {
                continue;
            };
            if entry.id.as_bytes() == key.as_slice() {
                continue;
            }
            self.store
                .put_blob(BlobKind::Journal, entry.id.as_bytes(), Some(&sealed))
                .map_err(EngineError::store)?;
            self.store
                .put_blob(BlobKind::Journal, &key, None)
                .map_err(EngineError::store)?;
            moved = true;
        }
        if moved {
            self.store.flush().map_err(EngineError::store)?;
        }
        Ok(())
    }

    /// Keys of the journal entries held here.
    pub(crate) fn journal_keys(&self) -> Vec<Vec<u8>> {
        self.store
            .blobs(BlobKind::Journal, b"")
            .map(|rows| rows.into_iter().map(|(key, _)| key).collect())
            .unwrap_or_default()
    }

    /// The entries of `keys` held here, opened and sealed to `recipient`
    /// (another device of this member) alone; about `budget` bytes at most.
    pub(crate) fn journal_sealed_for(
        &self,
        recipient: &str,
        keys: &[Vec<u8>],
        budget: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let Ok(recipient) = recipient.parse::<age::x25519::Recipient>() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        for key in keys {
            let Ok(Some(sealed)) = self.store.blob(BlobKind::Journal, key) else {
                continue;
            };
            let Ok(plain) = open_with_identity(self.me.age_identity(), &sealed) else {
                continue;
            };
            let resealed = seal_to_recipient(&recipient, &plain);
            bytes += key.len() + resealed.len();
            out.push((key.clone(), resealed));
            if bytes >= budget {
                break;
            }
        }
        out
    }

    /// Keeps journal entries another device of this member sent: only those
    /// this device opens, that read as a journal entry filed under its own
    /// id (or, from an earlier version, `created/id`), and that are not
    /// held yet.
    pub(crate) fn take_journal(&self, entries: Vec<(Vec<u8>, Vec<u8>)>) {
        let mut kept = 0;
        for (key, sealed) in entries {
            if key.len() > 128 || sealed.len() > 4 * crate::MAX_TEXT_CHARS + 4096 {
                continue;
            }
            if matches!(self.store.blob(BlobKind::Journal, &key), Ok(Some(_))) {
                continue;
            }
            let Some(entry) = self.open_journal_entry(&sealed) else {
                continue;
            };
            let legacy = format!("{}/{}", entry.created, entry.id);
            if key != entry.id.as_bytes() && key != legacy.as_bytes() {
                continue;
            }
            let id = entry.id.as_bytes();
            if matches!(self.store.blob(BlobKind::Journal, id), Ok(Some(_))) {
                continue;
            }
            if self
                .store
                .put_blob(BlobKind::Journal, id, Some(&sealed))
                .is_ok()
            {
                kept += 1;
            }
        }
        if kept > 0 && self.store.flush().is_ok() {
            let _ = self.changes.send(circlekeep_sync::JOURNAL_CHANGED);
        }
    }
}
