//! Sync with the other members: status, invites, joining, network settings,
//! and exchange by file (bundles) where no network reaches them.

use super::qr::Scannable;
use crate::state::{blocking, AppState, CommandError};
use circlekeep_engine::views::ImportReport;
use circlekeep_engine::ErrorCode;
use circlekeep_sync::status::NodeStatus;
use circlekeep_sync::{NodeState, Ticket};
use serde::Serialize;
use std::time::Duration;
use tauri::{AppHandle, State};

/// How long an invite made in the app stays valid.
const INVITE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The node's status, or why this device works offline.
#[derive(Serialize)]
pub struct SyncStatus {
    online: bool,
    /// The node is still starting.
    starting: bool,
    /// Why the node did not start, when offline.
    problem: Option<String>,
    status: NodeStatus,
}

/// Per circle, per member: connected, last seen, entries behind.
#[tauri::command]
pub async fn sync_status(state: State<'_, AppState>) -> Result<SyncStatus, CommandError> {
    let session = state.session()?;
    let offline = || circlekeep_sync::status::offline(session.engine.as_ref());
    Ok(match session.node.state() {
        NodeState::Running(node, _) => SyncStatus {
            online: true,
            starting: false,
            problem: None,
            status: node.status(),
        },
        NodeState::Starting => SyncStatus {
            online: false,
            starting: true,
            problem: None,
            status: offline(),
        },
        NodeState::Offline(problem) => SyncStatus {
            online: false,
            starting: false,
            problem: Some(problem),
            status: offline(),
        },
    })
}

/// Diagnostic info to copy into a bug report: version, system, counts and
/// sync state, never content, names, ids or keys.
#[tauri::command]
pub async fn diagnostics(state: State<'_, AppState>) -> Result<String, CommandError> {
    let session = state.session()?;
    let status = match session.node.state() {
        NodeState::Running(node, _) => Some(node.status()),
        _ => None,
    };
    Ok(session.engine.diagnostics(status.as_ref())?.to_string())
}

/// A one-time invite ticket to a circle, valid for a week.
#[tauri::command]
pub async fn invite(state: State<'_, AppState>, circle: String) -> Result<Scannable, CommandError> {
    let node = state.node().await?;
    let (id, secret, expires_at) = state
        .in_circle(circle, |engine, id| {
            let (secret, expires_at) = engine.create_invite(id, INVITE_TTL)?;
            Ok((id, secret, expires_at))
        })
        .await?;
    let ticket = node.ticket(id, secret, expires_at);
    Scannable::new(ticket.to_string(), ticket.link(), expires_at)
}

/// The `circlekeep://` link the app was started with (an invite or a
/// device link clicked in another program), handed to the UI once.
#[tauri::command]
pub fn opened_link(state: State<'_, AppState>) -> Option<String> {
    state.take_opened_link()
}

/// Joins a circle with a ticket; returns the circle id once added.
#[tauri::command]
pub async fn join(state: State<'_, AppState>, ticket: String) -> Result<String, CommandError> {
    let ticket: Ticket = ticket
        .trim()
        .parse()
        .map_err(|e: circlekeep_sync::TicketError| {
            CommandError::new(ErrorCode::BadTicket, &e.to_string())
        })?;
    let engine = state.engine()?;
    let node = state.node().await?;
    let card = engine.member_card()?.as_line().to_owned();
    let circle = node
        .join(&ticket, &card)
        .await
        .map_err(|e| CommandError::new(e.code(), &e.to_string()))?;
    Ok(circle.to_hex())
}

/// How this device reaches the others: in use now, and saved.
#[derive(Serialize)]
pub struct Network {
    /// The relay setting in use (`default`, `disabled` or a URL).
    relay: String,
    local_discovery: bool,
    /// What the device's settings say.
    saved_relay: String,
    saved_local_discovery: bool,
    /// The app's command line sets the relay or local discovery, so saved
    /// settings apply only when it is started without those options.
    overridden: bool,
    /// Why the sync node is not running, when it is not.
    problem: Option<String>,
}

fn network(state: &AppState) -> Result<Network, CommandError> {
    let session = state.session()?;
    let saved = session
        .engine
        .node_config(&circlekeep_engine::NetChoice::default())?;
    let (now, problem) = match session.node.state() {
        NodeState::Running(_, config) => (config, None),
        NodeState::Starting => (session.engine.node_config(&state.net)?, None),
        NodeState::Offline(why) => (session.engine.node_config(&state.net)?, Some(why)),
    };
    Ok(Network {
        relay: now.relay.to_string(),
        local_discovery: now.local_discovery,
        saved_relay: saved.relay.to_string(),
        saved_local_discovery: saved.local_discovery,
        overridden: state.net.relay.is_some() || state.net.local_discovery.is_some(),
        problem,
    })
}

/// The relay and local-discovery settings, in use and saved.
#[tauri::command]
pub async fn network_settings(state: State<'_, AppState>) -> Result<Network, CommandError> {
    network(&state)
}

/// Saves the relay (`default`, `disabled` or an iroh-relay URL) and
/// local-discovery settings, and restarts the sync node with them unless
/// the command line decides them.
#[tauri::command]
pub async fn set_network(
    state: State<'_, AppState>,
    relay: String,
    local_discovery: bool,
) -> Result<Network, CommandError> {
    let engine = state.engine()?;
    blocking(move || Ok(engine.set_network(Some(&relay), Some(local_discovery))?)).await?;
    crate::session::apply_network(&state).await?;
    network(&state)
}

/// Saves a sync file (bundle) of `circle`: everything this device holds, or
/// only what `member` (id or name) is not known to hold. Returns where
/// (nothing if cancelled).
#[tauri::command]
pub async fn export_bundle(
    app: AppHandle,
    state: State<'_, AppState>,
    circle: String,
    member: Option<String>,
) -> Result<Option<String>, CommandError> {
    let (name, bytes) = state
        .in_circle(circle, move |engine, id| {
            let member = member
                .filter(|m| !m.is_empty())
                .map(|m| engine.find_member(id, &m))
                .transpose()?;
            let bytes = engine.export_bundle(id, member)?;
            Ok((
                format!(
                    "{} sync {}",
                    engine.circle(id)?.name,
                    circlekeep_engine::today()
                ),
                bytes,
            ))
        })
        .await?;
    crate::commands::exports::save(&app, &state, &name, ("Circlekeep sync file", "ckb"), bytes)
        .await
}

/// Imports a sync file (`bundle`, base64): every record checked, the new
/// ones kept, forged or altered ones refused and reported.
#[tauri::command]
pub async fn import_bundle(
    state: State<'_, AppState>,
    bundle: String,
) -> Result<ImportReport, CommandError> {
    let bytes = crate::commands::identity::picked(&bundle, "sync file")?;
    let engine = state.engine()?;
    blocking(move || Ok(engine.import_bundle(&bytes)?)).await
}
