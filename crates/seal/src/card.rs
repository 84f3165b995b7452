//! Member cards: one line of text carrying a display name, a signing key and
//! an age recipient, signed by that signing key so nobody can swap the
//! recipient in transit. People compare the short fingerprint out of band.

use crate::identity::{validate_name, DeviceIdentity};
use circlekeep_model::attestation::Attestation;
use circlekeep_model::MemberId;
use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Every card of a member's first device starts with this.
pub const CARD_PREFIX: &str = "circlekeep-member1:";
/// Every card of a linked device (carrying its attestation) starts with this.
pub const DEVICE_CARD_PREFIX: &str = "circlekeep-member2:";
const CARD_DOMAIN: &[u8] = b"circlekeep v1 member card\0";
const MAX_CARD_LEN: usize = 1024;
const MAX_DEVICE_CARD_LEN: usize = 6 << 10;

/// A member's public card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberCard {
    /// Display name.
    pub name: String,
    /// The member id (its first device's signing key).
    pub member: MemberId,
    /// The device the card comes from (the member id for a first device).
    pub device: MemberId,
    /// The device's age X25519 recipient.
    pub recipient: String,
    /// A linked device's evidence that it is the member's.
    pub attestation: Option<Attestation>,
    line: String,
}

#[derive(Serialize, Deserialize)]
struct CardBody {
    name: String,
    member: MemberId,
    recipient: String,
}

#[derive(Serialize, Deserialize)]
struct DeviceCardBody {
    name: String,
    attestation: Attestation,
}

fn card_line(prefix: &str, identity: &DeviceIdentity, bytes: &[u8]) -> String {
    let signature = identity.sign(CARD_DOMAIN, bytes);
    format!(
        "{prefix}{}.{}",
        BASE64URL_NOPAD.encode(bytes),
        BASE64URL_NOPAD.encode(&signature)
    )
}

/// Splits a card's text into its body bytes and its signature.
fn card_parts(rest: &str) -> Result<(Vec<u8>, [u8; 64]), CardError> {
    let (body_b64, sig_b64) = rest.split_once('.').ok_or(CardError::Malformed)?;
    let bytes = BASE64URL_NOPAD
        .decode(body_b64.as_bytes())
        .map_err(|_| CardError::Malformed)?;
    let signature: [u8; 64] = BASE64URL_NOPAD
        .decode(sig_b64.as_bytes())
        .map_err(|_| CardError::Malformed)?
        .try_into()
        .map_err(|_| CardError::Malformed)?;
    Ok((bytes, signature))
}

fn check_card_signature(
    signer: &MemberId,
    bytes: &[u8],
    signature: &[u8; 64],
) -> Result<(), CardError> {
    let key = VerifyingKey::from_bytes(signer.as_bytes()).map_err(|_| CardError::BadSignature)?;
    let mut signed = CARD_DOMAIN.to_vec();
    signed.extend_from_slice(bytes);
    key.verify_strict(&signed, &Signature::from_bytes(signature))
        .map_err(|_| CardError::BadSignature)
}

/// Why a card could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardError {
    /// Does not start with [`CARD_PREFIX`].
    #[error("not a Circlekeep member card (it should start with {CARD_PREFIX})")]
    NotACard,
    /// The text is damaged.
    #[error("the member card is damaged")]
    Malformed,
    /// The signature does not match: altered or forged.
    #[error("the member card's signature does not match its contents")]
    BadSignature,
    /// The age recipient is not valid.
    #[error("the member card carries an invalid age recipient")]
    BadRecipient,
    /// A linked device's card whose evidence that it is the member's does
    /// not verify.
    #[error(
        "the card's device is not shown to be that member's (its attestation does not verify)"
    )]
    BadAttestation,
}

impl MemberCard {
    pub(crate) fn issue(identity: &DeviceIdentity) -> Self {
        let body = CardBody {
            name: identity.name().to_owned(),
            member: identity.device_id(),
            recipient: identity.recipient().to_string(),
        };
        // Serialising a plain struct into memory cannot fail.
        #[allow(clippy::expect_used)]
        let bytes = postcard::to_stdvec(&body).expect("card body serialises");
        MemberCard {
            name: body.name,
            member: body.member,
            device: body.member,
            recipient: body.recipient,
            attestation: None,
            line: card_line(CARD_PREFIX, identity, &bytes),
        }
    }

