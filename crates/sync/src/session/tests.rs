//! The session protocol tested without endpoints: the state machine fed
//! events by hand (time passed in), and whole sessions over in-memory
//! pipes between in-memory replicas.

use super::machine::{Session, HAVE_DELAY, HELLO_TIMEOUT, RELAY_DELAY};
use super::{run, Host, Mode, SessionError};
use crate::wire::{Hello, Message, PeerAddress, BATCH_BYTES};
use crate::{Ingested, InviteRefusal, Records, Replica, Summary};
use circlekeep_model::{CircleId, EntryHash, MemberId, OpHash};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

const CIRCLE: CircleId = CircleId([7; 32]);

fn member(n: u8) -> MemberId {
    MemberId([n; 32])
}

/// One circle's records, held in memory. An entry's bytes start with its
/// author and sequence number, an operation's with its hash.
#[derive(Default)]
struct Held {
    members: Vec<MemberId>,
    /// Members removed since: they get the operations, nothing else.
    former: Vec<MemberId>,
    ops: BTreeMap<OpHash, Vec<u8>>,
    entries: BTreeMap<(MemberId, u64), Vec<u8>>,
}

/// A replica of one circle in memory, trusting whatever it is sent.
struct Fake {
    me: MemberId,
    circle: Mutex<Held>,
    changes: broadcast::Sender<CircleId>,
    /// Fork proofs: author → the two records.
    forks: Mutex<BTreeMap<MemberId, Vec<Vec<u8>>>>,
}

impl Fake {
    fn new(me: u8, members: &[u8]) -> Arc<Self> {
        Arc::new(Fake {
            me: member(me),
            circle: Mutex::new(Held {
                members: members.iter().map(|m| member(*m)).collect(),
                ..Held::default()
            }),
            changes: broadcast::channel(64).0,
            forks: Mutex::default(),
        })
    }

    /// Stores an entry by `author` of `size` bytes, as if written or received.
    fn write(&self, author: u8, size: usize) {
        self.write_filled(author, size, 0xee);
    }

    /// Stores an entry whose bytes after its position are all `fill`.
    fn write_filled(&self, author: u8, size: usize, fill: u8) {
        let author = member(author);
        let mut held = self.circle.lock().expect("lock");
        let seq = held.entries.keys().filter(|(a, _)| *a == author).count() as u64 + 1;
        let mut bytes = author.0.to_vec();
        bytes.extend_from_slice(&seq.to_be_bytes());
        bytes.resize(40 + size, fill);
        held.entries.insert((author, seq), bytes);
        drop(held);
        let _ = self.changes.send(CIRCLE);
    }

    /// Removes `who`: a removal operation, and it is a former member.
    fn remove(&self, who: u8) {
        let who = member(who);
        let mut held = self.circle.lock().expect("lock");
        held.members.retain(|m| *m != who);
        held.former.push(who);
        let mut op = [0xaa; 64];
        op[..32].copy_from_slice(&who.0);
        held.ops.insert(OpHash(who.0), op.to_vec());
        drop(held);
        let _ = self.changes.send(CIRCLE);
    }

    fn heights(&self) -> BTreeMap<MemberId, u64> {
        self.summary(&CIRCLE).map(|s| s.have).unwrap_or_default()
    }
}

