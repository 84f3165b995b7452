//! Our automerge patch (`patches/automerge-0.12.0.diff`) applies a change
//! by walking only the part of a list or text it touches, where automerge
//! 0.12 walks every op of the object. A document that logs patches still
//! takes the whole walk, so the two are compared here: devices edit a text
//! and a list concurrently (inserts, deletes, overwrites, counters, runs at
//! the start), and every delivery is applied by both; the saved documents
//! must be byte for byte the same. The text and the list start long: the
//! patch spends one lookup per 1024 ops of a list, and takes the whole walk
//! in a short one.

use automerge::{
    transaction::Transactable, AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, ROOT,
};
use circlekeep_model::docs::{apply_changes, new_doc};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    /// Device, what it types, where (a fraction of the length, in 1/256).
    Type(usize, Edit, u8),
    /// Devices `from` → `to` exchange what one has and the other lacks.
    Merge(usize, usize),
    /// What a device has, to the two replicas under test.
    Deliver(usize),
}

#[derive(Clone, Debug)]
enum Edit {
    Insert(&'static str),
    Delete(u8),
    ListInsert(i64),
    ListPut(i64),
    ListDelete,
    Counter,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => prop::sample::select(&["a", "bc", "é", "🙂", "\n"][..]).prop_map(Edit::Insert),
        2 => (1u8..4).prop_map(Edit::Delete),
        1 => any::<i64>().prop_map(Edit::ListInsert),
        1 => any::<i64>().prop_map(Edit::ListPut),
        1 => Just(Edit::ListDelete),
        1 => Just(Edit::Counter),
    ]
}

fn step(devices: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..devices, edit(), prop_oneof![1 => Just(0u8), 5 => any::<u8>()])
            .prop_map(|(d, e, at)| Step::Type(d, e, at)),
        1 => (0..devices, 0..devices).prop_map(|(a, b)| Step::Merge(a, b)),
        2 => (0..devices).prop_map(Step::Deliver),
    ]
}

fn at(len: usize, fraction: u8) -> usize {
    len * usize::from(fraction) / 255
}

fn type_on(doc: &mut AutoCommit, text: &ObjId, list: &ObjId, edit: &Edit, fraction: u8) {
    let (tlen, llen) = (doc.length(text), doc.length(list));
    let done = match edit {
        Edit::Insert(s) => doc.splice_text(text, at(tlen, fraction), 0, s),
        Edit::Delete(n) if tlen > 0 => {
            let from = at(tlen - 1, fraction);
            let n = usize::from(*n).min(tlen - from);
            doc.splice_text(text, from, n as isize, "")
        }
        Edit::ListInsert(v) => doc.insert(list, at(llen, fraction), *v),
        Edit::ListPut(v) if llen > 0 => doc.put(list, at(llen - 1, fraction), *v),
        Edit::ListDelete if llen > 0 => doc.delete(list, at(llen - 1, fraction)),
        Edit::Counter if llen > 0 => doc.put(list, at(llen - 1, fraction), ScalarValue::counter(1)),
        _ => Ok(()),
    };
    done.expect("edit");
    doc.commit();
}

/// What device `from` holds that `to` lacks.
fn missing(to: &mut AutoCommit, from: &mut AutoCommit) -> Vec<automerge::Change> {
    let heads = to.get_heads();
    let theirs = from.get_changes(&heads);
    theirs
        .into_iter()
        .filter(|c| to.get_change_by_hash(&c.hash()).is_none())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn applying_a_change_where_it_lands_equals_walking_the_whole_list(
        steps in prop::collection::vec(step(3), 1..80)
    ) {
        let mut base = new_doc(&[9; 16]);
        let text = base.put_object(ROOT, "text", ObjType::Text).expect("text");
        let list = base.put_object(ROOT, "list", ObjType::List).expect("list");
        // Long enough that a window is worth its lookups (one per 1024 ops).
        base.splice_text(&text, 0, 0, &"s".repeat(4096)).expect("long text");
        for i in 0..2048 {
            base.insert(&list, i, i as i64).expect("long list");
        }
        base.commit();
        let mut devices: Vec<AutoCommit> = (1..=3u8)
            .map(|d| base.fork().with_actor(vec![d; 16].into()))
            .collect();
        let mut window = base.fork().with_actor(vec![0xaa; 16].into());
        let mut whole = base.fork().with_actor(vec![0xbb; 16].into());
        for step in steps {
            match step {
                Step::Type(d, edit, fraction) => type_on(&mut devices[d], &text, &list, &edit, fraction),
                Step::Merge(a, b) if a != b => {
                    let mut from = devices[b].clone();
                    let changes = missing(&mut devices[a], &mut from);
                    apply_changes(&mut devices[a], changes).expect("merge");
                }
                Step::Merge(..) => {}
                Step::Deliver(d) => {
                    let changes = missing(&mut window, &mut devices[d]);
                    apply_changes(&mut window, changes.clone()).expect("window");
                    // A patch log makes automerge walk the whole object.
                    whole.update_diff_cursor();
                    whole.apply_changes(changes).expect("whole walk");
                    prop_assert_eq!(window.save(), whole.save());
                }
            }
        }
        prop_assert_eq!(window.text(&text).expect("text"), whole.text(&text).expect("text"));
    }
}
