//! Reminders as system notifications: each gathering is announced once,
//! when it comes within two days (as the window's banner does), and so are
//! the member's contracts due for report back there, through the
//! notification plugin (the freedesktop service on Linux, the system's
//! own on macOS and Windows).

use circlekeep_engine::{Engine, Utc};
use std::sync::Weak;
use std::time::Duration;
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;

/// How far ahead a gathering is announced (the window's banner: 48 h too).
const AHEAD: chrono::Duration = chrono::Duration::hours(48);
/// How often reminders are looked at (besides whenever a circle changes).
const EVERY: Duration = Duration::from_secs(60);
/// How long changes must settle before they are looked at (typing in a
/// gathering changes a circle several times a second).
const SETTLE: Duration = Duration::from_secs(2);

/// Announces due gatherings until the engine goes away: at start, every
/// minute, and whenever a circle changed (a gathering moved to tomorrow).
/// The engine remembers what it announced, across restarts too.
pub async fn announce_reminders(app: AppHandle, engine: Weak<Engine>) {
    let Some(mut changes) = engine.upgrade().map(|e| e.subscribe()) else {
        return;
    };
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = changes.recv() => {
                use tokio::sync::broadcast::error::{RecvError, TryRecvError};
                if matches!(changed, Err(RecvError::Closed)) {
                    return;
                }
                tokio::time::sleep(SETTLE).await;
                loop {
                    match changes.try_recv() {
                        Ok(_) | Err(TryRecvError::Lagged(_)) => continue,
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Closed) => return,
                    }
                }
            }
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        let app = app.clone();
        let shown = tauri::async_runtime::spawn_blocking(move || {
            let due = engine.reminders_to_announce(Utc::now(), AHEAD)?;
            for reminder in &due {
                let note = app.notification().builder().title("Circlekeep");
                if let Err(e) = note.body(&reminder.text).show() {
                    tracing::info!("cannot show a notification: {e}");
                }
            }
            Ok::<_, circlekeep_engine::EngineError>(due.len())
        })
        .await;
        match shown {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!("announced {n} gathering(s)"),
            Ok(Err(e)) => tracing::warn!("cannot read reminders: {e}"),
            Err(e) => tracing::warn!("reminder task failed: {e}"),
        }
    }
}
