//! What the app holds between commands: where its data lives, how it
//! reaches the network and, once unlocked, the engine and its sync node.

use circlekeep_engine::ErrorCode;
use circlekeep_engine::{CircleId, DocId, Engine, EngineError, Home, NetChoice};
use circlekeep_sync::{Node, NodeConfig, Supervisor};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// The app's state, shared by all commands.
pub struct AppState {
    pub home: Home,
    /// Network settings given on the command line; unset ones come from the
    /// device's settings (`circlekeep config`).
    pub net: NetChoice,
    /// Where exports and backups go without asking (`--exports DIR`);
    /// unset, the app asks with a save dialog each time.
    pub exports: Option<std::path::PathBuf>,
    /// A `circlekeep://` link the app was started with, until the UI takes it.
    opened_link: Mutex<Option<String>>,
    session: Mutex<Option<Session>>,
}

/// What an unlocked app runs.
#[derive(Clone)]
pub struct Session {
    pub engine: Arc<Engine>,
    /// The sync node: starting, running, or why it is not.
    pub node: Arc<Supervisor<Engine>>,
}

/// How long a command that needs the network waits for the node to start.
const NODE_START_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl AppState {
    /// Home and network settings from `--home DIR` (or `CIRCLEKEEP_HOME`),
    /// `--relay`, `--local-discovery on|off` and `--bind ADDR:PORT`, and
    /// `--exports DIR`.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut args = args.into_iter();
        let mut home = std::env::var_os("CIRCLEKEEP_HOME").map(Home::new);
        let mut net = NetChoice::default();
        let mut exports = None;
        let mut opened_link = None;
        while let Some(arg) = args.next() {
            // The desktop opens an invite or device link with it as the
            // only argument (the package registers `circlekeep://`).
            if arg.starts_with("circlekeep://") {
                opened_link = Some(arg);
                continue;
            }
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--home" => home = Some(Home::new(value()?)),
                "--relay" => net.relay = Some(value()?),
                "--exports" => exports = Some(std::path::PathBuf::from(value()?)),
                "--local-discovery" => {
                    net.local_discovery = Some(match value()?.as_str() {
                        "on" => true,
                        "off" => false,
                        other => {
                            return Err(format!("--local-discovery is on or off, not {other:?}"))
                        }
                    })
                }
                "--bind" => {
                    let v = value()?;
                    net.bind = Some(
                        v.parse()
                            .map_err(|_| format!("--bind wants ADDR:PORT, not {v:?}"))?,
                    )
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        let home = home
            .or_else(Home::platform_default)
            .ok_or("cannot find a data folder; pass --home DIR")?;
        Ok(Self {
            home,
            net,
            exports,
            opened_link: Mutex::new(opened_link),
            session: Mutex::new(None),
        })
    }

    /// The link the app was started with, if the UI has not taken it.
    pub fn opened_link(&self) -> Option<String> {
        self.opened_link
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The link the app was started with, once.
    pub fn take_opened_link(&self) -> Option<String> {
        self.opened_link
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// The unlocked engine.
    pub fn engine(&self) -> Result<Arc<Engine>, CommandError> {
        Ok(self.session()?.engine)
    }

    /// The running sync node, once it has started.
    pub async fn node(&self) -> Result<Arc<Node<Engine>>, CommandError> {
        self.session()?
            .node
            .running(NODE_START_WAIT)
            .await
            .map_err(|why| CommandError::new(ErrorCode::Offline, &why))
    }

    /// The settings the sync node runs with: those given on the command
    /// line, the rest from the device's settings.
    pub fn node_config(&self, engine: &Engine) -> Result<NodeConfig, String> {
        engine.node_config(&self.net).map_err(|e| e.to_string())
    }

    /// The unlocked session.
    pub fn session(&self) -> Result<Session, CommandError> {
        self.slot()
            .clone()
            .ok_or_else(|| CommandError::new(ErrorCode::Locked, "unlock Circlekeep first"))
    }

    /// Keeps the session once unlocked.
    pub fn set_session(&self, session: Session) {
        *self.slot() = Some(session);
    }

    /// Takes the session away (when the app quits).
    pub fn take_session(&self) -> Option<Session> {
        self.slot().take()
    }

    /// Whether the engine is unlocked.
    pub fn is_unlocked(&self) -> bool {
        self.slot().is_some()
    }

    /// Runs `work` on circle `circle` (id, id prefix or name) off the async
    /// runtime's threads.
    pub async fn in_circle<T: Send + 'static>(
        &self,
        circle: String,
        work: impl FnOnce(&Engine, CircleId) -> Result<T, CommandError> + Send + 'static,
    ) -> Result<T, CommandError> {
        let engine = self.engine()?;
        blocking(move || {
            let id = engine.find_circle(&circle)?;
            work(&engine, id)
        })
        .await
    }

    /// Runs `work` on gathering `gathering` (id prefix or date) of circle
    /// `circle`, off the async runtime's threads.
    pub async fn in_gathering<T: Send + 'static>(
        &self,
        circle: String,
        gathering: String,
        work: impl FnOnce(&Engine, CircleId, DocId) -> Result<T, CommandError> + Send + 'static,
    ) -> Result<T, CommandError> {
        self.in_circle(circle, move |engine, id| {
            let gathering = engine.find_gathering(id, &gathering)?;
            work(engine, id, gathering)
        })
        .await
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The one error shape the UI sees: a stable `code` to switch on and a message.
#[derive(Debug, Serialize)]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: &str) -> Self {
        Self {
            code,
            message: message.to_owned(),
        }
    }
}

/// A schedule part (date, time, cadence) that does not parse.
impl From<circlekeep_engine::schedule::CadenceError> for CommandError {
    fn from(e: circlekeep_engine::schedule::CadenceError) -> Self {
        EngineError::from(e).into()
    }
}

/// Words that name none of the choices (a template, a role, a history).
impl From<circlekeep_engine::BadInput> for CommandError {
    fn from(e: circlekeep_engine::BadInput) -> Self {
        EngineError::from(e).into()
    }
}

impl From<EngineError> for CommandError {
    fn from(e: EngineError) -> Self {
        let code = e.code();
        let message = match advice(code) {
            Some(advice) => format!("{e}: {advice}"),
            None => e.to_string(),
        };
        Self { code, message }
    }
}

/// What to do next, in the app's terms, for errors the user fixes on
/// another screen (the engine's messages say what is wrong, never where to
/// go).
fn advice(code: ErrorCode) -> Option<&'static str> {
    match code {
        ErrorCode::NoGathering => Some("open one with \"Open a gathering\""),
        ErrorCode::NotAccepted => Some("accept the circle with \"Accept\" on its page first"),
        ErrorCode::NoCadence => {
            Some("set when the circle meets under \"Set the purpose and when the circle meets\"")
        }
        _ => None,
    }
}

/// Runs blocking engine work off the async runtime's threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| CommandError::new(ErrorCode::Internal, &e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::CommandError;
    use circlekeep_engine::{EngineError, ErrorCode};

    #[test]
    fn the_ui_sees_a_snake_case_code_and_a_message() {
        let e = CommandError::from(EngineError::NotAMember);
        let json = serde_json::to_value(&e).expect("serialises");
        assert_eq!(json["code"], "not_a_member");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        let made = serde_json::to_value(CommandError::new(ErrorCode::Locked, "unlock first"));
        assert_eq!(
            made.ok(),
            Some(serde_json::json!({"code": "locked", "message": "unlock first"}))
        );
    }

    #[test]
    fn advice_names_the_app_s_screens_never_a_cli_command() {
        let e = CommandError::from(EngineError::NoGathering);
        assert!(e.message.contains("Open a gathering"), "{}", e.message);
        for e in [EngineError::NoGathering, EngineError::NoCadence] {
            let message = CommandError::from(e).message;
            assert!(!message.contains("circlekeep "), "{message}");
        }
    }
}
