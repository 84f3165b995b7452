//! The membership log's operations as signed: what each action carries,
//! epoch keys and key grants. The rules that judge them are in
//! `membership.rs`.

use crate::attestation::Attestation;
use crate::ids::{CircleId, MemberId, OpHash};
use serde::{Deserialize, Serialize};

/// Version of the operation format this crate reads and writes.
pub const OP_VERSION: u8 = 1;

/// The signed part of a membership operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpBody {
    /// Format version, [`OP_VERSION`].
    pub version: u8,
    /// The circle; `None` only for the genesis, whose hash *is* the circle id.
    pub circle: Option<CircleId>,
    /// The signing member.
    pub author: MemberId,
    /// Hashes of the operations the author had seen (sorted, unique).
    pub deps: Vec<OpHash>,
    /// What the operation does.
    pub action: Action,
}

/// What a membership operation does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Founds the circle with its author as the only member.
    Create {
        /// The founder's age X25519 recipient.
        recipient: String,
        /// Randomness so two circles never share an id.
        nonce: [u8; 16],
        /// The first epoch's key, sealed to the founder.
        key: EpochKey,
    },
    /// Adds a member.
    Add {
        /// The newcomer.
        member: MemberId,
        /// The newcomer's age X25519 recipient.
        recipient: String,
        /// The new epoch's key, sealed to everyone including the newcomer.
        key: EpochKey,
    },
    /// Removes another member.
    Remove {
        /// The member who leaves the circle.
        member: MemberId,
        /// The new epoch's key, sealed to the remaining members.
        key: EpochKey,
    },
    /// The author leaves the circle.
    Leave,
    /// Starts a new epoch for the current members.
    Rekey {
        /// The new epoch's key.
        key: EpochKey,
    },
    /// Hands one member keys of epochs it cannot read yet.
    ShareKeys {
        /// The receiving member.
        to: MemberId,
        /// Which keys are inside (public: epoch hashes and classes).
        grants: Vec<KeyGrant>,
        /// The keys, sealed to the receiver.
        sealed: Vec<u8>,
    },
    /// Sets, at founding, whether newcomers see history (founder only, deps
    /// exactly the genesis). Last, so earlier operations keep their encoding.
    Policy {
        /// Newcomers receive every earlier epoch's full secret.
        history: bool,
    },
    /// Links a device to the author's member, certified by one of that
    /// member's current devices (the author), and consented to by the
    /// device: `proof` is its signature binding it to `member` and
    /// `recipient` (checked with the operation's signature). Starts an
    /// epoch sealed to every device, the new one included.
    Device {
        /// The member the device joins (the author's).
        member: MemberId,
        /// The device's signing key (its iroh endpoint id).
        device: MemberId,
        /// The device's age X25519 recipient.
        recipient: String,
        /// The device's signature over `member` and `recipient`.
        proof: Vec<u8>,
        /// The new epoch's key, sealed to every device.
        key: EpochKey,
    },
    /// Retires another device of the author's member (a lost laptop): it
    /// is sealed out of a new epoch and counts in nowhere.
    RetireDevice {
        /// The device that goes.
        device: MemberId,
        /// The new epoch's key, sealed to the remaining devices.
        key: EpochKey,
    },
    /// Founds the circle from a linked device (the author): the attestation
    /// shows it is its member's, and the member is the only member.
    Found {
        /// The author is this member's device (it is the attested one).
        attestation: Attestation,
        /// Randomness so two circles never share an id.
        nonce: [u8; 16],
        /// The first epoch's key, sealed to the author.
        key: EpochKey,
    },
    /// Adds a member by one of its linked devices, which the attestation
    /// shows is the member's; the member's other devices are linked later
    /// by its own devices.
    Admit {
        /// The newcomer's device and the evidence that it is the member's.
        attestation: Attestation,
        /// The new epoch's key, sealed to everyone including the device.
        key: EpochKey,
    },
    /// Says how far its author held the logs of the member (or device) its
    /// removal (or retirement) `removal` took out, written right after it
    /// (deps exactly `[removal]`, same author): each device's last held
    /// sequence number. Entries past the cut are void (`cut.rs`). Last, so
    /// earlier operations keep their encoding.
    Cut {
        /// The author's `Remove` or `RetireDevice` this completes.
        removal: OpHash,
        /// The removed devices' last held sequence numbers (sorted, unique;
        /// a device not named is cut at 0).
        held: Vec<(MemberId, u64)>,
    },
}

impl Action {
    /// The epoch key this operation carries, if it starts an epoch.
    pub fn epoch_key(&self) -> Option<&EpochKey> {
        match self {
            Action::Create { key, .. }
            | Action::Add { key, .. }
            | Action::Remove { key, .. }
            | Action::Rekey { key }
            | Action::Device { key, .. }
            | Action::RetireDevice { key, .. }
            | Action::Found { key, .. }
            | Action::Admit { key, .. } => Some(key),
            Action::Leave
            | Action::ShareKeys { .. }
            | Action::Policy { .. }
            | Action::Cut { .. } => None,
        }
    }

    /// Short name for reports and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Create { .. } => "create",
            Action::Add { .. } => "add",
            Action::Remove { .. } => "remove",
            Action::Leave => "leave",
            Action::Rekey { .. } => "rekey",
            Action::ShareKeys { .. } => "share-keys",
            Action::Policy { .. } => "policy",
            Action::Device { .. } => "device",
            Action::RetireDevice { .. } => "retire-device",
            Action::Found { .. } => "found",
            Action::Admit { .. } => "admit",
            Action::Cut { .. } => "cut",
        }
    }

    /// Whether this founds the circle (it may only be the genesis).
    pub fn is_genesis(&self) -> bool {
        matches!(self, Action::Create { .. } | Action::Found { .. })
    }

    /// The member this operation brings in, the device it comes in with
    /// and that device's recipient, for an operation signed by `author`:
    /// the founder, or the newcomer.
    pub fn newcomer(&self, author: MemberId) -> Option<(MemberId, MemberId, &str)> {
        match self {
            Action::Create { recipient, .. } => Some((author, author, recipient)),
            Action::Add {
                member, recipient, ..
            } => Some((*member, *member, recipient)),
            Action::Found { attestation, .. } => {
                Some((attestation.member, author, attestation.device_recipient()))
            }
            Action::Admit { attestation, .. } => Some((
                attestation.member,
                attestation.device(),
                attestation.device_recipient(),
            )),
            _ => None,
        }
    }
}

/// An epoch secret sealed to the epoch's audience, with public commitments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochKey {
    /// age ciphertext of the 32-byte epoch secret, one X25519 stanza per member.
    pub sealed: Vec<u8>,
    /// Commitment to the full secret, so receivers can check what they got.
    pub full_commitment: [u8; 32],
    /// Commitment to the circle-document subkey.
    pub shared_commitment: [u8; 32],
}

/// Which key of an epoch a grant hands over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KeyClass {
    /// Only the circle document's subkey.
    Shared,
    /// The whole epoch secret (circle document and gathering notes).
    Full,
}

/// One key handed over by `ShareKeys`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyGrant {
    /// The epoch (hash of its key-carrying operation).
    pub epoch: OpHash,
    /// Which key.
    pub class: KeyClass,
}

/// A membership operation whose signature has been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// Hash of the signed body.
    pub hash: OpHash,
    /// The decoded body.
    pub body: OpBody,
    /// The signed wire form, kept for re-sending.
    pub signed: Vec<u8>,
}
