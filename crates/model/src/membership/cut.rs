//! Strong removal of content (the rules at the top of `membership.rs`): a
//! removal's `Cut` says how far its author held the removed devices' logs,
//! and an entry past the cut that does not know of the removal is void.

use super::removal::Target;
use super::{Action, Membership, OpBody, OpRejection};
use crate::ids::{MemberId, OpHash};
use fixedbitset::FixedBitSet;
use std::collections::{BTreeMap, BTreeSet};

/// Most devices one cut names (a member has a handful).
pub const MAX_CUT_DEVICES: usize = 64;

/// A removal that took effect and how far its authors held the logs of the
/// devices it took out (the highest of its cuts, per device).
#[derive(Clone, Debug)]
pub(super) struct EntryCut {
    removal: usize,
    target: Target,
    held: BTreeMap<MemberId, u64>,
}

impl Membership {
    /// A cut is written by its removal's author right after it: deps
    /// exactly `[removal]`, which is that device's `Remove` or
    /// `RetireDevice`. A `Leave` is cut by the others: any member but the
    /// leaver who has seen it; the leaving device cuts only itself (how far
    /// it wrote before leaving, so its last notes count wherever they
    /// arrive after the leave). A cut names each device once.
    pub(super) fn check_cut(
        &self,
        body: &OpBody,
        author: MemberId,
        past: &FixedBitSet,
        removal: &OpHash,
        held: &[(MemberId, u64)],
    ) -> Result<(), OpRejection> {
        let completes = self.index.get(removal).is_some_and(|&r| {
            let op = &self.ops[r].body;
            match op.action {
                Action::Remove { .. } | Action::RetireDevice { .. } => {
                    op.author == body.author && body.deps == [*removal]
                }
                // The leaver says how far its own device wrote (nothing of
                // its other devices); any other member, what it holds.
                Action::Leave if op.author == body.author => {
                    body.deps == [*removal] && held.iter().all(|(d, _)| *d == body.author)
                }
                Action::Leave => past.contains(r) && self.member_of(r) != author,
                _ => false,
            }
        });
        let named_once = held.windows(2).all(|w| w[0].0 < w[1].0);
        if completes && named_once && held.len() <= MAX_CUT_DEVICES {
            Ok(())
        } else {
            Err(OpRejection::BadCut)
        }
    }

    /// The leave that `body` cuts, if it is its author's own `Leave`'s
    /// cut (the leave's index): the one operation a device signs after
    /// leaving, which counts though its author is no member any more.
    pub(super) fn leave_cut(&self, body: &OpBody) -> Option<usize> {
        let Action::Cut { removal, .. } = &body.action else {
            return None;
        };
        let leave = *self.index.get(removal)?;
        let op = &self.ops[leave].body;
        (op.author == body.author && matches!(op.action, Action::Leave)).then_some(leave)
    }

    /// The leaves (that take effect) of others than `member` which no
    /// device of `member` has cut yet, each with every device the leaver
    /// ever had: what `member`'s device should cut on hearing of them.
    pub fn uncut_leaves(&self, member: &MemberId) -> Vec<(OpHash, Vec<MemberId>)> {
        let cut: BTreeSet<&OpHash> = self
            .ops
            .iter()
            .filter(|op| self.owner(&op.body.author) == Some(*member))
            .filter_map(|op| match &op.body.action {
                Action::Cut { removal, .. } => Some(removal),
                _ => None,
            })
            .collect();
        self.ops
            .iter()
            .enumerate()
            .filter(|(i, op)| {
                matches!(op.body.action, Action::Leave)
                    && !self.void.contains(*i)
                    && !cut.contains(&op.hash)
            })
            .map(|(i, op)| (op.hash, self.member_of(i)))
            .filter(|(_, leaver)| leaver != member)
            .map(|(leave, leaver)| {
                let devices = self
                    .ever_devices()
                    .into_iter()
                    .filter(|d| self.owner(d) == Some(leaver))
                    .collect();
                (leave, devices)
            })
            .collect()
    }

    /// The cuts that count: those of removals that took effect, the cut
    /// itself not void; several cuts of one removal give each device the
    /// highest (what some author had already seen stays).
    pub(super) fn effective_cuts(&self) -> Vec<EntryCut> {
        let mut by_removal: BTreeMap<usize, BTreeMap<MemberId, u64>> = BTreeMap::new();
        for (i, op) in self.ops.iter().enumerate() {
            let Action::Cut { removal, held } = &op.body.action else {
                continue;
            };
            let r = self.index[removal];
            if self.void.contains(i) || self.void.contains(r) {
                continue;
            }
            let cut = by_removal.entry(r).or_default();
            for (device, seq) in held {
                let at = cut.entry(*device).or_insert(*seq);
                *at = (*at).max(*seq);
            }
        }
        by_removal
            .into_iter()
            .filter_map(|(removal, held)| {
                let target = self.removal_target(removal)?;
                Some(EntryCut {
                    removal,
                    target,
                    held,
                })
            })
            .collect()
    }

    /// Whether an entry by device `author` at `seq` (a fold: its last),
    /// which names membership `heads`, is void: a removal of its author's
    /// member (or a retirement of the device) that took effect, and that
    /// the entry's heads do not include, has a cut below `seq`. With
    /// several such removals the highest cut counts. A device a cut does
    /// not name is cut at 0.
    pub fn voids_entry(&self, author: &MemberId, seq: u64, heads: &[OpHash]) -> bool {
        if self.cuts.is_empty() {
            return false;
        }
        let member = self.owner(author);
        let mut threshold: Option<u64> = None;
        let mut seen = None;
        for cut in &self.cuts {
            let hits = match cut.target {
                Target::Member(m) => member == Some(m),
                Target::Device(d) => d == *author,
            };
            if !hits {
                continue;
            }
            let seen = seen.get_or_insert_with(|| self.closure(heads).ok());
            if seen.as_ref().is_some_and(|c| c.0.contains(cut.removal)) {
                continue;
            }
            let at = cut.held.get(author).copied().unwrap_or(0);
            threshold = Some(threshold.map_or(at, |t| t.max(at)));
        }
        threshold.is_some_and(|t| seq > t)
    }

    /// A fingerprint of the cuts that count, to tell whether entries must
    /// be judged again after the log grew: each removal by its hash (its
    /// place in the log's order moves when an earlier-sorting operation
    /// arrives), with how far it cut each device.
    pub fn cuts_digest(&self) -> Vec<(OpHash, Vec<(MemberId, u64)>)> {
        let mut digest: Vec<(OpHash, Vec<(MemberId, u64)>)> = self
            .cuts
            .iter()
            .map(|c| {
                let held = c.held.iter().map(|(d, s)| (*d, *s)).collect();
                (self.ops[c.removal].hash, held)
            })
            .collect();
        digest.sort();
        digest
    }

    /// The devices some counting cut names or reaches (its target's), whose
    /// entries may be void.
    pub fn cut_devices(&self) -> Vec<MemberId> {
        // Already sorted and unique: a set.
        self.ever_devices()
            .into_iter()
            .filter(|d| {
                let member = self.owner(d);
                self.cuts.iter().any(|c| match c.target {
                    Target::Member(m) => member == Some(m),
                    Target::Device(x) => x == *d,
                })
            })
            .collect()
    }
}
