//! The membership log: signed, causally ordered operations and the
//! deterministic rules that turn a set of them into who is in a circle, which
//! epochs exist, and who may read each epoch.
//!
//! # Rules
//!
//! * **A member is a person; a device is one of its keys.** Every operation
//!   is signed by a device. A member's own id is its first device (the key
//!   it was added or founded with); `Device` links another, signed by one
//!   of the member's current devices and carrying the new device's own
//!   proof that it is this member's (checked with the signature), so nobody
//!   claims someone else's key. A key is one member's only: linking or
//!   adding a key that belongs to another member or device is rejected (if
//!   two claims are concurrent, the first in the log's order owns it). An
//!   `Add` carries no consent of the key it adds, so it never takes a key
//!   that signed its consent, anywhere in the log, to be another member's
//!   (`Device`, `Admit`, `Found`, `Create`), whatever the order: a removed
//!   member cannot backdate an add of an honest device's public key.
//!   `RetireDevice` takes one of the author's member's *other* devices out.
//!   Every rule below about "the author" means the author's member, except
//!   that the signing device must itself be current; a member's devices are
//!   current while the member is, less those retired (for good, in that
//!   circle). Epochs are sealed to every current device.
//! * **A linked device acts for its member without the first device.** It
//!   founds a circle with `Found` (instead of `Create`) and is added with
//!   `Admit` (instead of `Add`), each carrying an attestation
//!   (`attestation.rs`: the member key's consent, then a voucher per link,
//!   signature-checked by `circlekeep-seal`). The member is then a member
//!   through that device alone; the member's key is reserved to it, and
//!   its devices link the rest. `Found` must be signed by the attested
//!   device. Among one member's devices the first to come in ranks first.
//! * The circle is its genesis: the circle id is the hash of the `Create`
//!   operation. Any other operation without a circle id is rejected.
//! * Every other operation names the operations its author had seen (`deps`,
//!   sorted, non-empty). Its *causal past* is the closure of those deps.
//! * An operation is *causally valid* iff all its deps are and its author is
//!   a member in the state of its causal past (counting no removal it has
//!   not seen). `Add` needs a target who is not a
//!   member there; `Remove` needs a target who is, and is not the author
//!   (leaving is `Leave`). Validity depends only on the causal past, so it is
//!   the same on every device, whatever order operations arrive in.
//! * Membership of a set of operations is an observed-remove set with
//!   **remove wins**: `X` is a member iff some add of `X` (or the genesis, for
//!   the creator) is in the set and every removal of `X` (a `Remove` of `X` or
//!   `X`'s own `Leave`) is in that add's causal past. An add concurrent with a
//!   removal loses; adding again after seeing the removal works.
//! * **Strong removal.** A removal (`Remove` of `X`, or `X`'s `Leave`) that
//!   *takes effect* voids every operation by `X` — on any of its devices —
//!   concurrent with it (neither is in the other's causal past), whenever
//!   it arrives, and a `RetireDevice` voids the retired device's concurrent
//!   operations likewise: a removed member
//!   who has not heard — or pretends not to have heard, by naming old deps —
//!   adds nobody, removes nobody, re-keys nothing. An operation whose author
//!   is a member only through a void operation (the stranger a removed
//!   member added) is void too. Void operations stay in the log (others
//!   depend on them) and take no effect.
//! * **Strong removal of content.** The author of a `Remove` or
//!   `RetireDevice` follows it with a `Cut` (deps exactly the removal, same
//!   device): how far it held each removed device's log. A `Leave` is cut
//!   by every other member's device that hears of it (its deps include the
//!   leave), and by the leaving device for itself alone (right after it:
//!   how far it wrote, so its last notes count wherever they arrive
//!   after the leave; that cut counts though its author is no member). An entry of a
//!   removed device past the highest cut of the removals that take effect
//!   and that its named heads do not include is void
//!   ([`Membership::voids_entry`]; a device a cut does not name is cut at
//!   0). The engine keeps a void entry in its chain but neither applies
//!   nor passes it on, unless an entry that counts depends on one of its
//!   changes (`circle/dormant.rs`). A removal without a cut (a leave
//!   nobody else has heard of yet, or an older version's) voids no entry.
//! * Which removals take effect: those whose author is a member without
//!   counting any operation a removal threatens, decided one at a time in
//!   order of the author's **seniority** (the founder first, then members in
//!   the order their first add appears in the log's order; among one
//!   member's devices, the one it came in with first, then in the order of
//!   their links); a removal is void if one already decided voids it. So in a mutual removal (A removes
//!   B while B removes A, or B answers with a backdated removal of A) the
//!   senior member's removal stands. Seniority is fixed by operations made
//!   before the contest, so nobody can grind it. The decision is repeated
//!   until the set of void operations is stable (bounded by the number of
//!   removals), so it is a function of the set of operations.
//! * Every question "who was a member at these heads" is answered with these
//!   rules applied to the operations at those heads: what an honest author
//!   who had seen exactly them computed (that is who an epoch is sealed to).
//! * `Create`, `Add`, `Remove` and `Rekey` start an **epoch**: they carry a
//!   fresh epoch secret sealed to the epoch's *audience*, the devices in the
//!   state of the operation's causal past plus the operation itself (so do
//!   `Device` and `RetireDevice`). `Leave`
//!   carries no key (the leaver cannot re-key itself out); the next writer
//!   re-keys.
//! * The **write epoch** is the key-carrying operation (not void) that no
//!   other such operation follows and whose audience equals the current
//!   devices (lowest hash if several). If there is none (concurrent changes, or
//!   a `Leave`), the writer adds a `Rekey` first. Receivers hold entries to
//!   the same rule at the heads the entry names, so nobody — by bug or by
//!   staleness — seals new content to an audience that has changed.
//! * `ShareKeys` hands one device keys for epochs it lacks: the circle
//!   document's subkey (`Shared`) so every member can read the whole circle
//!   document, or the full epoch secret (`Full`) in circles where newcomers
//!   see history or where the device's member could read the epoch (a new
//!   device reads what its member read). It changes no membership. Its grants are public (epoch
//!   hashes only); the keys are sealed to the receiver.
//! * **Who gets which key is the log's, not a document's.** Whether
//!   newcomers see history is set once, by the founder, with a `Policy`
//!   operation whose only dep is the genesis; any other `Policy` is
//!   rejected, and if the founder signed two that disagree, newcomers see
//!   only what comes after they join. No edit of a shared document changes
//!   which keys honest devices hand out.

