//! One suite, run against every backend.

use crate::{BlobKind, MemoryStore, SledStore, Store, StoredEntry};
use circlekeep_model::{CircleId, MemberId, OpHash};

fn entry(author: u8, seq: u64) -> StoredEntry {
    StoredEntry {
        author: MemberId([author; 32]),
        seq,
        bytes: format!("entry {author}/{seq}").into_bytes(),
    }
}

fn ops_and_circles<S: Store>(store: &S) {
    let a = CircleId([1; 32]);
    let b = CircleId([2; 32]);
    assert!(store.circles().expect("circles").is_empty());
    store
        .put_ops(&b, &[(OpHash([9; 32]), b"b9"), (OpHash([3; 32]), b"b3")])
        .expect("put");
    store.put_ops(&a, &[(OpHash([5; 32]), b"a5")]).expect("put");
    store
        .put_ops(&a, &[(OpHash([5; 32]), b"a5")])
        .expect("idempotent");
    assert_eq!(store.circles().expect("circles"), vec![a, b]);
    assert_eq!(store.ops(&a).expect("ops"), vec![b"a5".to_vec()]);
    assert_eq!(
        store.ops(&b).expect("ops"),
        vec![b"b3".to_vec(), b"b9".to_vec()]
    );
}

fn entry_logs<S: Store>(store: &S) {
    let c = CircleId([1; 32]);
    let other = CircleId([2; 32]);
    let entries: Vec<_> = (1..=5).map(|s| entry(7, s)).chain([entry(8, 1)]).collect();
    store.put_entries(&c, &entries).expect("put");
    store.put_entries(&other, &[entry(7, 1)]).expect("put");
    let seven = MemberId([7; 32]);
    assert_eq!(
        store.entry(&c, &seven, 3).expect("get"),
        Some(b"entry 7/3".to_vec())
    );
    assert_eq!(store.entry(&c, &seven, 6).expect("get"), None);
    let after: Vec<u64> = store
        .entries_after(&c, &seven, 2, 2)
        .expect("after")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(after, vec![3, 4]);
    assert_eq!(
        store
            .entries_after(&c, &seven, u64::MAX, 10)
            .expect("after"),
        vec![]
    );
    assert_eq!(
        store.last_entry(&c, &seven).expect("last").map(|(s, _)| s),
        Some(5)
    );
    assert_eq!(
        store.last_entry(&c, &MemberId([9; 32])).expect("last"),
        None
    );
    // Sequence numbers order numerically, not lexically.
    store.put_entries(&c, &[entry(7, 256)]).expect("put");
    assert_eq!(
        store.last_entry(&c, &seven).expect("last").map(|(s, _)| s),
        Some(256)
    );
    // A damaged stretch goes, and only that author's, in that circle.
    assert_eq!(store.drop_entries_from(&c, &seven, 4).expect("drop"), 3);
    assert_eq!(
        store.last_entry(&c, &seven).expect("last").map(|(s, _)| s),
        Some(3)
    );
    assert!(store
        .entry(&c, &MemberId([8; 32]), 1)
        .expect("get")
        .is_some());
    assert!(store.entry(&other, &seven, 1).expect("get").is_some());
    assert_eq!(store.drop_entries_from(&c, &seven, 9).expect("drop"), 0);
}

fn blobs<S: Store>(store: &S) {
    store
        .put_blob(BlobKind::Cache, b"k1", Some(b"v1"))
        .expect("put");
    store
        .put_blob(BlobKind::Cache, b"k2", Some(b"v2"))
        .expect("put");
    store
        .put_blob(BlobKind::Setting, b"k1", Some(b"s"))
        .expect("put");
    assert_eq!(
        store.blob(BlobKind::Cache, b"k1").expect("get"),
        Some(b"v1".to_vec())
    );
    assert_eq!(store.blobs(BlobKind::Cache, b"k").expect("scan").len(), 2);
    store
        .put_blob(BlobKind::Cache, b"k1", None)
        .expect("delete");
    assert_eq!(store.blob(BlobKind::Cache, b"k1").expect("get"), None);
    assert_eq!(
        store.blob(BlobKind::Setting, b"k1").expect("get"),
        Some(b"s".to_vec())
    );
    store.flush().expect("flush");
}

macro_rules! suite {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn ops_and_circles() {
                let (_guard, store) = $make;
                super::ops_and_circles(&store);
            }

            #[test]
            fn entry_logs() {
                let (_guard, store) = $make;
                super::entry_logs(&store);
            }

            #[test]
            fn blobs() {
                let (_guard, store) = $make;
                super::blobs(&store);
            }
        }
    };
}

fn sled_store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path()).expect("open");
    (dir, store)
}

suite!(memory, ((), MemoryStore::new()));
suite!(sled, sled_store());

#[test]
fn sled_survives_reopen_and_refuses_a_second_opener() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = SledStore::open(dir.path()).expect("open");
        store
            .put_entries(&CircleId([1; 32]), &[entry(7, 1)])
            .expect("put");
        store.flush().expect("flush");
        assert!(matches!(
            SledStore::open(dir.path()),
            Err(crate::SledStoreError::Locked)
        ));
    }
    let store = SledStore::open(dir.path()).expect("reopen");
    assert!(store
        .entry(&CircleId([1; 32]), &MemberId([7; 32]), 1)
        .expect("get")
        .is_some());
}

#[test]
fn sled_opens_after_a_kill_during_a_snapshot_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = SledStore::open(dir.path()).expect("open");
        store
            .put_entries(&CircleId([1; 32]), &[entry(7, 1)])
            .expect("put");
        store.flush().expect("flush");
    }
    // What a kill between sled's snapshot write and its rename leaves: an
    // empty and a truncated half-written snapshot.
    std::fs::write(dir.path().join("snap.FFFFFFFFFFFFFFF0.generating"), b"").expect("write");
    std::fs::write(
        dir.path().join("snap.FFFFFFFFFFFFFFFF.generating"),
        [7u8; 40],
    )
    .expect("write");
    let store = SledStore::open(dir.path()).expect("reopen after a partial snapshot");
    assert!(store
        .entry(&CircleId([1; 32]), &MemberId([7; 32]), 1)
        .expect("get")
        .is_some());
    drop(store);
    assert!(
        SledStore::open(dir.path()).is_ok(),
        "opens again once the partial snapshots are set aside"
    );
}
