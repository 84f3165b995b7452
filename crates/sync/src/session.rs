//! One sync session with one peer over one stream pair: both sides say
//! hello with what they hold, send what the other lacks in each author's
//! order, mark the end of that first pass, then push new records as they
//! appear. The peer's state is tracked from what it announced, what it sent
//! and what it was sent, so nothing is sent twice or echoed back.

use crate::node::Inner;
use crate::wire::{
    compressed, read_message, write_message, Hello, Message, WireError, BATCH_BYTES, MAX_HAVE,
};
use crate::{Records, Replica, Summary};
use circlekeep_model::{CircleId, MemberId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
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

/// How long a record another member wrote waits before this device passes
/// it on. Its author reaches every member it can at once, and peers say
/// what they got (`Have`) sooner than this, so in a full mesh nothing is
/// sent twice; a member the author cannot reach still gets it from here.
const RELAY_DELAY: Duration = Duration::from_secs(1);
/// How soon a peer hears what arrived here from elsewhere.
const HAVE_DELAY: Duration = Duration::from_millis(250);

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

/// Which circles have what to send, and when.
#[derive(Default)]
struct Outbox {
    /// Everything the peer lacks (the first pass, or after missed changes).
    all: BTreeSet<CircleId>,
    /// Circles that changed here: what is held now, and whether this
    /// device wrote something the peer lacks.
    check: BTreeSet<CircleId>,
    /// What this device held of each circle when it last changed.
    holding: BTreeMap<CircleId, Summary>,
    /// When to pass on records other members wrote, and up to what: what
    /// this device held at the previous relay time (none the first time).
    relay: BTreeMap<CircleId, (Instant, Option<BTreeMap<MemberId, u64>>)>,
    /// When to tell the peer what arrived here from elsewhere.
    have_at: BTreeMap<CircleId, Instant>,
}

impl Outbox {
    /// A circle changed here after the first pass.
    fn changed(&mut self, circle: CircleId) {
        let now = Instant::now();
        self.check.insert(circle);
        self.relay
            .entry(circle)
            .or_insert((now + RELAY_DELAY, None));
        self.have_at.entry(circle).or_insert(now + HAVE_DELAY);
    }

    /// The next relay or `Have` that falls due.
    fn next_due(&self) -> Option<Instant> {
        self.relay
            .values()
            .map(|(at, _)| at)
            .chain(self.have_at.values())
            .min()
            .copied()
    }

    /// Circles whose `Have` is due, and those whose relay is due (with its cap).
    #[allow(clippy::type_complexity)]
    fn take_due(
        &mut self,
    ) -> (
        Vec<CircleId>,
        Vec<(CircleId, Option<BTreeMap<MemberId, u64>>)>,
    ) {
        let now = Instant::now();
        let haves: Vec<CircleId> = self
            .have_at
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(c, _)| *c)
            .collect();
        for c in &haves {
            self.have_at.remove(c);
        }
        let relays: Vec<CircleId> = self
            .relay
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(c, _)| *c)
            .collect();
        let relays = relays
            .into_iter()
            .filter_map(|c| self.relay.remove(&c).map(|(_, cap)| (c, cap)))
            .collect();
        (haves, relays)
    }
}

/// Which of the records a peer lacks one sending pass takes.
#[derive(Clone, PartialEq, Eq)]
enum Pass {
    /// Everything.
    All,
    /// This device's own entries, and operations (given what it holds).
    Own(Summary),
    /// Operations, and entries no later than what was held at the last
    /// relay time: a record is passed on only if the peer still lacks it
    /// (by its `Have`s) a full relay delay after it arrived here.
    Relay(BTreeMap<MemberId, u64>),
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
    // What the peer knows this side holds (entries), to tell it only news.
    let mut told: BTreeMap<CircleId, BTreeMap<MemberId, u64>> = hello
        .circles
        .iter()
        .map(|(c, s)| (*c, s.have.clone()))
        .collect();
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
    let me = inner.replica.me();
    let mut outbox = Outbox {
        all: {
            let replica = inner.replica.clone();
            blocking(move || replica.circles_with(&peer))
                .await?
                .into_iter()
                .collect()
        },
        ..Outbox::default()
    };
    let mut arrived = Vec::with_capacity(INCOMING_QUEUE);
    let mut sent_caught_up = false;
    let mut got_caught_up = false;

