//! Invites: a ticket carries the circle id, the inviter's endpoint id and
//! addresses and a one-time secret. The newcomer dials the inviter on the invite ALPN
//! (open to anyone), presents the secret and its member card; the inviter's
//! replica checks the secret (known, unused, unexpired) and that the card is
//! the dialing device's own, then adds it to the circle.
//!
//! A device ticket works the same way for a member's new device: it
//! carries the member and one of the member's devices to dial; the new
//! device presents the secret and its signed request to be linked, and
//! that device links it into every circle of the member.
//!
//! A keeper ticket names a keeper (an always-on peer that stores a circle's
//! sealed records) and the secret its operator handed out: a member's
//! device presents it with a circle id (`Keep`), and the keeper lets that
//! device in to hand it the circle's records.

use crate::wire::{read_frame, write_frame, WireError};
use circlekeep_model::ErrorCode;
use circlekeep_model::{CircleId, MemberId};
use data_encoding::BASE64URL_NOPAD;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Every ticket starts with this.
pub const TICKET_PREFIX: &str = "circlekeep-invite1:";
/// Every device ticket starts with this.
pub const DEVICE_TICKET_PREFIX: &str = "circlekeep-device1:";
/// An invite as a link: opening it starts Circlekeep on the join screen.
pub const INVITE_LINK_PREFIX: &str = "circlekeep://invite1/";
/// A device ticket as a link, for the new device to open.
pub const DEVICE_LINK_PREFIX: &str = "circlekeep://device1/";
/// Every keeper ticket starts with this.
pub const KEEPER_TICKET_PREFIX: &str = "circlekeep-keeper1:";
/// Largest invite message.
const MAX_INVITE_FRAME: usize = 64 << 10;
/// How long either side waits for the other during an invite.
pub(crate) const INVITE_TIMEOUT: Duration = Duration::from_secs(30);

/// An invitation to one circle, to hand to one newcomer out of band.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The circle the newcomer is invited to.
    pub circle: CircleId,
    /// The inviting device (its endpoint id).
    pub inviter: MemberId,
    /// Where the inviter listened when it made the ticket.
    pub direct: Vec<SocketAddr>,
    /// The inviter's home relay, if any.
    pub relay: Option<String>,
    /// The one-time secret.
    pub secret: [u8; 32],
    /// When it stops working (Unix seconds).
    pub expires_at: u64,
}

/// A one-time ticket for linking a new device to a member, to show on one
/// of the member's devices and enter (or scan) on the new one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceTicket {
    /// The member the new device will be a device of.
    pub member: MemberId,
    /// The device that made the ticket (its endpoint id), to dial.
    pub device: MemberId,
    /// Where that device listened when it made the ticket.
    pub direct: Vec<SocketAddr>,
    /// Its home relay, if any.
    pub relay: Option<String>,
    /// The one-time secret.
    pub secret: [u8; 32],
    /// When it stops working (Unix seconds).
    pub expires_at: u64,
}

/// Where a keeper listens, and the secret that lets members enrol a
/// circle with it (it does not expire: the keeper's operator replaces it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeeperTicket {
    /// The keeper's endpoint id.
    pub keeper: MemberId,
    /// Where it listened when it made the ticket.
    pub direct: Vec<SocketAddr>,
    /// Its home relay, if any.
    pub relay: Option<String>,
    /// The enrolment secret.
    pub secret: [u8; 32],
}

impl fmt::Display for KeeperTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_ticket(f, KEEPER_TICKET_PREFIX, self)
    }
}

impl FromStr for KeeperTicket {
    type Err = TicketError;

    fn from_str(text: &str) -> Result<Self, TicketError> {
        read_ticket(text, [KEEPER_TICKET_PREFIX, KEEPER_TICKET_PREFIX])
    }
}

impl KeeperTicket {
    /// The keeper's address as the ticket gives it.
    pub fn addr(&self) -> Option<iroh::EndpointAddr> {
        let id = iroh::PublicKey::from_bytes(self.keeper.as_bytes()).ok()?;
        let mut addr = iroh::EndpointAddr::new(id)
            .with_addrs(self.direct.iter().map(|a| iroh::TransportAddr::Ip(*a)));
        if let Some(relay) = self.relay.as_deref().and_then(|r| r.parse().ok()) {
            addr = addr.with_relay_url(relay);
        }
        Some(addr)
    }
}