    /// The card of a linked device, which `attestation` shows is its
    /// member's: a circle adds the member by this device.
    pub fn of_device(identity: &DeviceIdentity, attestation: Attestation) -> Self {
        let body = DeviceCardBody {
            name: identity.name().to_owned(),
            attestation,
        };
        // Serialising plain data into memory cannot fail.
        #[allow(clippy::expect_used)]
        let bytes = postcard::to_stdvec(&body).expect("card body serialises");
        MemberCard {
            name: body.name,
            member: body.attestation.member,
            device: body.attestation.device(),
            recipient: body.attestation.device_recipient().to_owned(),
            line: card_line(DEVICE_CARD_PREFIX, identity, &bytes),
            attestation: Some(body.attestation),
        }
    }

    fn parse_device_card(text: &str, rest: &str) -> Result<Self, CardError> {
        if text.len() > MAX_DEVICE_CARD_LEN {
            return Err(CardError::Malformed);
        }
        let (bytes, signature) = card_parts(rest)?;
        let body: DeviceCardBody =
            postcard::from_bytes(&bytes).map_err(|_| CardError::Malformed)?;
        let attestation = body.attestation;
        check_card_signature(&attestation.device(), &bytes, &signature)?;
        crate::attest::verify_attestation(&attestation).map_err(|_| CardError::BadAttestation)?;
        let recipient = attestation.device_recipient().to_owned();
        age::x25519::Recipient::from_str(&recipient).map_err(|_| CardError::BadRecipient)?;
        let name = validate_name(&body.name).map_err(|_| CardError::Malformed)?;
        Ok(MemberCard {
            name,
            member: attestation.member,
            device: attestation.device(),
            recipient,
            attestation: Some(attestation),
            line: text.to_owned(),
        })
    }

    /// Short code to compare out of band before adding someone.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.member)
    }

    /// The card as one line of text.
    pub fn as_line(&self) -> &str {
        &self.line
    }
}

