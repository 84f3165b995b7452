//! Invariants 3 and 6: tampered, forged, replayed and truncated entries and
//! bundles are rejected with typed reasons, never applied, and leave what
//! the receiver had intact — in memory and on disk.

use circlekeep_engine::bundle::{Bundle, BundleError};
use circlekeep_engine::testing::{change_automerge_fails_on, change_declaring_ops, run_of, Craft};
use circlekeep_engine::{CircleId, DocId, EngineError, HistoryPolicy, TextEdit};
use circlekeep_model::entry::Fold;
use circlekeep_model::{EntryHash, OpHash};
use circlekeep_seal::signed::{forge_entry, verify_entry};
use circlekeep_seal::DeviceIdentity;
use circlekeep_tests::{circle_of, seen, Peer, Seen};

/// Ada and Bo share a circle with a gathering, a note each and a goal;
/// Bo has everything Ada has.
fn setup() -> (Peer, Peer, CircleId, DocId) {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, "2026-11-26".parse().expect("date"))
        .expect("gathering");
    ada.add_note(circle, g, "Ada's note").expect("note");
    ada.add_goal(circle, "Ada's goal").expect("goal");
    ada.send(&bo, circle);
    bo.add_note(circle, g, "Bo's note").expect("note");
    bo.send(&ada, circle);
    (ada, bo, circle, g)
}

/// `peer` still shows `before`, also after restarting from disk.
fn assert_intact(peer: &mut Peer, circle: CircleId, before: &Seen) {
    assert_eq!(&seen(peer, circle), before);
    peer.restart(false);
    assert_eq!(&seen(peer, circle), before);
}

fn bundle_of(peer: &Peer, circle: CircleId) -> Bundle {
    Bundle::decode(&peer.export_bundle(circle, None).expect("export")).expect("decode")
}

fn import_with_extra(peer: &Peer, circle: CircleId, from: &Peer, extra: Vec<u8>) -> Vec<String> {
    let mut bundle = bundle_of(from, circle);
    bundle.entries.push(extra);
    let report = peer.import_bundle(&bundle.encode()).expect("import");
    report.rejected.into_iter().map(|r| r.code).collect()
}

/// Codes of what `peer` refused of `extra` alone (with `from`'s operations).
fn import_only(peer: &Peer, circle: CircleId, from: &Peer, extra: Vec<u8>) -> Vec<String> {
    let mut bundle = bundle_of(from, circle);
    bundle.entries = vec![extra];
    let report = peer.import_bundle(&bundle.encode()).expect("import");
    report.rejected.into_iter().map(|r| r.code).collect()
}

/// A valid entry of `bo`'s to `doc`, decoded (to forge others from).
fn honest_entry(bo: &Peer, circle: CircleId, doc: DocId) -> circlekeep_model::entry::Entry {
    let signed = bo
        .craft_entry(
            circle,
            Craft {
                doc,
                ..Craft::default()
            },
        )
        .expect("craft");
    verify_entry(&signed).expect("valid")
}

#[test]
fn tampered_entries_are_rejected() {
    let (mut ada, bo, circle, _) = setup();
    let before = seen(&ada, circle);
    let mut bundle = bundle_of(&bo, circle);
    for entry in &mut bundle.entries {
        let last = entry.len() - 40;
        entry[last] ^= 0x55;
    }
    let report = ada.import_bundle(&bundle.encode()).expect("import");
    assert_eq!(report.entries_accepted, 0);
    assert!(!report.rejected.is_empty());
    assert!(
        report.rejected.iter().all(|r| r.code == "bad_signature"),
        "{:?}",
        report.rejected
    );
    assert!(
        !ada.rejections(circle).expect("log").is_empty(),
        "rejections are recorded"
    );
    assert_intact(&mut ada, circle, &before);
}

