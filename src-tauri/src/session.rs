//! Starting and stopping what runs while the app is unlocked: the sync
//! node, the events that tell the window a circle changed, the cache
//! checkpoints once changes settle, and gathering reminders as system
//! notifications; quitting cleanly on stop signals.

use crate::state::{AppState, CommandError, Session};
use circlekeep_engine::{CheckpointPolicy, Engine};
use circlekeep_sync::Supervisor;
use std::sync::Arc;
use tauri::{AppHandle, Emitter, Manager};

/// Event sent to the window with a circle's hex id whenever that circle's
/// documents or membership changed (a local write or entries from a peer).
pub const CIRCLE_CHANGED: &str = "circle-changed";

/// Starts the background work of an unlocked engine: the window can use
/// the engine at once, while the sync node binds its endpoint meanwhile.
pub fn start(app: &AppHandle, engine: Engine) {
    let engine = Arc::new(engine);
    let node = Arc::new(Supervisor::new(engine.clone()));
    let state = app.state::<AppState>();
    state.set_session(Session {
        engine: engine.clone(),
        node: node.clone(),
    });
    forward_changes(app.clone(), &engine);
    tauri::async_runtime::spawn(Engine::checkpoint_when_settled(
        Arc::downgrade(&engine),
        CheckpointPolicy::default(),
    ));
    tauri::async_runtime::spawn(crate::notify::announce_reminders(
        app.clone(),
        Arc::downgrade(&engine),
    ));
    let config = state.node_config(&engine);
    tauri::async_runtime::spawn(async move {
        let secret = *engine.identity().endpoint_secret();
        drop(engine);
        node.run_with(secret, config).await;
    });
}

/// Runs the sync node with the settings saved now (restarting it if they
/// differ from those it runs with, or if it is offline).
pub async fn apply_network(state: &AppState) -> Result<(), CommandError> {
    let session = state.session()?;
    let config = state.node_config(&session.engine);
    let secret = *session.engine.identity().endpoint_secret();
    session.node.run_with(secret, config).await;
    Ok(())
}

/// Quits the app cleanly (caches written, node shut down) when the system
/// asks it to stop: logout, shutdown, Ctrl-C in a terminal.
pub fn exit_on_signals(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if stop_asked().await {
            tracing::info!("asked to stop; quitting");
            app.exit(0);
        }
    });
}

/// Waits for the system to ask the app to stop; `false` if it cannot listen.
#[cfg(unix)]
async fn stop_asked() -> bool {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::warn!("cannot listen for stop signals");
        return false;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = hup.recv() => {}
    }
    true
}

/// Waits for the system to ask the app to stop (Ctrl-C, or the console
/// closing); `false` if it cannot listen.
#[cfg(not(unix))]
async fn stop_asked() -> bool {
    tokio::signal::ctrl_c().await.is_ok()
}

/// How long locking waits for work already running (a command, a
/// checkpoint) to let go of the engine.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Locks the app: the node stops, the caches are written, and the engine,
/// with the keys it holds in memory, is dropped; the data folder is closed
/// until the passphrase opens it again.
pub async fn lock(state: &AppState) -> Result<(), CommandError> {
    let Some(session) = state.take_session() else {
        return Ok(());
    };
    session.node.stop().await;
    let engine = session.engine;
    drop(session.node);
    let writer = engine.clone();
    if let Err(e) = crate::state::blocking(move || Ok(writer.checkpoint()?)).await {
        tracing::warn!("cannot write caches: {}", e.message);
    }
    let gone = Arc::downgrade(&engine);
    drop(engine);
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    while gone.strong_count() > 0 {
        if tokio::time::Instant::now() > deadline {
            return Err(CommandError::new(
                circlekeep_engine::ErrorCode::Internal,
                "the app is still busy and could not lock: try again in a moment",
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tracing::info!("locked");
    Ok(())
}

/// Shuts the node down and writes the caches, when the app quits.
pub fn stop(app: &AppHandle) {
    let Some(session) = app.state::<AppState>().take_session() else {
        return;
    };
    tauri::async_runtime::block_on(session.node.stop());
    if let Err(e) = session.engine.checkpoint() {
        tracing::warn!("cannot write caches: {e}");
    }
}

fn forward_changes(app: AppHandle, engine: &Engine) {
    let mut changes = engine.subscribe();
    tauri::async_runtime::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match changes.recv().await {
                Ok(circle) => {
                    let _ = app.emit(CIRCLE_CHANGED, circle.to_hex());
                }
                // Missed some: the window refreshes whatever it shows.
                Err(RecvError::Lagged(_)) => {
                    let _ = app.emit(CIRCLE_CHANGED, "");
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// Tunes the window's web engine for a notes app: no GPU compositing (the
/// pages are static text; on a software renderer it costs ~65 MB) and the
/// smallest of WebKit's memory caches.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
pub fn lighten_webview(app: &AppHandle) {
    #[cfg(target_os = "linux")]
    for window in app.webview_windows().into_values() {
        let tuned = window.with_webview(|webview| {
            use webkit2gtk::{
                CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt,
            };
            let view = webview.inner();
            if let Some(settings) = view.settings() {
                settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
                settings.set_enable_page_cache(false);
            }
            if let Some(context) = view.context() {
                context.set_cache_model(CacheModel::DocumentViewer);
            }
        });
        if let Err(e) = tuned {
            tracing::warn!("cannot tune the window's web engine: {e}");
        }
    }
}
