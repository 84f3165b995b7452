//! Invites this device issues: a one-time secret per newcomer, recorded by
//! its hash with the circle and an expiry, redeemed at most once.

use crate::{CircleId, Engine, EngineError, MemberCard, MemberId, Store};
use circlekeep_store::BlobKind;
use circlekeep_sync::InviteRefusal;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Serialize, Deserialize)]
struct InviteRecord {
    circle: CircleId,
    expires_at: u64,
    used_by: Option<MemberId>,
}

fn record_key(secret: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key("circlekeep v1 invite record", secret)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl<S: Store> Engine<S> {
    /// Records a new one-time invite to `circle`, valid for `ttl`. Returns
    /// the secret (to put in a ticket) and its expiry (Unix seconds).
    pub fn create_invite(
        &self,
        circle: CircleId,
        ttl: Duration,
    ) -> Result<([u8; 32], u64), EngineError> {
        let me = self.me.member_id();
        self.with_circle(circle, |c, _| {
            if c.membership.is_member(&me) {
                Ok(())
            } else {
                Err(EngineError::NotAMember)
            }
        })?;
        let secret: [u8; 32] = circlekeep_seal::random_bytes();
        let expires_at = unix_now().saturating_add(ttl.as_secs());
        let record = InviteRecord {
            circle,
            expires_at,
            used_by: None,
        };
        self.put_invite(&secret, &record)?;
        Ok((secret, expires_at))
    }

    fn put_invite(&self, secret: &[u8; 32], record: &InviteRecord) -> Result<(), EngineError> {
        self.put_ticket_record(&record_key(secret), record)
    }

    /// The record of a ticket this device issued, kept under `key`
    /// (unknown if absent or unreadable).
    pub(crate) fn ticket_record<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8; 32],
    ) -> Result<T, InviteRefusal> {
        let stored = self
            .store
            .blob(BlobKind::Invite, key)
            .map_err(|e| InviteRefusal::Failed(e.to_string()))?
            .ok_or(InviteRefusal::Unknown)?;
        postcard::from_bytes(&stored).map_err(|_| InviteRefusal::Unknown)
    }

    /// Stores the record of a ticket this device issued (an invite or a
    /// device ticket) under `key`, on disk before this returns.
    pub(crate) fn put_ticket_record<T: Serialize>(
        &self,
        key: &[u8; 32],
        record: &T,
    ) -> Result<(), EngineError> {
        let value = postcard::to_stdvec(record).map_err(|e| EngineError::Corrupt(e.to_string()))?;
        self.store
            .put_blob(BlobKind::Invite, key, Some(&value))
            .map_err(EngineError::store)?;
        self.store.flush().map_err(EngineError::store)
    }

    /// Adds the device `peer` that presents the invite to `circle`: its
    /// `secret` and `peer`'s own member card.
    pub(crate) fn redeem_invite(
        &self,
        circle: &CircleId,
        secret: &[u8; 32],
        card: &str,
        peer: &MemberId,
    ) -> Result<CircleId, InviteRefusal> {
        let _one_at_a_time = self.invites.lock().unwrap_or_else(|p| p.into_inner());
        let failed = |e: EngineError| InviteRefusal::Failed(e.to_string());
        let mut record: InviteRecord = self.ticket_record(&record_key(secret))?;
        // A secret is only good for the circle it was issued for.
        if record.circle != *circle {
            return Err(InviteRefusal::Unknown);
        }
        match record.used_by {
            // A newcomer retrying after a lost answer gets the same answer.
            Some(user) if user == *peer => return Ok(record.circle),
            Some(_) => return Err(InviteRefusal::Used),
            None => {}
        }
        if unix_now() > record.expires_at {
            return Err(InviteRefusal::Expired);
        }
        let card: MemberCard = card
            .parse()
            .map_err(|e: circlekeep_seal::CardError| InviteRefusal::BadCard(e.to_string()))?;
        if card.device != *peer {
            return Err(InviteRefusal::NotYourCard);
        }
        self.refuse_retired(&card)
            .map_err(|e| InviteRefusal::BadCard(e.to_string()))?;
        match self.with_circle(record.circle, |c, ctx| c.add_member(ctx, &card)) {
            Ok(()) | Err(EngineError::AlreadyMember(_)) => {}
            Err(EngineError::NotAMember) => return Err(InviteRefusal::InviterNotMember),
            Err(e) => return Err(failed(e)),
        }
        record.used_by = Some(*peer);
        self.put_invite(secret, &record).map_err(failed)?;
        Ok(record.circle)
    }
}
