//! `serve`, and the socket through which other `circlekeep` commands reach
//! a running `serve`: the serving process holds the data folder (sled
//! allows one process), so commands are forwarded and run there.
//!
//! The socket lives in the data folder with owner-only permissions; like an
//! ssh-agent socket, any process of the same user may use it.

use crate::output::Output;
use crate::{dispatch, Cli, Command};
use circlekeep_engine::{CheckpointPolicy, Engine, Home};
use circlekeep_sync::{Node, NodeConfig};
use clap::Parser;
use interprocess::local_socket::tokio::{prelude::*, Stream};
use interprocess::local_socket::ListenerOptions;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const SOCKET: &str = "control.sock";
/// Largest forwarded request.
const MAX_REQUEST: usize = 1 << 20;

#[derive(Serialize, Deserialize)]
struct Request {
    args: Vec<String>,
    /// The caller's working folder, against which relative paths resolve.
    #[serde(default)]
    cwd: Option<PathBuf>,
}

#[derive(Serialize, Deserialize)]
struct Response {
    stdout: String,
    stderr: String,
    code: u8,
}

/// Hands the command to a running `serve` if there is one; returns its exit
/// status, or `None` when nothing is serving this folder.
pub async fn forward(home: &Home, args: &[String]) -> anyhow::Result<Option<u8>> {
    #[cfg(unix)]
    if !home.root().join(SOCKET).exists() {
        return Ok(None);
    }
    let Ok(stream) = Stream::connect(home.local_socket(SOCKET)?).await else {
        // Nobody serves (a socket file left by a killed serve answers not).
        return Ok(None);
    };
    let mut line = serde_json::to_string(&Request {
        args: args.to_vec(),
        cwd: std::env::current_dir().ok(),
    })?;
    line.push('\n');
    (&stream).write_all(line.as_bytes()).await?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).await?;
    let response: Response = serde_json::from_str(&answer)
        .map_err(|_| anyhow::anyhow!("the running `circlekeep serve` gave no answer"))?;
    print!("{}", response.stdout);
    eprint!("{}", response.stderr);
    Ok(Some(response.code))
}

/// A buffer that output can be written into from any thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Runs one forwarded command inside the serving process.
async fn run_forwarded(
    home: &Home,
    engine: &Arc<Engine>,
    node: &Node<Engine>,
    request: Request,
) -> Response {
    let stdout = Captured::default();
    let stderr = Captured::default();
    let argv = std::iter::once("circlekeep".to_owned()).chain(request.args);
    let code = match Cli::try_parse_from(argv) {
        Ok(mut cli) => {
            if let Some(cwd) = &request.cwd {
                resolve_paths(&mut cli.command, cwd);
            }
            let out = Output::to(cli.json, Box::new(stdout.clone()), Box::new(stderr.clone()));
            match dispatch(home, engine, Some(node), cli.command, &out).await {
                Ok(code) => code,
                Err(e) => {
                    out.error(&e);
                    1
                }
            }
        }
        Err(e) => {
            let _ = write!(stderr.clone(), "{}", e.render());
            2
        }
    };
    Response {
        stdout: stdout.text(),
        stderr: stderr.text(),
        code,
    }
}

/// Runs the sync node until Ctrl-C or SIGTERM, serving forwarded commands
/// and writing caches whenever changes settle.
pub async fn serve(home: &Home, engine: Arc<Engine>, config: NodeConfig) -> anyhow::Result<()> {
    let secret = engine.identity().endpoint_secret();
    let node = Arc::new(Node::spawn(engine.clone(), *secret, config.clone()).await?);
    node.keep_connected();
    let status = node.status();
    tracing::info!(
        endpoint = %status.endpoint_id,
        addresses = %status.direct_addresses.join(","),
        relay = %config.relay,
        local_discovery = config.local_discovery,
        "serving; stop with Ctrl-C"
    );

    // What a killed serve left behind (a socket file) is replaced.
    let listener = ListenerOptions::new()
        .name(home.local_socket(SOCKET)?)
        .try_overwrite(true)
        .create_tokio()?;
    #[cfg(unix)]
    restrict(&home.root().join(SOCKET))?;

    let stop = stop_asked()?;
    tokio::pin!(stop);
    tokio::spawn(Engine::checkpoint_when_settled(
        Arc::downgrade(&engine),
        CheckpointPolicy::default(),
    ));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok(stream) = accepted else { continue };
                let (engine, node, home) = (engine.clone(), node.clone(), home.clone());
                tokio::spawn(async move {
                    let mut line = String::new();
                    let mut reader = BufReader::new(&stream).take(MAX_REQUEST as u64);
                    if reader.read_line(&mut line).await.is_err() {
                        return;
                    }
                    let Ok(request) = serde_json::from_str::<Request>(&line) else { return };
                    let response = run_forwarded(&home, &engine, &node, request).await;
                    if let Ok(mut text) = serde_json::to_string(&response) {
                        text.push('\n');
                        let _ = (&stream).write_all(text.as_bytes()).await;
                    }
                });
            }
        }
    }
    tracing::info!("stopping");
    // Its socket file goes with it.
    drop(listener);
    node.shutdown().await;
    Ok(())
}

/// Ctrl-C, or (Unix) SIGTERM.
pub(crate) fn stop_asked() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(unix)]
fn restrict(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// Makes a forwarded command's relative file paths relative to the
/// caller's working folder rather than the serving process's.
fn resolve_paths(command: &mut Command, cwd: &std::path::Path) {
    use crate::practice::{ExportCommand, PracticeCommand};
    use crate::{reflect, BundleCommand, CircleCommand};
    let fix = |path: &mut PathBuf| {
        if path.is_relative() {
            *path = cwd.join(&*path);
        }
    };
    match command {
        Command::Bundle(BundleCommand::Export { file, .. } | BundleCommand::Import { file })
        | Command::Circle(CircleCommand::Retro(reflect::RetroArgs { file, .. })) => fix(file),
        Command::Practice(p) => match p {
            PracticeCommand::Export(
                ExportCommand::Ics { file, .. } | ExportCommand::Markdown { file, .. },
            )
            | PracticeCommand::Backup { file } => fix(file),
            PracticeCommand::Restore { file, key_file, .. } => {
                fix(file);
                if let Some(k) = key_file {
                    fix(k);
                }
            }
            _ => {}
        },
        _ => {}
    }
}
