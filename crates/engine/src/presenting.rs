//! Presenting a link: a device linked while no other device of the circle
//! was there to see it (a backup restored on a new computer, linked by the
//! backed-up key in memory) is still a stranger to every member, who
//! refuse it at the handshake. It hands a member the operations that link
//! it (on the invite protocol, which strangers may use); the member checks
//! and stores them as it would a bundle's, and answers whether the device
//! now counts. Until one has, the circle stays marked here.

use crate::{CircleId, Engine, EngineError, MemberId, Store};
use circlekeep_model::membership::Action;
use circlekeep_store::BlobKind;
use circlekeep_sync::{InviteRefusal, LinkToPresent};

const PREFIX: &[u8] = b"present link ";
/// Most bytes of operations presented at once (they travel in one frame of
/// the invite protocol; a membership log is far smaller).
pub const PRESENT_BUDGET: usize = 48 << 10;

fn key(id: CircleId) -> Vec<u8> {
    [PREFIX, id.as_bytes().as_slice()].concat()
}

impl<S: Store> Engine<S> {
    /// Marks (or clears) `id` as a circle whose members have not yet seen
    /// this device's link.
    pub(crate) fn to_present(&self, id: CircleId, pending: bool) -> Result<(), EngineError> {
        let value = pending.then_some(&[1u8][..]);
        self.store
            .put_blob(BlobKind::Setting, &key(id), value)
            .map_err(EngineError::store)?;
        self.store.flush().map_err(EngineError::store)
    }

    /// The circles whose members have not seen this device's link yet,
    /// each with the operations to present: those that link this device
    /// and hand it keys, with what they rest on, in the log's order (the
    /// newest that fit in [`PRESENT_BUDGET`]: a member holds the rest).
    pub fn links_to_present(&self) -> Result<Vec<LinkToPresent>, EngineError> {
        let me = self.me.device_id();
        let mut out = Vec::new();
        for (k, _) in self
            .store
            .blobs(BlobKind::Setting, PREFIX)
            .map_err(EngineError::store)?
        {
            let Ok(bytes) = <[u8; 32]>::try_from(&k[PREFIX.len()..]) else {
                continue;
            };
            let id = CircleId(bytes);
            let ops = self.with_circle(id, |c, _| {
                let m = &c.membership;
                let mine: Vec<_> = m
                    .ops()
                    .iter()
                    .filter(|op| match &op.body.action {
                        Action::Device { device, .. } => *device == me,
                        Action::ShareKeys { to, .. } => *to == me,
                        _ => false,
                    })
                    .map(|op| op.hash)
                    .collect();
                let Ok(past) = m.closure(&mine) else {
                    return Ok(Vec::new());
                };
                let (mut ops, mut budget) = (Vec::new(), PRESENT_BUDGET);
                for op in m.ops().iter().rev() {
                    if !m.closure_contains(&past, &op.hash) {
                        continue;
                    }
                    let Some(left) = budget.checked_sub(op.signed.len()) else {
                        break;
                    };
                    budget = left;
                    ops.push(op.signed.clone());
                }
                ops.reverse();
                Ok(ops)
            })?;
            if !ops.is_empty() {
                out.push((id, ops));
            }
        }
        Ok(out)
    }

    /// A member has seen this device's link in `id`.
    pub fn presented(&self, id: CircleId) -> Result<(), EngineError> {
        self.to_present(id, false)
    }

    /// `peer`, not (yet) a device of `id` here, presents the operations
    /// that link it: they are checked and stored as a bundle's would be
    /// (only for a circle this device takes part in). Answers whether
    /// `peer` now counts as a current device.
    pub(crate) fn present_link(
        &self,
        id: CircleId,
        ops: &[Vec<u8>],
        peer: &MemberId,
    ) -> Result<bool, InviteRefusal> {
        let me = self.me.device_id();
        let held = self
            .store
            .circles()
            .map_err(|e| InviteRefusal::Failed(e.to_string()))?
            .contains(&id);
        let here = held
            && self
                .with_circle(id, |c, _| {
                    Ok(!c.invitation && c.membership.devices().contains_key(&me))
                })
                .unwrap_or(false);
        if !here {
            return Err(InviteRefusal::Unknown);
        }
        self.receive(id, ops, &[])
            .map_err(|e| InviteRefusal::Failed(e.to_string()))?;
        self.with_circle(id, |c, _| Ok(c.membership.devices().contains_key(peer)))
            .map_err(|e| InviteRefusal::Failed(e.to_string()))
    }
}
