//! The sync protocol as a state machine without I/O: events go in
//! (`on_messages`, `on_change`, `on_lagged`, `on_timer`, `on_end`), and
//! `poll_send` hands out the next message to write, one batch at a time, so
//! the driver writes with back-pressure and never holds a whole catch-up in
//! memory. Time is passed in, so relay and `Have` delays are tested without
//! waiting.
//!
//! Both sides say hello with what they hold, send what the other lacks in
//! each author's order, mark the end of that first pass (`CaughtUp`), then
//! push new records as they appear. The peer's state is tracked from what it
//! announced, what it sent and what it was sent, so nothing is sent twice or
//! echoed back. A record another member wrote waits [`RELAY_DELAY`] before
//! it is passed on: its author usually reaches the peer first, and the
//! peer's `Have` says so. A former member of a circle is sent its
//! operations, never its entries; once the peer counts in nowhere (removed
//! or gone from every shared circle), it is sent the operations that say so
//! and the session ends, refusing it.

use super::{Host, Mode, SessionError};
use crate::wire::{Hello, Message, BATCH_BYTES, MAX_HAVE, MAX_JOURNAL_KEYS};
use crate::{Records, Replica, Summary, JOURNAL_CHANGED};
use circlekeep_model::{CircleId, EntryHash, MemberId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a peer has to say hello.
pub(crate) const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// Addresses taken from one hello (a circle has at most a few dozen
/// members, each with a few devices).
const MAX_HELLO_ADDRESSES: usize = 256;
/// Queued records of one circle are ingested together up to this size.
const COALESCE_BYTES: usize = 64 * 1024;
/// How long a record another member wrote waits before this device passes
/// it on. Its author reaches every member it can at once, and peers say
/// what they got (`Have`) sooner than this, so in a full mesh nothing is
/// sent twice; a member the author cannot reach still gets it from here.
pub(crate) const RELAY_DELAY: Duration = Duration::from_secs(1);
/// How soon a peer hears what arrived here from elsewhere.
pub(crate) const HAVE_DELAY: Duration = Duration::from_millis(250);

/// Author → last sequence number.
type Heights = BTreeMap<MemberId, u64>;

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
    relay: BTreeMap<CircleId, (Instant, Option<Heights>)>,
    /// When to tell the peer what arrived here from elsewhere.
    have_at: BTreeMap<CircleId, Instant>,
    /// Relays that fell due (at the instant given), not yet sent.
    relays_due: VecDeque<(CircleId, Option<Heights>, Instant)>,
    /// `Have`s that fell due, ready to go.
    ready: VecDeque<Message>,
}

impl Outbox {
    /// A circle changed here after the first pass.
    fn changed(&mut self, circle: CircleId, now: Instant) {
        self.check.insert(circle);
        self.relay
            .entry(circle)
            .or_insert((now + RELAY_DELAY, None));
        self.have_at.entry(circle).or_insert(now + HAVE_DELAY);
    }

    /// The next relay or `Have` that falls due.
    fn next_due(&self) -> Option<Instant> {
        let relays = self.relay.values().map(|(at, _)| at);
        relays.chain(self.have_at.values()).min().copied()
    }
}

/// Which of the records a peer lacks one sending pass takes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pass {
    /// Everything.
    All,
    /// This device's own entries, and operations (given what it holds).
    Own(Summary),
    /// Operations, and entries no later than what was held at the last
    /// relay time: a record is passed on only if the peer still lacks it
    /// (by its `Have`s) a full relay delay after it arrived here.
    Relay(Heights),
}

/// A pass under way: it has more batches to send.
struct Sending {
    circle: CircleId,
    pass: Pass,
    /// For a relay: when it fell due (the next look is a delay later).
    relayed_at: Option<Instant>,
}

