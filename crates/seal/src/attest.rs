//! Attestations (`circlekeep_model::attestation`): a first device attests
//! itself, a device vouches for the next one it links, and anyone checks
//! the chain from the member's key to the attested device.

use crate::identity::DeviceIdentity;
use crate::signed::{device_claim, device_proof, verify_device_proof, VerifyError};
use circlekeep_model::attestation::{Attestation, Voucher, MAX_VOUCHERS};
use circlekeep_model::MemberId;
use ed25519_dalek::{Signature, VerifyingKey};

const VOUCH_DOMAIN: &[u8] = b"circlekeep v1 vouch for device\0";
/// Largest attestation read from outside (eight vouchers fit easily).
pub const MAX_ATTESTATION_BYTES: usize = 4 << 10;

/// What a voucher's signer signs (after [`VOUCH_DOMAIN`]).
fn vouched(member: &MemberId, device: &MemberId, recipient: &str) -> Vec<u8> {
    let mut message = device.as_bytes().to_vec();
    message.extend_from_slice(&device_claim(member, recipient));
    message
}

/// A member's first device attests itself (no voucher: it is the member).
pub fn attest_self(identity: &DeviceIdentity) -> Attestation {
    let member = identity.member_id();
    Attestation {
        member,
        recipient: identity.recipient().to_string(),
        proof: device_proof(identity, &member),
        vouchers: Vec::new(),
    }
}

/// `identity`, the device `own` attests, vouches for a new device of the
/// same member, which consented with `proof`. Returns the new device's
/// attestation, or `None` if the chain would grow too long or `own` is not
/// `identity`'s.
pub fn vouch(
    identity: &DeviceIdentity,
    own: &Attestation,
    device: MemberId,
    recipient: &str,
    proof: Vec<u8>,
) -> Option<Attestation> {
    if own.device() != identity.device_id() || own.vouchers.len() >= MAX_VOUCHERS {
        return None;
    }
    let signed = vouched(&own.member, &device, recipient);
    let vouch = identity.sign(VOUCH_DOMAIN, &signed).to_vec();
    let mut next = own.clone();
    next.vouchers.push(Voucher {
        device,
        recipient: recipient.to_owned(),
        proof,
        vouch,
    });
    next.well_formed().then_some(next)
}

/// Checks every signature of an attestation: the member key's consent,
/// and for each voucher the device's consent and the previous device's
/// vouch.
pub fn verify_attestation(attestation: &Attestation) -> Result<(), VerifyError> {
    if !attestation.well_formed() {
        return Err(VerifyError::Malformed);
    }
    let member = &attestation.member;
    verify_device_proof(member, member, &attestation.recipient, &attestation.proof)?;
    let mut voucher_key = *member;
    for v in &attestation.vouchers {
        verify_device_proof(member, &v.device, &v.recipient, &v.proof)?;
        let signature: [u8; 64] = v
            .vouch
            .as_slice()
            .try_into()
            .map_err(|_| VerifyError::BadSignature)?;
        let key = VerifyingKey::from_bytes(voucher_key.as_bytes())
            .map_err(|_| VerifyError::BadSignature)?;
        let mut signed = VOUCH_DOMAIN.to_vec();
        signed.extend_from_slice(&vouched(member, &v.device, &v.recipient));
        key.verify_strict(&signed, &Signature::from_bytes(&signature))
            .map_err(|_| VerifyError::BadSignature)?;
        voucher_key = v.device;
    }
    Ok(())
}

/// The attestation as bytes (to store, or to hand a new device).
pub fn to_bytes(attestation: &Attestation) -> Vec<u8> {
    // Serialising plain data into memory cannot fail.
    postcard::to_stdvec(attestation).unwrap_or_default()
}