impl Replica for Fake {
    fn me(&self) -> MemberId {
        self.me
    }
    fn peers(&self) -> BTreeSet<MemberId> {
        let held = self.circle.lock().expect("lock");
        held.members
            .iter()
            .filter(|m| **m != self.me)
            .copied()
            .collect()
    }
    fn farewells(&self) -> BTreeSet<MemberId> {
        BTreeSet::new()
    }
    fn circles_with(&self, peer: &MemberId) -> Vec<CircleId> {
        let held = self.circle.lock().expect("lock");
        (held.members.contains(peer) || held.former.contains(peer))
            .then_some(CIRCLE)
            .into_iter()
            .collect()
    }
    fn is_member(&self, circle: &CircleId, peer: &MemberId) -> bool {
        *circle == CIRCLE && self.circle.lock().expect("lock").members.contains(peer)
    }
    fn circles(&self) -> Vec<(CircleId, Vec<MemberId>)> {
        vec![(CIRCLE, self.circle.lock().expect("lock").members.clone())]
    }
    fn summary(&self, circle: &CircleId) -> Option<Summary> {
        let held = self.circle.lock().expect("lock");
        let mut summary = Summary::default();
        for ((author, seq), bytes) in &held.entries {
            summary.have.insert(*author, *seq);
            summary.tips.insert(*author, tip_hash(bytes));
        }
        summary.ops = held.ops.keys().copied().collect();
        (*circle == CIRCLE).then_some(summary)
    }
    fn records_since(&self, _: &CircleId, known: &Summary, budget: usize) -> Records {
        let held = self.circle.lock().expect("lock");
        let mut records = Records::default();
        for (hash, bytes) in &held.ops {
            if !known.ops.contains(hash) {
                records.ops.push((*hash, bytes.clone()));
            }
        }
        for ((author, seq), bytes) in &held.entries {
            if records.byte_len() >= budget {
                break;
            }
            if known.have.get(author).is_none_or(|h| seq > h) {
                records.entries.push((*author, *seq, bytes.clone()));
            }
        }
        records
    }
    fn ingest(
        &self,
        _: &CircleId,
        _: &MemberId,
        ops: Vec<Vec<u8>>,
        entries: Vec<Vec<u8>>,
    ) -> Ingested {
        let mut held = self.circle.lock().expect("lock");
        let mut out = Ingested::default();
        for bytes in ops {
            let Some(hash) = bytes.get(..32).and_then(|h| <[u8; 32]>::try_from(h).ok()) else {
                out.rejected += 1;
                continue;
            };
            out.accepted += usize::from(held.ops.insert(OpHash(hash), bytes).is_none());
            out.held_ops.push(OpHash(hash));
        }
        for bytes in entries {
            let author = bytes.get(..32).and_then(|a| <[u8; 32]>::try_from(a).ok());
            let seq = bytes.get(32..40).and_then(|s| <[u8; 8]>::try_from(s).ok());
            let (Some(author), Some(seq)) = (author, seq) else {
                out.rejected += 1;
                continue;
            };
            let position = (MemberId(author), u64::from_be_bytes(seq));
            match held.entries.get(&position) {
                Some(mine) if *mine != bytes => {
                    let proof = vec![mine.clone(), bytes];
                    self.forks.lock().expect("lock").insert(position.0, proof);
                    out.rejected += 1;
                    let _ = self.changes.send(CIRCLE);
                    continue;
                }
                Some(_) => {}
                None => {
                    held.entries.insert(position, bytes);
                    out.accepted += 1;
                }
            }
            out.held_entries.push(position);
        }
        drop(held);
        if out.accepted > 0 {
            let _ = self.changes.send(CIRCLE);
        }
        out
    }
    fn changes(&self) -> broadcast::Receiver<CircleId> {
        self.changes.subscribe()
    }
    fn redeem_invite(
        &self,
        _: &CircleId,
        _: &[u8; 32],
        _: &str,
        _: &MemberId,
    ) -> Result<CircleId, InviteRefusal> {
        Err(InviteRefusal::Unknown)
    }
    fn fork_evidence(&self, _: &CircleId, announced: &Summary) -> Vec<Vec<u8>> {
        let held = self.circle.lock().expect("lock");
        announced
            .tips
            .iter()
            .filter_map(|(author, hash)| {
                let seq = announced.have.get(author)?;
                let mine = held.entries.get(&(*author, *seq))?;
                let last = held.entries.keys().filter(|(a, _)| a == author).count() as u64;
                (last == *seq && tip_hash(mine) != *hash).then(|| mine.clone())
            })
            .collect()
    }
    fn forks(&self, _: &CircleId) -> Vec<MemberId> {
        self.forks.lock().expect("lock").keys().copied().collect()
    }
    fn fork_proof(&self, _: &CircleId, author: &MemberId) -> Option<Vec<Vec<u8>>> {
        self.forks.lock().expect("lock").get(author).cloned()
    }
    fn ingest_fork(&self, _: &CircleId, records: Vec<Vec<u8>>) -> Option<MemberId> {
        let author = MemberId(records.first()?.get(..32)?.try_into().ok()?);
        self.forks.lock().expect("lock").insert(author, records);
        Some(author)
    }
    fn save_addresses(&self, _: &[u8]) {}
    fn load_addresses(&self) -> Option<Vec<u8>> {
        None
    }
}

/// The fake's chain hash of an entry: its bytes, hashed.
fn tip_hash(bytes: &[u8]) -> EntryHash {
    EntryHash(circlekeep_model::ids::hash_bytes("fake entry", bytes))
}

