//! Splices from the app's note box, against any version it may claim:
//! never a panic, and a refused splice changes nothing.
#![no_main]
use circlekeep_model::docs::{
    init_gathering, new_doc, put_note, splice_text_at, GatheringDoc, Note, TextEdit,
};
use libfuzzer_sys::fuzz_target;

const PIECES: [&str; 6] = ["", "a", "é", "🙂", "ab\n", "\u{200d}"];

fuzz_target!(|data: &[u8]| {
    let mut doc = new_doc(&[1; 32]);
    let note = Note {
        text: autosurgeon::Text::with_value("start"),
        ..Default::default()
    };
    if init_gathering(&mut doc, &GatheringDoc::default()).is_err()
        || put_note(&mut doc, "n", &note).is_err()
    {
        return;
    }
    doc.commit();
    let path = ["notes", "n", "text"];
    let mut versions = vec![doc.get_heads()];
    for step in data.chunks_exact(4) {
        let edit = TextEdit {
            position: usize::from(step[0] % 24),
            delete: usize::from(step[1] % 6),
            insert: PIECES[usize::from(step[2]) % PIECES.len()].repeat(usize::from(step[2] >> 5)),
        };
        let version = versions[usize::from(step[3]) % versions.len()].clone();
        let before = (doc.get_heads(), doc.save());
        match splice_text_at(&mut doc, &path, &[edit], &version) {
            Ok(next) => versions.push(next),
            Err(_) => assert_eq!(
                (doc.get_heads(), doc.save()),
                before,
                "a refused splice changed the document"
            ),
        }
    }
});