/// Reads and checks an attestation from outside bytes (bounded; never
/// panics).
pub fn from_bytes(bytes: &[u8]) -> Result<Attestation, VerifyError> {
    if bytes.len() > MAX_ATTESTATION_BYTES {
        return Err(VerifyError::TooLarge(bytes.len()));
    }
    // Whole bytes only: postcard reads a prefix, and a chain cut short by
    // a flipped count is still a chain of valid signatures (of another
    // device of the member).
    let (attestation, rest): (Attestation, _) =
        postcard::take_from_bytes(bytes).map_err(|_| VerifyError::Malformed)?;
    if !rest.is_empty() {
        return Err(VerifyError::Malformed);
    }
    verify_attestation(&attestation)?;
    Ok(attestation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signed::{sign_op, verify_op};
    use circlekeep_model::membership::{Action, EpochKey, OpBody, OP_VERSION};
    use proptest::prelude::*;

    fn id(name: &str, seed: u8) -> DeviceIdentity {
        DeviceIdentity::from_seed(name, [seed; 32]).expect("seed")
    }

    /// `by` (attested by `own`) links `device` for `own`'s member.
    fn link(by: &DeviceIdentity, own: &Attestation, device: &DeviceIdentity) -> Attestation {
        let recipient = device.recipient().to_string();
        let proof = device_proof(device, &own.member);
        vouch(by, own, device.device_id(), &recipient, proof).expect("vouch")
    }

    fn found(author: &DeviceIdentity, attestation: Attestation) -> Result<(), VerifyError> {
        let body = OpBody {
            version: OP_VERSION,
            circle: None,
            author: author.device_id(),
            deps: vec![],
            action: Action::Found {
                attestation,
                nonce: [0; 16],
                key: EpochKey {
                    sealed: vec![],
                    full_commitment: [0; 32],
                    shared_commitment: [0; 32],
                },
            },
        };
        verify_op(&sign_op(author, body).signed).map(drop)
    }

    #[test]
    fn a_chain_of_links_attests_every_device_on_it() {
        let (bo, laptop, phone) = (id("Bo", 1), id("Bo", 2), id("Bo", 3));
        let own = attest_self(&bo);
        assert_eq!(verify_attestation(&own), Ok(()));
        let of_laptop = link(&bo, &own, &laptop);
        let of_phone = link(&laptop, &of_laptop, &phone);
        assert_eq!(of_phone.device(), phone.device_id());
        assert_eq!(of_phone.member, bo.member_id());
        assert_eq!(from_bytes(&to_bytes(&of_phone)), Ok(of_phone.clone()));
        assert_eq!(found(&phone, of_phone.clone()), Ok(()));
        // Only the attested device vouches further.
        assert!(vouch(&bo, &of_laptop, phone.device_id(), "r", vec![]).is_none());
    }

    /// Mallory claims to be Bo's device: every way of building that
    /// attestation without Bo's (or his devices') signature is refused.
    #[test]
    fn nobody_attests_themselves_into_another_member() {
        let (bo, laptop, mallory) = (id("Bo", 1), id("Bo", 2), id("Mallory", 9));
        let own = attest_self(&bo);
        let of_laptop = link(&bo, &own, &laptop);
        let refused = Err(VerifyError::BadSignature);
        let hers = mallory.recipient().to_string();
        let her_proof = device_proof(&mallory, &bo.member_id());

        // She vouches for herself as if she were Bo's key.
        let mut forged = own.clone();
        forged.vouchers.push(Voucher {
            device: mallory.device_id(),
            recipient: hers.clone(),
            proof: her_proof.clone(),
            vouch: mallory
                .sign(
                    VOUCH_DOMAIN,
                    &vouched(&bo.member_id(), &mallory.device_id(), &hers),
                )
                .to_vec(),
        });
        assert_eq!(verify_attestation(&forged), refused);
        assert_eq!(found(&mallory, forged), refused);

        // She swaps her key (or her recipient) into the laptop's voucher.
        let mut swapped = of_laptop.clone();
        swapped.vouchers[0].device = mallory.device_id();
        swapped.vouchers[0].proof = her_proof.clone();
        assert_eq!(verify_attestation(&swapped), refused);
        let mut swapped = of_laptop.clone();
        swapped.vouchers[0].recipient = hers.clone();
        assert_eq!(verify_attestation(&swapped), refused);

        // She appends herself after the laptop, signing as herself.
        let mut appended = of_laptop.clone();
        appended.vouchers.push(Voucher {
            device: mallory.device_id(),
            recipient: hers.clone(),
            proof: her_proof,
            vouch: mallory
                .sign(
                    VOUCH_DOMAIN,
                    &vouched(&bo.member_id(), &mallory.device_id(), &hers),
                )
                .to_vec(),
        });
        assert_eq!(verify_attestation(&appended), refused);

        // She forges the member key's own consent, with her recipient.
        let mut consent = own.clone();
        consent.recipient = hers;
        assert_eq!(verify_attestation(&consent), refused);

        // Bo's laptop's genuine attestation, shown by her as a founder.
        assert_eq!(found(&mallory, of_laptop.clone()), Ok(()));
        // (The signature checks; the membership rules refuse it because
        // the author is not the attested device: model's `BadAttestation`.)
    }

    proptest! {
        /// Outside bytes never panic the reader.
        #[test]
        fn reading_is_total(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = from_bytes(&bytes);
        }

        /// Any flipped bit of a genuine attestation is refused or harmless.
        #[test]
        fn any_flip_breaks_an_attestation(pos in any::<prop::sample::Index>(), bit in 0..8u8) {
            let (bo, laptop) = (id("Bo", 1), id("Bo", 2));
            let genuine = link(&bo, &attest_self(&bo), &laptop);
            let mut bytes = to_bytes(&genuine);
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            if let Ok(read) = from_bytes(&bytes) {
                prop_assert_eq!(read, genuine);
            }
        }
    }
}
