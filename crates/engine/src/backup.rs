//! Full backups: a tar archive of every circle's records (as bundles), the
//! journal, the device settings and the key file, sealed with age to this
//! device's own recipient, so the standard `age` tool opens it with the
//! identity (`age -d -i identity.age backup.age | tar x`), and `restore`
//! brings it back into a home holding the same identity.

use crate::views::JournalEntryView;
use crate::{CircleId, Engine, EngineError, Store};
use circlekeep_seal::epoch::{open_backup, seal_to_recipient};
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::Read;

const README: &str = "\
Circlekeep backup.
circles/<id>.bundle  every membership operation and entry of a circle (signed, sealed)
journal.jsonl        the private journal, one JSON entry per line
settings.json        device settings
identity.age         the key file (still protected by its passphrase)
Restore with: circlekeep restore FILE
";

/// Settings carried by a backup.
const SETTINGS: [&str; 2] = ["relay", "local-discovery"];

/// What a restore brought back.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct RestoreReport {
    /// Circles found in the backup.
    pub circles: usize,
    /// Records newly stored (operations and entries).
    pub records: usize,
    /// Journal entries newly stored.
    pub journal: usize,
}

fn bad(e: impl std::fmt::Display) -> EngineError {
    EngineError::Backup(e.to_string())
}

fn append(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &str,
    bytes: &[u8],
) -> Result<(), EngineError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(0);
    header.set_cksum();
    builder.append_data(&mut header, path, bytes).map_err(bad)
}

impl Engine {
    /// Sets up a new device in the empty `home` from a saved key file and a
    /// backup of the same identity. The passphrase must open the key and the
    /// key the backup before anything is written, so a mismatch leaves the
    /// home as it was.
    pub fn restore_new_device(
        home: &crate::Home,
        key_file: &[u8],
        passphrase: &circlekeep_seal::SecretString,
        sealed: &[u8],
    ) -> Result<(Engine, RestoreReport), EngineError> {
        if home.is_initialized() {
            return Err(EngineError::AlreadyInitialized(home.root().to_owned()));
        }
        let me = circlekeep_seal::DeviceIdentity::from_key_file(key_file, passphrase)?;
        open_backup(me.age_identity(), sealed).map_err(not_ours)?;
        home.install_key_file(key_file, passphrase)?;
        let engine = Engine::open(home, passphrase)?;
        let report = engine.restore(sealed)?;
        Ok((engine, report))
    }
}

fn not_ours(e: circlekeep_seal::GrantError) -> EngineError {
    match e {
        circlekeep_seal::GrantError::NotForMe => {
            EngineError::Backup("it was made by another identity".into())
        }
        other => bad(other),
    }
}

impl<S: Store> Engine<S> {
    /// A sealed backup of everything this device holds; `key_file` (the
    /// passphrase-protected identity file) is included when given.
    pub fn backup(&self, key_file: Option<&[u8]>) -> Result<Vec<u8>, EngineError> {
        let mut builder = tar::Builder::new(Vec::new());
        append(&mut builder, "README.txt", README.as_bytes())?;
        for id in self.store.circles().map_err(EngineError::store)? {
            let bundle = self.export_bundle(id, None)?;
            append(
                &mut builder,
                &format!("circles/{}.bundle", id.to_hex()),
                &bundle,
            )?;
        }
        let mut journal = Vec::new();
        for entry in self.journal()? {
            serde_json::to_writer(&mut journal, &entry).map_err(bad)?;
            journal.push(b'\n');
        }
        append(&mut builder, "journal.jsonl", &journal)?;
        let mut settings = serde_json::Map::new();
        for key in SETTINGS {
            if let Some(v) = self.setting(key)? {
                settings.insert(key.into(), v.into());
            }
        }
        append(
            &mut builder,
            "settings.json",
            &serde_json::to_vec_pretty(&settings).map_err(bad)?,
        )?;
        if let Some(key) = key_file {
            append(&mut builder, "identity.age", key)?;
        }
        let archive = builder.into_inner().map_err(bad)?;
        Ok(seal_to_recipient(&self.me.recipient(), &archive))
    }

    /// Restores a backup made by this identity: imports every circle's
    /// records (checked like any bundle), the journal and the settings.
    /// What is already here stays; nothing is deleted.
    pub fn restore(&self, sealed: &[u8]) -> Result<RestoreReport, EngineError> {
        let archive = open_backup(self.me.age_identity(), sealed).map_err(not_ours)?;
        let mut report = RestoreReport::default();
        let mut bundles = Vec::new();
        let mut journal = Vec::new();
        let mut settings = None;
        let mut tar = tar::Archive::new(archive.as_slice());
        for file in tar.entries().map_err(bad)? {
            let mut file = file.map_err(bad)?;
            let path = file.path().map_err(bad)?.to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(bad)?;
            if path.starts_with("circles/") && path.ends_with(".bundle") {
                bundles.push(bytes);
            } else if path == "journal.jsonl" {
                journal = bytes;
            } else if path == "settings.json" {
                settings = Some(bytes);
            }
        }
        for bundle in bundles {
            // The member's own circles: restored as accepted.
            self.asked_to_join(crate::bundle::Bundle::decode(&bundle)?.circle)?;
            let imported = self.import_bundle(&bundle)?;
            report.circles += 1;
            report.records += imported.ops_accepted + imported.entries_accepted;
        }
        let held: BTreeSet<String> = self.journal()?.into_iter().map(|e| e.id).collect();
        for line in journal.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let entry: JournalEntryView = serde_json::from_slice(line).map_err(bad)?;
            if let Some(c) = &entry.circle {
                CircleId::from_hex(c).map_err(bad)?;
            }
            if !held.contains(&entry.id) {
                self.put_journal_entry(&entry)?;
                report.journal += 1;
            }
        }
        if let Some(bytes) = settings {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&bytes).map_err(bad)?;
            for key in SETTINGS {
                if let Some(v) = map.get(key).and_then(|v| v.as_str()) {
                    if self.setting(key)?.is_none() {
                        self.set_setting(key, Some(v))?;
                    }
                }
            }
        }
        Ok(report)
    }
}
