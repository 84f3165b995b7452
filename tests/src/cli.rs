//! Driving the `circlekeep` binary: one device per data folder, its
//! commands and their JSON, and a `serve` running in the background.

use crate::circlekeep_bin;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The passphrase every test device uses.
pub const PASSPHRASE: &str = "correct horse";

/// Network flags for loopback only: no relay, no mDNS, a random port.
pub const LOOPBACK: [&str; 6] = [
    "--relay",
    "disabled",
    "--local-discovery",
    "off",
    "--bind",
    "127.0.0.1:0",
];

/// A device driven through the `circlekeep` binary.
pub struct Device<'a> {
    /// Its data folder.
    pub home: &'a Path,
}

impl Device<'_> {
    /// The command `circlekeep --home HOME ARGS` with the test passphrase.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(circlekeep_bin());
        cmd.arg("--home")
            .arg(self.home)
            .args(args)
            .env("CIRCLEKEEP_PASSPHRASE", PASSPHRASE)
            .env_remove("CIRCLEKEEP_HOME");
        cmd
    }

    /// Runs a command to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run circlekeep")
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "circlekeep {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command with `--json` that must succeed; returns its output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("JSON output")
    }

    /// Runs a command with `--json` that must fail: its exit status and error code.
    pub fn error_code(&self, args: &[&str]) -> (i32, String) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let value: Value = serde_json::from_slice(&out.stdout).expect("JSON error");
        (
            out.status.code().unwrap_or(-1),
            value["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    /// Starts `circlekeep serve` on loopback, logging to `log`; returns once
    /// it accepts commands.
    pub fn serve(&self, log: &Path) -> Serve {
        self.serve_at(log, 0)
    }

    /// Starts `circlekeep serve` on loopback at `port` (0: any free port),
    /// logging to `log`; returns once it accepts commands.
    pub fn serve_at(&self, log: &Path, port: u16) -> Serve {
        let bind = format!("127.0.0.1:{port}");
        let mut args = vec!["serve"];
        args.extend(LOOPBACK);
        if let Some(at) = args.iter().position(|a| *a == "--bind") {
            args[at + 1] = &bind;
        }
        let log = std::fs::File::create(log).expect("log");
        let serve = Serve(
            self.cmd(&args)
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .expect("serve"),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        // A killed serve leaves its socket behind: wait for one that answers.
        let answers = || {
            use interprocess::local_socket::{prelude::*, Stream};
            let socket = circlekeep_engine::Home::new(self.home).local_socket("control.sock");
            socket.and_then(Stream::connect).is_ok()
        };
        while !answers() {
            assert!(Instant::now() < deadline, "serve did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        serve
    }

    /// The texts of a gathering's notes, as `note list` shows them.
    pub fn note_texts(&self, circle: &str, gathering: &str) -> Vec<String> {
        let notes = self.json(&["note", "list", circle, "--gathering", gathering]);
        notes[0]["notes"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|n| n["text"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Starts `circlekeep keeper serve` from `home` on loopback at `port`;
/// returns it (stopped on drop) and the ticket it printed.
pub fn serve_keeper(home: &Path, port: u16) -> (Serve, String) {
    use std::io::BufRead;
    let bind = format!("127.0.0.1:{port}");
    let mut child = Command::new(circlekeep_bin())
        .arg("--home")
        .arg(home)
        .args([
            "keeper",
            "serve",
            "--relay",
            "disabled",
            "--local-discovery",
            "off",
        ])
        .args(["--bind", &bind])
        .env_remove("CIRCLEKEEP_HOME")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("keeper serve");
    let stdout = child.stdout.take().expect("stdout");
    let ticket = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("circlekeep-keeper1:"))
        .expect("the keeper prints its ticket");
    (Serve(child), ticket)
}

/// A `circlekeep serve` child, stopped (SIGTERM) on drop.
pub struct Serve(std::process::Child);

impl Serve {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Kills the serve at once (SIGKILL), as a crash or power cut would.
    pub fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}
