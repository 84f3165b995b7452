//! The device identity: an ed25519 signing key (also the iroh endpoint key)
//! and an age X25519 identity, kept in a key file sealed with a passphrase
//! through age's scrypt recipient.
//!
//! The key file's plaintext is itself an age identity file (the X25519 key
//! line, with Circlekeep's own fields as `#` comments), so
//! `age -d identity.age > key.txt; age -d -i key.txt backup.age` works with
//! the standard `age` tool.

use crate::card::MemberCard;
use crate::content::{read_bounded, SymmetricKey};
use age::secrecy::{ExposeSecret, SecretString};
use circlekeep_model::MemberId;
use data_encoding::HEXLOWER;
use ed25519_dalek::{Signer, SigningKey};
use std::io::Write;
use std::str::FromStr;
use zeroize::Zeroizing;

/// scrypt work factor (log2 N) for new key files: about a second on a laptop.
pub const DEFAULT_WORK_FACTOR: u8 = 18;
/// The lowest work factor accepted for a new key file (tests use it).
pub const MIN_WORK_FACTOR: u8 = 10;
/// The highest work factor accepted when opening a key file.
pub const MAX_WORK_FACTOR: u8 = 22;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

const HEADER: &str = "# Circlekeep device identity. Keep this secret.";
const NAME_FIELD: &str = "# name: ";
const SIGNING_FIELD: &str = "# signing-key: ";
const MEMBER_FIELD: &str = "# member: ";

/// Why a display name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// Empty after trimming.
    #[error("a name cannot be empty")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("a name can be at most {MAX_NAME_CHARS} characters")]
    TooLong,
    /// Contains line breaks or other control characters.
    #[error("a name cannot contain control characters")]
    ControlCharacters,
}

/// Checks and trims a display name.
pub fn validate_name(name: &str) -> Result<String, NameError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::ControlCharacters);
    }
    Ok(name.to_owned())
}

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The passphrase does not open the key file.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The bytes are not an age passphrase file.
    #[error("not a Circlekeep key file")]
    NotAKeyFile,
    /// The file opened but its contents are damaged or incomplete.
    #[error("the key file is damaged: {0}")]
    Corrupt(&'static str),
    /// The file demands more scrypt work than this app allows.
    #[error(
        "the key file asks for scrypt work factor {0}, more than the allowed {MAX_WORK_FACTOR}"
    )]
    TooExpensive(u8),
    /// The requested work factor is out of range.
    #[error("scrypt work factor must be between {MIN_WORK_FACTOR} and {MAX_WORK_FACTOR}")]
    BadWorkFactor,
    /// An empty passphrase.
    #[error("the passphrase cannot be empty")]
    EmptyPassphrase,
}

/// This device's keys, the member it is a device of, and the member's
/// display name.
pub struct DeviceIdentity {
    name: String,
    signing: SigningKey,
    age: age::x25519::Identity,
    /// The member this device was linked to; `None` for a member's first
    /// device, whose own key is the member id.
    member: Option<MemberId>,
}

impl std::fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("member", &self.member_id())
            .field("device", &self.device_id())
            .finish_non_exhaustive()
    }
}

impl DeviceIdentity {
    /// A fresh identity with new random keys.
    pub fn generate(name: &str) -> Result<Self, NameError> {
        Ok(Self {
            name: validate_name(name)?,
            signing: SigningKey::from_bytes(&crate::random_bytes()),
            age: age::x25519::Identity::generate(),
            member: None,
        })
    }

