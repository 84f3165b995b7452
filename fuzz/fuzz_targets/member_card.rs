//! Member cards pasted by people, and the attestation a linking device
//! answers with: parsing never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = circlekeep_seal::attest::from_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<circlekeep_seal::MemberCard>();
        // A linked device's card, whose body carries an attestation.
        let device = format!("{}{text}", circlekeep_seal::card::DEVICE_CARD_PREFIX);
        let _ = device.parse::<circlekeep_seal::MemberCard>();
    }
});
