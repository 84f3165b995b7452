//! Sync status per circle and member, for the app and `circlekeep status`.

use crate::Replica;
use serde::Serialize;

/// Sync status of the whole node.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NodeStatus {
    /// This device's endpoint id (= member id, hex).
    pub endpoint_id: String,
    /// Direct addresses it listens on.
    pub direct_addresses: Vec<String>,
    /// Its home relay, if any.
    pub relay: Option<String>,
    /// Sync-protocol bytes sent to peers since the node started.
    pub bytes_sent: u64,
    /// Records peers sent since the node started that were already here.
    pub received_again: u64,
    /// Per circle, per member.
    pub circles: Vec<CircleStatus>,
}

/// Sync status of one circle.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CircleStatus {
    /// Circle id (hex).
    pub circle: String,
    /// The other current members.
    pub members: Vec<MemberStatus>,
    /// The keepers the circle enrolled (`member` is the keeper's id;
    /// `entries_ahead` is how far behind this device the keeper is).
    pub keepers: Vec<MemberStatus>,
}

/// Sync status with one member.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MemberStatus {
    /// Member id (hex).
    pub member: String,
    /// Whether a session with it is open.
    pub connected: bool,
    /// When it was last heard from (Unix seconds).
    pub last_seen: Option<u64>,
    /// Whether both sides caught up in the current session.
    pub in_sync: bool,
    /// Entries it holds that this device lacks, as far as known.
    pub entries_behind: Option<u64>,
    /// Entries this device holds that it lacks, as far as known.
    pub entries_ahead: Option<u64>,
}

impl MemberStatus {
    /// Nothing known: no node, or never reached.
    pub fn unknown(member: String) -> Self {
        MemberStatus {
            member,
            connected: false,
            last_seen: None,
            in_sync: false,
            entries_behind: None,
            entries_ahead: None,
        }
    }
}

/// Status when no node is running: who is in each circle, nobody connected.
pub fn offline<R: Replica>(replica: &R) -> NodeStatus {
    let me = replica.my_member();
    let keepers = replica.keepers();
    NodeStatus {
        endpoint_id: me.to_hex(),
        direct_addresses: Vec::new(),
        relay: None,
        bytes_sent: 0,
        received_again: 0,
        circles: replica
            .circles()
            .into_iter()
            .map(|(circle, members)| CircleStatus {
                circle: circle.to_hex(),
                members: members
                    .into_iter()
                    .filter(|m| *m != me)
                    .map(|m| MemberStatus::unknown(m.to_hex()))
                    .collect(),
                keepers: keepers
                    .iter()
                    .filter(|(c, _)| *c == circle)
                    .map(|(_, k)| MemberStatus::unknown(k.keeper.to_hex()))
                    .collect(),
            })
            .collect(),
    }
}