#[test]
fn forged_and_non_member_entries_are_rejected() {
    let (mut ada, bo, circle, g) = setup();
    let before = seen(&ada, circle);
    let honest = honest_entry(&bo, circle, g);
    let eve = DeviceIdentity::from_seed("Eve", [9; 32]).expect("identity");

    // Eve signs a body that claims Bo wrote it.
    let claims_bo = forge_entry(&eve, &honest.body);
    assert_eq!(
        import_with_extra(&ada, circle, &bo, claims_bo),
        vec!["bad_signature"]
    );

    // Eve signs an entry as herself.
    let mut as_eve = honest.body.clone();
    as_eve.author = eve.member_id();
    as_eve.seq = 1;
    as_eve.prev = None;
    let own = forge_entry(&eve, &as_eve);
    assert_eq!(
        import_with_extra(&ada, circle, &bo, own),
        vec!["not_a_member"]
    );
    assert_intact(&mut ada, circle, &before);
}

#[test]
fn changes_not_made_by_the_signer_are_rejected() {
    let (mut ada, bo, circle, _) = setup();
    let before = seen(&ada, circle);
    // Bo wraps Ada's own Automerge changes in an entry signed by Bo.
    let adas_changes = ada.raw_changes(circle, DocId::CIRCLE).expect("changes");
    let adas_first = adas_changes.into_iter().take(1).collect::<Vec<_>>();
    let crafted = bo
        .craft_entry(
            circle,
            Craft {
                changes: adas_first,
                ..Craft::default()
            },
        )
        .expect("craft");
    assert_eq!(
        import_with_extra(&ada, circle, &bo, crafted),
        vec!["actor_mismatch"]
    );
    assert_intact(&mut ada, circle, &before);
}

#[test]
fn bad_payloads_are_rejected() {
    let (mut ada, bo, circle, g) = setup();
    let before = seen(&ada, circle);
    let mine = bo.raw_changes(circle, g).expect("changes");
    let cases: Vec<(Craft, &str)> = vec![
        (
            Craft {
                payload: Some(b"age-encryption.org/v1 but not really".to_vec()),
                ..Craft::default()
            },
            "undecryptable",
        ),
        (
            Craft {
                payload: Some(circlekeep_seal::content::seal(
                    &circlekeep_seal::SymmetricKey::from_bytes([7; 32]),
                    b"sealed under a key nobody was given",
                )),
                ..Craft::default()
            },
            "undecryptable",
        ),
        (
            Craft {
                raw_plaintext: Some(vec![0xff; 40]),
                ..Craft::default()
            },
            "malformed_payload",
        ),
        (
            Craft {
                doc: g,
                changes: mine.clone(),
                wrong_key_class: true,
                ..Craft::default()
            },
            "wrong_key_class",
        ),
        (
            Craft {
                doc: g,
                changes: vec![b"not an automerge change".to_vec()],
                ..Craft::default()
            },
            "bad_change",
        ),
        (
            Craft {
                doc: g,
                changes: mine.clone(),
                epoch: Some(OpHash([3; 32])),
                ..Craft::default()
            },
            "bad_epoch",
        ),
    ];
    for (craft, code) in cases {
        let crafted = bo.craft_entry(circle, craft).expect("craft");
        assert_eq!(import_with_extra(&ada, circle, &bo, crafted), vec![code]);
    }
    assert_intact(&mut ada, circle, &before);
}

#[test]
fn forks_and_broken_chains_are_rejected() {
    let (mut ada, bo, circle, g) = setup();
    let before = seen(&ada, circle);
    // A different entry at a position Bo already used.
    let fork = bo
        .craft_entry(
            circle,
            Craft {
                doc: g,
                seq: Some(1),
                prev: Some(None),
                ..Craft::default()
            },
        )
        .expect("craft");
    assert_eq!(import_with_extra(&ada, circle, &bo, fork), vec!["fork"]);
    // The next position, but not chained onto Bo's last entry.
    let unchained = bo
        .craft_entry(
            circle,
            Craft {
                doc: g,
                prev: Some(None),
                ..Craft::default()
            },
        )
        .expect("craft");
    assert_eq!(
        import_with_extra(&ada, circle, &bo, unchained),
        vec!["broken_chain"]
    );
    assert_intact(&mut ada, circle, &before);
}

