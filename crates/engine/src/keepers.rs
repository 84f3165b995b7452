//! Keepers a circle enrols: a keeper's ticket is circle content (sealed,
//! synced), so every member's device learns the keeper, dials it like a
//! member and hands it the circle's sealed records; removing the ticket
//! stops that. The keeper itself is `circlekeep-keeper`.

use crate::circle::CircleRuntime;
use crate::select::select;
use crate::views::KeeperView;
use crate::{CircleId, Engine, EngineError, MemberId, Store};
use circlekeep_model::docs;
use circlekeep_sync::KeeperTicket;

impl<S: Store> Engine<S> {
    /// Enrols the keeper of `ticket` for circle `id`.
    pub fn add_keeper(&self, id: CircleId, ticket: &str) -> Result<KeeperView, EngineError> {
        let ticket: KeeperTicket = ticket.parse().map_err(|_| EngineError::KeeperTicket)?;
        let text = ticket.to_string();
        let key = ticket.keeper.to_hex();
        self.write_circle_doc(id, |doc| {
            docs::ensure_root_map(doc, "keepers")?;
            Ok(docs::put_value(
                doc,
                &["keepers"],
                &key,
                Some(text.as_str()),
            )?)
        })?;
        Ok(keeper_view(&ticket))
    }

    /// The keepers circle `id` enrolled.
    pub fn keepers(&self, id: CircleId) -> Result<Vec<KeeperView>, EngineError> {
        let tickets = self.with_circle(id, |c, _| Ok(c.keepers()))?;
        Ok(tickets.iter().map(keeper_view).collect())
    }

    /// Stops using a keeper for circle `id` (by id prefix): members'
    /// devices no longer dial it or send it the circle's records.
    pub fn remove_keeper(&self, id: CircleId, selector: &str) -> Result<(), EngineError> {
        let keepers = self.keepers(id)?;
        let found = select(&keepers, selector, |k| &k.id, |_| None)
            .map_err(|miss| miss.into_error(selector, EngineError::UnknownKeeper))?;
        let key = found.id.clone();
        self.write_circle_doc(id, |doc| {
            Ok(docs::put_value::<&str>(doc, &["keepers"], &key, None)?)
        })
    }
}

impl CircleRuntime {
    /// The keepers this circle enrolled (tickets that parse and name the
    /// keeper they are filed under).
    pub(crate) fn keepers(&self) -> Vec<KeeperTicket> {
        // Read through the cached view (the sync node asks often).
        self.read_circle_doc(|doc| {
            doc.keepers
                .iter()
                .filter_map(|(key, text)| {
                    let ticket: KeeperTicket = text.parse().ok()?;
                    (MemberId::from_hex(key).ok()? == ticket.keeper).then_some(ticket)
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
    }

    /// Whether `peer` is a keeper this circle enrolled.
    pub(crate) fn kept_by(&self, peer: &MemberId) -> bool {
        !self.invitation && self.keepers().iter().any(|k| k.keeper == *peer)
    }
}

pub(crate) fn keeper_view(ticket: &KeeperTicket) -> KeeperView {
    KeeperView {
        id: ticket.keeper.to_hex(),
        short: ticket.keeper.short(),
        addresses: ticket
            .direct
            .iter()
            .map(|a| a.to_string())
            .chain(ticket.relay.clone())
            .collect(),
        ticket: ticket.to_string(),
    }
}
