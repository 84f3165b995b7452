//! Keepers: `keeper serve` and `keeper ticket` run a keeper from the data
//! folder's `keeper/` subfolder (no member identity, no passphrase: it
//! holds no key to any circle); `circle keeper add|list|remove` enrol one
//! for a circle.

use crate::output::Output;
use crate::NetArgs;
use anyhow::Context;
use circlekeep_engine::{Engine, Home};
use circlekeep_keeper::KeeperHome;
use circlekeep_sync::{Node, NodeConfig, Relay};
use clap::Subcommand;
use std::net::SocketAddr;

/// Run a keeper, or print its ticket.
#[derive(Subcommand)]
pub(crate) enum KeeperCommand {
    /// Run a keeper in the foreground until stopped: it stores and forwards
    /// the sealed records of the circles that enrol it, and reads none of
    /// them. Prints its ticket first.
    Serve {
        #[command(flatten)]
        net: NetArgs,
        /// What one circle may store here, in MiB; past it the keeper
        /// refuses a circle's new entries (members keep syncing among
        /// themselves). Membership operations always get in.
        #[arg(long, default_value_t = 1024)]
        quota_mib: u64,
    },
    /// Print the keeper's ticket (what a member gives `circle keeper add`).
    Ticket {
        /// The address the keeper listens on (default: where its last
        /// `keeper serve` listened).
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
}

/// Keepers of a circle.
#[derive(Subcommand)]
pub(crate) enum CircleKeeperCommand {
    /// Enrol a keeper: every member's device then keeps it up to date.
    Add {
        /// Circle name or id prefix.
        circle: String,
        /// The keeper's ticket (`circlekeep keeper ticket` on the keeper).
        ticket: String,
    },
    /// The circle's keepers, and (while `serve` runs) whether each is
    /// reachable and how far behind it is.
    List {
        /// Circle name or id prefix.
        circle: String,
    },
    /// Stop using a keeper: members' devices no longer send it anything.
    Remove {
        /// Circle name or id prefix.
        circle: String,
        /// The keeper's id prefix (from `circle keeper list`).
        keeper: String,
    },
}

/// Runs a keeper command on the keeper's folder under `home`.
pub(crate) async fn run(home: &Home, command: KeeperCommand, out: &Output) -> anyhow::Result<()> {
    let keeper = KeeperHome::open(&home.root().join("keeper"))?;
    match command {
        KeeperCommand::Ticket { bind: Some(bind) } => out.keeper_ticket(&keeper.ticket_at(bind)),
        KeeperCommand::Ticket { bind: None } => out.keeper_ticket(&keeper.last_ticket()?),
        KeeperCommand::Serve { net, quota_mib } => {
            let quota = quota_mib.saturating_mul(1 << 20);
            let (node, ticket) = keeper.serve(config(&net)?, quota).await?;
            out.keeper_ticket(&ticket);
            tracing::info!(keeper = %ticket.keeper.short(), "keeper serving; stop with Ctrl-C");
            crate::control::stop_asked()?.await;
            tracing::info!("stopping");
            node.shutdown().await;
        }
    }
    Ok(())
}

/// A keeper's network: the flags, else iroh's relays and local discovery.
fn config(net: &NetArgs) -> anyhow::Result<NodeConfig> {
    let relay: Relay = net.relay.as_deref().unwrap_or("default").parse()?;
    Ok(NodeConfig {
        relay,
        local_discovery: net.local_discovery.is_none_or(|o| o.is_on()),
        bind: net.bind,
    })
}

/// Runs a `circle keeper` command.
pub(crate) fn circle(
    engine: &Engine,
    node: Option<&Node<Engine>>,
    command: CircleKeeperCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match command {
        CircleKeeperCommand::Add { circle, ticket } => {
            let added = engine.add_keeper(engine.find_circle(&circle)?, &ticket)?;
            out.id(
                "keeper",
                &added.id,
                &format!(
                    "Enrolled keeper {}: members' devices keep it up to date as they sync.",
                    added.short
                ),
            );
        }
        CircleKeeperCommand::List { circle } => {
            let id = engine.find_circle(&circle)?;
            let status = node
                .map(|n| n.status())
                .and_then(|s| s.circles.into_iter().find(|c| c.circle == id.to_hex()))
                .map(|c| c.keepers)
                .unwrap_or_default();
            out.keepers(&engine.keepers(id)?, &status);
        }
        CircleKeeperCommand::Remove { circle, keeper } => {
            engine
                .remove_keeper(engine.find_circle(&circle)?, &keeper)
                .context("cannot remove the keeper")?;
            out.done("Removed: members' devices no longer send this keeper anything.");
        }
    }
    Ok(())
}