#[test]
fn replays_are_harmless_or_rejected() {
    let (mut ada, bo, circle, _) = setup();
    let before = seen(&ada, circle);
    // The same bundle again: everything is already held, nothing changes.
    let again = bo.export_bundle(circle, None).expect("export");
    for _ in 0..2 {
        let report = ada.import_bundle(&again).expect("import");
        assert_eq!(report.entries_accepted, 0);
        assert_eq!(report.ops_accepted, 0);
        assert!(report.rejected.is_empty());
        assert!(report.duplicates > 0);
    }
    // An entry from another circle of Bo's, replayed into this one.
    let other = bo
        .create_circle("Bo's other circle", HistoryPolicy::SinceJoining)
        .expect("create");
    let foreign = bundle_of(&bo, other).entries.remove(0);
    assert_eq!(
        import_with_extra(&ada, circle, &bo, foreign),
        vec!["wrong_circle"]
    );
    assert_intact(&mut ada, circle, &before);
}

#[test]
fn truncated_and_gapped_bundles_are_rejected() {
    let (ada, mut bo, circle, g) = setup();
    for i in 0..3 {
        ada.add_note(circle, g, &format!("later note {i}"))
            .expect("note");
    }
    let before = seen(&bo, circle);
    let bytes = ada.export_bundle(circle, None).expect("export");
    for cut in [0, 10, bytes.len() / 3, bytes.len() - 1] {
        let err = bo.import_bundle(&bytes[..cut]).expect_err("refused");
        assert!(matches!(err, EngineError::Bundle(_)), "{err}");
        assert_eq!(err.code(), "bad_bundle");
    }
    assert!(matches!(
        bo.import_bundle(b"GIF89a...").err(),
        Some(EngineError::Bundle(BundleError::NotABundle))
    ));
    assert_intact(&mut bo, circle, &before);

    // Drop one of Ada's entries from the middle: what follows is refused as a gap.
    let mut bundle = Bundle::decode(&bytes).expect("decode");
    let ada_id = ada.identity().member_id();
    let ada_entries: Vec<usize> = bundle
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| verify_entry(e).is_ok_and(|e| e.body.author == ada_id))
        .map(|(i, _)| i)
        .collect();
    let drop_at = ada_entries[ada_entries.len() - 2];
    bundle.entries.remove(drop_at);
    let report = bo.import_bundle(&bundle.encode()).expect("import");
    // The entry before the hole goes in; the one after it is refused.
    assert_eq!(report.entries_accepted, 1, "{report:?}");
    assert_eq!(
        report
            .rejected
            .iter()
            .map(|r| r.code.as_str())
            .collect::<Vec<_>>(),
        vec!["gap"]
    );
    // Early is not at fault: it is not kept among the circle's refusals
    // (which the app flags), so a reordering network raises no alarm.
    let kept = bo.rejections(circle).expect("rejections");
    assert!(kept.iter().all(|r| r.rejection.code != "gap"), "{kept:?}");
    // Whole again, the rest goes in.
    let report = bo.import_bundle(&bytes).expect("import");
    assert!(report.rejected.is_empty());
    assert_eq!(report.entries_accepted, 2);
}

#[test]
fn garbage_records_never_panic() {
    let (ada, bo, circle, _) = setup();
    let mut bundle = bundle_of(&bo, circle);
    bundle.ops.push(vec![0xde, 0xad]);
    bundle.entries.push(vec![]);
    bundle.entries.push(vec![0x01; 5000]);
    let report = ada.import_bundle(&bundle.encode()).expect("import");
    assert_eq!(report.rejected.len(), 3);
    assert!(
        report.rejected.iter().all(|r| r.code == "malformed"),
        "{:?}",
        report.rejected
    );
}

