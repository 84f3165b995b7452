//! Gatherings: opening one, its notes, and running it (agenda, attendance,
//! time requests, turns).

use crate::state::{AppState, CommandError};
use circlekeep_engine::agenda::{StepKind, Template};
use circlekeep_engine::views::{GatheringNotes, GatheringStateView, StepBriefView};
use circlekeep_engine::ErrorCode;
use circlekeep_engine::{date_or_today, TextEdit, Utc};
use tauri::State;

/// Opens a gathering on `date` (default today) from a template; returns its
/// id. A series start reports back on `report_on` (default two weeks on).
#[tauri::command]
pub async fn open_gathering(
    state: State<'_, AppState>,
    circle: String,
    date: Option<String>,
    template: Option<String>,
    report_on: Option<String>,
) -> Result<String, CommandError> {
    let date = date_or_today(date.as_deref())?;
    let template: Template = template
        .as_deref()
        .map(str::parse)
        .transpose()?
        .unwrap_or_default();
    let report_on = report_on
        .filter(|d| !d.is_empty() && template == Template::SeriesStart)
        .map(|d| date_or_today(Some(&d)))
        .transpose()?;
    state
        .in_circle(circle, move |engine, id| match report_on {
            Some(day) => Ok(engine.start_series(id, date, Some(day))?.to_hex()),
            None => Ok(engine.open_gathering(id, date, template)?.to_hex()),
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
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            engine
                .notes(id, Some(gathering))?
                .into_iter()
                .next()
                .ok_or_else(|| CommandError::new(ErrorCode::UnknownGathering, "no such gathering"))
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
        .in_gathering(circle, gathering, move |engine, id, gathering| {
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
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            Ok(engine.edit_note_at(id, gathering, &note, &edits, &version)?)
        })
        .await
}

/// The gathering as the facilitator runs it: agenda and current step,
/// attendance, requests and fitted minutes, the running turn and airtime.
#[tauri::command]
pub async fn gathering_state(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
) -> Result<GatheringStateView, CommandError> {
    state
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            Ok(engine.gathering_state(id, gathering, Utc::now())?)
        })
        .await
}

/// What the gathering's steps bring: the ground rules, the contracts to
/// report back on and made here, the next gathering and its roles.
#[tauri::command]
pub async fn step_brief(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
) -> Result<StepBriefView, CommandError> {
    state
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            Ok(engine.step_brief(id, gathering)?)
        })
        .await
}

/// Moves the agenda to step `index` (0-based).
#[tauri::command]
pub async fn set_step(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
    index: u64,
) -> Result<(), CommandError> {
    state
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            Ok(engine.set_step(id, gathering, index)?)
        })
        .await
}

/// Adds a step (`kind` as in the templates, or `custom`) at the end of the agenda.
#[tauri::command]
pub async fn add_step(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
    title: String,
    minutes: u64,
    kind: Option<String>,
) -> Result<(), CommandError> {
    let kind: StepKind = kind
        .as_deref()
        .map(str::parse)
        .transpose()?
        .unwrap_or_default();
    state
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            Ok(engine.add_step(id, gathering, None, kind, &title, minutes)?)
        })
        .await
}

/// Removes step `index` (0-based) from the agenda.
#[tauri::command]
pub async fn remove_step(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
    index: usize,
) -> Result<(), CommandError> {
    state
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            Ok(engine.remove_step(id, gathering, index)?)
        })
        .await
}

/// Records whether a member is here.
#[tauri::command]
pub async fn set_attendance(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
    member: String,
    present: bool,
) -> Result<(), CommandError> {
    state
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            let member = engine.find_member(id, &member)?;
            Ok(engine.set_attendance(id, gathering, member, present)?)
        })
        .await
}

/// Records how many minutes a member asks for today.
#[tauri::command]
pub async fn request_time(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
    member: String,
    minutes: u64,
) -> Result<(), CommandError> {
    state
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            let member = engine.find_member(id, &member)?;
            Ok(engine.request_time(id, gathering, member, minutes)?)
        })
        .await
}

/// Starts a member's turn (ending any running one); returns the turn's id.
#[tauri::command]
pub async fn start_turn(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
    member: String,
    minutes: Option<u64>,
    feedback_wanted: String,
    off_record: bool,
) -> Result<String, CommandError> {
    state
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            let member = engine.find_member(id, &member)?;
            Ok(engine.start_turn(id, gathering, member, minutes, &feedback_wanted, off_record)?)
        })
        .await
}

/// Starts a member's speaking time outside the turns (airtime, no
/// contract), ending any running turn; returns its id.
#[tauri::command]
pub async fn start_speaking(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
    member: String,
    off_record: bool,
) -> Result<String, CommandError> {
    state
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            let member = engine.find_member(id, &member)?;
            Ok(engine.start_speaking(id, gathering, member, None, off_record)?)
        })
        .await
}

/// Pauses (or, `pause` false, resumes) the running turn's clock.
#[tauri::command]
pub async fn pause_turn(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
    pause: bool,
) -> Result<(), CommandError> {
    state
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            Ok(engine.pause_turn(id, gathering, pause)?)
        })
        .await
}

/// Ends the running turn.
#[tauri::command]
pub async fn end_turn(
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
) -> Result<(), CommandError> {
    state
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            Ok(engine.end_turn(id, gathering)?)
        })
        .await
}
