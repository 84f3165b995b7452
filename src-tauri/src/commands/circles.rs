//! Circles.

use crate::state::{blocking, AppState, CommandError};
use circlekeep_engine::views::CircleSummary;
use tauri::State;

/// Lists this device's circles.
#[tauri::command]
pub async fn circles(state: State<'_, AppState>) -> Result<Vec<CircleSummary>, CommandError> {
    let engine = state.engine()?;
    blocking(move || Ok(engine.circles()?)).await
}
