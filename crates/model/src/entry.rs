//! Entries: per-author, per-circle, hash-chained, signed records carrying
//! sealed Automerge changes, and the rules for appending one to a log.
//!
//! A *fold* is an entry that stands for a run of its author's entries
//! (`first..=seq`, one document, one epoch): its payload holds the run's
//! changes deflated together, so a member catching up receives a long
//! history in a few records. Only
//! the author makes folds of its own log, signed like any entry; a fold
//! chains onto the entry before `first` and names the hash of the author's
//! entry at `seq`, which the author's next entry chains onto.

use crate::ids::{CircleId, DocId, EntryHash, MemberId, OpHash};
use crate::membership::Membership;
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Version of the entry format this crate reads and writes.
pub const ENTRY_VERSION: u8 = 1;
/// Version of a fold: an entry standing for a run of its author's entries.
pub const FOLD_VERSION: u8 = 2;

/// What makes an entry a fold: the run of its author's entries it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    /// The run's first sequence number (its last is the entry's `seq`).
    pub first: u64,
    /// Hash of the author's entry at `seq`, which its next entry chains onto.
    pub last: EntryHash,
}

/// The signed part of an entry. Everything here but `payload` is public:
/// public keys, hashes and counters.
///
/// Encoded as its fields in order; a fold ([`FOLD_VERSION`]) adds its
/// [`Fold`] at the end, so plain entries keep the first format's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// Set for a fold (version [`FOLD_VERSION`]): `prev` is then the hash
    /// before the run, `epoch` and `membership` those of its last entry.
    pub fold: Option<Fold>,
}

impl EntryBody {
    /// The first sequence number this entry stands for (`seq` unless a fold).
    pub fn first(&self) -> u64 {
        self.fold.map_or(self.seq, |f| f.first)
    }
}

impl Serialize for EntryBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut t = serializer.serialize_tuple(if self.fold.is_some() { 9 } else { 8 })?;
        t.serialize_element(&self.version)?;
        t.serialize_element(&self.circle)?;
        t.serialize_element(&self.author)?;
        t.serialize_element(&self.seq)?;
        t.serialize_element(&self.prev)?;
        t.serialize_element(&self.epoch)?;
        t.serialize_element(&self.membership)?;
        t.serialize_element(&self.payload)?;
        if let Some(fold) = &self.fold {
            t.serialize_element(fold)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for EntryBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = EntryBody;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an entry body")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EntryBody, A::Error> {
                fn next<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
                    seq: &mut A,
                    field: usize,
                ) -> Result<T, A::Error> {
                    seq.next_element()?
                        .ok_or_else(|| de::Error::invalid_length(field, &"an entry body"))
                }
                let version: u8 = next(&mut seq, 0)?;
                Ok(EntryBody {
                    version,
                    circle: next(&mut seq, 1)?,
                    author: next(&mut seq, 2)?,
                    seq: next(&mut seq, 3)?,
                    prev: next(&mut seq, 4)?,
                    epoch: next(&mut seq, 5)?,
                    membership: next(&mut seq, 6)?,
                    payload: next(&mut seq, 7)?,
                    fold: if version == FOLD_VERSION {
                        Some(next(&mut seq, 8)?)
                    } else {
                        None
                    },
                })
            }
        }
        deserializer.deserialize_tuple(9, BodyVisitor)
    }
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

impl Entry {
    /// The hash the author's next entry chains onto: this entry's own, or
    /// for a fold the hash of the last entry it stands for.
    pub fn chain_hash(&self) -> EntryHash {
        self.body.fold.map_or(self.hash, |f| f.last)
    }
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
    /// A fold's run: its raw Automerge changes (all by the author),
    /// postcard-encoded and deflated.
    Run(Vec<u8>),
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
    /// A fold whose run is empty or starts before the log.
    #[error("fold stands for no entries")]
    EmptyFold,
}