use crate::ids::{CircleId, MemberId, OpHash};
use fixedbitset::FixedBitSet;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

mod cut;
mod devices;
mod ops;
mod removal;
mod validity;

pub use cut::MAX_CUT_DEVICES;
pub use ops::{Action, EpochKey, KeyClass, KeyGrant, Op, OpBody, OP_VERSION};

/// Why a membership operation is not part of the circle.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpRejection {
    /// Written by a newer version of Circlekeep.
    #[error("unsupported operation version {0}")]
    UnsupportedVersion(u8),
    /// Names another circle, or is a second genesis.
    #[error("operation does not belong to this circle")]
    WrongCircle,
    /// The circle's genesis is not among the operations.
    #[error("the circle's founding operation is missing")]
    MissingGenesis,
    /// Deps are empty, unsorted or repeated.
    #[error("operation dependencies are malformed")]
    MalformedDeps,
    /// Depends on an operation this device does not have.
    #[error("depends on unknown operation {0:?}")]
    MissingDependency(OpHash),
    /// Depends on a rejected operation.
    #[error("depends on a rejected operation")]
    InvalidDependency,
    /// The author was not a member when it signed.
    #[error("author was not a member of the circle")]
    AuthorNotMember,
    /// Adds someone who already is a member.
    #[error("target is already a member")]
    AlreadyMember,
    /// Removes or shares keys with someone who is not a member.
    #[error("target is not a member")]
    TargetNotMember,
    /// Removes its own author (use leave).
    #[error("a member cannot remove itself; it leaves")]
    SelfRemoval,
    /// A grant names something that is not an epoch in its causal past.
    #[error("key grant names an unknown epoch")]
    UnknownEpoch,
    /// A history policy not set by the founder right at founding.
    #[error("only the founder sets the history policy, right after founding")]
    PolicyNotAtFounding,
    /// Links a key that already is a member's or a device's.
    #[error("that key already belongs to a member or device")]
    AlreadyDevice,
    /// Links a device to, or retires a device of, another member than the
    /// author's own (or retires the author itself).
    #[error("a member links and retires only its own other devices")]
    NotOwnDevice,
    /// An attestation that does not name the device it should (the
    /// founding device its author), or is malformed.
    #[error("the device's attestation does not fit the operation")]
    BadAttestation,
    /// A cut not written by its removal's author right after it, or naming
    /// a device twice or too many devices.
    #[error("a cut must follow its author's own removal at once")]
    BadCut,
}

