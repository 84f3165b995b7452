//! A member's devices from the command line: `device add` (a one-time
//! ticket on an existing device), `device join` (a new device joins as that
//! member), `device list` and `device remove`.

use crate::output::Output;
use crate::{passphrase, Failure, NetArgs};
use circlekeep_engine::devices::DeviceRequest;
use circlekeep_engine::{Engine, Home};
use circlekeep_sync::{DeviceTicket, Node};
use clap::Subcommand;
use std::sync::Arc;
use std::time::Duration;

#[derive(Subcommand)]
pub(crate) enum DeviceCommand {
    /// On one of your devices: print a one-time ticket that links a new
    /// device to you (runs on `serve` if one runs, else waits here for the
    /// new device until the ticket expires).
    Add {
        /// How long the ticket works, e.g. `10m`.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        expires: Duration,
        #[command(flatten)]
        net: NetArgs,
    },
    /// On a new device (a data folder with no identity yet): create its keys
    /// under a passphrase and join as the member who made TICKET.
    Join {
        /// The ticket (`circlekeep-device1:…`) or its link (`circlekeep://device1/…`).
        ticket: String,
        /// What to call this device's owner until the circles arrive
        /// (your display name; default "Me").
        #[arg(long, default_value = "Me")]
        name: String,
        /// scrypt work factor for the key file (tests only; default 18).
        #[arg(long, hide = true, default_value_t = 18)]
        kdf_work_factor: u8,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Your devices, this one marked.
    List,
    /// Retire a device (lost, sold): a new epoch in every circle, sealed to
    /// your other devices; it is refused from then on.
    Remove {
        /// Device id prefix (from `device list`).
        device: String,
    },
}

/// Runs a device command on an unlocked engine (and the serving node, if
/// there is one).
pub(crate) async fn run(
    engine: &Arc<Engine>,
    node: Option<&Node<Engine>>,
    command: DeviceCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match command {
        DeviceCommand::Add { expires, net } => add(engine, node, expires, &net, out).await?,
        DeviceCommand::Join { .. } => {
            anyhow::bail!(
                "this data folder already has an identity: run `device join` in a new one"
            )
        }
        DeviceCommand::List => out.devices(&engine.devices()?),
        DeviceCommand::Remove { device } => {
            let device = engine.find_device(&device)?;
            let circles = engine.retire_device(device)?;
            out.done(&format!(
                "Retired in {circles} circle(s): what is written from now on is sealed away from it."
            ));
        }
    }
    Ok(())
}

/// Prints a device ticket; without a serving node, waits for the new device.
async fn add(
    engine: &Arc<Engine>,
    node: Option<&Node<Engine>>,
    expires: Duration,
    net: &NetArgs,
    out: &Output,
) -> anyhow::Result<()> {
    let (secret, expires_at) = engine.create_device_ticket(expires)?;
    let member = engine.identity().member_id();
    if let Some(node) = node {
        let ticket = node.device_ticket(member, secret, expires_at);
        out.device_ticket(&ticket, expires_at, true);
        return Ok(());
    }
    let node = crate::network::temporary_node(engine, net).await?;
    let ticket = node.device_ticket(member, secret, expires_at);
    out.device_ticket(&ticket, expires_at, false);
    let deadline = std::time::Instant::now() + expires;
    let device = loop {
        if let Some(device) = engine.device_ticket_user(&secret) {
            break Some(device);
        }
        if std::time::Instant::now() >= deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Let the new device catch up before this node goes.
    if device.is_some() {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    node.shutdown().await;
    let Some(device) = device else {
        anyhow::bail!(Failure {
            code: circlekeep_engine::ErrorCode::InviteExpired,
            message: "no device used the ticket before it expired".into(),
        });
    };
    out.info(&format!(
        "Linked device {} (code {}).",
        device.short(),
        ticket.short_code(&device)
    ));
    Ok(())
}

/// `device join`: a new identity as a device of the ticket's member, linked
/// by the device that made the ticket, then caught up from it.
pub(crate) async fn join(
    home: &Home,
    ticket: &str,
    name: &str,
    kdf_work_factor: u8,
    net: &NetArgs,
    out: &Output,
) -> anyhow::Result<()> {
    let ticket: DeviceTicket = ticket.parse()?;
    let engine = Arc::new(Engine::init_device(
        home,
        ticket.member,
        name,
        &passphrase(true)?,
        kdf_work_factor,
    )?);
    let request: DeviceRequest = engine.device_request();
    let code = ticket.short_code(&request.device);
    out.info(&format!(
        "Linking this device; the other device shows the same code: {code}"
    ));
    let node = crate::network::temporary_node(&engine, net).await?;
    let linked = node.link(&ticket, request.to_bytes()).await;
    node.shutdown().await;
    let linked = linked.map_err(|e| Failure {
        code: e.code(),
        message: e.to_string(),
    })?;
    engine.checkpoint()?;
    out.device_linked(
        &engine.identity().device_id().to_hex(),
        &code,
        linked.circles.len(),
    );
    Ok(())
}
