//! Folds: an author's long run of typing reaches a member catching up as a
//! few folds rather than one entry per batch of keystrokes. Invariant 5
//! (the same documents, whoever held part of the run), 2 (a fold never
//! carries content past an epoch change) and 3 (the author's next entries
//! chain on; hostile folds are in `rejection.rs`), over bundles and iroh.

use circlekeep_engine::bundle::Bundle;
use circlekeep_engine::{CircleId, DocId, HistoryPolicy, TextEdit, FOLD_MIN_ENTRIES};
use circlekeep_seal::signed::verify_entry;
use circlekeep_tests::{circle_of, date, eventually, seen, Peer};
use std::time::Duration;

/// `peer` types `batches` batches of a few keystrokes at the end of
/// `note`, each batch one entry (as the app sends them while typing).
fn type_batches(peer: &Peer, circle: CircleId, g: DocId, note: &str, batches: usize) {
    for i in 0..batches {
        let at = text_of(peer, circle, g, note).encode_utf16().count();
        let edits: Vec<TextEdit> = format!(" w{i}")
            .chars()
            .enumerate()
            .map(|(k, c)| TextEdit {
                position: at + k,
                delete: 0,
                insert: c.to_string(),
            })
            .collect();
        peer.edit_note(circle, g, note, &edits).expect("typing");
    }
}

/// The text of `note`.
fn text_of(peer: &Peer, circle: CircleId, g: DocId, note: &str) -> String {
    peer.notes(circle, Some(g))
        .expect("notes")
        .into_iter()
        .flat_map(|n| n.notes)
        .find(|n| n.id == note)
        .map(|n| n.text)
        .unwrap_or_default()
}

/// The text of the gathering's first note ("" if it cannot be read).
fn note_text(peer: &Peer, circle: CircleId, g: DocId) -> String {
    peer.notes(circle, Some(g))
        .expect("notes")
        .first()
        .and_then(|n| n.notes.first().map(|n| n.text.clone()))
        .unwrap_or_default()
}

/// How many records of `author` a bundle of everything `from` holds carries,
/// and how many of them are folds.
fn records_of(from: &Peer, circle: CircleId, author: &Peer) -> (usize, usize) {
    let bundle =
        Bundle::decode(&from.export_bundle(circle, None).expect("export")).expect("decode");
    let id = author.identity().member_id();
    let mine: Vec<_> = bundle
        .entries
        .iter()
        .map(|e| verify_entry(e).expect("valid"))
        .filter(|e| e.body.author == id)
        .collect();
    let folds = mine.iter().filter(|e| e.body.fold.is_some()).count();
    (mine.len(), folds)
}

fn send_clean(from: &Peer, to: &Peer, circle: CircleId) {
    let report = from.send(to, circle);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
}

