//! The sync node: an iroh endpoint keyed by the device's signing key, a
//! members-only gate at the handshake, the sync and invite protocols, a
//! dialer that keeps every member connected (with backoff), and status.

use crate::address_book::AddressBook;
use crate::invite::{self, DeviceTicket, JoinError, KeeperTicket, Linked, Ticket};
use crate::session::{self, Host, Mode};
use crate::status::{CircleStatus, MemberStatus, NodeStatus};
use crate::wire::{PeerAddress, INVITE_ALPN, SYNC_ALPN};
use crate::{Replica, Summary};
use circlekeep_model::{CircleId, MemberId};
use iroh::endpoint::{
    presets, ConnectError, Connection, ConnectionError, PortmapperConfig, VarInt,
};
use iroh::protocol::Router;
use iroh::{
    Endpoint, EndpointAddr, PublicKey, RelayMap, RelayMode, RelayUrl, SecretKey, TransportAddr,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{watch, Notify, Semaphore};

/// Service name for local-network discovery (not iroh's shared default).
pub const MDNS_SERVICE: &str = "circlekeep-sync";
/// How long a dial may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the dialer looks for members to connect to.
const DIAL_INTERVAL: Duration = Duration::from_secs(2);
/// Longest wait between attempts to reach an unreachable member.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Close codes.
const CLOSE_DONE: u32 = 0;
const CLOSE_ERROR: u32 = 1;
const REJECT_STRANGER: u32 = 403;
/// Closing an invite connection past [`MAX_INVITE_CONNECTIONS`].
pub const CLOSE_BUSY: u32 = 503;

/// Invite connections served at once: anyone may open one (the secret is
/// checked inside), and each may wait [`invite::INVITE_TIMEOUT`] for a
/// request, so past this number they are closed at once.
pub const MAX_INVITE_CONNECTIONS: usize = 8;

/// Which relay servers the endpoint uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relay {
    /// iroh's public relays and address lookup (for the internet).
    Default,
    /// A self-hosted `iroh-relay` (with iroh's address lookup).
    Custom(String),
    /// No relay and no internet lookup: direct addresses and the local network only.
    Disabled,
}

impl std::str::FromStr for Relay {
    type Err = NodeError;

    fn from_str(text: &str) -> Result<Self, NodeError> {
        match text.trim() {
            "default" => Ok(Relay::Default),
            "disabled" | "none" | "off" => Ok(Relay::Disabled),
            url => url
                .parse::<RelayUrl>()
                .map(|_| Relay::Custom(url.to_owned()))
                .map_err(|_| NodeError::BadRelay(url.to_owned())),
        }
    }
}

impl std::fmt::Display for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Relay::Default => f.write_str("default"),
            Relay::Disabled => f.write_str("disabled"),
            Relay::Custom(url) => f.write_str(url),
        }
    }
}

/// How the node reaches the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// Relay servers.
    pub relay: Relay,
    /// Find members on the local network (mDNS), e.g. in a room with no internet.
    pub local_discovery: bool,
    /// Listen on this address (default: any address, a random port).
    pub bind: Option<SocketAddr>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            relay: Relay::Default,
            local_discovery: true,
            bind: None,
        }
    }
}

impl NodeConfig {
    /// This machine only, as tests and benchmarks run: no relay, no
    /// local-network discovery, listening on 127.0.0.1:`port` (0: any
    /// free port).
    pub fn loopback(port: u16) -> Self {
        Self {
            relay: Relay::Disabled,
            local_discovery: false,
            bind: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        }
    }
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The relay setting is not `default`, `disabled` or a URL.
    #[error("not a relay setting: {0:?} (use default, disabled or a URL)")]
    BadRelay(String),
    /// The endpoint could not bind.
    #[error("cannot start networking: {0}")]
    Bind(String),
}

