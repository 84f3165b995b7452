//! Circles, their members and their practice at a glance.

use crate::state::{blocking, AppState, CommandError};
use circlekeep_engine::practice::Setup;
use circlekeep_engine::schedule::{Cadence, CadenceDoc};
use circlekeep_engine::views::{
    CircleSummary, CircleView, KeeperView, MemberView, PracticeView, RejectionSummary,
};
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
    let policy: HistoryPolicy = history.parse()?;
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

/// Replaces the charter's text; every member is asked to accept it again.
#[tauri::command]
pub async fn edit_charter(
    state: State<'_, AppState>,
    circle: String,
    text: String,
) -> Result<(), CommandError> {
    state
        .in_circle(
            circle,
            move |engine, id| Ok(engine.edit_charter(id, &text)?),
        )
        .await
}

/// Accepts a circle that added this device: it syncs from now on.
#[tauri::command]
pub async fn accept_circle(state: State<'_, AppState>, circle: String) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| Ok(engine.accept_circle(id)?))
        .await
}

/// Leaves a circle: the others re-key, and nothing new reaches this device.
#[tauri::command]
pub async fn leave_circle(state: State<'_, AppState>, circle: String) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| Ok(engine.leave_circle(id)?))
        .await
}

/// What this circle's peers and bundles sent that was refused, grouped,
/// the most recently seen first.
#[tauri::command]
pub async fn rejections(
    state: State<'_, AppState>,
    circle: String,
) -> Result<Vec<RejectionSummary>, CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let mut refused = engine.rejections(id)?;
            refused.reverse();
            Ok(refused)
        })
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

/// Enrols a keeper by its ticket: every member's device keeps it up to date.
#[tauri::command]
pub async fn add_keeper(
    state: State<'_, AppState>,
    circle: String,
    ticket: String,
) -> Result<KeeperView, CommandError> {
    state
        .in_circle(
            circle,
            move |engine, id| Ok(engine.add_keeper(id, &ticket)?),
        )
        .await
}

/// Stops using a keeper (by id): members' devices no longer send it anything.
#[tauri::command]
pub async fn remove_keeper(
    state: State<'_, AppState>,
    circle: String,
    keeper: String,
) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            Ok(engine.remove_keeper(id, &keeper)?)
        })
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

/// Sets a circle's purpose, and, if given, when it meets, who guides it
/// (`guide`: a member id, `""` for no guide, absent to leave it as it is),
/// where, and the roles it rotates beside the practice's.
#[tauri::command]
pub async fn setup_circle(
    state: State<'_, AppState>,
    circle: String,
    purpose: Option<String>,
    rhythm: Option<CadenceDoc>,
    guide: Option<String>,
    place: Option<String>,
    roles: Option<Vec<String>>,
) -> Result<(), CommandError> {
    state
        .in_circle(circle, move |engine, id| {
            let cadence = rhythm.as_ref().map(Cadence::try_from).transpose()?;
            let purpose = purpose.filter(|p| !p.trim().is_empty());
            let guide = guide
                .map(|g| match g.trim() {
                    "" => Ok(None),
                    member => engine.find_member(id, member).map(Some),
                })
                .transpose()?;
            Ok(engine.setup(
                id,
                &Setup {
                    purpose,
                    cadence,
                    guide,
                    place,
                    roles,
                },
            )?)
        })
        .await
}
