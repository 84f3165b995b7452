//! Invariant 2, strong removal of content: once a member's removal (or a
//! device's retirement) is known, what the removed devices wrote past the
//! remover's cut is shown on no honest device and passed on by none, unless
//! a current member had already built on it; whatever order the records
//! arrive in, every honest device ends with the same documents.

use circlekeep_engine::{DocId, HistoryPolicy, TextEdit};
use circlekeep_tests::{circle_of, date, readable_notes, seen, Peer};

fn late(notes: &[String]) -> Vec<&String> {
    notes.iter().filter(|n| n.contains("late")).collect()
}

fn append(peer: &Peer, circle: circlekeep_engine::CircleId, g: DocId, note: &str, text: &str) {
    let notes = peer.notes(circle, Some(g)).expect("notes");
    let at = notes[0]
        .notes
        .iter()
        .find(|n| n.id == note)
        .expect("the note")
        .text
        .chars()
        .count();
    let edit = TextEdit {
        position: at,
        delete: 0,
        insert: text.into(),
    };
    peer.edit_note(circle, g, note, &[edit]).expect("typing");
}

/// Ada removes Bo. Bo, not having heard (or pretending so), writes 50
/// notes. Cy takes them before hearing of the removal and shows them until
/// she does; then they are gone on her device, on Ada's, after a restart,
/// and on a newcomer's, who is handed none of them.
#[test]
fn what_a_removed_member_writes_past_the_cut_is_shown_nowhere() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let mut cy = Peer::new("Cy", 3);
    let dee = Peer::new("Dee", 4);
    let circle = circle_of(&ada, &[&bo, &cy], HistoryPolicy::NewcomersSeeHistory);
    let g = ada
        .new_gathering(circle, date("2027-01-07"))
        .expect("gathering");
    ada.send(&bo, circle);
    bo.add_note(circle, g, "Bo, before").expect("note");
    bo.send(&ada, circle);

    let bo_id = ada.find_member(circle, "Bo").expect("member");
    ada.remove_member(circle, bo_id).expect("remove");
    for i in 0..50 {
        bo.add_note(circle, g, &format!("Bo, late {i}"))
            .expect("Bo has not heard");
    }
    bo.send(&cy, circle);
    assert_eq!(
        late(&readable_notes(&cy, circle)).len(),
        50,
        "not heard yet"
    );

    ada.send(&cy, circle);
    bo.send(&ada, circle);
    for (who, peer) in [("Ada", &ada), ("Cy", &cy)] {
        let notes = readable_notes(peer, circle);
        assert!(late(&notes).is_empty(), "on {who}'s device: {notes:?}");
        assert!(
            notes.contains(&"Bo, before".to_owned()),
            "on {who}'s device"
        );
    }
    cy.restart(true);
    assert!(
        late(&readable_notes(&cy, circle)).is_empty(),
        "after a restart"
    );
    cy.restart(false);
    assert!(
        late(&readable_notes(&cy, circle)).is_empty(),
        "from the entries"
    );

    ada.add_member(circle, &dee.card()).expect("add Dee");
    ada.send(&dee, circle);
    dee.accept_circle(circle).expect("accept");
    let from_cy = cy.send(&dee, circle);
    assert_eq!(from_cy.entries_accepted, 0, "Cy passes none of it on");
    let notes = readable_notes(&dee, circle);
    assert!(late(&notes).is_empty(), "{notes:?}");
    assert!(notes.contains(&"Bo, before".to_owned()));
    assert_eq!(seen(&ada, circle).notes, seen(&dee, circle).notes);
}

/// Bo types into Ada's note; Cy, not having heard of Bo's removal, builds
/// on his typing; then Bo writes an aside. Ada saw none of it. Bo's typing
/// stays everywhere (Cy's edit needs it), his aside goes; Ada gets the
/// typing from Cy.
#[test]
fn an_edit_a_current_member_built_on_stays_everywhere() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let cy = Peer::new("Cy", 3);
    let circle = circle_of(&ada, &[&bo, &cy], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2027-01-07"))
        .expect("gathering");
    let plan = ada.add_note(circle, g, "plan").expect("note");
    ada.send(&bo, circle);
    ada.send(&cy, circle);

    let bo_id = ada.find_member(circle, "Bo").expect("member");
    ada.remove_member(circle, bo_id).expect("remove");
    append(&bo, circle, g, &plan, " + Bo's idea");
    bo.send(&cy, circle);
    append(&cy, circle, g, &plan, " + Cy agrees");
    // An edit depends on everything its document held: Bo's aside, taken
    // after Cy typed, is something nobody built on.
    bo.add_note(circle, g, "Bo, late aside").expect("note");
    bo.send(&cy, circle);

    ada.send(&cy, circle);
    cy.send(&ada, circle);
    for (who, peer) in [("Ada", &ada), ("Cy", &cy)] {
        let notes = readable_notes(peer, circle);
        assert_eq!(notes, ["plan + Bo's idea + Cy agrees"], "on {who}'s device");
    }
    assert_eq!(seen(&ada, circle), seen(&cy, circle));
}