/// A node that records what sessions tell it.
#[derive(Default)]
struct Node {
    in_sync: Mutex<BTreeSet<MemberId>>,
    /// Circles a peer's state was noted for, and addresses learnt.
    noted: Mutex<BTreeSet<CircleId>>,
    learnt: Mutex<Vec<MemberId>>,
    ended: Mutex<Vec<MemberId>>,
    duplicate: AtomicBool,
    shutdown: Mutex<Option<watch::Sender<bool>>>,
}

impl Node {
    fn new() -> Arc<Self> {
        let node = Node::default();
        *node.shutdown.lock().expect("lock") = Some(watch::channel(false).0);
        Arc::new(node)
    }
    fn shut_down(&self) {
        if let Some(tx) = &*self.shutdown.lock().expect("lock") {
            let _ = tx.send(true);
        }
    }
}

impl Host for Node {
    fn addresses_for(&self, _: &MemberId) -> Vec<PeerAddress> {
        Vec::new()
    }
    fn learn_addresses(&self, addresses: &[PeerAddress]) {
        let mut learnt = self.learnt.lock().expect("lock");
        learnt.extend(addresses.iter().map(|a| a.member));
    }
    fn seen(&self, _: &MemberId) {}
    fn note_peer_state(&self, _: &MemberId, circle: &CircleId, _: &Summary) {
        self.noted.lock().expect("lock").insert(*circle);
    }
    fn note_received_again(&self, _: u64) {}
    fn mark_in_sync(&self, peer: &MemberId) {
        self.in_sync.lock().expect("lock").insert(*peer);
    }
    fn duplicate_session(&self, _: &MemberId) -> bool {
        self.duplicate.load(Ordering::Relaxed)
    }
    fn wrote(&self, _: u64) {}
    fn shutdown(&self) -> watch::Receiver<bool> {
        let tx = self.shutdown.lock().expect("lock");
        tx.as_ref()
            .map(|tx| tx.subscribe())
            .expect("shutdown channel")
    }
    fn ended(&self, peer: &MemberId, _: bool) {
        self.ended.lock().expect("lock").push(*peer);
    }
}

type Machine = Session<Fake, Node>;

fn machine(replica: &Arc<Fake>, peer: u8, mode: Mode) -> (Machine, Arc<Node>) {
    let node = Node::new();
    (
        Session::new(replica.clone(), node.clone(), member(peer), mode, true),
        node,
    )
}

/// Everything the machine hands out now.
fn drain(session: &mut Machine, now: Instant) -> Vec<Message> {
    std::iter::from_fn(|| session.poll_send(now)).collect()
}

fn hello_holding(replica: &Fake) -> Message {
    let circles = replica
        .summary(&CIRCLE)
        .map(|s| (CIRCLE, s))
        .into_iter()
        .collect();
    Message::Hello(Hello {
        circles,
        addresses: Vec::new(),
    })
}

fn entries_in(messages: &[Message]) -> Vec<(u8, u64)> {
    let mut out = Vec::new();
    for message in messages {
        if let Message::Records { entries, .. } = message {
            for e in entries {
                let seq = u64::from_be_bytes(e[32..40].try_into().expect("seq"));
                out.push((e[0], seq));
            }
        }
    }
    out
}

/// A machine for member 1 with member 2 as its peer, past the first pass.
fn caught_up(a: &Arc<Fake>, b: &Arc<Fake>, now: Instant) -> Machine {
    let (mut session, _) = machine(a, 2, Mode::Live);
    drain(&mut session, now);
    session
        .on_messages(vec![hello_holding(b), Message::CaughtUp])
        .expect("hello");
    drain(&mut session, now);
    session
}

#[test]
fn hello_first_then_what_the_peer_lacks_then_caught_up() {
    let a = Fake::new(1, &[1, 2]);
    a.write(1, 10);
    a.write(1, 10);
    let (mut session, node) = machine(&a, 2, Mode::OneShot);
    let now = Instant::now();
    assert!(matches!(session.poll_send(now), Some(Message::Hello(_))));
    assert!(
        session.poll_send(now).is_none(),
        "nothing before the peer's hello"
    );
    session
        .on_messages(vec![hello_holding(&Fake::new(2, &[1, 2]))])
        .expect("hello");
    let sent = drain(&mut session, now);
    assert_eq!(entries_in(&sent), vec![(1, 1), (1, 2)]);
    assert!(matches!(sent.last(), Some(Message::CaughtUp)));
    assert!(!session.is_finished(), "the peer has not caught up yet");
    session
        .on_messages(vec![Message::CaughtUp])
        .expect("caught up");
    assert!(drain(&mut session, now).is_empty());
    assert!(session.is_finished());
    assert!(node.in_sync.lock().expect("lock").contains(&member(2)));
}

