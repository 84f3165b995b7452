//! Rules of the membership log, by example and by property.

use super::*;
use crate::attestation::Attestation;
use crate::ids::hash_bytes;
use proptest::prelude::*;

fn m(n: u8) -> MemberId {
    MemberId([n; 32])
}

fn key() -> EpochKey {
    EpochKey {
        sealed: vec![],
        full_commitment: [0; 32],
        shared_commitment: [0; 32],
    }
}

fn make(circle: Option<CircleId>, author: u8, mut deps: Vec<OpHash>, action: Action) -> Op {
    deps.sort();
    deps.dedup();
    let body = OpBody {
        version: OP_VERSION,
        circle,
        author: m(author),
        deps,
        action,
    };
    let hash = OpHash(hash_bytes("test op", format!("{body:?}").as_bytes()));
    Op {
        hash,
        body,
        signed: vec![],
    }
}

/// A tiny circle builder: every op depends on the heads of the ops given.
struct Log {
    circle: CircleId,
    ops: Vec<Op>,
}

impl Log {
    fn new(founder: u8) -> Self {
        let genesis = make(
            None,
            founder,
            vec![],
            Action::Create {
                recipient: format!("r{founder}"),
                nonce: [founder; 16],
                key: key(),
            },
        );
        Log {
            circle: CircleId(genesis.hash.0),
            ops: vec![genesis],
        }
    }

    fn state(&self) -> Membership {
        let (state, rejected) = Membership::build(self.circle, self.ops.clone());
        assert!(rejected.is_empty(), "unexpected rejections: {rejected:?}");
        state
    }

    fn heads(&self) -> Vec<OpHash> {
        self.state().heads().to_vec()
    }

    fn push(&mut self, author: u8, deps: Vec<OpHash>, action: Action) -> OpHash {
        let op = make(Some(self.circle), author, deps, action);
        let hash = op.hash;
        self.ops.push(op);
        hash
    }

    fn add(&mut self, author: u8, member: u8) -> OpHash {
        let deps = self.heads();
        self.add_after(author, member, deps)
    }

    fn add_after(&mut self, author: u8, member: u8, deps: Vec<OpHash>) -> OpHash {
        self.push(
            author,
            deps,
            Action::Add {
                member: m(member),
                recipient: format!("r{member}"),
                key: key(),
            },
        )
    }

    /// `author` (a device of `member`) links `device` to `member`.
    fn link_after(&mut self, author: u8, member: u8, device: u8, deps: Vec<OpHash>) -> OpHash {
        self.push(author, deps, link(member, device))
    }

    fn retire_after(&mut self, author: u8, device: u8, deps: Vec<OpHash>) -> OpHash {
        self.push(
            author,
            deps,
            Action::RetireDevice {
                device: m(device),
                key: key(),
            },
        )
    }

    fn remove_after(&mut self, author: u8, member: u8, deps: Vec<OpHash>) -> OpHash {
        self.push(
            author,
            deps,
            Action::Remove {
                member: m(member),
                key: key(),
            },
        )
    }
}

fn link(member: u8, device: u8) -> Action {
    Action::Device {
        member: m(member),
        device: m(device),
        recipient: format!("r{device}"),
        proof: vec![],
        key: key(),
    }
}

/// An attestation that `device` is `member`'s, linked by the member's key
/// (the signatures are seal's; the rules see the shape).
fn attested(member: u8, device: u8) -> Attestation {
    Attestation {
        member: m(member),
        recipient: format!("r{member}"),
        proof: vec![],
        vouchers: vec![crate::attestation::Voucher {
            device: m(device),
            recipient: format!("r{device}"),
            proof: vec![],
            vouch: vec![],
        }],
    }
}

fn admit(member: u8, device: u8) -> Action {
    Action::Admit {
        attestation: attested(member, device),
        key: key(),
    }
}

fn devices(state: &Membership) -> Vec<(u8, u8)> {
    state
        .devices()
        .iter()
        .map(|(d, member)| (d.0[0], member.0[0]))
        .collect()
}

fn members(state: &Membership) -> Vec<u8> {
    state.members().iter().map(|id| id.0[0]).collect()
}

#[test]
fn founder_is_the_only_member_and_writes_under_genesis() {
    let log = Log::new(1);
    let state = log.state();
    assert_eq!(members(&state), vec![1]);
    assert_eq!(state.write_epoch(), Some(OpHash(log.circle.0)));
    assert_eq!(state.recipient(&m(1)), Some("r1"));
}

#[test]
fn add_then_remove_rotate_the_epoch() {
    let mut log = Log::new(1);
    let add = log.add(1, 2);
    let state = log.state();
    assert_eq!(members(&state), vec![1, 2]);
    assert_eq!(state.write_epoch(), Some(add));
    assert_eq!(state.audience(&add).map(|a| a.len()), Some(2));

    let remove = log.remove_after(1, 2, vec![add]);
    let state = log.state();
    assert_eq!(members(&state), vec![1]);
    assert_eq!(state.write_epoch(), Some(remove));
    assert!(!state.audience(&remove).is_some_and(|a| a.contains(&m(2))));
    assert_eq!(state.recipient(&m(2)), None);
}

#[test]
fn concurrent_add_and_remove_of_the_same_member_remove_wins() {
    let mut log = Log::new(1);
    log.add(1, 2);
    let add3 = log.add(1, 3);
    // 1 removes 2 and then re-adds it; 3, who saw neither, removes 2 too.
    let first_removal = log.remove_after(1, 2, vec![add3]);
    let readd = log.add_after(1, 2, vec![first_removal]);
    let concurrent_removal = log.remove_after(3, 2, vec![add3]);
    let state = log.state();
    assert!(state.contains(&readd) && state.contains(&concurrent_removal));
    assert_eq!(members(&state), vec![1, 3]);
}

