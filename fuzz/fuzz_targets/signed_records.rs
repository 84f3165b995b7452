//! Signed operations and entries from anyone: decoding and verifying never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = circlekeep_seal::signed::verify_entry(data);
    let _ = circlekeep_seal::signed::verify_op(data);
    let _ = circlekeep_engine::bundle::Bundle::decode(data);
});
