//! The engine as seen by the sync node: what it holds, what a peer lacks,
//! taking records in, invites and the sealed address book.

use crate::{CircleId, Engine, EngineError, MemberId, Store};
use circlekeep_seal::content;
use circlekeep_store::BlobKind;
use circlekeep_sync::{Ingested, InviteRefusal, Records, Replica, Summary};
use std::collections::BTreeSet;

const ADDRESS_BOOK: &[u8] = b"book";

impl<S: Store> Engine<S> {
    /// Runs `f` on every circle held, skipping (and logging) unreadable ones.
    fn each_circle<T>(
        &self,
        mut f: impl FnMut(CircleId, &crate::circle::CircleRuntime) -> Option<T>,
    ) -> Vec<T> {
        let ids = match self.store.circles() {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!("cannot list circles: {e}");
                return Vec::new();
            }
        };
        ids.into_iter()
            .filter_map(|id| match self.with_circle(id, |c, _| Ok(f(id, c))) {
                Ok(value) => value,
                Err(e) => {
                    tracing::warn!(circle = %id.short(), "skipping a circle: {e}");
                    None
                }
            })
            .collect()
    }
}

impl<S: Store> Replica for Engine<S> {
    fn me(&self) -> MemberId {
        self.me.device_id()
    }

    fn peers(&self) -> BTreeSet<MemberId> {
        let me = self.me.device_id();
        // An invitation not accepted yet makes nobody a peer. The member's
        // own other devices are peers like any other.
        // Keepers the circle enrolled are dialed and let in like members.
        self.each_circle(|_, c| {
            let devices = c.membership.devices();
            (devices.contains_key(&me) && !c.invitation).then(|| {
                let keepers = c.keepers().into_iter().map(|k| k.keeper);
                devices.keys().copied().chain(keepers).collect::<Vec<_>>()
            })
        })
        .into_iter()
        .flatten()
        .filter(|d| *d != me)
        .collect()
    }

    fn farewells(&self) -> BTreeSet<MemberId> {
        let (me, member) = (self.me.device_id(), self.me.member_id());
        self.each_circle(|_, c| {
            let m = &c.membership;
            let left = !m.devices().contains_key(&me)
                && m.ops().iter().any(|op| {
                    m.owner(&op.body.author) == Some(member)
                        && matches!(op.body.action, circlekeep_model::membership::Action::Leave)
                });
            left.then(|| m.devices().keys().copied().collect::<Vec<_>>())
        })
        .into_iter()
        .flatten()
        .filter(|d| *d != me)
        .collect()
    }

    fn circles_with(&self, peer: &MemberId) -> Vec<CircleId> {
        self.each_circle(|id, c| {
            let shared = c.membership.owner(peer).is_some() || c.kept_by(peer);
            (!c.invitation && shared).then_some(id)
        })
    }

    fn is_member(&self, circle: &CircleId, peer: &MemberId) -> bool {
        self.with_circle(*circle, |c, _| {
            Ok(!c.invitation && c.membership.devices().contains_key(peer) || c.kept_by(peer))
        })
        .unwrap_or(false)
    }

    fn keepers(&self) -> Vec<(CircleId, circlekeep_sync::KeeperTicket)> {
        let me = self.me.device_id();
        self.each_circle(|id, c| {
            let here = !c.invitation && c.membership.devices().contains_key(&me);
            here.then(|| c.keepers().into_iter().map(move |k| (id, k)))
        })
        .into_iter()
        .flatten()
        .collect()
    }

    fn joining(&self, circle: &CircleId) {
        if let Err(e) = self.asked_to_join(*circle) {
            tracing::warn!(circle = %circle.short(), "cannot note the circle being joined: {e}");
        }
    }

    fn my_member(&self) -> MemberId {
        self.me.member_id()
    }

    fn member_devices(&self, circle: &CircleId, member: &MemberId) -> Vec<MemberId> {
        self.with_circle(*circle, |c, _| {
            Ok(c.membership.devices_of_member(member).copied().collect())
        })
        .unwrap_or_default()
    }

    fn circles(&self) -> Vec<(CircleId, Vec<MemberId>)> {
        self.each_circle(|id, c| Some((id, c.membership.members().iter().copied().collect())))
    }

    fn summary(&self, circle: &CircleId) -> Option<Summary> {
        let known = self.store.circles().ok()?.contains(circle);
        known
            .then(|| self.with_circle(*circle, |c, _| Ok(c.summary())).ok())
            .flatten()
    }

