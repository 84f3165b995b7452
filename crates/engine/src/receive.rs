//! Taking records in, from a bundle or a peer: checked, stored and applied,
//! a circle this device was added to adopted, refusals kept for the user
//! (`rejections.rs`).

use crate::circle;
use crate::views::ImportReport;
use crate::{CircleId, Engine, EngineError, Store};
use circlekeep_model::membership::{Action, Membership};
use circlekeep_seal::signed::verify_op;
use std::collections::BTreeMap;

impl<S: Store> Engine<S> {
    /// Checks, stores and applies records of one circle from a bundle or a
    /// peer, taking the circle in if this device was added to it.
    pub(crate) fn receive(
        &self,
        id: CircleId,
        ops: &[Vec<u8>],
        entries: &[Vec<u8>],
    ) -> Result<(ImportReport, circle::Held), EngineError> {
        let mut report = ImportReport {
            circle: id.to_hex(),
            ..Default::default()
        };
        let known = self
            .store
            .circles()
            .map_err(EngineError::store)?
            .contains(&id);
        let mut adopted = Vec::new();
        let ops: &[Vec<u8>] = if known {
            ops
        } else {
            let linked;
            (adopted, linked) = self.adopt_circle(id, ops, &mut report)?;
            self.taken_in(id, linked)?;
            report.joined = true;
            &[]
        };
        let mut held = self.with_circle(id, |c, ctx| {
            if !known {
                ctx.changed(id);
            }
            let held = c.ingest(ctx, ops, entries, &mut report)?;
            c.repair_keys(ctx)?;
            c.cut_leaves(ctx)?;
            c.reclaim_name(ctx)?;
            Ok(held)
        })?;
        held.ops.extend(adopted);
        if !known {
            // A circle joined by ticket (or linked into) reaches every
            // device of this member; an invitation does once accepted.
            self.link_siblings(id)?;
        }
        self.record_rejections(id, &report)?;
        Ok((report, held))
    }

    /// Stores the operations of a circle this device was invited to (or
    /// linked into by its member: the `bool`).
    fn adopt_circle(
        &self,
        id: CircleId,
        ops: &[Vec<u8>],
        report: &mut ImportReport,
    ) -> Result<(Vec<circlekeep_model::OpHash>, bool), EngineError> {
        let mut verified = Vec::with_capacity(ops.len());
        for bytes in ops {
            match verify_op(bytes) {
                Ok(op) => verified.push(op),
                Err(e) => report.refuse(circle::rejection_view("operation", None, None, &e.into())),
            }
        }
        let authors: BTreeMap<_, _> = verified
            .iter()
            .map(|op| (op.hash, op.body.author))
            .collect();
        let (membership, rejected) = Membership::build(id, verified);
        let me = self.me.device_id();
        if !membership.devices().contains_key(&me) {
            return Err(EngineError::NotInvited);
        }
        // A circle of this device's member, which the member linked it into
        // from a device this one trusts, needs no second consent; one where
        // another member added it (its card, `Admit`), or a device retired
        // elsewhere linked it, waits like any.
        let linkers = self.trusted_linkers()?;
        let linked = membership.devices().get(&me) == Some(&self.me.member_id())
            && membership.ops().iter().any(|op| {
                matches!(&op.body.action, Action::Device { device, .. } if *device == me)
                    && membership.takes_effect(&op.hash)
                    && linkers.contains(&op.body.author)
            });
        for (hash, why) in rejected {
            let author = authors.get(&hash).copied();
            report.refuse(circle::rejection_view(
                "operation",
                author,
                None,
                &why.into(),
            ));
        }
        let accepted: Vec<_> = membership
            .ops()
            .iter()
            .map(|op| (op.hash, op.signed.as_slice()))
            .collect();
        self.store
            .put_ops(&id, &accepted)
            .map_err(EngineError::store)?;
        self.store.flush().map_err(EngineError::store)?;
        report.ops_accepted = accepted.len();
        Ok((accepted.iter().map(|(h, _)| *h).collect(), linked))
    }
}