    /// A deterministic identity derived from `seed`, for reproducible tests
    /// and benchmarks. Never use a guessable seed for a real device.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NameError> {
        let signing_seed = blake3::derive_key("circlekeep v1 seeded signing key", &seed);
        let age_seed = Zeroizing::new(blake3::derive_key("circlekeep v1 seeded age key", &seed));
        Ok(Self {
            name: validate_name(name)?,
            signing: SigningKey::from_bytes(&signing_seed),
            age: age_identity_from_bytes(&age_seed),
            member: None,
        })
    }

    /// The owner's display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The member this device is a device of: its own key for a member's
    /// first device, else the member it was linked to.
    pub fn member_id(&self) -> MemberId {
        self.member.unwrap_or_else(|| self.device_id())
    }

    /// This device's id: its ed25519 public key, which signs everything it
    /// writes and is its iroh endpoint id.
    pub fn device_id(&self) -> MemberId {
        MemberId(self.signing.verifying_key().to_bytes())
    }

    /// Makes this identity a device of `member` (when it is linked as one).
    pub fn become_device_of(&mut self, member: MemberId) {
        self.member = (member != self.device_id()).then_some(member);
    }

    /// This device's age recipient, to which epoch secrets are sealed.
    pub fn recipient(&self) -> age::x25519::Recipient {
        self.age.to_public()
    }

    /// This device's age identity, which opens what was sealed to it.
    pub fn age_identity(&self) -> &age::x25519::Identity {
        &self.age
    }

    /// The ed25519 secret, for the iroh endpoint (the transport peer *is* the signer).
    pub fn endpoint_secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// Signs `message` under a domain-separation label.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> [u8; 64] {
        let mut signed = Vec::with_capacity(domain.len() + message.len());
        signed.extend_from_slice(domain);
        signed.extend_from_slice(message);
        self.signing.sign(&signed).to_bytes()
    }

    /// The member card others use to add this device to a circle.
    pub fn card(&self) -> MemberCard {
        MemberCard::issue(self)
    }

    /// A key only this device knows, for sealing its local caches.
    pub fn local_key(&self) -> SymmetricKey {
        SymmetricKey::from_bytes(blake3::derive_key(
            "circlekeep v1 local storage key",
            &self.signing.to_bytes(),
        ))
    }

    /// Seals this identity into a key file under `passphrase`.
    pub fn to_key_file(
        &self,
        passphrase: &SecretString,
        work_factor: u8,
    ) -> Result<Vec<u8>, KeyFileError> {
        if !(MIN_WORK_FACTOR..=MAX_WORK_FACTOR).contains(&work_factor) {
            return Err(KeyFileError::BadWorkFactor);
        }
        if passphrase.expose_secret().is_empty() {
            return Err(KeyFileError::EmptyPassphrase);
        }
        let member = self
            .member
            .map(|m| format!("{MEMBER_FIELD}{}\n", m.to_hex()))
            .unwrap_or_default();
        let plaintext = Zeroizing::new(format!(
            "{HEADER}\n{NAME_FIELD}{}\n{SIGNING_FIELD}{}\n{member}{}\n",
            self.name,
            HEXLOWER.encode(&self.signing.to_bytes()),
            self.age.to_string().expose_secret(),
        ));
        let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
        recipient.set_work_factor(work_factor);
        let mut out = Vec::new();
        // Writing to memory cannot fail; a lone scrypt recipient is valid.
        #[allow(clippy::expect_used)]
        {
            let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _))
                .expect("a lone scrypt recipient is valid");
            let mut writer = encryptor.wrap_output(&mut out).expect("writing to memory");
            writer
                .write_all(plaintext.as_bytes())
                .expect("writing to memory");
            writer.finish().expect("writing to memory");
        }
        Ok(out)
    }

    /// Opens a key file with `passphrase`.
    pub fn from_key_file(bytes: &[u8], passphrase: &SecretString) -> Result<Self, KeyFileError> {
        let decryptor = age::Decryptor::new(bytes).map_err(|_| KeyFileError::NotAKeyFile)?;
        if !decryptor.is_scrypt() {
            return Err(KeyFileError::NotAKeyFile);
        }
        let mut identity = age::scrypt::Identity::new(passphrase.clone());
        identity.set_max_work_factor(MAX_WORK_FACTOR);
        let reader = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                    KeyFileError::WrongPassphrase
                }
                age::DecryptError::ExcessiveWork { required, .. } => {
                    KeyFileError::TooExpensive(required)
                }
                age::DecryptError::InvalidMac => KeyFileError::Corrupt("header was altered"),
                _ => KeyFileError::NotAKeyFile,
            })?;
        let plaintext = Zeroizing::new(
            read_bounded(reader).map_err(|_| KeyFileError::Corrupt("contents do not decrypt"))?,
        );
        let text = std::str::from_utf8(&plaintext)
            .map_err(|_| KeyFileError::Corrupt("contents are not text"))?;
        Self::parse_plaintext(text)
    }

    fn parse_plaintext(text: &str) -> Result<Self, KeyFileError> {
        let mut name = None;
        let mut signing = None;
        let mut age = None;
        let mut member = None;
        for line in text.lines() {
            if let Some(value) = line.strip_prefix(MEMBER_FIELD) {
                member = Some(
                    MemberId::from_hex(value)
                        .map_err(|_| KeyFileError::Corrupt("bad member id"))?,
                );
            } else if let Some(value) = line.strip_prefix(NAME_FIELD) {
                name = Some(validate_name(value).map_err(|_| KeyFileError::Corrupt("bad name"))?);
            } else if let Some(value) = line.strip_prefix(SIGNING_FIELD) {
                let bytes = Zeroizing::new(
                    HEXLOWER
                        .decode(value.trim().as_bytes())
                        .map_err(|_| KeyFileError::Corrupt("bad signing key"))?,
                );
                let seed: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| KeyFileError::Corrupt("bad signing key"))?;
                signing = Some(SigningKey::from_bytes(&seed));
            } else if line.starts_with("AGE-SECRET-KEY-1") {
                age = Some(
                    age::x25519::Identity::from_str(line.trim())
                        .map_err(|_| KeyFileError::Corrupt("bad age identity"))?,
                );
            }
        }
        Ok(Self {
            name: name.ok_or(KeyFileError::Corrupt("name missing"))?,
            signing: signing.ok_or(KeyFileError::Corrupt("signing key missing"))?,
            age: age.ok_or(KeyFileError::Corrupt("age identity missing"))?,
            member,
        })
    }
}

