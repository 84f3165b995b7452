//! A member's devices: a new device's request to be linked (its keys and
//! its consent), linking it into every circle of the member, retiring a
//! lost one, and listing them. How the request travels (a ticket over iroh,
//! a bundle) is not this module's: it only checks and writes.

use crate::invites::unix_now;
use crate::views::DeviceView;
use crate::{CircleId, Engine, EngineError, MemberCard, Store};
use circlekeep_model::attestation::Attestation;
use circlekeep_model::membership::Action;
use circlekeep_model::MemberId;
use circlekeep_seal::attest;
use circlekeep_seal::signed::{device_proof, verify_device_proof};
use circlekeep_seal::DeviceIdentity;
use circlekeep_store::BlobKind;
use circlekeep_sync::{InviteRefusal, Linked};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A device ticket this device issued, kept by the hash of its secret.
#[derive(Debug, Serialize, Deserialize)]
struct DeviceTicketRecord {
    expires_at: u64,
    used_by: Option<MemberId>,
}

fn ticket_key(secret: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key("circlekeep v1 device ticket record", secret)
}

/// What a new device hands one of its member's devices to be linked: its
/// id, its age recipient, and its signed consent to be that member's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRequest {
    /// The member the device asks to be linked to.
    pub member: MemberId,
    /// The new device's id (signing key, iroh endpoint id).
    pub device: MemberId,
    /// The new device's age recipient.
    pub recipient: String,
    /// The device's signature binding it to `member` and `recipient`.
    pub proof: Vec<u8>,
}

impl DeviceRequest {
    /// The request as it travels in a device link.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain data into memory cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Reads a request (bounded by the link's frame size; never panics).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

/// This member's devices, as [`Engine::own_devices`] finds them.
#[derive(Default)]
struct OwnDevices {
    /// Current devices, each with in how many circles it takes part.
    current: BTreeMap<MemberId, usize>,
    /// Devices retired in any circle.
    retired: BTreeSet<MemberId>,
}

/// Where a linked device keeps its attestation (public keys only).
const ATTESTATION_KEY: &[u8] = b"device attestation";

/// This device's attestation: a first device attests itself; a linked
/// device shows the one its linking device gave it (none if it was linked
/// by a version that gave none).
pub(crate) fn attestation_of<S: Store>(
    store: &S,
    me: &DeviceIdentity,
) -> Result<Option<Attestation>, EngineError> {
    if me.device_id() == me.member_id() {
        return Ok(Some(attest::attest_self(me)));
    }
    let Some(bytes) = store
        .blob(BlobKind::Setting, ATTESTATION_KEY)
        .map_err(EngineError::store)?
    else {
        return Ok(None);
    };
    let attestation =
        attest::from_bytes(&bytes).map_err(|e| EngineError::Corrupt(e.to_string()))?;
    Ok(Some(attestation))
}

/// This device's attestation, or the advice to link it again.
pub(crate) fn required_attestation<S: Store>(
    store: &S,
    me: &DeviceIdentity,
) -> Result<Attestation, EngineError> {
    attestation_of(store, me)?.ok_or(EngineError::NotAllowed(
        "this device was linked by an older version: remove it and link it again",
    ))
}

impl<S: Store> Engine<S> {
    /// This device's attestation (see [`attestation_of`]).
    pub fn attestation(&self) -> Result<Option<Attestation>, EngineError> {
        attestation_of(&self.store, &self.me)
    }

    /// Takes in the answer of the device that linked this one: keeps the
    /// attestation it gave, once it checks.
    pub fn keep_link(&self, linked: &Linked) -> Result<(), EngineError> {
        if linked.attestation.is_empty() {
            return Ok(());
        }
        self.keep_attestation(&linked.attestation)
    }

