//! A device's attestation: evidence, checkable without any circle, that a
//! key is one of a member's devices. The member's own key (its first
//! device) consents to its recipient; each voucher names the next device,
//! signed by the device before it (the member's key first) and consented
//! to by the device it names. A linked device shows it to found a circle
//! or to be added to one as its member. Signatures are checked by
//! `circlekeep-seal` (`signed::verify_attestation`); this is the shape.

use crate::ids::MemberId;
use serde::{Deserialize, Serialize};

/// Most vouchers an attestation may carry (a member's chain of devices,
/// each linked by the one before).
pub const MAX_VOUCHERS: usize = 8;

/// Evidence that [`Attestation::device`] is one of `member`'s devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// The member (its first device's key).
    pub member: MemberId,
    /// The member key's age recipient.
    pub recipient: String,
    /// The member key's consent to be its own device with `recipient`.
    pub proof: Vec<u8>,
    /// The devices from the member's key to the attested one, in order.
    pub vouchers: Vec<Voucher>,
}

/// One step of an attestation: a device, vouched for by the one before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voucher {
    /// The device's signing key (its iroh endpoint id).
    pub device: MemberId,
    /// The device's age recipient.
    pub recipient: String,
    /// The device's consent to be the member's, with `recipient`.
    pub proof: Vec<u8>,
    /// The previous device's signature over member, device and recipient.
    pub vouch: Vec<u8>,
}

impl Attestation {
    /// The attested device: the last voucher's, or the member key itself.
    pub fn device(&self) -> MemberId {
        self.vouchers.last().map_or(self.member, |v| v.device)
    }

    /// The attested device's age recipient.
    pub fn device_recipient(&self) -> &str {
        self.vouchers
            .last()
            .map_or(self.recipient.as_str(), |v| v.recipient.as_str())
    }

    /// Whether the shape holds: not too long, and no key twice (so the
    /// chain cannot loop back to the member or to itself).
    pub fn well_formed(&self) -> bool {
        let mut keys: Vec<&MemberId> = std::iter::once(&self.member)
            .chain(self.vouchers.iter().map(|v| &v.device))
            .collect();
        let count = keys.len();
        keys.sort();
        keys.dedup();
        self.vouchers.len() <= MAX_VOUCHERS && keys.len() == count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voucher(byte: u8) -> Voucher {
        Voucher {
            device: MemberId([byte; 32]),
            recipient: format!("r{byte}"),
            proof: vec![byte; 64],
            vouch: vec![byte; 64],
        }
    }

    #[test]
    fn the_attested_device_is_the_last_voucher_s() {
        let mut a = Attestation {
            member: MemberId([1; 32]),
            recipient: "r1".into(),
            proof: vec![1; 64],
            vouchers: vec![],
        };
        assert_eq!(
            (a.device(), a.device_recipient()),
            (MemberId([1; 32]), "r1")
        );
        a.vouchers = vec![voucher(2), voucher(3)];
        assert_eq!(
            (a.device(), a.device_recipient()),
            (MemberId([3; 32]), "r3")
        );
        // A chain that loops back to a key it already names is refused.
        a.vouchers.push(voucher(1));
        assert!(!a.well_formed());
        a.vouchers = (2..=10).map(voucher).collect();
        assert!(!a.well_formed(), "more than MAX_VOUCHERS");
    }
}