#[test]
fn re_adding_after_seeing_the_removal_works() {
    let mut log = Log::new(1);
    let add = log.add(1, 2);
    let remove = log.remove_after(1, 2, vec![add]);
    let readd = log.add_after(1, 2, vec![remove]);
    let state = log.state();
    assert!(state.is_member(&m(2)));
    assert_eq!(state.write_epoch(), Some(readd));
}

#[test]
fn in_a_mutual_removal_the_senior_member_prevails() {
    let mut log = Log::new(1);
    log.add(1, 2);
    let base = log.add(1, 3);
    let by_senior = log.remove_after(2, 3, vec![base]);
    let by_junior = log.remove_after(3, 2, vec![base]);
    let state = log.state();
    assert_eq!(members(&state), vec![1, 2]);
    assert!(state.takes_effect(&by_senior));
    assert!(!state.takes_effect(&by_junior) && state.contains(&by_junior));
    assert_eq!(state.write_epoch(), Some(by_senior));
}

#[test]
fn a_removed_member_who_has_not_heard_takes_nothing_over() {
    // Ada (1) removes Bo (2). Bo, not having heard (or pretending), adds
    // Mallory (9), removes Cy (3) and re-keys; Mallory removes Ada.
    let mut log = Log::new(1);
    log.add(1, 2);
    let before = log.add(1, 3);
    let removal = log.remove_after(1, 2, vec![before]);
    let stranger = log.add_after(2, 9, vec![before]);
    let takeover = [
        stranger,
        log.remove_after(2, 3, vec![stranger]),
        log.push(2, vec![stranger], Action::Rekey { key: key() }),
        log.remove_after(9, 1, vec![stranger]),
        log.add_after(9, 8, vec![stranger]),
        log.remove_after(2, 1, vec![before]),
    ];
    // Cy, who heard of Bo's add of Mallory before the removal, re-keys.
    let honest = log.push(3, vec![stranger], Action::Rekey { key: key() });
    let state = log.state();
    assert_eq!(members(&state), vec![1, 3]);
    for op in takeover {
        assert!(state.contains(&op) && !state.takes_effect(&op));
    }
    assert!(state.takes_effect(&removal) && state.takes_effect(&honest));
    assert!(!state.ever_members().contains(&m(9)));
    // Cy's epoch was sealed to whom Cy knew, Mallory included: unfit for
    // writing. Ada's removal is sealed to exactly Ada and Cy.
    assert!(state.audience(&honest).is_some_and(|a| a.contains(&m(9))));
    assert_eq!(state.write_epoch(), Some(removal));
    assert_eq!(state.audience(&removal), Some(state.members()));
}

#[test]
fn a_linked_device_acts_as_its_member() {
    let mut log = Log::new(1);
    let add = log.add(1, 2);
    let linked = log.link_after(2, 2, 20, vec![add]);
    let state = log.state();
    assert_eq!(members(&state), vec![1, 2], "a device is not a member");
    assert_eq!(devices(&state), vec![(1, 1), (2, 2), (20, 2)]);
    assert_eq!(
        state.write_epoch(),
        Some(linked),
        "sealed to the new device too"
    );
    assert!(state.audience(&linked).is_some_and(|a| a.contains(&m(20))));
    assert_eq!(state.recipient(&m(20)), Some("r20"));
    assert_eq!(state.owner(&m(20)), Some(m(2)));

    // The device adds a member as its member would, but does not remove it.
    let add3 = log.add_after(20, 3, vec![linked]);
    let state = log.state();
    assert_eq!(members(&state), vec![1, 2, 3]);
    assert_eq!(state.adders(&m(3)), BTreeSet::from([m(2)]));
    log.remove_after(20, 2, vec![add3]);
    let (_, rejected) = Membership::build(log.circle, log.ops.clone());
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].1, OpRejection::SelfRemoval);

    // When the device leaves, its member leaves with all its devices.
    log.ops.pop();
    log.push(20, vec![add3], Action::Leave);
    let state = log.state();
    assert_eq!(members(&state), vec![1, 3]);
    assert_eq!(devices(&state), vec![(1, 1), (3, 3)]);
}

