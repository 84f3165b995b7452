//! Circlekeep's domain model: identifiers, the rules of the membership log,
//! the shape of entries, and the typed circle and gathering documents.
//!
//! Architecture invariant: this crate does no I/O and no cryptography beyond
//! hashing. It knows nothing of age, sled, iroh or Tauri; signatures are
//! checked by `circlekeep-seal` before anything here sees an operation.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod agenda;
pub mod attestation;
pub mod authorship;
pub mod docs;
pub mod entry;
pub mod error_code;
pub mod fork;
pub mod ids;
pub mod membership;
pub mod progress;
pub mod rota;
pub mod schedule;

pub use ids::{CircleId, DocId, EntryHash, MemberId, OpHash};

pub use error_code::{BadInput, ErrorCode};
