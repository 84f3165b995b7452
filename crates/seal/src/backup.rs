//! What a backup's signature covers: every file of the archive but the
//! signature, by path and bytes, in order, hashed as they are written or
//! read. The device that made a backup signs it; restore checks the
//! signature before taking anything in, since sealing to a recipient (age)
//! says nothing of who sealed.

use crate::identity::DeviceIdentity;
use crate::signed::VerifyError;
use circlekeep_model::MemberId;
use ed25519_dalek::{Signature, VerifyingKey};

const BACKUP_DOMAIN: &[u8] = b"circlekeep v1 backup\0";

/// The running digest of a backup's files.
#[derive(Clone)]
pub struct BackupDigest(blake3::Hasher);

impl Default for BackupDigest {
    fn default() -> Self {
        Self(blake3::Hasher::new_derive_key("circlekeep v1 backup files"))
    }
}

impl BackupDigest {
    /// Adds one file (its path and bytes, each length-prefixed).
    pub fn add(&mut self, path: &str, bytes: &[u8]) {
        self.0.update(&(path.len() as u64).to_be_bytes());
        self.0.update(path.as_bytes());
        self.0.update(&(bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    /// `identity`'s signature over the files added.
    pub fn sign(&self, identity: &DeviceIdentity) -> [u8; 64] {
        identity.sign(BACKUP_DOMAIN, self.0.finalize().as_bytes())
    }

    /// Checks that `device` signed exactly the files added.
    pub fn verify(&self, device: &MemberId, signature: &[u8]) -> Result<(), VerifyError> {
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| VerifyError::BadSignature)?;
        let key =
            VerifyingKey::from_bytes(device.as_bytes()).map_err(|_| VerifyError::BadSignature)?;
        let mut signed = BACKUP_DOMAIN.to_vec();
        signed.extend_from_slice(self.0.finalize().as_bytes());
        key.verify_strict(&signed, &Signature::from_bytes(&signature))
            .map_err(|_| VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(files: &[(&str, &[u8])]) -> BackupDigest {
        let mut d = BackupDigest::default();
        for (path, bytes) in files {
            d.add(path, bytes);
        }
        d
    }

    #[test]
    fn a_signature_covers_every_path_and_byte_and_names_its_device() {
        let ada = DeviceIdentity::from_seed("Ada", [1; 32]).expect("identity");
        let eve = DeviceIdentity::from_seed("Eve", [2; 32]).expect("identity");
        let files: &[(&str, &[u8])] = &[("journal.jsonl", b"{}"), ("settings.json", b"{}")];
        let signature = digest(files).sign(&ada);
        assert!(digest(files).verify(&ada.device_id(), &signature).is_ok());
        assert!(digest(files).verify(&eve.device_id(), &signature).is_err());
        for changed in [
            &[("journal.jsonl", &b"{ }"[..]), ("settings.json", b"{}")][..],
            &[("journal.jsonl", b"{}")],
            &[
                ("journal.jsonl", b"{}"),
                ("settings.json", b"{}"),
                ("x", b""),
            ],
            // Bytes moved from one file's content into its path.
            &[("journal.jsonl{", b"}"), ("settings.json", b"{}")],
        ] {
            assert!(digest(changed)
                .verify(&ada.device_id(), &signature)
                .is_err());
        }
        assert!(digest(files)
            .verify(&ada.device_id(), &signature[..63])
            .is_err());
    }
}
