//! Invariant 1: no plaintext at rest — a copy of the data folder (or a
//! bundle file) reveals nothing of what circles wrote.

use circlekeep_engine::{EngineError, HistoryPolicy, Home, SecretString};
use circlekeep_tests::{circle_of, files_containing, readable_notes, Peer};

const MARKERS: [&str; 6] = [
    "NOTE-MARKER-91c2-what-is-said-here",
    "GOAL-MARKER-5d1e",
    "CONTRACT-MARKER-0a7b",
    "CIRCLE-NAME-MARKER-77f3",
    "Ada-Name-Marker-e4",
    "Bo-Name-Marker-c9",
];

#[test]
fn marker_strings_never_appear_in_any_file_at_rest() {
    let mut ada = Peer::new(MARKERS[4], 1);
    let mut bo = Peer::new(MARKERS[5], 2);
    let circle = ada
        .create_circle(MARKERS[3], HistoryPolicy::SinceJoining)
        .expect("create");
    ada.add_member(circle, &bo.card()).expect("add");
    let gathering = ada
        .new_gathering(circle, "2026-11-26".parse().expect("date"))
        .expect("gathering");
    ada.add_note(circle, gathering, MARKERS[0]).expect("note");
    let goal = ada.add_goal(circle, MARKERS[1]).expect("goal");
    ada.add_contract(circle, MARKERS[2], Some(&goal), Some(gathering))
        .expect("contract");

    let bundle_dir = tempfile::tempdir().expect("tempdir");
    let bundle_file = bundle_dir.path().join("circle.ckb");
    std::fs::write(
        &bundle_file,
        ada.export_bundle(circle, None).expect("export"),
    )
    .expect("write");
    let report = bo
        .import_bundle(&std::fs::read(&bundle_file).expect("read"))
        .expect("import");
    assert!(report.rejected.is_empty());

    // Not vacuous: both devices read everything in memory.
    for peer in [&ada, &bo] {
        assert_eq!(readable_notes(peer, circle), vec![MARKERS[0].to_owned()]);
        let view = peer.circle(circle).expect("view");
        assert_eq!(view.name, MARKERS[3]);
        assert_eq!(view.goals[0].text, MARKERS[1]);
        assert_eq!(view.contracts[0].text, MARKERS[2]);
        assert!(view.members.iter().any(|m| m.name == MARKERS[5]));
    }

    // Everything is on disk: caches written, engines restarted from disk.
    ada.restart(true);
    bo.restart(true);
    assert_eq!(readable_notes(&bo, circle), vec![MARKERS[0].to_owned()]);

    for marker in MARKERS {
        for place in [ada.dir(), bo.dir(), bundle_dir.path()] {
            let hits = files_containing(place, marker);
            assert!(hits.is_empty(), "{marker:?} found in plaintext in {hits:?}");
        }
    }
    // The default charter is circle content too.
    assert!(files_containing(ada.dir(), "stays in the circle").is_empty());
}

#[test]
fn a_wrong_passphrase_is_refused_and_the_key_file_is_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path().join("home"));
    let right = SecretString::from("correct horse battery".to_owned());
    let wrong = SecretString::from("correct horse battery!".to_owned());
    let created = circlekeep_engine::Engine::init(&home, "Ada", &right, 10).expect("init");
    let member = created.identity().member_id();
    drop(created);
    let before = std::fs::read(home.identity_file()).expect("key file");

    let refused = circlekeep_engine::Engine::open(&home, &wrong)
        .err()
        .expect("refused");
    assert_eq!(refused.code(), "wrong_passphrase");
    assert!(matches!(refused, EngineError::KeyFile(_)));
    assert_eq!(
        std::fs::read(home.identity_file()).expect("key file"),
        before
    );

    let again = circlekeep_engine::Engine::init(&home, "Ada", &right, 10)
        .err()
        .expect("exists");
    assert_eq!(again.code(), "already_initialized");

    let opened = circlekeep_engine::Engine::open(&home, &right).expect("right passphrase");
    assert_eq!(opened.identity().member_id(), member);
    // The name is inside the sealed key file only.
    assert!(files_containing(home.root(), "Ada").is_empty());
}

#[test]
fn bundles_reveal_no_content_to_a_non_member_holding_them() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let eve = Peer::new("Eve", 3);
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let gathering = ada
        .new_gathering(circle, "2026-11-26".parse().expect("date"))
        .expect("gathering");
    ada.add_note(circle, gathering, "private matter")
        .expect("note");
    let bundle = ada.export_bundle(circle, None).expect("export");
    // Eve, not invited, cannot take the circle in.
    let refused = eve.import_bundle(&bundle).expect_err("refused");
    assert_eq!(refused.code(), "not_invited");
    assert!(eve.circles().expect("circles").is_empty());
    assert!(!bundle.windows(7).any(|w| w == b"private"));
}