/// What a one-shot sync reached.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct SyncReport {
    /// Members synced with (hex ids).
    pub synced: Vec<String>,
    /// Members that could not be reached (hex ids).
    pub unreachable: Vec<String>,
}

#[derive(Debug, Default)]
struct PeerState {
    sessions: usize,
    /// Of those, sessions this side dialed.
    outgoing: usize,
    dialing: bool,
    failures: u32,
    retry_at: Option<Instant>,
    last_seen: Option<SystemTime>,
    in_sync: bool,
    /// The member refused this device as a stranger at its last dial.
    refused: bool,
    /// A keeper that took every circle this device asked it to keep.
    enrolled: bool,
    known: BTreeMap<CircleId, Summary>,
}

/// What sessions, handlers and the dialer share.
pub(crate) struct Inner<R> {
    pub replica: Arc<R>,
    pub shutdown: watch::Sender<bool>,
    endpoint: Endpoint,
    peers: Mutex<BTreeMap<MemberId, PeerState>>,
    book: Mutex<AddressBook>,
    wake: Notify,
    /// Sync-protocol bytes this node has written to its peers.
    pub bytes_sent: std::sync::atomic::AtomicU64,
    /// Records peers sent that this device already held.
    pub received_again: std::sync::atomic::AtomicU64,
}

impl<R> std::fmt::Debug for Inner<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn member_of(id: &PublicKey) -> MemberId {
    MemberId(*id.as_bytes())
}

fn peer_address(member: MemberId, addr: &EndpointAddr) -> PeerAddress {
    PeerAddress {
        member,
        direct: addr.ip_addrs().copied().collect(),
        relay: addr.relay_urls().next().map(|u| u.to_string()),
    }
}

impl<R: Replica> Inner<R> {
    fn peer(&self, member: &MemberId, f: impl FnOnce(&mut PeerState)) {
        f(lock(&self.peers).entry(*member).or_default());
    }

    fn session_started(&self, member: &MemberId, dialed: bool) {
        self.peer(member, |p| {
            // A second session (soon closed as a duplicate) leaves the
            // first one's caught-up state alone.
            if p.sessions == 0 {
                p.in_sync = false;
            }
            p.sessions += 1;
            p.outgoing += usize::from(dialed);
            p.failures = 0;
            p.retry_at = None;
            p.refused = false;
        });
    }

    /// Whom to dial: the members of this device's circles, and members of
    /// circles it left that have not yet shown they know (runs blocking).
    fn contacts(&self) -> BTreeSet<MemberId> {
        let mut contacts = self.replica.peers();
        let keepers: Vec<PeerAddress> = self
            .replica
            .keepers()
            .iter()
            .filter_map(|(_, t)| t.addr().map(|a| peer_address(t.keeper, &a)))
            .collect();
        self.learn_addresses(&keepers);
        let farewells = self.replica.farewells();
        let peers = lock(&self.peers);
        contacts.extend(
            farewells
                .into_iter()
                .filter(|m| !peers.get(m).is_some_and(|p| p.refused)),
        );
        contacts
    }

    /// Notes that `member` closed a connection because it does not count
    /// this device in (for a circle this device left: it knows).
    fn note_refusal(&self, member: &MemberId, reason: Option<&ConnectionError>) {
        let refused = matches!(reason, Some(ConnectionError::ApplicationClosed(close))
            if close.error_code == VarInt::from_u32(REJECT_STRANGER));
        if refused {
            tracing::debug!(peer = %member.short(), "member does not count us in");
            self.peer(member, |p| p.refused = true);
        }
    }

    /// Claims `member` for a dial if nothing is connected or pending and its
    /// backoff has passed.
    fn claim_dial(&self, member: &MemberId, force: bool) -> bool {
        let mut peers = lock(&self.peers);
        let p = peers.entry(*member).or_default();
        let due = force || p.retry_at.is_none_or(|t| t <= Instant::now());
        if p.sessions > 0 || p.dialing || !due {
            return false;
        }
        p.dialing = true;
        true
    }