/// One session's protocol state with one peer.
pub(crate) struct Session<R, H> {
    replica: Arc<R>,
    host: Arc<H>,
    peer: MemberId,
    me: MemberId,
    mode: Mode,
    dialed: bool,
    /// When our hello went out, if it did.
    hello_sent: Option<Instant>,
    their_hello: bool,
    sent_caught_up: bool,
    got_caught_up: bool,
    /// What the peer holds, as far as this side knows.
    known: BTreeMap<CircleId, Summary>,
    /// What the peer knows this side holds (entries), to tell it only news.
    told: BTreeMap<CircleId, Heights>,
    outbox: Outbox,
    sending: Option<Sending>,
    /// Something changed here: check the peer still counts in.
    recheck: bool,
    /// The peer no longer counts in: the circles whose operations it is
    /// still sent (so it learns it is out) before the session ends.
    farewell: Option<BTreeSet<CircleId>>,
    /// The peer is another device of this member: the journal is theirs too.
    own_device: bool,
    /// Journal entries the peer lacks, still to send.
    journal_owed: Vec<Vec<u8>>,
    /// Once those are sent, ask for what the peer holds and this lacks.
    journal_ask: bool,
    /// Circles whose fork proofs to look at (one changed here).
    forks_due: BTreeSet<CircleId>,
    /// Fork proofs the peer was sent or sent us.
    forks_told: BTreeSet<(CircleId, MemberId)>,
    /// The height of each author's tip the peer announced when we last
    /// compared it with ours.
    tips_checked: BTreeMap<(CircleId, MemberId), u64>,
}

impl<R: Replica, H: Host> Session<R, H> {
    /// A session with `peer`, before anything was said.
    pub fn new(replica: Arc<R>, host: Arc<H>, peer: MemberId, mode: Mode, dialed: bool) -> Self {
        Self {
            me: replica.me(),
            replica,
            host,
            peer,
            mode,
            dialed,
            hello_sent: None,
            their_hello: false,
            sent_caught_up: false,
            got_caught_up: false,
            known: BTreeMap::new(),
            told: BTreeMap::new(),
            outbox: Outbox::default(),
            sending: None,
            recheck: false,
            farewell: None,
            own_device: false,
            journal_owed: Vec::new(),
            journal_ask: false,
            forks_due: BTreeSet::new(),
            forks_told: BTreeSet::new(),
            tips_checked: BTreeMap::new(),
        }
    }

    /// Whether this session should step aside, once hellos were exchanged:
    /// when two members dial each other at once, the larger id's live
    /// connection closes.
    pub fn is_duplicate(&self) -> bool {
        self.their_hello
            && self.dialed
            && self.mode == Mode::Live
            && self.host.duplicate_session(&self.peer)
    }

    /// Whether the peer no longer counts in (removed, or left, from every
    /// circle this device shares with it) and was sent the operations that
    /// say so: the session ends, refusing it.
    pub fn is_refused(&self) -> bool {
        self.farewell.as_ref().is_some_and(BTreeSet::is_empty)
    }

    /// A one-shot session is done once both sides caught up.
    pub fn is_finished(&self) -> bool {
        self.mode == Mode::OneShot && self.sent_caught_up && self.got_caught_up
    }

