//! Incoming connections: who gets past the handshake (members only, on the
//! sync protocol), and what the sync and invite protocols run for them.

use super::{finish, member_of, Inner, CLOSE_BUSY, CLOSE_ERROR, REJECT_STRANGER};
use crate::invite::{self, InviteRefusal, JoinError};
use crate::session::{self, Mode};
use crate::wire::INVITE_ALPN;
use crate::Replica;
use iroh::endpoint::{
    AfterHandshakeOutcome, Connection, ConnectionError, EndpointHooks, Side, VarInt,
};
use iroh::protocol::{AcceptError, ProtocolHandler};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Refuses incoming sync connections from endpoints that are not current
/// members of a circle this device is in (or of one it left, until they
/// know). Outgoing connections (we chose whom to dial) and the invite
/// protocol (its secret is checked inside) pass.
impl<R> std::fmt::Debug for MembersOnly<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MembersOnly")
    }
}

pub(super) struct MembersOnly<R> {
    pub(super) replica: Arc<R>,
}

impl<R: Replica> EndpointHooks for MembersOnly<R> {
    async fn after_handshake<'a>(&'a self, conn: &'a Connection) -> AfterHandshakeOutcome {
        if conn.side() == Side::Client || conn.alpn() == INVITE_ALPN {
            return AfterHandshakeOutcome::accept();
        }
        let member = member_of(&conn.remote_id());
        let replica = self.replica.clone();
        let allowed = tokio::task::spawn_blocking(move || {
            replica.peers().contains(&member) || replica.farewells().contains(&member)
        })
        .await
        .unwrap_or(false);
        if allowed {
            AfterHandshakeOutcome::accept()
        } else {
            tracing::info!(peer = %member.short(), "refused an endpoint that is not a member");
            AfterHandshakeOutcome::Reject {
                error_code: VarInt::from_u32(REJECT_STRANGER),
                reason: b"not a member".to_vec(),
            }
        }
    }
}

/// Incoming sync connections.
impl<R> std::fmt::Debug for SyncProtocol<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncProtocol")
    }
}

pub(super) struct SyncProtocol<R> {
    pub(super) inner: Arc<Inner<R>>,
}

impl<R: Replica> ProtocolHandler for SyncProtocol<R> {
    async fn accept(&self, connection: Connection) -> Result<(), AcceptError> {
        let member = member_of(&connection.remote_id());
        let (send, recv) = connection.accept_bi().await?;
        self.inner.session_started(&member, false);
        tracing::info!(peer = %member.short(), "member connected");
        let outcome = session::run(
            self.inner.replica.clone(),
            self.inner.clone(),
            member,
            (send, recv),
            Mode::Live,
            false,
        )
        .await;
        finish(&connection, &member, outcome);
        Ok(())
    }
}

/// Incoming invite redemptions.
impl<R> std::fmt::Debug for InviteProtocol<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InviteProtocol")
    }
}

pub(super) struct InviteProtocol<R> {
    pub(super) inner: Arc<Inner<R>>,
    pub(super) slots: Arc<Semaphore>,
}

impl<R: Replica> ProtocolHandler for InviteProtocol<R> {
    async fn accept(&self, connection: Connection) -> Result<(), AcceptError> {
        let newcomer = member_of(&connection.remote_id());
        let Ok(_slot) = self.slots.clone().try_acquire_owned() else {
            tracing::info!(peer = %newcomer.short(), "refused an invite connection: too many at once");
            connection.close(VarInt::from_u32(CLOSE_BUSY), b"busy");
            return Ok(());
        };
        let (mut send, mut recv) = connection.accept_bi().await?;
        let outcome = match invite::read_request(&mut recv).await {
            Ok(request) => {
                let replica = self.inner.replica.clone();
                tokio::task::spawn_blocking(move || match request {
                    invite::Request::Join(join) => replica
                        .redeem_invite(&join.circle, &join.secret, &join.card, &newcomer)
                        .map(invite::Outcome::Joined),
                    invite::Request::Link { secret, request } => replica
                        .redeem_device_ticket(&secret, &request, &newcomer)
                        .map(invite::Outcome::Linked),
                    invite::Request::Present { circle, ops } => replica
                        .present_link(&circle, &ops, &newcomer)
                        .map(invite::Outcome::Presented),
                    invite::Request::Keep { circle, secret } => replica
                        .keep_circle(&circle, &secret, &newcomer)
                        .map(invite::Outcome::Kept),
                })
                .await
                .unwrap_or_else(|e| Err(InviteRefusal::Failed(e.to_string())))
            }
            Err(e) => {
                tracing::info!(peer = %newcomer.short(), "bad invite request: {e}");
                connection.close(VarInt::from_u32(CLOSE_ERROR), b"bad request");
                return Ok(());
            }
        };
        match &outcome {
            Ok(invite::Outcome::Joined(circle)) => {
                tracing::info!(peer = %newcomer.short(), circle = %circle.short(), "newcomer joined by invite");
                self.inner.wake.notify_one();
            }
            Ok(invite::Outcome::Presented(admitted)) => {
                tracing::info!(device = %newcomer.short(), admitted, "a device presented its link");
                if *admitted {
                    self.inner.wake.notify_one();
                }
            }
            Ok(invite::Outcome::Kept(admitted)) => {
                tracing::info!(device = %newcomer.short(), admitted, "a device asked this keeper to keep a circle");
            }
            Ok(invite::Outcome::Linked(linked)) => {
                tracing::info!(device = %newcomer.short(), circles = linked.circles.len(), "linked a new device of this member");
                self.inner.wake.notify_one();
            }
            Err(refusal) => {
                tracing::info!(peer = %newcomer.short(), "refused an invite: {refusal}")
            }
        }
        if invite::answer(&mut send, &outcome).await.is_ok() {
            let _ = send.finish();
            // Give the newcomer the time to read the answer before closing.
            let _ = tokio::time::timeout(invite::INVITE_TIMEOUT, connection.closed()).await;
        }
        Ok(())
    }
}

/// Says so when an exchange broke off because the other device was
/// serving as many invite connections as it takes.
pub(super) fn when_busy<T>(
    connection: &Connection,
    outcome: Result<T, JoinError>,
) -> Result<T, JoinError> {
    match (&outcome, connection.close_reason()) {
        (Err(JoinError::Protocol(_)), Some(ConnectionError::ApplicationClosed(close)))
            if close.error_code == VarInt::from_u32(CLOSE_BUSY) =>
        {
            Err(JoinError::Unreachable(
                "the other device is busy with other invites; try again in a minute".into(),
            ))
        }
        _ => outcome,
    }
}