impl DeviceTicket {
    /// A short code both screens show for the new device `device`, so the
    /// member sees that the device they hold is the one being linked.
    pub fn short_code(&self, device: &MemberId) -> String {
        let mut hasher = blake3::Hasher::new_derive_key("circlekeep v1 device link code");
        hasher.update(&self.secret);
        hasher.update(device.as_bytes());
        let n = u32::from_be_bytes(
            hasher.finalize().as_bytes()[..4]
                .try_into()
                .unwrap_or([0; 4]),
        );
        format!("{:03}-{:03}", (n / 1000) % 1000, n % 1000)
    }
}

/// Why text is not a ticket.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TicketError {
    /// Does not start with [`TICKET_PREFIX`].
    #[error(
        "not a Circlekeep invite (it should start with {TICKET_PREFIX} or {INVITE_LINK_PREFIX})"
    )]
    NotATicket,
    /// Damaged.
    #[error("the invite is damaged")]
    Malformed,
}

/// Writes `ticket` as `prefix` and base64 of its bytes.
fn write_ticket<T: Serialize>(f: &mut fmt::Formatter<'_>, prefix: &str, ticket: &T) -> fmt::Result {
    let bytes = postcard::to_stdvec(ticket).map_err(|_| fmt::Error)?;
    write!(f, "{prefix}{}", BASE64URL_NOPAD.encode(&bytes))
}

/// Reads a ticket written by [`write_ticket`] under either of `prefixes`
/// (the ticket's, its link's), bounded, never panics.
fn read_ticket<T: serde::de::DeserializeOwned>(
    text: &str,
    prefixes: [&str; 2],
) -> Result<T, TicketError> {
    let text = text.trim();
    let rest = prefixes
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
        .ok_or(TicketError::NotATicket)?;
    if rest.len() > 4096 {
        return Err(TicketError::Malformed);
    }
    let bytes = BASE64URL_NOPAD
        .decode(rest.as_bytes())
        .map_err(|_| TicketError::Malformed)?;
    postcard::from_bytes(&bytes).map_err(|_| TicketError::Malformed)
}

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_ticket(f, TICKET_PREFIX, self)
    }
}

impl FromStr for Ticket {
    type Err = TicketError;

    /// The ticket, or its link.
    fn from_str(text: &str) -> Result<Self, TicketError> {
        read_ticket(text, [TICKET_PREFIX, INVITE_LINK_PREFIX])
    }
}

impl Ticket {
    /// The invite as a `circlekeep://` link (what the ticket says, under
    /// another prefix).
    pub fn link(&self) -> String {
        relink(&self.to_string(), TICKET_PREFIX, INVITE_LINK_PREFIX)
    }
}

impl DeviceTicket {
    /// The device ticket as a `circlekeep://` link.
    pub fn link(&self) -> String {
        relink(&self.to_string(), DEVICE_TICKET_PREFIX, DEVICE_LINK_PREFIX)
    }
}

/// `ticket` with its prefix `from` replaced by `to`.
fn relink(ticket: &str, from: &str, to: &str) -> String {
    format!("{to}{}", ticket.strip_prefix(from).unwrap_or(ticket))
}

impl fmt::Display for DeviceTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_ticket(f, DEVICE_TICKET_PREFIX, self)
    }
}

impl FromStr for DeviceTicket {
    type Err = TicketError;

    fn from_str(text: &str) -> Result<Self, TicketError> {
        read_ticket(text, [DEVICE_TICKET_PREFIX, DEVICE_LINK_PREFIX])
    }
}

/// Why an inviter refused a newcomer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum InviteRefusal {
    /// The secret is not one the inviter issued (forged, or mistyped).
    #[error("this invite is not known to the inviter (forged or for another device)")]
    Unknown,
    /// Already redeemed.
    #[error("this invite has already been used")]
    Used,
    /// Past its expiry.
    #[error("this invite has expired")]
    Expired,
    /// The member card did not parse or verify.
    #[error("the member card was refused: {0}")]
    BadCard(String),
    /// The card is not the dialing device's.
    #[error("the member card does not belong to the device presenting it")]
    NotYourCard,
    /// A device request not made (or not signed) by the dialing device.
    #[error("the device request does not belong to the device presenting it")]
    NotYourDevice,
    /// The inviter is no longer in the circle.
    #[error("the inviter is no longer a member of that circle")]
    InviterNotMember,
    /// Adding failed on the inviter's side.
    #[error("the inviter could not add you: {0}")]
    Failed(String),
}

