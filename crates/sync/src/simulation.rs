//! The session protocol driven by hand, for fault-injection tests of real
//! replicas (the `simulation` feature): the state machine every session
//! runs, with a host that keeps nothing, fed messages, local changes and
//! time by the caller — who may drop, duplicate, reorder or delay the
//! messages between two such links, and cut them.

use crate::session::{Host, Mode, Session};
use crate::wire::{Message, PeerAddress};
use crate::{Replica, Summary};
use circlekeep_model::{CircleId, MemberId};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// One side of a live session with one peer.
pub struct Link<R: Replica> {
    session: Session<R, Quiet>,
}

/// Why a link ended: what the session would have closed the stream for.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LinkEnded(String);

impl<R: Replica> Link<R> {
    /// A live session of `replica` with the device `peer`; `dialed` on
    /// exactly one of the two sides.
    pub fn new(replica: Arc<R>, peer: MemberId, dialed: bool) -> Self {
        let host = Arc::new(Quiet(watch::channel(false).0));
        Self {
            session: Session::new(replica, host, peer, Mode::Live, dialed),
        }
    }

    /// The next message to send the peer, if one is due at `now`.
    pub fn poll_send(&mut self, now: Instant) -> Option<Message> {
        self.session.poll_send(now)
    }

    /// Messages from the peer, in the order they arrived.
    pub fn on_messages(&mut self, messages: Vec<Message>) -> Result<(), LinkEnded> {
        self.session
            .on_messages(messages)
            .map_err(|e| LinkEnded(e.to_string()))?;
        if self.session.is_refused() {
            return Err(LinkEnded("the peer no longer counts in".into()));
        }
        Ok(())
    }

    /// The replica's records of `circle` changed.
    pub fn on_change(&mut self, circle: CircleId, now: Instant) {
        self.session.on_change(circle, now);
    }

    /// Runs what is due by `now` (see [`Link::poll_timeout`]).
    pub fn on_timer(&mut self, now: Instant) -> Result<(), LinkEnded> {
        self.session
            .on_timer(now)
            .map_err(|e| LinkEnded(e.to_string()))
    }

    /// When [`Link::on_timer`] wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }
}

/// A host that remembers nothing and never shuts down.
struct Quiet(watch::Sender<bool>);

impl Host for Quiet {
    fn addresses_for(&self, _: &MemberId) -> Vec<PeerAddress> {
        Vec::new()
    }
    fn learn_addresses(&self, _: &[PeerAddress]) {}
    fn seen(&self, _: &MemberId) {}
    fn note_peer_state(&self, _: &MemberId, _: &CircleId, _: &Summary) {}
    fn note_received_again(&self, _: u64) {}
    fn mark_in_sync(&self, _: &MemberId) {}
    fn duplicate_session(&self, _: &MemberId) -> bool {
        false
    }
    fn wrote(&self, _: u64) {}
    fn shutdown(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
    fn ended(&self, _: &MemberId, _: bool) {}
}