/// The state of a circle's membership, computed from a set of operations.
#[derive(Clone, Debug)]
pub struct Membership {
    circle: CircleId,
    /// Valid operations in a deterministic topological order.
    ops: Vec<Op>,
    index: HashMap<OpHash, usize>,
    /// Strict causal past of each operation, as indices into `ops`.
    ancestors: Vec<FixedBitSet>,
    /// Pairs `(removal, op)`: `op` is by the removal's target and concurrent
    /// with it, so the removal voids it if it takes effect.
    threats: Vec<(usize, usize)>,
    /// Operations that take no effect (strong removal), among all of them.
    void: FixedBitSet,
    /// The cuts of removals that took effect (`cut.rs`).
    cuts: Vec<cut::EntryCut>,
    /// For each operation, those of its causal past that its author saw as
    /// void.
    past_void: Vec<FixedBitSet>,
    /// Audience of each key-carrying operation.
    audience: Vec<Option<BTreeSet<MemberId>>>,
    current: BTreeSet<MemberId>,
    /// Every key a valid operation made a member's device (a member's own
    /// id is its first device), and whose: the first claim in log order.
    owner: HashMap<MemberId, MemberId>,
    /// For each key that signed its consent to be a member's device in any
    /// operation held (`Device`, `Admit`, `Found`, `Create`), those members.
    consented: HashMap<MemberId, BTreeSet<MemberId>>,
    /// Current devices and their members.
    devices: BTreeMap<MemberId, MemberId>,
    /// Age recipients of current devices.
    recipients: BTreeMap<MemberId, String>,
    heads: Vec<OpHash>,
    /// Keys granted by `ShareKeys`: member → epoch → best class.
    grants: BTreeMap<MemberId, BTreeMap<OpHash, KeyClass>>,
    /// Whether newcomers see history (the founder's `Policy`).
    history: bool,
}

impl Membership {
    /// Computes the membership of `circle` from `ops` (any order, duplicates
    /// allowed). Returns the state and the operations that were rejected.
    pub fn build(
        circle: CircleId,
        ops: impl IntoIterator<Item = Op>,
    ) -> (Membership, Vec<(OpHash, OpRejection)>) {
        let mut rejected = Vec::new();
        let mut pending: BTreeMap<OpHash, Op> = BTreeMap::new();
        for op in ops {
            match structural_check(circle, &op) {
                Ok(()) => {
                    pending.insert(op.hash, op);
                }
                Err(why) => rejected.push((op.hash, why)),
            }
        }
        let mut state = Membership {
            circle,
            ops: Vec::new(),
            index: HashMap::new(),
            ancestors: Vec::new(),
            threats: Vec::new(),
            void: FixedBitSet::new(),
            cuts: Vec::new(),
            past_void: Vec::new(),
            audience: Vec::new(),
            current: BTreeSet::new(),
            owner: HashMap::new(),
            consented: consents(pending.values()),
            devices: BTreeMap::new(),
            recipients: BTreeMap::new(),
            heads: Vec::new(),
            grants: BTreeMap::new(),
            history: false,
        };
        let genesis = OpHash(circle.0);
        if !pending.contains_key(&genesis) {
            rejected.extend(
                pending
                    .into_keys()
                    .map(|hash| (hash, OpRejection::MissingGenesis)),
            );
            return (state, rejected);
        }

        // Kahn's order: always the lowest-hash operation whose deps are all
        // decided, so the result depends only on the set of operations;
        // each operation is looked at once per dependency, not per round.
        let mut refused: BTreeSet<OpHash> = BTreeSet::new();
        let mut waiting: HashMap<OpHash, usize> = HashMap::new();
        let mut dependents: HashMap<OpHash, Vec<OpHash>> = HashMap::new();
        let mut ready: BinaryHeap<Reverse<OpHash>> = BinaryHeap::new();
        for (hash, op) in &pending {
            let deps: BTreeSet<&OpHash> = op.body.deps.iter().collect();
            for dep in &deps {
                dependents.entry(**dep).or_default().push(*hash);
            }
            waiting.insert(*hash, deps.len());
            if deps.is_empty() {
                ready.push(Reverse(*hash));
            }
        }
        while let Some(Reverse(hash)) = ready.pop() {
            let Some(op) = pending.remove(&hash) else {
                continue;
            };
            let verdict = if op.body.deps.iter().any(|d| refused.contains(d)) {
                Err(OpRejection::InvalidDependency)
            } else {
                state.admit(op)
            };
            if let Err(why) = verdict {
                refused.insert(hash);
                rejected.push((hash, why));
            }
            for next in dependents.remove(&hash).unwrap_or_default() {
                if let Some(left) = waiting.get_mut(&next) {
                    *left -= 1;
                    if *left == 0 {
                        ready.push(Reverse(next));
                    }
                }
            }
        }
        // Whatever is left waits for an operation nobody has shown us.
        for (hash, op) in pending {
            let missing = op
                .body
                .deps
                .iter()
                .find(|d| !state.index.contains_key(*d) && !refused.contains(*d))
                .copied()
                .unwrap_or(hash);
            rejected.push((hash, OpRejection::MissingDependency(missing)));
        }
        state.finish();
        (state, rejected)
    }

