//! Identity: create, unlock, show the member card.

use crate::state::{blocking, AppState, CommandError};
use circlekeep_engine::{Engine, SecretString};
use serde::Serialize;
use tauri::{AppHandle, State};

/// scrypt work factor for key files made by the app.
const WORK_FACTOR: u8 = 18;

/// Whether an identity exists and is unlocked, and where data lives.
#[derive(Serialize)]
pub struct Status {
    initialized: bool,
    unlocked: bool,
    home: String,
}

/// Reports the app's state.
#[tauri::command]
pub async fn status(state: State<'_, AppState>) -> Result<Status, CommandError> {
    Ok(Status {
        initialized: state.home.is_initialized(),
        unlocked: state.is_unlocked(),
        home: state.home.root().display().to_string(),
    })
}

/// Creates this device's identity and unlocks it.
#[tauri::command]
pub async fn init(
    app: AppHandle,
    state: State<'_, AppState>,
    name: String,
    passphrase: String,
) -> Result<(), CommandError> {
    let home = state.home.clone();
    let pass = SecretString::from(passphrase);
    let engine = blocking(move || Ok(Engine::init(&home, &name, &pass, WORK_FACTOR)?)).await?;
    crate::session::start(&app, engine);
    Ok(())
}

/// Opens the identity with a passphrase.
#[tauri::command]
pub async fn unlock(
    app: AppHandle,
    state: State<'_, AppState>,
    passphrase: String,
) -> Result<(), CommandError> {
    if state.is_unlocked() {
        return Ok(());
    }
    let home = state.home.clone();
    let pass = SecretString::from(passphrase);
    let engine = blocking(move || Ok(Engine::open(&home, &pass)?)).await?;
    crate::session::start(&app, engine);
    Ok(())
}

/// This device's member card and fingerprint.
#[derive(Serialize)]
pub struct Card {
    card: String,
    fingerprint: String,
}

/// Shows the member card.
#[tauri::command]
pub async fn member_card(state: State<'_, AppState>) -> Result<Card, CommandError> {
    let card = state.engine()?.member_card();
    Ok(Card {
        card: card.as_line().to_owned(),
        fingerprint: card.fingerprint(),
    })
}
