//! Invariant 6: nothing lost. What was saved survives restarts with or
//! without the sealed cache, and a damaged cache is rebuilt from entries.

use circlekeep_engine::{CheckpointPolicy, HistoryPolicy};
use circlekeep_store::{BlobKind, Store};
use circlekeep_tests::{circle_of, seen, Peer, TestEngine};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn saved_edits_survive_restarts_with_and_without_the_cache() {
    let mut ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, "2026-11-26".parse().expect("date"))
        .expect("gathering");
    for i in 0..20 {
        ada.add_note(circle, g, &format!("note {i}")).expect("note");
    }
    let before = seen(&ada, circle);
    assert_eq!(before.notes.values().next().map(Vec::len), Some(20));

    // No checkpoint: the cache is stale; entries are replayed.
    ada.restart(false);
    assert_eq!(seen(&ada, circle), before);
    // With a checkpoint: the cache is current.
    ada.restart(true);
    assert_eq!(seen(&ada, circle), before);
    // More writes after loading from the cache continue the same logs.
    ada.add_note(circle, g, "after restart").expect("note");
    let report = ada.send(&bo, circle);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(seen(&bo, circle), seen(&ada, circle));
}

#[test]
fn a_damaged_cache_is_rebuilt_from_entries() {
    let mut ada = Peer::new("Ada", 1);
    let circle = circle_of(&ada, &[], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, "2026-11-26".parse().expect("date"))
        .expect("gathering");
    ada.add_note(circle, g, "kept").expect("note");
    ada.restart(true);
    let before = seen(&ada, circle);
    let sealed = ada
        .store()
        .blob(BlobKind::Cache, circle.as_bytes())
        .expect("read")
        .expect("cache written");
    let mut damaged = sealed.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 1;
    ada.store()
        .put_blob(BlobKind::Cache, circle.as_bytes(), Some(&damaged))
        .expect("write");
    ada.store().flush().expect("flush");
    ada.restart(false);
    assert_eq!(seen(&ada, circle), before);
}