#[test]
fn content_sealed_under_a_stale_epoch_is_rejected() {
    let (ada, mut bo, circle, g) = setup();
    let before = seen(&bo, circle);
    // Ada holds the founding epoch's key, but Bo has joined since: content
    // sealed under it now would reach an audience that has changed.
    let genesis = OpHash(*circle.as_bytes());
    let changes = ada.raw_changes(circle, g).expect("changes");
    let stale = ada
        .craft_entry(
            circle,
            Craft {
                doc: g,
                changes,
                epoch: Some(genesis),
                ..Craft::default()
            },
        )
        .expect("craft");
    assert_eq!(
        import_with_extra(&bo, circle, &ada, stale),
        vec!["bad_epoch"]
    );
    assert_intact(&mut bo, circle, &before);
}

#[test]
fn hostile_folds_are_rejected_and_a_lying_one_is_caught_at_the_next_entry() {
    let (mut ada, bo, circle, g) = setup();
    let before = seen(&ada, circle);
    let bo_id = bo.identity().member_id();
    let note = bo.notes(circle, Some(g)).expect("notes")[0]
        .notes
        .iter()
        .find(|n| n.text == "Bo's note")
        .expect("Bo's note")
        .id
        .clone();
    let type_word = |word: &str| {
        let text = bo.notes(circle, Some(g)).expect("notes")[0]
            .notes
            .iter()
            .find(|n| n.id == note)
            .expect("note")
            .text
            .clone();
        bo.edit_note(
            circle,
            g,
            &note,
            &[TextEdit {
                position: text.encode_utf16().count(),
                delete: 0,
                insert: word.into(),
            }],
        )
        .expect("typing");
    };
    // Bo types three batches Ada has not seen: his entries 2 to 4.
    for word in [" one", " two", " three"] {
        type_word(word);
    }
    let entry_hash = |seq: u64| {
        bundle_of(&bo, circle)
            .entries
            .iter()
            .map(|e| verify_entry(e).expect("valid"))
            .find(|e| e.body.author == bo_id && e.body.seq == seq)
            .expect("entry")
            .hash
    };
    let bos = run_of(&bo.own_raw_changes(circle, g).expect("changes"));
    let adas = run_of(&ada.own_raw_changes(circle, g).expect("changes"));
    let honest = Craft {
        doc: g,
        seq: Some(4),
        prev: Some(Some(entry_hash(1))),
        fold: Some(Fold {
            first: 2,
            last: entry_hash(4),
        }),
        run: Some(bos.clone()),
        ..Craft::default()
    };
    let cases: Vec<(Craft, &str)> = vec![
        // Someone else's changes in the signer's fold.
        (
            Craft {
                run: Some(adas.clone()),
                ..honest.clone()
            },
            "actor_mismatch",
        ),
        (
            Craft {
                run: Some(b"not a deflated run".to_vec()),
                ..honest.clone()
            },
            "malformed_payload",
        ),
        (
            Craft {
                run: Some(run_of(&[b"not an automerge change".to_vec()])),
                ..honest.clone()
            },
            "bad_change",
        ),
        // A fold whose run declares 2^62 operations (in 70 bytes).
        (
            Craft {
                run: Some(run_of(&[change_declaring_ops(&bo_id, 1 << 62)])),
                ..honest.clone()
            },
            "bad_change",
        ),
        // A run in a plain entry, and plain changes in a fold.
        (
            Craft {
                seq: Some(2),
                fold: None,
                ..honest.clone()
            },
            "malformed_payload",
        ),
        (
            Craft {
                run: None,
                changes: bo.own_raw_changes(circle, g).expect("changes"),
                ..honest.clone()
            },
            "malformed_payload",
        ),
        (
            Craft {
                prev: Some(Some(EntryHash([1; 32]))),
                ..honest.clone()
            },
            "broken_chain",
        ),
        (
            Craft {
                fold: Some(Fold {
                    first: 5,
                    last: entry_hash(4),
                }),
                ..honest.clone()
            },
            "empty_fold",
        ),
        (
            Craft {
                epoch: Some(OpHash([3; 32])),
                ..honest.clone()
            },
            "bad_epoch",
        ),
    ];
    for (craft, code) in cases {
        let crafted = bo.craft_entry(circle, craft).expect("craft");
        assert_eq!(import_only(&ada, circle, &bo, crafted), vec![code]);
    }
    assert_intact(&mut ada, circle, &before);

    // A fold that lies about the entry it ends with is Bo's word about his
    // own log, and goes in; the lie shows at Bo's real entries: the one
    // it claimed to end with is a fork, and the next does not chain on.
    let lie = Craft {
        fold: Some(Fold {
            first: 2,
            last: EntryHash([5; 32]),
        }),
        ..honest
    };
    let crafted = bo.craft_entry(circle, lie).expect("craft");
    assert!(import_only(&ada, circle, &bo, crafted).is_empty());
    type_word(" four");
    let report = ada
        .import_bundle(&bo.export_bundle(circle, None).expect("export"))
        .expect("import");
    let mut codes: Vec<String> = report.rejected.into_iter().map(|r| r.code).collect();
    codes.sort();
    assert_eq!(codes, ["broken_chain", "fork"]);
}

