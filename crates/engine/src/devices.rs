//! A member's devices: a new device's request to be linked (its keys and
//! its consent), linking it into every circle of the member, retiring a
//! lost one, and listing them. How the request travels (a ticket over iroh,
//! a bundle) is not this module's: it only checks and writes.

use crate::views::DeviceView;
use crate::{CircleId, Engine, EngineError, Store};
use circlekeep_model::MemberId;
use circlekeep_seal::signed::{device_proof, verify_device_proof};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

impl<S: Store> Engine<S> {
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
    /// hands it the keys of what its member could read. Returns the circles.
    pub fn link_device(&self, request: &DeviceRequest) -> Result<Vec<CircleId>, EngineError> {
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
        Ok(linked)
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
        let member = self.me.member_id();
        let mut devices: BTreeMap<MemberId, usize> = BTreeMap::new();
        devices.insert(self.me.device_id(), 0);
        for id in self.my_circles()? {
            self.with_circle(id, |c, _| {
                for device in c.membership.devices_of_member(&member) {
                    *devices.entry(*device).or_default() += 1;
                }
                Ok(())
            })?;
        }
        Ok(devices
            .into_iter()
            .map(|(device, circles)| DeviceView {
                id: device.to_hex(),
                short: device.short(),
                this: device == self.me.device_id(),
                circles,
            })
            .collect())
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
