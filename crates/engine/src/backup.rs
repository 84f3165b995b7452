//! Full backups: a tar archive of every circle's records (as bundles), the
//! journal, the device settings and the key file, sealed with age to this
//! device's own recipient, so the standard `age` tool opens it with the
//! identity (`age -d -i identity.age backup.age | tar x`), and `restore`
//! brings it back into a home holding the same identity. The device signs
//! the archive's files (the last file, `signature`); restore refuses a
//! backup this device did not sign, since anyone can seal to a recipient.
//!
//! On a new computer a backup is not restored as the same device (two
//! computers writing with one key fork its log): the backed-up key, held
//! in memory only, links a new device of the member, as `device add`
//! would, and the new device takes the circles in from there.

use crate::views::JournalEntryView;
use crate::{CircleId, Engine, EngineError, Store};
use circlekeep_seal::backup::BackupDigest;
use circlekeep_seal::epoch::{open_backup, seal_to_recipient};
use circlekeep_seal::DeviceIdentity;
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::Read;

const README: &str = "\
Circlekeep backup.
circles/<id>.bundle  every membership operation and entry of a circle (signed, sealed)
journal.jsonl        the private journal, one JSON entry per line
settings.json        device settings
attestation.bin      a linked device's attestation (public keys and signatures)
identity.age         the key file (still protected by its passphrase)
signature            the device id (32 bytes) and its ed25519 signature over the files above
Restore with: circlekeep restore FILE
";

/// A linked device's attestation, in a backup.
const ATTESTATION: &str = "attestation.bin";

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

/// The archive being written, and what its signature will cover.
struct Writer {
    builder: tar::Builder<Vec<u8>>,
    digest: BackupDigest,
}

impl Writer {
    fn new() -> Self {
        Writer {
            builder: tar::Builder::new(Vec::new()),
            digest: BackupDigest::default(),
        }
    }

    fn add(&mut self, path: &str, bytes: &[u8]) -> Result<(), EngineError> {
        self.digest.add(path, bytes);
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(0);
        header.set_cksum();
        self.builder
            .append_data(&mut header, path, bytes)
            .map_err(bad)
    }

    /// The archive, signed by `me`.
    fn finish(mut self, me: &DeviceIdentity) -> Result<Vec<u8>, EngineError> {
        let mut signature = me.device_id().as_bytes().to_vec();
        signature.extend_from_slice(&self.digest.sign(me));
        self.add(SIGNATURE, &signature)?;
        self.builder.into_inner().map_err(bad)
    }
}

const SIGNATURE: &str = "signature";

/// A backup's files, once opened and its signature checked.
#[derive(Default)]
struct Contents {
    bundles: Vec<Vec<u8>>,
    journal: Vec<u8>,
    settings: Option<Vec<u8>>,
    attestation: Option<Vec<u8>>,
}

/// Opens a backup sealed to `me` and checks that `me` signed it.
fn open_signed(me: &DeviceIdentity, sealed: &[u8]) -> Result<Contents, EngineError> {
    let archive = open_backup(me.age_identity(), sealed).map_err(not_ours)?;
    let mut contents = Contents::default();
    let mut digest = BackupDigest::default();
    let mut signature = None;
    let mut tar = tar::Archive::new(archive.as_slice());
    for file in tar.entries().map_err(bad)? {
        let mut file = file.map_err(bad)?;
        let path = file.path().map_err(bad)?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(bad)?;
        if path == SIGNATURE {
            if signature.replace(bytes).is_some() {
                return Err(bad("it is signed twice"));
            }
            continue;
        }
        if signature.is_some() {
            return Err(bad("it has files after its signature"));
        }
        digest.add(&path, &bytes);
        if path.starts_with("circles/") && path.ends_with(".bundle") {
            contents.bundles.push(bytes);
        } else if path == "journal.jsonl" {
            contents.journal = bytes;
        } else if path == "settings.json" {
            contents.settings = Some(bytes);
        } else if path == ATTESTATION {
            contents.attestation = Some(bytes);
        }
    }
    let signature = signature.ok_or_else(|| {
        bad("it is not signed (made by an older version of Circlekeep, or not by this device)")
    })?;
    let (device, signature) = signature.split_at(signature.len().min(32));
    if device != me.device_id().as_bytes() {
        return Err(bad("it was signed by another device"));
    }
    digest.verify(&me.device_id(), signature).map_err(|_| {
        bad("its signature does not match: it was altered, or not made by this device")
    })?;
    Ok(contents)
}

