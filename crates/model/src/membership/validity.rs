//! What each action asks of its causal past (the rules at the top of
//! `membership.rs`): who may be added, removed, linked or retired, who sets
//! the history policy, which epochs a grant may name.

use super::{Action, Membership, OpBody, OpRejection};
use crate::ids::{MemberId, OpHash};
use fixedbitset::FixedBitSet;
use std::collections::{BTreeMap, BTreeSet};

impl Membership {
    /// The rules of each action, for an operation by a device of member
    /// `author`, given the members and devices of its causal past.
    pub(super) fn check_action(
        &self,
        body: &OpBody,
        author: MemberId,
        before: &BTreeSet<MemberId>,
        devices: &BTreeMap<MemberId, MemberId>,
        past: &FixedBitSet,
    ) -> Result<(), OpRejection> {
        match &body.action {
            Action::Create { .. } | Action::Leave | Action::Rekey { .. } => {}
            Action::Add { member, .. } => {
                if before.contains(member) {
                    return Err(OpRejection::AlreadyMember);
                }
            }
            Action::Found { attestation, .. } => {
                let linked = !attestation.vouchers.is_empty();
                if !linked || attestation.device() != body.author || !attestation.well_formed() {
                    return Err(OpRejection::BadAttestation);
                }
            }
            Action::Admit { attestation, .. } => {
                if !attestation.well_formed() {
                    return Err(OpRejection::BadAttestation);
                }
                if before.contains(&attestation.member) {
                    return Err(OpRejection::AlreadyMember);
                }
            }
            Action::Remove { member, .. } => {
                if *member == author {
                    return Err(OpRejection::SelfRemoval);
                }
                if !before.contains(member) {
                    return Err(OpRejection::TargetNotMember);
                }
            }
            Action::Policy { .. } => {
                let founder = self.ops.first().map(|genesis| genesis.body.author);
                let at_founding = body.deps == [OpHash(self.circle.0)];
                if founder != Some(body.author) || !at_founding {
                    return Err(OpRejection::PolicyNotAtFounding);
                }
            }
            Action::Device { member, .. } => {
                if *member != author {
                    return Err(OpRejection::NotOwnDevice);
                }
            }
            Action::RetireDevice { device, .. } => {
                if *device == body.author || devices.get(device) != Some(&author) {
                    return Err(OpRejection::NotOwnDevice);
                }
            }
            Action::Cut { removal, held } => self.check_cut(body, author, past, removal, held)?,
            Action::ShareKeys { to, grants, .. } => {
                if !devices.contains_key(to) {
                    return Err(OpRejection::TargetNotMember);
                }
                for grant in grants {
                    let known = self.index.get(&grant.epoch).is_some_and(|&e| {
                        past.contains(e) && self.ops[e].body.action.epoch_key().is_some()
                    });
                    if !known {
                        return Err(OpRejection::UnknownEpoch);
                    }
                }
            }
        }
        Ok(())
    }
}