fn age_identity_from_bytes(bytes: &[u8; 32]) -> age::x25519::Identity {
    // A fixed valid HRP and 32 bytes always encode, and age parses its own encoding.
    #[allow(clippy::expect_used)]
    {
        let hrp = bech32::Hrp::parse("age-secret-key-").expect("valid HRP");
        let encoded =
            Zeroizing::new(bech32::encode::<bech32::Bech32>(hrp, bytes).expect("32 bytes encode"));
        age::x25519::Identity::from_str(&encoded.to_uppercase()).expect("age parses bech32 keys")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn key_file_round_trips_and_refuses_the_wrong_passphrase() {
        let me = DeviceIdentity::generate("Ada").expect("name");
        let file = me
            .to_key_file(&pass("correct horse"), MIN_WORK_FACTOR)
            .expect("seal");
        let back = DeviceIdentity::from_key_file(&file, &pass("correct horse")).expect("open");
        assert_eq!(back.member_id(), me.member_id());
        assert_eq!(back.recipient().to_string(), me.recipient().to_string());
        assert_eq!(back.name(), "Ada");
        assert_eq!(
            DeviceIdentity::from_key_file(&file, &pass("battery staple")).map(|_| ()),
            Err(KeyFileError::WrongPassphrase)
        );
    }

    #[test]
    fn damaged_key_files_get_clear_errors() {
        let me = DeviceIdentity::generate("Ada").expect("name");
        let file = me.to_key_file(&pass("pw"), MIN_WORK_FACTOR).expect("seal");
        let open = |bytes: &[u8]| DeviceIdentity::from_key_file(bytes, &pass("pw")).map(|_| ());
        assert_eq!(open(b""), Err(KeyFileError::NotAKeyFile));
        assert_eq!(open(b"hello world"), Err(KeyFileError::NotAKeyFile));
        assert!(open(&file[..file.len() - 5]).is_err());
        let mut flipped = file.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(open(&flipped), Err(KeyFileError::Corrupt(_))));
        // An X25519-sealed file is not a key file.
        let other = age::encrypt(&me.recipient(), b"x").expect("encrypt");
        assert_eq!(open(&other), Err(KeyFileError::NotAKeyFile));
    }

    #[test]
    fn refuses_weak_work_factors_and_empty_passphrases() {
        let me = DeviceIdentity::generate("Ada").expect("name");
        assert_eq!(
            me.to_key_file(&pass("pw"), 4).map(|_| ()),
            Err(KeyFileError::BadWorkFactor)
        );
        assert_eq!(
            me.to_key_file(&pass(""), MIN_WORK_FACTOR).map(|_| ()),
            Err(KeyFileError::EmptyPassphrase)
        );
    }

    #[test]
    fn key_file_plaintext_is_an_age_identity_file() {
        let me = DeviceIdentity::generate("Ada").expect("name");
        let file = me.to_key_file(&pass("pw"), MIN_WORK_FACTOR).expect("seal");
        let mut identity = age::scrypt::Identity::new(pass("pw"));
        identity.set_max_work_factor(MAX_WORK_FACTOR);
        let plain = age::decrypt(&identity, &file).expect("standard age opens it");
        let parsed = age::IdentityFile::from_buffer(plain.as_slice()).expect("identity file");
        let sealed = age::encrypt(&me.recipient(), b"backup").expect("encrypt");
        let identities = parsed.into_identities().expect("identities");
        let decryptor = age::Decryptor::new(sealed.as_slice()).expect("header");
        let mut reader = decryptor
            .decrypt(identities.iter().map(|i| &**i as &dyn age::Identity))
            .expect("the key file's identity opens it");
        let mut opened = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut opened).expect("read");
        assert_eq!(opened, b"backup");
    }

    #[test]
    fn names_are_validated() {
        assert_eq!(validate_name("  Bo  "), Ok("Bo".into()));
        assert_eq!(validate_name(" "), Err(NameError::Empty));
        assert_eq!(validate_name("a\nb"), Err(NameError::ControlCharacters));
        assert_eq!(validate_name(&"x".repeat(65)), Err(NameError::TooLong));
    }

    #[test]
    fn seeded_identities_are_reproducible_and_distinct() {
        let a = DeviceIdentity::from_seed("A", [1; 32]).expect("seed");
        let again = DeviceIdentity::from_seed("A", [1; 32]).expect("seed");
        let b = DeviceIdentity::from_seed("B", [2; 32]).expect("seed");
        assert_eq!(a.member_id(), again.member_id());
        assert_eq!(a.recipient().to_string(), again.recipient().to_string());
        assert_ne!(a.member_id(), b.member_id());
    }
}