#[test]
fn a_long_history_goes_out_one_batch_per_poll() {
    let a = Fake::new(1, &[1, 2]);
    for _ in 0..5 {
        a.write(1, BATCH_BYTES / 2);
    }
    let (mut session, _) = machine(&a, 2, Mode::OneShot);
    let now = Instant::now();
    drain(&mut session, now);
    session
        .on_messages(vec![hello_holding(&Fake::new(2, &[1, 2]))])
        .expect("hello");
    let sent = drain(&mut session, now);
    let batches = sent
        .iter()
        .filter(|m| matches!(m, Message::Records { .. }))
        .count();
    assert_eq!(batches, 3, "two entries fill a batch");
    assert_eq!(entries_in(&sent).len(), 5, "each entry once");
}

#[test]
fn own_writes_go_at_once() {
    let (a, b) = (Fake::new(1, &[1, 2, 3]), Fake::new(2, &[1, 2, 3]));
    let t0 = Instant::now();
    let mut session = caught_up(&a, &b, t0);
    a.write(1, 10);
    session.on_change(CIRCLE, t0);
    assert_eq!(entries_in(&drain(&mut session, t0)), vec![(1, 1)]);
}

#[test]
fn another_members_record_waits_for_the_relay_delay() {
    let (a, b) = (Fake::new(1, &[1, 2, 3]), Fake::new(2, &[1, 2, 3]));
    let t0 = Instant::now();
    let mut session = caught_up(&a, &b, t0);
    a.write(3, 10);
    session.on_change(CIRCLE, t0);
    assert!(
        drain(&mut session, t0).is_empty(),
        "member 3 usually reaches 2 itself"
    );
    session.on_timer(t0 + HAVE_DELAY).expect("timer");
    let have = drain(&mut session, t0 + HAVE_DELAY);
    assert!(matches!(&have[..], [Message::Have { have, .. }] if have.get(&member(3)) == Some(&1)));
    assert_eq!(session.poll_timeout(), Some(t0 + RELAY_DELAY));
    session.on_timer(t0 + RELAY_DELAY).expect("timer");
    let early = drain(&mut session, t0 + RELAY_DELAY);
    assert!(
        entries_in(&early).is_empty(),
        "a record waits a full delay after the relay time it arrived before"
    );
    let second = t0 + RELAY_DELAY * 2;
    assert_eq!(session.poll_timeout(), Some(second));
    session.on_timer(second).expect("timer");
    let relayed = drain(&mut session, second);
    assert_eq!(
        entries_in(&relayed),
        vec![(3, 1)],
        "the peer still lacks it: pass it on"
    );
}

#[test]
fn a_have_from_the_peer_saves_the_relay() {
    let (a, b) = (Fake::new(1, &[1, 2, 3]), Fake::new(2, &[1, 2, 3]));
    let t0 = Instant::now();
    let mut session = caught_up(&a, &b, t0);
    a.write(3, 10);
    session.on_change(CIRCLE, t0);
    drain(&mut session, t0);
    let have = BTreeMap::from([(member(3), 1)]);
    session
        .on_messages(vec![Message::Have {
            circle: CIRCLE,
            have,
            tips: BTreeMap::new(),
        }])
        .expect("have");
    session.on_timer(t0 + RELAY_DELAY).expect("timer");
    let sent = drain(&mut session, t0 + RELAY_DELAY);
    assert!(
        entries_in(&sent).is_empty(),
        "the peer has it from its author"
    );
    assert!(
        session.poll_timeout().is_none(),
        "nothing left to look at again"
    );
}

