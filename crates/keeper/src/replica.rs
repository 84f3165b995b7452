//! The keeper as the sync node's replica: whom it lets in (current
//! devices of the circles it keeps, and devices that presented the
//! enrolment secret for a circle it does not keep yet), what it sends,
//! and taking records in.

use crate::circle::KeptCircle;
use crate::{secret_hash, Keeper, MAX_PENDING, PENDING_FOR};
use circlekeep_model::{CircleId, MemberId};
use circlekeep_store::{BlobKind, Store};
use circlekeep_sync::{Ingested, InviteRefusal, Records, Replica, Summary};
use std::collections::BTreeSet;
use std::time::Instant;

const ADDRESS_BOOK: &[u8] = b"book";

impl<S: Store> Keeper<S> {
    /// Whether `peer` presented the secret for `circle` and has not yet
    /// handed it over (pending admissions past their time are dropped).
    fn pending(&self, circle: &CircleId, peer: &MemberId) -> bool {
        let mut state = self.lock();
        let now = Instant::now();
        state.pending.retain(|_, devices| {
            devices.retain(|_, until| *until > now);
            !devices.is_empty()
        });
        state
            .pending
            .get(circle)
            .is_some_and(|d| d.contains_key(peer))
    }

    /// Notes that `peer` may hand over `circle` for a while (the oldest
    /// waiting device goes past [`MAX_PENDING`]).
    fn admit_pending(&self, circle: CircleId, peer: MemberId) {
        let mut state = self.lock();
        let waiting: usize = state.pending.values().map(|d| d.len()).sum();
        if waiting >= MAX_PENDING {
            let oldest = state
                .pending
                .iter()
                .flat_map(|(c, d)| d.iter().map(move |(m, t)| (*t, *c, *m)))
                .min();
            if let Some((_, c, m)) = oldest {
                if let Some(devices) = state.pending.get_mut(&c) {
                    devices.remove(&m);
                }
            }
        }
        let until = Instant::now() + PENDING_FOR;
        state.pending.entry(circle).or_default().insert(peer, until);
    }

    /// Takes records of a circle kept here from one of its current devices,
    /// or of a circle a pending device hands over (if its operations show
    /// that device in it).
    fn take(
        &self,
        circle: &CircleId,
        from: &MemberId,
        ops: &[Vec<u8>],
        entries: &[Vec<u8>],
    ) -> Ingested {
        let refused = Ingested {
            rejected: ops.len() + entries.len(),
            ..Ingested::default()
        };
        let adopted = {
            let state = self.lock();
            match state.circles.get(circle) {
                Some(kept) if kept.membership().devices().contains_key(from) => None,
                Some(_) => return refused,
                None => match KeptCircle::adopt(*circle, ops, from, self.quota) {
                    Some(fresh) => Some(fresh),
                    None => return refused,
                },
            }
        };
        if adopted.is_some() && !self.pending(circle, from) {
            return refused;
        }
        let mut state = self.lock();
        if let Some(fresh) = adopted {
            // Kept now: its own log says who comes in, not the secret.
            state.circles.entry(*circle).or_insert(fresh);
            state.pending.remove(circle);
        }
        let Some(kept) = state.circles.get_mut(circle) else {
            return refused;
        };
        match kept.take(&self.store, ops, entries) {
            Ok(taken) => {
                if taken.accepted > 0 {
                    let _ = self.changes.send(*circle);
                }
                Ingested {
                    held_entries: taken.entries,
                    held_ops: taken.ops,
                    accepted: taken.accepted,
                    rejected: taken.refused,
                }
            }
            Err(e) => {
                tracing::warn!(circle = %circle.short(), "cannot keep records: {e}");
                refused
            }
        }
    }
}

impl<S: Store> Replica for Keeper<S> {
    fn me(&self) -> MemberId {
        self.me
    }

