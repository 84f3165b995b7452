//! Equivocation: an author's log is one chain, so two signed records of
//! one author that disagree about what stands at one place in it prove the
//! author signed a fork (a copied device key, or a modified app). Each
//! record vouches for two places: its own (its chain hash at `seq`) and
//! the one before it (`prev` at `first - 1`). The proof is the two records
//! themselves, which anyone can check without holding either log.

use crate::entry::Entry;
use crate::EntryHash;

/// The places a record vouches for, and the chain hash it says is there.
fn claims(record: &Entry) -> [(u64, Option<EntryHash>); 2] {
    let body = &record.body;
    [
        (body.seq, Some(record.chain_hash())),
        (body.first().saturating_sub(1), body.prev),
    ]
}

/// The place where two records by one author in one circle contradict
/// each other, if they do (the lowest such place).
pub fn contradiction(a: &Entry, b: &Entry) -> Option<u64> {
    if a.body.author != b.body.author || a.body.circle != b.body.circle {
        return None;
    }
    let mut places: Vec<u64> = claims(a)
        .iter()
        .flat_map(|(at, hash)| {
            claims(b)
                .into_iter()
                .filter(move |(other, theirs)| at == other && *at > 0 && hash != theirs)
                .map(|(other, _)| other)
        })
        .collect();
    places.sort_unstable();
    places.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{EntryBody, Fold, ENTRY_VERSION, FOLD_VERSION};
    use crate::ids::hash_bytes;
    use crate::{CircleId, MemberId, OpHash};
    use proptest::prelude::*;

    /// The hash of entry `seq` of the log named `fork`, which shares the
    /// first `shared` entries with log 0.
    fn hash_at(fork: u8, shared: u64, seq: u64) -> Option<EntryHash> {
        let log = if seq <= shared { 0 } else { fork };
        (seq > 0).then(|| {
            EntryHash(hash_bytes(
                "test entry",
                &[&[log][..], &seq.to_be_bytes()].concat(),
            ))
        })
    }

    /// The record of `fork` standing for `first..=last` (a fold unless one entry).
    fn record(fork: u8, shared: u64, first: u64, last: u64) -> Entry {
        let at = |seq| hash_at(fork, shared, seq);
        let fold = (first != last).then(|| Fold {
            first,
            last: at(last).unwrap_or(EntryHash([0; 32])),
        });
        Entry {
            // A fold's own hash is not a place of the log.
            hash: if fold.is_some() {
                EntryHash(hash_bytes("fold", &[fork]))
            } else {
                at(last).unwrap_or(EntryHash([0; 32]))
            },
            body: EntryBody {
                version: if fold.is_some() {
                    FOLD_VERSION
                } else {
                    ENTRY_VERSION
                },
                circle: CircleId([7; 32]),
                author: MemberId([1; 32]),
                seq: last,
                prev: at(first - 1),
                epoch: OpHash([2; 32]),
                membership: vec![],
                payload: vec![],
                fold,
            },
            signed: vec![],
        }
    }

    fn span() -> impl Strategy<Value = (u64, u64)> {
        (1u64..40, 0u64..8).prop_map(|(first, len)| (first, first + len))
    }

    proptest! {
        /// Records of one honest log (entries and folds alike) never
        /// contradict each other.
        #[test]
        fn one_log_never_contradicts_itself(a in span(), b in span(), shared in 0u64..50) {
            let x = record(1, shared, a.0, a.1);
            let y = record(1, shared, b.0, b.1);
            prop_assert_eq!(contradiction(&x, &y), None);
        }

        /// Two forks are caught wherever their records meet a place past
        /// the fork, and never before it; the verdict is symmetric.
        #[test]
        fn two_forks_are_caught_where_they_meet(a in span(), b in span(), shared in 0u64..50) {
            let x = record(1, shared, a.0, a.1);
            let y = record(2, shared, b.0, b.1);
            let places = |r: (u64, u64)| [r.1, r.0 - 1];
            let met: Vec<u64> = places(a)
                .into_iter()
                .filter(|p| *p > shared && places(b).contains(p))
                .collect();
            let found = contradiction(&x, &y);
            prop_assert_eq!(found, contradiction(&y, &x));
            prop_assert_eq!(found, met.iter().min().copied());
            prop_assert!(found.is_none_or(|p| p > shared));
        }
    }

    #[test]
    fn another_author_or_circle_is_no_contradiction() {
        let a = record(1, 2, 3, 3);
        let mut b = record(2, 2, 3, 3);
        assert_eq!(contradiction(&a, &b), Some(3));
        b.body.author = MemberId([9; 32]);
        assert_eq!(contradiction(&a, &b), None);
        let mut c = record(2, 2, 3, 3);
        c.body.circle = CircleId([8; 32]);
        assert_eq!(contradiction(&a, &c), None);
    }
}
