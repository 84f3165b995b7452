//! Circlekeep's engine: every verb of the app — create a circle, add and
//! remove members, open gatherings, write notes, goals and contracts, export
//! and import bundles — as one headless facade over the model, seal and store
//! layers. The desktop app, the CLI and the tests all drive this.
//!
//! Architecture invariant: the engine knows nothing of Tauri, JSON-over-IPC
//! or terminals. Plaintext lives only in memory here; what it hands the store
//! is signed and sealed.
//!
//! ```
//! use circlekeep_engine::{Engine, HistoryPolicy};
//! use circlekeep_seal::DeviceIdentity;
//! use circlekeep_store::MemoryStore;
//!
//! let ada = Engine::with_store(MemoryStore::new(), DeviceIdentity::from_seed("Ada", [1; 32])?);
//! let bo = Engine::with_store(MemoryStore::new(), DeviceIdentity::from_seed("Bo", [2; 32])?);
//! let circle = ada.create_circle("Thursday circle", HistoryPolicy::SinceJoining)?;
//! ada.add_member(circle, bo.member_card()?.as_line())?;
//! let gathering = ada.new_gathering(circle, "2026-11-26".parse()?)?;
//! ada.add_note(circle, gathering, "We agreed to start on time.")?;
//!
//! // Bo receives a bundle (the offline transport) and reads the note.
//! bo.import_bundle(&ada.export_bundle(circle, None)?)?;
//! let notes = bo.notes(circle, None)?;
//! assert_eq!(notes[0].notes[0].text, "We agreed to start on time.");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod backup;
mod brief;
pub mod bundle;
mod bundles;
mod cache;
mod checkpoint;
mod circle;
mod circles;
mod contracts;
pub mod devices;
pub mod diagnostics;
pub mod error;
mod export;
mod gathering;
mod goals;
mod home;
mod invitations;
mod invites;
mod journal;
mod keepers;
mod keyring;
mod notes;
mod plan;
pub mod practice;
mod presenting;
pub mod pulse;
mod receive;
mod rejections;
mod replica;
mod retro;
pub mod search;
mod select;
mod series;
mod settings;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod views;

pub use backup::RestoreReport;
pub use checkpoint::CheckpointPolicy;
pub use chrono::{NaiveDate, Utc};
pub use circle::{FOLD_MAX_ENTRIES, FOLD_MAX_OPS, FOLD_MIN_ENTRIES};
pub use circlekeep_model::docs::{GoalStatus, HistoryPolicy, Outcome, TextEdit};
pub use circlekeep_model::{agenda, rota, schedule};
pub use circlekeep_model::{BadInput, CircleId, DocId, MemberId};
pub use circlekeep_seal::{DeviceIdentity, ExposeSecret, MemberCard, SecretString};
pub use circlekeep_store::{MemoryStore, SledStore, Store};
pub use error::{EngineError, ErrorCode, Rejection};
pub use export::write_owner_only;
pub use home::Home;
pub use plan::{Move, MAX_PLACE_CHARS};
pub use settings::NetChoice;

use circle::{CircleRuntime, Ctx};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// Longest a long ingest pauses between slices for callers waiting.
const LET_IN_AT_MOST: std::time::Duration = std::time::Duration::from_millis(5);

/// Longest note, goal or contract, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;

/// One device's Circlekeep: its identity, its store and its circles.
pub struct Engine<S: Store = SledStore> {
    store: S,
    me: DeviceIdentity,
    circles: Mutex<BTreeMap<CircleId, CircleRuntime>>,
    changes: tokio::sync::broadcast::Sender<CircleId>,
    /// Serialises invite redemption so a secret is used once.
    invites: Mutex<()>,
    /// Callers waiting for `circles`; a catch-up lets them in between slices.
    waiting: std::sync::atomic::AtomicUsize,
}

impl Engine<SledStore> {
    /// Creates an identity and an empty store in `home`.
    pub fn init(
        home: &Home,
        name: &str,
        passphrase: &SecretString,
        work_factor: u8,
    ) -> Result<Self, EngineError> {
        let me = home.create_identity(name, passphrase, work_factor, None)?;
        let store = home.open_store()?;
        Ok(Self::with_store(store, me))
    }

    /// Creates this device's keys in `home` as a new device of `member`
    /// (to be linked by one of the member's devices).
    pub fn init_device(
        home: &Home,
        member: MemberId,
        name: &str,
        passphrase: &SecretString,
        work_factor: u8,
    ) -> Result<Self, EngineError> {
        let me = home.create_identity(name, passphrase, work_factor, Some(member))?;
        let store = home.open_store()?;
        Ok(Self::with_store(store, me))
    }

    /// Opens the identity and store in `home` with `passphrase`.
    pub fn open(home: &Home, passphrase: &SecretString) -> Result<Self, EngineError> {
        let me = home.open_identity(passphrase)?;
        let store = home.open_store()?;
        Ok(Self::with_store(store, me))
    }
}

