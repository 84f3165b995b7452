//! One sync session with one peer over one stream pair: both sides say
//! hello with what they hold, send what the other lacks in each author's
//! order, mark the end of that first pass, then push new records as they
//! appear. The peer's state is tracked from what it announced, what it sent
//! and what it was sent, so nothing is sent twice or echoed back.

use crate::node::Inner;
use crate::wire::{
    compressed, read_message, write_message, Hello, Message, WireError, BATCH_BYTES,
};
use crate::{Records, Replica, Summary};
use circlekeep_model::{CircleId, MemberId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};
use tokio_util::io::InspectWriter;

/// How long a peer has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one frame may take to write before the peer counts as stalled.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

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
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SessionError> {
    tokio::task::spawn_blocking(work)
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

/// Messages read ahead of processing (each at most `MAX_FRAME`).
const INCOMING_QUEUE: usize = 4;

/// Queued records of one circle are ingested together up to this size.
const COALESCE_BYTES: usize = 64 * 1024;

/// Runs a session until the peer leaves, the node shuts down, or (one-shot)
/// both sides caught up.
pub(crate) async fn run<R, W, Rd>(
    inner: Arc<Inner<R>>,
    peer: MemberId,
    writer: W,
    reader: Rd,
    mode: Mode,
    dialed: bool,
) -> Result<(), SessionError>
where
    R: Replica,
    W: AsyncWrite + Unpin + Send,
    Rd: AsyncRead + Unpin + Send + 'static,
{
    // What goes on the wire is counted after compression.
    let counter = inner.clone();
    let writer = InspectWriter::new(writer, move |bytes: &[u8]| {
        counter
            .bytes_sent
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    });
    let (mut writer, mut reader) = compressed(writer, reader);
    // Subscribe before the hello so no change slips between the two.
    let mut changes = inner.replica.changes();
    let mut shutdown = inner.shutdown.subscribe();

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
    let result = drive(
        &inner,
        peer,
        &mut writer,
        &mut incoming,
        &mut changes,
        &mut shutdown,
        mode,
        dialed,
    )
    .await;
    if result.is_ok() {
        // Let the peer read everything before the stream ends.
        let _ = tokio::time::timeout(WRITE_TIMEOUT, writer.shutdown()).await;
        if mode == Mode::OneShot {
            // Wait for the peer to finish too, so nothing in flight is cut off.
            let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
                while let Some(Ok(Some(_))) = incoming.recv().await {}
            })
            .await;
        }
    }
    reader_task.abort();
    inner.forget_session(&peer, dialed);
    result
}

