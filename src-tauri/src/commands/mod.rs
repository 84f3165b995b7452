//! The app's commands, grouped by domain; each is a thin call into the engine.

pub mod circles;
pub mod devices;
pub mod exports;
pub mod gatherings;
pub mod goals;
pub mod identity;
pub mod journal;
pub mod qr;
pub mod reflect;
pub mod schedule;
pub mod sync;