/// Invariant 6 against Automerge itself: automerge 0.12 panics midway on
/// some well-formed changes, which a member can sign. The entry is refused,
/// the document it hit is rebuilt from what is stored, and nothing else is
/// lost, on receipt and on every later start.
#[test]
fn a_change_automerge_fails_on_is_refused_and_its_document_rebuilt() {
    let (mut ada, bo, circle, _) = setup();
    let g2 = ada
        .new_gathering(circle, "2026-12-10".parse().expect("date"))
        .expect("gathering");
    ada.add_note(circle, g2, "Ada's second note").expect("note");
    ada.send(&bo, circle);
    let bo_id = bo.identity().member_id();
    // Bo has written to neither document, which is where the change fails.
    let mut prev = None;
    for (seq, doc) in [(2, g2), (3, DocId::CIRCLE)] {
        let before = seen(&ada, circle);
        let hostile = bo
            .craft_entry(
                circle,
                Craft {
                    doc,
                    seq: Some(seq),
                    prev,
                    changes: vec![change_automerge_fails_on(&bo_id)],
                    ..Craft::default()
                },
            )
            .expect("craft");
        prev = Some(Some(verify_entry(&hostile).expect("valid").hash));
        assert_eq!(
            import_only(&ada, circle, &bo, hostile),
            vec!["bad_change"],
            "{doc:?}"
        );
        assert_eq!(seen(&ada, circle), before);
        // Loading replays the stored entry: refused again, nothing lost.
        assert_intact(&mut ada, circle, &before);
    }
    // The rebuilt documents take edits and sync as before.
    ada.add_note(circle, g2, "after the storm").expect("note");
    ada.add_goal(circle, "Keep calm").expect("goal");
    // Ada passes the refused entries on to nobody (and so nothing of Bo's
    // after them): a fresh device gets none of them from her.
    let report = ada.send(&bo, circle);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let mut theirs = seen(&bo, circle);
    let mut mine = seen(&ada, circle);
    // Bo never held his own crafted entries; all else agrees.
    theirs.heads.clear();
    mine.heads.clear();
    assert_eq!(theirs, mine);
    let cy = Peer::new("Cy", 3);
    ada.add_member(circle, &cy.card()).expect("add");
    let report = ada.send(&cy, circle);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
}