/// A linked device founds a circle and adds a member by its linked
/// device: each counts as its member, whose key is reserved to it and
/// linked by the member's device afterwards.
#[test]
fn a_linked_device_founds_and_is_admitted_as_its_member() {
    let genesis = make(
        None,
        20,
        vec![],
        Action::Found {
            attestation: attested(2, 20),
            nonce: [2; 16],
            key: key(),
        },
    );
    let mut log = Log {
        circle: CircleId(genesis.hash.0),
        ops: vec![genesis.clone()],
    };
    let state = log.state();
    assert_eq!(members(&state), vec![2]);
    assert_eq!(devices(&state), vec![(20, 2)]);
    assert_eq!(state.recipient(&m(20)), Some("r20"));
    assert_eq!(
        state.owner(&m(2)),
        Some(m(2)),
        "the member's key is reserved"
    );
    assert_eq!(state.write_epoch(), Some(genesis.hash));
    // The founder's policy is the founding device's to set.
    log.push(20, vec![genesis.hash], Action::Policy { history: true });
    assert!(log.state().history());

    // The device links its member's own key, then admits member 3 by 30.
    let own = log.link_after(20, 2, 2, log.heads());
    let admitted = log.push(20, vec![own], admit(3, 30));
    let state = log.state();
    assert_eq!(members(&state), vec![2, 3]);
    assert_eq!(devices(&state), vec![(2, 2), (20, 2), (30, 3)]);
    assert_eq!(state.adders(&m(3)), BTreeSet::from([m(2)]));
    assert_eq!(state.write_epoch(), Some(admitted));
    assert!(state
        .audience(&admitted)
        .is_some_and(|a| a.contains(&m(30))));
    assert_eq!(state.recipient(&m(30)), Some("r30"));
    // Member 3's device links member 3's key; 3 acts through either.
    let linked = log.link_after(30, 3, 3, vec![admitted]);
    let state = log.state();
    assert_eq!(devices(&state), vec![(2, 2), (3, 3), (20, 2), (30, 3)]);

    let attempts = [
        // Admitting a member again, or by a key someone else holds.
        (20, admit(3, 31), OpRejection::AlreadyMember),
        (20, admit(4, 30), OpRejection::AlreadyDevice),
        (20, admit(4, 2), OpRejection::AlreadyDevice),
        (20, admit(2, 40), OpRejection::AlreadyMember),
        // Adding a member again by its own key.
        (
            20,
            Action::Add {
                member: m(3),
                recipient: "r3".into(),
                key: key(),
            },
            OpRejection::AlreadyMember,
        ),
        // A loop in the chain.
        (
            20,
            Action::Admit {
                attestation: Attestation {
                    vouchers: vec![attested(4, 41).vouchers[0].clone(); 2],
                    ..attested(4, 41)
                },
                key: key(),
            },
            OpRejection::BadAttestation,
        ),
    ];
    for (author, action, why) in attempts {
        let op = make(Some(log.circle), author, vec![linked], action);
        let (_, rejected) =
            Membership::build(log.circle, log.ops.iter().cloned().chain([op.clone()]));
        assert_eq!(rejected, vec![(op.hash, why)], "{:?}", op.body.action);
    }
}

/// A genesis `Found` must be signed by the device it attests, and only a
/// linked device founds that way; a `Found` after the genesis is no genesis.
#[test]
fn only_the_attested_device_founds_with_its_attestation() {
    for (author, attestation) in [
        (21, attested(2, 20)),
        (
            2,
            Attestation {
                vouchers: vec![],
                ..attested(2, 20)
            },
        ),
    ] {
        let genesis = make(
            None,
            author,
            vec![],
            Action::Found {
                attestation,
                nonce: [2; 16],
                key: key(),
            },
        );
        let circle = CircleId(genesis.hash.0);
        let (state, rejected) = Membership::build(circle, [genesis.clone()]);
        assert_eq!(rejected, vec![(genesis.hash, OpRejection::BadAttestation)]);
        assert!(state.members().is_empty());
    }
    let mut log = Log::new(1);
    let late = log.push(
        1,
        log.heads(),
        Action::Found {
            attestation: attested(2, 20),
            nonce: [0; 16],
            key: key(),
        },
    );
    let (_, rejected) = Membership::build(log.circle, log.ops.clone());
    assert_eq!(rejected, vec![(late, OpRejection::WrongCircle)]);
}

/// A removed member backdates an add of an honest device's key (public in
/// the log), hoping it sorts first and takes the key: the honest link, the
/// removal resting on it and everything after would then be refused. An
/// add carries no consent of its key, so it never takes a key that
/// consented to be another member's, in any order (before the fix, salt 3
/// took the circle over).
#[test]
fn a_backdated_add_never_takes_an_honest_device_s_key() {
    for salt in 0..40u8 {
        let mut log = Log::new(1);
        let a2 = log.add(1, 2);
        let a3 = log.add(1, 3);
        let linked = log.link_after(1, 1, 150, vec![a2, a3]);
        let removal = log.remove_after(1, 2, vec![linked]);
        let after = log.add_after(1, 4, vec![removal]);
        let honest = log.state();
        let mut attack = make(
            Some(log.circle),
            2,
            vec![a2],
            Action::Add {
                member: m(150),
                recipient: format!("x{salt}"),
                key: key(),
            },
        );
        attack.hash = OpHash(hash_bytes(
            "test op",
            format!("{:?}", attack.body).as_bytes(),
        ));
        let (attacked, _) = Membership::build(log.circle, log.ops.iter().cloned().chain([attack]));
        assert_eq!(attacked.members(), honest.members(), "salt {salt}");
        assert_eq!(attacked.devices(), honest.devices(), "salt {salt}");
        assert!(attacked.takes_effect(&after), "salt {salt}");
    }
}

#[test]
fn only_a_members_own_devices_are_linked_and_retired() {
    let mut log = Log::new(1);
    log.add(1, 2);
    let add3 = log.add(1, 3);
    let linked = log.link_after(2, 2, 20, vec![add3]);
    let base = log.state();
    let attempts = [
        (3, link(3, 20), OpRejection::AlreadyDevice),
        (3, link(3, 1), OpRejection::AlreadyDevice),
        (3, link(2, 30), OpRejection::NotOwnDevice),
        (
            3,
            Action::RetireDevice {
                device: m(20),
                key: key(),
            },
            OpRejection::NotOwnDevice,
        ),
        (
            20,
            Action::RetireDevice {
                device: m(20),
                key: key(),
            },
            OpRejection::NotOwnDevice,
        ),
        (
            1,
            Action::Add {
                member: m(20),
                recipient: "r20".into(),
                key: key(),
            },
            OpRejection::AlreadyDevice,
        ),
    ];
    for (author, action, why) in attempts {
        let op = make(Some(log.circle), author, vec![linked], action);
        let (state, rejected) =
            Membership::build(log.circle, log.ops.iter().cloned().chain([op.clone()]));
        assert_eq!(rejected, vec![(op.hash, why)], "{:?}", op.body.action);
        assert_eq!(devices(&state), devices(&base));
    }
}