    /// Checks `op` against its causal past and appends it.
    fn admit(&mut self, op: Op) -> Result<(), OpRejection> {
        let i = self.ops.len();
        let mut past = FixedBitSet::with_capacity(i + 1);
        for dep in &op.body.deps {
            let d = self.index[dep];
            past.union_with(&self.ancestors[d]);
            past.grow(i + 1);
            past.insert(d);
        }
        past.grow(i + 1);
        let past_void = self.resolve(&past);
        let devices = self.devices_of(&past, &past_void);
        let body = &op.body;
        // The keys this makes a member's: the device it brings in, and the
        // member's own key (its first device) with it.
        let mut claimed = Vec::new();
        if let Some((member, device, _)) = body.action.newcomer(body.author) {
            claimed.extend([(device, member), (member, member)]);
        } else if let Action::Device { device, member, .. } = &body.action {
            claimed.push((*device, *member));
        }
        let author = match (body.action.newcomer(body.author), devices.get(&body.author)) {
            (Some((member, _, _)), _) if body.action.is_genesis() => member,
            (_, Some(member)) => *member,
            // A leaving device is no member after its leave, yet cuts it.
            (_, None) => self
                .leave_cut(body)
                .map(|leave| self.member_of(leave))
                .ok_or(OpRejection::AuthorNotMember)?,
        };
        let before = self.members_of(&past, &past_void);
        self.check_action(body, author, &before, &devices, &past)?;
        if claimed
            .iter()
            .any(|(key, member)| self.owner.get(key).is_some_and(|owner| owner != member))
        {
            return Err(OpRejection::AlreadyDevice);
        }
        // An add carries no consent of the key it adds: it never takes a
        // key that consented, anywhere in the log, to be another member's
        // device, whatever the order (else a removed member's backdated add
        // of an honest device's public key would take it first).
        if let Action::Add { member, .. } = &body.action {
            if self
                .consented
                .get(member)
                .is_some_and(|members| !members.contains(member))
            {
                return Err(OpRejection::AlreadyDevice);
            }
        }
        for (key, member) in claimed {
            self.owner.entry(key).or_insert(member);
        }
        self.index.insert(op.hash, i);
        self.ancestors.push(past);
        self.past_void.push(past_void);
        self.ops.push(op);
        self.note_threats(i);
        Ok(())
    }

