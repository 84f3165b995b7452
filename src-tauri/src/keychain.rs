//! The passphrase kept in the system's keychain (the Secret Service on
//! Linux, the Keychain on macOS, the Credential Manager on Windows), when
//! the member asks for it, so the app opens without typing it. The key
//! file on disk stays sealed with the passphrase, which stays the way back
//! in: a keychain that is gone, or a passphrase changed elsewhere, only
//! means typing it again.

use circlekeep_engine::{ExposeSecret, SecretString};
use std::path::Path;

const SERVICE: &str = "Circlekeep";

/// The keychain entry of the data folder at `home` (one per folder).
fn entry(home: &Path) -> Result<keyring::Entry, String> {
    let account = format!("key file passphrase: {}", home.display());
    keyring::Entry::new(SERVICE, &account).map_err(|e| e.to_string())
}

/// Keeps `passphrase` in the keychain for `home`.
pub fn remember(home: &Path, passphrase: &SecretString) -> Result<(), String> {
    entry(home)?
        .set_password(passphrase.expose_secret())
        .map_err(|e| e.to_string())
}

/// The passphrase kept for `home`, if any (and the keychain answers).
pub fn recall(home: &Path) -> Option<SecretString> {
    let found = entry(home).ok()?.get_password();
    match found {
        Ok(pass) => Some(SecretString::from(pass)),
        Err(keyring::Error::NoEntry) => None,
        Err(e) => {
            tracing::info!("the keychain does not answer: {e}");
            None
        }
    }
}

/// Forgets the passphrase kept for `home` (nothing kept is fine).
pub fn forget(home: &Path) -> Result<(), String> {
    match entry(home)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
