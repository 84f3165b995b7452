//! Fork proofs from any peer (`Message::Fork`): two records, arbitrary or
//! spliced from a real proof (Ada's key writing on two computers). A real
//! engine never panics on them, and flags an author only for two records
//! that verify and contradict each other, and only Ada, the one who forked.
#![no_main]
use circlekeep_engine::bundle::Bundle;
use circlekeep_engine::{CircleId, DeviceIdentity, Engine, HistoryPolicy, MemberId, MemoryStore};
use circlekeep_model::fork::contradiction;
use circlekeep_seal::signed::verify_entry;
use circlekeep_sync::Replica;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

struct Fixture {
    bo: Engine<MemoryStore>,
    circle: CircleId,
    ada: MemberId,
    /// Ada's laptop's record and her copied key's at one place.
    proof: [Vec<u8>; 2],
}

fn engine(name: &str, seed: u8) -> Engine<MemoryStore> {
    Engine::with_store(
        MemoryStore::new(),
        DeviceIdentity::from_seed(name, [seed; 32]).expect("id"),
    )
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (ada, copy, bo) = (engine("Ada", 1), engine("Ada", 1), engine("Bo", 2));
        let circle = ada
            .create_circle("Fuzz circle", HistoryPolicy::SinceJoining)
            .expect("create");
        ada.add_member(circle, bo.member_card().expect("card").as_line())
            .expect("add");
        let gathering = ada
            .new_gathering(circle, "2026-11-26".parse().expect("date"))
            .expect("gathering");
        let bundle = ada.export_bundle(circle, None).expect("export");
        bo.import_bundle(&bundle).expect("import");
        copy.import_bundle(&bundle).expect("import");
        copy.accept_circle(circle).expect("accept");
        ada.add_note(circle, gathering, "on the laptop")
            .expect("note");
        copy.add_note(circle, gathering, "on the copy")
            .expect("note");
        let me = ada.identity().device_id();
        let tip = Replica::summary(&ada, &circle).expect("held").have[&me];
        let at = |engine: &Engine<MemoryStore>| {
            let bundle = Bundle::decode(&engine.export_bundle(circle, None).expect("export"))
                .expect("decode");
            bundle
                .entries
                .into_iter()
                .find(|e| verify_entry(e).is_ok_and(|e| e.body.author == me && e.body.seq == tip))
                .expect("the record at the tip")
        };
        Fixture {
            proof: [at(&ada), at(&copy)],
            bo,
            circle,
            ada: me,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let cut = rest.first().map_or(0, |&b| usize::from(b).min(rest.len()));
    let (x, y) = rest.split_at(cut);
    let mut flipped = f.proof[1].clone();
    if let (Some(&at), false) = (rest.first(), flipped.is_empty()) {
        let i = usize::from(at) * 7 % flipped.len();
        flipped[i] ^= rest.get(1).copied().unwrap_or(1) | 1;
    }
    let records = match mode % 5 {
        0 => vec![x.to_vec(), y.to_vec()],
        1 => vec![f.proof[0].clone(), rest.to_vec()],
        2 => vec![f.proof[0].clone(), flipped],
        3 => postcard::from_bytes(rest).unwrap_or_default(),
        _ => vec![f.proof[0].clone(), f.proof[1].clone(), rest.to_vec()],
    };
    let holds = match records.as_slice() {
        [a, b] => match (verify_entry(a), verify_entry(b)) {
            (Ok(a), Ok(b)) => a.body.circle == f.circle && contradiction(&a, &b).is_some(),
            _ => false,
        },
        _ => false,
    };
    match Replica::ingest_fork(&f.bo, &f.circle, records) {
        Some(author) => assert!(
            holds && author == f.ada,
            "flagged on a proof that does not hold"
        ),
        None => assert!(!holds, "a proof that holds, refused"),
    }
});
