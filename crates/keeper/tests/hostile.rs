//! The keeper against hostile devices and records, with real circles
//! (engines on sled, real signatures and age): only the enrolment secret
//! lets a device hand over a circle, only a current device of it may;
//! forged, replayed, gapped, forked and cut records are refused and never
//! stored; what is kept survives a restart.

use circlekeep_engine::{
    CircleId, DeviceIdentity, DocId, Engine, HistoryPolicy, MemberId, SledStore,
};
use circlekeep_keeper::{Keeper, MAX_PENDING};
use circlekeep_sync::{InviteRefusal, Replica, Summary};
use proptest::prelude::*;
use tempfile::TempDir;

const SECRET: [u8; 32] = [7; 32];
const KEEPER: MemberId = MemberId([9; 32]);

struct Device {
    _dir: TempDir,
    engine: Engine<SledStore>,
}

fn device(name: &str, seed: u8) -> Device {
    let dir = tempfile::tempdir().expect("folder");
    let store = SledStore::open(&dir.path().join("store")).expect("sled");
    let me = DeviceIdentity::from_seed(name, [seed; 32]).expect("identity");
    Device {
        engine: Engine::with_store(store, me),
        _dir: dir,
    }
}

impl Device {
    fn id(&self) -> MemberId {
        Replica::me(&self.engine)
    }

    /// Everything this device holds of `circle`, as signed records.
    fn records(&self, circle: &CircleId) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let records = self
            .engine
            .records_since(circle, &Summary::default(), usize::MAX);
        (
            records.ops.into_iter().map(|(_, b)| b).collect(),
            records.entries.into_iter().map(|(_, _, b)| b).collect(),
        )
    }

    /// Hands `to` everything held of `circle` (as its member would).
    fn send(&self, to: &Device, circle: &CircleId) {
        let (ops, entries) = self.records(circle);
        Replica::ingest(&to.engine, circle, &self.id(), ops, entries);
    }
}

fn keeper(dir: &TempDir) -> Keeper<SledStore> {
    let store = SledStore::open(&dir.path().join("keeper")).expect("sled");
    Keeper::open(store, KEEPER, &SECRET).expect("keeper")
}

/// Ann founds a circle with Ben and writes a note; returns the circle
/// and its gathering.
fn circle(ann: &Device, ben: &Device) -> (CircleId, DocId) {
    let circle = ann
        .engine
        .create_circle("Orchard circle", HistoryPolicy::SinceJoining)
        .expect("create");
    let card = ben.engine.member_card().expect("card");
    ann.engine.add_member(circle, card.as_line()).expect("add");
    let g = ann
        .engine
        .new_gathering(circle, "2027-01-07".parse().expect("date"))
        .expect("gathering");
    ann.engine.add_note(circle, g, "first").expect("note");
    ann.send(ben, &circle);
    ben.engine.accept_circle(circle).expect("accept");
    (circle, g)
}

/// Hands the keeper `circle` from `from`, as enrolment and a first sync do.
fn enrol(keeper: &Keeper<SledStore>, from: &Device, circle: &CircleId) -> usize {
    assert_eq!(keeper.keep_circle(circle, &SECRET, &from.id()), Ok(true));
    let (ops, entries) = from.records(circle);
    keeper.ingest(circle, &from.id(), ops, entries).accepted
}

#[test]
fn only_the_secret_opens_the_door_and_only_a_device_of_the_circle_hands_it_over() {
    let dir = tempfile::tempdir().expect("folder");
    let (ann, ben, eve) = (device("Ann", 1), device("Ben", 2), device("Eve", 5));
    let (circle, _) = circle(&ann, &ben);
    let keeper = keeper(&dir);

    assert_eq!(
        keeper.keep_circle(&circle, &[8; 32], &ann.id()),
        Err(InviteRefusal::Unknown),
        "a wrong secret is refused"
    );
    assert!(keeper.peers().is_empty());

    // Eve knows the secret and holds Ann's records (forwarded to her):
    // they do not show her in the circle, so the keeper takes nothing.
    assert_eq!(keeper.keep_circle(&circle, &SECRET, &eve.id()), Ok(true));
    let (ops, entries) = ann.records(&circle);
    let taken = keeper.ingest(&circle, &eve.id(), ops.clone(), entries.clone());
    assert_eq!(taken.accepted, 0);
    assert!(keeper.summary(&circle).is_some_and(|s| s.ops.is_empty()));

    // Ben hands it over; now Eve, secret or not, is refused.
    assert!(enrol(&keeper, &ben, &circle) > 0);
    assert_eq!(keeper.keep_circle(&circle, &SECRET, &eve.id()), Ok(false));
    assert!(!keeper.peers().contains(&eve.id()));
    assert!(!keeper.is_member(&circle, &eve.id()));
    assert!(keeper.circles_with(&eve.id()).is_empty());
    let taken = keeper.ingest(&circle, &eve.id(), ops, entries);
    assert_eq!(taken.accepted, 0, "records from a stranger are refused");
    assert!(keeper.peers().contains(&ann.id()));
}