/// Blame goes to the bad record, not to the honest one that completes it:
/// Bo signs 100 changes Automerge fails on only once their dependencies
/// (100 honest notes of Cy's) are in the document. Ada holds Bo's entries
/// first; when Cy's arrive, all of Cy's are taken and only Bo's refused —
/// also after a restart, when all are replayed from the store. Dee, who
/// gets them the other way round, and Cy end with the same heads.
#[test]
fn a_hostile_change_waiting_for_an_honest_one_is_blamed_alone() {
    use circlekeep_engine::testing::change_automerge_fails_on_after;
    const HOSTILE: usize = 100;
    let (mut ada, bo, cy, dee) = (
        Peer::new("Ada", 1),
        Peer::new("Bo", 2),
        Peer::new("Cy", 3),
        Peer::new("Dee", 4),
    );
    let circle = circle_of(&ada, &[&bo, &cy, &dee], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, "2026-12-03".parse().expect("date"))
        .expect("gathering");
    for peer in [&bo, &cy, &dee] {
        ada.send(peer, circle);
    }
    for i in 0..HOSTILE {
        cy.add_note(circle, g, &format!("Cy's honest note {i}"))
            .expect("note");
    }
    cy.send(&bo, circle);
    let honest = cy.own_raw_changes(circle, g).expect("changes");
    assert_eq!(honest.len(), HOSTILE);
    let mut bundle = bundle_of(&bo, circle);
    bundle.entries.clear();
    let mut place: Option<(u64, EntryHash)> = None;
    for change in &honest {
        let hostile = bo
            .craft_entry(
                circle,
                Craft {
                    doc: g,
                    changes: vec![change_automerge_fails_on_after(
                        &bo.identity().device_id(),
                        Some(change),
                    )],
                    seq: place.map(|(seq, _)| seq + 1),
                    prev: place.map(|(_, hash)| Some(hash)),
                    ..Craft::default()
                },
            )
            .expect("craft");
        let entry = verify_entry(&hostile).expect("valid");
        place = Some((entry.body.seq, entry.hash));
        bundle.entries.push(hostile);
    }
    let hostile = bundle.encode();
    // They wait for Cy's changes: nothing to refuse yet.
    let report = ada.import_bundle(&hostile).expect("import");
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let report = cy.send(&ada, circle);
    let bo_hex = bo.identity().device_id().to_hex();
    assert_eq!(report.entries_accepted, HOSTILE, "{report:?}");
    let blamed: Vec<_> = report
        .rejected
        .iter()
        .map(|r| (r.author.clone(), r.code.clone()))
        .collect();
    assert_eq!(report.refused, HOSTILE, "{blamed:?}");
    assert!(
        blamed
            .iter()
            .all(|(a, code)| a.as_deref() == Some(bo_hex.as_str()) && code == "bad_change"),
        "{blamed:?}"
    );
    let notes = circlekeep_tests::readable_notes(&ada, circle);
    assert_eq!(notes.len(), HOSTILE, "{notes:?}");
    let kept = ada.rejections(circle).expect("rejections");
    assert!(
        kept.iter()
            .all(|r| r.rejection.author.as_deref() == Some(bo_hex.as_str())),
        "{kept:?}"
    );
    let before = seen(&ada, circle);
    assert_intact(&mut ada, circle, &before);
    // The other way round, Bo's are refused as they come.
    cy.send(&dee, circle);
    let report = dee.import_bundle(&hostile).expect("import");
    assert_eq!(report.refused, HOSTILE);
    assert_eq!(seen(&dee, circle), before);
    assert_eq!(seen(&cy, circle).heads, before.heads);
}

/// Invariant 6 wherever Automerge runs: a panic while working on a circle
/// (in a save, a fork, an edit after a hostile input) is an error for that
/// call, not a crash; the circle is read again from the store and nothing
/// is lost.
#[test]
fn a_panic_inside_a_circle_is_an_error_and_loses_nothing() {
    let (mut ada, _bo, circle, g) = setup();
    let before = seen(&ada, circle);
    let err = ada.panic_inside(circle).expect_err("refused");
    assert_eq!(err.code(), "internal", "{err}");
    assert!(err.to_string().contains("try again"), "{err}");
    assert_eq!(seen(&ada, circle), before);
    ada.add_note(circle, g, "after the panic").expect("note");
    let after = seen(&ada, circle);
    assert_intact(&mut ada, circle, &after);
}

