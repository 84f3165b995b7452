//! A member's devices in the membership log (the rules at the top of
//! `membership.rs`): whose device signed an operation, which devices are
//! current in a set of operations, and the queries about them.

use super::{Action, Closure, Membership};
use crate::ids::MemberId;
use fixedbitset::FixedBitSet;
use std::collections::{BTreeMap, BTreeSet};

impl Membership {
    /// The member whose device signed operation `i`.
    pub(super) fn member_of(&self, i: usize) -> MemberId {
        let author = self.ops[i].body.author;
        self.owner.get(&author).copied().unwrap_or(author)
    }

    /// The devices in the state of the operations in `set`, not counting
    /// those in `void`, with their members: each current member's own key
    /// and the devices linked to it, less every device retired.
    pub(super) fn devices_of(
        &self,
        set: &FixedBitSet,
        void: &FixedBitSet,
    ) -> BTreeMap<MemberId, MemberId> {
        let members = self.members_of(set, void);
        let counted = || {
            set.ones()
                .filter(|&i| i < self.ops.len() && !void.contains(i))
        };
        let retired: BTreeSet<MemberId> = counted()
            .filter_map(|i| match &self.ops[i].body.action {
                Action::RetireDevice { device, .. } => Some(*device),
                _ => None,
            })
            .collect();
        let mut devices = BTreeMap::new();
        for i in counted() {
            let body = &self.ops[i].body;
            let (device, member) = match (&body.action, body.action.newcomer(body.author)) {
                (Action::Device { device, member, .. }, _) => (*device, *member),
                (_, Some((member, device, _))) => (device, member),
                _ => continue,
            };
            let owned = self.owner.get(&device) == Some(&member);
            if owned && members.contains(&member) && !retired.contains(&device) {
                devices.insert(device, member);
            }
        }
        devices
    }

    /// Every key that was ever a device of someone here (members' own keys
    /// and linked devices, void claims too): whoever may have an entry log.
    pub fn ever_devices(&self) -> BTreeSet<MemberId> {
        self.owner.keys().copied().collect()
    }

    /// The current devices, each with its member.
    pub fn devices(&self) -> &BTreeMap<MemberId, MemberId> {
        &self.devices
    }

    /// The current devices of `member`.
    pub fn devices_of_member<'a>(
        &'a self,
        member: &'a MemberId,
    ) -> impl Iterator<Item = &'a MemberId> + 'a {
        self.devices
            .iter()
            .filter(move |(_, m)| *m == member)
            .map(|(d, _)| d)
    }

    /// The devices retired by a `RetireDevice` that takes effect.
    pub fn retired(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.ops.iter().filter_map(|op| match &op.body.action {
            Action::RetireDevice { device, .. } if self.takes_effect(&op.hash) => Some(*device),
            _ => None,
        })
    }

    /// The member whose device `device` is or was (a retired device's past
    /// writes are still its member's), if any valid operation linked it.
    pub fn owner(&self, device: &MemberId) -> Option<MemberId> {
        self.owner.get(device).copied()
    }

    /// The devices (with their members) in the state seen by someone whose
    /// heads give `closure`.
    pub fn devices_in(&self, closure: &Closure) -> BTreeMap<MemberId, MemberId> {
        let void = self.resolve(&closure.0);
        self.devices_of(&closure.0, &void)
    }
}