#[test]
fn devices_waiting_to_hand_over_a_circle_are_bounded() {
    let dir = tempfile::tempdir().expect("folder");
    let keeper = keeper(&dir);
    for n in 0..(MAX_PENDING as u32 * 4) {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&n.to_be_bytes());
        let (circle, device) = (CircleId(id), MemberId(id));
        assert_eq!(keeper.keep_circle(&circle, &SECRET, &device), Ok(true));
    }
    assert_eq!(keeper.peers().len(), MAX_PENDING);
}

#[test]
fn forged_replayed_gapped_and_forked_entries_are_refused_and_not_stored() {
    let dir = tempfile::tempdir().expect("folder");
    let (ann, ben) = (device("Ann", 1), device("Ben", 2));
    let (circle, g) = circle(&ann, &ben);
    let other = ann
        .engine
        .create_circle("Another circle", HistoryPolicy::SinceJoining)
        .expect("create");
    let keeper = keeper(&dir);
    enrol(&keeper, &ann, &circle);
    let held = keeper.summary(&circle).expect("kept");

    for i in 0..3 {
        ann.engine
            .add_note(circle, g, &format!("later {i}"))
            .expect("note");
    }
    let (_, entries) = ann.records(&circle);
    let fresh: Vec<Vec<u8>> = entries[entries.len() - 3..].to_vec();

    let mut forged = fresh[0].clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let (_, replayed) = ann.records(&other);
    let hostile = [
        ("a forged signature", vec![forged]),
        ("a gap", vec![fresh[1].clone()]),
        ("another circle's entries", replayed),
    ];
    for (what, entries) in hostile {
        let taken = keeper.ingest(&circle, &ann.id(), Vec::new(), entries);
        assert_eq!(taken.accepted, 0, "{what} was kept");
        assert_eq!(
            keeper.summary(&circle).as_ref(),
            Some(&held),
            "{what} changed the store"
        );
    }

    // A fork: Ann's device, restored from an old copy, writes another
    // entry at a height the keeper holds.
    let taken = keeper.ingest(&circle, &ann.id(), Vec::new(), fresh.clone());
    assert_eq!(taken.accepted, 3);
    let first = keeper.records_since(&circle, &Summary::default(), usize::MAX);
    let again = keeper.ingest(&circle, &ann.id(), Vec::new(), fresh);
    assert_eq!(
        (again.accepted, again.rejected),
        (0, 0),
        "a resend is held, not refused"
    );
    assert_eq!(
        keeper.records_since(&circle, &Summary::default(), usize::MAX),
        first
    );
}

#[test]
fn what_a_removed_member_writes_past_the_cut_is_not_kept_and_the_device_is_shut_out() {
    let dir = tempfile::tempdir().expect("folder");
    let (ann, ben) = (device("Ann", 1), device("Ben", 2));
    let (circle, g) = circle(&ann, &ben);
    let keeper = keeper(&dir);
    enrol(&keeper, &ann, &circle);
    assert!(keeper.is_member(&circle, &ben.id()));

    ann.engine.remove_member(circle, ben.id()).expect("remove");
    ann.send_ops_to(&keeper, &circle);
    ben.engine
        .add_note(circle, g, "Ben, late")
        .expect("Ben has not heard");
    let (_, entries) = ben.records(&circle);
    let before = keeper.summary(&circle);
    let taken = keeper.ingest(&circle, &ben.id(), Vec::new(), entries.clone());
    assert_eq!(taken.accepted, 0, "from the removed device itself");
    let taken = keeper.ingest(&circle, &ann.id(), Vec::new(), entries);
    assert_eq!(taken.accepted, 0, "passed on by a member");
    assert_eq!(keeper.summary(&circle), before);
    assert!(!keeper.peers().contains(&ben.id()));
    assert!(!keeper.is_member(&circle, &ben.id()));
}

#[test]
fn what_is_kept_survives_a_restart() {
    let dir = tempfile::tempdir().expect("folder");
    let (ann, ben) = (device("Ann", 1), device("Ben", 2));
    let (circle, _) = circle(&ann, &ben);
    let before = {
        let keeper = keeper(&dir);
        enrol(&keeper, &ann, &circle);
        keeper.records_since(&circle, &Summary::default(), usize::MAX)
    };
    let keeper = keeper(&dir);
    assert_eq!(
        keeper.records_since(&circle, &Summary::default(), usize::MAX),
        before
    );
    assert!(keeper.peers().contains(&ben.id()));
    assert_eq!(keeper.kept().len(), 1);
}

