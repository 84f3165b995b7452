//! The membership rules on arbitrary operation graphs (devices linked and
//! retired too): never panic, and the
//! state — strong removal's void operations included — does not depend on
//! the order operations are given in, nor do the entries its cuts void.
#![no_main]
use circlekeep_model::ids::hash_bytes;
use circlekeep_model::membership::{
    Action, EpochKey, KeyClass, KeyGrant, Membership, Op, OpBody, OP_VERSION,
};
use circlekeep_model::{CircleId, MemberId, OpHash};
use libfuzzer_sys::fuzz_target;

fn key() -> EpochKey {
    EpochKey {
        sealed: vec![],
        full_commitment: [0; 32],
        shared_commitment: [0; 32],
    }
}

fn op(circle: Option<CircleId>, author: u8, mut deps: Vec<OpHash>, action: Action) -> Op {
    deps.sort();
    deps.dedup();
    let body = OpBody {
        version: OP_VERSION,
        circle,
        author: MemberId([author; 32]),
        deps,
        action,
    };
    let bytes = postcard::to_stdvec(&body).expect("encode");
    Op {
        hash: OpHash(hash_bytes("fuzz op", &bytes)),
        body,
        signed: bytes,
    }
}

fuzz_target!(|data: &[u8]| {
    let genesis = op(
        None,
        0,
        vec![],
        Action::Create {
            recipient: "r".into(),
            nonce: [0; 16],
            key: key(),
        },
    );
    let circle = CircleId(genesis.hash.0);
    let mut ops = vec![genesis];
    // Four bytes per operation: kind, author, target, which earlier ops it saw.
    for chunk in data.chunks_exact(4).take(64) {
        // Authors 10–15 are devices a member may have linked.
        let (kind, author, target, seen) = (chunk[0], chunk[1] % 16, chunk[2] % 6, chunk[3]);
        let deps: Vec<OpHash> = ops
            .iter()
            .enumerate()
            .filter(|(i, _)| seen & (1 << (i % 8)) != 0 || *i + 1 == ops.len())
            .map(|(_, o)| o.hash)
            .collect();
        let member = MemberId([target; 32]);
        // A cut names the last operation (right after it, if it is a removal).
        let last = ops[ops.len() - 1].hash;
        let deps = if kind % 10 == 8 { vec![last] } else { deps };
        let action = match kind % 10 {
            8 => Action::Cut {
                removal: last,
                held: vec![
                    (member, u64::from(seen % 4)),
                    (MemberId([10 + target; 32]), u64::from(seen >> 6)),
                ],
            },
            6 => Action::Device {
                member: MemberId([author; 32]),
                device: MemberId([10 + target; 32]),
                recipient: "r".into(),
                proof: vec![],
                key: key(),
            },
            7 => Action::RetireDevice {
                device: MemberId([10 + target; 32]),
                key: key(),
            },
            0 => Action::Add {
                member,
                recipient: "r".into(),
                key: key(),
            },
            1 => Action::Remove { member, key: key() },
            2 => Action::Leave,
            3 => Action::Rekey { key: key() },
            4 => Action::ShareKeys {
                to: member,
                grants: vec![KeyGrant {
                    epoch: ops[0].hash,
                    class: KeyClass::Shared,
                }],
                sealed: vec![],
            },
            5 => Action::Policy {
                history: kind & 0x80 != 0,
            },
            _ => Action::Create {
                recipient: "r".into(),
                nonce: [kind; 16],
                key: key(),
            },
        };
        ops.push(op(Some(circle), author, deps, action));
    }
    let (forward, _) = Membership::build(circle, ops.clone());
    ops.reverse();
    let (backward, _) = Membership::build(circle, ops);
    assert_eq!(forward.members(), backward.members());
    assert_eq!(forward.devices(), backward.devices());
    assert_eq!(forward.heads(), backward.heads());
    assert_eq!(forward.write_epoch(), backward.write_epoch());
    assert_eq!(forward.missing_grants(), backward.missing_grants());
    assert_eq!(forward.history(), backward.history());
    let void = |m: &Membership| m.void_ops().map(|o| o.hash).collect::<Vec<_>>();
    assert_eq!(void(&forward), void(&backward));
    assert_eq!(forward.cuts_digest().len(), backward.cuts_digest().len());
    for device in forward.ever_devices() {
        for seq in 0..5 {
            for heads in [&[][..], forward.heads()] {
                assert_eq!(
                    forward.voids_entry(&device, seq, heads),
                    backward.voids_entry(&device, seq, heads)
                );
            }
        }
    }
});