    fn dial_finished(&self, member: &MemberId, reached: bool) {
        self.peer(member, |p| {
            p.dialing = false;
            if !reached {
                p.failures = p.failures.saturating_add(1);
                let wait = Duration::from_secs(1u64 << p.failures.min(6)).min(MAX_BACKOFF);
                p.retry_at = Some(Instant::now() + wait);
            }
        });
    }
}

impl<R: Replica> Host for Inner<R> {
    /// This device's address, and the addresses of members of the circles
    /// it shares with `peer`.
    fn addresses_for(&self, peer: &MemberId) -> Vec<PeerAddress> {
        let me = self.replica.me();
        let mut addresses = vec![peer_address(me, &self.endpoint.addr())];
        let shared = self.replica.circles_with(peer);
        let members: Vec<MemberId> = self
            .replica
            .circles()
            .into_iter()
            .filter(|(c, _)| shared.contains(c))
            .flat_map(|(_, members)| members)
            .filter(|m| m != peer && *m != me)
            .collect();
        addresses.extend(lock(&self.book).of(members));
        addresses
    }

    fn wrote(&self, bytes: u64) {
        self.bytes_sent
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    fn shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    fn seen(&self, member: &MemberId) {
        self.peer(member, |p| p.last_seen = Some(SystemTime::now()));
    }

    fn note_peer_state(&self, member: &MemberId, circle: &CircleId, summary: &Summary) {
        self.peer(member, |p| {
            p.known.insert(*circle, summary.clone());
        });
    }

    fn note_received_again(&self, records: u64) {
        self.received_again
            .fetch_add(records, std::sync::atomic::Ordering::Relaxed);
    }

    fn mark_in_sync(&self, member: &MemberId) {
        self.peer(member, |p| p.in_sync = true);
    }

    fn learn_addresses(&self, addresses: &[PeerAddress]) {
        let me = self.replica.me();
        let mut book = lock(&self.book);
        let changed = addresses
            .iter()
            .filter(|a| a.member != me)
            .fold(false, |changed, a| book.learn(a) | changed);
        if changed {
            self.replica.save_addresses(&book.save());
        }
    }

    /// Whether a live session this side dialed to `member` duplicates one
    /// `member` dialed: when two members dial each other at once, the
    /// larger id's connection steps aside so each record travels once.
    fn duplicate_session(&self, member: &MemberId) -> bool {
        *member < self.replica.me()
            && lock(&self.peers)
                .get(member)
                .is_some_and(|p| p.sessions > p.outgoing)
    }

    fn ended(&self, member: &MemberId, dialed: bool) {
        self.peer(member, |p| {
            p.sessions = p.sessions.saturating_sub(1);
            p.outgoing = p.outgoing.saturating_sub(usize::from(dialed));
            if p.sessions == 0 {
                p.in_sync = false;
            }
        });
    }
}

/// Dials `member` and runs a session; returns whether a session ran.
async fn dial<R: Replica>(inner: Arc<Inner<R>>, member: MemberId, mode: Mode) -> bool {
    let Ok(id) = PublicKey::from_bytes(member.as_bytes()) else {
        return false;
    };
    let addr = lock(&inner.book).endpoint_addr(id, &member);
    present_links(&inner, member, &addr).await;
    enrol(&inner, member, &addr).await;
    let connection = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        inner.endpoint.connect(addr, SYNC_ALPN),
    )
    .await
    {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => {
            tracing::debug!(peer = %member.short(), "cannot reach member: {e}");
            if let ConnectError::Connection { source, .. } = &e {
                inner.note_refusal(&member, Some(source));
            }
            inner.dial_finished(&member, false);
            return false;
        }
        Err(_) => {
            tracing::debug!(peer = %member.short(), "timed out reaching member");
            inner.dial_finished(&member, false);
            return false;
        }
    };
    let streams = match connection.open_bi().await {
        Ok(streams) => streams,
        Err(e) => {
            // A member that refused us (we are not in its circles) lands here.
            tracing::debug!(peer = %member.short(), "member closed the connection: {e}");
            inner.note_refusal(&member, Some(&e));
            inner.dial_finished(&member, false);
            return false;
        }
    };
    inner.session_started(&member, true);
    inner.dial_finished(&member, true);
    tracing::info!(peer = %member.short(), "connected to member");
    let (send, recv) = streams;
    let outcome = session::run(
        inner.replica.clone(),
        inner.clone(),
        member,
        (send, recv),
        mode,
        true,
    )
    .await;
    let failed = outcome.is_err();
    finish(&connection, &member, outcome);
    if failed {
        // E.g. a member that no longer counts us in: do not redial at once.
        inner.note_refusal(&member, connection.close_reason().as_ref());
        inner.dial_finished(&member, false);
    }
    !failed
}

