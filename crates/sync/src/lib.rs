//! Circlekeep's peer-to-peer sync: an iroh endpoint whose key is the
//! device's signing key, a members-only gate at the handshake, a versioned
//! ALPN protocol that catches peers up from their version vectors and then
//! pushes new records live, reconnection with backoff, local-network
//! discovery, and invites.
//!
//! Architecture invariant: this crate moves signed, sealed records it does not
//! interpret. What a circle holds, who is in it and whether a record is valid
//! is the [`Replica`]'s business (the engine implements it); this crate only
//! decides whom to talk to and what to send them.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod address_book;
pub mod invite;
mod node;
mod session;
#[cfg(feature = "simulation")]
pub mod simulation;
pub mod status;
mod supervisor;
pub mod wire;

/// Announced on the replica's change channel when the private journal
/// changed (no circle has this id: circle ids are hashes).
pub const JOURNAL_CHANGED: CircleId = CircleId([0; 32]);

pub use invite::{
    DeviceTicket, InviteRefusal, JoinError, KeeperTicket, Linked, Ticket, TicketError,
};
pub use iroh::EndpointAddr;
pub use node::{
    Node, NodeConfig, NodeError, Relay, SyncReport, CLOSE_BUSY, MAX_INVITE_CONNECTIONS,
};
pub use supervisor::{NodeState, Supervisor};

use circlekeep_model::{CircleId, EntryHash, MemberId, OpHash};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A circle whose members have not seen this device's link yet, and the
/// signed operations that show it (in the log's order).
pub type LinkToPresent = (CircleId, Vec<Vec<u8>>);

/// What a device holds of one circle: the last sequence number of each
/// author's log, and the membership operations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Author → last sequence number held.
    pub have: BTreeMap<MemberId, u64>,
    /// Hashes of the membership operations held.
    pub ops: BTreeSet<OpHash>,
    /// Author → chain hash of the entry at its `have` height, as announced
    /// (two devices at one height with different hashes hold a fork).
    /// Dropped for an author whose height this side raises.
    pub tips: BTreeMap<MemberId, EntryHash>,
}

impl Summary {
    /// Entries in `self` beyond what `other` holds.
    pub fn entries_beyond(&self, other: &Summary) -> u64 {
        self.have
            .iter()
            .map(|(a, s)| s.saturating_sub(other.have.get(a).copied().unwrap_or(0)))
            .sum()
    }

    /// Records that `other` holds at least what `self` holds.
    pub fn covered_by(&self, other: &Summary) -> bool {
        self.entries_beyond(other) == 0 && self.ops.is_subset(&other.ops)
    }

    /// Adds what was sent or received to what a peer is known to hold.
    pub fn absorb(&mut self, records: &Records) {
        self.ops.extend(records.ops.iter().map(|(h, _)| *h));
        for (author, seq, _) in &records.entries {
            let held = self.have.entry(*author).or_insert(0);
            if *seq > *held {
                *held = *seq;
                self.tips.remove(author);
            }
        }
    }
}

/// Signed records of one circle with their public positions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Records {
    /// Membership operations: hash and signed bytes.
    pub ops: Vec<(OpHash, Vec<u8>)>,
    /// Entries: author, sequence number and signed bytes, in each author's order.
    pub entries: Vec<(MemberId, u64, Vec<u8>)>,
}

impl Records {
    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.entries.is_empty()
    }

    /// Total bytes of the records.
    pub fn byte_len(&self) -> usize {
        self.ops.iter().map(|(_, b)| b.len()).sum::<usize>()
            + self.entries.iter().map(|(_, _, b)| b.len()).sum::<usize>()
    }
}

/// What ingesting records from a peer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Positions of every entry that is now held (new or already there).
    pub held_entries: Vec<(MemberId, u64)>,
    /// Hashes of every operation that is now held.
    pub held_ops: Vec<OpHash>,
    /// New records stored.
    pub accepted: usize,
    /// Records refused.
    pub rejected: usize,
}