#[test]
fn a_removed_member_s_devices_all_go_and_their_late_operations_void() {
    let mut log = Log::new(1);
    log.add(1, 2);
    let add3 = log.add(1, 3);
    let linked = log.link_after(2, 2, 20, vec![add3]);
    let removal = log.remove_after(1, 2, vec![linked]);
    // Bo's second laptop, not having heard, adds Mallory and removes Cy.
    let late = [
        log.add_after(20, 9, vec![linked]),
        log.remove_after(20, 3, vec![linked]),
    ];
    let state = log.state();
    assert_eq!(members(&state), vec![1, 3]);
    assert_eq!(devices(&state), vec![(1, 1), (3, 3)]);
    for op in late {
        assert!(state.contains(&op) && !state.takes_effect(&op));
    }
    assert!(!state.audience(&removal).is_some_and(|a| a.contains(&m(20))));
    // Having heard, it can sign nothing at all.
    let op = make(
        Some(log.circle),
        20,
        vec![removal],
        Action::Rekey { key: key() },
    );
    let (_, rejected) = Membership::build(log.circle, log.ops.iter().cloned().chain([op]));
    assert!(rejected
        .iter()
        .any(|(_, why)| *why == OpRejection::AuthorNotMember));
}

#[test]
fn a_retired_device_is_sealed_out_and_its_late_operations_void() {
    let mut log = Log::new(1);
    let add = log.add(1, 2);
    let linked = log.link_after(2, 2, 20, vec![add]);
    let retired = log.retire_after(2, 20, vec![linked]);
    // Whoever holds the lost laptop backdates a takeover.
    let late = [
        log.add_after(20, 9, vec![linked]),
        log.remove_after(20, 1, vec![linked]),
        log.link_after(20, 2, 21, vec![linked]),
    ];
    let state = log.state();
    assert_eq!(members(&state), vec![1, 2]);
    assert_eq!(devices(&state), vec![(1, 1), (2, 2)]);
    assert_eq!(state.write_epoch(), Some(retired));
    assert!(!state.audience(&retired).is_some_and(|a| a.contains(&m(20))));
    assert_eq!(state.recipient(&m(20)), None);
    for op in late {
        assert!(state.contains(&op) && !state.takes_effect(&op));
    }
}

#[test]
fn a_new_device_is_owed_what_its_member_could_read() {
    let mut log = Log::new(1);
    let add = log.add(1, 2);
    let linked = log.link_after(2, 2, 20, vec![add]);
    let state = log.state();
    let genesis = OpHash(log.circle.0);
    let owed = |device: u8| -> Vec<(OpHash, KeyClass)> {
        state
            .missing_grants()
            .get(&m(device))
            .map(|g| g.iter().map(|g| (g.epoch, g.class)).collect())
            .unwrap_or_default()
    };
    // Bo joined after founding (newcomers see only what comes after): the
    // circle document's key of the genesis, like Bo; and the whole of the
    // epoch Bo was added in, which Bo reads.
    assert_eq!(
        owed(20),
        vec![(genesis, KeyClass::Shared), (add, KeyClass::Full)]
    );
    assert_eq!(owed(2), vec![(genesis, KeyClass::Shared)]);
    assert!(owed(1).is_empty());
    assert!(state.holds(&m(20), &linked, KeyClass::Full));
}

#[test]
fn non_members_and_their_descendants_are_rejected() {
    let mut log = Log::new(1);
    let genesis = OpHash(log.circle.0);
    let forged = make(
        Some(log.circle),
        9,
        vec![genesis],
        Action::Add {
            member: m(8),
            recipient: "r8".into(),
            key: key(),
        },
    );
    let child = make(
        Some(log.circle),
        8,
        vec![forged.hash],
        Action::Rekey { key: key() },
    );
    log.ops.push(forged.clone());
    log.ops.push(child.clone());
    let (state, rejected) = Membership::build(log.circle, log.ops.clone());
    assert_eq!(members(&state), vec![1]);
    assert!(rejected.contains(&(forged.hash, OpRejection::AuthorNotMember)));
    assert!(rejected.contains(&(child.hash, OpRejection::InvalidDependency)));
}

#[test]
fn structural_faults_are_rejected_with_reasons() {
    let log = Log::new(1);
    let genesis = OpHash(log.circle.0);
    let second_genesis = make(
        None,
        2,
        vec![],
        Action::Create {
            recipient: "r2".into(),
            nonce: [2; 16],
            key: key(),
        },
    );
    let other_circle = make(Some(CircleId([7; 32])), 1, vec![genesis], Action::Leave);
    let dangling = make(Some(log.circle), 1, vec![OpHash([5; 32])], Action::Leave);
    let self_removal = make(
        Some(log.circle),
        1,
        vec![genesis],
        Action::Remove {
            member: m(1),
            key: key(),
        },
    );
    let mut ops = log.ops.clone();
    ops.extend([
        second_genesis.clone(),
        other_circle.clone(),
        dangling.clone(),
        self_removal.clone(),
    ]);
    let (state, rejected) = Membership::build(log.circle, ops);
    assert_eq!(state.ops().len(), 1);
    assert!(rejected.contains(&(second_genesis.hash, OpRejection::WrongCircle)));
    assert!(rejected.contains(&(other_circle.hash, OpRejection::WrongCircle)));
    assert!(rejected.contains(&(
        dangling.hash,
        OpRejection::MissingDependency(OpHash([5; 32]))
    )));
    assert!(rejected.contains(&(self_removal.hash, OpRejection::SelfRemoval)));

    let (_, rejected) = Membership::build(CircleId([3; 32]), log.ops.clone());
    assert_eq!(rejected, vec![(genesis, OpRejection::WrongCircle)]);

    let mut without_genesis = Log::new(1);
    let add = without_genesis.add(1, 2);
    let (state, rejected) =
        Membership::build(without_genesis.circle, without_genesis.ops[1..].to_vec());
    assert!(state.members().is_empty());
    assert_eq!(rejected, vec![(add, OpRejection::MissingGenesis)]);
}

