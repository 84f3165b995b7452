//! Entries: per-author, per-circle, hash-chained, signed records carrying
//! sealed Automerge changes, and the rules for appending one to a log.

use crate::ids::{CircleId, DocId, EntryHash, MemberId, OpHash};
use crate::membership::Membership;
use serde::{Deserialize, Serialize};

/// Version of the entry format this crate reads and writes.
pub const ENTRY_VERSION: u8 = 1;

/// The signed part of an entry. Everything here but `payload` is public:
/// public keys, hashes and counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryBody {
    /// Format version, [`ENTRY_VERSION`].
    pub version: u8,
    /// The circle this entry belongs to.
    pub circle: CircleId,
    /// The signing member.
    pub author: MemberId,
    /// Position in the author's log for this circle, from 1.
    pub seq: u64,
    /// Hash of the author's previous entry (`None` for `seq` 1).
    pub prev: Option<EntryHash>,
    /// The epoch whose key sealed the payload.
    pub epoch: OpHash,
    /// The membership heads the author had seen (sorted).
    pub membership: Vec<OpHash>,
    /// age ciphertext of a [`Payload`].
    pub payload: Vec<u8>,
}

/// An entry whose signature has been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Hash of the signed body.
    pub hash: EntryHash,
    /// The decoded body.
    pub body: EntryBody,
    /// The signed wire form, kept for storing and re-sending.
    pub signed: Vec<u8>,
}

/// The plaintext inside an entry's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// The document the content belongs to.
    pub doc: DocId,
    /// The content.
    pub content: Content,
}

/// What an entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Content {
    /// Raw Automerge changes, all by the entry's author.
    Changes(Vec<Vec<u8>>),
}

/// The last accepted entry of one author in one circle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tip {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: EntryHash,
    /// The membership heads it named.
    pub membership: Vec<OpHash>,
}

/// Why an entry cannot be appended to its author's log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendFault {
    /// Written by a newer version of Circlekeep.
    #[error("unsupported entry version {0}")]
    UnsupportedVersion(u8),
    /// Belongs to another circle (a replay from elsewhere).
    #[error("entry belongs to another circle")]
    WrongCircle,
    /// Entries before this one are missing.
    #[error("entry {got} arrived but the log is at {have}: earlier entries are missing")]
    Gap {
        /// The last sequence number held.
        have: u64,
        /// The sequence number received.
        got: u64,
    },
    /// `prev` does not match the previous entry.
    #[error("entry does not chain onto the author's previous entry")]
    BrokenChain,
    /// Names membership operations this device does not have.
    #[error("entry names an unknown membership operation")]
    UnknownMembership,
    /// The author was not a member at the heads it named.
    #[error("author was not a member of the circle")]
    NotAMember,
    /// Names fewer membership operations than the author's previous entry.
    #[error("entry goes back in membership history")]
    MembershipRegressed,
    /// The epoch is not the write epoch at the heads the entry names.
    #[error("entry is sealed under an epoch that was not current for its author")]
    BadEpoch,
}

/// Checks that `body` may follow `tip` (the author's last accepted entry) in
/// `membership`'s circle: chain, membership at the named heads, and that the
/// epoch is the write epoch at those heads.
/// Duplicates and forks are the caller's to detect (they need the stored log).
pub fn check_append(
    membership: &Membership,
    tip: Option<&Tip>,
    body: &EntryBody,
) -> Result<(), AppendFault> {
    if body.version != ENTRY_VERSION {
        return Err(AppendFault::UnsupportedVersion(body.version));
    }
    if body.circle != membership.circle() {
        return Err(AppendFault::WrongCircle);
    }
    let have = tip.map_or(0, |t| t.seq);
    if body.seq != have + 1 {
        return Err(AppendFault::Gap {
            have,
            got: body.seq,
        });
    }
    if body.prev != tip.map(|t| t.hash) {
        return Err(AppendFault::BrokenChain);
    }
    let seen = membership
        .closure(&body.membership)
        .map_err(|_| AppendFault::UnknownMembership)?;
    if !membership.members_in(&seen).contains(&body.author) {
        return Err(AppendFault::NotAMember);
    }
    if let Some(tip) = tip {
        let before = membership
            .closure(&tip.membership)
            .map_err(|_| AppendFault::UnknownMembership)?;
        if !membership.closure_covers(&seen, &before) {
            return Err(AppendFault::MembershipRegressed);
        }
    }
    if membership.write_epoch_in(&seen) != Some(body.epoch) {
        return Err(AppendFault::BadEpoch);
    }
    Ok(())
}