/// Checks that `body` may follow `tip` (the author's last accepted entry) in
/// `membership`'s circle: chain, membership at the named heads, and that the
/// epoch is the write epoch at those heads.
///
/// A fold may also overlap the tip (this device holds part of its run);
/// it must then chain onto what is held before the run, which
/// `held_before(first - 1)` looks up (the chain hash held there).
/// Duplicates and forks are the caller's to detect (they need the stored log).
pub fn check_append(
    membership: &Membership,
    tip: Option<&Tip>,
    body: &EntryBody,
    held_before: impl FnOnce(u64) -> Option<EntryHash>,
) -> Result<(), AppendFault> {
    let supported = match body.fold {
        None => body.version == ENTRY_VERSION,
        Some(_) => body.version == FOLD_VERSION,
    };
    if !supported {
        return Err(AppendFault::UnsupportedVersion(body.version));
    }
    if body.circle != membership.circle() {
        return Err(AppendFault::WrongCircle);
    }
    let first = body.first();
    if first == 0 || first > body.seq {
        return Err(AppendFault::EmptyFold);
    }
    let have = tip.map_or(0, |t| t.seq);
    if first > have + 1 || body.seq <= have {
        return Err(AppendFault::Gap {
            have,
            got: body.seq,
        });
    }
    let chains_onto = if first == 1 {
        None
    } else if first == have + 1 {
        tip.map(|t| t.hash)
    } else {
        // A fold overlapping the tip: the entry before its run is held.
        Some(held_before(first - 1).ok_or(AppendFault::BrokenChain)?)
    };
    if body.prev != chains_onto {
        return Err(AppendFault::BrokenChain);
    }
    let seen = membership
        .closure(&body.membership)
        .map_err(|_| AppendFault::UnknownMembership)?;
    if !membership.devices_in(&seen).contains_key(&body.author) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::hash_bytes;
    use crate::membership::{Action, EpochKey, Op, OpBody, OP_VERSION};
    use proptest::prelude::*;

    /// A circle founded by member 1, and its genesis (the first epoch).
    fn circle() -> (Membership, OpHash) {
        let body = OpBody {
            version: OP_VERSION,
            circle: None,
            author: MemberId([1; 32]),
            deps: vec![],
            action: Action::Create {
                recipient: "r1".into(),
                nonce: [1; 16],
                key: EpochKey {
                    sealed: vec![],
                    full_commitment: [0; 32],
                    shared_commitment: [0; 32],
                },
            },
        };
        let hash = OpHash(hash_bytes("test op", b"genesis"));
        let op = Op {
            hash,
            body,
            signed: vec![],
        };
        let (membership, _) = Membership::build(CircleId(hash.0), [op]);
        (membership, hash)
    }

    /// The hash of the author's entry at `seq` in the test log.
    fn hash_at(seq: u64) -> Option<EntryHash> {
        (seq > 0).then(|| EntryHash(hash_bytes("test entry", &seq.to_be_bytes())))
    }

    /// The author's record standing for `first..=last` (a fold unless one entry).
    fn record(membership: &Membership, genesis: OpHash, first: u64, last: u64) -> EntryBody {
        EntryBody {
            version: if first == last {
                ENTRY_VERSION
            } else {
                FOLD_VERSION
            },
            circle: membership.circle(),
            author: MemberId([1; 32]),
            seq: last,
            prev: hash_at(first - 1),
            epoch: genesis,
            membership: vec![genesis],
            payload: vec![],
            fold: (first != last).then(|| Fold {
                first,
                last: hash_at(last).expect("seq > 0"),
            }),
        }
    }

    fn tip(genesis: OpHash, seq: u64) -> Option<Tip> {
        hash_at(seq).map(|hash| Tip {
            seq,
            hash,
            membership: vec![genesis],
        })
    }

    #[test]
    fn a_fold_joins_a_log_where_it_chains_on() {
        let (m, g) = circle();
        let nothing = |_| None;
        let fold = record(&m, g, 1, 10);
        assert_eq!(check_append(&m, None, &fold, nothing), Ok(()));
        let later = record(&m, g, 5, 10);
        assert_eq!(
            check_append(&m, tip(g, 4).as_ref(), &later, nothing),
            Ok(())
        );
        assert_eq!(
            check_append(&m, tip(g, 3).as_ref(), &later, nothing),
            Err(AppendFault::Gap { have: 3, got: 10 })
        );
        // Overlapping what is held: it must chain onto the entry before its run.
        assert_eq!(
            check_append(&m, tip(g, 7).as_ref(), &later, hash_at),
            Ok(())
        );
        assert_eq!(
            check_append(&m, tip(g, 7).as_ref(), &later, nothing),
            Err(AppendFault::BrokenChain)
        );
        let mut lying = later.clone();
        lying.prev = hash_at(3);
        assert_eq!(
            check_append(&m, tip(g, 4).as_ref(), &lying, nothing),
            Err(AppendFault::BrokenChain)
        );
        // Runs that stand for nothing, and versions that do not match the shape.
        let mut empty = record(&m, g, 1, 10);
        empty.fold = Some(Fold {
            first: 11,
            last: EntryHash([0; 32]),
        });
        assert_eq!(
            check_append(&m, None, &empty, nothing),
            Err(AppendFault::EmptyFold)
        );
        let mut plain_claiming_fold = record(&m, g, 1, 1);
        plain_claiming_fold.version = FOLD_VERSION;
        assert_eq!(
            check_append(&m, None, &plain_claiming_fold, nothing),
            Err(AppendFault::UnsupportedVersion(FOLD_VERSION))
        );
        let mut fold_claiming_plain = record(&m, g, 1, 10);
        fold_claiming_plain.version = ENTRY_VERSION;
        assert_eq!(
            check_append(&m, None, &fold_claiming_plain, nothing),
            Err(AppendFault::UnsupportedVersion(ENTRY_VERSION))
        );
    }

    /// A log of `len` entries cut into consecutive records at `cuts`.
    fn records_of(len: u64, cuts: &[u64]) -> Vec<(u64, u64)> {
        let mut ends: Vec<u64> = cuts.iter().map(|c| c % len + 1).collect();
        ends.push(len);
        ends.sort();
        ends.dedup();
        let mut first = 1;
        ends.into_iter()
            .map(|last| {
                let run = (first, last);
                first = last + 1;
                run
            })
            .collect()
    }

    proptest! {
        /// However the author cut its log into folds, a receiver holding any
        /// prefix of it (entries one by one) takes every record that goes
        /// beyond what it holds, ends at the author's chain hash, and
        /// refuses a fold whose previous hash is not the author's.
        #[test]
        fn honest_folds_extend_any_prefix_and_liars_do_not(
            len in 1u64..60,
            cuts in proptest::collection::vec(0u64..60, 0..8),
            held in 0u64..60,
        ) {
            let (m, g) = circle();
            let held = held % (len + 1);
            let mut at = tip(g, held);
            for (first, last) in records_of(len, &cuts) {
                let body = record(&m, g, first, last);
                let have = at.as_ref().map_or(0, |t| t.seq);
                if last <= have {
                    continue;
                }
                prop_assert_eq!(check_append(&m, at.as_ref(), &body, hash_at), Ok(()));
                if first > 1 {
                    let mut liar = body.clone();
                    liar.prev = Some(EntryHash([0xee; 32]));
                    prop_assert_eq!(
                        check_append(&m, at.as_ref(), &liar, hash_at),
                        Err(AppendFault::BrokenChain)
                    );
                }
                let chain = body.fold.map_or_else(|| hash_at(last), |f| Some(f.last));
                at = chain.map(|hash| Tip { seq: last, hash, membership: vec![g] });
            }
            prop_assert_eq!(at.map(|t| (t.seq, t.hash)), hash_at(len).map(|h| (len, h)));
        }
    }
}