#[test]
fn leave_forces_a_rekey_and_rekey_restores_a_write_epoch() {
    let mut log = Log::new(1);
    let add = log.add(1, 2);
    let leave = log.push(2, vec![add], Action::Leave);
    let state = log.state();
    assert_eq!(members(&state), vec![1]);
    assert_eq!(state.write_epoch(), None);
    let rekey = log.push(1, vec![leave], Action::Rekey { key: key() });
    assert_eq!(log.state().write_epoch(), Some(rekey));
}

#[test]
fn newcomers_lack_circle_keys_until_shared() {
    let mut log = Log::new(1);
    let genesis = OpHash(log.circle.0);
    let add = log.add(1, 2);
    let state = log.state();
    let missing = state.missing_grants();
    assert_eq!(
        missing.get(&m(2)),
        Some(&vec![KeyGrant {
            epoch: genesis,
            class: KeyClass::Shared
        }])
    );
    assert!(state.holds(&m(2), &add, KeyClass::Full));
    assert!(!state.holds(&m(2), &genesis, KeyClass::Shared));

    log.push(
        1,
        vec![add],
        Action::ShareKeys {
            to: m(2),
            grants: vec![KeyGrant {
                epoch: genesis,
                class: KeyClass::Shared,
            }],
            sealed: vec![],
        },
    );
    let state = log.state();
    assert!(state.missing_grants().is_empty());
    assert!(state.holds(&m(2), &genesis, KeyClass::Shared));
    assert!(!state.holds(&m(2), &genesis, KeyClass::Full));
}

#[test]
fn where_the_founder_chose_history_the_full_secret_is_owed() {
    let mut log = Log::new(1);
    let genesis = OpHash(log.circle.0);
    log.push(1, vec![genesis], Action::Policy { history: true });
    log.add(1, 2);
    let state = log.state();
    assert!(state.history());
    let owed = state.missing_grants();
    assert_eq!(owed.get(&m(2)).map(|g| g[0].class), Some(KeyClass::Full));
}

#[test]
fn only_the_founder_sets_the_history_policy_and_only_at_founding() {
    let mut log = Log::new(1);
    let genesis = OpHash(log.circle.0);
    let add = log.add(1, 2);
    let by_member = make(
        Some(log.circle),
        2,
        vec![add],
        Action::Policy { history: true },
    );
    let later = make(
        Some(log.circle),
        1,
        vec![add],
        Action::Policy { history: true },
    );
    log.ops.extend([by_member.clone(), later.clone()]);
    let (state, rejected) = Membership::build(log.circle, log.ops.clone());
    assert!(!state.history());
    assert!(state
        .missing_grants()
        .values()
        .flatten()
        .all(|g| g.class == KeyClass::Shared));
    for op in [by_member, later] {
        assert!(rejected.contains(&(op.hash, OpRejection::PolicyNotAtFounding)));
    }
    // Two founding policies that disagree: the safe one.
    log.push(1, vec![genesis], Action::Policy { history: true });
    log.push(1, vec![genesis], Action::Policy { history: false });
    let (state, _) = Membership::build(log.circle, log.ops);
    assert!(!state.history());
}

#[test]
fn grants_must_name_known_epochs() {
    let mut log = Log::new(1);
    let add = log.add(1, 2);
    let bad = make(
        Some(log.circle),
        1,
        vec![add],
        Action::ShareKeys {
            to: m(2),
            grants: vec![KeyGrant {
                epoch: OpHash([9; 32]),
                class: KeyClass::Full,
            }],
            sealed: vec![],
        },
    );
    log.ops.push(bad.clone());
    let (_, rejected) = Membership::build(log.circle, log.ops);
    assert_eq!(rejected, vec![(bad.hash, OpRejection::UnknownEpoch)]);
}

#[test]
fn the_write_epoch_at_earlier_heads_is_what_an_author_there_used() {
    let mut log = Log::new(1);
    let genesis = OpHash(log.circle.0);
    let add = log.add(1, 2);
    let state = log.state();
    let early = state.closure(&[genesis]).expect("known");
    let late = state.closure(&[add]).expect("known");
    assert_eq!(state.write_epoch_in(&early), Some(genesis));
    assert_eq!(state.write_epoch_in(&late), Some(add));
    assert_eq!(state.write_epoch(), Some(add));
}

#[test]
fn closures_answer_membership_at_a_point_in_time() {
    let mut log = Log::new(1);
    let genesis = OpHash(log.circle.0);
    let add = log.add(1, 2);
    let state = log.state();
    let early = state.closure(&[genesis]).expect("known");
    let late = state.closure(&[add]).expect("known");
    assert_eq!(state.members_in(&early).len(), 1);
    assert_eq!(state.members_in(&late).len(), 2);
    assert!(state.closure_covers(&late, &early));
    assert!(!state.closure_covers(&early, &late));
    assert!(state.closure_contains(&late, &genesis));
    assert_eq!(state.closure(&[OpHash([4; 32])]), Err(OpHash([4; 32])));
}

