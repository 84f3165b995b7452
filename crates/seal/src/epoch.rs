//! Epoch secrets: a random 32-byte secret per epoch, sealed with age to each
//! member's X25519 recipient, from which two content subkeys are derived —
//! `shared` for the circle document and `notes` for gathering documents — so
//! a newcomer can be handed the circle document of an earlier epoch without
//! its gathering notes. Public commitments let a receiver check that the
//! secret or subkey it was handed is the one the epoch announced.

use crate::content::SymmetricKey;
use circlekeep_model::membership::{EpochKey, KeyClass, KeyGrant};
use circlekeep_model::OpHash;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::io::Write;
use zeroize::Zeroizing;

/// A fresh random secret for one epoch.
#[derive(Clone)]
pub struct EpochSecret(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for EpochSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochSecret(..)")
    }
}

/// Why an epoch key could not be sealed to its audience.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyringError {
    /// A member's recipient string is not an age X25519 recipient.
    #[error("a member's age recipient is invalid")]
    BadRecipient,
    /// No recipients were given.
    #[error("an epoch key needs at least one recipient")]
    NoRecipients,
}

/// Why a sealed key or key grant could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrantError {
    /// Not sealed to this device.
    #[error("not sealed to this device")]
    NotForMe,
    /// Damaged or altered.
    #[error("sealed key material is corrupt")]
    Corrupt,
    /// The key does not match the epoch's public commitment.
    #[error("key does not match its epoch's commitment")]
    CommitmentMismatch,
}

fn commit(label: &str, key: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key(label, key)
}

/// Commitment to a circle-document subkey.
pub fn shared_commitment(shared: &SymmetricKey) -> [u8; 32] {
    commit("circlekeep v1 shared subkey commitment", shared.as_bytes())
}

impl EpochSecret {
    /// A fresh random secret.
    pub fn generate() -> Self {
        Self(Zeroizing::new(crate::random_bytes()))
    }

    /// The subkey sealing the circle document.
    pub fn shared(&self) -> SymmetricKey {
        SymmetricKey::from_bytes(blake3::derive_key(
            "circlekeep v1 shared subkey",
            &self.0[..],
        ))
    }

    /// The subkey sealing gathering documents.
    pub fn notes(&self) -> SymmetricKey {
        SymmetricKey::from_bytes(blake3::derive_key(
            "circlekeep v1 notes subkey",
            &self.0[..],
        ))
    }

    fn full_commitment(&self) -> [u8; 32] {
        commit("circlekeep v1 epoch secret commitment", &self.0)
    }

    /// Seals the secret to every recipient (age X25519, one stanza each).
    pub fn seal_for<'a>(
        &self,
        recipients: impl IntoIterator<Item = &'a str>,
    ) -> Result<EpochKey, KeyringError> {
        let parsed = parse_recipients(recipients)?;
        Ok(EpochKey {
            sealed: seal_to(&parsed, &self.0[..]),
            full_commitment: self.full_commitment(),
            shared_commitment: shared_commitment(&self.shared()),
        })
    }

    /// Opens an epoch key sealed to `identity` and checks its commitments.
    pub fn open(key: &EpochKey, identity: &age::x25519::Identity) -> Result<Self, GrantError> {
        let bytes = Zeroizing::new(open_from(identity, &key.sealed)?);
        let secret: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| GrantError::Corrupt)?;
        let secret = EpochSecret(Zeroizing::new(secret));
        if secret.full_commitment() != key.full_commitment
            || shared_commitment(&secret.shared()) != key.shared_commitment
        {
            return Err(GrantError::CommitmentMismatch);
        }
        Ok(secret)
    }

    /// Restores a secret this device checked earlier (from its sealed cache).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw secret, for this device's sealed cache.
    pub fn to_bytes(&self) -> [u8; 32] {
        *self.0
    }
}

/// Key material handed over in a grant.
#[derive(Clone, Debug)]
pub enum GrantedKey {
    /// A circle-document subkey.
    Shared(SymmetricKey),
    /// A whole epoch secret.
    Full(EpochSecret),
}

#[derive(Serialize, Deserialize)]
struct GrantWire {
    epoch: OpHash,
    class: KeyClass,
    key: [u8; 32],
}