    /// Keeps this device's attestation, once it checks: signed all along,
    /// naming this device of this member.
    pub(crate) fn keep_attestation(&self, bytes: &[u8]) -> Result<(), EngineError> {
        let attestation = attest::from_bytes(bytes).map_err(|_| {
            EngineError::NotAllowed("the linking device's attestation does not verify")
        })?;
        if attestation.member != self.me.member_id() || attestation.device() != self.me.device_id()
        {
            return Err(EngineError::NotAllowed(
                "the linking device attested another device or member",
            ));
        }
        self.store
            .put_blob(BlobKind::Setting, ATTESTATION_KEY, Some(bytes))
            .map_err(EngineError::store)?;
        self.store.flush().map_err(EngineError::store)
    }

    /// Records a one-time secret for linking a new device of this member,
    /// valid for `ttl`. Returns the secret (for the ticket) and its expiry.
    pub fn create_device_ticket(&self, ttl: Duration) -> Result<([u8; 32], u64), EngineError> {
        let secret: [u8; 32] = circlekeep_seal::random_bytes();
        let record = DeviceTicketRecord {
            expires_at: unix_now().saturating_add(ttl.as_secs()),
            used_by: None,
        };
        self.put_device_ticket(&secret, &record)?;
        Ok((secret, record.expires_at))
    }

    fn put_device_ticket(
        &self,
        secret: &[u8; 32],
        record: &DeviceTicketRecord,
    ) -> Result<(), EngineError> {
        self.put_ticket_record(&ticket_key(secret), record)
    }

    /// Links `device`, which presented a device ticket's `secret` and its
    /// own `request`: the secret must be known, unused (or used by this very
    /// device, retrying) and unexpired, and the request the dialing
    /// device's, signed by it, for this member.
    pub(crate) fn redeem_device_ticket(
        &self,
        secret: &[u8; 32],
        request: &[u8],
        device: &MemberId,
    ) -> Result<Linked, InviteRefusal> {
        let _one_at_a_time = self.invites.lock().unwrap_or_else(|p| p.into_inner());
        let failed = |e: EngineError| InviteRefusal::Failed(e.to_string());
        let mut record: DeviceTicketRecord = self.ticket_record(&ticket_key(secret))?;
        match record.used_by {
            Some(user) if user != *device => return Err(InviteRefusal::Used),
            Some(_) => {}
            None if unix_now() > record.expires_at => return Err(InviteRefusal::Expired),
            None => {}
        }
        let request = DeviceRequest::from_bytes(request)
            .filter(|r| r.device == *device)
            .ok_or(InviteRefusal::NotYourDevice)?;
        let linked = self.link_device(&request).map_err(|e| match e {
            EngineError::NotAllowed(_) => InviteRefusal::NotYourDevice,
            e => failed(e),
        })?;
        record.used_by = Some(*device);
        self.put_device_ticket(secret, &record).map_err(failed)?;
        Ok(linked)
    }

    /// The device the ticket with `secret` linked, once it has.
    pub fn device_ticket_user(&self, secret: &[u8; 32]) -> Option<MemberId> {
        self.ticket_record::<DeviceTicketRecord>(&ticket_key(secret))
            .ok()
            .and_then(|r| r.used_by)
    }

    /// Finds one of this member's devices by id prefix (4+ hex digits).
    pub fn find_device(&self, selector: &str) -> Result<MemberId, EngineError> {
        let devices = self.devices()?;
        let found = crate::select::select(&devices, selector, |d| &d.id, |_| None)
            .map_err(|miss| miss.into_error(selector, EngineError::UnknownMember))?;
        MemberId::from_hex(&found.id).map_err(|e| EngineError::Corrupt(e.to_string()))
    }

    /// This device's request to be linked to the member its identity names.
    pub fn device_request(&self) -> DeviceRequest {
        let member = self.me.member_id();
        DeviceRequest {
            member,
            device: self.me.device_id(),
            recipient: self.me.recipient().to_string(),
            proof: device_proof(&self.me, &member),
        }
    }