fn finish(connection: &Connection, member: &MemberId, outcome: Result<(), session::SessionError>) {
    match outcome {
        Ok(()) => {
            tracing::info!(peer = %member.short(), "session ended");
            connection.close(VarInt::from_u32(CLOSE_DONE), b"done");
        }
        Err(session::SessionError::NoLongerMember) => {
            tracing::info!(peer = %member.short(), "closed the session of a former member");
            connection.close(VarInt::from_u32(REJECT_STRANGER), b"not a member");
        }
        Err(e) => {
            tracing::warn!(peer = %member.short(), "dropping member's session: {e}");
            connection.close(VarInt::from_u32(CLOSE_ERROR), b"protocol error");
        }
    }
}

/// A running sync node.
pub struct Node<R: Replica> {
    inner: Arc<Inner<R>>,
    router: Router,
    dialer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

mod incoming;
mod outgoing;
use incoming::{when_busy, InviteProtocol, MembersOnly, SyncProtocol};
use outgoing::{enrol, present_links};

impl<R: Replica> Node<R> {
    /// Binds the endpoint with the device's signing key and starts accepting
    /// members. Call [`Node::keep_connected`] to also dial them.
    pub async fn spawn(
        replica: Arc<R>,
        secret_key: [u8; 32],
        config: NodeConfig,
    ) -> Result<Self, NodeError> {
        let mut builder = match &config.relay {
            Relay::Default => Endpoint::builder(presets::N0),
            // A self-hosted relay: nothing goes to number 0's servers, not
            // even the address lookup (DNS, pkarr) its preset publishes to.
            // Members find each other through tickets and the address book.
            Relay::Custom(url) => {
                let url: RelayUrl = url.parse().map_err(|_| NodeError::BadRelay(url.clone()))?;
                Endpoint::builder(presets::Minimal)
                    .relay_mode(RelayMode::Custom(RelayMap::from(url)))
            }
            Relay::Disabled => Endpoint::builder(presets::Minimal)
                .relay_mode(RelayMode::Disabled)
                .portmapper_config(PortmapperConfig::Disabled),
        };
        builder = builder
            .secret_key(SecretKey::from_bytes(&secret_key))
            .hooks(MembersOnly {
                replica: replica.clone(),
            });
        if let Some(bind) = config.bind {
            builder = builder
                .clear_ip_transports()
                .bind_addr(bind)
                .map_err(|e| NodeError::Bind(e.to_string()))?;
        }
        if config.local_discovery {
            builder = builder.address_lookup(
                iroh_mdns_address_lookup::MdnsAddressLookup::builder().service_name(MDNS_SERVICE),
            );
        }
        let endpoint = builder
            .bind()
            .await
            .map_err(|e| NodeError::Bind(e.to_string()))?;
        let book = AddressBook::load(replica.load_addresses().as_deref());
        let (shutdown, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            replica,
            shutdown,
            endpoint: endpoint.clone(),
            peers: Mutex::new(BTreeMap::new()),
            book: Mutex::new(book),
            wake: Notify::new(),
            bytes_sent: Default::default(),
            received_again: Default::default(),
        });
        let router = Router::builder(endpoint)
            .accept(
                SYNC_ALPN,
                SyncProtocol {
                    inner: inner.clone(),
                },
            )
            .accept(
                INVITE_ALPN,
                InviteProtocol {
                    inner: inner.clone(),
                    slots: Arc::new(Semaphore::new(MAX_INVITE_CONNECTIONS)),
                },
            )
            .spawn();
        Ok(Node {
            inner,
            router,
            dialer: Mutex::new(None),
        })
    }

