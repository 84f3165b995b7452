//! Identity: create, unlock, show the member card, restore from a backup.

use crate::keychain;
use crate::state::{blocking, AppState, CommandError};
use circlekeep_engine::ErrorCode;
use circlekeep_engine::{Engine, RestoreReport, SecretString};
use serde::Serialize;
use tauri::{AppHandle, State};

/// scrypt work factor for key files made by the app.
pub(crate) const WORK_FACTOR: u8 = 18;

/// Whether an identity exists and is unlocked, whether the keychain keeps
/// its passphrase, and where data lives.
#[derive(Serialize)]
pub struct Status {
    initialized: bool,
    unlocked: bool,
    kept: bool,
    home: String,
}

/// Reports the app's state.
#[tauri::command]
pub async fn status(state: State<'_, AppState>) -> Result<Status, CommandError> {
    let root = state.home.root().to_owned();
    let kept = state.home.is_initialized()
        && blocking(move || Ok(keychain::recall(&root).is_some())).await?;
    Ok(Status {
        initialized: state.home.is_initialized(),
        unlocked: state.is_unlocked(),
        kept,
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

/// Seals the key file again under a new passphrase, once the current one
/// opens it (copies saved earlier keep the old one).
#[tauri::command]
pub async fn change_passphrase(
    state: State<'_, AppState>,
    current: String,
    new: String,
) -> Result<(), CommandError> {
    let home = state.home.clone();
    let (current, new) = (SecretString::from(current), SecretString::from(new));
    blocking(move || {
        home.change_passphrase(&current, &new, WORK_FACTOR)?;
        // The keychain keeps the passphrase that opens the file now.
        if keychain::recall(home.root()).is_some() {
            keychain::remember(home.root(), &new).map_err(keychain_error)?;
        }
        Ok(())
    })
    .await
}

/// Opens the identity with a passphrase, and keeps the passphrase in the
/// system's keychain if `remember`; returns whether it is kept there.
#[tauri::command]
pub async fn unlock(
    app: AppHandle,
    state: State<'_, AppState>,
    passphrase: String,
    remember: Option<bool>,
) -> Result<bool, CommandError> {
    if state.is_unlocked() {
        return Ok(false);
    }
    let home = state.home.clone();
    let pass = SecretString::from(passphrase);
    let (engine, kept) = blocking(move || {
        let engine = Engine::open(&home, &pass)?;
        let kept = remember == Some(true);
        if kept {
            keychain::remember(home.root(), &pass).map_err(keychain_error)?;
        }
        Ok((engine, kept))
    })
    .await?;
    crate::session::start(&app, engine);
    Ok(kept)
}

/// Opens the identity with the passphrase the keychain keeps; one that no
/// longer opens it (changed on another computer) is forgotten.
#[tauri::command]
pub async fn unlock_kept(app: AppHandle, state: State<'_, AppState>) -> Result<(), CommandError> {
    if state.is_unlocked() {
        return Ok(());
    }
    let home = state.home.clone();
    let engine = blocking(move || {
        let pass = keychain::recall(home.root()).ok_or_else(|| {
            CommandError::new(ErrorCode::Locked, "no passphrase is kept here: type it")
        })?;
        Engine::open(&home, &pass).map_err(|e| {
            if matches!(e.code(), ErrorCode::WrongPassphrase) {
                let _ = keychain::forget(home.root());
            }
            CommandError::from(e)
        })
    })
    .await?;
    crate::session::start(&app, engine);
    Ok(())
}

/// Forgets the passphrase the keychain keeps for this data folder.
#[tauri::command]
pub async fn forget_passphrase(state: State<'_, AppState>) -> Result<(), CommandError> {
    let root = state.home.root().to_owned();
    blocking(move || keychain::forget(&root).map_err(keychain_error)).await
}

/// A keychain that does not answer, said with advice.
fn keychain_error(why: String) -> CommandError {
    CommandError::new(
        ErrorCode::Other,
        &format!(
            "this computer's keychain did not keep it ({why}); the app will ask for the passphrase"
        ),
    )
}

/// Locks the app (on demand, or after the idle time the window keeps):
/// the passphrase is needed again.
#[tauri::command]
pub async fn lock(state: State<'_, AppState>) -> Result<(), CommandError> {
    crate::session::lock(&state).await
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
    // A device linked by an older version has no card (it cannot show
    // that it is its member's): the window says so instead.
    Ok(match state.engine()?.member_card() {
        Ok(card) => Card {
            card: card.as_line().to_owned(),
            fingerprint: card.fingerprint(),
        },
        Err(_) => Card {
            card: String::new(),
            fingerprint: String::new(),
        },
    })
}

/// A file the window read from the member's pick, as base64.
pub(crate) fn picked(base64: &str, what: &str) -> Result<Vec<u8>, CommandError> {
    data_encoding::BASE64
        .decode(base64.trim().as_bytes())
        .map_err(|_| {
            CommandError::new(ErrorCode::BadFile, &format!("the {what} could not be read"))
        })
}

/// Restores a backup (`backup`, base64). On a device with no identity yet
/// it needs the saved key file (`key_file`, base64) and its passphrase, and
/// leaves the app unlocked; otherwise it restores into the unlocked identity.
#[tauri::command]
pub async fn restore(
    app: AppHandle,
    state: State<'_, AppState>,
    passphrase: Option<String>,
    key_file: Option<String>,
    backup: String,
) -> Result<RestoreReport, CommandError> {
    let sealed = picked(&backup, "backup")?;
    if state.home.is_initialized() {
        let engine = state.engine()?;
        return blocking(move || Ok(engine.restore(&sealed)?)).await;
    }
    let key = key_file
        .as_deref()
        .map(|k| picked(k, "key file"))
        .transpose()?
        .ok_or_else(|| CommandError::new(ErrorCode::NoKeyFile, "choose your saved key file"))?;
    let pass = SecretString::from(passphrase.unwrap_or_default());
    let home = state.home.clone();
    let (engine, report) = blocking(move || {
        Ok(Engine::restore_new_device(
            &home,
            &key,
            &pass,
            &sealed,
            WORK_FACTOR,
        )?)
    })
    .await?;
    crate::session::start(&app, engine);
    Ok(report)
}
