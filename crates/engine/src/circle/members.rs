//! Membership on this device: signing our operations, adding and removing
//! members (removal starts an epoch sealed to the others), the write epoch,
//! and handing current members the keys they lack.

use super::{now, CircleRuntime, Ctx};
use crate::error::EngineError;
use circlekeep_model::docs;
use circlekeep_model::membership::{Action, KeyClass, KeyGrant, Membership, OpBody, OP_VERSION};
use circlekeep_model::{DocId, MemberId, OpHash};
use circlekeep_seal::epoch::seal_grants;
use circlekeep_seal::signed::sign_op;
use circlekeep_seal::{EpochSecret, MemberCard};
use circlekeep_store::Store;

impl CircleRuntime {
    pub(super) fn require_member(&self, me: &MemberId) -> Result<(), EngineError> {
        if !self.membership.is_member(me) {
            Err(EngineError::NotAMember)
        } else if self.invitation {
            Err(EngineError::NotAccepted)
        } else {
            Ok(())
        }
    }

    pub(super) fn recipients<'a>(
        &'a self,
        members: impl IntoIterator<Item = &'a MemberId>,
    ) -> Result<Vec<&'a str>, EngineError> {
        members
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
            author: ctx.me_id(),
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
        self.set_membership(membership);
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
        self.require_member(&ctx.me_id())?;
        if self.membership.is_member(&card.member) {
            return Err(EngineError::AlreadyMember(card.name.clone()));
        }
        let secret = EpochSecret::generate();
        let mut recipients = self.recipients(self.membership.members())?;
        recipients.push(&card.recipient);
        let key = secret.seal_for(recipients)?;
        self.append_op(
            ctx,
            Action::Add {
                member: card.member,
                recipient: card.recipient.clone(),
                key,
            },
            Some(secret),
        )?;
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
        let me = ctx.me_id();
        self.require_member(&me)?;
        if member == me {
            return Err(EngineError::CannotRemoveSelf);
        }
        if !self.membership.is_member(&member) {
            return Err(EngineError::UnknownMember(member.short()));
        }
        let secret = EpochSecret::generate();
        let key = secret.seal_for(
            self.recipients(self.membership.members().iter().filter(|m| **m != member))?,
        )?;
        self.append_op(ctx, Action::Remove { member, key }, Some(secret))?;
        Ok(())
    }

    /// Leaves the circle (the next writer re-keys without this device).
    pub fn leave<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<(), EngineError> {
        self.require_member(&ctx.me_id())?;
        self.append_op(ctx, Action::Leave, None)?;
        Ok(())
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
        let key = secret.seal_for(self.recipients(self.membership.members())?)?;
        self.append_op(ctx, Action::Rekey { key }, Some(secret))
    }

    /// Writes this member's name again where the circle document no longer
    /// shows one of theirs (another member overwrote it; see
    /// `CircleRuntime::bind_names`): a name is the member's to keep.
    /// Returns whether it wrote.
    pub fn reclaim_name<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<bool, EngineError> {
        let me = ctx.me_id();
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

    /// Hands current members the keys they lack and this device holds (the
    /// circle document's subkey of every epoch; every full secret where
    /// newcomers see history). Returns how many grants were made.
    pub fn repair_keys<S: Store>(&mut self, ctx: &Ctx<'_, S>) -> Result<usize, EngineError> {
        let me = ctx.me_id();
        if !self.membership.is_member(&me) || self.invitation {
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
