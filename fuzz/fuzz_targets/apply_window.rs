//! Our automerge patch against automerge's own whole walk: three devices
//! edit a text and a list as the bytes say (inserts, deletes, overwrites,
//! counters, concurrent runs), and each delivery is applied by a replica
//! that takes the patch's window and by one that logs patches (which walks
//! the whole object, as unpatched automerge does). Their saved documents
//! must be the same bytes.
#![no_main]
use automerge::{
    transaction::Transactable, AutoCommit, Change, ObjId, ObjType, ReadDoc, ScalarValue, ROOT,
};
use circlekeep_model::docs::{apply_changes, new_doc};
use libfuzzer_sys::fuzz_target;

const PIECES: [&str; 5] = ["a", "bc", "é", "🙂", "\n"];

fn missing(to: &mut AutoCommit, from: &mut AutoCommit) -> Vec<Change> {
    let heads = to.get_heads();
    let theirs = from.get_changes(&heads);
    theirs
        .into_iter()
        .filter(|c| to.get_change_by_hash(&c.hash()).is_none())
        .collect()
}

thread_local! {
    /// The document every input starts from, built once.
    static BASE: (AutoCommit, ObjId, ObjId) = {
        let mut base = new_doc(&[9; 16]);
        let text = base.put_object(ROOT, "text", ObjType::Text).expect("text");
        let list = base.put_object(ROOT, "list", ObjType::List).expect("list");
        // Long enough that a window is worth its lookups (one per 1024 ops).
        base.splice_text(&text, 0, 0, &"s".repeat(4096)).expect("long text");
        for i in 0..2048 {
            base.insert(&list, i, i as i64).expect("long list");
        }
        base.commit();
        (base, text, list)
    };
}

fuzz_target!(|data: &[u8]| {
    let (mut base, text, list) = BASE.with(|(b, t, l)| (b.clone(), t.clone(), l.clone()));
    let mut devices: Vec<AutoCommit> = (1..=3u8)
        .map(|d| base.fork().with_actor(vec![d; 16].into()))
        .collect();
    let mut window = base.fork().with_actor(vec![0xaa; 16].into());
    let mut whole = base.fork().with_actor(vec![0xbb; 16].into());
    for step in data.chunks_exact(3).take(400) {
        let d = usize::from(step[0] % 3);
        let at = |len: usize| len * usize::from(step[2]) / 255;
        let doc = &mut devices[d];
        let (tlen, llen) = (doc.length(&text), doc.length(&list));
        let done = match step[1] % 10 {
            0..=2 => doc.splice_text(&text, at(tlen), 0, PIECES[usize::from(step[1] / 10) % 5]),
            3 | 4 if tlen > 0 => {
                let from = at(tlen - 1);
                let n = (usize::from(step[1] / 10) % 3 + 1).min(tlen - from);
                doc.splice_text(&text, from, n as isize, "")
            }
            5 => doc.insert(&list, at(llen), i64::from(step[1])),
            6 if llen > 0 => doc.put(&list, at(llen - 1), i64::from(step[1])),
            7 if llen > 0 => doc.delete(&list, at(llen - 1)),
            8 if llen > 0 => doc.put(&list, at(llen - 1), ScalarValue::counter(1)),
            9 => {
                let to = usize::from(step[2] % 3);
                if to != d {
                    let mut from = devices[d].clone();
                    let changes = missing(&mut devices[to], &mut from);
                    apply_changes(&mut devices[to], changes).expect("merge");
                }
                let changes = missing(&mut window, &mut devices[d]);
                apply_changes(&mut window, changes.clone()).expect("window");
                whole.update_diff_cursor();
                whole.apply_changes(changes).expect("whole walk");
                continue;
            }
            _ => Ok(()),
        };
        done.expect("edit");
        devices[d].commit();
    }
    // Where each op was placed shows in the saved bytes.
    assert_eq!(
        window.save(),
        whole.save(),
        "the window and the whole walk differ"
    );
});