/// One step of a random history of three replicas.
#[derive(Clone, Debug)]
enum Step {
    Add {
        replica: usize,
        member: u8,
    },
    Remove {
        replica: usize,
        member_pick: usize,
    },
    Rekey {
        replica: usize,
    },
    Leave {
        replica: usize,
    },
    Sync {
        from: usize,
        to: usize,
    },
    /// The member links a new device.
    Link {
        replica: usize,
    },
    /// The member retires one of its other devices.
    Retire {
        replica: usize,
        pick: usize,
    },
    /// The member adds `member` by one of its linked devices (`Admit`).
    Admit {
        replica: usize,
        member: u8,
    },
    /// The member signs what follows on another of its devices.
    Via {
        replica: usize,
        pick: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 2..7u8).prop_map(|(replica, member)| Step::Add { replica, member }),
        2 => (0..3usize, 0..8usize).prop_map(|(replica, member_pick)| Step::Remove { replica, member_pick }),
        1 => (0..3usize).prop_map(|replica| Step::Rekey { replica }),
        1 => (0..3usize).prop_map(|replica| Step::Leave { replica }),
        4 => (0..3usize, 0..3usize).prop_map(|(from, to)| Step::Sync { from, to }),
        2 => (0..3usize).prop_map(|replica| Step::Link { replica }),
        1 => (0..3usize, 0..4usize).prop_map(|(replica, pick)| Step::Retire { replica, pick }),
        2 => (1..4usize, 0..3usize).prop_map(|(pick, replica)| Step::Via { replica, pick }),
        1 => (0..3usize, 2..7u8).prop_map(|(replica, member)| Step::Admit { replica, member }),
    ]
}

/// Runs `steps` on three replicas that each only write what their local
/// state allows, and returns every operation anyone made.
fn simulate(steps: &[Step]) -> (CircleId, Vec<Op>) {
    let mut founder = Log::new(1);
    let circle = founder.circle;
    // Newcomers see history, so key grants carry full secrets.
    founder.push(1, vec![OpHash(circle.0)], Action::Policy { history: true });
    let mut replicas: Vec<BTreeMap<OpHash, Op>> = vec![BTreeMap::new(); 3];
    for r in &mut replicas {
        for op in &founder.ops {
            r.insert(op.hash, op.clone());
        }
    }
    // Replica i acts as member i + 1 (on the device it picked last, or its
    // first); members 2 and 3 join through steps.
    let mut all: BTreeMap<OpHash, Op> = replicas[0].clone();
    let mut via = [0usize; 3];
    let mut linked = [0u8; 3];
    for step in steps {
        let (replica, action) = match step {
            Step::Sync { from, to } => {
                let ops = replicas[*from].clone();
                replicas[*to].extend(ops);
                // Leaves heard of are cut, as the engine does on receiving.
                let me = m(*to as u8 + 1);
                for cut in leave_cuts(circle, &replicas[*to], &me, via[*to]) {
                    replicas[*to].insert(cut.hash, cut.clone());
                    all.insert(cut.hash, cut);
                }
                continue;
            }
            Step::Via { replica, pick } => {
                via[*replica] = *pick;
                continue;
            }
            Step::Link { replica } => {
                if linked[*replica] >= 9 {
                    continue;
                }
                linked[*replica] += 1;
                let device = 100 + 10 * *replica as u8 + linked[*replica];
                (*replica, link(*replica as u8 + 1, device))
            }
            Step::Retire { replica, pick } => {
                let (state, _) = Membership::build(circle, replicas[*replica].values().cloned());
                let me = m(*replica as u8 + 1);
                let mine: Vec<MemberId> = state.devices_of_member(&me).copied().collect();
                if mine.len() < 2 {
                    continue;
                }
                let device = mine[pick % mine.len()];
                (*replica, Action::RetireDevice { device, key: key() })
            }
            Step::Add { replica, member } => (
                *replica,
                Action::Add {
                    member: m(*member),
                    recipient: format!("r{member}"),
                    key: key(),
                },
            ),
            Step::Remove {
                replica,
                member_pick,
            } => {
                let (state, _) = Membership::build(circle, replicas[*replica].values().cloned());
                let me = m(*replica as u8 + 1);
                let others: Vec<MemberId> = state
                    .members()
                    .iter()
                    .filter(|x| **x != me)
                    .copied()
                    .collect();
                if others.is_empty() {
                    continue;
                }
                let member = others[member_pick % others.len()];
                (*replica, Action::Remove { member, key: key() })
            }
            // Keys apart from the ones an attack links to the removed member
            // (a device never consents to another member's link, which seal
            // checks and these operations do not model).
            Step::Admit { replica, member } => (*replica, admit(*member, 160 + *member)),
            Step::Rekey { replica } => (*replica, Action::Rekey { key: key() }),
            Step::Leave { replica } => (*replica, Action::Leave),
        };
        let (state, _) = Membership::build(circle, replicas[replica].values().cloned());
        let me = m(replica as u8 + 1);
        if !state.is_member(&me) {
            continue;
        }
        if let Some((member, device, _)) = action.newcomer(me) {
            let taken = |key: &MemberId| state.owner(key).is_some_and(|o| o != member);
            if state.is_member(&member) || taken(&member) || taken(&device) {
                continue;
            }
        }
        // A device does not retire itself: it signs on another.
        let retiring = match &action {
            Action::RetireDevice { device, .. } => Some(*device),
            _ => None,
        };
        let mine: Vec<MemberId> = state
            .devices_of_member(&me)
            .filter(|d| Some(**d) != retiring)
            .copied()
            .collect();
        let Some(author) = mine.get(via[replica] % mine.len().max(1)).copied() else {
            continue;
        };
        let mut op = make(Some(circle), 0, state.heads().to_vec(), action);
        op.body.author = author;
        op.hash = OpHash(hash_bytes("test op", format!("{:?}", op.body).as_bytes()));
        // A removal is followed by its cut, as the engine writes it.
        let cut = cut_after(&state, &op);
        for op in [Some(op), cut].into_iter().flatten() {
            replicas[replica].insert(op.hash, op.clone());
            all.insert(op.hash, op);
        }
    }
    (circle, all.into_values().collect())
}

