//! Changes to one planned gathering: move it, cancel it, say I cannot come,
//! or swap a role with another gathering; and the reminders that are due.

use crate::state::{blocking, AppState, CommandError};
use circlekeep_engine::rota::Role;
use circlekeep_engine::schedule::parse_time;
use circlekeep_engine::views::ReminderView;
use circlekeep_engine::{parse_date, Move};
use tauri::State;

/// Moves the gathering planned for `date` to `to` (and `time`, HH:MM, and
/// `place`, if given; an empty place goes back to the circle's).
#[tauri::command]
pub async fn reschedule(
    state: State<'_, AppState>,
    circle: String,
    date: String,
    to: String,
    time: Option<String>,
    place: Option<String>,
) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let time = time
                .filter(|t| !t.trim().is_empty())
                .map(|t| parse_time(&t))
                .transpose()?;
            let to = Move {
                date: parse_date(&to)?,
                time,
                place,
            };
            Ok(engine.reschedule(id, parse_date(&date)?, &to)?)
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

/// Says `member` (id or name; this member if none) will not come to the
/// gathering planned for `date` (or, with `absent` false, will after all);
/// the rota skips absentees.
#[tauri::command]
pub async fn set_absent(
    state: State<'_, AppState>,
    circle: String,
    date: String,
    absent: bool,
    member: Option<String>,
) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let who = match member {
                Some(m) => engine.find_member(id, &m)?,
                None => engine.identity().member_id(),
            };
            Ok(engine.set_absent(id, parse_date(&date)?, who, absent)?)
        })
        .await
}

/// Swaps who holds `role` (facilitator, timekeeper or host) at the gatherings
/// planned for `date` and `other`.
#[tauri::command]
pub async fn swap_role(
    state: State<'_, AppState>,
    circle: String,
    role: String,
    date: String,
    other: String,
) -> Result<(), CommandError> {
    let role: Role = role.parse()?;
    state
        .in_circle(circle, move |engine, id| {
            Ok(engine.swap_role(id, role, parse_date(&date)?, parse_date(&other)?)?)
        })
        .await
}

/// Gatherings of any circle starting within `hours`, and nudges for circles
/// that stopped meeting.
#[tauri::command]
pub async fn reminders(
    state: State<'_, AppState>,
    hours: u32,
) -> Result<Vec<ReminderView>, CommandError> {
    let engine = state.engine()?;
    let within = chrono::Duration::hours(i64::from(hours.min(24 * 14)));
    blocking(move || Ok(engine.reminders(chrono::Utc::now(), within)?)).await
}