#[test]
fn protocol_breaches_end_the_session() {
    let a = Fake::new(1, &[1, 2]);
    let records = Message::Records {
        circle: CIRCLE,
        ops: vec![],
        entries: vec![],
    };
    let (mut session, _) = machine(&a, 2, Mode::Live);
    drain(&mut session, Instant::now());
    assert!(matches!(
        session.on_messages(vec![records]),
        Err(SessionError::Protocol(_))
    ));

    let (mut session, _) = machine(&a, 2, Mode::Live);
    let hello = hello_holding(&a);
    assert!(matches!(
        session.on_messages(vec![hello.clone(), hello]),
        Err(SessionError::Protocol(_))
    ));

    let (mut session, _) = machine(&a, 2, Mode::Live);
    let too_many = (0..=crate::wire::MAX_HAVE as u32).map(|i| {
        let mut id = [0; 32];
        id[..4].copy_from_slice(&i.to_be_bytes());
        (MemberId(id), 1)
    });
    let have = Message::Have {
        circle: CIRCLE,
        have: too_many.collect(),
        tips: BTreeMap::new(),
    };
    assert!(session.on_messages(vec![hello_holding(&a), have]).is_err());
}

#[test]
fn a_peer_that_never_says_hello_times_out() {
    let a = Fake::new(1, &[1, 2]);
    let (mut session, _) = machine(&a, 2, Mode::Live);
    let t0 = Instant::now();
    drain(&mut session, t0);
    assert_eq!(session.poll_timeout(), Some(t0 + HELLO_TIMEOUT));
    assert!(session.on_timer(t0 + HELLO_TIMEOUT / 2).is_ok());
    assert!(matches!(
        session.on_timer(t0 + HELLO_TIMEOUT),
        Err(SessionError::NoHello)
    ));
    assert!(
        session.on_end().is_err(),
        "closing before hello is a breach"
    );
}

#[test]
fn only_a_dialed_live_session_steps_aside_as_a_duplicate() {
    let a = Fake::new(1, &[1, 2]);
    let node = Node::new();
    node.duplicate.store(true, Ordering::Relaxed);
    let after_hello = |mode, dialed| {
        let mut session = Session::new(a.clone(), node.clone(), member(2), mode, dialed);
        drain(&mut session, Instant::now());
        assert!(!session.is_duplicate(), "hellos first");
        session.on_messages(vec![hello_holding(&a)]).expect("hello");
        session.is_duplicate()
    };
    assert!(after_hello(Mode::Live, true));
    assert!(!after_hello(Mode::Live, false));
    assert!(!after_hello(Mode::OneShot, true));
}