impl InviteRefusal {
    /// Stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            InviteRefusal::Unknown => ErrorCode::InviteUnknown,
            InviteRefusal::Used => ErrorCode::InviteUsed,
            InviteRefusal::Expired => ErrorCode::InviteExpired,
            InviteRefusal::BadCard(_) => ErrorCode::BadCard,
            InviteRefusal::NotYourCard => ErrorCode::NotYourCard,
            InviteRefusal::NotYourDevice => ErrorCode::NotYourDevice,
            InviteRefusal::InviterNotMember => ErrorCode::InviterNotMember,
            InviteRefusal::Failed(_) => ErrorCode::InviteFailed,
        }
    }
}

/// Why joining by ticket failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The inviter could not be reached.
    #[error("cannot reach the inviter: {0}")]
    Unreachable(String),
    /// The inviter refused.
    #[error(transparent)]
    Refused(#[from] InviteRefusal),
    /// The exchange broke off.
    #[error("the invite exchange failed: {0}")]
    Protocol(String),
}

impl JoinError {
    /// Stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            JoinError::Unreachable(_) => ErrorCode::Unreachable,
            JoinError::Refused(r) => r.code(),
            JoinError::Protocol(_) => ErrorCode::Protocol,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum InviteMessage {
    Join {
        circle: CircleId,
        secret: [u8; 32],
        card: String,
    },
    Joined {
        circle: CircleId,
    },
    Refused(InviteRefusal),
    /// A new device asks to be linked: the device ticket's secret and its
    /// request (the replica's encoding).
    Link {
        secret: [u8; 32],
        request: Vec<u8>,
    },
    /// Linked into these circles, with the new device's attestation.
    Linked(Linked),
    /// A device nobody saw being linked presents the operations that link
    /// it into `circle` (signed by its member's device).
    Present {
        circle: CircleId,
        ops: Vec<Vec<u8>>,
    },
    /// Whether the presenting device now counts in the circle.
    Presented {
        admitted: bool,
    },
    /// A member's device asks a keeper to keep `circle`, with the secret
    /// of the keeper's ticket.
    Keep {
        circle: CircleId,
        secret: [u8; 32],
    },
    /// Whether the keeper lets the device in for that circle.
    Kept {
        admitted: bool,
    },
}

/// What a new device is answered once linked: the circles it was linked
/// into, and its attestation (the replica's encoding, public keys and
/// signatures only), which lets it found circles and be added on its own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linked {
    /// The circles the device was linked into.
    pub circles: Vec<CircleId>,
    /// The device's attestation (empty if the linking device had none).
    pub attestation: Vec<u8>,
}

/// The newcomer's side of the exchange.
pub(crate) async fn request<W, R>(
    writer: &mut W,
    reader: &mut R,
    ticket: &Ticket,
    card: String,
) -> Result<CircleId, JoinError>
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let join = InviteMessage::Join {
        circle: ticket.circle,
        secret: ticket.secret,
        card,
    };
    match exchange(writer, reader, &join, "the inviter did not answer").await? {
        Some(InviteMessage::Joined { circle }) if circle == ticket.circle => Ok(circle),
        Some(InviteMessage::Joined { .. }) => Err(JoinError::Protocol(
            "the inviter added you to a different circle than the ticket names".into(),
        )),
        Some(InviteMessage::Refused(refusal)) => Err(JoinError::Refused(refusal)),
        _ => Err(JoinError::Protocol("unexpected answer".into())),
    }
}

/// Sends the dialing side's one message and reads the answer (within the
/// time limit; `silent` says who did not answer).
async fn exchange<W, R>(
    writer: &mut W,
    reader: &mut R,
    message: &InviteMessage,
    silent: &str,
) -> Result<Option<InviteMessage>, JoinError>
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let protocol = |e: WireError| JoinError::Protocol(e.to_string());
    write_frame(writer, message).await.map_err(protocol)?;
    tokio::time::timeout(INVITE_TIMEOUT, read_frame(reader, MAX_INVITE_FRAME))
        .await
        .map_err(|_| JoinError::Protocol(silent.into()))?
        .map_err(protocol)
}

