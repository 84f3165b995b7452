//! Strong removal (the rules at the top of `membership.rs`): which causally
//! valid operations take no effect because a removal of their author that
//! they did not see — and that did not see them — takes effect.

use super::{Action, Membership};
use crate::ids::MemberId;
use fixedbitset::FixedBitSet;
use std::collections::{BTreeMap, BTreeSet};

impl Membership {
    /// Records the threats the newest operation `i` takes part in: as a
    /// removal, to its target's earlier operations it did not see; as any
    /// operation, from earlier removals of its author it did not see.
    pub(super) fn note_threats(&mut self, i: usize) {
        let target = self.removal_target(i);
        for o in (0..i).filter(|&o| !self.ancestors[i].contains(o)) {
            if target.is_some_and(|t| self.hits(t, o)) {
                self.threats.push((i, o));
            }
            if self.removal_target(o).is_some_and(|t| self.hits(t, i)) {
                self.threats.push((o, i));
            }
        }
    }

    /// Whether a removal of `target` would void operation `o` (were they
    /// concurrent): it was signed by the removed member's device, or by
    /// the retired device.
    fn hits(&self, target: Target, o: usize) -> bool {
        match target {
            Target::Member(member) => self.member_of(o) == member,
            Target::Device(device) => self.ops[o].body.author == device,
        }
    }

    /// The members of the causally closed `set`, strong removal applied
    /// within it.
    pub(super) fn view_members(&self, set: &FixedBitSet) -> BTreeSet<MemberId> {
        let void = self.resolve(set);
        self.members_of(set, &void)
    }

    /// The devices of the causally closed `set`, strong removal applied
    /// within it.
    pub(super) fn view_devices(&self, set: &FixedBitSet) -> BTreeSet<MemberId> {
        let void = self.resolve(set);
        self.devices_of(set, &void).into_keys().collect()
    }

    /// The operations of the causally closed `set` that take no effect.
    ///
    /// Removals are decided one at a time, the most senior author's first. A
    /// removal takes effect unless one that took effect voids it, or its
    /// author is no member at its deps once what is void so far is left out
    /// (the rest of its past counted as its author saw it). Then it voids
    /// what it threatens. A decision is final, so nothing a junior member
    /// signs undoes a senior's removal. Last, in log order, an operation is
    /// void if a removal voided it, if it is a removal that did not take
    /// effect, or if its author is a member only through void operations.
    pub(super) fn resolve(&self, set: &FixedBitSet) -> FixedBitSet {
        let n = self.ops.len();
        let threats: Vec<(usize, usize)> = self
            .threats
            .iter()
            .copied()
            .filter(|&(r, o)| set.contains(r) && set.contains(o))
            .collect();
        if threats.is_empty() {
            return FixedBitSet::with_capacity(n);
        }
        let mut effective = FixedBitSet::with_capacity(n);
        let mut direct = FixedBitSet::with_capacity(n);
        for r in self.by_seniority(set) {
            let voided = threats
                .iter()
                .any(|&(e, o)| o == r && effective.contains(e));
            if voided || !self.still_member(r, &direct, &effective) {
                continue;
            }
            effective.insert(r);
            direct.extend(
                threats
                    .iter()
                    .filter(|&&(e, o)| e == r && !effective.contains(o))
                    .map(|&(_, o)| o),
            );
        }
        let none = FixedBitSet::with_capacity(n);
        let mut void = FixedBitSet::with_capacity(n);
        let mut admitted = FixedBitSet::with_capacity(n);
        // Indices are a topological order, so the past is decided first.
        for i in set.ones() {
            let body = &self.ops[i].body;
            let lost = if self.removal_target(i).is_some() {
                !effective.contains(i)
            } else if body.action.is_genesis() {
                false
            } else if let Some(leave) = self.leave_cut(body) {
                direct.contains(i) || void.contains(leave)
            } else {
                let mut past = self.ancestors[i].clone();
                past.intersect_with(&admitted);
                direct.contains(i) || !self.devices_of(&past, &none).contains_key(&body.author)
            };
            if lost {
                void.insert(i);
            } else {
                admitted.insert(i);
            }
        }
        void
    }

    /// Whether removal `r`'s author is a member's device at its deps,
    /// counting neither what `r`'s author saw as void nor what is
    /// `direct`ly void, but every removal that took effect.
    fn still_member(&self, r: usize, direct: &FixedBitSet, effective: &FixedBitSet) -> bool {
        let mut void = self.past_void[r].clone();
        void.union_with(direct);
        void.difference_with(effective);
        self.devices_of(&self.ancestors[r], &void)
            .contains_key(&self.ops[r].body.author)
    }

    /// The removals of `set`, the most senior author's first, then in log
    /// order. Seniority is the place of a member's first add in the log's
    /// order (the founder first), and among one member's devices the place
    /// of the device's first link (the one the member came in with first). The order
    /// extends the causal order, so whoever a member adds or links —
    /// however backdated — ranks after that member or device.
    fn by_seniority(&self, set: &FixedBitSet) -> Vec<usize> {
        let mut member_rank: BTreeMap<MemberId, usize> = BTreeMap::new();
        let mut device_rank: BTreeMap<MemberId, usize> = BTreeMap::new();
        for i in set.ones() {
            let body = &self.ops[i].body;
            let (member, device) = match (&body.action, body.action.newcomer(body.author)) {
                (Action::Device { device, .. }, _) => (None, *device),
                (_, Some((member, device, _))) => (Some(member), device),
                _ => continue,
            };
            if let Some(member) = member {
                member_rank.entry(member).or_insert(i);
            }
            device_rank.entry(device).or_insert(i);
        }
        let mut removals: Vec<usize> = set
            .ones()
            .filter(|&i| self.removal_target(i).is_some())
            .collect();
        let rank = |map: &BTreeMap<MemberId, usize>, id: &MemberId| {
            map.get(id).copied().unwrap_or(usize::MAX)
        };
        removals.sort_by_key(|&r| {
            let member = rank(&member_rank, &self.member_of(r));
            (member, rank(&device_rank, &self.ops[r].body.author), r)
        });
        removals
    }

    /// What a removal takes out: `Remove`'s target or `Leave`'s author's
    /// member (every device of it), or the device `RetireDevice` retires.
    pub(super) fn removal_target(&self, i: usize) -> Option<Target> {
        match &self.ops[i].body.action {
            Action::Remove { member, .. } => Some(Target::Member(*member)),
            Action::Leave => Some(Target::Member(self.member_of(i))),
            Action::RetireDevice { device, .. } => Some(Target::Device(*device)),
            _ => None,
        }
    }
}

/// Whom a removal takes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    /// A member, with all its devices.
    Member(MemberId),
    /// One device.
    Device(MemberId),
}
