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
