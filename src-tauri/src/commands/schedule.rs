//! Changes to one planned gathering: move it, cancel it, or say I cannot come.

use crate::state::{AppState, CommandError};
use circlekeep_engine::schedule::{parse_date, parse_time};
use tauri::State;

/// Moves the gathering planned for `date` to `to` (and `time`, HH:MM, if given).
#[tauri::command]
pub async fn reschedule(
    state: State<'_, AppState>,
    circle: String,
    date: String,
    to: String,
    time: Option<String>,
) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let time = time
                .filter(|t| !t.trim().is_empty())
                .map(|t| parse_time(&t))
                .transpose()?;
            Ok(engine.reschedule(id, parse_date(&date)?, parse_date(&to)?, time)?)
        })
        .await
}

/// Cancels the gathering planned for `date` (or, with `cancel` false, restores it).
#[tauri::command]
pub async fn cancel_gathering(
    state: State<'_, AppState>,
    circle: String,
    date: String,
    cancel: bool,
) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            Ok(engine.cancel_gathering(id, parse_date(&date)?, cancel)?)
        })
        .await
}

/// Says this member will not come to the gathering planned for `date` (or, with
/// `absent` false, will after all); the rota skips absentees.
#[tauri::command]
pub async fn set_absent(
    state: State<'_, AppState>,
    circle: String,
    date: String,
    absent: bool,
) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let me = engine.identity().member_id();
            Ok(engine.set_absent(id, parse_date(&date)?, me, absent)?)
        })
        .await
}