/// Short code people compare to check they have the right member id.
pub fn fingerprint(member: &MemberId) -> String {
    let hex = member.to_hex();
    hex.as_bytes()[..16]
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

impl FromStr for MemberCard {
    type Err = CardError;

    fn from_str(text: &str) -> Result<Self, CardError> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix(DEVICE_CARD_PREFIX) {
            return Self::parse_device_card(text, rest);
        }
        let rest = text.strip_prefix(CARD_PREFIX).ok_or(CardError::NotACard)?;
        if text.len() > MAX_CARD_LEN {
            return Err(CardError::Malformed);
        }
        let (bytes, signature) = card_parts(rest)?;
        let body: CardBody = postcard::from_bytes(&bytes).map_err(|_| CardError::Malformed)?;
        check_card_signature(&body.member, &bytes, &signature)?;
        age::x25519::Recipient::from_str(&body.recipient).map_err(|_| CardError::BadRecipient)?;
        let name = validate_name(&body.name).map_err(|_| CardError::Malformed)?;
        Ok(MemberCard {
            name,
            member: body.member,
            device: body.member,
            recipient: body.recipient,
            attestation: None,
            line: text.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn card_round_trips() {
        let me = DeviceIdentity::generate("Ada Lovelace").expect("name");
        let card = me.card();
        let parsed: MemberCard = card.as_line().parse().expect("parse");
        assert_eq!(parsed, card);
        assert_eq!(parsed.name, "Ada Lovelace");
        assert_eq!(parsed.member, me.member_id());
        assert_eq!(parsed.fingerprint().len(), 19);
        assert!(!card.as_line().contains(' '));
    }

    #[test]
    fn swapped_recipient_is_refused() {
        let me = DeviceIdentity::generate("Ada").expect("name");
        let mallory = DeviceIdentity::generate("Ada").expect("name");
        let body = CardBody {
            name: "Ada".into(),
            member: me.member_id(),
            recipient: mallory.recipient().to_string(),
        };
        let bytes = postcard::to_stdvec(&body).expect("ser");
        let sig = mallory.sign(CARD_DOMAIN, &bytes);
        let forged = format!(
            "{CARD_PREFIX}{}.{}",
            BASE64URL_NOPAD.encode(&bytes),
            BASE64URL_NOPAD.encode(&sig)
        );
        assert_eq!(forged.parse::<MemberCard>(), Err(CardError::BadSignature));
    }

    /// A linked device's card names its member and itself; Mallory cannot
    /// make one for Bo's member id, nor take over a genuine one.
    #[test]
    fn a_linked_device_s_card_names_its_member() {
        let bo = DeviceIdentity::from_seed("Bo", [1; 32]).expect("seed");
        let laptop = DeviceIdentity::from_seed("Bo", [2; 32]).expect("seed");
        let mallory = DeviceIdentity::from_seed("Bo", [9; 32]).expect("seed");
        let proof = crate::signed::device_proof(&laptop, &bo.member_id());
        let recipient = laptop.recipient().to_string();
        let own = crate::attest::attest_self(&bo);
        let attested =
            crate::attest::vouch(&bo, &own, laptop.device_id(), &recipient, proof).expect("vouch");
        let card = MemberCard::of_device(&laptop, attested.clone());
        assert!(card.as_line().starts_with(DEVICE_CARD_PREFIX));
        let parsed: MemberCard = card.as_line().parse().expect("parse");
        assert_eq!(parsed, card);
        assert_eq!(
            (parsed.member, parsed.device),
            (bo.member_id(), laptop.device_id())
        );
        assert_eq!(parsed.recipient, recipient);
        assert_eq!(
            parsed.fingerprint(),
            bo.card().fingerprint(),
            "one person, one code"
        );

        // Mallory re-signs the laptop's genuine card with her own key.
        let line = MemberCard::of_device(&mallory, attested.clone())
            .as_line()
            .to_owned();
        assert_eq!(line.parse::<MemberCard>(), Err(CardError::BadSignature));
        // Or attests herself as Bo's with her own vouch.
        let mut forged = own.clone();
        let mut voucher = attested.vouchers[0].clone();
        voucher.device = mallory.device_id();
        voucher.recipient = mallory.recipient().to_string();
        voucher.proof = crate::signed::device_proof(&mallory, &bo.member_id());
        forged.vouchers.push(voucher);
        let line = MemberCard::of_device(&mallory, forged).as_line().to_owned();
        assert_eq!(line.parse::<MemberCard>(), Err(CardError::BadAttestation));
    }

    #[test]
    fn junk_is_refused_clearly() {
        assert_eq!("hello".parse::<MemberCard>(), Err(CardError::NotACard));
        assert_eq!(
            format!("{CARD_PREFIX}abc").parse::<MemberCard>(),
            Err(CardError::Malformed)
        );
        assert_eq!(
            format!("{CARD_PREFIX}!!.??").parse::<MemberCard>(),
            Err(CardError::Malformed)
        );
    }

    proptest! {
        /// Pasted text never panics either card parser.
        #[test]
        fn card_parsing_is_total(bytes in prop::collection::vec(any::<u8>(), 0..900), sig in prop::collection::vec(any::<u8>(), 64)) {
            for prefix in [CARD_PREFIX, DEVICE_CARD_PREFIX] {
                let text = format!("{prefix}{}.{}", BASE64URL_NOPAD.encode(&bytes), BASE64URL_NOPAD.encode(&sig));
                prop_assert!(text.parse::<MemberCard>().is_err());
            }
        }

        #[test]
        fn any_edit_of_a_card_is_refused_or_identical(pos in any::<prop::sample::Index>(), c in "[A-Za-z0-9_-]") {
            let me = DeviceIdentity::from_seed("Ada", [3; 32]).expect("seed");
            let line = me.card().as_line().to_owned();
            let i = CARD_PREFIX.len() + pos.index(line.len() - CARD_PREFIX.len());
            let mut edited = line.clone();
            edited.replace_range(i..i + 1, &c);
            if let Ok(card) = edited.parse::<MemberCard>() {
                // Only an edit that decodes to the same card may pass.
                prop_assert_eq!(card.member, me.member_id());
                prop_assert_eq!(card.recipient, me.recipient().to_string());
                prop_assert_eq!(card.name, "Ada");
            }
        }
    }
}