impl<S: Store> Engine<S> {
    /// An engine over any store, for tests and benchmarks.
    pub fn with_store(store: S, me: DeviceIdentity) -> Self {
        let engine = Self {
            store,
            me,
            circles: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::broadcast::channel(1024).0,
            invites: Mutex::new(()),
            waiting: Default::default(),
        };
        // An entry not moved stays readable under its old key, and is
        // moved at the next start.
        let _ = engine.rekey_legacy_journal();
        engine
    }

    /// Announces the circles whose stored records change, from local edits
    /// or from peers (for sync sessions and the app).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<CircleId> {
        self.changes.subscribe()
    }

    /// This device's identity.
    pub fn identity(&self) -> &DeviceIdentity {
        &self.me
    }

    /// The store (for tests that inspect what is at rest).
    pub fn store(&self) -> &S {
        &self.store
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, BTreeMap<CircleId, CircleRuntime>> {
        use std::sync::atomic::Ordering::Relaxed;
        self.waiting.fetch_add(1, Relaxed);
        // A panic mid-operation poisons nothing the store does not hold:
        // keep serving, the runtime reloads from disk if it was marked.
        let circles = self.circles.lock().unwrap_or_else(|p| p.into_inner());
        self.waiting.fetch_sub(1, Relaxed);
        circles
    }

    /// Gives callers already waiting for the circles a moment to go first
    /// (between the slices of a long ingest: std's lock lets the releasing
    /// thread take it straight back, which kept the app waiting for whole
    /// catch-ups; a fair lock everywhere halved typing throughput).
    pub(crate) fn let_waiting_callers_in(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let deadline = std::time::Instant::now() + LET_IN_AT_MOST;
        while self.waiting.load(Relaxed) > 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
    }

    pub(crate) fn ctx(&self) -> Ctx<'_, S> {
        Ctx {
            store: &self.store,
            me: &self.me,
            changes: &self.changes,
        }
    }

    /// Runs `f` on a loaded circle; a circle left inconsistent is dropped
    /// from memory so the next call reloads it from the store.
    pub(crate) fn with_circle<T>(
        &self,
        id: CircleId,
        f: impl FnOnce(&mut CircleRuntime, &Ctx<'_, S>) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let mut circles = self.lock();
        let ctx = self.ctx();
        // Automerge can panic on bytes a member signed, in any call (load,
        // save, fork, an edit): the circle is then dropped from memory and
        // reloaded from what is stored at its next use.
        let run = std::panic::AssertUnwindSafe(|| {
            let runtime = match circles.entry(id) {
                std::collections::btree_map::Entry::Occupied(held) => held.into_mut(),
                std::collections::btree_map::Entry::Vacant(slot) => {
                    match CircleRuntime::load(&ctx, id) {
                        Ok(loaded) => slot.insert(loaded),
                        Err(e) => return (Err(e), false),
                    }
                }
            };
            let result = f(runtime, &ctx);
            (result, runtime.poisoned)
        });
        match std::panic::catch_unwind(run) {
            Ok((result, poisoned)) => {
                if poisoned {
                    circles.remove(&id);
                }
                result
            }
            Err(panic) => {
                circles.remove(&id);
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(circle = %id.short(), "working on a circle panicked: {what}");
                Err(EngineError::Panicked(what))
            }
        }
    }
}

/// Today's date on this device's clock.
pub fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

/// A YYYY-MM-DD date as a person typed it.
pub fn parse_date(text: &str) -> Result<NaiveDate, EngineError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| EngineError::BadDate(text.trim().to_owned()))
}

/// A typed date, or today where none (or a blank one) was given.
pub fn date_or_today(text: Option<&str>) -> Result<NaiveDate, EngineError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => parse_date(text),
        None => Ok(today()),
    }
}

pub(crate) fn check_text(text: &str, max: usize) -> Result<String, EngineError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(EngineError::BadText("text cannot be empty"));
    }
    if text.chars().count() > max {
        return Err(EngineError::BadText("text is too long"));
    }
    Ok(text.to_owned())
}

pub(crate) fn random_id() -> String {
    data_encoding::HEXLOWER.encode(&circlekeep_seal::random_bytes::<8>())
}

pub(crate) fn short_hex(hex: &str) -> String {
    hex.chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::{date_or_today, parse_date, today, ErrorCode};

    #[test]
    fn a_typed_date_parses_once_for_the_app_and_the_cli() {
        let date = parse_date(" 2026-11-26 ").expect("date");
        assert_eq!(date.to_string(), "2026-11-26");
        assert_eq!(date_or_today(Some("2026-11-26")).ok(), Some(date));
        assert_eq!(date_or_today(None).ok(), Some(today()));
        assert_eq!(date_or_today(Some("  ")).ok(), Some(today()));
        let refused = date_or_today(Some("26/11/2026")).expect_err("refused");
        assert_eq!(refused.code(), ErrorCode::BadDate);
    }
}
