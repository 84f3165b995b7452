//! Arbitrary bytes as the body of an Automerge change chunk. What the
//! engine reads a change to declare before automerge parses it bounds what
//! automerge then walks: whenever the engine takes a change (at most its
//! limit of operations) and automerge decodes it, automerge counts no more
//! operations than the engine read, so no hostile run-length column gets
//! past the limit. (Odd column layouts can make the engine's count the
//! higher one, which only refuses them; for every change automerge makes
//! the two are equal: `honest_changes_declare_what_automerge_counts`.)
#![no_main]
use circlekeep_engine::testing::{change_ops_counted, change_ops_declared};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    // automerge panics on some changes (the engine contains that);
    // libfuzzer-sys's hook would abort on the contained panic too.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    // Magic, a checksum (automerge does not check a lone change's), chunk
    // type 1, the body's length (LEB128), the body.
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1];
    let mut len = body.len();
    while len >= 0x80 {
        chunk.push(0x80 | (len & 0x7f) as u8);
        len >>= 7;
    }
    chunk.push(len as u8);
    chunk.extend_from_slice(body);
    if let Ok(declared) = change_ops_declared(&chunk) {
        if let Some(counted) = change_ops_counted(&chunk) {
            assert!(
                counted <= declared,
                "automerge walked {counted} operations, the engine read {declared}"
            );
        }
    }
});
