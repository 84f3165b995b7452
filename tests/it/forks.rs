//! Equivocation (SECURITY.md): a device key copied onto a second computer
//! (a restored backup, or a modified app) signs two different records for
//! one place in its log. Members holding different sides used to stay
//! different without anyone knowing; now every device that meets both
//! sides flags the author, and the proof reaches those that met only one.

use circlekeep_engine::{CircleId, HistoryPolicy, MemberId};
use circlekeep_sync::Replica;
use circlekeep_tests::{circle_of, date, eventually, Peer};
use std::collections::BTreeMap;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(30);

/// Ada's circle with Bo, Cy and Dee, a gathering everyone holds, and a
/// second computer holding Ada's key and all of it; Ada's laptop and the
/// copy then each write a note (two different records at one place).
/// Bo and Dee got the laptop's note, Cy the copy's.
fn forked() -> (Peer, Peer, Peer, Peer, Peer, CircleId, u64) {
    let ada = Peer::new("Ada", 1);
    let (bo, cy, dee) = (Peer::new("Bo", 2), Peer::new("Cy", 3), Peer::new("Dee", 4));
    let circle = circle_of(&ada, &[&bo, &cy, &dee], HistoryPolicy::SinceJoining);
    let gathering = ada
        .new_gathering(circle, date("2026-12-10"))
        .expect("gathering");
    let copy = Peer::new("Ada", 1);
    for peer in [&bo, &cy, &dee, &copy] {
        assert!(ada.send(peer, circle).rejected.is_empty());
    }
    copy.accept_circle(circle)
        .expect("the copy takes its own circle");
    ada.add_note(circle, gathering, "written on the laptop")
        .expect("note");
    copy.add_note(circle, gathering, "written on the restored copy")
        .expect("note");
    let place = heights(&ada, circle)[&ada.identity().device_id()];
    for (from, to) in [(&ada, &bo), (&ada, &dee), (&copy, &cy)] {
        assert!(from.send(to, circle).rejected.is_empty());
    }
    (ada, bo, cy, dee, copy, circle, place)
}

/// What `peer` holds: author → height.
fn heights(peer: &Peer, circle: CircleId) -> BTreeMap<MemberId, u64> {
    Replica::summary(peer.engine().as_ref(), &circle)
        .expect("held")
        .have
}

/// The devices `peer` holds proven forked: (device, place).
fn flagged(peer: &Peer, circle: CircleId) -> Vec<(String, u64)> {
    let view = peer.circle(circle).expect("view");
    view.forks
        .iter()
        .map(|f| (f.device.clone(), f.at))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_writing_on_two_computers_is_flagged_on_every_member_s_device() {
    let (ada, bo, cy, dee, _copy, circle, place) = forked();
    let ada_device = ada.identity().device_id().to_hex();
    // Bo and Cy stand at the same height with different records: nothing
    // in sync's heights tells them apart.
    assert_eq!(heights(&bo, circle), heights(&cy, circle));
    assert!(flagged(&bo, circle).is_empty() && flagged(&cy, circle).is_empty());

    let (bo_node, cy_node) = (bo.node().await, cy.node().await);
    bo_node.add_address(&cy_node.addr());
    cy_node.add_address(&bo_node.addr());
    bo_node.keep_connected();
    cy_node.keep_connected();
    let both = eventually(SETTLE, || {
        flagged(&bo, circle) == [(ada_device.clone(), place)]
            && flagged(&cy, circle) == [(ada_device.clone(), place)]
    })
    .await;
    assert!(
        both,
        "bo {:?}, cy {:?}",
        flagged(&bo, circle),
        flagged(&cy, circle)
    );
    cy_node.shutdown().await;

    // Dee holds the laptop's side, as Bo does: comparing heights shows
    // nothing, so only the proof Bo hands on tells Dee.
    let dee_node = dee.node().await;
    bo_node.add_address(&dee_node.addr());
    dee_node.add_address(&bo_node.addr());
    dee_node.keep_connected();
    let told = eventually(SETTLE, || {
        flagged(&dee, circle) == [(ada_device.clone(), place)]
    })
    .await;
    assert!(told, "dee {:?}", flagged(&dee, circle));
    let view = dee.circle(circle).expect("view");
    assert_eq!(view.forks[0].member.name, "Ada");
    assert!(!view.forks[0].this_device);
    for node in [bo_node, dee_node] {
        node.shutdown().await;
    }
}

#[test]
fn a_bundle_from_the_other_side_flags_the_author_and_survives_a_restart() {
    let (mut ada, bo, cy, _dee, copy, circle, place) = forked();
    let report = cy.send(&bo, circle);
    assert_eq!(
        report.rejected.len(),
        1,
        "the other side's record is refused"
    );
    assert_eq!(report.rejected[0].code, "fork");
    assert_eq!(flagged(&bo, circle).len(), 1);
    // Ada's laptop learns its key is in use elsewhere.
    copy.send(&ada, circle);
    let view = ada.circle(circle).expect("view");
    assert_eq!(view.forks.len(), 1);
    assert!(view.forks[0].this_device);
    assert_eq!(view.forks[0].at, place);
    ada.restart(false);
    assert_eq!(flagged(&ada, circle).len(), 1, "the proof is kept");
}

#[test]
fn records_that_merely_look_alike_flag_nobody() {
    // Same circle, same heights everywhere, one honest log: no flag after
    // every exchange in both directions.
    let (ada, bo) = (Peer::new("Ada", 1), Peer::new("Bo", 2));
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let gathering = ada.new_gathering(circle, date("2026-12-10")).expect("g");
    for i in 0..20 {
        ada.add_note(circle, gathering, &format!("note {i}"))
            .expect("note");
        if i % 3 == 0 {
            ada.send(&bo, circle);
            bo.send(&ada, circle);
        }
    }
    ada.checkpoint().expect("folds its log");
    ada.send(&bo, circle);
    bo.send(&ada, circle);
    assert!(flagged(&ada, circle).is_empty() && flagged(&bo, circle).is_empty());
}
