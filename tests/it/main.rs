//! Circlekeep's multi-peer and end-to-end scenarios: real sled stores in
//! temporary folders, real age encryption, real signatures. One module per
//! concern; each names the invariant of DESIGN.md §2 it holds to.

mod authorship;
mod capture;
mod cli;
mod confidentiality;
mod convergence;
mod crash;
mod desktop;
mod devices;
mod error_codes;
mod faults;
mod folds;
mod forks;
mod keeper;
mod map;
mod membership;
mod package;
mod patches;
mod persistence;
mod practice;
mod reflect;
mod rejection;
mod removal;
mod room;
mod sync;
mod table;
