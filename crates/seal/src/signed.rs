//! Signed envelopes for membership operations and entries: the body's exact
//! bytes and an ed25519 signature by the body's author. Verification checks
//! the signature over the received bytes before decoding anything else.

use crate::identity::DeviceIdentity;
use circlekeep_model::entry::{Entry, EntryBody};
use circlekeep_model::membership::{Op, OpBody};
use circlekeep_model::{EntryHash, MemberId, OpHash};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const OP_DOMAIN: &[u8] = b"circlekeep v1 membership operation\0";
const ENTRY_DOMAIN: &[u8] = b"circlekeep v1 entry\0";

/// Largest signed operation accepted (they carry one sealed key per member).
pub const MAX_OP_BYTES: usize = 256 << 10;
/// Largest signed entry accepted.
pub const MAX_ENTRY_BYTES: usize = 8 << 20;

#[derive(Serialize, Deserialize)]
struct Envelope {
    body: Vec<u8>,
    signature: Vec<u8>,
}

/// Why signed bytes were refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Larger than the limit for its kind.
    #[error("signed record is too large ({0} bytes)")]
    TooLarge(usize),
    /// Not decodable.
    #[error("signed record is malformed")]
    Malformed,
    /// The signature is not the author's over these bytes.
    #[error("signature does not match the author and contents")]
    BadSignature,
}

fn seal_envelope(identity: &DeviceIdentity, domain: &[u8], body: Vec<u8>) -> Vec<u8> {
    let signature = identity.sign(domain, &body).to_vec();
    // Serialising byte vectors into memory cannot fail.
    #[allow(clippy::expect_used)]
    postcard::to_stdvec(&Envelope { body, signature }).expect("envelope serialises")
}

/// Decodes a signed record of `limit` bytes at most and checks that
/// `author_of` its body signed exactly those body bytes under `domain`.
/// Returns the body and its bytes.
fn open_signed<T: DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
    domain: &[u8],
    author_of: fn(&T) -> &MemberId,
) -> Result<(T, Vec<u8>), VerifyError> {
    if bytes.len() > limit {
        return Err(VerifyError::TooLarge(bytes.len()));
    }
    let (envelope, rest): (Envelope, _) =
        postcard::take_from_bytes(bytes).map_err(|_| VerifyError::Malformed)?;
    if !rest.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let body: T = postcard::from_bytes(&envelope.body).map_err(|_| VerifyError::Malformed)?;
    let signature: [u8; 64] = envelope
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| VerifyError::Malformed)?;
    let key = VerifyingKey::from_bytes(author_of(&body).as_bytes())
        .map_err(|_| VerifyError::BadSignature)?;
    let mut signed = Vec::with_capacity(domain.len() + envelope.body.len());
    signed.extend_from_slice(domain);
    signed.extend_from_slice(&envelope.body);
    key.verify_strict(&signed, &Signature::from_bytes(&signature))
        .map_err(|_| VerifyError::BadSignature)?;
    Ok((body, envelope.body))
}

fn encode<T: Serialize>(body: &T) -> Vec<u8> {
    // Serialising plain data into memory cannot fail.
    #[allow(clippy::expect_used)]
    postcard::to_stdvec(body).expect("body serialises")
}

/// Signs a membership operation as `identity` (who must be its author).
pub fn sign_op(identity: &DeviceIdentity, body: OpBody) -> Op {
    debug_assert_eq!(body.author, identity.member_id());
    let bytes = encode(&body);
    let hash = OpHash::of_body(&bytes);
    let signed = seal_envelope(identity, OP_DOMAIN, bytes);
    Op { hash, body, signed }
}

/// Checks a signed membership operation and decodes it.
pub fn verify_op(bytes: &[u8]) -> Result<Op, VerifyError> {
    let (body, body_bytes) = open_signed(bytes, MAX_OP_BYTES, OP_DOMAIN, |b: &OpBody| &b.author)?;
    Ok(Op {
        hash: OpHash::of_body(&body_bytes),
        body,
        signed: bytes.to_vec(),
    })
}

/// Signs an entry as `identity` (who must be its author).
pub fn sign_entry(identity: &DeviceIdentity, body: EntryBody) -> Entry {
    debug_assert_eq!(body.author, identity.member_id());
    let bytes = encode(&body);
    let hash = EntryHash::of_body(&bytes);
    let signed = seal_envelope(identity, ENTRY_DOMAIN, bytes);
    Entry { hash, body, signed }
}

/// Checks a signed entry and decodes it.
pub fn verify_entry(bytes: &[u8]) -> Result<Entry, VerifyError> {
    let (body, body_bytes) = open_signed(bytes, MAX_ENTRY_BYTES, ENTRY_DOMAIN, |b: &EntryBody| {
        &b.author
    })?;
    Ok(Entry {
        hash: EntryHash::of_body(&body_bytes),
        body,
        signed: bytes.to_vec(),
    })
}

