//! One sync session with one peer over one stream pair. The protocol is
//! the state machine in `machine` (no I/O, unit-tested in `tests`); this
//! module is the short loop around it that reads, writes, waits, and runs
//! the machine's replica work off the async threads. The node is reached
//! only through [`Host`].

mod machine;
#[cfg(test)]
mod tests;

use crate::wire::{compressed, read_message, write_message, Message, PeerAddress, WireError};
use crate::{Replica, Summary};
use circlekeep_model::{CircleId, MemberId};
pub(crate) use machine::Session;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::io::InspectWriter;

/// How long one frame may take to write before the peer counts as stalled.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a peer that no longer counts in may keep the connection open
/// to read the operations that say so.
const FAREWELL_WAIT: Duration = Duration::from_secs(5);
/// Messages read ahead of processing (each at most `MAX_FRAME`).
const INCOMING_QUEUE: usize = 4;

/// Whether a session ends once both sides caught up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Stay and push new records until the peer or the node leaves.
    Live,
    /// Leave once both sides sent everything the other lacked.
    OneShot,
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("peer did not say hello in time")]
    NoHello,
    #[error("peer broke the protocol: {0}")]
    Protocol(&'static str),
    #[error("peer stopped reading")]
    Stalled,
    #[error("local work failed: {0}")]
    Local(String),
    #[error("peer is no longer a member")]
    NoLongerMember,
}

/// What a session tells and asks the node it runs in.
pub(crate) trait Host: Send + Sync + 'static {
    /// Addresses to give `peer` in our hello: ours and shared members'.
    fn addresses_for(&self, peer: &MemberId) -> Vec<PeerAddress>;
    /// Addresses the peer gave.
    fn learn_addresses(&self, addresses: &[PeerAddress]);
    /// The peer said something.
    fn seen(&self, peer: &MemberId);
    /// What the peer now holds of a circle.
    fn note_peer_state(&self, peer: &MemberId, circle: &CircleId, summary: &Summary);
    /// Records the peer sent that were already held here.
    fn note_received_again(&self, records: u64);
    /// Both sides caught up.
    fn mark_in_sync(&self, peer: &MemberId);
    /// Whether this (dialed) session duplicates one the peer dialed.
    fn duplicate_session(&self, peer: &MemberId) -> bool;
    /// Bytes written to the peer (after compression).
    fn wrote(&self, bytes: u64);
    /// Turns true when the node shuts down.
    fn shutdown(&self) -> watch::Receiver<bool>;
    /// The session ended.
    fn ended(&self, peer: &MemberId, dialed: bool);
}

/// Runs a session until the peer leaves, the node shuts down, or (one-shot)
/// both sides caught up.
pub(crate) async fn run<R, H, W, Rd>(
    replica: Arc<R>,
    host: Arc<H>,
    peer: MemberId,
    (writer, reader): (W, Rd),
    mode: Mode,
    dialed: bool,
) -> Result<(), SessionError>
where
    R: Replica,
    H: Host,
    W: AsyncWrite + Unpin + Send,
    Rd: AsyncRead + Unpin + Send + 'static,
{
    let counter = host.clone();
    let writer = InspectWriter::new(writer, move |bytes: &[u8]| {
        counter.wrote(bytes.len() as u64)
    });
    let (mut writer, mut reader) = compressed(writer, reader);
    // Subscribe before the hello so no change slips between the two.
    let changes = replica.changes();
    let shutdown = host.shutdown();
    let (tx, mut incoming) = mpsc::channel::<Result<Option<Message>, WireError>>(INCOMING_QUEUE);
    let reader_task = tokio::spawn(async move {
        loop {
            let message = read_message(&mut reader).await;
            let more = matches!(message, Ok(Some(_)));
            if tx.send(message).await.is_err() || !more {
                break;
            }
        }
    });
    let session = Session::new(replica, host.clone(), peer, mode, dialed);
    let result = drive(session, &mut writer, &mut incoming, changes, shutdown).await;
    let refused = matches!(result, Err(SessionError::NoLongerMember));
    if result.is_ok() || refused {
        // Let the peer read everything before the stream ends.
        let _ = tokio::time::timeout(WRITE_TIMEOUT, writer.shutdown()).await;
        if mode == Mode::OneShot || refused {
            // Wait for the peer to finish too, so nothing in flight is cut
            // off (a peer that is out gets a short while to read that it is).
            let wait = if refused {
                FAREWELL_WAIT
            } else {
                WRITE_TIMEOUT
            };
            let _ = tokio::time::timeout(wait, async {
                while let Some(Ok(Some(_))) = incoming.recv().await {}
            })
            .await;
        }
    }
    reader_task.abort();
    host.ended(&peer, dialed);
    result
}

/// The loop around the machine: write what it hands out, then wait for
/// the peer, a local change, its timer, or shutdown.
async fn drive<R: Replica, H: Host, W: AsyncWrite + Unpin + Send>(
    mut session: Session<R, H>,
    writer: &mut W,
    incoming: &mut mpsc::Receiver<Result<Option<Message>, WireError>>,
    mut changes: broadcast::Receiver<CircleId>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SessionError> {
    let mut arrived = Vec::with_capacity(INCOMING_QUEUE);
    loop {
        if session.is_duplicate() {
            tracing::debug!("closing a duplicate session");
            return Ok(());
        }
        loop {
            let (s, next) = off_thread(session, |s| s.poll_send(Instant::now())).await?;
            session = s;
            let Some(message) = next else { break };
            send(writer, &message).await?;
        }
        if session.is_refused() {
            return Err(SessionError::NoLongerMember);
        }
        if session.is_finished() {
            return Ok(());
        }
        let due = session.poll_timeout();
        tokio::select! {
            received = incoming.recv_many(&mut arrived, INCOMING_QUEUE) => {
                if received == 0 {
                    return session.on_end();
                }
                let mut messages = Vec::with_capacity(received);
                let mut end = None;
                for message in arrived.drain(..) {
                    match message {
                        Ok(Some(message)) => messages.push(message),
                        other => end = Some(other),
                    }
                }
                let (s, handled) = off_thread(session, move |s| s.on_messages(messages)).await?;
                session = s;
                handled?;
                match end {
                    Some(Err(e)) => return Err(e.into()),
                    // The peer finished its side: it is leaving.
                    Some(_) => return session.on_end(),
                    None => {}
                }
            },
            change = changes.recv() => match change {
                Ok(circle) => session.on_change(circle, Instant::now()),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    session = off_thread(session, |s| s.on_lagged()).await?.0;
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            _ = sleep_until(due) => session.on_timer(Instant::now())?,
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// Runs `work` on `state` on a blocking thread (replica work takes locks
/// and reads the store) and hands both back.
async fn off_thread<S: Send + 'static, T: Send + 'static>(
    mut state: S,
    work: impl FnOnce(&mut S) -> T + Send + 'static,
) -> Result<(S, T), SessionError> {
    tokio::task::spawn_blocking(move || {
        let out = work(&mut state);
        (state, out)
    })
    .await
    .map_err(|e| SessionError::Local(e.to_string()))
}

async fn send<W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &Message,
) -> Result<(), SessionError> {
    match tokio::time::timeout(WRITE_TIMEOUT, write_message(writer, message)).await {
        Ok(result) => {
            result?;
            Ok(())
        }
        Err(_) => Err(SessionError::Stalled),
    }
}

/// Sleeps until `at`, or forever if there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
