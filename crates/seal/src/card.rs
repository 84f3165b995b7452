//! Member cards: one line of text carrying a display name, a signing key and
//! an age recipient, signed by that signing key so nobody can swap the
//! recipient in transit. People compare the short fingerprint out of band.

use crate::identity::{validate_name, DeviceIdentity};
use circlekeep_model::MemberId;
use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Every card starts with this.
pub const CARD_PREFIX: &str = "circlekeep-member1:";
const CARD_DOMAIN: &[u8] = b"circlekeep v1 member card\0";
const MAX_CARD_LEN: usize = 1024;

/// A member's public card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberCard {
    /// Display name.
    pub name: String,
    /// Signing key, the member id.
    pub member: MemberId,
    /// age X25519 recipient.
    pub recipient: String,
    line: String,
}

#[derive(Serialize, Deserialize)]
struct CardBody {
    name: String,
    member: MemberId,
    recipient: String,
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
        let signature = identity.sign(CARD_DOMAIN, &bytes);
        let line = format!(
            "{CARD_PREFIX}{}.{}",
            BASE64URL_NOPAD.encode(&bytes),
            BASE64URL_NOPAD.encode(&signature)
        );
        MemberCard {
            name: body.name,
            member: body.member,
            recipient: body.recipient,
            line,
        }
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
        let rest = text.strip_prefix(CARD_PREFIX).ok_or(CardError::NotACard)?;
        if text.len() > MAX_CARD_LEN {
            return Err(CardError::Malformed);
        }
        let (body_b64, sig_b64) = rest.split_once('.').ok_or(CardError::Malformed)?;
        let bytes = BASE64URL_NOPAD
            .decode(body_b64.as_bytes())
            .map_err(|_| CardError::Malformed)?;
        let signature: [u8; 64] = BASE64URL_NOPAD
            .decode(sig_b64.as_bytes())
            .map_err(|_| CardError::Malformed)?
            .try_into()
            .map_err(|_| CardError::Malformed)?;
        let body: CardBody = postcard::from_bytes(&bytes).map_err(|_| CardError::Malformed)?;
        let key = VerifyingKey::from_bytes(body.member.as_bytes())
            .map_err(|_| CardError::BadSignature)?;
        let mut signed = CARD_DOMAIN.to_vec();
        signed.extend_from_slice(&bytes);
        key.verify_strict(&signed, &Signature::from_bytes(&signature))
            .map_err(|_| CardError::BadSignature)?;
        age::x25519::Recipient::from_str(&body.recipient).map_err(|_| CardError::BadRecipient)?;
        let name = validate_name(&body.name).map_err(|_| CardError::Malformed)?;
        Ok(MemberCard {
            name,
            member: body.member,
            recipient: body.recipient,
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
