//! Files the member takes out of the app: a gathering as Markdown, the
//! year's schedule as iCalendar (both plaintext, by the member's choice)
//! and a full backup sealed to the member's identity. The member picks where
//! each goes in a native save dialog (or the app's `--exports DIR`); the
//! window never names a path itself.

use crate::state::{blocking, AppState, CommandError};
use circlekeep_engine::today;
use circlekeep_engine::ErrorCode;
use std::path::PathBuf;
use tauri::{AppHandle, State};
use tauri_plugin_dialog::DialogExt;

/// `name` as a file name: letters, digits, `-` and `_` kept, the rest `-`.
fn file_name(name: &str, extension: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let stem = stem.trim_matches('-');
    format!(
        "{}.{extension}",
        if stem.is_empty() { "circlekeep" } else { stem }
    )
}

/// Where to write `suggested`: in the `--exports` folder, or where the
/// member chooses (`None` if they cancel).
async fn destination(
    app: &AppHandle,
    state: &AppState,
    suggested: String,
    kind: &'static str,
    extension: &'static str,
) -> Result<Option<PathBuf>, CommandError> {
    if let Some(dir) = &state.exports {
        return Ok(Some(dir.join(suggested)));
    }
    let dialog = app
        .dialog()
        .file()
        .set_file_name(suggested)
        .add_filter(kind, &[extension]);
    blocking(move || {
        dialog
            .blocking_save_file()
            .map(|p| {
                p.into_path().map_err(|_| {
                    CommandError::new(ErrorCode::BadPath, "that is not a place on this computer")
                })
            })
            .transpose()
    })
    .await
}

/// Writes `bytes` to a file named after `name`, where `destination` says.
pub(crate) async fn save(
    app: &AppHandle,
    state: &AppState,
    name: &str,
    (kind, extension): (&'static str, &'static str),
    bytes: Vec<u8>,
) -> Result<Option<String>, CommandError> {
    let suggested = file_name(name, extension);
    let Some(path) = destination(app, state, suggested, kind, extension).await? else {
        return Ok(None);
    };
    blocking(move || {
        circlekeep_engine::write_owner_only(&path, &bytes)
            .map_err(|e| CommandError::new(ErrorCode::WriteFailed, &format!("cannot write {e}")))?;
        Ok(Some(path.display().to_string()))
    })
    .await
}

/// Saves a gathering as Markdown; returns where (nothing if cancelled).
#[tauri::command]
pub async fn export_markdown(
    app: AppHandle,
    state: State<'_, AppState>,
    circle: String,
    gathering: String,
) -> Result<Option<String>, CommandError> {
    let (name, markdown) = state
        .in_gathering(circle, gathering, move |engine, id, gathering| {
            let view = engine.circle(id)?;
            let date = view
                .gatherings
                .iter()
                .find(|g| g.id == gathering.to_hex())
                .map(|g| g.date.as_str())
                .unwrap_or_default();
            let name = format!("{} {date}", view.name);
            Ok((name, engine.gathering_markdown(id, gathering)?))
        })
        .await?;
    let markdown = markdown.into_bytes();
    save(&app, &state, &name, ("Markdown", "md"), markdown).await
}

/// Saves the coming year's schedule, with roles, as an .ics calendar.
#[tauri::command]
pub async fn export_ics(
    app: AppHandle,
    state: State<'_, AppState>,
    circle: String,
) -> Result<Option<String>, CommandError> {
    let (name, ics) = state
        .in_circle(circle, move |engine, id| {
            Ok((engine.circle(id)?.name, engine.schedule_ics(id, today())?))
        })
        .await?;
    save(&app, &state, &name, ("Calendar", "ics"), ics.into_bytes()).await
}

/// Saves a full backup, sealed to this identity (with its key file, so it
/// restores on a new device with the passphrase).
#[tauri::command]
pub async fn backup(
    app: AppHandle,
    state: State<'_, AppState>,
) -> Result<Option<String>, CommandError> {
    let engine = state.engine()?;
    let home = state.home.clone();
    let sealed = blocking(move || Ok(engine.backup(Some(&home.key_file()?))?)).await?;
    let name = format!("circlekeep-backup-{}", today());
    save(&app, &state, &name, ("age backup", "age"), sealed).await
}

/// Saves a copy of the key file (sealed with the passphrase): with a
/// backup, it restores this identity on a new device.
#[tauri::command]
pub async fn save_key_file(
    app: AppHandle,
    state: State<'_, AppState>,
) -> Result<Option<String>, CommandError> {
    state.engine()?;
    let home = state.home.clone();
    let key = blocking(move || Ok(home.key_file()?)).await?;
    let name = "circlekeep-identity";
    save(&app, &state, name, ("age key file", "age"), key).await
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn file_names_keep_words_and_drop_separators() {
        assert_eq!(
            file_name("Thursday circle 2026-11-26", "md"),
            "Thursday-circle-2026-11-26.md"
        );
        assert_eq!(file_name("../../etc/passwd", "ics"), "etc-passwd.ics");
        assert_eq!(file_name("///", "age"), "circlekeep.age");
        assert_eq!(file_name("Café Ümlaut", "md"), "Café-Ümlaut.md");
    }
}