    /// Keeps every member connected: dials those not connected, retrying
    /// unreachable ones with exponential backoff (up to a minute).
    pub fn keep_connected(&self) {
        let mut dialer = lock(&self.dialer);
        if dialer.is_some() {
            return;
        }
        let inner = self.inner.clone();
        *dialer = Some(tokio::spawn(async move {
            let mut shutdown = inner.shutdown.subscribe();
            // The first round at once: an app just unlocked syncs now, not
            // after a pause.
            loop {
                let contacts = inner.clone();
                if let Ok(peers) = tokio::task::spawn_blocking(move || contacts.contacts()).await {
                    for member in peers {
                        if inner.claim_dial(&member, false) {
                            tokio::spawn(dial(inner.clone(), member, Mode::Live));
                        }
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(DIAL_INTERVAL) => {}
                    _ = inner.wake.notified() => {}
                    _ = shutdown.changed() => return,
                }
            }
        }));
    }

    /// This device's member id (= endpoint id).
    pub fn id(&self) -> MemberId {
        member_of(&self.inner.endpoint.id())
    }

    /// How many address lookup services the endpoint publishes to and asks
    /// (number 0's DNS and pkarr with the default relays, mDNS with local
    /// discovery): what it tells the network beyond the relay it uses.
    pub fn address_lookups(&self) -> usize {
        self.inner
            .endpoint
            .address_lookup()
            .map_or(0, |services| services.len())
    }

    /// Where this node can be reached now.
    pub fn addr(&self) -> EndpointAddr {
        self.inner.endpoint.addr()
    }

    /// Remembers where a member can be reached (e.g. given by hand in tests).
    pub fn add_address(&self, addr: &EndpointAddr) {
        self.inner
            .learn_addresses(&[peer_address(member_of(&addr.id), addr)]);
        self.inner.wake.notify_one();
    }

    /// Dials every member once, syncs with each until both sides caught
    /// up, and reports whom it reached (waiting at most `wait`).
    pub async fn sync_once(&self, wait: Duration) -> SyncReport {
        let inner = self.inner.clone();
        let peers = tokio::task::spawn_blocking(move || inner.contacts())
            .await
            .unwrap_or_default();
        let mut tasks = tokio::task::JoinSet::new();
        for member in peers {
            let inner = self.inner.clone();
            tasks.spawn(async move {
                // A live session already open counts; otherwise dial now.
                let reached = if inner.claim_dial(&member, true) {
                    dial(inner.clone(), member, Mode::OneShot).await
                } else {
                    lock(&inner.peers)
                        .get(&member)
                        .is_some_and(|p| p.sessions > 0)
                };
                (member, reached)
            });
        }
        let mut report = SyncReport::default();
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
            if let Ok((member, reached)) = joined {
                let list = if reached {
                    &mut report.synced
                } else {
                    &mut report.unreachable
                };
                list.push(member.to_hex());
            }
        }
        for (member, _) in lock(&self.inner.peers).iter() {
            let hex = member.to_hex();
            if !report.synced.contains(&hex) && !report.unreachable.contains(&hex) {
                report.unreachable.push(hex);
            }
        }
        tasks.abort_all();
        report.synced.sort();
        report.unreachable.sort();
        report
    }

