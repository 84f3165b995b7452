//! Arbitrary bytes as the Automerge bundle inside a fold that is otherwise
//! honest (sealed under the circle's key, signed by a member, chained onto
//! her log): a real engine takes it in without a panic, and the circle it
//! holds stays readable.
#![no_main]
use circlekeep_engine::bundle::Bundle;
use circlekeep_engine::testing::Craft;
use circlekeep_engine::{CircleId, DeviceIdentity, DocId, Engine, HistoryPolicy, MemoryStore};
use circlekeep_model::entry::Fold;
use circlekeep_model::EntryHash;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

struct Fixture {
    ada: Engine<MemoryStore>,
    /// What Bo has of the circle: everything but Ada's last entry.
    bo_has: Vec<u8>,
    circle: CircleId,
    gathering: DocId,
    /// Ada's log is this long; Bo holds less of it.
    ada_tip: u64,
    /// A real bundle of Ada's changes, for splicing into.
    real: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // automerge's bundle parser panics on some hostile bytes; the engine
        // contains that (`catch_unwind`) and refuses the fold. libfuzzer-sys's
        // hook would abort on the contained panic too, so it is replaced: a
        // panic that escapes the engine still aborts, in libfuzzer-sys's own
        // wrapper around this target.
        std::panic::set_hook(Box::new(|_| {}));
        let ada = Engine::with_store(MemoryStore::new(), DeviceIdentity::from_seed("Ada", [1; 32]).expect("id"));
        let circle = ada.create_circle("Fuzz circle", HistoryPolicy::SinceJoining).expect("create");
        ada.add_member(circle, receiver().member_card().as_line()).expect("add");
        let gathering = ada.new_gathering(circle, "2026-11-26".parse().expect("date")).expect("gathering");
        ada.add_note(circle, gathering, "seed note").expect("note");
        let bo_has = ada.export_bundle(circle, None).expect("export");
        ada.add_note(circle, gathering, "Bo has not seen this").expect("note");
        let bundle = Bundle::decode(&ada.export_bundle(circle, None).expect("export")).expect("decode");
        let me = ada.identity().member_id();
        let ada_tip = bundle.have.iter().find(|(m, _)| *m == me).map_or(0, |(_, s)| *s);
        let changes = ada.own_raw_changes(circle, gathering).expect("changes");
        let real = ada.bundle_of(circle, gathering, &changes).expect("bundle");
        Fixture { ada, bo_has, circle, gathering, ada_tip, real }
    })
}

fn receiver() -> Engine<MemoryStore> {
    Engine::with_store(MemoryStore::new(), DeviceIdentity::from_seed("Bo", [2; 32]).expect("id"))
}

fn offer(f: &Fixture, bundle: Vec<u8>) {
    let craft = Craft {
        doc: f.gathering,
        seq: Some(f.ada_tip),
        prev: Some(None),
        fold: Some(Fold { first: 1, last: EntryHash([9; 32]) }),
        bundle: Some(bundle),
        ..Craft::default()
    };
    let Ok(fold) = f.ada.craft_entry(f.circle, craft) else { return };
    // A fresh Bo each time: one who took a valid fold would see the rest
    // as duplicates and never decode them.
    let bo = receiver();
    bo.import_bundle(&f.bo_has).expect("import");
    let mut carrier = Bundle::decode(&f.bo_has).expect("decode");
    carrier.entries = vec![fold];
    let _ = bo.import_bundle(&carrier.encode());
    assert!(bo.notes(f.circle, None).is_ok_and(|g| !g.is_empty()), "the circle stays readable");
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    offer(f, data.to_vec());
    // Splice the input into a real bundle too, so the decoder gets past its header.
    let mut spliced = f.real.clone();
    let at = data.first().map_or(0, |b| *b as usize * spliced.len() / 256);
    spliced.splice(at..(at + data.len().min(16)).min(spliced.len()), data.iter().copied());
    offer(f, spliced);
});