#[test]
fn changes_waiting_for_dependencies_survive_a_restart_from_the_cache() {
    let ada = Peer::new("Ada", 1);
    let mut dee = Peer::new("Dee", 4);
    let circle = circle_of(&ada, &[], HistoryPolicy::SinceJoining);
    let early = ada
        .new_gathering(circle, "2026-11-12".parse().expect("date"))
        .expect("gathering");
    ada.add_member(circle, &dee.card()).expect("add");
    // Dee can decrypt this note (current epoch) but not the gathering's
    // earlier changes it builds on: it waits in Automerge's queue.
    ada.add_note(circle, early, "added after Dee joined")
        .expect("note");
    let report = ada.send(&dee, circle);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let before = seen(&dee, circle);
    assert_eq!(before.notes.values().map(Vec::len).sum::<usize>(), 0);
    dee.restart(true);
    assert_eq!(seen(&dee, circle), before);
    dee.restart(false);
    assert_eq!(seen(&dee, circle), before);
    // Nothing was refused along the way.
    assert_eq!(dee.circle(circle).expect("view").rejected_entries, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_device_writes_its_cache_once_changes_settle() {
    let policy = CheckpointPolicy {
        quiet: Duration::from_millis(100),
        at_most: Duration::from_secs(5),
    };
    let ada = Peer::new("Ada", 1);
    let circle = circle_of(&ada, &[], HistoryPolicy::SinceJoining);
    ada.checkpoint().expect("checkpoint");
    let cached = || {
        ada.store()
            .blob(BlobKind::Cache, circle.as_bytes())
            .expect("read")
    };
    let at_start = cached();
    let writer = tokio::spawn(TestEngine::checkpoint_when_settled(
        Arc::downgrade(ada.engine()),
        policy,
    ));

    let g = ada
        .new_gathering(circle, "2026-11-26".parse().expect("date"))
        .expect("gathering");
    ada.add_note(circle, g, "cached without asking")
        .expect("note");
    let deadline = Instant::now() + Duration::from_secs(10);
    while cached() == at_start && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(cached(), at_start, "the cache was never rewritten");

    // Stopped now without a checkpoint, the next start finds it all.
    let mut ada = ada;
    ada.restart(false);
    assert_eq!(
        ada.notes(circle, Some(g)).expect("notes")[0].notes[0].text,
        "cached without asking"
    );
    // The writer ends with the engine it served.
    tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .expect("writer ends")
        .expect("writer ran");
}

/// Flips one byte of a stored entry, where the device cannot check it any
/// more (the signature fails), and forgets the cache.
fn damage(
    peer: &Peer,
    circle: circlekeep_engine::CircleId,
    author: &circlekeep_engine::MemberId,
    seq: u64,
) {
    let store = peer.store();
    let mut bytes = store
        .entry(&circle, author, seq)
        .expect("read")
        .expect("held");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    store
        .put_entries(
            &circle,
            &[circlekeep_store::StoredEntry {
                author: *author,
                seq,
                bytes,
            }],
        )
        .expect("write");
    store
        .put_blob(BlobKind::Cache, circle.as_bytes(), None)
        .expect("forget the cache");
    store.flush().expect("flush");
}

/// Invariant 6 against damage at rest (#20): an entry of Bo's that no
/// longer verifies on Ada's device — in the middle of his log, or his last
/// one — costs Ada that entry and what follows it in Bo's log, not the
/// circle: it opens, shows the rest, takes edits, and gets them back from
/// Bo. Ada's own damaged last entry leaves the circle readable, and writing
/// refused with a clear error rather than forking her log, until a member
/// sends the entry back.
#[test]
fn a_damaged_stored_entry_costs_that_entry_and_is_fetched_again() {
    let mut ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, "2026-11-26".parse().expect("date"))
        .expect("gathering");
    ada.send(&bo, circle);
    for i in 0..4 {
        bo.add_note(circle, g, &format!("Bo's note {i}"))
            .expect("note");
    }
    bo.send(&ada, circle);
    let whole = seen(&ada, circle);
    let bo_id = bo.identity().device_id();
    let last = ada
        .store()
        .last_entry(&circle, &bo_id)
        .expect("read")
        .expect("Bo's log")
        .0;

    for seq in [last - 1, last] {
        damage(&ada, circle, &bo_id, seq);
        ada.restart(false);
        let opened = seen(&ada, circle);
        assert_ne!(opened, whole, "the damaged entry is not shown");
        assert!(ada
            .store()
            .entry(&circle, &bo_id, seq)
            .expect("read")
            .is_none());
        ada.add_goal(circle, "still writing")
            .expect("the circle takes edits");
        bo.send(&ada, circle);
        ada.send(&bo, circle);
        assert_eq!(seen(&ada, circle), seen(&bo, circle), "fetched again");
    }

    // Ada's own last entry damaged: readable, not writable, said why.
    let ada_id = ada.identity().device_id();
    let own = ada
        .store()
        .last_entry(&circle, &ada_id)
        .expect("read")
        .expect("Ada's log")
        .0;
    damage(&ada, circle, &ada_id, own);
    ada.restart(false);
    assert!(!ada
        .circle(circle)
        .expect("the circle opens")
        .members
        .is_empty());
    let refused = ada.add_goal(circle, "one more");
    assert!(
        matches!(&refused, Err(circlekeep_engine::EngineError::Corrupt(m)) if m.contains("damaged")),
        "{refused:?}"
    );
    assert!(
        ada.store()
            .entry(&circle, &ada_id, own)
            .expect("read")
            .is_some(),
        "kept"
    );
    // Bo holds Ada's entry: once it is back, Ada writes again.
    bo.send(&ada, circle);
    ada.add_goal(circle, "one more").expect("writes again");
    ada.send(&bo, circle);
    assert_eq!(seen(&ada, circle), seen(&bo, circle));
}