    /// A ticket for a one-time secret the replica already recorded.
    pub fn ticket(&self, circle: CircleId, secret: [u8; 32], expires_at: u64) -> Ticket {
        let addr = self.addr();
        let relay = addr.relay_urls().next().map(|u| u.to_string());
        Ticket {
            circle,
            inviter: self.id(),
            direct: addr.ip_addrs().copied().collect(),
            relay,
            secret,
            expires_at,
        }
    }

    /// This node's keeper ticket, for the enrolment `secret` its replica
    /// checks.
    pub fn keeper_ticket(&self, secret: [u8; 32]) -> KeeperTicket {
        let addr = self.addr();
        let relay = addr.relay_urls().next().map(|u| u.to_string());
        KeeperTicket {
            keeper: self.id(),
            direct: addr.ip_addrs().copied().collect(),
            relay,
            secret,
        }
    }

    /// A ticket for linking a new device of `member`, for a one-time
    /// secret the replica already recorded.
    pub fn device_ticket(
        &self,
        member: MemberId,
        secret: [u8; 32],
        expires_at: u64,
    ) -> DeviceTicket {
        let addr = self.addr();
        let relay = addr.relay_urls().next().map(|u| u.to_string());
        DeviceTicket {
            member,
            device: self.id(),
            direct: addr.ip_addrs().copied().collect(),
            relay,
            secret,
            expires_at,
        }
    }

    /// Dials `peer` at the addresses a ticket gave, on the invite ALPN.
    async fn dial_ticket(
        &self,
        peer: &MemberId,
        direct: &[std::net::SocketAddr],
        relay: Option<&str>,
    ) -> Result<
        (
            Connection,
            iroh::endpoint::SendStream,
            iroh::endpoint::RecvStream,
        ),
        JoinError,
    > {
        let id = PublicKey::from_bytes(peer.as_bytes())
            .map_err(|e| JoinError::Unreachable(e.to_string()))?;
        let mut addr =
            EndpointAddr::new(id).with_addrs(direct.iter().map(|a| TransportAddr::Ip(*a)));
        if let Some(relay) = relay.and_then(|r| r.parse::<RelayUrl>().ok()) {
            addr = addr.with_relay_url(relay);
        }
        self.add_address(&addr);
        let connection = tokio::time::timeout(
            CONNECT_TIMEOUT,
            self.inner.endpoint.connect(addr, INVITE_ALPN),
        )
        .await
        .map_err(|_| JoinError::Unreachable("timed out".into()))?
        .map_err(|e| JoinError::Unreachable(e.to_string()))?;
        let (send, recv) = connection
            .open_bi()
            .await
            .map_err(|e| JoinError::Unreachable(e.to_string()))?;
        Ok((connection, send, recv))
    }

    /// Presents a device ticket with this device's `request` to be linked,
    /// then catches up from the device that linked it. Returns the circles
    /// it was linked into and its attestation.
    pub async fn link(&self, ticket: &DeviceTicket, request: Vec<u8>) -> Result<Linked, JoinError> {
        let (connection, mut send, mut recv) = self
            .dial_ticket(&ticket.device, &ticket.direct, ticket.relay.as_deref())
            .await?;
        let outcome = when_busy(
            &connection,
            invite::request_link(&mut send, &mut recv, ticket, request).await,
        );
        connection.close(VarInt::from_u32(CLOSE_DONE), b"thanks");
        let linked = outcome?;
        // Kept before catching up: the circles it was linked into come
        // from a device its attestation names, and are taken without asking.
        let (replica, answer) = (self.inner.replica.clone(), linked.clone());
        tokio::task::spawn_blocking(move || replica.keep_link(&answer))
            .await
            .map_err(|e| JoinError::Protocol(e.to_string()))?
            .map_err(JoinError::Protocol)?;
        if self.inner.claim_dial(&ticket.device, true) {
            dial(self.inner.clone(), ticket.device, Mode::OneShot).await;
        }
        Ok(linked)
    }

