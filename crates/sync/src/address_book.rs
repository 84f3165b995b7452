//! Where members can be reached: direct addresses and home relays learnt
//! from tickets, from members' own hellos and from other members. Kept by
//! the replica (sealed); bounded per member so nobody can flood it.

use crate::wire::PeerAddress;
use circlekeep_model::MemberId;
use iroh::{EndpointAddr, EndpointId, RelayUrl, TransportAddr};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Direct addresses kept per member, newest last.
const MAX_DIRECT: usize = 8;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Known {
    direct: Vec<SocketAddr>,
    relay: Option<String>,
}

/// Known addresses by member.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct AddressBook {
    members: BTreeMap<MemberId, Known>,
}

impl AddressBook {
    /// Restores a saved book; an unreadable one starts empty.
    pub fn load(bytes: Option<&[u8]>) -> Self {
        bytes
            .and_then(|b| postcard::from_bytes(b).ok())
            .unwrap_or_default()
    }

    /// The book as bytes for keeping.
    pub fn save(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Records what `address` says; returns whether anything changed.
    pub fn learn(&mut self, address: &PeerAddress) -> bool {
        let known = self.members.entry(address.member).or_default();
        let mut changed = false;
        for addr in &address.direct {
            if let Some(at) = known.direct.iter().position(|a| a == addr) {
                if at + 1 == known.direct.len() {
                    continue;
                }
                known.direct.remove(at);
            } else {
                changed = true;
            }
            known.direct.push(*addr);
        }
        if known.direct.len() > MAX_DIRECT {
            let excess = known.direct.len() - MAX_DIRECT;
            known.direct.drain(..excess);
        }
        if address.relay.is_some() && address.relay != known.relay {
            known.relay = address.relay.clone();
            changed = true;
        }
        changed
    }

    /// What to dial for `member`: its id with every known address (an id
    /// alone still works where address lookup can find it).
    pub fn endpoint_addr(&self, id: EndpointId, member: &MemberId) -> EndpointAddr {
        let mut addr = EndpointAddr::new(id);
        if let Some(known) = self.members.get(member) {
            addr = addr.with_addrs(known.direct.iter().rev().map(|a| TransportAddr::Ip(*a)));
            if let Some(relay) = known
                .relay
                .as_deref()
                .and_then(|r| r.parse::<RelayUrl>().ok())
            {
                addr = addr.with_relay_url(relay);
            }
        }
        addr
    }

    /// Addresses of the given members, for a hello.
    pub fn of(&self, members: impl IntoIterator<Item = MemberId>) -> Vec<PeerAddress> {
        members
            .into_iter()
            .filter_map(|m| {
                self.members.get(&m).map(|k| PeerAddress {
                    member: m,
                    direct: k.direct.clone(),
                    relay: k.relay.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_bounded_and_round_trips() {
        let mut book = AddressBook::default();
        let member = MemberId([1; 32]);
        for port in 0..20u16 {
            book.learn(&PeerAddress {
                member,
                direct: vec![SocketAddr::from(([127, 0, 0, 1], 1000 + port))],
                relay: None,
            });
        }
        let saved = AddressBook::load(Some(&book.save()));
        let listed = saved.of([member]);
        assert_eq!(listed[0].direct.len(), MAX_DIRECT);
        assert_eq!(listed[0].direct.last().map(|a| a.port()), Some(1019));
        let newest = PeerAddress {
            member,
            direct: vec![SocketAddr::from(([127, 0, 0, 1], 1019))],
            relay: None,
        };
        assert!(
            !book.learn(&newest),
            "re-learning the newest address changes nothing"
        );
        assert!(AddressBook::load(Some(b"junk")).of([member]).is_empty());
    }
}