    /// Applies strong removal, then derives the audiences, current members,
    /// recipients, heads and grants.
    fn finish(&mut self) {
        let n = self.ops.len();
        for ancestors in &mut self.ancestors {
            ancestors.grow(n);
        }
        let all = self.all();
        self.void = self.resolve(&all);
        self.cuts = self.effective_cuts();
        self.audience = (0..n)
            .map(|i| {
                self.ops[i].body.action.epoch_key().map(|_| {
                    let mut view = self.ancestors[i].clone();
                    view.insert(i);
                    self.view_devices(&view)
                })
            })
            .collect();
        self.current = self.members_of(&all, &self.void);
        self.devices = self.devices_of(&all, &self.void);

        let mut followed = FixedBitSet::with_capacity(n);
        for past in &self.ancestors {
            followed.union_with(past);
        }
        self.heads = (0..n)
            .filter(|i| !followed.contains(*i))
            .map(|i| self.ops[i].hash)
            .collect();
        self.heads.sort();

        // A member's own device's recipient comes from its latest add that
        // still counts; a linked device's from its link.
        let removals = self.removals_in(&all, &self.void);
        for (i, op) in self.ops.iter().enumerate() {
            if self.void.contains(i) {
                continue;
            }
            let (device, recipient, survives) = match &op.body.action {
                Action::Device {
                    device, recipient, ..
                } => (*device, recipient.as_str(), true),
                action => match action.newcomer(op.body.author) {
                    Some((member, device, recipient)) => (
                        device,
                        recipient,
                        action.is_genesis() || self.add_survives(i, &member, &removals),
                    ),
                    None => continue,
                },
            };
            if survives && self.devices.contains_key(&device) {
                self.recipients.insert(device, recipient.to_owned());
            }
        }

        let policies: Vec<bool> = self
            .ops
            .iter()
            .filter_map(|op| match op.body.action {
                Action::Policy { history } => Some(history),
                _ => None,
            })
            .collect();
        self.history = !policies.is_empty() && policies.iter().all(|&h| h);

        for (i, op) in self.ops.iter().enumerate() {
            if self.void.contains(i) {
                continue;
            }
            if let Action::ShareKeys { to, grants, .. } = &op.body.action {
                let held = self.grants.entry(*to).or_default();
                for grant in grants {
                    let class = held.entry(grant.epoch).or_insert(grant.class);
                    *class = (*class).max(grant.class);
                }
            }
        }
    }

    /// Every operation, as a set.
    fn all(&self) -> FixedBitSet {
        let mut all = FixedBitSet::with_capacity(self.ops.len());
        all.insert_range(..);
        all
    }

    /// The members in the state of the operations in `set`, not counting
    /// those in `void`.
    fn members_of(&self, set: &FixedBitSet, void: &FixedBitSet) -> BTreeSet<MemberId> {
        let removals = self.removals_in(set, void);
        let mut members = BTreeSet::new();
        for i in set
            .ones()
            .filter(|&i| i < self.ops.len() && !void.contains(i))
        {
            let body = &self.ops[i].body;
            let Some((member, _, _)) = body.action.newcomer(body.author) else {
                continue;
            };
            if self.add_survives(i, &member, &removals) {
                members.insert(member);
            }
        }
        members
    }

    /// Removals (`Remove` of, or `Leave` by, each member) among `set`, not
    /// counting those in `void`.
    fn removals_in(&self, set: &FixedBitSet, void: &FixedBitSet) -> BTreeMap<MemberId, Vec<usize>> {
        let mut removals: BTreeMap<MemberId, Vec<usize>> = BTreeMap::new();
        for i in set
            .ones()
            .filter(|&i| i < self.ops.len() && !void.contains(i))
        {
            let body = &self.ops[i].body;
            match &body.action {
                Action::Remove { member, .. } => removals.entry(*member).or_default().push(i),
                Action::Leave => removals.entry(self.member_of(i)).or_default().push(i),
                _ => {}
            }
        }
        removals
    }

    /// Whether every removal of `member` is in the causal past of add `a`.
    fn add_survives(
        &self,
        a: usize,
        member: &MemberId,
        removals: &BTreeMap<MemberId, Vec<usize>>,
    ) -> bool {
        removals
            .get(member)
            .is_none_or(|rs| rs.iter().all(|&r| self.ancestors[a].contains(r)))
    }

    /// The circle this state belongs to.
    pub fn circle(&self) -> CircleId {
        self.circle
    }

    /// The current members.
    pub fn members(&self) -> &BTreeSet<MemberId> {
        &self.current
    }

    /// Whether `member` is a current member.
    pub fn is_member(&self, member: &MemberId) -> bool {
        self.current.contains(member)
    }

