//! Membership on this device: signing our operations, adding and removing
//! members (removal starts an epoch sealed to the others), the write epoch,
//! and handing current members the keys they lack.

use super::{now, CircleRuntime, Ctx};
use crate::error::EngineError;
use circlekeep_model::docs;
use circlekeep_model::membership::{
    Action, KeyClass, KeyGrant, Membership, OpBody, MAX_CUT_DEVICES, OP_VERSION,
};
use circlekeep_model::{DocId, MemberId, OpHash};
use circlekeep_seal::epoch::seal_grants;
use circlekeep_seal::signed::sign_op;
use circlekeep_seal::{EpochSecret, MemberCard};
use circlekeep_store::Store;

impl CircleRuntime {
    /// Checks that `device` (this one) is a current device of a member and
    /// the circle was accepted.
    pub(super) fn require_member(&self, device: &MemberId) -> Result<(), EngineError> {
        if !self.membership.devices().contains_key(device) {
            Err(EngineError::NotAMember)
        } else if self.invitation {
            Err(EngineError::NotAccepted)
        } else {
            Ok(())
        }
    }

    /// The age recipients of `devices`.
    pub(super) fn recipients<'a>(
        &'a self,
        devices: impl IntoIterator<Item = &'a MemberId>,
    ) -> Result<Vec<&'a str>, EngineError> {
        devices
            .into_iter()
            .map(|m| {
                self.membership
                    .recipient(m)
                    .ok_or_else(|| EngineError::Corrupt(format!("no recipient for {}", m.short())))
            })
            .collect()
    }

    /// Signs, checks, stores and flushes a membership operation of ours.
    pub(super) fn append_op<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        action: Action,
        secret: Option<EpochSecret>,
    ) -> Result<OpHash, EngineError> {
        let body = OpBody {
            version: OP_VERSION,
            circle: Some(self.id),
            author: ctx.device_id(),
            deps: self.membership.heads().to_vec(),
            action,
        };
        let op = sign_op(ctx.me, body);
        let hash = op.hash;
        let ops = self.membership.ops().iter().cloned().chain([op.clone()]);
        let (membership, rejected) = Membership::build(self.id, ops);
        if !membership.contains(&hash) {
            return Err(EngineError::Corrupt(format!(
                "own membership operation refused: {rejected:?}"
            )));
        }
        ctx.store
            .put_ops(&self.id, &[(hash, &op.signed)])
            .map_err(EngineError::store)?;
        ctx.store.flush().map_err(EngineError::store)?;
        let cuts = self.membership.cuts_digest();
        self.set_membership(membership);
        // A cut this device adds to others' (of a leave, say) can raise
        // how far a removed device's entries count: judge them again.
        if self.membership.cuts_digest() != cuts {
            self.enforce_cuts(ctx)?;
        }
        if let Some(secret) = secret {
            self.keyring.insert_full(hash, secret);
        }
        self.dirty = true;
        ctx.changed(self.id);
        Ok(hash)
    }

    /// Adds the card's owner, writes their profile and hands them the keys
    /// of the circle document's past epochs.
    pub fn add_member<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        card: &MemberCard,
    ) -> Result<(), EngineError> {
        self.require_member(&ctx.device_id())?;
        if self.membership.is_member(&card.member) {
            return Err(EngineError::AlreadyMember(card.name.clone()));
        }
        let taken = |key: &MemberId| {
            self.membership
                .owner(key)
                .is_some_and(|owner| owner != card.member)
        };
        if taken(&card.member) || taken(&card.device) {
            return Err(EngineError::NotAllowed(
                "that card's key is another member's device: ask them for their own card",
            ));
        }
        let secret = EpochSecret::generate();
        let mut recipients = self.recipients(self.membership.devices().keys())?;
        recipients.push(&card.recipient);
        let key = secret.seal_for(recipients)?;
        // A linked device's card adds its member by that device.
        let action = match &card.attestation {
            None => Action::Add {
                member: card.member,
                recipient: card.recipient.clone(),
                key,
            },
            Some(attestation) => Action::Admit {
                attestation: attestation.clone(),
                key,
            },
        };
        self.append_op(ctx, action, Some(secret))?;
        let profile = docs::Profile {
            name: card.name.clone(),
            joined: now(),
        };
        self.write(ctx, DocId::CIRCLE, |doc| {
            Ok(docs::put_record(
                doc,
                docs::CircleMap::Members,
                &card.member.to_hex(),
                &profile,
            )?)
        })?;
        self.repair_keys(ctx)?;
        Ok(())
    }

    /// Removes a member and starts an epoch sealed to the others.
    pub fn remove_member<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        member: MemberId,
    ) -> Result<(), EngineError> {
        self.require_member(&ctx.device_id())?;
        if member == ctx.member_id() {
            return Err(EngineError::CannotRemoveSelf);
        }
        if !self.membership.is_member(&member) {
            return Err(EngineError::UnknownMember(member.short()));
        }
        let secret = EpochSecret::generate();
        let staying = self
            .membership
            .devices()
            .iter()
            .filter(|(_, m)| **m != member);
        let key = secret.seal_for(self.recipients(staying.map(|(d, _)| d))?)?;
        let going: Vec<MemberId> = self
            .membership
            .devices_of_member(&member)
            .copied()
            .collect();
        let removal = self.append_op(ctx, Action::Remove { member, key }, Some(secret))?;
        self.append_cut(ctx, removal, going)
    }

    /// Completes `removal` with its cut: how far this device holds the
    /// logs of the devices it took out (their entries past it, written by
    /// a removed member who has not heard or pretends so, are void).
    fn append_cut<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        removal: OpHash,
        devices: Vec<MemberId>,
    ) -> Result<(), EngineError> {
        let mut held: Vec<(MemberId, u64)> = devices
            .into_iter()
            .map(|d| (d, self.tips.get(&d).map_or(0, |t| t.seq)))
            .collect();
        held.sort();
        held.dedup_by_key(|(d, _)| *d);
        held.truncate(MAX_CUT_DEVICES);
        self.append_op(ctx, Action::Cut { removal, held }, None)?;
        Ok(())
    }

    /// Cuts the leaves of others this member's devices have not cut yet:
    /// how far this device holds the leaver's logs on hearing of each (what
    /// the leaver's devices write past it, not having heard or pretending
    /// so, is void). Returns how many it cut.
    pub fn cut_leaves<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<usize, EngineError> {
        if !self.membership.devices().contains_key(&ctx.device_id()) || self.invitation {
            return Ok(0);
        }
        let leaves = self.membership.uncut_leaves(&ctx.member_id());
        for (leave, devices) in &leaves {
            self.append_cut(ctx, *leave, devices.clone())?;
        }
        Ok(leaves.len())
    }

    /// Leaves the circle (the next writer re-keys without this device; the
    /// others cut what this member's devices wrote, on hearing of it).
    pub fn leave<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<(), EngineError> {
        self.require_member(&ctx.device_id())?;
        let leave = self.append_op(ctx, Action::Leave, None)?;
        // How far this device wrote: its last notes count wherever they
        // arrive after the leave.
        self.append_cut(ctx, leave, vec![ctx.device_id()])
    }

    /// Links `device` to this device's member, with the device's own proof,
    /// in a new epoch sealed to every device, the new one included.
    pub fn link_device<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        device: MemberId,
        recipient: &str,
        proof: Vec<u8>,
    ) -> Result<(), EngineError> {
        self.require_member(&ctx.device_id())?;
        if self.membership.devices().contains_key(&device) {
            return Ok(());
        }
        let secret = EpochSecret::generate();
        let mut recipients = self.recipients(self.membership.devices().keys())?;
        recipients.push(recipient);
        let key = secret.seal_for(recipients)?;
        let action = Action::Device {
            member: ctx.member_id(),
            device,
            recipient: recipient.to_owned(),
            proof,
            key,
        };
        self.append_op(ctx, action, Some(secret))?;
        self.repair_keys(ctx)?;
        Ok(())
    }

    /// Retires another device of this device's member: a new epoch sealed
    /// to the devices that stay.
    pub fn retire_device<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
        device: MemberId,
    ) -> Result<(), EngineError> {
        self.require_member(&ctx.device_id())?;
        if device == ctx.device_id() {
            return Err(EngineError::NotAllowed(
                "a device cannot retire itself: retire it from another of your devices",
            ));
        }
        if self.membership.devices().get(&device) != Some(&ctx.member_id()) {
            return Ok(());
        }
        let secret = EpochSecret::generate();
        let staying = self.membership.devices().keys().filter(|d| **d != device);
        let key = secret.seal_for(self.recipients(staying)?)?;
        let retirement = self.append_op(ctx, Action::RetireDevice { device, key }, Some(secret))?;
        self.append_cut(ctx, retirement, vec![device])
    }

    /// The epoch to write under, re-keying first if none fits the members.
    pub(super) fn ensure_write_epoch<S: Store>(
        &mut self,
        ctx: &Ctx<'_, S>,
    ) -> Result<OpHash, EngineError> {
        if let Some(epoch) = self.membership.write_epoch() {
            if self.keyring.full(&epoch).is_some() {
                return Ok(epoch);
            }
        }
        let secret = EpochSecret::generate();
        let key = secret.seal_for(self.recipients(self.membership.devices().keys())?)?;
        self.append_op(ctx, Action::Rekey { key }, Some(secret))
    }

    /// Writes this member's name again where the circle document no longer
    /// shows one of theirs (another member overwrote it; see
    /// `CircleRuntime::bind_names`): a name is the member's to keep.
    /// Returns whether it wrote.
    pub fn reclaim_name<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<bool, EngineError> {
        let me = ctx.member_id();
        if !self.membership.is_member(&me) || self.invitation {
            return Ok(false);
        }
        let Some(doc) = self.circle_doc() else {
            return Ok(false);
        };
        let held = doc.members.get(&me.to_hex());
        if held.is_some_and(|p| !p.name.is_empty()) {
            return Ok(false);
        }
        let profile = docs::Profile {
            name: ctx.me.name().to_owned(),
            joined: held.map(|p| p.joined.clone()).unwrap_or_else(now),
        };
        self.write(ctx, DocId::CIRCLE, |doc| {
            Ok(docs::put_record(
                doc,
                docs::CircleMap::Members,
                &me.to_hex(),
                &profile,
            )?)
        })?;
        Ok(true)
    }

    /// Hands current devices the keys they lack and this device holds (the
    /// circle document's subkey of every epoch; every full secret where
    /// newcomers see history or the device's member read it). Returns how
    /// many grants were made.
    pub fn repair_keys<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<usize, EngineError> {
        let me = ctx.device_id();
        if !self.membership.devices().contains_key(&me) || self.invitation {
            return Ok(0);
        }
        let mut made = 0;
        for (member, wanted) in self.membership.missing_grants() {
            if member == me {
                continue;
            }
            // Where the full secret is owed but only the subkey is held,
            // hand over at least the subkey.
            let wanted: Vec<KeyGrant> = wanted
                .into_iter()
                .filter_map(|g| {
                    if g.class == KeyClass::Full && self.keyring.full(&g.epoch).is_none() {
                        let lacks = !self.membership.holds(&member, &g.epoch, KeyClass::Shared);
                        lacks.then_some(KeyGrant {
                            epoch: g.epoch,
                            class: KeyClass::Shared,
                        })
                    } else {
                        Some(g)
                    }
                })
                .collect();
            let keys = self.keyring.grantable(&wanted);
            let Some(recipient) = self.membership.recipient(&member) else {
                continue;
            };
            if keys.is_empty() {
                continue;
            }
            let (grants, sealed) = seal_grants(&keys, recipient)?;
            self.append_op(
                ctx,
                Action::ShareKeys {
                    to: member,
                    grants,
                    sealed,
                },
                None,
            )?;
            made += 1;
        }
        Ok(made)
    }
}
