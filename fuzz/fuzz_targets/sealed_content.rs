//! Sealed payloads, caches and grants: opening never panics, nothing opens
//! without the key it was sealed under, and whatever is sealed (by
//! Circlekeep's own age writer) opens unchanged.
#![no_main]
use circlekeep_seal::content::{open, seal, SymmetricKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = SymmetricKey::from_bytes([7; 32]);
    if let Ok((_, plaintext)) = open(&[&key], data) {
        // Only possible if the input really was sealed under this key.
        let _ = postcard::from_bytes::<circlekeep_model::entry::Payload>(&plaintext);
    }
    let sealed = seal(&key, data);
    assert_eq!(open(&[&key], &sealed).map(|(_, p)| p).as_deref(), Ok(data));
    let me = circlekeep_seal::DeviceIdentity::from_seed("Fuzz", [1; 32]).expect("identity");
    let _ = circlekeep_seal::epoch::open_with_identity(me.age_identity(), data);
});