/// How many entries signed entry bytes claim to stand for (a fold's run
/// length, else 1), read without checking anything: for weighing work
/// before it is done, never for deciding what to accept.
pub fn claimed_span(bytes: &[u8]) -> u64 {
    postcard::take_from_bytes::<Envelope>(bytes)
        .ok()
        .and_then(|(envelope, _)| postcard::from_bytes::<EntryBody>(&envelope.body).ok())
        .map_or(1, |body| (body.seq + 1).saturating_sub(body.first()).max(1))
}

/// Signs `body` with `identity` whatever its author field says: a forgery,
/// for tests of the receiving side.
#[cfg(any(test, feature = "test-support"))]
pub fn forge_entry(identity: &DeviceIdentity, body: &EntryBody) -> Vec<u8> {
    seal_envelope(identity, ENTRY_DOMAIN, encode(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use circlekeep_model::entry::{Fold, ENTRY_VERSION, FOLD_VERSION};
    use circlekeep_model::CircleId;
    use proptest::prelude::*;

    fn body(author: MemberId) -> EntryBody {
        EntryBody {
            version: ENTRY_VERSION,
            circle: CircleId([1; 32]),
            author,
            seq: 1,
            prev: None,
            epoch: OpHash([2; 32]),
            membership: vec![OpHash([2; 32])],
            payload: vec![9; 40],
            fold: None,
        }
    }

    fn fold_body(author: MemberId) -> EntryBody {
        EntryBody {
            version: FOLD_VERSION,
            seq: 40,
            prev: Some(EntryHash([3; 32])),
            fold: Some(Fold {
                first: 7,
                last: EntryHash([4; 32]),
            }),
            ..body(author)
        }
    }

    /// The layout every entry had before folds existed, field by field.
    #[derive(Serialize)]
    struct FirstLayout<'a> {
        version: u8,
        circle: &'a CircleId,
        author: &'a MemberId,
        seq: u64,
        prev: &'a Option<EntryHash>,
        epoch: &'a OpHash,
        membership: &'a [OpHash],
        payload: &'a [u8],
    }

    #[test]
    fn plain_entries_keep_the_first_layout_and_folds_round_trip() {
        let ada = DeviceIdentity::from_seed("Ada", [1; 32]).expect("seed");
        let plain = body(ada.member_id());
        let old = encode(&FirstLayout {
            version: plain.version,
            circle: &plain.circle,
            author: &plain.author,
            seq: plain.seq,
            prev: &plain.prev,
            epoch: &plain.epoch,
            membership: &plain.membership,
            payload: &plain.payload,
        });
        assert_eq!(
            encode(&plain),
            old,
            "stored entries keep their bytes and hashes"
        );
        let entry = sign_entry(&ada, fold_body(ada.member_id()));
        let back = verify_entry(&entry.signed).expect("a fold verifies");
        assert_eq!(back.body, fold_body(ada.member_id()));
        assert_eq!(back.chain_hash(), EntryHash([4; 32]));
        assert_eq!(back.body.first(), 7);
        assert_eq!(claimed_span(&entry.signed), 34);
        assert_eq!(
            claimed_span(&sign_entry(&ada, body(ada.member_id())).signed),
            1
        );
        assert_eq!(claimed_span(b"garbage"), 1);
        // A fold's bytes cut before its run: not an entry.
        let mut cut = encode(&fold_body(ada.member_id()));
        cut.truncate(cut.len() - 10);
        assert!(postcard::from_bytes::<EntryBody>(&cut).is_err());
    }

    #[test]
    fn entries_verify_and_forgeries_do_not() {
        let ada = DeviceIdentity::from_seed("Ada", [1; 32]).expect("seed");
        let eve = DeviceIdentity::from_seed("Eve", [2; 32]).expect("seed");
        let entry = sign_entry(&ada, body(ada.member_id()));
        assert_eq!(verify_entry(&entry.signed), Ok(entry.clone()));
        // Eve signs a body claiming Ada as author.
        let forged = forge_entry(&eve, &body(ada.member_id()));
        assert_eq!(verify_entry(&forged), Err(VerifyError::BadSignature));
        // An entry signature does not verify as an operation.
        assert!(verify_op(&entry.signed).is_err());
        assert_eq!(
            verify_entry(&vec![0; MAX_ENTRY_BYTES + 1]),
            Err(VerifyError::TooLarge(MAX_ENTRY_BYTES + 1))
        );
    }

    proptest! {
        #[test]
        fn any_flip_breaks_an_entry(pos in any::<prop::sample::Index>(), bit in 0..8u8, fold in any::<bool>()) {
            let ada = DeviceIdentity::from_seed("Ada", [1; 32]).expect("seed");
            let body = if fold { fold_body(ada.member_id()) } else { body(ada.member_id()) };
            let mut bytes = sign_entry(&ada, body).signed;
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            prop_assert!(verify_entry(&bytes).is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = verify_entry(&bytes);
            let _ = verify_op(&bytes);
        }
    }
}
