//! Sealing bytes under a symmetric 32-byte key as an age file, through a
//! custom `circlekeep-kdf` recipient stanza: the file key is derived as
//! `HKDF(key, salt)` with a fresh random salt per file, so the stanza
//! carries only the salt. The cost per file does not depend on how many
//! members can read it.
//!
//! Files sealed before used a `circlekeep-key` stanza that wrapped a random
//! file key with ChaCha20-Poly1305 under `HKDF(key, salt)`; they still open.
//! Deriving instead of wrapping saves the 32 random bytes of the wrapped
//! key (incompressible, so on the wire as at rest) in every entry, with the
//! same guarantee: only holders of the key can compute a file's key, and
//! every file's key is distinct and pseudorandom.

use age::DecryptError;
use age_core::format::{FileKey, Stanza, FILE_KEY_BYTES};
use age_core::primitives::{aead_decrypt, hkdf};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use data_encoding::BASE64_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Read;
use zeroize::Zeroizing;

/// Stanza tag of a file key derived from a Circlekeep symmetric key.
pub const STANZA_TAG: &str = "circlekeep-kdf";
const DERIVE_LABEL: &[u8] = b"circlekeep v2 file key";
/// Stanza tag of a file key wrapped under a Circlekeep symmetric key
/// (what [`seal`] wrote before; still opened).
pub const WRAPPED_STANZA_TAG: &str = "circlekeep-key";
const WRAP_LABEL: &[u8] = b"circlekeep v1 file key wrap";
const SALT_LEN: usize = 16;
const WRAPPED_LEN: usize = FILE_KEY_BYTES + 16;
/// age's payload nonce and STREAM chunk size.
const PAYLOAD_NONCE_LEN: usize = 16;
const CHUNK: usize = 64 << 10;

/// Largest plaintext [`open`] will return (bounds memory on hostile input).
pub const MAX_PLAINTEXT: usize = 64 << 20;

/// A 32-byte symmetric key (epoch subkey or local storage key).
#[derive(Clone)]
pub struct SymmetricKey(pub(crate) Zeroizing<[u8; 32]>);

impl SymmetricKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SymmetricKey(..)")
    }
}

/// Why sealed bytes could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// None of the given keys opens it (it may be meant for others).
    #[error("none of the keys held opens this")]
    NoMatchingKey,
    /// It is not a well-formed age file, or it was altered.
    #[error("sealed data is corrupt or was altered")]
    Corrupt,
    /// It decrypts to more than [`MAX_PLAINTEXT`] bytes.
    #[error("sealed data is too large")]
    TooLarge,
}

/// The file key of a `circlekeep-kdf` stanza with `salt`, under `key`.
fn derived_file_key(key: &SymmetricKey, salt: &[u8]) -> Zeroizing<[u8; FILE_KEY_BYTES]> {
    let okm = Zeroizing::new(hkdf(salt, DERIVE_LABEL, key.as_bytes()));
    let mut file_key = Zeroizing::new([0u8; FILE_KEY_BYTES]);
    file_key.copy_from_slice(&okm[..FILE_KEY_BYTES]);
    file_key
}

fn file_key(bytes: &[u8]) -> Result<FileKey, DecryptError> {
    FileKey::try_init_with_mut(|out| {
        out.copy_from_slice(bytes);
        Ok::<_, DecryptError>(())
    })
}

/// One candidate key as an age identity. A wrapped file key shows whether
/// the key fits; a derived one only through the header MAC, which age
/// checks after this returns.
struct KeyIdentity<'a>(&'a SymmetricKey);

impl age::Identity for KeyIdentity<'_> {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        let wrapped = match stanza.tag.as_str() {
            STANZA_TAG => false,
            WRAPPED_STANZA_TAG => true,
            _ => return None,
        };
        let salt = match stanza.args.as_slice() {
            [salt] => BASE64_NOPAD.decode(salt.as_bytes()).ok(),
            _ => None,
        };
        let Some(salt) = salt.filter(|s| s.len() == SALT_LEN) else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        if !wrapped {
            if !stanza.body.is_empty() {
                return Some(Err(DecryptError::InvalidHeader));
            }
            return Some(file_key(&derived_file_key(self.0, &salt)[..]));
        }
        if stanza.body.len() != WRAPPED_LEN {
            return Some(Err(DecryptError::InvalidHeader));
        }
        let wrap_key = Zeroizing::new(hkdf(&salt, WRAP_LABEL, self.0.as_bytes()));
        let bytes = Zeroizing::new(aead_decrypt(&wrap_key, FILE_KEY_BYTES, &stanza.body).ok()?);
        Some(file_key(&bytes))
    }
}

