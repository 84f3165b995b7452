//! Circles, their members and their practice at a glance.

use crate::state::{blocking, AppState, CommandError};
use circlekeep_engine::practice::Setup;
use circlekeep_engine::schedule::Cadence;
use circlekeep_engine::views::{CircleSummary, CircleView, MemberView, PracticeView};
use circlekeep_engine::{today, HistoryPolicy};
use tauri::State;

/// Lists this device's circles.
#[tauri::command]
pub async fn circles(state: State<'_, AppState>) -> Result<Vec<CircleSummary>, CommandError> {
    let engine = state.engine()?;
    blocking(move || Ok(engine.circles()?)).await
}

/// Founds a circle; `history` is `since-joining` or `newcomers-see-history`.
#[tauri::command]
pub async fn create_circle(
    state: State<'_, AppState>,
    name: String,
    history: String,
) -> Result<String, CommandError> {
    let policy = match history.as_str() {
        "since-joining" => HistoryPolicy::SinceJoining,
        "newcomers-see-history" => HistoryPolicy::NewcomersSeeHistory,
        _ => {
            return Err(CommandError::new(
                "bad_history",
                "choose who sees the history",
            ))
        }
    };
    let engine = state.engine()?;
    blocking(move || Ok(engine.create_circle(&name, policy)?.to_hex())).await
}

/// One circle in full.
#[tauri::command]
pub async fn circle(
    state: State<'_, AppState>,
    circle: String,
) -> Result<CircleView, CommandError> {
    state
        .in_circle(circle, move |engine, id| Ok(engine.circle(id)?))
        .await
}

/// The practice at a glance: cadence, charter acceptance, next gatherings.
#[tauri::command]
pub async fn practice(
    state: State<'_, AppState>,
    circle: String,
) -> Result<PracticeView, CommandError> {
    state
        .in_circle(circle, move |engine, id| Ok(engine.practice(id, today())?))
        .await
}

/// Accepts the circle's current charter.
#[tauri::command]
pub async fn accept_charter(
    state: State<'_, AppState>,
    circle: String,
) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| Ok(engine.accept_charter(id)?))
        .await
}

/// Adds a member by their member card.
#[tauri::command]
pub async fn add_member(
    state: State<'_, AppState>,
    circle: String,
    card: String,
) -> Result<MemberView, CommandError> {
    state
        .in_circle(circle, move |engine, id| Ok(engine.add_member(id, &card)?))
        .await
}

/// Removes a member (a new epoch key seals them out of what follows).
#[tauri::command]
pub async fn remove_member(
    state: State<'_, AppState>,
    circle: String,
    member: String,
) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let member = engine.find_member(id, &member)?;
            Ok(engine.remove_member(id, member)?)
        })
        .await
}

/// When a circle meets, as the setup form sends it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rhythm {
    every_weeks: u64,
    weekday: String,
    time: String,
    minutes: u64,
    time_zone: String,
    first: String,
}

/// Sets a circle's purpose and, if given, when it meets.
#[tauri::command]
pub async fn setup_circle(
    state: State<'_, AppState>,
    circle: String,
    purpose: Option<String>,
    rhythm: Option<Rhythm>,
) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let cadence = rhythm
                .map(|r| {
                    Cadence::parse(
                        r.every_weeks,
                        &r.weekday,
                        &r.time,
                        r.minutes,
                        &r.time_zone,
                        &r.first,
                    )
                })
                .transpose()?;
            let purpose = purpose.filter(|p| !p.trim().is_empty());
            Ok(engine.setup(
                id,
                &Setup {
                    purpose,
                    cadence,
                    guide: None,
                },
            )?)
        })
        .await
}
