//! Gathering reminders as system notifications: each gathering is announced
//! once, when it comes within two days (as the window's banner does),
//! through the desktop's notification service (the freedesktop
//! Notifications interface on the session D-Bus, on Linux).

use circlekeep_engine::{Engine, Utc};
use std::sync::Weak;
use std::time::Duration;

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
pub async fn announce_reminders(engine: Weak<Engine>) {
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
        let shown = tauri::async_runtime::spawn_blocking(move || {
            let due = engine.reminders_to_announce(Utc::now(), AHEAD)?;
            for reminder in &due {
                if let Err(e) = show("Circlekeep", &reminder.text) {
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

/// Shows one notification through the session bus's notification service.
#[cfg(target_os = "linux")]
fn show(summary: &str, body: &str) -> Result<(), String> {
    use gio::glib::{self, ToVariant};
    let bus = gio::bus_get_sync(gio::BusType::Session, gio::Cancellable::NONE)
        .map_err(|e| e.to_string())?;
    let hints = std::collections::HashMap::<String, glib::Variant>::new();
    let params = (
        "Circlekeep",
        0u32,
        "",
        summary,
        body,
        Vec::<String>::new(),
        hints,
        -1i32,
    )
        .to_variant();
    bus.call_sync(
        Some("org.freedesktop.Notifications"),
        "/org/freedesktop/Notifications",
        "org.freedesktop.Notifications",
        "Notify",
        Some(&params),
        None,
        gio::DBusCallFlags::NONE,
        5_000,
        gio::Cancellable::NONE,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Shows one notification (not yet on this platform: the window's banner
/// and the calendar export's alarms remind instead).
#[cfg(not(target_os = "linux"))]
fn show(_summary: &str, _body: &str) -> Result<(), String> {
    Err("system notifications are not supported on this platform yet".into())
}