/// The cuts member `me`'s device (the one `via` picks) writes of the
/// leaves of others it holds and has not cut (made-up positions).
fn leave_cuts(circle: CircleId, ops: &BTreeMap<OpHash, Op>, me: &MemberId, via: usize) -> Vec<Op> {
    let (state, _) = Membership::build(circle, ops.values().cloned());
    let mine: Vec<MemberId> = state.devices_of_member(me).copied().collect();
    let Some(author) = mine.get(via % mine.len().max(1)).copied() else {
        return Vec::new();
    };
    state
        .uncut_leaves(me)
        .into_iter()
        .map(|(removal, devices)| {
            let held = devices
                .into_iter()
                .map(|d| (d, u64::from(removal.0[1] % 8)))
                .collect();
            let mut op = make(
                Some(circle),
                0,
                state.heads().to_vec(),
                Action::Cut { removal, held },
            );
            op.body.author = author;
            op.hash = OpHash(hash_bytes("test op", format!("{:?}", op.body).as_bytes()));
            op
        })
        .collect()
}

/// The cut an honest author writes right after `removal` (how far it held
/// each removed device's log, here made up from the removal's hash).
fn cut_after(state: &Membership, removal: &Op) -> Option<Op> {
    let mut devices: Vec<MemberId> = match &removal.body.action {
        Action::Remove { member, .. } => state.devices_of_member(member).copied().collect(),
        Action::RetireDevice { device, .. } => vec![*device],
        _ => return None,
    };
    devices.sort();
    let held = devices
        .into_iter()
        .map(|d| (d, u64::from(removal.hash.0[0] % 8)))
        .collect();
    let action = Action::Cut {
        removal: removal.hash,
        held,
    };
    let mut op = make(Some(state.circle()), 0, vec![removal.hash], action);
    op.body.author = removal.body.author;
    op.hash = OpHash(hash_bytes("test op", format!("{:?}", op.body).as_bytes()));
    Some(op)
}