    fn peers(&self) -> BTreeSet<MemberId> {
        let state = self.lock();
        let kept = state
            .circles
            .values()
            .flat_map(|c| c.membership().devices().keys().copied());
        let pending = state
            .pending
            .iter()
            .filter(|(id, _)| !state.circles.contains_key(id))
            .flat_map(|(_, d)| d.keys().copied());
        kept.chain(pending).collect()
    }

    fn farewells(&self) -> BTreeSet<MemberId> {
        BTreeSet::new()
    }

    fn circles_with(&self, peer: &MemberId) -> Vec<CircleId> {
        let state = self.lock();
        let kept = state
            .circles
            .iter()
            .filter(|(_, c)| c.membership().owner(peer).is_some())
            .map(|(id, _)| *id);
        let pending = state
            .pending
            .iter()
            .filter(|(id, d)| d.contains_key(peer) && !state.circles.contains_key(id))
            .map(|(id, _)| *id);
        // Disjoint: a circle kept here has no pending devices left.
        kept.chain(pending).collect()
    }

    fn is_member(&self, circle: &CircleId, peer: &MemberId) -> bool {
        let kept = self
            .lock()
            .circles
            .get(circle)
            .map(|c| c.membership().devices().contains_key(peer));
        kept.unwrap_or_else(|| self.pending(circle, peer))
    }

    fn member_devices(&self, circle: &CircleId, member: &MemberId) -> Vec<MemberId> {
        self.lock()
            .circles
            .get(circle)
            .map(|c| c.membership().devices_of_member(member).copied().collect())
            .unwrap_or_default()
    }

    fn circles(&self) -> Vec<(CircleId, Vec<MemberId>)> {
        self.lock()
            .circles
            .iter()
            .map(|(id, c)| (*id, c.membership().members().iter().copied().collect()))
            .collect()
    }

    fn summary(&self, circle: &CircleId) -> Option<Summary> {
        let state = self.lock();
        match state.circles.get(circle) {
            Some(kept) => Some(kept.summary()),
            None => state.pending.contains_key(circle).then(Summary::default),
        }
    }

    fn records_since(&self, circle: &CircleId, known: &Summary, budget: usize) -> Records {
        let state = self.lock();
        let Some(kept) = state.circles.get(circle) else {
            return Records::default();
        };
        kept.records_since(&self.store, known, budget)
            .unwrap_or_else(|e| {
                tracing::warn!(circle = %circle.short(), "cannot read kept records: {e}");
                Records::default()
            })
    }

    fn ingest(
        &self,
        circle: &CircleId,
        from: &MemberId,
        ops: Vec<Vec<u8>>,
        entries: Vec<Vec<u8>>,
    ) -> Ingested {
        self.take(circle, from, &ops, &entries)
    }

    fn changes(&self) -> tokio::sync::broadcast::Receiver<CircleId> {
        self.changes.subscribe()
    }

    fn redeem_invite(
        &self,
        _circle: &CircleId,
        _secret: &[u8; 32],
        _card: &str,
        _peer: &MemberId,
    ) -> Result<CircleId, InviteRefusal> {
        Err(InviteRefusal::Unknown)
    }

    fn keep_circle(
        &self,
        circle: &CircleId,
        secret: &[u8; 32],
        peer: &MemberId,
    ) -> Result<bool, InviteRefusal> {
        if secret_hash(secret) != self.secret_hash {
            return Err(InviteRefusal::Unknown);
        }
        let kept = self
            .lock()
            .circles
            .get(circle)
            .map(|c| c.membership().devices().contains_key(peer));
        match kept {
            Some(current) => Ok(current),
            None => {
                self.admit_pending(*circle, *peer);
                Ok(true)
            }
        }
    }

    fn save_addresses(&self, bytes: &[u8]) {
        if let Err(e) = self
            .store
            .put_blob(BlobKind::Addresses, ADDRESS_BOOK, Some(bytes))
        {
            tracing::warn!("cannot keep the address book: {e}");
        }
    }

    fn load_addresses(&self) -> Option<Vec<u8>> {
        self.store.blob(BlobKind::Addresses, ADDRESS_BOOK).ok()?
    }
}
