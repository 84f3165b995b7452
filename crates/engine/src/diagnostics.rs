//! What a member can copy into a bug report: the version, the system,
//! counts and the sync state. Never circle content, names, ids or keys.

use crate::{Engine, EngineError, Store};
use circlekeep_sync::status::NodeStatus;
use serde::Serialize;
use std::fmt;

/// Diagnostic info without content.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnostics {
    /// Circlekeep's version.
    pub version: &'static str,
    /// Operating system and architecture.
    pub os: String,
    /// Circles held, and how many of them wait as invitations.
    pub circles: usize,
    /// Circles that wait for this member to accept.
    pub invitations: usize,
    /// Current devices of this member.
    pub devices: usize,
    /// The sync node, if one runs.
    pub sync: Option<SyncDiagnostics>,
}

/// The sync node's state, in counts.
#[derive(Clone, Debug, Serialize)]
pub struct SyncDiagnostics {
    /// Addresses it listens on.
    pub addresses: usize,
    /// Whether it uses a relay.
    pub relay: bool,
    /// Members with an open session, over all circles.
    pub connected: usize,
    /// Members this device knows it is behind or ahead of.
    pub out_of_sync: usize,
}

impl<S: Store> Engine<S> {
    /// Diagnostic info for a bug report; `node` is the running node's
    /// status, if any.
    pub fn diagnostics(&self, node: Option<&NodeStatus>) -> Result<Diagnostics, EngineError> {
        let circles = self.circles()?;
        let members = || {
            node.into_iter()
                .flat_map(|n| &n.circles)
                .flat_map(|c| &c.members)
        };
        Ok(Diagnostics {
            version: env!("CARGO_PKG_VERSION"),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            invitations: circles.iter().filter(|c| c.invitation).count(),
            circles: circles.len(),
            devices: self.devices()?.len(),
            sync: node.map(|n| SyncDiagnostics {
                addresses: n.direct_addresses.len(),
                relay: n.relay.is_some(),
                connected: members().filter(|m| m.connected).count(),
                out_of_sync: members()
                    .filter(|m| m.entries_behind.unwrap_or(0) + m.entries_ahead.unwrap_or(0) > 0)
                    .count(),
            }),
        })
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Circlekeep {} on {}", self.version, self.os)?;
        writeln!(
            f,
            "Circles: {} ({} waiting as invitations); devices of this member: {}",
            self.circles, self.invitations, self.devices
        )?;
        match &self.sync {
            Some(s) => writeln!(
                f,
                "Sync: running on {} address(es), relay {}; {} member session(s) open, {} out of sync",
                s.addresses,
                if s.relay { "on" } else { "off" },
                s.connected,
                s.out_of_sync
            ),
            None => writeln!(f, "Sync: not running"),
        }
    }
}