/// Steps that first bring members 2 and 3 in, then the random part.
fn history() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(step(), 0..40).prop_map(|tail| {
        let mut steps = vec![
            Step::Add {
                replica: 0,
                member: 2,
            },
            Step::Add {
                replica: 0,
                member: 3,
            },
            Step::Sync { from: 0, to: 1 },
            Step::Sync { from: 0, to: 2 },
        ];
        steps.extend(tail);
        steps
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Invariant 5 for membership: the state is a function of the set of
    /// operations, whatever order they are given in.
    #[test]
    fn state_is_independent_of_delivery_order(steps in history(), seed in any::<u64>()) {
        let (circle, ops) = simulate(&steps);
        let (reference, rejected) = Membership::build(circle, ops.clone());
        prop_assert!(rejected.is_empty(), "honest replicas made invalid ops: {:?}", rejected);
        let mut shuffled = ops.clone();
        // Deterministic shuffle from the seed.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        shuffled.extend(ops.iter().take(3).cloned()); // duplicates are harmless
        let (other, rejected) = Membership::build(circle, shuffled);
        prop_assert!(rejected.is_empty());
        prop_assert_eq!(reference.members(), other.members());
        prop_assert_eq!(reference.devices(), other.devices());
        prop_assert_eq!(reference.heads(), other.heads());
        prop_assert_eq!(reference.write_epoch(), other.write_epoch());
        prop_assert_eq!(reference.missing_grants(), other.missing_grants());
        let order_a: Vec<_> = reference.ops().iter().map(|o| o.hash).collect();
        let order_b: Vec<_> = other.ops().iter().map(|o| o.hash).collect();
        prop_assert_eq!(order_a, order_b);
        // Which entries are void is the set's too.
        prop_assert_eq!(reference.cuts_digest(), other.cuts_digest());
        for device in reference.ever_devices() {
            for seq in [0, 3, 8] {
                for heads in [&[][..], reference.heads()] {
                    prop_assert_eq!(
                        reference.voids_entry(&device, seq, heads),
                        other.voids_entry(&device, seq, heads)
                    );
                }
            }
        }
        // Every current device is in the audience of the write epoch, and
        // nothing else is; every device belongs to a current member.
        if let Some(epoch) = reference.write_epoch() {
            let devices: BTreeSet<MemberId> = reference.devices().keys().copied().collect();
            prop_assert_eq!(reference.audience(&epoch), Some(&devices));
        }
        for member in reference.devices().values() {
            prop_assert!(reference.is_member(member));
        }
    }
}

/// One operation a removed member makes after its removal, backdated to
/// heads that do not include the removal.
#[derive(Clone, Debug)]
enum Backdated {
    Add(u8),
    Remove(usize),
    Rekey,
    Leave,
    ShareKeys(usize),
    Policy,
    Link(u8),
    Retire(usize),
    /// An add of another member's device key (public in the log).
    AddDevice(usize),
}

fn backdated() -> impl Strategy<Value = (Backdated, usize)> {
    let kind = prop_oneof![
        (10..60u8).prop_map(Backdated::Add),
        (0..8usize).prop_map(Backdated::Remove),
        Just(Backdated::Rekey),
        Just(Backdated::Leave),
        (0..8usize).prop_map(Backdated::ShareKeys),
        Just(Backdated::Policy),
        (200..250u8).prop_map(Backdated::Link),
        (0..8usize).prop_map(Backdated::Retire),
        (0..8usize).prop_map(Backdated::AddDevice),
    ];
    (kind, any::<usize>())
}

/// Appends `attack` as operations by `removed`, each naming as deps an
/// operation that the removal `removal` did not follow (or an earlier
/// attack operation), and returns their hashes.
fn backdate(
    state: &Membership,
    removal: OpHash,
    removed: MemberId,
    attack: &[(Backdated, usize)],
    ops: &mut Vec<Op>,
) -> Vec<OpHash> {
    let circle = state.circle();
    let mut before: Vec<OpHash> = state
        .ops()
        .iter()
        .filter(|op| {
            let closure = state.closure(&[op.hash]).expect("held");
            op.hash != removal && !state.closure_contains(&closure, &removal)
        })
        .map(|op| op.hash)
        .collect();
    let others: Vec<MemberId> = state.ever_members().into_iter().collect();
    // The removed member signs on any device it ever had.
    let own: Vec<MemberId> = state
        .ops()
        .iter()
        .filter_map(|op| match &op.body.action {
            Action::Device { device, .. } if state.owner(device) == Some(removed) => Some(*device),
            _ => None,
        })
        .chain([removed])
        .collect();
    // Keys that other members' devices came in with.
    let theirs: Vec<MemberId> = state
        .ops()
        .iter()
        .filter_map(|op| match &op.body.action {
            Action::Device { device, .. } => Some(*device),
            Action::Admit { attestation, .. } => Some(attestation.device()),
            _ => None,
        })
        .filter(|device| state.owner(device) != Some(removed))
        .collect();
    let genesis = OpHash(circle.0);
    let mut made = Vec::new();
    for (kind, pick) in attack {
        let action = match kind {
            Backdated::Add(n) => Action::Add {
                member: m(*n),
                recipient: format!("r{n}"),
                key: key(),
            },
            Backdated::Remove(i) => Action::Remove {
                member: others[i % others.len()],
                key: key(),
            },
            Backdated::Rekey => Action::Rekey { key: key() },
            Backdated::Leave => Action::Leave,
            Backdated::Policy => Action::Policy { history: false },
            Backdated::Link(n) => link(removed.0[0], *n),
            Backdated::AddDevice(_) if theirs.is_empty() => continue,
            Backdated::AddDevice(i) => Action::Add {
                member: theirs[i % theirs.len()],
                recipient: "stolen".into(),
                key: key(),
            },
            Backdated::Retire(i) => Action::RetireDevice {
                device: own[i % own.len()],
                key: key(),
            },
            Backdated::ShareKeys(i) => Action::ShareKeys {
                to: others[i % others.len()],
                grants: vec![KeyGrant {
                    epoch: genesis,
                    class: KeyClass::Full,
                }],
                sealed: vec![],
            },
        };
        let dep = before[pick % before.len()];
        let mut op = make(Some(circle), 0, vec![dep], action);
        op.body.author = own[(pick / 7) % own.len()];
        op.hash = OpHash(hash_bytes("test op", format!("{:?}", op.body).as_bytes()));
        if state.contains(&op.hash) {
            continue; // the very operation it made before the removal
        }
        before.push(op.hash);
        made.push(op.hash);
        ops.push(op);
    }
    made
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        max_global_rejects: 100_000,
        ..ProptestConfig::default()
    })]

    /// Strong removal: whatever a removed member signs after a removal by a
    /// more senior member, backdated to any point before it, takes no
    /// effect, in any delivery order.
    #[test]
    fn backdated_operations_by_a_removed_member_take_no_effect(
        steps in history(),
        attack in proptest::collection::vec(backdated(), 1..50),
        seed in any::<u64>(),
    ) {
        let (circle, mut ops) = simulate(&steps);
        let (honest, _) = Membership::build(circle, ops.clone());
        let seniority: Vec<MemberId> = honest
            .ops()
            .iter()
            .filter_map(|op| op.body.action.newcomer(op.body.author))
            .map(|(member, _, _)| member)
            .collect();
        let rank = |x: &MemberId| {
            let member = honest.owner(x).unwrap_or(*x);
            seniority.iter().position(|s| *s == member)
        };
        // An effective removal of a member who is still out, by someone senior.
        let removal = honest.ops().iter().find(|op| match &op.body.action {
            Action::Remove { member, .. } => {
                honest.takes_effect(&op.hash)
                    && !honest.is_member(member)
                    && rank(&op.body.author) < rank(member)
            }
            _ => false,
        });
        prop_assume!(removal.is_some());
        let Some(removal) = removal else { return Ok(()) };
        let Action::Remove { member: removed, .. } = removal.body.action else {
            unreachable!("picked a removal")
        };
        let made = backdate(&honest, removal.hash, removed, &attack, &mut ops);
        let mut s = seed | 1;
        for i in (1..ops.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            ops.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let (attacked, _) = Membership::build(circle, ops);
        prop_assert_eq!(attacked.members(), honest.members());
        prop_assert_eq!(attacked.devices(), honest.devices());
        prop_assert_eq!(attacked.write_epoch(), honest.write_epoch());
        prop_assert_eq!(attacked.missing_grants(), honest.missing_grants());
        for hash in made {
            prop_assert!(!attacked.takes_effect(&hash), "{:?} took effect", hash);
        }
    }
}

mod cut;
