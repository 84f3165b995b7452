//! Starting and stopping what runs while the app is unlocked: the sync
//! node, the events that tell the window a circle changed, and the
//! periodic cache checkpoint.

use crate::state::{AppState, Session};
use circlekeep_engine::Engine;
use circlekeep_sync::Node;
use std::sync::Arc;
use std::time::Duration;
use tauri::{AppHandle, Emitter, Manager};

/// Event sent to the window with a circle's hex id whenever that circle's
/// documents or membership changed (a local write or entries from a peer).
pub const CIRCLE_CHANGED: &str = "circle-changed";

/// How often the unlocked app writes its caches.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(30);

/// Starts the sync node and the background tasks for an unlocked engine.
pub async fn start(app: &AppHandle, engine: Engine) {
    let engine = Arc::new(engine);
    let state = app.state::<AppState>();
    let node = match engine.node_config(&state.net) {
        Ok(config) => {
            let secret = engine.identity().endpoint_secret();
            Node::spawn(engine.clone(), *secret, config)
                .await
                .map(Arc::new)
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    match &node {
        Ok(node) => {
            node.keep_connected();
            tracing::info!(endpoint = %node.status().endpoint_id, "sync node running");
        }
        Err(e) => tracing::warn!("working offline: {e}"),
    }
    forward_changes(app.clone(), &engine);
    checkpoint_periodically(&engine);
    state.set_session(Session { engine, node });
}

/// Shuts the node down and writes the caches, when the app quits.
pub fn stop(app: &AppHandle) {
    let Some(session) = app.state::<AppState>().take_session() else {
        return;
    };
    tauri::async_runtime::block_on(async {
        if let Ok(node) = &session.node {
            node.shutdown().await;
        }
    });
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

fn checkpoint_periodically(engine: &Arc<Engine>) {
    let engine = Arc::downgrade(engine);
    tauri::async_runtime::spawn(async move {
        let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(engine) = engine.upgrade() else {
                break;
            };
            let written = tauri::async_runtime::spawn_blocking(move || engine.checkpoint()).await;
            if let Ok(Err(e)) = written {
                tracing::warn!("cannot write caches: {e}");
            }
        }
    });
}
