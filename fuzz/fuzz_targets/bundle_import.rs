//! Arbitrary bytes given to a real engine's bundle import: never a panic,
//! and the circle it holds stays readable.
#![no_main]
use circlekeep_engine::{CircleId, DeviceIdentity, Engine, HistoryPolicy, MemoryStore};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

struct Fixture {
    engine: Engine<MemoryStore>,
    circle: CircleId,
    bundle: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ada = Engine::with_store(
            MemoryStore::new(),
            DeviceIdentity::from_seed("Ada", [1; 32]).expect("id"),
        );
        let bo = Engine::with_store(
            MemoryStore::new(),
            DeviceIdentity::from_seed("Bo", [2; 32]).expect("id"),
        );
        let circle = ada
            .create_circle("Fuzz circle", HistoryPolicy::SinceJoining)
            .expect("create");
        ada.add_member(circle, bo.member_card().expect("card").as_line())
            .expect("add");
        let g = ada
            .new_gathering(circle, "2026-11-26".parse().expect("date"))
            .expect("gathering");
        ada.add_note(circle, g, "seed note").expect("note");
        let bundle = ada.export_bundle(circle, None).expect("export");
        bo.import_bundle(&bundle).expect("import");
        Fixture {
            engine: bo,
            circle,
            bundle,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    // The engine catches a panic at its edge; one that gets that far is a
    // bug to fix, as a crash was before.
    let edge = |r: &Result<_, circlekeep_engine::EngineError>| {
        !matches!(r, Err(circlekeep_engine::EngineError::Panicked(_)))
    };
    assert!(edge(&f.engine.import_bundle(data)));
    // Splice the input into a real bundle too, so the decoder gets past the header.
    let mut spliced = f.bundle.clone();
    let at = data
        .first()
        .map_or(0, |b| *b as usize * spliced.len() / 256);
    spliced.splice(
        at..(at + data.len().min(16)).min(spliced.len()),
        data.iter().copied(),
    );
    assert!(edge(&f.engine.import_bundle(&spliced)));
    assert_eq!(
        f.engine.notes(f.circle, None).expect("readable")[0]
            .notes
            .len(),
        1
    );
});