/// Seals the given keys to one member's recipient for a `ShareKeys` operation.
pub fn seal_grants(
    keys: &[(OpHash, GrantedKey)],
    recipient: &str,
) -> Result<(Vec<KeyGrant>, Vec<u8>), KeyringError> {
    let parsed = parse_recipients([recipient])?;
    let mut grants = Vec::with_capacity(keys.len());
    let mut wire = Vec::with_capacity(keys.len());
    for (epoch, key) in keys {
        let (class, bytes) = match key {
            GrantedKey::Shared(k) => (KeyClass::Shared, *k.as_bytes()),
            GrantedKey::Full(s) => (KeyClass::Full, *s.0),
        };
        grants.push(KeyGrant {
            epoch: *epoch,
            class,
        });
        wire.push(GrantWire {
            epoch: *epoch,
            class,
            key: bytes,
        });
    }
    // Serialising plain data into memory cannot fail.
    #[allow(clippy::expect_used)]
    let plaintext = Zeroizing::new(postcard::to_stdvec(&wire).expect("grants serialise"));
    for w in &mut wire {
        zeroize::Zeroize::zeroize(&mut w.key);
    }
    Ok((grants, seal_to(&parsed, &plaintext)))
}

/// Opens a grant sealed to `identity`, keeping only keys that match the
/// declared grants and their epochs' commitments (`epoch_key` looks up the
/// epoch's announced key record).
pub fn open_grants<'a>(
    sealed: &[u8],
    declared: &[KeyGrant],
    identity: &age::x25519::Identity,
    epoch_key: impl Fn(&OpHash) -> Option<&'a EpochKey>,
) -> Result<Vec<(OpHash, GrantedKey)>, GrantError> {
    let plaintext = Zeroizing::new(open_from(identity, sealed)?);
    let wire: Vec<GrantWire> = postcard::from_bytes(&plaintext).map_err(|_| GrantError::Corrupt)?;
    let mut keys = Vec::with_capacity(wire.len());
    for mut item in wire {
        let grant = KeyGrant {
            epoch: item.epoch,
            class: item.class,
        };
        let announced = epoch_key(&item.epoch);
        let key = match item.class {
            KeyClass::Shared => {
                let k = SymmetricKey::from_bytes(item.key);
                let ok = announced.is_some_and(|a| shared_commitment(&k) == a.shared_commitment);
                ok.then_some(GrantedKey::Shared(k))
            }
            KeyClass::Full => {
                let s = EpochSecret::from_bytes(item.key);
                let ok = announced.is_some_and(|a| {
                    s.full_commitment() == a.full_commitment
                        && shared_commitment(&s.shared()) == a.shared_commitment
                });
                ok.then_some(GrantedKey::Full(s))
            }
        };
        zeroize::Zeroize::zeroize(&mut item.key);
        match key {
            Some(key) if declared.contains(&grant) => keys.push((item.epoch, key)),
            _ => return Err(GrantError::CommitmentMismatch),
        }
    }
    Ok(keys)
}

fn parse_recipients<'a>(
    recipients: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<age::x25519::Recipient>, KeyringError> {
    let parsed = recipients
        .into_iter()
        .map(|r| r.parse().map_err(|_| KeyringError::BadRecipient))
        .collect::<Result<Vec<age::x25519::Recipient>, _>>()?;
    if parsed.is_empty() {
        return Err(KeyringError::NoRecipients);
    }
    Ok(parsed)
}

/// Seals `plaintext` to X25519 recipients (which must be non-empty).
pub(crate) fn seal_to(recipients: &[age::x25519::Recipient], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    // Non-empty X25519 recipient sets are always valid; memory writes cannot fail.
    #[allow(clippy::expect_used)]
    {
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .expect("non-empty X25519 recipients");
        let mut writer = encryptor.wrap_output(&mut out).expect("writing to memory");
        writer.write_all(plaintext).expect("writing to memory");
        writer.finish().expect("writing to memory");
    }
    out
}

/// Opens an X25519-sealed file with `identity`.
pub(crate) fn open_from(
    identity: &age::x25519::Identity,
    sealed: &[u8],
) -> Result<Vec<u8>, GrantError> {
    open_from_up_to(identity, sealed, crate::content::MAX_PLAINTEXT)
}

/// Opens an X25519-sealed file of at most `max` plaintext bytes.
fn open_from_up_to(
    identity: &age::x25519::Identity,
    sealed: &[u8],
    max: usize,
) -> Result<Vec<u8>, GrantError> {
    let decryptor = age::Decryptor::new(sealed).map_err(|_| GrantError::Corrupt)?;
    let reader = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => GrantError::NotForMe,
            _ => GrantError::Corrupt,
        })?;
    let mut plaintext = Vec::new();
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut plaintext)
        .map_err(|_| GrantError::Corrupt)?;
    if plaintext.len() > max {
        return Err(GrantError::Corrupt);
    }
    Ok(plaintext)
}

