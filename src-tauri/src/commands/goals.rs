//! Goals and contracts.

use crate::state::{AppState, CommandError};
use circlekeep_engine::views::ContractHistoryView;
use circlekeep_engine::{GoalStatus, Outcome};
use tauri::State;

/// Sets one of my goals; returns its id.
#[tauri::command]
pub async fn add_goal(
    state: State<'_, AppState>,
    circle: String,
    text: String,
) -> Result<String, CommandError> {
    state
        .in_circle(circle, move |engine, id| Ok(engine.add_goal(id, &text)?))
        .await
}

/// Adds a progress note to a goal.
#[tauri::command]
pub async fn goal_progress(
    state: State<'_, AppState>,
    circle: String,
    goal: String,
    text: String,
) -> Result<String, CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            Ok(engine.goal_progress(id, &goal, &text)?)
        })
        .await
}

/// Adds a milestone to a goal; returns its id.
#[tauri::command]
pub async fn goal_milestone(
    state: State<'_, AppState>,
    circle: String,
    goal: String,
    text: String,
) -> Result<String, CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            Ok(engine.goal_milestone(id, &goal, &text)?)
        })
        .await
}

/// Marks a goal's milestone reached.
#[tauri::command]
pub async fn reach_milestone(
    state: State<'_, AppState>,
    circle: String,
    goal: String,
    milestone: String,
) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            Ok(engine.reach_milestone(id, &goal, &milestone)?)
        })
        .await
}

/// Sets a goal's status: open, achieved or dropped.
#[tauri::command]
pub async fn goal_status(
    state: State<'_, AppState>,
    circle: String,
    goal: String,
    status: String,
) -> Result<(), CommandError> {
    let status: GoalStatus = status.parse()?;
    state
        .in_circle(circle, move |engine, id| {
            Ok(engine.goal_status(id, &goal, status)?)
        })
        .await
}

/// Makes a contract for the next two weeks, optionally towards a goal and
/// at a gathering: mine, or `member`'s when the facilitator records it for
/// them (it then shows who recorded it).
#[tauri::command]
pub async fn add_contract(
    state: State<'_, AppState>,
    circle: String,
    text: String,
    goal: Option<String>,
    member: Option<String>,
    gathering: Option<String>,
) -> Result<String, CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let goal = goal.filter(|g| !g.is_empty());
            let member = member.map(|m| engine.find_member(id, &m)).transpose()?;
            let gathering = gathering
                .map(|g| engine.find_gathering(id, &g))
                .transpose()?;
            Ok(engine.record_contract(id, member, &text, goal.as_deref(), gathering)?)
        })
        .await
}

/// Reports back on a contract: kept, partly, not or renegotiated, and what was learnt.
#[tauri::command]
pub async fn report_contract(
    state: State<'_, AppState>,
    circle: String,
    contract: String,
    outcome: String,
    reflection: Option<String>,
) -> Result<(), CommandError> {
    let outcome: Outcome = outcome.parse()?;
    state
        .in_circle(circle, move |engine, id| {
            let reflection = reflection.filter(|r| !r.trim().is_empty());
            Ok(engine.report_contract(id, &contract, Some(outcome), reflection.as_deref())?)
        })
        .await
}

/// Each member's contracts, oldest first, with how many were kept.
#[tauri::command]
pub async fn contract_history(
    state: State<'_, AppState>,
    circle: String,
) -> Result<Vec<ContractHistoryView>, CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            Ok(engine.contract_history(id, None)?)
        })
        .await
}
