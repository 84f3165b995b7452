//! Sealed payloads, caches and grants: opening never panics, and nothing
//! opens without the key it was sealed under.
#![no_main]
use circlekeep_seal::content::{open, SymmetricKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = SymmetricKey::from_bytes([7; 32]);
    if let Ok((_, plaintext)) = open(&[&key], data) {
        // Only possible if the input really was sealed under this key.
        let _ = postcard::from_bytes::<circlekeep_model::entry::Payload>(&plaintext);
    }
    let me = circlekeep_seal::DeviceIdentity::from_seed("Fuzz", [1; 32]).expect("identity");
    let _ = circlekeep_seal::epoch::open_with_identity(me.age_identity(), data);
});