#[test]
fn a_long_run_reaches_a_latecomer_as_folds_and_the_log_goes_on() {
    let (ada, bo) = (Peer::new("Ada", 1), Peer::new("Bo", 2));
    let (mut cy, mut dan) = (Peer::new("Cy", 3), Peer::new("Dan", 4));
    let circle = circle_of(&ada, &[&bo, &cy, &dan], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    let note = ada.add_note(circle, g, "Minutes:").expect("note");
    // Bo sees the first half of the typing entry by entry, as it happened.
    type_batches(&ada, circle, g, &note, 150);
    send_clean(&ada, &bo, circle);
    type_batches(&ada, circle, g, &note, 150);
    // Bo also types into the note: his changes are concurrent with Ada's.
    let bo_note = bo.add_note(circle, g, "Bo's aside").expect("note");
    type_batches(&bo, circle, g, &bo_note, 40);

    // Folds are made when the device writes its caches.
    ada.checkpoint().expect("checkpoint");
    bo.checkpoint().expect("checkpoint");
    assert!(!ada.own_folds(circle).expect("folds").is_empty());
    let (ada_records, ada_folds) = records_of(&ada, circle, &ada);
    assert!(ada_folds >= 1);
    assert!(
        ada_records < 20,
        "Ada's 300-odd entries travel as {ada_records} records"
    );

    // Cy, who was away, takes everything from Ada and from Bo.
    send_clean(&ada, &cy, circle);
    send_clean(&bo, &cy, circle);
    send_clean(&bo, &ada, circle);
    assert_eq!(seen(&cy, circle), seen(&ada, circle));
    // Cy holds Ada's run as folds, and passes them on as they are.
    let (cy_records, _) = records_of(&cy, circle, &ada);
    assert!(cy_records < 20, "{cy_records}");

    // Bo, holding the first half entry by entry, takes the rest from Cy's
    // folds, which overlap what he has.
    send_clean(&cy, &bo, circle);
    assert_eq!(seen(&bo, circle), seen(&ada, circle));

    // Ada's next entries chain onto the folds Cy holds.
    type_batches(&ada, circle, g, &note, 5);
    ada.add_goal(circle, "Write less, say more").expect("goal");
    send_clean(&ada, &cy, circle);
    assert_eq!(seen(&cy, circle), seen(&ada, circle));

    // What Cy holds reloads the same, from the cache or from the records.
    let before = seen(&cy, circle);
    cy.restart(true);
    assert_eq!(seen(&cy, circle), before);
    cy.restart(false);
    assert_eq!(seen(&cy, circle), before);
    // ... and Cy can hand it all on.
    send_clean(&cy, &dan, circle);
    assert_eq!(seen(&dan, circle), before);
    dan.restart(false);
    assert_eq!(seen(&dan, circle), before);
}

#[test]
fn a_fold_never_carries_content_past_an_epoch_change() {
    let (ada, bo, cy) = (Peer::new("Ada", 1), Peer::new("Bo", 2), Peer::new("Cy", 3));
    let circle = circle_of(&ada, &[&bo, &cy], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    let note = ada.add_note(circle, g, "Minutes:").expect("note");
    let runs = usize::try_from(FOLD_MIN_ENTRIES).expect("small") * 2;
    type_batches(&ada, circle, g, &note, runs);
    let before_removal = note_text(&ada, circle, g);
    let cy_id = ada.find_member(circle, "Cy").expect("member");
    ada.remove_member(circle, cy_id).expect("remove");
    // The same note, the same run of typing, now under the next epoch.
    type_batches(&ada, circle, g, &note, runs);
    ada.checkpoint().expect("checkpoint");
    assert!(ada.own_folds(circle).expect("folds").len() >= 2);

    // Cy, removed, still receives everything, and reads only what was
    // sealed to it.
    send_clean(&ada, &cy, circle);
    assert_eq!(note_text(&cy, circle, g), before_removal);
    send_clean(&ada, &bo, circle);
    assert_eq!(note_text(&bo, circle, g), note_text(&ada, circle, g));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_catches_up_on_folds_over_the_network_then_follows_live() {
    let (ada, bo) = (Peer::new("Ada", 1), Peer::new("Bo", 2));
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    let note = ada.add_note(circle, g, "Minutes:").expect("note");
    // Bo holds the start of the run: the fold covering it still serves him.
    send_clean(&ada, &bo, circle);
    type_batches(&ada, circle, g, &note, 200);
    ada.checkpoint().expect("checkpoint");

    let ada_node = ada.node().await;
    let bo_node = bo.node().await;
    bo_node.add_address(&ada_node.addr());
    let report = bo_node.sync_once(Duration::from_secs(20)).await;
    assert_eq!(report.synced, vec![ada.identity().member_id().to_hex()]);
    assert_eq!(seen(&bo, circle), seen(&ada, circle));
    let (bo_records, bo_folds) = records_of(&bo, circle, &ada);
    assert!(bo_folds >= 1 && bo_records < 20, "{bo_records} records");

    // Connected, Ada's typing reaches Bo entry by entry, chained onto the fold.
    ada_node.add_address(&bo_node.addr());
    ada_node.keep_connected();
    bo_node.keep_connected();
    type_batches(&ada, circle, g, &note, 10);
    let caught_up = eventually(Duration::from_secs(30), || {
        note_text(&bo, circle, g) == note_text(&ada, circle, g)
    })
    .await;
    assert!(caught_up, "live entries after the fold arrive");
    assert!(bo.rejections(circle).expect("log").is_empty());
    bo_node.shutdown().await;
    ada_node.shutdown().await;
}