/// A live session with a member who is then removed: it is sent the
/// removal (so it learns it is out) and nothing written after, and the
/// session ends refusing it, whatever the peer does.
#[test]
fn a_peer_removed_mid_session_is_told_and_then_refused() {
    let (a, b) = (Fake::new(1, &[1, 2, 3]), Fake::new(2, &[1, 2, 3]));
    let t0 = Instant::now();
    let mut session = caught_up(&a, &b, t0);
    assert!(!session.is_refused());
    a.remove(2);
    a.write(1, 10);
    session.on_change(CIRCLE, t0);
    let sent = drain(&mut session, t0 + RELAY_DELAY * 2);
    let ops: usize = sent
        .iter()
        .map(|m| match m {
            Message::Records { ops, .. } => ops.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(ops, 1, "the removal: {sent:?}");
    assert!(entries_in(&sent).is_empty(), "nothing written after");
    assert!(session.is_refused());
    // Whatever the peer says or the clock does, nothing more goes out.
    session.on_timer(t0 + RELAY_DELAY * 3).expect("timer");
    assert!(drain(&mut session, t0 + RELAY_DELAY * 3).is_empty());
}

#[test]
fn nothing_is_sent_of_a_circle_the_peer_was_never_in() {
    let a = Fake::new(1, &[1, 2]);
    a.write(1, 10);
    let (mut session, _) = machine(&a, 9, Mode::OneShot);
    let now = Instant::now();
    let sent = drain(&mut session, now);
    assert!(matches!(&sent[..], [Message::Hello(h)] if h.circles.is_empty()));
    session.on_messages(vec![hello_holding(&a)]).expect("hello");
    assert!(entries_in(&drain(&mut session, now)).is_empty());
}

type Pipe = (
    tokio::io::WriteHalf<tokio::io::DuplexStream>,
    tokio::io::ReadHalf<tokio::io::DuplexStream>,
);

fn pipe() -> (Pipe, Pipe) {
    let (x, y) = tokio::io::duplex(64 << 10);
    let (xr, xw) = tokio::io::split(x);
    let (yr, yw) = tokio::io::split(y);
    ((xw, xr), (yw, yr))
}

async fn within<T>(what: &str, work: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), work)
        .await
        .unwrap_or_else(|_| panic!("{what} took too long"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_catch_each_other_up_over_a_pipe() {
    let (a, b) = (Fake::new(1, &[1, 2]), Fake::new(2, &[1, 2]));
    for _ in 0..40 {
        a.write(1, 30_000);
    }
    b.write(2, 10);
    let (na, nb) = (Node::new(), Node::new());
    let (pa, pb) = pipe();
    let sa = run(a.clone(), na.clone(), member(2), pa, Mode::OneShot, true);
    let sb = run(b.clone(), nb.clone(), member(1), pb, Mode::OneShot, false);
    let (ra, rb) = within("a one-shot sync", async { tokio::join!(sa, sb) }).await;
    ra.expect("a's session");
    rb.expect("b's session");
    assert_eq!(a.heights(), b.heights());
    assert_eq!(b.heights().get(&member(1)), Some(&40));
    assert!(na.in_sync.lock().expect("lock").contains(&member(2)));
    assert_eq!(*nb.ended.lock().expect("lock"), vec![member(1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_session_pushes_new_writes_until_shutdown() {
    let (a, b) = (Fake::new(1, &[1, 2]), Fake::new(2, &[1, 2]));
    let (na, nb) = (Node::new(), Node::new());
    let (pa, pb) = pipe();
    let sa = tokio::spawn(run(a.clone(), na.clone(), member(2), pa, Mode::Live, true));
    let sb = tokio::spawn(run(b.clone(), nb.clone(), member(1), pb, Mode::Live, false));
    a.write(1, 10);
    within("a live write", async {
        while b.heights().get(&member(1)) != Some(&1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    na.shut_down();
    nb.shut_down();
    let (ra, rb) = within("shutdown", async { tokio::join!(sa, sb) }).await;
    assert!(ra.expect("join").is_ok() && rb.expect("join").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_vanishes_mid_stream_ends_the_session() {
    let a = Fake::new(1, &[1, 2]);
    for _ in 0..200 {
        a.write(1, 30_000);
    }
    let node = Node::new();
    let ((aw, ar), (mut bw, br)) = pipe();
    let session = tokio::spawn(run(
        a.clone(),
        node.clone(),
        member(2),
        (aw, ar),
        Mode::Live,
        true,
    ));
    // The peer says hello, then goes away without reading the catch-up.
    let (mut hello_writer, _) = crate::wire::compressed(&mut bw, tokio::io::empty());
    crate::wire::write_message(&mut hello_writer, &hello_holding(&Fake::new(2, &[1, 2])))
        .await
        .expect("hello");
    tokio::io::AsyncWriteExt::flush(&mut hello_writer)
        .await
        .expect("flush");
    drop(hello_writer);
    drop((bw, br));
    let ended = within("the session after its peer vanished", session)
        .await
        .expect("join");
    assert!(ended.is_err(), "the catch-up could not be written");
    assert_eq!(*node.ended.lock().expect("lock"), vec![member(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_session_closes_after_the_hellos() {
    let (a, b) = (Fake::new(1, &[1, 2]), Fake::new(2, &[1, 2]));
    let (na, nb) = (Node::new(), Node::new());
    na.duplicate.store(true, Ordering::Relaxed);
    let (pa, pb) = pipe();
    let sa = run(a, na.clone(), member(2), pa, Mode::Live, true);
    let sb = run(b, nb.clone(), member(1), pb, Mode::Live, false);
    let (ra, rb) = within("a duplicate", async { tokio::join!(sa, sb) }).await;
    assert!(ra.is_ok(), "the duplicate steps aside cleanly: {ra:?}");
    // The other side sees its peer leave (cleanly, or mid-write).
    drop(rb);
    assert_eq!(*na.ended.lock().expect("lock"), vec![member(2)]);
}

/// A member's device that names circles by the ten thousand (in its hello,
/// in `Have`s, in records of circles nobody holds) and addresses of
/// strangers: the session keeps track of the one circle it shares, and
/// learns only addresses of members this device knows.
#[test]
fn what_a_peer_names_costs_at_most_the_circles_it_shares() {
    let a = Fake::new(1, &[1, 2, 3]);
    let b = Fake::new(2, &[1, 2, 3]);
    let (mut session, node) = machine(&a, 2, Mode::Live);
    let now = Instant::now();
    drain(&mut session, now);
    let made_up = |i: u32| {
        let mut id = [0xcc; 32];
        id[..4].copy_from_slice(&i.to_be_bytes());
        id
    };
    let Message::Hello(mut hello) = hello_holding(&b) else {
        unreachable!("a hello")
    };
    hello
        .circles
        .extend((0..10_000).map(|i| (CircleId(made_up(i)), Summary::default())));
    let address = |m: MemberId| PeerAddress {
        member: m,
        direct: Vec::new(),
        relay: None,
    };
    hello
        .addresses
        .extend((0..10_000).map(|i| address(MemberId(made_up(i)))));
    hello.addresses.push(address(member(3)));
    let mut flood = vec![Message::Hello(hello)];
    flood.extend((10_000..20_000).map(|i| Message::Have {
        circle: CircleId(made_up(i)),
        have: [(member(2), 5)].into(),
        tips: BTreeMap::new(),
    }));
    flood.extend((20_000..20_100).map(|i| Message::Records {
        circle: CircleId(made_up(i)),
        ops: Vec::new(),
        entries: Vec::new(),
    }));
    session.on_messages(flood).expect("taken in");
    drain(&mut session, now);
    assert_eq!(*node.noted.lock().expect("lock"), BTreeSet::from([CIRCLE]));
    assert_eq!(*node.learnt.lock().expect("lock"), vec![member(3)]);
}

#[test]
fn a_fork_at_one_height_is_shown_once_and_its_proof_handed_on() {
    let now = Instant::now();
    let (a, b) = (Fake::new(1, &[1, 2, 3, 4]), Fake::new(2, &[1, 2, 3, 4]));
    // Member 3's key wrote two different first entries: A holds one, B the other.
    a.write_filled(3, 10, 0x11);
    b.write_filled(3, 10, 0x22);
    let (mut at_a, _) = machine(&a, 2, Mode::Live);
    drain(&mut at_a, now);
    at_a.on_messages(vec![hello_holding(&b)]).expect("hello");
    // Heights are equal, so nothing is lacking; only the fork is shown.
    assert_eq!(entries_in(&drain(&mut at_a, now)), [(3, 1)]);
    let have = Message::Have {
        circle: CIRCLE,
        have: b.heights(),
        tips: b.summary(&CIRCLE).expect("held").tips,
    };
    at_a.on_messages(vec![have]).expect("have");
    assert!(
        entries_in(&drain(&mut at_a, now)).is_empty(),
        "shown once per height"
    );

    // B, sent A's side, holds the proof and hands it on.
    let (mut at_b, _) = machine(&b, 1, Mode::Live);
    drain(&mut at_b, now);
    let theirs = b.circle.lock().expect("lock").entries[&(member(3), 1)].clone();
    let ours = a.circle.lock().expect("lock").entries[&(member(3), 1)].clone();
    at_b.on_messages(vec![
        hello_holding(&a),
        Message::Records {
            circle: CIRCLE,
            ops: Vec::new(),
            entries: vec![ours.clone()],
        },
    ])
    .expect("records");
    assert_eq!(b.forks(&CIRCLE), [member(3)]);
    at_b.on_change(CIRCLE, now);
    let sent = drain(&mut at_b, now);
    let proofs: Vec<_> = sent
        .iter()
        .filter_map(|m| match m {
            Message::Fork { records, .. } => Some(records.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(proofs, [vec![theirs, ours]]);

    // A member holding either side takes the proof; a circle the peer does
    // not share with it is not looked at.
    let d = Fake::new(4, &[1, 2, 3, 4]);
    let (mut at_d, _) = machine(&d, 2, Mode::Live);
    drain(&mut at_d, now);
    let stranger = Message::Fork {
        circle: CircleId([9; 32]),
        records: proofs[0].clone(),
    };
    at_d.on_messages(vec![hello_holding(&b), stranger])
        .expect("fork");
    assert!(d.forks(&CIRCLE).is_empty());
    let shared = Message::Fork {
        circle: CIRCLE,
        records: proofs[0].clone(),
    };
    at_d.on_messages(vec![shared]).expect("fork");
    assert_eq!(d.forks(&CIRCLE), [member(3)]);
    // And does not send it back.
    at_d.on_change(CIRCLE, now);
    assert!(!drain(&mut at_d, now)
        .iter()
        .any(|m| matches!(m, Message::Fork { .. })));
}
