//! Arbitrary bytes as the records a device hands a keeper, beside a real
//! circle's honest ones: the keeper takes them in without a panic, and
//! everything it then serves verifies (signed, by a device of the circle).
#![no_main]
use circlekeep_engine::{CircleId, DeviceIdentity, Engine, HistoryPolicy, MemberId, MemoryStore};
use circlekeep_keeper::Keeper;
use circlekeep_seal::signed::{verify_entry, verify_op};
use circlekeep_sync::{Replica, Summary};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const SECRET: [u8; 32] = [7; 32];

struct Fixture {
    circle: CircleId,
    ann: MemberId,
    ops: Vec<Vec<u8>>,
    entries: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let engine = |name, seed| {
            let me = DeviceIdentity::from_seed(name, [seed; 32]).expect("id");
            Engine::with_store(MemoryStore::new(), me)
        };
        let (ann, ben) = (engine("Ann", 1), engine("Ben", 2));
        let circle = ann
            .create_circle("Fuzz circle", HistoryPolicy::SinceJoining)
            .expect("create");
        ann.add_member(circle, ben.member_card().expect("card").as_line())
            .expect("add");
        let g = ann
            .new_gathering(circle, "2027-01-07".parse().expect("date"))
            .expect("gathering");
        for i in 0..4 {
            ann.add_note(circle, g, &format!("note {i}")).expect("note");
        }
        let records = ann.records_since(&circle, &Summary::default(), usize::MAX);
        Fixture {
            circle,
            ann: Replica::me(&ann),
            ops: records.ops.into_iter().map(|(_, b)| b).collect(),
            entries: records.entries.into_iter().map(|(_, _, b)| b).collect(),
        }
    })
}

/// `data` cut into records at its `0xff 0xfe` marks.
fn records(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(&[0xff, 0xfe]) {
            out.push(Vec::new());
            i += 2;
        } else {
            if let Some(last) = out.last_mut() {
                last.push(data[i]);
            }
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let keeper = Keeper::open(MemoryStore::new(), MemberId([9; 32]), &SECRET).expect("keeper");
    let _ = keeper.keep_circle(&f.circle, &SECRET, &f.ann);
    let (first, rest) = data.split_first().map_or((0, data), |(b, r)| (*b, r));
    let hostile = records(rest);
    // Honest operations first (or not), then the hostile records as
    // operations or entries, beside the honest entries.
    let mut ops = if first & 1 == 0 {
        f.ops.clone()
    } else {
        Vec::new()
    };
    let mut entries = f.entries.clone();
    if first & 2 == 0 {
        entries.extend(hostile);
    } else {
        ops.extend(hostile);
    }
    let _ = keeper.ingest(&f.circle, &f.ann, ops, entries);
    let served = keeper.records_since(&f.circle, &Summary::default(), usize::MAX);
    for (_, op) in &served.ops {
        assert!(
            verify_op(op).is_ok(),
            "the keeper serves an operation that does not verify"
        );
    }
    for (author, _, entry) in &served.entries {
        let entry = verify_entry(entry).expect("the keeper serves an entry that does not verify");
        assert_eq!(entry.body.author, *author);
        assert_eq!(entry.body.circle, f.circle);
    }
});
