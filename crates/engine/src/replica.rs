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
        self.me.member_id()
    }

    fn peers(&self) -> BTreeSet<MemberId> {
        let me = self.me.member_id();
        self.each_circle(|_, c| {
            c.membership
                .is_member(&me)
                .then(|| c.membership.members().clone())
        })
        .into_iter()
        .flatten()
        .filter(|m| *m != me)
        .collect()
    }

    fn circles_with(&self, peer: &MemberId) -> Vec<CircleId> {
        self.each_circle(|id, c| c.membership.ever_members().contains(peer).then_some(id))
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
        match self.receive(*circle, &ops, &entries) {
            Ok((report, held)) => Ingested {
                held_entries: held.entries,
                held_ops: held.ops,
                accepted: report.ops_accepted + report.entries_accepted,
                rejected: report.rejected.len(),
            },
            Err(EngineError::NotInvited) => {
                tracing::info!(peer = %from.short(), "ignoring records of a circle this device is not in");
                Ingested::default()
            }
            Err(e) => {
                tracing::warn!(peer = %from.short(), circle = %circle.short(), "cannot take records in: {e}");
                Ingested::default()
            }
        }
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