impl Engine {
    /// Sets up a new device in the empty `home` from a saved key file and a
    /// backup of the same identity: a new device of the same member, with
    /// keys of its own (sealed under `passphrase`, scrypt `work_factor`),
    /// linked by the backed-up device's key in every circle, never a copy
    /// of that key. The old key is used in memory only, on a copy of the
    /// backup held in memory; the circles reach the new device as a bundle
    /// from it would. The passphrase must open the key and the key the
    /// backup before anything is written, so a mismatch leaves the home as
    /// it was. The other devices learn of the link when the new device
    /// presents it (its sync node does before dialing a member) or sends
    /// a bundle.
    pub fn restore_new_device(
        home: &crate::Home,
        key_file: &[u8],
        passphrase: &circlekeep_seal::SecretString,
        sealed: &[u8],
        work_factor: u8,
    ) -> Result<(Engine, RestoreReport), EngineError> {
        if home.is_initialized() {
            return Err(EngineError::AlreadyInitialized(home.root().to_owned()));
        }
        let old = DeviceIdentity::from_key_file(key_file, passphrase)?;
        open_signed(&old, sealed)?;
        let (member, name) = (old.member_id(), old.name().to_owned());
        let scratch = Engine::with_store(circlekeep_store::MemoryStore::new(), old);
        scratch.restore(sealed)?;
        let engine = Engine::init_device(home, member, &name, passphrase, work_factor)?;
        let linked = scratch.link_device(&engine.device_request())?;
        engine.keep_link(&linked)?;
        let report = engine.take_over(&scratch, &linked.circles)?;
        Ok((engine, report))
    }
}

impl<S: Store> Engine<S> {
    /// Takes in what `from` (the device that just linked this one, in
    /// memory) holds: each circle it linked this device into (not those
    /// the member had left) as a bundle from it, checked like any, to be
    /// presented to members; the journal, sealed again to this device; the
    /// settings.
    fn take_over<T: Store>(
        &self,
        from: &Engine<T>,
        circles: &[CircleId],
    ) -> Result<RestoreReport, EngineError> {
        let mut report = RestoreReport::default();
        for &id in circles {
            self.asked_to_join(id)?;
            let imported = self.import_bundle(&from.export_bundle(id, None)?)?;
            report.circles += 1;
            report.records += imported.ops_accepted + imported.entries_accepted;
            self.to_present(id, true)?;
        }
        for entry in from.journal()? {
            self.put_journal_entry(&entry)?;
            report.journal += 1;
        }
        for key in SETTINGS {
            if let Some(value) = from.setting(key)? {
                self.set_setting(key, Some(&value))?;
            }
        }
        Ok(report)
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
        let mut archive = Writer::new();
        archive.add("README.txt", README.as_bytes())?;
        for id in self.store.circles().map_err(EngineError::store)? {
            let bundle = self.export_bundle(id, None)?;
            archive.add(&format!("circles/{}.bundle", id.to_hex()), &bundle)?;
        }
        let mut journal = Vec::new();
        for entry in self.journal()? {
            serde_json::to_writer(&mut journal, &entry).map_err(bad)?;
            journal.push(b'\n');
        }
        archive.add("journal.jsonl", &journal)?;
        let mut settings = serde_json::Map::new();
        for key in SETTINGS {
            if let Some(v) = self.setting(key)? {
                settings.insert(key.into(), v.into());
            }
        }
        archive.add(
            "settings.json",
            &serde_json::to_vec_pretty(&settings).map_err(bad)?,
        )?;
        if let Some(attestation) = self.attestation()? {
            if self.me.device_id() != self.me.member_id() {
                archive.add(
                    ATTESTATION,
                    &circlekeep_seal::attest::to_bytes(&attestation),
                )?;
            }
        }
        if let Some(key) = key_file {
            archive.add("identity.age", key)?;
        }
        let archive = archive.finish(&self.me)?;
        Ok(seal_to_recipient(&self.me.recipient(), &archive))
    }

    /// Restores a backup this device made (and signed): imports every circle's
    /// records (checked like any bundle), the journal and the settings.
    /// What is already here stays; nothing is deleted.
    pub fn restore(&self, sealed: &[u8]) -> Result<RestoreReport, EngineError> {
        let Contents {
            bundles,
            journal,
            settings,
            attestation,
        } = open_signed(&self.me, sealed)?;
        if let Some(bytes) = attestation {
            self.keep_attestation(&bytes)?;
        }
        let mut report = RestoreReport::default();
        for bundle in bundles {
            // The member's own circles: restored as accepted.
            let id = crate::bundle::Bundle::decode(&bundle)?.circle;
            self.asked_to_join(id)?;
            let imported = match self.import_bundle(&bundle) {
                Ok(imported) => imported,
                // A circle this device had left or been removed from, held
                // nowhere here yet: nothing of it can be taken in again.
                Err(EngineError::NotInvited) => {
                    self.forget_joining(id)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
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