/// Opens a sealed backup (up to 1 GiB of plaintext) with `identity`.
pub fn open_backup(identity: &age::x25519::Identity, sealed: &[u8]) -> Result<Vec<u8>, GrantError> {
    open_from_up_to(identity, sealed, 1 << 30)
}

/// Seals `plaintext` to one age recipient (backups, journal): standard age.
pub fn seal_to_recipient(recipient: &age::x25519::Recipient, plaintext: &[u8]) -> Vec<u8> {
    seal_to(std::slice::from_ref(recipient), plaintext)
}

/// Opens what [`seal_to_recipient`] sealed.
pub fn open_with_identity(
    identity: &age::x25519::Identity,
    sealed: &[u8],
) -> Result<Vec<u8>, GrantError> {
    open_from(identity, sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceIdentity;

    #[test]
    fn audience_members_open_the_epoch_and_others_do_not() {
        let ada = DeviceIdentity::from_seed("Ada", [1; 32]).expect("seed");
        let bo = DeviceIdentity::from_seed("Bo", [2; 32]).expect("seed");
        let eve = DeviceIdentity::from_seed("Eve", [3; 32]).expect("seed");
        let secret = EpochSecret::generate();
        let recipients = [ada.recipient().to_string(), bo.recipient().to_string()];
        let key = secret
            .seal_for(recipients.iter().map(String::as_str))
            .expect("seal");
        for member in [&ada, &bo] {
            let opened = EpochSecret::open(&key, member.age_identity()).expect("open");
            assert_eq!(opened.notes().as_bytes(), secret.notes().as_bytes());
        }
        assert_eq!(
            EpochSecret::open(&key, eve.age_identity()).map(|_| ()),
            Err(GrantError::NotForMe)
        );
        assert_ne!(secret.shared().as_bytes(), secret.notes().as_bytes());
    }

    #[test]
    fn a_secret_that_breaks_its_commitment_is_refused() {
        let ada = DeviceIdentity::from_seed("Ada", [1; 32]).expect("seed");
        let secret = EpochSecret::generate();
        let mut key = secret
            .seal_for([ada.recipient().to_string().as_str()])
            .expect("seal");
        key.full_commitment[0] ^= 1;
        assert_eq!(
            EpochSecret::open(&key, ada.age_identity()).map(|_| ()),
            Err(GrantError::CommitmentMismatch)
        );
    }

    #[test]
    fn grants_carry_exactly_what_they_declare() {
        let ada = DeviceIdentity::from_seed("Ada", [1; 32]).expect("seed");
        let bo = DeviceIdentity::from_seed("Bo", [2; 32]).expect("seed");
        let secret = EpochSecret::generate();
        let announced = secret
            .seal_for([ada.recipient().to_string().as_str()])
            .expect("seal");
        let epoch = OpHash([7; 32]);
        let (grants, sealed) = seal_grants(
            &[(epoch, GrantedKey::Shared(secret.shared()))],
            &bo.recipient().to_string(),
        )
        .expect("grant");
        let lookup = |e: &OpHash| (*e == epoch).then_some(&announced);
        let keys = open_grants(&sealed, &grants, bo.age_identity(), lookup).expect("open");
        assert!(
            matches!(&keys[..], [(e, GrantedKey::Shared(k))] if *e == epoch && k.as_bytes() == secret.shared().as_bytes())
        );
        // Claiming a Full grant while sealing only Shared is refused.
        let overclaim = [KeyGrant {
            epoch,
            class: KeyClass::Full,
        }];
        assert_eq!(
            open_grants(&sealed, &overclaim, bo.age_identity(), lookup).map(|_| ()),
            Err(GrantError::CommitmentMismatch)
        );
        // Ada cannot open Bo's grant.
        assert_eq!(
            open_grants(&sealed, &grants, ada.age_identity(), lookup).map(|_| ()),
            Err(GrantError::NotForMe)
        );
        // A wrong key under a real epoch is refused.
        let (grants, sealed) = seal_grants(
            &[(epoch, GrantedKey::Shared(SymmetricKey::from_bytes([0; 32])))],
            &bo.recipient().to_string(),
        )
        .expect("grant");
        assert_eq!(
            open_grants(&sealed, &grants, bo.age_identity(), lookup).map(|_| ()),
            Err(GrantError::CommitmentMismatch)
        );
    }
}