    /// Everyone who has ever been a member (founder and every add target
    /// that took effect).
    pub fn ever_members(&self) -> BTreeSet<MemberId> {
        self.ops
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.void.contains(*i))
            .filter_map(|(_, op)| op.body.action.newcomer(op.body.author))
            .map(|(member, _, _)| member)
            .collect()
    }

    /// Who brought `member` into the circle: the authors of the operations
    /// that took effect and added it (the founder founded itself).
    pub fn adders(&self, member: &MemberId) -> BTreeSet<MemberId> {
        self.ops
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.void.contains(*i))
            .filter(|(_, op)| {
                op.body
                    .action
                    .newcomer(op.body.author)
                    .is_some_and(|(added, _, _)| added == *member)
            })
            .map(|(i, _)| self.member_of(i))
            .collect()
    }

    /// The age recipient of a current device (a member's own id is its
    /// first device).
    pub fn recipient(&self, device: &MemberId) -> Option<&str> {
        self.recipients.get(device).map(String::as_str)
    }

    /// Hashes of the operations no other operation depends on (sorted).
    pub fn heads(&self) -> &[OpHash] {
        &self.heads
    }

    /// The causally valid operations in topological order, void ones
    /// included (others depend on them; they are kept and re-sent).
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Whether the operation is part of this state (held, perhaps void).
    pub fn contains(&self, hash: &OpHash) -> bool {
        self.index.contains_key(hash)
    }

    /// Whether the operation is held and takes effect (not voided by strong
    /// removal).
    pub fn takes_effect(&self, hash: &OpHash) -> bool {
        self.index
            .get(hash)
            .is_some_and(|&i| !self.void.contains(i))
    }

    /// The held operations that take no effect, in topological order.
    pub fn void_ops(&self) -> impl Iterator<Item = &Op> {
        self.void.ones().map(|i| &self.ops[i])
    }

    /// The valid operation with this hash.
    pub fn op(&self, hash: &OpHash) -> Option<&Op> {
        self.index.get(hash).map(|&i| &self.ops[i])
    }

    /// The causal closure of `heads`, or the first head this state lacks.
    pub fn closure(&self, heads: &[OpHash]) -> Result<Closure, OpHash> {
        let mut set = FixedBitSet::with_capacity(self.ops.len());
        for head in heads {
            let &i = self.index.get(head).ok_or(*head)?;
            set.union_with(&self.ancestors[i]);
            set.insert(i);
        }
        Ok(Closure(set))
    }

    /// The members in the state seen by someone whose heads give `closure`.
    pub fn members_in(&self, closure: &Closure) -> BTreeSet<MemberId> {
        self.view_members(&closure.0)
    }

    /// Whether `closure` includes the operation `hash`.
    pub fn closure_contains(&self, closure: &Closure, hash: &OpHash) -> bool {
        self.index.get(hash).is_some_and(|&i| closure.0.contains(i))
    }

    /// Whether `outer` includes everything in `inner`.
    pub fn closure_covers(&self, outer: &Closure, inner: &Closure) -> bool {
        inner.0.is_subset(&outer.0)
    }

    /// The audience of an epoch (devices its secret was sealed to), if
    /// `epoch` is a key-carrying operation.
    pub fn audience(&self, epoch: &OpHash) -> Option<&BTreeSet<MemberId>> {
        self.index
            .get(epoch)
            .and_then(|&i| self.audience[i].as_ref())
    }

    /// Every epoch in topological order with its audience (devices).
    pub fn epochs(&self) -> impl Iterator<Item = (&Op, &BTreeSet<MemberId>)> {
        self.ops
            .iter()
            .zip(&self.audience)
            .filter_map(|(op, audience)| audience.as_ref().map(|a| (op, a)))
    }

    /// Whether `device` can hold `class` of `epoch`'s keys: it is in the
    /// audience, or a `ShareKeys` granted it.
    pub fn holds(&self, device: &MemberId, epoch: &OpHash, class: KeyClass) -> bool {
        if self.audience(epoch).is_some_and(|a| a.contains(device)) {
            return true;
        }
        self.grants
            .get(device)
            .and_then(|g| g.get(epoch))
            .is_some_and(|&held| held >= class)
    }

    /// The epoch new content is written under, if one is fit for it (see the
    /// module rules); `None` means the writer must re-key first.
    pub fn write_epoch(&self) -> Option<OpHash> {
        self.write_epoch_in(&Closure(self.all()))
    }

    /// The write epoch for someone who had seen exactly `closure`: what an
    /// honest author at those heads seals under.
    pub fn write_epoch_in(&self, closure: &Closure) -> Option<OpHash> {
        let void = self.resolve(&closure.0);
        let devices: BTreeSet<MemberId> = self.devices_of(&closure.0, &void).into_keys().collect();
        let keyed: Vec<usize> = closure
            .0
            .ones()
            .filter(|&i| i < self.ops.len() && self.audience[i].is_some() && !void.contains(i))
            .collect();
        keyed
            .iter()
            .copied()
            .filter(|&h| !keyed.iter().any(|&k| self.ancestors[k].contains(h)))
            .filter(|&h| self.audience[h].as_ref() == Some(&devices))
            .map(|h| self.ops[h].hash)
            .min()
    }

    /// Whether newcomers see history, as the founder set it.
    pub fn history(&self) -> bool {
        self.history
    }

    /// The keys current devices lack: every device should hold the circle
    /// document's subkey of every epoch, and the full secret where newcomers
    /// see history or where its member could read the epoch (on any of its
    /// devices, retired ones too: a new device reads what its member did).
    pub fn missing_grants(&self) -> BTreeMap<MemberId, Vec<KeyGrant>> {
        let mut missing: BTreeMap<MemberId, Vec<KeyGrant>> = BTreeMap::new();
        for (device, member) in &self.devices {
            let own: Vec<&MemberId> = self
                .owner
                .iter()
                .filter(|(_, m)| *m == member)
                .map(|(d, _)| d)
                .collect();
            for (op, _) in self.epochs().filter(|(op, _)| self.takes_effect(&op.hash)) {
                let full =
                    self.history || own.iter().any(|d| self.holds(d, &op.hash, KeyClass::Full));
                let class = if full {
                    KeyClass::Full
                } else {
                    KeyClass::Shared
                };
                if !self.holds(device, &op.hash, class) {
                    missing.entry(*device).or_default().push(KeyGrant {
                        epoch: op.hash,
                        class,
                    });
                }
            }
        }
        missing
    }

    /// The `ShareKeys` operations addressed to `device`.
    pub fn grants_to<'a>(&'a self, member: &'a MemberId) -> impl Iterator<Item = &'a Op> + 'a {
        self.ops.iter().filter(
            move |op| matches!(&op.body.action, Action::ShareKeys { to, .. } if to == member),
        )
    }
}

