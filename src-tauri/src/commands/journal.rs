//! The private journal: sealed to this member alone and never synced.

use crate::state::{blocking, AppState, CommandError};
use circlekeep_engine::views::JournalEntryView;
use tauri::State;

/// My journal entries, oldest first (those about `circle` only, if given).
#[tauri::command]
pub async fn journal(
    state: State<'_, AppState>,
    circle: Option<String>,
) -> Result<Vec<JournalEntryView>, CommandError> {
    let engine = state.engine()?;
    blocking(move || {
        let about = circle
            .map(|c| engine.find_circle(&c).map(|id| id.to_hex()))
            .transpose()?;
        Ok(engine
            .journal()?
            .into_iter()
            .filter(|e| about.is_none() || e.circle == about)
            .collect())
    })
    .await
}

/// Writes a journal entry (about `circle`, if given); returns its id once saved.
#[tauri::command]
pub async fn journal_add(
    state: State<'_, AppState>,
    text: String,
    circle: Option<String>,
) -> Result<String, CommandError> {
    let engine = state.engine()?;
    blocking(move || {
        let circle = circle.map(|c| engine.find_circle(&c)).transpose()?;
        Ok(engine.journal_add(&text, circle)?)
    })
    .await
}
