//! Looking back: search a circle, answer a gathering's pulse, and the
//! retrospective (shown, or saved as Markdown).

use crate::commands::exports::save;
use crate::state::{AppState, CommandError};
use circlekeep_engine::search::SearchQuery;
use circlekeep_engine::views::{PulseAnswers, PulseView, RetroView, SearchHit};
use circlekeep_engine::{parse_date, NaiveDate};
use tauri::{AppHandle, State};

/// A typed day, or none when the field was left empty.
fn day(text: Option<String>) -> Result<Option<NaiveDate>, CommandError> {
    Ok(text
        .filter(|t| !t.trim().is_empty())
        .map(|t| parse_date(&t))
        .transpose()?)
}

/// What in the circle contains every word of `text`; `member` and `turnOf`
/// are member ids, `from` and `to` days (YYYY-MM-DD), each optional.
#[tauri::command]
pub async fn search(
    state: State<'_, AppState>,
    circle: String,
    text: String,
    member: Option<String>,
    turn_of: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Result<Vec<SearchHit>, CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let query = SearchQuery {
                text,
                member: member.filter(|m| !m.is_empty()),
                turn_of: turn_of.filter(|m| !m.is_empty()),
                from: day(from)?,
                to: day(to)?,
            };
            Ok(engine.search(id, &query)?)
        })
        .await
}

/// The pulse of a gathering as the circle sees it.
#[tauri::command]
pub async fn pulse(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
) -> Result<PulseView, CommandError> {
    state
        .in_gathering(circle, gathering, move |engine, id, g| {
            Ok(engine.pulse(id, g)?)
        })
        .await
}

/// Records this member's answers to a gathering's pulse.
#[tauri::command]
pub async fn answer_pulse(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
    answers: PulseAnswers,
) -> Result<PulseView, CommandError> {
    state
        .in_gathering(circle, gathering, move |engine, id, g| {
            Ok(engine.answer_pulse(id, g, answers)?)
        })
        .await
}

/// The retrospective from `from` to `to` (either may be empty).
#[tauri::command]
pub async fn retrospective(
    state: State<'_, AppState>,
    circle: String,
    from: Option<String>,
    to: Option<String>,
) -> Result<RetroView, CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            Ok(engine.retrospective(id, day(from)?, day(to)?)?)
        })
        .await
}

/// Saves the retrospective as Markdown; returns where (nothing if cancelled).
#[tauri::command]
pub async fn export_retro(
    app: AppHandle,
    state: State<'_, AppState>,
    circle: String,
    from: Option<String>,
    to: Option<String>,
) -> Result<Option<String>, CommandError> {
    let (name, markdown) = state
        .in_circle(circle, move |engine, id| {
            let name = format!("{} retrospective", engine.circle(id)?.name);
            Ok((name, engine.retro_markdown(id, day(from)?, day(to)?)?))
        })
        .await?;
    save(
        &app,
        &state,
        &name,
        ("Markdown", "md"),
        markdown.into_bytes(),
    )
    .await
}