    /// Redeems a ticket with the inviter, then catches up from it. Returns
    /// the circle joined.
    pub async fn join(&self, ticket: &Ticket, card: &str) -> Result<CircleId, JoinError> {
        let (replica, circle) = (self.inner.replica.clone(), ticket.circle);
        let _ = tokio::task::spawn_blocking(move || replica.joining(&circle)).await;
        let (connection, mut send, mut recv) = self
            .dial_ticket(&ticket.inviter, &ticket.direct, ticket.relay.as_deref())
            .await?;
        let outcome = when_busy(
            &connection,
            invite::request(&mut send, &mut recv, ticket, card.to_owned()).await,
        );
        connection.close(VarInt::from_u32(CLOSE_DONE), b"thanks");
        let circle = outcome?;
        // Now a member: catch up from the inviter.
        if self.inner.claim_dial(&ticket.inviter, true) {
            dial(self.inner.clone(), ticket.inviter, Mode::OneShot).await;
        }
        Ok(circle)
    }

    /// Sync status per circle and member.
    pub fn status(&self) -> NodeStatus {
        let addr = self.addr();
        let replica = &self.inner.replica;
        // Per other member, whichever of its devices is connected counts
        // (this member's own other devices are not other members).
        let me = replica.my_member();
        let devices: Vec<_> = replica
            .circles()
            .into_iter()
            .map(|(circle, members)| {
                let members: Vec<(MemberId, Vec<MemberId>)> = members
                    .into_iter()
                    .filter(|m| *m != me)
                    .map(|m| (m, replica.member_devices(&circle, &m)))
                    .collect();
                (circle, members)
            })
            .collect();
        let keepers = replica.keepers();
        let peers = lock(&self.inner.peers);
        let circles = devices
            .into_iter()
            .map(|(circle, members)| {
                let mine = replica.summary(&circle).unwrap_or_default();
                let status_of =
                    |id: MemberId, devices: &[MemberId]| {
                        let states: Vec<_> = devices.iter().filter_map(|d| peers.get(d)).collect();
                        let live = states.iter().find(|p| p.sessions > 0);
                        let known = live.or(states.first()).and_then(|p| p.known.get(&circle));
                        MemberStatus {
                            member: id.to_hex(),
                            connected: live.is_some(),
                            last_seen: states.iter().filter_map(|p| p.last_seen).max().and_then(
                                |t| t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs()),
                            ),
                            in_sync: states.iter().any(|p| p.sessions > 0 && p.in_sync),
                            entries_behind: known.map(|k| k.entries_beyond(&mine)),
                            entries_ahead: known.map(|k| mine.entries_beyond(k)),
                        }
                    };
                CircleStatus {
                    circle: circle.to_hex(),
                    members: members.iter().map(|(m, d)| status_of(*m, d)).collect(),
                    keepers: keepers
                        .iter()
                        .filter(|(c, _)| *c == circle)
                        .map(|(_, k)| status_of(k.keeper, &[k.keeper]))
                        .collect(),
                }
            })
            .collect();
        let relay = addr.relay_urls().next().map(|u| u.to_string());
        NodeStatus {
            endpoint_id: self.id().to_hex(),
            direct_addresses: addr.ip_addrs().map(|a| a.to_string()).collect(),
            relay,
            bytes_sent: self
                .inner
                .bytes_sent
                .load(std::sync::atomic::Ordering::Relaxed),
            received_again: self
                .inner
                .received_again
                .load(std::sync::atomic::Ordering::Relaxed),
            circles,
        }
    }

    /// Stops dialing, ends sessions and closes the endpoint.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        if let Some(dialer) = lock(&self.dialer).take() {
            dialer.abort();
        }
        if let Err(e) = self.router.shutdown().await {
            tracing::warn!("sync node did not shut down cleanly: {e}");
        }
    }
}