    fn records_since(&self, circle: &CircleId, known: &Summary, budget: usize) -> Records {
        self.with_circle(*circle, |c, ctx| c.records_since(ctx, known, budget))
            .unwrap_or_else(|e| {
                tracing::warn!(circle = %circle.short(), "cannot read records to send: {e}");
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
        let mut out = Ingested::default();
        // A peer's records are taken only for circles it is a current device
        // of a member in here:
        // sharing one circle does not open the others (a member removed from
        // this one, say, pushing what it wrote after).
        // A keeper the circle enrolled passes on its members' records (each
        // is checked here as if its author had sent it).
        let sender_is_member = self.with_circle(*circle, |c, _| {
            Ok(c.membership.devices().contains_key(from) || c.kept_by(from))
        });
        if let Ok(false) = sender_is_member {
            tracing::info!(peer = %from.short(), circle = %circle.short(), "ignoring records from a peer who is not a member of this circle");
            out.rejected = ops.len() + entries.len();
            return out;
        }
        // Operations go with the first slice; each slice holds the engine
        // lock once, so the app waits at most about one slice's work.
        let mut ops = Some(ops);
        for (n, slice) in slices(&entries, INGEST_SLICE_BYTES).into_iter().enumerate() {
            if n > 0 {
                self.let_waiting_callers_in();
            }
            let ops = ops.take().unwrap_or_default();
            match self.receive(*circle, &ops, slice) {
                Ok((report, held)) => {
                    out.held_entries.extend(held.entries);
                    out.held_ops.extend(held.ops);
                    out.accepted += report.ops_accepted + report.entries_accepted;
                    out.rejected += report.refused;
                }
                Err(EngineError::NotInvited) => {
                    tracing::info!(peer = %from.short(), "ignoring records of a circle this device is not in");
                    break;
                }
                Err(e) => {
                    tracing::warn!(peer = %from.short(), circle = %circle.short(), "cannot take records in: {e}");
                    break;
                }
            }
        }
        out
    }

    fn changes(&self) -> tokio::sync::broadcast::Receiver<CircleId> {
        self.subscribe()
    }

    fn redeem_invite(
        &self,
        circle: &CircleId,
        secret: &[u8; 32],
        card: &str,
        peer: &MemberId,
    ) -> Result<CircleId, InviteRefusal> {
        Engine::redeem_invite(self, circle, secret, card, peer)
    }

    fn redeem_device_ticket(
        &self,
        secret: &[u8; 32],
        request: &[u8],
        device: &MemberId,
    ) -> Result<circlekeep_sync::Linked, InviteRefusal> {
        Engine::redeem_device_ticket(self, secret, request, device)
    }

    fn own_device(&self, peer: &MemberId) -> bool {
        let (me, member) = (self.me.device_id(), self.me.member_id());
        // Only where this device takes part (not an invitation, which
        // anyone holding a lost laptop's card can send), and never a device
        // retired anywhere.
        let mine = *peer != me
            && !self
                .each_circle(|_, c| {
                    let devices = c.membership.devices();
                    let here = !c.invitation && devices.contains_key(&me);
                    (here && devices.get(peer) == Some(&member)).then_some(())
                })
                .is_empty();
        mine && self.retired_devices().is_ok_and(|r| !r.contains(peer))
    }

    fn links_to_present(&self) -> Vec<circlekeep_sync::LinkToPresent> {
        Engine::links_to_present(self).unwrap_or_else(|e| {
            tracing::warn!("cannot list the links to present: {e}");
            Vec::new()
        })
    }

    fn presented(&self, circle: &CircleId) {
        if let Err(e) = Engine::presented(self, *circle) {
            tracing::warn!(circle = %circle.short(), "cannot note the link presented: {e}");
        }
    }

    fn present_link(
        &self,
        circle: &CircleId,
        ops: &[Vec<u8>],
        peer: &MemberId,
    ) -> Result<bool, InviteRefusal> {
        Engine::present_link(self, *circle, ops, peer)
    }

    fn keep_link(&self, linked: &circlekeep_sync::Linked) -> Result<(), String> {
        Engine::keep_link(self, linked).map_err(|e| e.to_string())
    }

    fn journal_keys(&self) -> Vec<Vec<u8>> {
        Engine::journal_keys(self)
    }

    fn journal_for(
        &self,
        peer: &MemberId,
        keys: &[Vec<u8>],
        budget: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let member = self.me.member_id();
        let recipient = self
            .each_circle(|_, c| {
                let own = c.membership.devices().get(peer) == Some(&member);
                own.then(|| c.membership.recipient(peer).map(str::to_owned))
                    .flatten()
            })
            .into_iter()
            .next();
        match recipient {
            Some(recipient) => self.journal_sealed_for(&recipient, keys, budget),
            None => Vec::new(),
        }
    }

    fn ingest_journal(&self, peer: &MemberId, entries: Vec<(Vec<u8>, Vec<u8>)>) {
        if Replica::own_device(self, peer) {
            self.take_journal(entries);
        }
    }

    fn fork_evidence(&self, circle: &CircleId, announced: &Summary) -> Vec<Vec<u8>> {
        self.with_circle(*circle, |c, ctx| c.fork_evidence(ctx, announced))
            .unwrap_or_else(|e| {
                tracing::warn!(circle = %circle.short(), "cannot compare tips: {e}");
                Vec::new()
            })
    }

    fn forks(&self, circle: &CircleId) -> Vec<MemberId> {
        self.with_circle(*circle, |c, _| Ok(c.forks().keys().copied().collect()))
            .unwrap_or_default()
    }

    fn fork_proof(&self, circle: &CircleId, author: &MemberId) -> Option<Vec<Vec<u8>>> {
        self.with_circle(*circle, |c, ctx| c.fork_proof(ctx, author))
            .ok()
            .flatten()
    }

    fn ingest_fork(&self, circle: &CircleId, records: Vec<Vec<u8>>) -> Option<MemberId> {
        self.with_circle(*circle, |c, ctx| c.take_fork_proof(ctx, &records))
            .unwrap_or_else(|e| {
                tracing::warn!(circle = %circle.short(), "cannot check a fork proof: {e}");
                None
            })
    }

    fn save_addresses(&self, bytes: &[u8]) {
        let sealed = content::seal(&self.me.local_key(), bytes);
        if let Err(e) = self
            .store
            .put_blob(BlobKind::Addresses, ADDRESS_BOOK, Some(&sealed))
        {
            tracing::warn!("cannot keep the address book: {e}");
        }
    }

    fn load_addresses(&self) -> Option<Vec<u8>> {
        let sealed = self.store.blob(BlobKind::Addresses, ADDRESS_BOOK).ok()??;
        content::open(&[&self.me.local_key()], &sealed)
            .ok()
            .map(|(_, plain)| plain)
    }
}

/// Work ingested under one hold of the engine lock, in bytes of entries
/// plus `ENTRY_COST` for each.
const INGEST_SLICE_BYTES: usize = 64 * 1024;

/// What one entry costs beyond its bytes (verify, open, apply), in bytes of
/// the same work: keystroke entries are small but not free, and counting
/// bytes alone let a slice of them hold the lock for 120 ms. A fold costs
/// this for every entry it stands for (its deflated run is dense).
const ENTRY_COST: usize = 384;

/// `entries` cut into runs of about `budget` (bytes plus `ENTRY_COST` per
/// entry stood for; at least one record each; one empty run when there are
/// none, so operations still go in).
fn slices(entries: &[Vec<u8>], budget: usize) -> Vec<&[Vec<u8>]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut cost: usize = 0;
    for (i, entry) in entries.iter().enumerate() {
        let span =
            usize::try_from(circlekeep_seal::signed::claimed_span(entry)).unwrap_or(usize::MAX);
        let more = entry.len().saturating_add(ENTRY_COST.saturating_mul(span));
        if i > start && cost.saturating_add(more) > budget {
            out.push(&entries[start..i]);
            start = i;
            cost = 0;
        }
        cost = cost.saturating_add(more);
    }
    if start < entries.len() || out.is_empty() {
        out.push(&entries[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{slices, ENTRY_COST};

    #[test]
    fn slices_cover_every_entry_in_order_within_the_budget() {
        let entries: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 30]).collect();
        let cut = slices(&entries, 3 * (30 + ENTRY_COST) + 1);
        assert_eq!(
            cut.iter().map(|s| s.len()).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
        assert_eq!(cut.concat(), entries);
        assert_eq!(slices(&[], 100), vec![&[] as &[Vec<u8>]]);
        let big = vec![vec![0u8; 500], vec![1u8; 10]];
        assert_eq!(
            slices(&big, 600).len(),
            2,
            "an oversized entry is a slice alone"
        );
    }
}
