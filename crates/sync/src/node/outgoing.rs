//! What a device says on the invite protocol before it dials a peer for
//! sync: links of its own the peer has not seen, and the circles it asks a
//! keeper to keep; each so that the sync connection after it is let in.

use super::{lock, Inner, CLOSE_DONE, CONNECT_TIMEOUT};
use crate::invite::{self, JoinError};
use crate::wire::INVITE_ALPN;
use crate::Replica;
use circlekeep_model::MemberId;
use iroh::endpoint::VarInt;
use iroh::EndpointAddr;
use std::sync::Arc;

/// Presents this device's links that no member has seen yet to `member`
/// (for the circles it knows `member` in), one invite connection each, so
/// that the sync connection after it is let in.
pub(super) async fn present_links<R: Replica>(
    inner: &Arc<Inner<R>>,
    member: MemberId,
    addr: &EndpointAddr,
) {
    let replica = inner.replica.clone();
    let pending = tokio::task::spawn_blocking(move || {
        let links = replica.links_to_present();
        links
            .into_iter()
            .filter(|(circle, _)| replica.is_member(circle, &member))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    for (circle, ops) in pending {
        let connect = inner.endpoint.connect(addr.clone(), INVITE_ALPN);
        let Ok(Ok(connection)) = tokio::time::timeout(CONNECT_TIMEOUT, connect).await else {
            return;
        };
        let answer = match connection.open_bi().await {
            Ok((mut send, mut recv)) => invite::present(&mut send, &mut recv, circle, ops).await,
            Err(e) => Err(JoinError::Unreachable(e.to_string())),
        };
        connection.close(VarInt::from_u32(CLOSE_DONE), b"thanks");
        match answer {
            Ok(true) => {
                tracing::info!(peer = %member.short(), circle = %circle.short(), "presented this device's link");
                let replica = inner.replica.clone();
                let _ = tokio::task::spawn_blocking(move || replica.presented(&circle)).await;
            }
            Ok(false) => {
                tracing::info!(peer = %member.short(), "a member did not take this device's link")
            }
            Err(e) => {
                tracing::debug!(peer = %member.short(), "cannot present this device's link: {e}")
            }
        }
    }
}

/// Asks `member`, if it keeps circles of this device's, to keep them
/// (once per run, and again after it refused this device), one invite
/// connection each, so that the sync connection after it is let in.
pub(super) async fn enrol<R: Replica>(
    inner: &Arc<Inner<R>>,
    member: MemberId,
    addr: &EndpointAddr,
) {
    let due = lock(&inner.peers)
        .get(&member)
        .is_none_or(|p| !p.enrolled || p.refused);
    if !due {
        return;
    }
    let replica = inner.replica.clone();
    let circles = tokio::task::spawn_blocking(move || replica.keepers())
        .await
        .unwrap_or_default();
    let mut all = true;
    for (circle, ticket) in circles.iter().filter(|(_, t)| t.keeper == member) {
        let connect = inner.endpoint.connect(addr.clone(), INVITE_ALPN);
        let Ok(Ok(connection)) = tokio::time::timeout(CONNECT_TIMEOUT, connect).await else {
            return;
        };
        let answer = match connection.open_bi().await {
            Ok((mut send, mut recv)) => invite::keep(&mut send, &mut recv, ticket, *circle).await,
            Err(e) => Err(JoinError::Unreachable(e.to_string())),
        };
        connection.close(VarInt::from_u32(CLOSE_DONE), b"thanks");
        all &= matches!(answer, Ok(true));
        match answer {
            Ok(admitted) => {
                tracing::info!(keeper = %member.short(), circle = %circle.short(), admitted, "asked a keeper to keep a circle")
            }
            Err(e) => {
                tracing::info!(keeper = %member.short(), circle = %circle.short(), "a keeper did not take a circle: {e}")
            }
        }
    }
    inner.peer(&member, |p| p.enrolled = all);
}