/// Bo retires his lost laptop; whoever holds it writes on. Ada takes its
/// notes before she hears of the retirement, then not at all.
#[test]
fn what_a_retired_device_writes_past_its_cut_is_shown_nowhere() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g = bo.new_gathering(circle, date("2027-01-07")).expect("open");
    let laptop = Peer::device_of(&bo, 20);
    assert_eq!(bo.link(&laptop), [circle]);
    bo.send(&laptop, circle);
    bo.send(&ada, circle);
    laptop.add_note(circle, g, "laptop, before").expect("note");
    laptop.send(&bo, circle);

    assert_eq!(
        bo.retire_device(laptop.identity().device_id())
            .expect("retire"),
        1
    );
    laptop
        .add_note(circle, g, "laptop, late")
        .expect("not heard");
    laptop.send(&ada, circle);
    assert_eq!(
        late(&readable_notes(&ada, circle)).len(),
        1,
        "not heard yet"
    );
    bo.send(&ada, circle);
    let notes = readable_notes(&ada, circle);
    assert_eq!(notes, ["laptop, before"], "{notes:?}");
    assert_eq!(seen(&ada, circle), seen(&bo, circle));
}

/// Bo leaves on his desktop; his laptop, not having heard, writes on.
/// Ada and Cy each cut the leave on hearing of it, so what the laptop
/// writes after that is shown on neither device, nor after a restart.
#[test]
fn what_a_leaver_s_device_writes_after_the_others_heard_is_shown_nowhere() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let mut cy = Peer::new("Cy", 3);
    let circle = circle_of(&ada, &[&bo, &cy], HistoryPolicy::NewcomersSeeHistory);
    let g = ada
        .new_gathering(circle, date("2027-01-07"))
        .expect("gathering");
    ada.send(&bo, circle);
    let laptop = Peer::device_of(&bo, 20);
    assert_eq!(bo.link(&laptop), [circle]);
    bo.send(&laptop, circle);
    laptop.add_note(circle, g, "laptop, before").expect("note");
    laptop.send(&bo, circle);
    bo.send(&ada, circle);
    ada.send(&cy, circle);

    bo.leave_circle(circle).expect("leave");
    bo.send(&ada, circle);
    ada.send(&cy, circle);
    for i in 0..3 {
        laptop
            .add_note(circle, g, &format!("laptop, late {i}"))
            .expect("the laptop has not heard");
    }
    laptop.send(&ada, circle);
    laptop.send(&cy, circle);
    for (who, peer) in [("Ada", &ada), ("Cy", &cy)] {
        let notes = readable_notes(peer, circle);
        assert!(late(&notes).is_empty(), "on {who}'s device: {notes:?}");
        assert!(
            notes.contains(&"laptop, before".to_owned()),
            "on {who}'s device: {notes:?}"
        );
    }
    cy.restart(false);
    assert!(
        late(&readable_notes(&cy, circle)).is_empty(),
        "from the entries"
    );
    assert_eq!(seen(&ada, circle), seen(&cy, circle));
}

/// The records of a removal contest (Ada's removal of Bo with its cut,
/// Bo's late notes and typing, Cy's edit on Bo's typing) reach six
/// members' devices in every order of the three senders' bundles: all six
/// end with the same members and documents, and none shows a late note.
#[test]
fn every_delivery_order_gives_the_same_documents() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let cy = Peer::new("Cy", 3);
    let observers: Vec<Peer> = (0..6)
        .map(|i| Peer::new(&format!("Eve{i}"), 10 + i))
        .collect();
    let mut everyone: Vec<&Peer> = vec![&bo, &cy];
    everyone.extend(observers.iter());
    let circle = circle_of(&ada, &everyone, HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2027-01-07"))
        .expect("gathering");
    let plan = ada.add_note(circle, g, "plan").expect("note");
    ada.send(&bo, circle);
    ada.send(&cy, circle);
    bo.add_note(circle, g, "Bo, before").expect("note");
    bo.send(&ada, circle);

    let bo_id = ada.find_member(circle, "Bo").expect("member");
    ada.remove_member(circle, bo_id).expect("remove");
    append(&bo, circle, g, &plan, " + Bo's idea");
    bo.send(&cy, circle);
    append(&cy, circle, g, &plan, " + Cy agrees");
    bo.add_note(circle, g, "Bo, late one").expect("note");
    bo.add_note(circle, g, "Bo, late two").expect("note");
    bo.send(&cy, circle);
    ada.send(&cy, circle);

    let senders = [&ada, &bo, &cy];
    let bundles: Vec<Vec<u8>> = senders
        .iter()
        .map(|p| p.engine().export_bundle(circle, None).expect("export"))
        .collect();
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for (observer, order) in observers.iter().zip(orders) {
        for i in order {
            observer
                .engine()
                .import_bundle(&bundles[i])
                .expect("import");
        }
    }
    let reference = seen(&observers[0], circle);
    for (observer, order) in observers.iter().zip(orders) {
        assert_eq!(seen(observer, circle), reference, "order {order:?}");
        let notes = readable_notes(observer, circle);
        assert!(late(&notes).is_empty(), "order {order:?}: {notes:?}");
    }
    assert!(
        readable_notes(&observers[0], circle).contains(&"plan + Bo's idea + Cy agrees".to_owned())
    );
    assert_eq!(seen(&cy, circle).notes, reference.notes);
}