    /// Links the requesting device to this device's member in every circle
    /// this device takes part in (each a new epoch sealed to it too), and
    /// hands it the keys of what its member could read. Returns the circles
    /// and the new device's attestation (this device's, and its vouch; none
    /// if this device has none itself), for the new device to keep.
    pub fn link_device(&self, request: &DeviceRequest) -> Result<Linked, EngineError> {
        if request.member != self.me.member_id() {
            return Err(EngineError::NotAllowed(
                "that device asks to be another member's: link it from one of theirs",
            ));
        }
        verify_device_proof(
            &request.member,
            &request.device,
            &request.recipient,
            &request.proof,
        )
        .map_err(|_| EngineError::NotAllowed("that device request is not signed by the device"))?;
        let mut linked = Vec::new();
        for id in self.my_circles()? {
            self.with_circle(id, |c, ctx| {
                c.link_device(
                    ctx,
                    request.device,
                    &request.recipient,
                    request.proof.clone(),
                )
            })?;
            linked.push(id);
        }
        let attestation = self
            .attestation()?
            .and_then(|own| {
                attest::vouch(
                    &self.me,
                    &own,
                    request.device,
                    &request.recipient,
                    request.proof.clone(),
                )
            })
            .map(|a| attest::to_bytes(&a))
            .unwrap_or_default();
        Ok(Linked {
            circles: linked,
            attestation,
        })
    }

    /// Retires one of this member's other devices in every circle: a new
    /// epoch sealed to the devices that stay. Returns in how many circles.
    pub fn retire_device(&self, device: MemberId) -> Result<usize, EngineError> {
        let mut retired = 0;
        for id in self.my_circles()? {
            let linked = self.with_circle(id, |c, _| {
                Ok(c.membership.devices().get(&device) == Some(&self.me.member_id()))
            })?;
            if linked {
                self.with_circle(id, |c, ctx| c.retire_device(ctx, device))?;
                retired += 1;
            }
        }
        Ok(retired)
    }

    /// This member's current devices, as its circles know them.
    pub fn devices(&self) -> Result<Vec<DeviceView>, EngineError> {
        Ok(self
            .own_devices()?
            .current
            .into_iter()
            .map(|(device, circles)| DeviceView {
                id: device.to_hex(),
                short: device.short(),
                this: device == self.me.device_id(),
                circles,
            })
            .collect())
    }

    /// This member's devices as this device's circles know them, in one
    /// walk over its circles: each current device (this one included,
    /// none retired anywhere) with in how many circles it takes part, and
    /// the devices retired in any of them.
    fn own_devices(&self) -> Result<OwnDevices, EngineError> {
        let member = self.me.member_id();
        let mut own = OwnDevices::default();
        own.current.insert(self.me.device_id(), 0);
        for id in self.my_circles()? {
            self.with_circle(id, |c, _| {
                let m = &c.membership;
                for device in m.devices_of_member(&member) {
                    *own.current.entry(*device).or_default() += 1;
                }
                own.retired
                    .extend(m.retired().filter(|d| m.owner(d) == Some(member)));
                Ok(())
            })?;
        }
        let retired = &own.retired;
        own.current.retain(|d, _| !retired.contains(d));
        Ok(own)
    }

    /// This member's devices retired in any circle this device takes part
    /// in. On this device they are retired everywhere: a lost laptop's
    /// attestation still verifies, so without this it could found a circle,
    /// or be added to one by its card, and count as this member's there
    /// (its journal, circles taken without asking).
    pub(crate) fn retired_devices(&self) -> Result<BTreeSet<MemberId>, EngineError> {
        Ok(self.own_devices()?.retired)
    }

    /// The devices retired, by any member, in a circle this device takes
    /// part in: a card one of them hands out (a lost laptop's, whose
    /// attestation still verifies) is refused here. A member who shares
    /// no circle with the retiring one cannot know.
    fn retired_anywhere(&self) -> Result<BTreeSet<MemberId>, EngineError> {
        let mut retired = BTreeSet::new();
        for id in self.my_circles()? {
            self.with_circle(id, |c, _| {
                retired.extend(c.membership.retired());
                Ok(())
            })?;
        }
        Ok(retired)
    }