/// The local side of sync: a device's circles (the engine implements this).
///
/// Calls may block briefly on storage; the node runs them off the async
/// runtime's threads.
pub trait Replica: Send + Sync + 'static {
    /// This device.
    fn me(&self) -> MemberId;
    /// Current members of the circles this device is currently in, but itself:
    /// whom to dial, and whom to let in.
    fn peers(&self) -> BTreeSet<MemberId>;
    /// Members of circles this device left of its own accord: it keeps
    /// dialing them (and letting them in) until each has learnt of the
    /// departure, which it shows by refusing this device as a stranger.
    fn farewells(&self) -> BTreeSet<MemberId>;
    /// Circles held here that `peer` is or was a member of (what it may receive).
    fn circles_with(&self, peer: &MemberId) -> Vec<CircleId>;
    /// Whether `peer` is a current member of `circle` here: only then is it
    /// sent the circle's entries (a former member is sent its operations,
    /// so it learns it is out, and nothing else).
    fn is_member(&self, circle: &CircleId, peer: &MemberId) -> bool;
    /// The member this device is a device of (its own id for a member's
    /// first device).
    fn my_member(&self) -> MemberId {
        self.me()
    }
    /// The current devices of `member` in `circle` (a member's first device
    /// is the member's own id).
    fn member_devices(&self, _circle: &CircleId, member: &MemberId) -> Vec<MemberId> {
        vec![*member]
    }
    /// The circles this device holds and their current members.
    fn circles(&self) -> Vec<(CircleId, Vec<MemberId>)>;
    /// What this device holds of `circle`.
    fn summary(&self, circle: &CircleId) -> Option<Summary>;
    /// Records the holder of `known` lacks: every missing operation, then
    /// entries in each author's order, stopping after about `budget` bytes.
    fn records_since(&self, circle: &CircleId, known: &Summary, budget: usize) -> Records;
    /// This device is about to join `circle` by ticket: take it in without
    /// asking when it arrives.
    fn joining(&self, _circle: &CircleId) {}
    /// Checks and stores records received from `from`.
    fn ingest(
        &self,
        circle: &CircleId,
        from: &MemberId,
        ops: Vec<Vec<u8>>,
        entries: Vec<Vec<u8>>,
    ) -> Ingested;
    /// A channel announcing circles whose records changed.
    fn changes(&self) -> tokio::sync::broadcast::Receiver<CircleId>;
    /// Adds `peer`, who presented an invite to `circle`: its secret and
    /// `peer`'s member card.
    fn redeem_invite(
        &self,
        circle: &CircleId,
        secret: &[u8; 32],
        card: &str,
        peer: &MemberId,
    ) -> Result<CircleId, InviteRefusal>;
    /// Links `device`, which presented a device ticket's `secret` and its
    /// `request` to be linked (the replica's encoding), to this device's
    /// member in every circle; returns the circles and its attestation.
    fn redeem_device_ticket(
        &self,
        _secret: &[u8; 32],
        _request: &[u8],
        _device: &MemberId,
    ) -> Result<Linked, InviteRefusal> {
        Err(InviteRefusal::Unknown)
    }
    /// Circles whose members have not seen this device's link yet, with
    /// the operations to present (see [`Node`]'s dialer).
    fn links_to_present(&self) -> Vec<LinkToPresent> {
        Vec::new()
    }
    /// A member has seen this device's link in `circle`.
    fn presented(&self, _circle: &CircleId) {}
    /// `peer` presents the operations that link it into `circle`: check
    /// and store them; answer whether `peer` now counts as a device there.
    fn present_link(
        &self,
        _circle: &CircleId,
        _ops: &[Vec<u8>],
        _peer: &MemberId,
    ) -> Result<bool, InviteRefusal> {
        Err(InviteRefusal::Unknown)
    }
    /// Keeps what the device that linked this one answered (its
    /// attestation), before this device catches up from it.
    fn keep_link(&self, _linked: &Linked) -> Result<(), String> {
        Ok(())
    }
    /// Whether `peer` is another device of this device's own member (the
    /// only peers the private journal goes to).
    fn own_device(&self, _peer: &MemberId) -> bool {
        false
    }
    /// Keys of the journal entries held here.
    fn journal_keys(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    /// The journal entries of `keys` held here, each sealed to `peer` (one
    /// of this member's devices) alone; about `budget` bytes at most.
    fn journal_for(
        &self,
        _peer: &MemberId,
        _keys: &[Vec<u8>],
        _budget: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        Vec::new()
    }
    /// Checks and keeps journal entries `peer` sent (only from this
    /// member's own devices, only entries this device opens).
    fn ingest_journal(&self, _peer: &MemberId, _entries: Vec<(Vec<u8>, Vec<u8>)>) {}
    /// Our records at the heights where `announced` (a peer's summary)
    /// names a different record than we hold: sending them shows the
    /// peer a fork.
    fn fork_evidence(&self, _circle: &CircleId, _announced: &Summary) -> Vec<Vec<u8>> {
        Vec::new()
    }
    /// Authors whose logs are proven forked in `circle`.
    fn forks(&self, _circle: &CircleId) -> Vec<MemberId> {
        Vec::new()
    }
    /// The proof of `author`'s fork (two signed records), if held.
    fn fork_proof(&self, _circle: &CircleId, _author: &MemberId) -> Option<Vec<Vec<u8>>> {
        None
    }
    /// Checks a proof a peer sent; returns the author it flags, if it holds.
    fn ingest_fork(&self, _circle: &CircleId, _records: Vec<Vec<u8>>) -> Option<MemberId> {
        None
    }
    /// The keepers serving circles this device is in, by circle: they
    /// are dialed like members (and sent the circle's sealed records), and
    /// presented each circle once per run so they let this device in.
    fn keepers(&self) -> Vec<(CircleId, KeeperTicket)> {
        Vec::new()
    }
    /// (A keeper's side.) `peer` presents the enrolment secret of this
    /// keeper's ticket for `circle`: answer whether `peer` may now sync it
    /// here (it still has to show, by the circle's own operations, that it
    /// is a current device of a member).
    fn keep_circle(
        &self,
        _circle: &CircleId,
        _secret: &[u8; 32],
        _peer: &MemberId,
    ) -> Result<bool, InviteRefusal> {
        Err(InviteRefusal::Unknown)
    }
    /// Keeps the address book (opaque bytes; the replica seals them).
    fn save_addresses(&self, bytes: &[u8]);
    /// The kept address book.
    fn load_addresses(&self) -> Option<Vec<u8>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn summary() -> impl Strategy<Value = Summary> {
        (
            prop::collection::btree_map(0u8..6, 0u64..20, 0..6),
            prop::collection::btree_set(0u8..8, 0..6),
        )
            .prop_map(|(have, ops)| Summary {
                have: have
                    .into_iter()
                    .map(|(a, s)| (MemberId([a; 32]), s))
                    .collect(),
                ops: ops.into_iter().map(|o| OpHash([o; 32])).collect(),
                tips: BTreeMap::new(),
            })
    }

    /// Everything `from` holds beyond `to`, as records.
    fn missing(from: &Summary, to: &Summary) -> Records {
        Records {
            ops: from.ops.difference(&to.ops).map(|h| (*h, vec![])).collect(),
            entries: from
                .have
                .iter()
                .flat_map(|(a, &last)| {
                    let after = to.have.get(a).copied().unwrap_or(0);
                    (after + 1..=last).map(move |s| (*a, s, vec![]))
                })
                .collect(),
        }
    }

    proptest! {
        /// Sending what a peer lacks leaves it covering us; the count of
        /// entries behind is exactly what was sent.
        #[test]
        fn absorbing_what_was_missing_covers(a in summary(), b in summary()) {
            let records = missing(&a, &b);
            prop_assert_eq!(records.entries.len() as u64, a.entries_beyond(&b));
            let mut known = b.clone();
            known.absorb(&records);
            prop_assert!(a.covered_by(&known));
            prop_assert_eq!(a.entries_beyond(&known), 0);
            // Absorbing again (duplicates, replays) changes nothing.
            let again = known.clone();
            known.absorb(&records);
            prop_assert_eq!(known, again);
        }

        #[test]
        fn covering_is_reflexive_and_monotone(a in summary(), b in summary()) {
            prop_assert!(a.covered_by(&a));
            let mut both = a.clone();
            both.absorb(&missing(&b, &a));
            prop_assert!(a.covered_by(&both) && b.covered_by(&both));
        }
    }
}