    loop {
        if dialed && mode == Mode::Live && inner.duplicate_session(&peer) {
            tracing::debug!(peer = %peer.short(), "closing a duplicate session");
            return Ok(());
        }
        // Send what the peer lacks: everything on the first pass; when
        // live, this device's own writes (and operations) at once, while a
        // record another member wrote waits for its relay time, since it
        // usually reaches the peer from its author first.
        while let Some(circle) = outbox.all.pop_first() {
            if session_send(
                inner,
                peer,
                writer,
                &mut known,
                &mut told,
                circle,
                Pass::All,
            )
            .await?
            {
                outbox.all.insert(circle);
            }
        }
        while let Some(circle) = outbox.check.pop_first() {
            let replica = inner.replica.clone();
            let holding =
                blocking(move || shared_summary(replica.as_ref(), &peer, &circle)).await?;
            let Some(holding) = holding else { continue };
            let theirs = known.get(&circle).cloned().unwrap_or_default();
            let mine = |s: &Summary| s.have.get(&me).copied().unwrap_or(0);
            if mine(&holding) > mine(&theirs) || !holding.ops.is_subset(&theirs.ops) {
                let pass = Pass::Own(holding.clone());
                while session_send(
                    inner,
                    peer,
                    writer,
                    &mut known,
                    &mut told,
                    circle,
                    pass.clone(),
                )
                .await?
                {}
            }
            outbox.holding.insert(circle, holding);
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

        let due = outbox.next_due();
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
                            let received = (ops.len() + entries.len()) as u64;
                            let ingested = {
                                let replica = inner.replica.clone();
                                blocking(move || replica.ingest(&circle, &peer, ops, entries)).await?
                            };
                            inner.note_received_again(
                                received.saturating_sub((ingested.accepted + ingested.rejected) as u64),
                            );
                            let held = known.entry(circle).or_default();
                            held.ops.extend(ingested.held_ops);
                            let told_now = told.entry(circle).or_default();
                            for (author, seq) in ingested.held_entries {
                                let at = held.have.entry(author).or_insert(0);
                                *at = (*at).max(seq);
                                let at = told_now.entry(author).or_insert(0);
                                *at = (*at).max(seq);
                            }
                            inner.note_peer_state(&peer, &circle, held);
                            if ingested.rejected > 0 {
                                tracing::warn!(peer = %peer.short(), rejected = ingested.rejected, "refused records from a peer");
                            }
                        }
                        Ok(Some(Message::Have { circle, have })) => {
                            if have.len() > MAX_HAVE {
                                return Err(SessionError::Protocol("too many authors in a have"));
                            }
                            inner.seen(&peer);
                            let held = known.entry(circle).or_default();
                            for (author, seq) in have {
                                let at = held.have.entry(author).or_insert(0);
                                *at = (*at).max(seq);
                            }
                            inner.note_peer_state(&peer, &circle, held);
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
                Ok(circle) => outbox.changed(circle),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let replica = inner.replica.clone();
                    outbox.all.extend(blocking(move || replica.circles_with(&peer)).await?);
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            _ = sleep_until(due) => {
                let (haves, relays) = outbox.take_due();
                for circle in haves {
                    let Some(holding) = outbox.holding.get(&circle).cloned() else { continue };
                    let told_now = told.entry(circle).or_default();
                    let news = holding
                        .have
                        .iter()
                        .any(|(a, s)| told_now.get(a).is_none_or(|t| s > t));
                    if news && holding.have.len() <= MAX_HAVE {
                        *told_now = holding.have.clone();
                        send(writer, &Message::Have { circle, have: holding.have }).await?;
                    }
                }
                for (circle, cap) in relays {
                    let theirs = known.get(&circle).cloned().unwrap_or_default();
                    let lacking = outbox.holding.get(&circle).is_some_and(|h| h.entries_beyond(&theirs) > 0);
                    if let Some(cap) = cap.filter(|_| lacking) {
                        while session_send(inner, peer, writer, &mut known, &mut told, circle, Pass::Relay(cap.clone())).await? {}
                    }
                    // Look again later while the peer seems to lack anything
                    // held here now.
                    if let Some(holding) = outbox.holding.get(&circle).cloned() {
                        let theirs = known.get(&circle).cloned().unwrap_or_default();
                        if holding.entries_beyond(&theirs) > 0 {
                            outbox.relay.insert(circle, (Instant::now() + RELAY_DELAY, Some(holding.have)));
                        }
                    }
                }
            },
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// What this device holds of `circle`, if `peer` may know (it is or was a member).
fn shared_summary<R: Replica>(replica: &R, peer: &MemberId, circle: &CircleId) -> Option<Summary> {
    replica
        .circles_with(peer)
        .contains(circle)
        .then(|| replica.summary(circle))
        .flatten()
}

/// Sends `peer` one batch of what it lacks of `circle` that `pass` takes,
/// noting it as held by the peer; returns whether there may be more.
#[allow(clippy::too_many_arguments)]
async fn session_send<R, W>(
    inner: &Arc<Inner<R>>,
    peer: MemberId,
    writer: &mut W,
    known: &mut BTreeMap<CircleId, Summary>,
    told: &mut BTreeMap<CircleId, BTreeMap<MemberId, u64>>,
    circle: CircleId,
    pass: Pass,
) -> Result<bool, SessionError>
where
    R: Replica,
    W: AsyncWrite + Unpin + Send,
{
    let me = inner.replica.me();
    let mut summary = known.entry(circle).or_default().clone();
    let replica = inner.replica.clone();
    let filter = pass.clone();
    let (mut records, full) = blocking(move || {
        // Never hand a circle to someone who was not in it.
        if !replica.circles_with(&peer).contains(&circle) {
            return (Records::default(), false);
        }
        if let Pass::Own(holding) = filter {
            // Count every other author's entries as held.
            for (author, last) in holding.have {
                if author != me {
                    let held = summary.have.entry(author).or_insert(0);
                    *held = (*held).max(last);
                }
            }
        }
        let records = replica.records_since(&circle, &summary, BATCH_BYTES);
        let full = records.byte_len() >= BATCH_BYTES;
        (records, full)
    })
    .await?;
    if let Pass::Relay(cap) = &pass {
        records
            .entries
            .retain(|(author, seq, _)| cap.get(author).is_some_and(|c| seq <= c));
    }
    if records.is_empty() {
        return Ok(false);
    }
    let known_now = known.entry(circle).or_default();
    known_now.absorb(&records);
    inner.note_peer_state(&peer, &circle, known_now);
    let told_now = told.entry(circle).or_default();
    for (author, seq, _) in &records.entries {
        let at = told_now.entry(*author).or_insert(0);
        *at = (*at).max(*seq);
    }
    let message = Message::Records {
        circle,
        ops: records.ops.into_iter().map(|(_, b)| b).collect(),
        entries: records.entries.into_iter().map(|(_, _, b)| b).collect(),
    };
    send(writer, &message).await?;
    Ok(full)
}

/// Sleeps until `at`, or forever if there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
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