/// Seals `plaintext` so that only holders of `key` can open it.
///
/// The result is an age v1 file with one `circlekeep-key` stanza, written
/// here rather than by `age::Encryptor` only to leave out the random
/// "grease" stanza age adds to every file (about 90 bytes on average, more
/// than a keystroke's change): the format, keys and primitives are age's,
/// and [`open`] reads it with `age::Decryptor`.
pub fn seal(key: &SymmetricKey, plaintext: &[u8]) -> Vec<u8> {
    let salt: [u8; SALT_LEN] = crate::random_bytes();
    let file_key = derived_file_key(key, &salt);

    let mut out = Vec::with_capacity(plaintext.len() + 160);
    out.extend_from_slice(b"age-encryption.org/v1\n-> ");
    out.extend_from_slice(STANZA_TAG.as_bytes());
    out.push(b' ');
    out.extend_from_slice(BASE64_NOPAD.encode(&salt).as_bytes());
    out.push(b'\n');
    // The stanza's body is empty: just its final (short) line.
    out.push(b'\n');
    // The MAC covers the header up to and including "---".
    out.extend_from_slice(b"---");
    let mac_key = Zeroizing::new(hkdf(&[], b"header", &file_key[..]));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&mac_key[..])
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(&out);
    out.push(b' ');
    out.extend_from_slice(BASE64_NOPAD.encode(&mac.finalize().into_bytes()).as_bytes());
    out.push(b'\n');

    // The payload: a nonce, then STREAM (ChaCha20-Poly1305 over 64 KiB
    // chunks, nonce = 11-byte big-endian counter and a last-chunk flag).
    let nonce: [u8; PAYLOAD_NONCE_LEN] = crate::random_bytes();
    out.extend_from_slice(&nonce);
    let payload_key = Zeroizing::new(hkdf(&nonce, b"payload", &file_key[..]));
    let aead = ChaCha20Poly1305::new(Key::from_slice(&payload_key[..]));
    let chunks = plaintext.len().div_ceil(CHUNK).max(1);
    for index in 0..chunks {
        let chunk = &plaintext
            [(index * CHUNK).min(plaintext.len())..((index + 1) * CHUNK).min(plaintext.len())];
        let mut chunk_nonce = [0u8; 12];
        chunk_nonce[3..11].copy_from_slice(&(index as u64).to_be_bytes());
        chunk_nonce[11] = u8::from(index + 1 == chunks);
        let sealed = aead
            .encrypt(Nonce::from_slice(&chunk_nonce), chunk)
            .unwrap_or_else(|_| unreachable!("chunks are far below ChaCha20's limit"));
        out.extend_from_slice(&sealed);
    }
    out
}

/// Opens a file sealed by [`seal`] with whichever of `keys` fits, returning
/// the index of that key and the plaintext.
pub fn open(keys: &[&SymmetricKey], sealed: &[u8]) -> Result<(usize, Vec<u8>), OpenError> {
    for (index, key) in keys.iter().enumerate() {
        let identity = KeyIdentity(key);
        let decryptor = age::Decryptor::new(sealed).map_err(|_| OpenError::Corrupt)?;
        match decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)) {
            Ok(reader) => return Ok((index, read_bounded(reader)?)),
            // A derived file key from the wrong key fails the header MAC.
            Err(DecryptError::NoMatchingKeys | DecryptError::InvalidMac) => continue,
            Err(_) => return Err(OpenError::Corrupt),
        }
    }
    Err(OpenError::NoMatchingKey)
}