/// A keeper whose quota Ann's circle has filled refuses her new entries,
/// still takes the operation that removes Ben (and shuts him out), and
/// remembers the count across a restart; a larger quota takes them.
#[test]
fn a_circle_past_its_quota_takes_no_more_entries_but_every_operation() {
    let dir = tempfile::tempdir().expect("folder");
    let (ann, ben) = (device("Ann", 1), device("Ben", 2));
    let (circle, g) = circle(&ann, &ben);
    let (ops, entries) = ann.records(&circle);
    let full: usize = ops.iter().chain(&entries).map(Vec::len).sum();
    let open = |quota: u64| {
        let store = SledStore::open(&dir.path().join("keeper")).expect("sled");
        Keeper::with_quota(store, KEEPER, &SECRET, quota).expect("keeper")
    };
    let keeper = open(full as u64);
    assert_eq!(enrol(&keeper, &ann, &circle), ops.len() + entries.len());
    for i in 0..3 {
        ann.engine
            .add_note(circle, g, &format!("later {i}"))
            .expect("note");
    }
    let (_, all) = ann.records(&circle);
    let later = all[entries.len()..].to_vec();
    let taken = keeper.ingest(&circle, &ann.id(), Vec::new(), later.clone());
    assert_eq!((taken.accepted, taken.rejected), (0, later.len()));

    ann.engine.remove_member(circle, ben.id()).expect("remove");
    ann.send_ops_to(&keeper, &circle);
    assert!(!keeper.is_member(&circle, &ben.id()), "the removal got in");
    drop(keeper);

    let keeper = open(full as u64);
    let taken = keeper.ingest(&circle, &ann.id(), Vec::new(), later.clone());
    assert_eq!(taken.accepted, 0, "the count survives a restart");
    drop(keeper);
    let keeper = open(u64::MAX);
    let taken = keeper.ingest(&circle, &ann.id(), Vec::new(), later.clone());
    assert_eq!(taken.accepted, later.len());
}

/// A keeper whose secret was replaced refuses the old one, and still
/// serves the circles it keeps to their devices (who need no secret).
#[test]
fn a_replaced_secret_shuts_out_the_old_ticket_but_not_the_circles_kept() {
    let dir = tempfile::tempdir().expect("folder");
    let (ann, ben) = (device("Ann", 1), device("Ben", 2));
    let (circle, g) = circle(&ann, &ben);
    enrol(&keeper(&dir), &ann, &circle);
    let store = SledStore::open(&dir.path().join("keeper")).expect("sled");
    let keeper = Keeper::open(store, KEEPER, &[8; 32]).expect("keeper");
    assert_eq!(
        keeper.keep_circle(&circle, &SECRET, &ben.id()),
        Err(InviteRefusal::Unknown)
    );
    assert!(keeper.peers().contains(&ben.id()));
    ann.engine
        .add_note(circle, g, "after the new secret")
        .expect("note");
    let (_, entries) = ann.records(&circle);
    let taken = keeper.ingest(&circle, &ann.id(), Vec::new(), entries);
    assert_eq!(taken.accepted, 1);
}

impl Device {
    /// Hands `keeper` the operations held of `circle`.
    fn send_ops_to(&self, keeper: &Keeper<SledStore>, circle: &CircleId) {
        let (ops, _) = self.records(circle);
        keeper.ingest(circle, &self.id(), ops, Vec::new());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any record with bytes flipped, cut short or grown is refused, or is
    /// byte for byte one the keeper would take anyway; the keeper never
    /// panics and never keeps what does not verify.
    #[test]
    fn damaged_records_are_refused(
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
        pick in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().expect("folder");
        let (ann, ben) = (device("Ann", 1), device("Ben", 2));
        let (circle, _) = circle(&ann, &ben);
        let keeper = keeper(&dir);
        prop_assert_eq!(keeper.keep_circle(&circle, &SECRET, &ann.id()), Ok(true));
        let (ops, entries) = ann.records(&circle);
        let mut all: Vec<Vec<u8>> = ops.iter().chain(&entries).cloned().collect();
        let victim = pick.index(all.len());
        let record = &mut all[victim];
        for (at, byte, how) in &damage {
            match how {
                0 if !record.is_empty() => {
                    let i = at.index(record.len());
                    record[i] ^= byte | 1;
                }
                1 => record.truncate(at.index(record.len() + 1)),
                _ => record.push(*byte),
            }
        }
        let damaged = all[victim].clone();
        let (ops_n, _) = (ops.len(), entries.len());
        let (d_ops, d_entries) = all.split_at(ops_n);
        keeper.ingest(&circle, &ann.id(), d_ops.to_vec(), d_entries.to_vec());
        let kept = keeper.records_since(&circle, &Summary::default(), usize::MAX);
        let stored: Vec<&Vec<u8>> = kept.ops.iter().map(|(_, b)| b)
            .chain(kept.entries.iter().map(|(_, _, b)| b)).collect();
        let original: Vec<&Vec<u8>> = ops.iter().chain(&entries).collect();
        for record in stored {
            prop_assert!(original.contains(&record), "kept a record nobody signed");
        }
        prop_assert!(damaged == *original[victim] || !kept_contains(&kept, &damaged));
    }
}

fn kept_contains(kept: &circlekeep_sync::Records, bytes: &[u8]) -> bool {
    kept.ops.iter().any(|(_, b)| b == bytes) || kept.entries.iter().any(|(_, _, b)| b == bytes)
}
