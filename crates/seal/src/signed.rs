//! Signed envelopes for membership operations and entries: the body's exact
//! bytes and an ed25519 signature by the body's author. Verification checks
//! the signature over the received bytes before decoding anything else.

use crate::identity::DeviceIdentity;
use circlekeep_model::entry::{Entry, EntryBody};
use circlekeep_model::membership::{Action, Op, OpBody};
use circlekeep_model::{EntryHash, MemberId, OpHash};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const OP_DOMAIN: &[u8] = b"circlekeep v1 membership operation\0";
const ENTRY_DOMAIN: &[u8] = b"circlekeep v1 entry\0";
const DEVICE_DOMAIN: &[u8] = b"circlekeep v1 device of member\0";

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

/// Signs a membership operation as `identity` (the device that is its author).
pub fn sign_op(identity: &DeviceIdentity, body: OpBody) -> Op {
    debug_assert_eq!(body.author, identity.device_id());
    let bytes = encode(&body);
    let hash = OpHash::of_body(&bytes);
    let signed = seal_envelope(identity, OP_DOMAIN, bytes);
    Op { hash, body, signed }
}

/// What a device signs to consent to being `member`'s, with `recipient`.
pub(crate) fn device_claim(member: &MemberId, recipient: &str) -> Vec<u8> {
    let mut claim = member.as_bytes().to_vec();
    claim.extend_from_slice(recipient.as_bytes());
    claim
}

/// This device's proof, for a `Device` operation, that it is `member`'s
/// device with its own recipient: one proof serves every circle.
pub fn device_proof(identity: &DeviceIdentity, member: &MemberId) -> Vec<u8> {
    let recipient = identity.recipient().to_string();
    identity
        .sign(DEVICE_DOMAIN, &device_claim(member, &recipient))
        .to_vec()
}

/// Checks a `Device` operation's proof, and a linked device's attestation
/// (`Found`, `Admit`), if the operation carries one.
fn check_device_op(body: &OpBody) -> Result<(), VerifyError> {
    match &body.action {
        Action::Found { attestation, .. } | Action::Admit { attestation, .. } => {
            crate::attest::verify_attestation(attestation)
        }
        Action::Device {
            member,
            device,
            recipient,
            proof,
            ..
        } => verify_device_proof(member, device, recipient, proof),
        _ => Ok(()),
    }
}

/// Checks that `device` signed `proof` that it is `member`'s device, with
/// `recipient`.
pub fn verify_device_proof(
    member: &MemberId,
    device: &MemberId,
    recipient: &str,
    proof: &[u8],
) -> Result<(), VerifyError> {
    let signature: [u8; 64] = proof.try_into().map_err(|_| VerifyError::BadSignature)?;
    let key = VerifyingKey::from_bytes(device.as_bytes()).map_err(|_| VerifyError::BadSignature)?;
    let mut signed = DEVICE_DOMAIN.to_vec();
    signed.extend_from_slice(&device_claim(member, recipient));
    key.verify_strict(&signed, &Signature::from_bytes(&signature))
        .map_err(|_| VerifyError::BadSignature)
}

/// Checks a signed membership operation (and, linking a device, the
/// device's own proof) and decodes it.
pub fn verify_op(bytes: &[u8]) -> Result<Op, VerifyError> {
    let (body, body_bytes) = open_signed(bytes, MAX_OP_BYTES, OP_DOMAIN, |b: &OpBody| &b.author)?;
    check_device_op(&body)?;
    Ok(Op {
        hash: OpHash::of_body(&body_bytes),
        body,
        signed: bytes.to_vec(),
    })
}

/// Signs an entry as `identity` (the device that is its author).
pub fn sign_entry(identity: &DeviceIdentity, body: EntryBody) -> Entry {
    debug_assert_eq!(body.author, identity.device_id());
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

    /// Mallory links a key as her device: it takes the device's own proof,
    /// for her and with its own recipient, or the operation is refused.
    #[test]
    fn a_device_is_linked_only_with_its_own_consent() {
        let bo = DeviceIdentity::from_seed("Bo", [3; 32]).expect("seed");
        let laptop = DeviceIdentity::from_seed("Bo", [4; 32]).expect("seed");
        let mallory = DeviceIdentity::from_seed("Mallory", [5; 32]).expect("seed");
        let link = |author: &DeviceIdentity, member: MemberId, recipient: String, proof| {
            let body = OpBody {
                version: circlekeep_model::membership::OP_VERSION,
                circle: Some(CircleId([1; 32])),
                author: author.member_id(),
                deps: vec![OpHash([2; 32])],
                action: Action::Device {
                    member,
                    device: laptop.member_id(),
                    recipient,
                    proof,
                    key: circlekeep_model::membership::EpochKey {
                        sealed: vec![],
                        full_commitment: [0; 32],
                        shared_commitment: [0; 32],
                    },
                },
            };
            verify_op(&sign_op(author, body).signed).map(|_| ())
        };
        let own = laptop.recipient().to_string();
        let proof = device_proof(&laptop, &bo.member_id());
        assert_eq!(
            link(&bo, bo.member_id(), own.clone(), proof.clone()),
            Ok(())
        );
        let refused = Err(VerifyError::BadSignature);
        // Bo's laptop's proof, replayed for Mallory, or with her recipient.
        assert_eq!(
            link(&mallory, mallory.member_id(), own.clone(), proof.clone()),
            refused
        );
        let hers = mallory.recipient().to_string();
        assert_eq!(link(&bo, bo.member_id(), hers, proof), refused);
        // A proof Mallory made herself, or none.
        let forged = device_proof(&mallory, &mallory.member_id());
        assert_eq!(
            link(&mallory, mallory.member_id(), own.clone(), forged),
            refused
        );
        assert_eq!(link(&mallory, mallory.member_id(), own, vec![]), refused);
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