/// Reads an age payload, refusing more than [`MAX_PLAINTEXT`] bytes.
pub(crate) fn read_bounded(reader: impl Read) -> Result<Vec<u8>, OpenError> {
    let mut plaintext = Vec::new();
    reader
        .take(MAX_PLAINTEXT as u64 + 1)
        .read_to_end(&mut plaintext)
        .map_err(|_| OpenError::Corrupt)?;
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(OpenError::TooLarge);
    }
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(n: u8) -> SymmetricKey {
        SymmetricKey::from_bytes([n; 32])
    }

    #[test]
    fn seals_and_opens_with_the_right_key_only() {
        let sealed = seal(&key(1), b"what is said here stays here");
        assert_eq!(
            open(&[&key(2), &key(1)], &sealed),
            Ok((1, b"what is said here stays here".to_vec()))
        );
        assert_eq!(open(&[&key(2)], &sealed), Err(OpenError::NoMatchingKey));
        assert_eq!(open(&[], &sealed), Err(OpenError::NoMatchingKey));
        assert!(!sealed.windows(10).any(|w| w == b"what is sa"));
    }

    /// The recipient `age::Encryptor` used to seal with before [`seal`]
    /// wrote files itself (wrapping a random file key): what it made,
    /// grease and all, still opens.
    struct AgeRecipient<'a>(&'a SymmetricKey);

    impl age::Recipient for AgeRecipient<'_> {
        fn wrap_file_key(
            &self,
            file_key: &FileKey,
        ) -> Result<(Vec<Stanza>, std::collections::HashSet<String>), age::EncryptError> {
            use age::secrecy::ExposeSecret;
            let salt: [u8; SALT_LEN] = crate::random_bytes();
            let wrap_key = hkdf(&salt, WRAP_LABEL, self.0.as_bytes());
            Ok((
                vec![Stanza {
                    tag: WRAPPED_STANZA_TAG.to_owned(),
                    args: vec![BASE64_NOPAD.encode(&salt)],
                    body: age_core::primitives::aead_encrypt(&wrap_key, file_key.expose_secret()),
                }],
                Default::default(),
            ))
        }
    }

    fn age_encryptor_seal(key: &SymmetricKey, plaintext: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let recipient = AgeRecipient(key);
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as _)).expect("recipient");
        let mut out = Vec::new();
        let mut writer = encryptor.wrap_output(&mut out).expect("writer");
        writer.write_all(plaintext).expect("write");
        writer.finish().expect("finish");
        out
    }

    #[test]
    fn sealed_files_are_age_files_without_grease_at_every_chunk_boundary() {
        for len in [
            0,
            1,
            300,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            2 * CHUNK,
            2 * CHUNK + 7,
        ] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = seal(&key(3), &plaintext);
            assert_eq!(
                open(&[&key(3)], &sealed),
                Ok((0, plaintext.clone())),
                "{len} bytes"
            );
            let header_end = sealed
                .windows(4)
                .position(|w| w == b"--- ")
                .expect("mac line");
            let header = std::str::from_utf8(&sealed[..header_end]).expect("text header");
            assert_eq!(
                header.matches("-> ").count(),
                1,
                "one stanza, no grease: {header}"
            );
            // age's overhead: header, nonce, and one tag per 64 KiB chunk.
            let chunks = len.div_ceil(CHUNK).max(1);
            assert_eq!(
                sealed.len(),
                header_end + 48 + PAYLOAD_NONCE_LEN + len + 16 * chunks
            );
        }
    }

    #[test]
    fn files_sealed_by_age_itself_still_open() {
        for len in [0, 5, CHUNK + 1] {
            let plaintext = vec![9u8; len];
            let sealed = age_encryptor_seal(&key(4), &plaintext);
            assert_eq!(open(&[&key(4)], &sealed), Ok((0, plaintext)));
            assert_eq!(open(&[&key(5)], &sealed), Err(OpenError::NoMatchingKey));
        }
    }

    #[test]
    fn wrapped_file_keys_open_with_whichever_held_key_fits() {
        let sealed = age_encryptor_seal(&key(4), b"older entry");
        assert_eq!(
            open(&[&key(5), &key(4)], &sealed),
            Ok((1, b"older entry".to_vec()))
        );
    }

    #[test]
    fn the_stanza_carries_only_a_salt() {
        let sealed = seal(&key(1), b"x");
        let header_end = sealed.windows(4).position(|w| w == b"--- ").expect("mac");
        let header = std::str::from_utf8(&sealed[..header_end]).expect("text");
        let lines: Vec<&str> = header.lines().collect();
        assert_eq!(lines.len(), 3, "{header}");
        assert_eq!(lines[0], "age-encryption.org/v1");
        assert!(lines[1].starts_with("-> circlekeep-kdf ") && lines[1].len() == 18 + 22);
        assert_eq!(lines[2], "", "an empty body");
        // A body where none belongs, or a missing salt, is a broken header.
        for forged in [
            header.replacen("\n\n", "\nAAAA\n", 1),
            header.replacen(&lines[1][18..], "", 1),
        ] {
            let mut bytes = forged.into_bytes();
            bytes.extend_from_slice(&sealed[header_end..]);
            assert!(open(&[&key(1)], &bytes).is_err());
        }
    }

    #[test]
    fn each_file_gets_a_fresh_salt_and_file_key() {
        let a = seal(&key(1), b"same");
        let b = seal(&key(1), b"same");
        assert_ne!(a, b);
    }

    #[test]
    fn garbage_and_truncation_are_corrupt_not_panics() {
        assert_eq!(open(&[&key(1)], b"not age"), Err(OpenError::Corrupt));
        let sealed = seal(&key(1), &[7u8; 1000]);
        for cut in [0, 10, sealed.len() / 2, sealed.len() - 1] {
            assert!(open(&[&key(1)], &sealed[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn any_single_byte_flip_is_detected(plaintext in proptest::collection::vec(any::<u8>(), 0..300), pos in any::<prop::sample::Index>(), bit in 0..8u8) {
            let mut sealed = seal(&key(9), &plaintext);
            let i = pos.index(sealed.len());
            sealed[i] ^= 1 << bit;
            // age MACs the whole header and authenticates every payload chunk.
            prop_assert!(open(&[&key(9)], &sealed).is_err());
        }

        #[test]
        fn what_is_sealed_opens_unchanged(plaintext in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let sealed = seal(&key(6), &plaintext);
            prop_assert_eq!(open(&[&key(1), &key(6)], &sealed), Ok((1, plaintext)));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = open(&[&key(1)], &bytes);
        }
    }
}