/// The new device's side of a link.
pub(crate) async fn request_link<W, R>(
    writer: &mut W,
    reader: &mut R,
    ticket: &DeviceTicket,
    request: Vec<u8>,
) -> Result<Linked, JoinError>
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let link = InviteMessage::Link {
        secret: ticket.secret,
        request,
    };
    match exchange(writer, reader, &link, "the device did not answer").await? {
        Some(InviteMessage::Linked(linked)) => Ok(linked),
        Some(InviteMessage::Refused(refusal)) => Err(JoinError::Refused(refusal)),
        _ => Err(JoinError::Protocol("unexpected answer".into())),
    }
}

/// The presenting device's side: hands over the operations that link it
/// into `circle`; answers whether it now counts there.
pub(crate) async fn present<W, R>(
    writer: &mut W,
    reader: &mut R,
    circle: CircleId,
    ops: Vec<Vec<u8>>,
) -> Result<bool, JoinError>
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let present = InviteMessage::Present { circle, ops };
    match exchange(writer, reader, &present, "the member did not answer").await? {
        Some(InviteMessage::Presented { admitted }) => Ok(admitted),
        Some(InviteMessage::Refused(refusal)) => Err(JoinError::Refused(refusal)),
        _ => Err(JoinError::Protocol("unexpected answer".into())),
    }
}

/// A member's device asks the keeper of `ticket` to keep `circle`;
/// answers whether the keeper lets it in to hand over the circle's records.
pub(crate) async fn keep<W, R>(
    writer: &mut W,
    reader: &mut R,
    ticket: &KeeperTicket,
    circle: CircleId,
) -> Result<bool, JoinError>
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let keep = InviteMessage::Keep {
        circle,
        secret: ticket.secret,
    };
    match exchange(writer, reader, &keep, "the keeper did not answer").await? {
        Some(InviteMessage::Kept { admitted }) => Ok(admitted),
        Some(InviteMessage::Refused(refusal)) => Err(JoinError::Refused(refusal)),
        _ => Err(JoinError::Protocol("unexpected answer".into())),
    }
}

/// What a dialing device asks on the invite ALPN.
pub(crate) enum Request {
    /// A newcomer joins a circle.
    Join(JoinRequest),
    /// A member's new device asks to be linked.
    Link { secret: [u8; 32], request: Vec<u8> },
    /// A device presents the operations that link it into a circle.
    Present { circle: CircleId, ops: Vec<Vec<u8>> },
    /// A member's device asks a keeper to keep a circle.
    Keep { circle: CircleId, secret: [u8; 32] },
}

/// A newcomer's request: the circle, the secret, the member card.
pub(crate) struct JoinRequest {
    pub circle: CircleId,
    pub secret: [u8; 32],
    pub card: String,
}

/// Reads the dialing device's request (within the time limit).
pub(crate) async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Request, WireError> {
    match tokio::time::timeout(INVITE_TIMEOUT, read_frame(reader, MAX_INVITE_FRAME)).await {
        Ok(Ok(Some(InviteMessage::Join {
            circle,
            secret,
            card,
        }))) => Ok(Request::Join(JoinRequest {
            circle,
            secret,
            card,
        })),
        Ok(Ok(Some(InviteMessage::Link { secret, request }))) => {
            Ok(Request::Link { secret, request })
        }
        Ok(Ok(Some(InviteMessage::Present { circle, ops }))) => {
            Ok(Request::Present { circle, ops })
        }
        Ok(Ok(Some(InviteMessage::Keep { circle, secret }))) => {
            Ok(Request::Keep { circle, secret })
        }
        Ok(Err(e)) => Err(e),
        _ => Err(WireError::Garbage),
    }
}

/// Reads one request as the accepting side does, and drops it: what any
/// dialer's bytes cost (for the fuzz target).
pub async fn read_any_request<R: AsyncRead + Unpin>(reader: &mut R) -> Result<(), WireError> {
    read_request(reader).await.map(drop)
}

/// What the dialing device is answered.
pub(crate) enum Outcome {
    Joined(CircleId),
    Linked(Linked),
    Presented(bool),
    Kept(bool),
}

