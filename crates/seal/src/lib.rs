//! Circlekeep's cryptography: the device identity and its passphrase-protected
//! key file, member cards, signatures over operations and entries, epoch
//! secrets sealed to members, and the custom age stanza that seals content
//! under an epoch key.
//!
//! Architecture invariant: age is the one ciphertext format. Everything this
//! crate seals is an age file, whether to X25519 recipients (epoch secrets,
//! key grants, backups), to a passphrase (the key file) or to a symmetric key
//! through the `circlekeep-key` stanza (content, local caches). This crate
//! does no I/O: bytes in, bytes out.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod attest;
pub mod backup;
pub mod card;
pub mod content;
pub mod epoch;
pub mod identity;
pub mod signed;

pub use age::secrecy::{ExposeSecret, SecretString};
pub use card::{CardError, MemberCard};
pub use content::{OpenError, SymmetricKey};
pub use epoch::{EpochSecret, GrantError, KeyringError};
pub use identity::{DeviceIdentity, KeyFileError, NameError};
pub use signed::VerifyError;

/// Fills a fresh array from the operating system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source failing is unrecoverable for a cryptographic app.
    #[allow(clippy::expect_used)]
    getrandom::getrandom(&mut bytes).expect("the operating system's random source failed");
    bytes
}
