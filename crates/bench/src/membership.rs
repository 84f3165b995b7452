//! Membership logs of many operations, built from scratch as a device does
//! on every batch of operations it takes in: a founder's chain of re-keys
//! (every operation valid) and a flood of operations that all depend on
//! one nobody holds or were refused (what a hostile member can send).

use crate::report::Figure;
use circlekeep_model::ids::hash_bytes;
use circlekeep_model::membership::{Action, EpochKey, Membership, Op, OpBody, OP_VERSION};
use circlekeep_model::{CircleId, MemberId, OpHash};
use std::time::{Duration, Instant};

fn op(circle: Option<CircleId>, deps: Vec<OpHash>, action: Action, n: u64) -> Op {
    let body = OpBody {
        version: OP_VERSION,
        circle,
        author: MemberId([1; 32]),
        deps,
        action,
    };
    Op {
        hash: OpHash(hash_bytes("bench op", &n.to_be_bytes())),
        body,
        signed: Vec::new(),
    }
}

fn key() -> EpochKey {
    EpochKey {
        sealed: Vec::new(),
        full_commitment: [0; 32],
        shared_commitment: [0; 32],
    }
}

/// The genesis and `n` operations after it, each on the one before, all
/// `action`.
fn chain(n: u64, action: impl Fn() -> Action) -> (CircleId, Vec<Op>) {
    let genesis = op(
        None,
        Vec::new(),
        Action::Create {
            recipient: "r".into(),
            nonce: [1; 16],
            key: key(),
        },
        0,
    );
    let circle = CircleId(genesis.hash.0);
    let mut ops = vec![genesis];
    for i in 1..=n {
        let prev = ops[ops.len() - 1].hash;
        ops.push(op(Some(circle), vec![prev], action(), i));
    }
    (circle, ops)
}

fn time_build(circle: CircleId, ops: &[Op]) -> (Duration, usize) {
    let started = Instant::now();
    let (state, _) = Membership::build(circle, ops.to_vec());
    (started.elapsed(), state.ops().len())
}

/// Build times for chains of valid re-keys and of refused operations.
pub fn rebuild(quick: bool) -> Vec<Figure> {
    let sizes: &[u64] = if quick {
        &[1_000, 2_000]
    } else {
        &[1_000, 4_000]
    };
    let mut figures = Vec::new();
    for &n in sizes {
        let (circle, ops) = chain(n, || Action::Rekey { key: key() });
        let (took, held) = time_build(circle, &ops);
        figures.push(Figure::plain(
            &format!("membership rebuild, {n} valid re-keys ({held} held)"),
            took.as_secs_f64() * 1e3,
            "ms",
        ));
    }
    // A policy only the founder may set once: every later one is refused,
    // and so is everything on it.
    let flood = if quick { 20_000 } else { 100_000 };
    let (circle, ops) = chain(flood, || Action::Policy { history: true });
    let (took, _) = time_build(circle, &ops);
    figures.push(Figure::bounded(
        &format!("membership rebuild, {flood} refused operations"),
        took.as_secs_f64() * 1e3,
        "ms",
        1_000.0,
    ));
    figures
}
