//! Applying received changes keeps only the document: nothing that grows
//! with every applied op stays behind (automerge 0.12's unasked-for patch
//! log once held ~150 MB for a two-year circle). Its own test binary, so no
//! other test allocates while the heap is counted.

use automerge::{transaction::Transactable, AutoCommit, ObjType, ReadDoc, ROOT};
use cap::Cap;
use circlekeep_model::docs::{apply_changes, new_doc};
use std::alloc::System;

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

/// A note typed one keystroke per change, as entries carry it.
fn typed_changes(keystrokes: usize) -> Vec<automerge::Change> {
    let mut author = new_doc(&[1; 16]);
    let text = author
        .put_object(ROOT, "note", ObjType::Text)
        .expect("new text");
    author.commit();
    for i in 0..keystrokes {
        let len = author.length(&text);
        author
            .splice_text(&text, len, 0, if i % 7 == 6 { " " } else { "x" })
            .expect("type");
        author.commit();
    }
    author.get_changes(&[])
}

#[test]
fn applied_changes_leave_only_the_document_in_memory() {
    let changes = typed_changes(5_000);

    let before = HEAP.allocated();
    let mut applied = new_doc(&[2; 16]);
    apply_changes(&mut applied, changes.clone()).expect("apply");
    let held_after_applying = HEAP.allocated() - before;

    let saved = applied.save();
    let before = HEAP.allocated();
    let mut loaded = AutoCommit::load(&saved).expect("load");
    let held_after_loading = HEAP.allocated() - before;

    assert_eq!(applied.get_heads(), loaded.get_heads());
    eprintln!("applied: {held_after_applying} B, loaded: {held_after_loading} B");
    assert!(
        held_after_applying < 2 * held_after_loading,
        "applying 5k keystrokes holds {held_after_applying} B, loading the same document {held_after_loading} B"
    );
}
