//! Changes to one planned gathering: move it, cancel it, or say I cannot come.

use crate::state::{AppState, CommandError};
use circlekeep_engine::schedule::{parse_date, parse_time};
use circlekeep_engine::EngineError;
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
                .transpose()
                .map_err(EngineError::from)?;
            let (date, to) = (
                parse_date(&date).map_err(EngineError::from)?,
                parse_date(&to).map_err(EngineError::from)?,
            );
            Ok(engine.reschedule(id, date, to, time)?)
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
            let date = parse_date(&date).map_err(EngineError::from)?;
            Ok(engine.cancel_gathering(id, date, cancel)?)
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
            let date = parse_date(&date).map_err(EngineError::from)?;
            let me = engine.identity().member_id();
            Ok(engine.set_absent(id, date, me, absent)?)
        })
        .await
}