#[allow(clippy::too_many_arguments)]
async fn drive<R, W>(
    inner: &Arc<Inner<R>>,
    peer: MemberId,
    writer: &mut W,
    incoming: &mut mpsc::Receiver<Result<Option<Message>, WireError>>,
    changes: &mut broadcast::Receiver<CircleId>,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    mode: Mode,
    dialed: bool,
) -> Result<(), SessionError>
where
    R: Replica,
    W: AsyncWrite + Unpin + Send,
{
    let hello = {
        let inner = inner.clone();
        blocking(move || inner.hello_for(&peer)).await?
    };
    send(writer, &Message::Hello(hello)).await?;
    let their_hello = match tokio::time::timeout(HELLO_TIMEOUT, incoming.recv()).await {
        Ok(Some(Ok(Some(Message::Hello(hello))))) => hello,
        Ok(Some(Ok(Some(_)))) => {
            return Err(SessionError::Protocol("first message was not a hello"))
        }
        Ok(Some(Err(e))) => return Err(e.into()),
        Ok(Some(Ok(None))) | Ok(None) => return Err(SessionError::Protocol("closed before hello")),
        Err(_) => return Err(SessionError::NoHello),
    };
    inner.seen(&peer);
    inner.learn_addresses(&their_hello.addresses);

    // What the peer holds, as far as this side knows.
    let mut known: BTreeMap<CircleId, Summary> = their_hello.circles.iter().cloned().collect();
    for (circle, summary) in &their_hello.circles {
        inner.note_peer_state(&peer, circle, summary);
    }
    let mut dirty: BTreeSet<CircleId> = {
        let replica = inner.replica.clone();
        blocking(move || replica.circles_with(&peer))
            .await?
            .into_iter()
            .collect()
    };
    let mut arrived = Vec::with_capacity(INCOMING_QUEUE);
    let mut sent_caught_up = false;
    let mut got_caught_up = false;

    loop {
        if dialed && mode == Mode::Live && inner.duplicate_session(&peer) {
            tracing::debug!(peer = %peer.short(), "closing a duplicate session");
            return Ok(());
        }
        // Send what the peer lacks, a batch at a time.
        while let Some(circle) = dirty.pop_first() {
            let summary = known.entry(circle).or_default().clone();
            let records = {
                let replica = inner.replica.clone();
                blocking(move || {
                    // Never hand a circle to someone who was not in it.
                    if replica.circles_with(&peer).contains(&circle) {
                        replica.records_since(&circle, &summary, BATCH_BYTES)
                    } else {
                        Records::default()
                    }
                })
                .await?
            };
            if records.is_empty() {
                continue;
            }
            if records.byte_len() >= BATCH_BYTES {
                dirty.insert(circle);
            }
            let known_now = known.entry(circle).or_default();
            known_now.absorb(&records);
            inner.note_peer_state(&peer, &circle, known_now);
            let message = Message::Records {
                circle,
                ops: records.ops.into_iter().map(|(_, b)| b).collect(),
                entries: records.entries.into_iter().map(|(_, _, b)| b).collect(),
            };
            send(writer, &message).await?;
        }
        if !sent_caught_up {
            send(writer, &Message::CaughtUp).await?;
            sent_caught_up = true;
        }
        if got_caught_up {
            inner.mark_in_sync(&peer);
            if mode == Mode::OneShot {
                return Ok(());
            }
        }

        tokio::select! {
            received = incoming.recv_many(&mut arrived, INCOMING_QUEUE) => {
                if received == 0 {
                    return Ok(());
                }
                let mut queue = std::mem::take(&mut arrived).into_iter().peekable();
                while let Some(message) = queue.next() {
                    match message {
                        Ok(Some(Message::Records { circle, mut ops, mut entries })) => {
                            // Small records of this circle that arrived meanwhile
                            // (typing) go in together: one apply costs about what
                            // many do. Catch-up batches stay apart, so the app gets
                            // the engine between them.
                            let mut bytes: usize = entries.iter().map(Vec::len).sum();
                            while let Some(Ok(Some(Message::Records { circle: next, entries: more, .. }))) = queue.peek() {
                                let more_bytes: usize = more.iter().map(Vec::len).sum();
                                if *next != circle || bytes + more_bytes > COALESCE_BYTES {
                                    break;
                                }
                                bytes += more_bytes;
                                if let Some(Ok(Some(Message::Records { ops: more_ops, entries: more, .. }))) = queue.next() {
                                    ops.extend(more_ops);
                                    entries.extend(more);
                                }
                            }
                            inner.seen(&peer);
                            let ingested = {
                                let replica = inner.replica.clone();
                                blocking(move || replica.ingest(&circle, &peer, ops, entries)).await?
                            };
                            let held = known.entry(circle).or_default();
                            held.ops.extend(ingested.held_ops);
                            for (author, seq) in ingested.held_entries {
                                let at = held.have.entry(author).or_insert(0);
                                *at = (*at).max(seq);
                            }
                            inner.note_peer_state(&peer, &circle, held);
                            if ingested.rejected > 0 {
                                tracing::warn!(peer = %peer.short(), rejected = ingested.rejected, "refused records from a peer");
                            }
                        }
                        Ok(Some(Message::CaughtUp)) => {
                            inner.seen(&peer);
                            got_caught_up = true;
                        }
                        Ok(Some(Message::Hello(_))) => {
                            return Err(SessionError::Protocol("second hello"));
                        }
                        Err(e) => return Err(e.into()),
                        // The peer finished its side: it is leaving.
                        Ok(None) => return Ok(()),
                    }
                }
            },
            change = changes.recv() => match change {
                Ok(circle) => {
                    dirty.insert(circle);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let replica = inner.replica.clone();
                    dirty.extend(blocking(move || replica.circles_with(&peer)).await?);
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// The hello this device sends `peer`.
pub(crate) fn hello<R: Replica>(
    replica: &R,
    addresses: Vec<crate::wire::PeerAddress>,
    peer: &MemberId,
) -> Hello {
    let circles = replica
        .circles_with(peer)
        .into_iter()
        .filter_map(|c| replica.summary(&c).map(|s| (c, s)))
        .collect();
    Hello { circles, addresses }
}