/// Answers the dialing device.
pub(crate) async fn answer<W: AsyncWrite + Unpin>(
    writer: &mut W,
    outcome: &Result<Outcome, InviteRefusal>,
) -> Result<(), WireError> {
    let message = match outcome {
        Ok(Outcome::Joined(circle)) => InviteMessage::Joined { circle: *circle },
        Ok(Outcome::Linked(linked)) => InviteMessage::Linked(linked.clone()),
        Ok(Outcome::Presented(admitted)) => InviteMessage::Presented {
            admitted: *admitted,
        },
        Ok(Outcome::Kept(admitted)) => InviteMessage::Kept {
            admitted: *admitted,
        },
        Err(refusal) => InviteMessage::Refused(refusal.clone()),
    };
    write_frame(writer, &message).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_round_trip_and_junk_is_refused() {
        let ticket = Ticket {
            circle: CircleId([3; 32]),
            inviter: MemberId([4; 32]),
            direct: vec![SocketAddr::from(([127, 0, 0, 1], 4242))],
            relay: None,
            secret: [9; 32],
            expires_at: 1_900_000_000,
        };
        let text = ticket.to_string();
        assert!(text.starts_with(TICKET_PREFIX));
        assert_eq!(text.parse::<Ticket>(), Ok(ticket));
        assert_eq!("hello".parse::<Ticket>(), Err(TicketError::NotATicket));
        assert_eq!(
            format!("{TICKET_PREFIX}!!!").parse::<Ticket>(),
            Err(TicketError::Malformed)
        );
    }

    use proptest::prelude::*;

    proptest! {
        /// Pasted text never panics the parser; tickets survive printing.
        #[test]
        fn ticket_parsing_is_total(text in ".{0,300}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = text.parse::<Ticket>();
            let _ = text.parse::<DeviceTicket>();
            let encoded = format!("{TICKET_PREFIX}{}", BASE64URL_NOPAD.encode(&bytes));
            let _ = encoded.parse::<Ticket>();
            let encoded = format!("{DEVICE_TICKET_PREFIX}{}", BASE64URL_NOPAD.encode(&bytes));
            let _ = encoded.parse::<DeviceTicket>();
            let _ = format!("{INVITE_LINK_PREFIX}{text}").parse::<Ticket>();
            let _ = format!("{DEVICE_LINK_PREFIX}{text}").parse::<DeviceTicket>();
            let _ = format!("{KEEPER_TICKET_PREFIX}{text}").parse::<KeeperTicket>();
            let encoded = format!("{KEEPER_TICKET_PREFIX}{}", BASE64URL_NOPAD.encode(&bytes));
            let _ = encoded.parse::<KeeperTicket>();
        }

        #[test]
        fn tickets_round_trip(
            circle in any::<[u8; 32]>(),
            inviter in any::<[u8; 32]>(),
            secret in any::<[u8; 32]>(),
            port in any::<u16>(),
            expires_at in any::<u64>(),
        ) {
            let ticket = Ticket {
                circle: CircleId(circle),
                inviter: MemberId(inviter),
                direct: vec![SocketAddr::from(([10, 0, 0, 1], port))],
                relay: Some("https://relay.example.org/".into()),
                secret,
                expires_at,
            };
            prop_assert_eq!(ticket.link().parse::<Ticket>(), Ok(ticket.clone()));
            prop_assert!(ticket.link().starts_with(INVITE_LINK_PREFIX));
            prop_assert_eq!(ticket.to_string().parse::<Ticket>(), Ok(ticket));
            let device = DeviceTicket {
                member: MemberId(circle),
                device: MemberId(inviter),
                direct: vec![SocketAddr::from(([10, 0, 0, 1], port))],
                relay: None,
                secret,
                expires_at,
            };
            prop_assert_eq!(device.to_string().parse::<DeviceTicket>(), Ok(device.clone()));
            prop_assert_eq!(device.link().parse::<DeviceTicket>(), Ok(device.clone()));
            // An invite is not a device ticket, nor the other way round.
            prop_assert!(device.to_string().parse::<Ticket>().is_err());
            prop_assert!(device.link().parse::<Ticket>().is_err());
            let keeper = KeeperTicket {
                keeper: MemberId(inviter),
                direct: vec![SocketAddr::from(([10, 0, 0, 1], port))],
                relay: None,
                secret,
            };
            prop_assert_eq!(keeper.to_string().parse::<KeeperTicket>(), Ok(keeper.clone()));
            // A keeper ticket is no device ticket, nor the other way round.
            prop_assert!(keeper.to_string().parse::<DeviceTicket>().is_err());
            prop_assert!(device.to_string().parse::<KeeperTicket>().is_err());
            let code = device.short_code(&MemberId(secret));
            prop_assert!(code.len() == 7 && code.as_bytes()[3] == b'-');
        }
    }
}
