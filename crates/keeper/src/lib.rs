//! Circlekeep's keeper: an always-on peer a circle enrols to store and
//! forward its sealed records between gatherings. It is the sync node with
//! another replica: it holds each circle's signed membership log and
//! signed, sealed entries exactly as members wrote them, checks what it
//! can without reading (signatures, chains, membership at the heads an
//! entry names, cuts, sizes) and serves them only to current devices of
//! the circle's members.
//!
//! Architecture invariant: the keeper never holds an epoch key or an age
//! identity; this crate does not open sealed content (it has no key to),
//! and depends on no crate that decodes circle documents.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod circle;
mod home;
mod replica;

pub use home::{KeeperHome, KeeperHomeError};

use circle::KeptCircle;
use circlekeep_model::{CircleId, MemberId};
use circlekeep_store::Store;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Devices that presented the enrolment secret for a circle the keeper
/// does not hold yet, waiting to show the circle's operations: at most
/// this many at once (the oldest goes first).
pub const MAX_PENDING: usize = 64;
/// How long such a device has to sync the circle's operations.
pub const PENDING_FOR: Duration = Duration::from_secs(600);
/// What one circle may store on a keeper unless its operator says
/// otherwise: a year of an eight-member circle is about 1 MB.
pub const DEFAULT_QUOTA: u64 = 1 << 30;

/// Why the keeper cannot serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeeperError {
    /// The store failed.
    #[error("the keeper's store failed: {0}")]
    Store(String),
}

/// What the keeper holds, and who is waiting to hand it a circle.
#[derive(Default)]
struct State {
    circles: BTreeMap<CircleId, KeptCircle>,
    /// Circle → devices that presented the secret for it, and until when.
    pending: BTreeMap<CircleId, BTreeMap<MemberId, Instant>>,
}

/// A keeper over a store: the sync node's replica.
pub struct Keeper<S: Store> {
    store: S,
    quota: u64,
    me: MemberId,
    secret_hash: [u8; 32],
    state: Mutex<State>,
    changes: broadcast::Sender<CircleId>,
}

impl<S: Store> Keeper<S> {
    /// A keeper with endpoint id `me`, taking circles enrolled with
    /// `secret`, over what `store` holds.
    pub fn open(store: S, me: MemberId, secret: &[u8; 32]) -> Result<Self, KeeperError> {
        Self::with_quota(store, me, secret, DEFAULT_QUOTA)
    }

    /// [`Keeper::open`], each circle storing at most `quota` bytes of
    /// entries and operations; past it, entries are refused (operations
    /// never are: a removal must always get in).
    pub fn with_quota(
        store: S,
        me: MemberId,
        secret: &[u8; 32],
        quota: u64,
    ) -> Result<Self, KeeperError> {
        let mut circles = BTreeMap::new();
        for id in store.circles().map_err(store_error)? {
            match KeptCircle::load(&store, id, quota) {
                Ok(circle) => {
                    circles.insert(id, circle);
                }
                Err(e) => tracing::warn!(circle = %id.short(), "cannot load a kept circle: {e}"),
            }
        }
        let (changes, _) = broadcast::channel(256);
        Ok(Keeper {
            store,
            quota,
            me,
            secret_hash: secret_hash(secret),
            state: Mutex::new(State {
                circles,
                pending: BTreeMap::new(),
            }),
            changes,
        })
    }

    /// The circles kept here, with how many records of each are held.
    pub fn kept(&self) -> Vec<(CircleId, usize, u64)> {
        self.lock()
            .circles
            .iter()
            .map(|(id, c)| (*id, c.ops(), c.entries()))
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the secret is compared as (so the comparison's timing says
/// nothing about the secret).
fn secret_hash(secret: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key("circlekeep v1 keeper enrolment", secret)
}

fn store_error(e: impl std::fmt::Display) -> KeeperError {
    KeeperError::Store(e.to_string())
}
