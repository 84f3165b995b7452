//! The networked verbs: invite, join, status, sync and the network
//! settings. Each runs on the serving node when a `serve` runs the command,
//! or else on a node started for that one command.

use crate::output::Output;
use crate::{ConfigCommand, Failure, NetArgs, OnOff, EXIT_NO_MEMBER_REACHED};
use circlekeep_engine::{Engine, NetChoice};
use circlekeep_sync::{Node, Ticket};
use std::sync::Arc;
use std::time::Duration;

/// How often `join --wait` tries an inviter it cannot reach (as the app does).
const JOIN_RETRY: Duration = Duration::from_secs(10);

/// Prints a ticket for a one-time invite to `circle`.
pub(crate) fn invite(
    engine: &Engine,
    node: Option<&Node<Engine>>,
    circle: &str,
    expires: Duration,
    net: &NetArgs,
    out: &Output,
) -> anyhow::Result<()> {
    let id = engine.find_circle(circle)?;
    let (secret, expires_at) = engine.create_invite(id, expires)?;
    let ticket = match node {
        Some(node) => node.ticket(id, secret, expires_at),
        None => Ticket {
            circle: id,
            inviter: engine.identity().device_id(),
            direct: net.bind.into_iter().collect(),
            relay: None,
            secret,
            expires_at,
        },
    };
    out.ticket(&ticket, &id.to_hex(), expires_at, node.is_some());
    Ok(())
}

/// Joins the circle of `ticket`, waiting up to `wait` for an offline inviter.
pub(crate) async fn join(
    engine: &Arc<Engine>,
    node: Option<&Node<Engine>>,
    ticket: &str,
    net: &NetArgs,
    wait: Option<Duration>,
    out: &Output,
) -> anyhow::Result<()> {
    let ticket: Ticket = ticket.parse()?;
    let card = engine.member_card()?.as_line().to_owned();
    let until = wait.map(|w| std::time::Instant::now() + w);
    let circle = match node {
        Some(node) => join_patiently(node, &ticket, &card, until).await,
        None => {
            let node = temporary_node(engine, net).await?;
            let joined = join_patiently(&node, &ticket, &card, until).await;
            node.shutdown().await;
            joined
        }
    }
    .map_err(|e| Failure {
        code: e.code(),
        message: e.to_string(),
    })?;
    let name = engine.circle(circle).ok().map(|c| c.name);
    out.joined(&circle.to_hex(), name.as_deref());
    Ok(())
}

/// Who is connected (the serving node's view), or what is known offline.
pub(crate) fn status(engine: &Engine, node: Option<&Node<Engine>>, out: &Output) {
    match node {
        Some(node) => out.status(&node.status(), true),
        None => out.status(&circlekeep_sync::status::offline(engine), false),
    }
}

/// Syncs once with every member reachable; exits 4 if none was.
pub(crate) async fn sync(
    engine: &Arc<Engine>,
    node: Option<&Node<Engine>>,
    net: &NetArgs,
    timeout: Duration,
    out: &Output,
) -> anyhow::Result<u8> {
    let report = match node {
        Some(node) => node.sync_once(timeout).await,
        None => {
            let node = temporary_node(engine, net).await?;
            let report = node.sync_once(timeout).await;
            node.shutdown().await;
            report
        }
    };
    out.synced(&report);
    if report.synced.is_empty() && !report.unreachable.is_empty() {
        return Ok(EXIT_NO_MEMBER_REACHED);
    }
    Ok(0)
}

/// Shows or changes the device's network settings.
pub(crate) fn config(engine: &Engine, command: ConfigCommand, out: &Output) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Show => {}
        ConfigCommand::Relay { value } => {
            engine.set_network(Some(&value), None)?;
        }
        ConfigCommand::LocalDiscovery { value } => {
            engine.set_network(None, Some(matches!(value, OnOff::On)))?;
        }
    }
    let config = engine.node_config(&NetChoice::default())?;
    out.settings(&config.relay.to_string(), config.local_discovery);
    Ok(())
}

/// Joins with `ticket`; while the inviter cannot be reached and `until` has
/// not passed, tries again every [`JOIN_RETRY`] (a failed attempt uses
/// nothing up).
async fn join_patiently(
    node: &Node<Engine>,
    ticket: &Ticket,
    card: &str,
    until: Option<std::time::Instant>,
) -> Result<circlekeep_engine::CircleId, circlekeep_sync::JoinError> {
    loop {
        match node.join(ticket, card).await {
            Err(circlekeep_sync::JoinError::Unreachable(why))
                if until.is_some_and(|u| std::time::Instant::now() + JOIN_RETRY < u) =>
            {
                tracing::warn!("cannot reach the inviter yet ({why}); trying again shortly");
                tokio::time::sleep(JOIN_RETRY).await;
            }
            joined => return joined,
        }
    }
}

/// A node for one networked command when no `serve` is running.
pub(crate) async fn temporary_node(
    engine: &Arc<Engine>,
    net: &NetArgs,
) -> anyhow::Result<Node<Engine>> {
    let config = engine.node_config(&net.choice())?;
    let secret = engine.identity().endpoint_secret();
    Ok(Node::spawn(engine.clone(), *secret, config).await?)
}