    /// Refuses a member card handed out by a device retired in one of this
    /// device's circles.
    pub(crate) fn refuse_retired(&self, card: &MemberCard) -> Result<(), EngineError> {
        if self.retired_anywhere()?.contains(&card.device) {
            return Err(EngineError::NotAllowed(
                "this card is from a device its member retired: ask them for a card from a device they use now",
            ));
        }
        Ok(())
    }

    /// The devices whose link this device takes as its member's word (a
    /// circle one of them links it into needs no second consent): the
    /// member's current devices as this device's circles know them, and
    /// those its own attestation names, less any retired.
    pub(crate) fn trusted_linkers(&self) -> Result<BTreeSet<MemberId>, EngineError> {
        let OwnDevices { current, retired } = self.own_devices()?;
        let mut trusted: BTreeSet<MemberId> = current.into_keys().collect();
        if let Some(own) = self.attestation()? {
            let named = std::iter::once(own.member).chain(own.vouchers.iter().map(|v| v.device));
            trusted.extend(named.filter(|d| !retired.contains(d)));
        }
        Ok(trusted)
    }

    /// Links this member's other devices (as its other circles know them,
    /// each with the consent it signed once for all circles) into `circle`,
    /// where they are not yet: a circle the member founds, joins or accepts
    /// reaches all of its devices. Returns how many were linked.
    pub fn link_siblings(&self, circle: CircleId) -> Result<usize, EngineError> {
        let member = self.me.member_id();
        let mut known: BTreeMap<MemberId, (String, Vec<u8>)> = BTreeMap::new();
        for id in self.my_circles()? {
            self.with_circle(id, |c, _| {
                for op in c.membership.ops() {
                    if let Action::Device {
                        member: m,
                        device,
                        recipient,
                        proof,
                        ..
                    } = &op.body.action
                    {
                        if *m == member && c.membership.takes_effect(&op.hash) {
                            known.insert(*device, (recipient.clone(), proof.clone()));
                        }
                    }
                }
                Ok(())
            })?;
        }
        let retired = self.retired_devices()?;
        // The devices this one's attestation names (its member's key first)
        // are the member's too, with their consent.
        if let Some(own) = self.attestation()? {
            known
                .entry(own.member)
                .or_insert((own.recipient.clone(), own.proof.clone()));
            for v in own.vouchers {
                known.entry(v.device).or_insert((v.recipient, v.proof));
            }
        }
        let mut linked = 0;
        for (device, (recipient, proof)) in known {
            if retired.contains(&device) || device == self.me.device_id() {
                continue;
            }
            let done = self.with_circle(circle, |c, ctx| {
                // Linked already, or (the member's key, reserved to it by a
                // linked device's founding or joining) not yet.
                let owner = c.membership.owner(&device);
                let here = c.membership.devices().contains_key(&device);
                if c.invitation || here || owner.is_some_and(|o| o != member) {
                    return Ok(false);
                }
                c.link_device(ctx, device, &recipient, proof.clone())?;
                Ok(true)
            })?;
            linked += usize::from(done);
        }
        Ok(linked)
    }

    /// This member's card, to give to circles that add it: a first
    /// device's own card, or a linked device's card carrying its
    /// attestation (the circle then adds the member by this device, and
    /// never the device as a person of its own).
    pub fn member_card(&self) -> Result<circlekeep_seal::MemberCard, EngineError> {
        if self.me.device_id() == self.me.member_id() {
            return Ok(self.me.card());
        }
        Ok(circlekeep_seal::MemberCard::of_device(
            &self.me,
            required_attestation(&self.store, &self.me)?,
        ))
    }

    /// The circles this device is a current, accepted device in.
    fn my_circles(&self) -> Result<Vec<CircleId>, EngineError> {
        let me = self.me.device_id();
        let mut mine = Vec::new();
        for id in self.store.circles().map_err(EngineError::store)? {
            let current = self.with_circle(id, |c, _| {
                Ok(!c.invitation && c.membership.devices().contains_key(&me))
            })?;
            if current {
                mine.push(id);
            }
        }
        Ok(mine)
    }
}