    /// When `on_timer` wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.hello_sent {
            Some(sent) if !self.their_hello => Some(sent + HELLO_TIMEOUT),
            Some(_) => self.outbox.next_due(),
            None => None,
        }
    }

    /// The next message to write, if any (may read the replica: run it off
    /// the async threads). `None` means everything due was handed out.
    pub fn poll_send(&mut self, now: Instant) -> Option<Message> {
        if self.hello_sent.is_none() {
            self.hello_sent = Some(now);
            return Some(Message::Hello(self.hello()));
        }
        if !self.their_hello {
            return None;
        }
        if std::mem::take(&mut self.recheck) && self.farewell.is_none() {
            if !self.admitted() {
                tracing::info!(peer = %self.peer.short(), "closing the session of a peer who is no longer a member");
                self.farewell = Some(self.replica.circles_with(&self.peer).into_iter().collect());
                self.sending = None;
                self.outbox = Outbox::default();
            } else if self.learns_own_device() {
                // A device just linked took its member's circles in during
                // this session: now the journal is shared too.
                self.queue_journal_have();
            }
        }
        if self.farewell.is_some() {
            return self.farewell_batch();
        }
        while let Some(circle) = self.forks_due.pop_first() {
            self.queue_forks(circle);
        }
        if let Some(message) = self.outbox.ready.pop_front() {
            return Some(message);
        }
        if let Some(message) = self.next_journal_batch() {
            return Some(message);
        }
        while self.sending.is_some() || self.start_pass() {
            if let Some(message) = self.continue_pass() {
                return Some(message);
            }
        }
        if !self.sent_caught_up {
            self.sent_caught_up = true;
            return Some(Message::CaughtUp);
        }
        if self.got_caught_up {
            self.host.mark_in_sync(&self.peer);
        }
        None
    }

    /// Messages read from the peer, in order (a batch read at once).
    pub fn on_messages(&mut self, messages: Vec<Message>) -> Result<(), SessionError> {
        let mut queue = messages.into_iter().peekable();
        if !self.their_hello {
            match queue.next() {
                Some(Message::Hello(hello)) => self.on_hello(hello),
                Some(_) => return Err(SessionError::Protocol("first message was not a hello")),
                None => return Ok(()),
            }
        }
        while let Some(message) = queue.next() {
            match message {
                Message::Records {
                    circle,
                    mut ops,
                    mut entries,
                } => {
                    // Small records of this circle that arrived meanwhile
                    // (typing) go in together: one apply costs about what
                    // many do. Catch-up batches stay apart, so the app gets
                    // the engine between them.
                    let mut bytes: usize = entries.iter().map(Vec::len).sum();
                    while let Some(Message::Records {
                        circle: next,
                        entries: more,
                        ..
                    }) = queue.peek()
                    {
                        let more_bytes: usize = more.iter().map(Vec::len).sum();
                        if *next != circle || bytes + more_bytes > COALESCE_BYTES {
                            break;
                        }
                        bytes += more_bytes;
                        if let Some(Message::Records {
                            ops: o, entries: e, ..
                        }) = queue.next()
                        {
                            ops.extend(o);
                            entries.extend(e);
                        }
                    }
                    self.on_records(circle, ops, entries);
                }
                Message::Have { circle, have, tips } => self.on_have(circle, have, tips)?,
                Message::Fork { circle, records } => self.on_fork(circle, records),
                Message::JournalHave { keys } => self.on_journal_have(keys)?,
                // The replica checks again that they come from this
                // member's own device (and drops them otherwise).
                Message::Journal { entries } => self.replica.ingest_journal(&self.peer, entries),
                Message::CaughtUp => {
                    self.host.seen(&self.peer);
                    self.got_caught_up = true;
                }
                Message::Hello(_) => return Err(SessionError::Protocol("second hello")),
            }
        }
        Ok(())
    }

    /// The peer finished its side of the stream.
    pub fn on_end(&self) -> Result<(), SessionError> {
        if self.their_hello {
            Ok(())
        } else {
            Err(SessionError::Protocol("closed before hello"))
        }
    }

    /// A circle's stored records changed here.
    pub fn on_change(&mut self, circle: CircleId, now: Instant) {
        if circle == JOURNAL_CHANGED {
            // Tell this member's other device what is held; it answers
            // with what this one lacks, and asks in turn for what it lacks.
            if self.own_device && self.their_hello {
                self.queue_journal_have();
            }
            return;
        }
        self.recheck = true;
        self.forks_due.insert(circle);
        self.outbox.changed(circle, now);
    }

    /// Changes were missed: look at every shared circle again (reads the
    /// replica).
    pub fn on_lagged(&mut self) {
        self.recheck = true;
        self.outbox
            .all
            .extend(self.replica.circles_with(&self.peer));
    }

    /// Time passed: the hello deadline, `Have`s and relays that fell due.
    pub fn on_timer(&mut self, now: Instant) -> Result<(), SessionError> {
        if !self.their_hello {
            return match self.hello_sent {
                Some(sent) if now >= sent + HELLO_TIMEOUT => Err(SessionError::NoHello),
                _ => Ok(()),
            };
        }
        let due = |at: &Instant| *at <= now;
        let haves: Vec<CircleId> = self
            .outbox
            .have_at
            .iter()
            .filter(|(_, at)| due(at))
            .map(|(c, _)| *c)
            .collect();
        for circle in haves {
            self.outbox.have_at.remove(&circle);
            self.queue_have(circle);
        }
        let relays: Vec<CircleId> = self
            .outbox
            .relay
            .iter()
            .filter(|(_, (at, _))| due(at))
            .map(|(c, _)| *c)
            .collect();
        for circle in relays {
            if let Some((_, cap)) = self.outbox.relay.remove(&circle) {
                self.outbox.relays_due.push_back((circle, cap, now));
            }
        }
        Ok(())
    }

    /// Our hello: what this device holds of the circles shared with the peer.
    fn hello(&mut self) -> Hello {
        let circles: Vec<(CircleId, Summary)> = self
            .replica
            .circles_with(&self.peer)
            .into_iter()
            .filter_map(|c| self.replica.summary(&c).map(|s| (c, s)))
            .collect();
        self.told = circles.iter().map(|(c, s)| (*c, s.have.clone())).collect();
        let addresses = self.host.addresses_for(&self.peer);
        Hello { circles, addresses }
    }

    /// Takes what the peer says it holds of the circles it shares with this
    /// device (the rest of what it names is ignored, so a peer's claims
    /// cost at most what the shared circles do), and the addresses of
    /// members this device knows, at most [`MAX_HELLO_ADDRESSES`].
    fn on_hello(&mut self, hello: Hello) {
        self.their_hello = true;
        self.host.seen(&self.peer);
        let members = self.replica.peers();
        let addresses: Vec<_> = hello
            .addresses
            .into_iter()
            .filter(|a| members.contains(&a.member))
            .take(MAX_HELLO_ADDRESSES)
            .collect();
        self.host.learn_addresses(&addresses);
        let shared: BTreeSet<CircleId> =
            self.replica.circles_with(&self.peer).into_iter().collect();
        self.known = hello
            .circles
            .into_iter()
            .filter(|(circle, _)| shared.contains(circle))
            .collect();
        for (circle, summary) in self.known.clone() {
            self.host.note_peer_state(&self.peer, &circle, &summary);
            self.show_forks(circle, &summary);
        }
        self.forks_due.extend(shared.iter().copied());
        self.outbox.all = shared;
        self.own_device = self.replica.own_device(&self.peer);
        if self.own_device {
            self.queue_journal_have();
        }
    }

    /// Whether the peer has become known as another device of this member
    /// (looked at until the first pass is over: that is when a new device
    /// takes its member's circles in).
    fn learns_own_device(&mut self) -> bool {
        let first_pass = !(self.sent_caught_up && self.got_caught_up);
        if !self.own_device && first_pass && self.replica.own_device(&self.peer) {
            self.own_device = true;
            return true;
        }
        false
    }

    /// Tells this member's other device which journal entries are held.
    fn queue_journal_have(&mut self) {
        let mut keys = self.replica.journal_keys();
        keys.truncate(MAX_JOURNAL_KEYS);
        self.outbox.ready.push_back(Message::JournalHave { keys });
    }

    /// The peer (another device of this member) said what journal entries
    /// it holds: owe it the rest, and ask for what it holds and this lacks.
    fn on_journal_have(&mut self, theirs: Vec<Vec<u8>>) -> Result<(), SessionError> {
        if theirs.len() > MAX_JOURNAL_KEYS {
            return Err(SessionError::Protocol("too many journal keys"));
        }
        // A device linked a moment ago may not know its peer is its own
        // member's yet; a peer of another member gets nothing.
        if !self.own_device && !self.learns_own_device() {
            return Ok(());
        }
        let theirs: BTreeSet<Vec<u8>> = theirs.into_iter().collect();
        let mine: BTreeSet<Vec<u8>> = self.replica.journal_keys().into_iter().collect();
        self.journal_owed = mine.difference(&theirs).cloned().collect();
        // Asked after what is owed went out, so the peer's answer already
        // counts it as held (no echo, and the exchange ends).
        self.journal_ask |= !theirs.is_subset(&mine);
        Ok(())
    }

    /// One batch of the journal entries owed to the peer.
    fn next_journal_batch(&mut self) -> Option<Message> {
        while !self.journal_owed.is_empty() {
            let take = self.journal_owed.len().min(64);
            let keys: Vec<Vec<u8>> = self.journal_owed.drain(..take).collect();
            let entries = self.replica.journal_for(&self.peer, &keys, BATCH_BYTES);
            if !entries.is_empty() {
                return Some(Message::Journal { entries });
            }
        }
        if std::mem::take(&mut self.journal_ask) {
            let mut keys = self.replica.journal_keys();
            keys.truncate(MAX_JOURNAL_KEYS);
            return Some(Message::JournalHave { keys });
        }
        None
    }

    fn on_records(&mut self, circle: CircleId, ops: Vec<Vec<u8>>, entries: Vec<Vec<u8>>) {
        self.host.seen(&self.peer);
        let received = (ops.len() + entries.len()) as u64;
        let ingested = self.replica.ingest(&circle, &self.peer, ops, entries);
        let handled = (ingested.accepted + ingested.rejected) as u64;
        self.host
            .note_received_again(received.saturating_sub(handled));
        if ingested.rejected > 0 {
            tracing::warn!(peer = %self.peer.short(), rejected = ingested.rejected, "refused records from a peer");
        }
        // Records of a circle this device holds none of (all refused) are
        // not kept track of.
        if ingested.held_ops.is_empty() && ingested.held_entries.is_empty() {
            return;
        }
        let held = self.known.entry(circle).or_default();
        held.ops.extend(ingested.held_ops);
        let told = self.told.entry(circle).or_default();
        for (author, seq) in ingested.held_entries {
            raise(held.have.entry(author).or_insert(0), seq);
            raise(told.entry(author).or_insert(0), seq);
        }
        self.host.note_peer_state(&self.peer, &circle, held);
    }

    fn on_have(
        &mut self,
        circle: CircleId,
        have: Heights,
        tips: BTreeMap<MemberId, EntryHash>,
    ) -> Result<(), SessionError> {
        if have.len() > MAX_HAVE || tips.len() > MAX_HAVE {
            return Err(SessionError::Protocol("too many authors in a have"));
        }
        self.host.seen(&self.peer);
        // Only circles shared with the peer are kept track of.
        if !self.known.contains_key(&circle) && !self.replica.is_member(&circle, &self.peer) {
            return Ok(());
        }
        let held = self.known.entry(circle).or_default();
        for (author, seq) in &have {
            raise(held.have.entry(*author).or_insert(0), *seq);
        }
        self.host.note_peer_state(&self.peer, &circle, held);
        let announced = Summary {
            have,
            tips,
            ..Summary::default()
        };
        self.show_forks(circle, &announced);
        Ok(())
    }

    /// Where the peer announced another record than ours at the height we
    /// hold, sends it ours there: it then holds both, the proof of a fork
    /// (and sends the proof back). Each announced height is looked at once.
    fn show_forks(&mut self, circle: CircleId, announced: &Summary) {
        let mut fresh = Summary {
            have: announced.have.clone(),
            ..Summary::default()
        };
        for (author, hash) in &announced.tips {
            let seq = announced.have.get(author).copied().unwrap_or(0);
            if self.tips_checked.insert((circle, *author), seq) != Some(seq) {
                fresh.tips.insert(*author, *hash);
            }
        }
        if fresh.tips.is_empty() {
            return;
        }
        let entries = self.replica.fork_evidence(&circle, &fresh);
        if !entries.is_empty() {
            tracing::warn!(peer = %self.peer.short(), "a peer holds other records than ours at one place: showing it ours");
            self.outbox.ready.push_back(Message::Records {
                circle,
                ops: Vec::new(),
                entries,
            });
        }
    }

    /// Hands the peer the fork proofs of `circle` it was not sent yet.
    fn queue_forks(&mut self, circle: CircleId) {
        if !self.replica.is_member(&circle, &self.peer) {
            return;
        }
        for author in self.replica.forks(&circle) {
            if !self.forks_told.insert((circle, author)) {
                continue;
            }
            if let Some(records) = self.replica.fork_proof(&circle, &author) {
                self.outbox
                    .ready
                    .push_back(Message::Fork { circle, records });
            }
        }
    }

    /// A fork proof from the peer, for a circle it is a member of.
    fn on_fork(&mut self, circle: CircleId, records: Vec<Vec<u8>>) {
        if !self.replica.is_member(&circle, &self.peer) {
            return;
        }
        match self.replica.ingest_fork(&circle, records) {
            Some(author) => {
                self.forks_told.insert((circle, author));
            }
            None => {
                tracing::warn!(peer = %self.peer.short(), "a peer sent a fork proof that does not hold")
            }
        }
    }

    /// Tells the peer what this device holds of `circle`, if that is news.
    fn queue_have(&mut self, circle: CircleId) {
        let Some(holding) = self.outbox.holding.get(&circle) else {
            return;
        };
        let told = self.told.entry(circle).or_default();
        let news = holding
            .have
            .iter()
            .any(|(a, s)| told.get(a).is_none_or(|t| s > t));
        if news && holding.have.len() <= MAX_HAVE {
            *told = holding.have.clone();
            let have = holding.have.clone();
            let tips = holding.tips.clone();
            self.outbox
                .ready
                .push_back(Message::Have { circle, have, tips });
        }
    }

    /// Picks the next pass: everything the peer lacks first; when live,
    /// this device's own writes (and operations) at once; records other
    /// members wrote at their relay time. Returns whether one started.
    fn start_pass(&mut self) -> bool {
        if let Some(circle) = self.outbox.all.pop_first() {
            self.sending = Some(Sending {
                circle,
                pass: Pass::All,
                relayed_at: None,
            });
            return true;
        }
        while let Some(circle) = self.outbox.check.pop_first() {
            let Some(holding) = self.shared_summary(&circle) else {
                continue;
            };
            let theirs = self.known.get(&circle).cloned().unwrap_or_default();
            let mine = |s: &Summary| s.have.get(&self.me).copied().unwrap_or(0);
            let news = mine(&holding) > mine(&theirs) || !holding.ops.is_subset(&theirs.ops);
            self.outbox.holding.insert(circle, holding.clone());
            if news {
                self.sending = Some(Sending {
                    circle,
                    pass: Pass::Own(holding),
                    relayed_at: None,
                });
                return true;
            }
        }
        while let Some((circle, cap, at)) = self.outbox.relays_due.pop_front() {
            let theirs = self.known.get(&circle).cloned().unwrap_or_default();
            let lacking = self
                .outbox
                .holding
                .get(&circle)
                .is_some_and(|h| h.entries_beyond(&theirs) > 0);
            match cap.filter(|_| lacking) {
                Some(cap) => {
                    let pass = Pass::Relay(cap);
                    self.sending = Some(Sending {
                        circle,
                        pass,
                        relayed_at: Some(at),
                    });
                    return true;
                }
                None => self.relay_again(circle, at),
            }
        }
        false
    }

    /// One more batch of the pass under way, or `None` when it is done.
    fn continue_pass(&mut self) -> Option<Message> {
        let sending = self.sending.take()?;
        match self.next_batch(sending.circle, &sending.pass) {
            Some((message, more)) => {
                if more {
                    self.sending = Some(sending);
                } else {
                    self.pass_done(&sending);
                }
                Some(message)
            }
            None => {
                self.pass_done(&sending);
                None
            }
        }
    }

    fn pass_done(&mut self, sending: &Sending) {
        if let Some(at) = sending.relayed_at {
            self.relay_again(sending.circle, at);
        }
    }

    /// Looks again a relay delay after `at` while the peer seems to lack
    /// anything held here now.
    fn relay_again(&mut self, circle: CircleId, at: Instant) {
        if let Some(holding) = self.outbox.holding.get(&circle) {
            let theirs = self.known.get(&circle).cloned().unwrap_or_default();
            if holding.entries_beyond(&theirs) > 0 {
                let cap = Some(holding.have.clone());
                self.outbox.relay.insert(circle, (at + RELAY_DELAY, cap));
            }
        }
    }

    /// Whether the peer may still take part: it is a current member of a
    /// circle this device is in, or of one this device left (until it knows).
    fn admitted(&self) -> bool {
        self.replica.peers().contains(&self.peer) || self.replica.farewells().contains(&self.peer)
    }

    /// The next batch of operations a peer that no longer counts in lacks
    /// (never entries), or `None` once it has them all.
    fn farewell_batch(&mut self) -> Option<Message> {
        while let Some(circle) = self.farewell.as_ref().and_then(|c| c.first().copied()) {
            if let Some((message, _)) = self.next_batch(circle, &Pass::All) {
                return Some(message);
            }
            if let Some(circles) = &mut self.farewell {
                circles.remove(&circle);
            }
        }
        None
    }

    /// What this device holds of `circle`, if the peer may know (it is or
    /// was a member).
    fn shared_summary(&self, circle: &CircleId) -> Option<Summary> {
        let shared = self.replica.circles_with(&self.peer).contains(circle);
        shared.then(|| self.replica.summary(circle)).flatten()
    }

    /// One batch of what the peer lacks of `circle` that `pass` takes,
    /// noted as held by the peer, and whether there may be more.
    fn next_batch(&mut self, circle: CircleId, pass: &Pass) -> Option<(Message, bool)> {
        // Never hand a circle to someone who was not in it.
        if !self.replica.circles_with(&self.peer).contains(&circle) {
            return None;
        }
        let mut summary = self.known.get(&circle).cloned().unwrap_or_default();
        if let Pass::Own(holding) = pass {
            // Count every other author's entries as held.
            for (author, last) in &holding.have {
                if *author != self.me {
                    raise(summary.have.entry(*author).or_insert(0), *last);
                }
            }
        }
        let mut records: Records = self.replica.records_since(&circle, &summary, BATCH_BYTES);
        let more = records.byte_len() >= BATCH_BYTES;
        if !self.replica.is_member(&circle, &self.peer) {
            // A former member learns it is out, and is sent nothing written since.
            records.entries.clear();
        }
        if let Pass::Relay(cap) = pass {
            records
                .entries
                .retain(|(author, seq, _)| cap.get(author).is_some_and(|c| seq <= c));
        }
        if records.is_empty() {
            return None;
        }
        let known = self.known.entry(circle).or_default();
        known.absorb(&records);
        self.host.note_peer_state(&self.peer, &circle, known);
        let told = self.told.entry(circle).or_default();
        for (author, seq, _) in &records.entries {
            raise(told.entry(*author).or_insert(0), *seq);
        }
        let message = Message::Records {
            circle,
            ops: records.ops.into_iter().map(|(_, b)| b).collect(),
            entries: records.entries.into_iter().map(|(_, _, b)| b).collect(),
        };
        Some((message, more))
    }
}

/// Raises a height to `seq` if that is higher.
fn raise(height: &mut u64, seq: u64) {
    *height = (*height).max(seq);
}
