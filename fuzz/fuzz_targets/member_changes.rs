//! Arbitrary bytes as the Automerge data a member sends, in records that
//! are otherwise honest (sealed under the circle's key, signed by a member,
//! chained onto her log): as a raw change in an entry, as a fold's run, and
//! spliced into a real change. A real engine takes them in without a panic
//! escaping or memory running away, and the circle it holds stays readable.
#![no_main]
use circlekeep_engine::bundle::Bundle;
use circlekeep_engine::testing::{run_of, Craft};
use circlekeep_engine::{
    CircleId, DeviceIdentity, DocId, Engine, EngineError, HistoryPolicy, MemoryStore,
};
use circlekeep_model::entry::Fold;
use circlekeep_model::EntryHash;
use circlekeep_seal::signed::verify_entry;
use circlekeep_sync::Replica;
use libfuzzer_sys::fuzz_target;
use std::sync::{Mutex, OnceLock};

struct Fixture {
    ada: Engine<MemoryStore>,
    circle: CircleId,
    gathering: DocId,
    /// Ada's real changes to the gathering, for splicing into.
    real: Vec<Vec<u8>>,
    /// Bo, who holds Ada's log up to `.1` (chain hash `.2`): every record
    /// offered goes right after that, so none is a mere duplicate.
    bo: Mutex<(Engine<MemoryStore>, u64, EntryHash)>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // automerge panics on some well-formed changes; the engine contains
        // that and refuses them. libfuzzer-sys's hook would abort on the
        // contained panic too, so it is replaced: a panic that escapes the
        // engine still aborts, in libfuzzer-sys's own wrapper of this target.
        std::panic::set_hook(Box::new(|_| {}));
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
        let gathering = ada
            .new_gathering(circle, "2026-11-26".parse().expect("date"))
            .expect("gathering");
        ada.add_note(circle, gathering, "seed note").expect("note");
        let bundle = ada.export_bundle(circle, None).expect("export");
        bo.import_bundle(&bundle).expect("import");
        let (tip, hash) = held(&bo, circle, &ada, &Bundle::decode(&bundle).expect("decode"));
        let real = ada.own_raw_changes(circle, gathering).expect("changes");
        Fixture {
            ada,
            circle,
            gathering,
            real,
            bo: Mutex::new((bo, tip, hash)),
        }
    })
}

/// How far `bo` holds `ada`'s log, and the chain hash there, from `bundle`.
fn held(
    bo: &Engine<MemoryStore>,
    circle: CircleId,
    ada: &Engine<MemoryStore>,
    bundle: &Bundle,
) -> (u64, EntryHash) {
    let me = ada.identity().member_id();
    let tip = Replica::summary(bo, &circle)
        .and_then(|s| s.have.get(&me).copied())
        .unwrap_or(0);
    let hash = bundle
        .entries
        .iter()
        .filter_map(|e| verify_entry(e).ok())
        .find(|e| e.body.author == me && e.body.seq == tip)
        .map_or(EntryHash([0; 32]), |e| e.chain_hash());
    (tip, hash)
}

/// Bo takes Ada's record crafted to follow what he holds; if he keeps it,
/// the next record follows it.
fn offer(f: &Fixture, craft: impl FnOnce(u64, EntryHash) -> Craft) {
    let mut bo = f.bo.lock().unwrap_or_else(|p| p.into_inner());
    let (tip, prev) = (bo.1, bo.2);
    let Ok(record) = f.ada.craft_entry(f.circle, craft(tip, prev)) else {
        return;
    };
    let carrier = Bundle {
        circle: f.circle,
        from: f.ada.identity().member_id(),
        have: Vec::new(),
        ops: Vec::new(),
        entries: vec![record.clone()],
    };
    let imported = bo.0.import_bundle(&carrier.encode());
    // The engine catches a panic at its edge; one that gets that far is a
    // bug to fix, as a crash was before.
    assert!(
        !matches!(imported, Err(EngineError::Panicked(_))),
        "{imported:?}"
    );
    assert!(
        bo.0.notes(f.circle, None).is_ok_and(|g| !g.is_empty()),
        "the circle stays readable"
    );
    let me = f.ada.identity().member_id();
    let now = Replica::summary(&bo.0, &f.circle)
        .and_then(|s| s.have.get(&me).copied())
        .unwrap_or(0);
    if now > tip {
        let chain = verify_entry(&record).map_or(prev, |e| e.chain_hash());
        bo.1 = now;
        bo.2 = chain;
    }
}

fn entry(f: &Fixture, changes: Vec<Vec<u8>>) -> impl FnOnce(u64, EntryHash) -> Craft + '_ {
    move |tip, prev| Craft {
        doc: f.gathering,
        seq: Some(tip + 1),
        prev: Some(Some(prev)),
        changes,
        ..Craft::default()
    }
}

fn fold(f: &Fixture, run: Vec<u8>) -> impl FnOnce(u64, EntryHash) -> Craft + '_ {
    move |tip, prev| Craft {
        doc: f.gathering,
        seq: Some(tip + 2),
        prev: Some(Some(prev)),
        fold: Some(Fold {
            first: tip + 1,
            last: EntryHash([9; 32]),
        }),
        run: Some(run),
        ..Craft::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    // As the one change of Ada's next entry, and of a fold.
    offer(f, entry(f, vec![data.to_vec()]));
    offer(f, fold(f, run_of(&[data.to_vec()])));
    // As a fold's deflated run itself.
    offer(f, fold(f, data.to_vec()));
    // Spliced into Ada's real last change, so decoding gets past its header.
    let mut changes = f.real.clone();
    if let Some(last) = changes.last_mut() {
        let at = data.first().map_or(0, |b| *b as usize * last.len() / 256);
        last.splice(
            at..(at + data.len().min(16)).min(last.len()),
            data.iter().copied(),
        );
    }
    offer(f, entry(f, changes));
});
