//! Gatherings and their notes.

use crate::state::{AppState, CommandError};
use circlekeep_engine::agenda::Template;
use circlekeep_engine::views::GatheringNotes;
use circlekeep_engine::{today, NaiveDate, TextEdit};
use tauri::State;

/// Opens a gathering on `date` (default today) from a template; returns its id.
#[tauri::command]
pub async fn open_gathering(
    state: State<'_, AppState>,
    circle: String,
    date: Option<String>,
    template: Option<String>,
) -> Result<String, CommandError> {
    let date = match date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| CommandError::new("bad_date", "a date looks like 2026-11-23"))?,
        None => today(),
    };
    let template = match template.as_deref() {
        Some(name) => Template::parse(name)
            .ok_or_else(|| CommandError::new("bad_template", "no such gathering template"))?,
        None => Template::Biweekly,
    };
    state
        .in_circle(circle, move |engine, id| {
            Ok(engine.open_gathering(id, date, template)?.to_hex())
        })
        .await
}

/// The notes of one gathering.
#[tauri::command]
pub async fn notes(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
) -> Result<GatheringNotes, CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let gathering = engine.find_gathering(id, &gathering)?;
            engine
                .notes(id, Some(gathering))?
                .into_iter()
                .next()
                .ok_or_else(|| CommandError::new("unknown_gathering", "no such gathering"))
        })
        .await
}

/// Adds a note; returns its id once it is on disk.
#[tauri::command]
pub async fn add_note(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
    text: String,
) -> Result<String, CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let gathering = engine.find_gathering(id, &gathering)?;
            Ok(engine.add_note(id, gathering, &text)?)
        })
        .await
}

/// Types into a note (UTF-16 positions, as the text box counts them) as
/// the box showed it at `version`; returns, once the edit is on disk, the
/// version the box shows next.
#[tauri::command]
pub async fn edit_note(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
    note: String,
    edits: Vec<TextEdit>,
    version: Vec<String>,
) -> Result<Vec<String>, CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let gathering = engine.find_gathering(id, &gathering)?;
            Ok(engine.edit_note_at(id, gathering, &note, &edits, &version)?)
        })
        .await
}