/// A signed entry whose 70-byte change declares 2^62 Automerge operations,
/// which automerge 0.12 would walk one by one under the engine lock:
/// refused at once, not stored, and nothing else lost (the same in a fold:
/// `hostile_folds_are_rejected_…`).
#[test]
fn a_change_declaring_billions_of_operations_is_refused_at_once() {
    let (mut ada, bo, circle, g) = setup();
    let before = seen(&ada, circle);
    let bomb = change_declaring_ops(&bo.identity().device_id(), 1 << 62);
    let hostile = bo
        .craft_entry(
            circle,
            Craft {
                doc: g,
                changes: vec![bomb],
                ..Craft::default()
            },
        )
        .expect("craft");
    let started = std::time::Instant::now();
    assert_eq!(import_only(&ada, circle, &bo, hostile), vec!["bad_change"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_intact(&mut ada, circle, &before);
}

/// A flood of junk (a million two-byte entries and a hundred thousand
/// junk operations, a 3 MB file) costs the receiver a counter, not a stored
/// record per refused item: the data folder grows by well under 10 MB, the
/// report lists a hundred refusals and counts the rest, and the summary the
/// user sees is a handful of rows that add up to every refusal.
#[test]
fn a_flood_of_junk_costs_a_counter_not_a_record_each() {
    let (mut ada, bo, circle, _) = setup();
    let before = seen(&ada, circle);
    let mut bundle = bundle_of(&bo, circle);
    bundle.entries = vec![vec![0xA5, 0x5A]; 1_000_000];
    bundle.ops = vec![vec![0x42, 0x24]; 100_000];
    let file = bundle.encode();
    assert!(file.len() < 4 << 20, "{} bytes", file.len());
    let disk = ada.disk_bytes();

    let report = ada.import_bundle(&file).expect("import");
    assert_eq!(report.refused, 1_100_000);
    assert_eq!(report.rejected.len(), 100);
    let grown = ada.disk_bytes().saturating_sub(disk);
    assert!(grown < 10 << 20, "the data folder grew by {grown} bytes");

    let summary = ada.rejections(circle).expect("log");
    assert!(summary.len() <= 4, "{summary:?}");
    assert_eq!(summary.iter().map(|r| r.count).sum::<u64>(), 1_100_000);
    // A second flood adds to the same rows.
    ada.import_bundle(&file).expect("import");
    let again = ada.rejections(circle).expect("log");
    assert_eq!(again.len(), summary.len());
    assert_eq!(again.iter().map(|r| r.count).sum::<u64>(), 2_200_000);
    assert_intact(&mut ada, circle, &before);
}

/// Refusals claiming two thousand made-up authors do not grow the
/// summary past a bound: past 64 rows, authors are no longer told apart.
#[test]
fn made_up_authors_do_not_grow_the_refusal_summary() {
    let (ada, bo, circle, g) = setup();
    let honest = honest_entry(&bo, circle, g);
    let mut bundle = bundle_of(&bo, circle);
    bundle.entries = (0..2_000u32)
        .map(|i| {
            let eve = DeviceIdentity::from_seed(
                "Eve",
                [i as u8, (i >> 8) as u8, 7, 7]
                    .repeat(8)
                    .try_into()
                    .expect("seed"),
            )
            .expect("identity");
            let mut body = honest.body.clone();
            body.author = eve.member_id();
            body.seq = 1;
            body.prev = None;
            forge_entry(&eve, &body)
        })
        .collect();
    let report = ada.import_bundle(&bundle.encode()).expect("import");
    assert_eq!(report.refused, 2_000);
    let summary = ada.rejections(circle).expect("log");
    assert!(summary.len() <= 64 + 2, "{} rows", summary.len());
    assert_eq!(summary.iter().map(|r| r.count).sum::<u64>(), 2_000);
    assert!(summary.iter().any(|r| r.rejection.author.is_none()));
}
