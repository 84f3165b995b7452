//! What the app holds between commands: where its data lives and, once
//! unlocked, the engine.

use circlekeep_engine::{Engine, EngineError, Home};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// The app's state, shared by all commands.
pub struct AppState {
    pub home: Home,
    engine: Mutex<Option<Arc<Engine>>>,
}

impl AppState {
    /// Home from `CIRCLEKEEP_HOME` or `--home DIR`, else the platform default.
    pub fn from_env() -> Result<Self, String> {
        let mut args = std::env::args().skip(1);
        let mut home = std::env::var_os("CIRCLEKEEP_HOME").map(Home::new);
        while let Some(arg) = args.next() {
            if arg == "--home" {
                home = args.next().map(Home::new);
            }
        }
        let home = home
            .or_else(Home::platform_default)
            .ok_or("cannot find a data folder; pass --home DIR")?;
        Ok(Self {
            home,
            engine: Mutex::new(None),
        })
    }

    /// The unlocked engine.
    pub fn engine(&self) -> Result<Arc<Engine>, CommandError> {
        self.slot()
            .clone()
            .ok_or_else(|| CommandError::new("locked", "unlock Circlekeep first"))
    }

    /// Keeps the engine once unlocked.
    pub fn set_engine(&self, engine: Engine) {
        *self.slot() = Some(Arc::new(engine));
    }

    /// Whether the engine is unlocked.
    pub fn is_unlocked(&self) -> bool {
        self.slot().is_some()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Engine>>> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The one error shape the UI sees: a stable `code` to switch on and a message.
#[derive(Debug, Serialize)]
pub struct CommandError {
    pub code: String,
    pub message: String,
}

impl CommandError {
    pub fn new(code: &str, message: &str) -> Self {
        Self {
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
}

impl From<EngineError> for CommandError {
    fn from(e: EngineError) -> Self {
        Self {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

/// Runs blocking engine work off the async runtime's threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| CommandError::new("internal", &e.to_string()))?
}
