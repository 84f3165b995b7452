//! Arbitrary bytes sealed to a device's own public recipient (as anyone
//! can) and given to its restore, alone and spliced into a genuine backup
//! archive: never a panic, never taken in unless its files (paths and
//! bytes, what the signature covers and restore reads) are exactly those
//! the device signed, and nothing of the device changes. (Tar metadata —
//! modes, times, padding — is not signed and not read.)
#![no_main]
use circlekeep_engine::{CircleId, DeviceIdentity, Engine, HistoryPolicy, MemoryStore};
use circlekeep_seal::epoch::{open_backup, seal_to_recipient};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

struct Fixture {
    ada: Engine<MemoryStore>,
    identity: DeviceIdentity,
    circle: CircleId,
    /// Ada's genuine backup, opened (a tar archive).
    archive: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let identity = DeviceIdentity::from_seed("Ada", [1; 32]).expect("id");
        let ada = Engine::with_store(
            MemoryStore::new(),
            DeviceIdentity::from_seed("Ada", [1; 32]).expect("id"),
        );
        let circle = ada
            .create_circle("Fuzz circle", HistoryPolicy::SinceJoining)
            .expect("create");
        ada.journal_add("seed entry", None).expect("journal");
        let archive =
            open_backup(identity.age_identity(), &ada.backup(None).expect("backup")).expect("open");
        Fixture {
            ada,
            identity,
            circle,
            archive,
        }
    })
}

/// The archive's files, as restore reads them (`None`: not readable).
fn files(archive: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    use std::io::Read;
    let mut out = Vec::new();
    for file in tar::Archive::new(archive).entries().ok()? {
        let mut file = file.ok()?;
        let path = file.path().ok()?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        out.push((path, bytes));
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let seal = |plain: &[u8]| seal_to_recipient(&f.identity.recipient(), plain);
    assert!(
        f.ada.restore(&seal(data)).is_err(),
        "unsigned bytes taken in"
    );
    let mut spliced = f.archive.clone();
    let at = data
        .first()
        .map_or(0, |b| *b as usize * spliced.len() / 256);
    spliced.splice(
        at..(at + data.len().min(16)).min(spliced.len()),
        data.iter().copied(),
    );
    let restored = f.ada.restore(&seal(&spliced));
    assert!(
        restored.is_err() || files(&spliced) == files(&f.archive),
        "an altered backup taken in"
    );
    assert_eq!(f.ada.journal().expect("journal").len(), 1);
    assert_eq!(f.ada.setting("relay").expect("setting"), None);
    assert_eq!(f.ada.circles().expect("circles").len(), 1);
    let _ = f.circle;
});
