//! This member's devices: a one-time ticket (and its QR code) for linking a
//! new one, the code both screens show once it linked, the list, and
//! retiring a lost one.

use super::qr::Scannable;
use crate::state::{blocking, AppState, CommandError};
use circlekeep_engine::views::DeviceView;
use circlekeep_engine::ErrorCode;
use circlekeep_engine::{Engine, SecretString};
use circlekeep_sync::DeviceTicket;
use serde::Serialize;
use std::time::Duration;
use tauri::{AppHandle, State};

/// How long a device ticket made in the app works.
const DEVICE_TICKET_TTL: Duration = Duration::from_secs(15 * 60);

/// A ticket for linking a new device of this member.
#[tauri::command]
pub async fn add_device(state: State<'_, AppState>) -> Result<Scannable, CommandError> {
    let node = state.node().await?;
    let engine = state.engine()?;
    let (secret, expires_at) = blocking({
        let engine = engine.clone();
        move || Ok(engine.create_device_ticket(DEVICE_TICKET_TTL)?)
    })
    .await?;
    let ticket = node.device_ticket(engine.identity().member_id(), secret, expires_at);
    Scannable::new(ticket.to_string(), ticket.link(), expires_at)
}

/// The device a ticket linked, and the code both screens show.
#[derive(Serialize)]
pub struct Linked {
    device: String,
    code: String,
}

/// Whether the ticket has linked a device yet.
#[tauri::command]
pub async fn device_linked(
    state: State<'_, AppState>,
    ticket: String,
) -> Result<Option<Linked>, CommandError> {
    let ticket: DeviceTicket = ticket.parse().map_err(|e: circlekeep_sync::TicketError| {
        CommandError::new(ErrorCode::BadTicket, &e.to_string())
    })?;
    let engine = state.engine()?;
    Ok(engine
        .device_ticket_user(&ticket.secret)
        .map(|device| Linked {
            code: ticket.short_code(&device),
            device: device.to_hex(),
        }))
}

/// This member's devices.
#[tauri::command]
pub async fn devices(state: State<'_, AppState>) -> Result<Vec<DeviceView>, CommandError> {
    let engine = state.engine()?;
    blocking(move || Ok(engine.devices()?)).await
}

/// Retires one of this member's other devices in every circle.
#[tauri::command]
pub async fn retire_device(
    state: State<'_, AppState>,
    device: String,
) -> Result<usize, CommandError> {
    let engine = state.engine()?;
    blocking(move || {
        let device = engine.find_device(&device)?;
        Ok(engine.retire_device(device)?)
    })
    .await
}

/// What linking this computer did.
#[derive(Serialize)]
pub struct Joined {
    /// The code the other device shows too.
    code: String,
    /// How many circles it was linked into.
    circles: usize,
}

/// On a computer with no identity yet: creates its keys under `passphrase`
/// as a device of the ticket's member, unlocks, and is linked by the
/// device that made the ticket (then catches up from it).
#[tauri::command]
pub async fn join_as_device(
    app: AppHandle,
    state: State<'_, AppState>,
    ticket: String,
    name: String,
    passphrase: String,
) -> Result<Joined, CommandError> {
    let ticket: DeviceTicket = ticket.parse().map_err(|e: circlekeep_sync::TicketError| {
        CommandError::new(ErrorCode::BadTicket, &e.to_string())
    })?;
    // A link that failed (the other device was unreachable, say) is tried
    // again with the keys made the first time.
    let retry = state.engine().ok().filter(|e| {
        let me = e.identity();
        me.member_id() == ticket.member && me.device_id() != me.member_id()
    });
    let request = match retry {
        Some(engine) => engine.device_request(),
        None => {
            let home = state.home.clone();
            let pass = SecretString::from(passphrase);
            let member = ticket.member;
            let engine = blocking(move || {
                Ok(Engine::init_device(
                    &home,
                    member,
                    &name,
                    &pass,
                    crate::commands::identity::WORK_FACTOR,
                )?)
            })
            .await?;
            let request = engine.device_request();
            crate::session::start(&app, engine);
            request
        }
    };
    let code = ticket.short_code(&request.device);
    let node = state.node().await?;
    let linked = node
        .link(&ticket, request.to_bytes())
        .await
        .map_err(|e| CommandError::new(e.code(), &e.to_string()))?;
    Ok(Joined {
        code,
        circles: linked.circles.len(),
    })
}