/// The causal closure of a set of membership heads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closure(FixedBitSet);

/// The members each key signed its consent to belong to, over `ops` (valid
/// or not: the consent is the key's own signature, checked with the op's).
fn consents<'a>(ops: impl Iterator<Item = &'a Op>) -> HashMap<MemberId, BTreeSet<MemberId>> {
    let mut consented: HashMap<MemberId, BTreeSet<MemberId>> = HashMap::new();
    for op in ops {
        let body = &op.body;
        let claims = match &body.action {
            Action::Device { device, member, .. } => vec![(*device, *member)],
            Action::Admit { attestation, .. } => vec![
                (attestation.device(), attestation.member),
                (attestation.member, attestation.member),
            ],
            Action::Found { attestation, .. } => vec![
                (body.author, attestation.member),
                (attestation.member, attestation.member),
            ],
            Action::Create { .. } => vec![(body.author, body.author)],
            _ => Vec::new(),
        };
        for (key, member) in claims {
            consented.entry(key).or_default().insert(member);
        }
    }
    consented
}

fn structural_check(circle: CircleId, op: &Op) -> Result<(), OpRejection> {
    let body = &op.body;
    if body.version != OP_VERSION {
        return Err(OpRejection::UnsupportedVersion(body.version));
    }
    let genesis = op.hash.0 == circle.0;
    match (&body.action, body.circle) {
        (action, None) if genesis && action.is_genesis() => {
            if !body.deps.is_empty() {
                return Err(OpRejection::MalformedDeps);
            }
        }
        (action, _) if action.is_genesis() => return Err(OpRejection::WrongCircle),
        (_, None) => return Err(OpRejection::WrongCircle),
        (_, Some(c)) if c != circle => return Err(OpRejection::WrongCircle),
        _ => {
            let sorted_unique = body.deps.windows(2).all(|w| w[0] < w[1]);
            if body.deps.is_empty() || !sorted_unique {
                return Err(OpRejection::MalformedDeps);
            }
        }
    }
    if let Action::ShareKeys { grants, .. } = &body.action {
        if grants.is_empty() {
            return Err(OpRejection::UnknownEpoch);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
