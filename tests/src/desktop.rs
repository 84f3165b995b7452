//! Driving the desktop app as its user does: the real app binary in a
//! virtual X display, through `tauri-driver` and WebKitWebDriver, clicking
//! and typing in the real window.

use crate::workspace_bin;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A virtual display with a WebDriver server for the app, and a session
/// bus of its own on which the notifications the app sends are recorded.
pub struct Desktop {
    display: Child,
    bus: Child,
    monitor: Child,
    keychain: Child,
    driver: Child,
    port: u16,
    app: PathBuf,
    artifacts: PathBuf,
}

impl Desktop {
    /// Starts Xvfb and tauri-driver and builds the app; `Err` names what is
    /// missing on this machine. Logs and failure screenshots go to `artifacts`.
    pub fn start(artifacts: &Path) -> Result<Desktop, String> {
        Self::start_app(workspace_bin("circlekeep-app", "circlekeep-app"), artifacts)
    }

    /// Like [`Desktop::start`], for the app at `app` (an installed one).
    pub fn start_app(app: PathBuf, artifacts: &Path) -> Result<Desktop, String> {
        say_why_last();
        let xvfb = find_tool("Xvfb")?;
        let driver = find_tool("tauri-driver")?;
        let native = find_tool("WebKitWebDriver")?;
        let bus_daemon = find_tool("dbus-daemon")?;
        let bus_monitor = find_tool("dbus-monitor")?;
        let keychain = find_tool("gnome-keyring-daemon")?;

        let (display, number) = start_and_read_line(
            Command::new(xvfb).args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x900x24",
                "-nolisten",
                "tcp",
            ]),
            "Xvfb",
        )?;

        std::fs::create_dir_all(artifacts).map_err(|e| e.to_string())?;
        // A private session bus: what the app announces is recorded by a
        // monitor (nobody shows it), and nothing reaches the real desktop.
        let (bus, bus_address) = start_and_read_line(
            Command::new(bus_daemon).args(["--session", "--nofork", "--print-address=1"]),
            "dbus-daemon",
        )?;
        let notifications = std::fs::File::create(artifacts.join("notifications.log"))
            .map_err(|e| e.to_string())?;
        let monitor = Command::new(bus_monitor)
            .args([
                "--address",
                &bus_address,
                "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
            ])
            .stdout(notifications)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start dbus-monitor: {e}"))?;

        let keychain = start_keychain(keychain, &bus_address, &artifacts.join("keychain"))?;

        let (port, native_port) = (free_port(), free_port());
        let log =
            std::fs::File::create(artifacts.join("tauri-driver.log")).map_err(|e| e.to_string())?;
        let driver = Command::new(driver)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .arg("--native-driver")
            .arg(native)
            .env("DISPLAY", format!(":{number}"))
            .env("DBUS_SESSION_BUS_ADDRESS", &bus_address)
            .env("CIRCLEKEEP_LOG", "info")
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start tauri-driver: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("tauri-driver did not start listening".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Desktop {
            display,
            bus,
            monitor,
            keychain,
            driver,
            port,
            app,
            artifacts: artifacts.to_owned(),
        })
    }

    /// What the app has sent to the desktop's notification service so far,
    /// as `dbus-monitor` printed it.
    pub fn notifications(&self) -> String {
        std::fs::read_to_string(self.artifacts.join("notifications.log")).unwrap_or_default()
    }

    /// Starts the app with `args` and returns a WebDriver session on its window.
    pub async fn launch(&self, args: &[&str]) -> Window {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "tauri:options".into(),
            json!({ "application": self.app, "args": args }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a WebDriver session on the app");
        Window {
            client,
            artifacts: self.artifacts.clone(),
            started: Instant::now(),
        }
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        for process in [&mut self.keychain, &mut self.monitor, &mut self.bus] {
            let _ = process.kill();
            let _ = process.wait();
        }
        let _ = self.display.kill();
        let _ = self.display.wait();
    }
}

/// Repeats a panic's message after its backtrace: a walk through the
/// window prints hundreds of lines, and a log cut in the middle (as CI
/// shows it) then still ends with why it failed.
fn say_why_last() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let first = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            first(info);
            eprintln!("failed: {info}");
        }));
    });
}

/// Tries at an element the window re-rendered between finding and using
/// it (a stale element) gets before the test gives up.
const ATTEMPTS: usize = 5;

/// The app's window, driven through WebDriver.
pub struct Window {
    client: Client,
    artifacts: PathBuf,
    started: Instant,
}

/// How long the window gets to show what a step expects.
const PATIENCE: Duration = Duration::from_secs(60);

impl Window {
    /// Waits until JavaScript `predicate` (a function body returning a
    /// truthy value) holds in the page; panics with `what` if it never does.
    pub async fn until(&self, what: &str, predicate: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let last = match self.execute(predicate).await {
                Ok(value) if truthy(&value) => {
                    eprintln!(
                        "[{:>6.1} s] window shows {what}",
                        self.started.elapsed().as_secs_f64()
                    );
                    return value;
                }
                Ok(value) => value,
                Err(e) => json!(e.to_string()),
            };
            if Instant::now() > deadline {
                let message = self.text("#message").await;
                // Where the focus is, and whether a redraw is due: what
                // holds a page back from showing news.
                let page = self
                    .client
                    .execute(
                        "const a = document.activeElement; \
                         return `focus: ${a?.tagName}#${a?.id} ${a?.name ?? ''}; redrawing: ${!!document.querySelector('[data-rendering]')}`;",
                        vec![],
                    )
                    .await
                    .map_or_else(|e| e.to_string(), |v| v.to_string());
                let shot = self.artifacts.join("failure.png");
                self.screenshot(&shot).await;
                panic!(
                    "the window never showed {what} (last: {last}; message: {message:?}; {page}; \
                     screenshot and driver log in {})",
                    self.artifacts.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs JavaScript `script` (a function body) in the page; its result.
    pub async fn run(&self, script: &str) -> Value {
        self.execute(script)
            .await
            .unwrap_or_else(|e| panic!("the page refused a script: {e}"))
    }

    /// Runs `script` in the page, giving up after [`PATIENCE`]: a driver
    /// that never answers fails the step instead of holding the run.
    async fn execute(&self, script: &str) -> Result<Value, String> {
        match tokio::time::timeout(PATIENCE, self.client.execute(script, vec![])).await {
            Ok(outcome) => outcome.map_err(|e| e.to_string()),
            Err(_) => Err(format!("the driver did not answer within {PATIENCE:?}")),
        }
    }

    /// Fills the form at `css` (field name, value) and sends it as the
    /// user's Enter would (`requestSubmit`, so the page's handler runs).
    pub async fn submit(&self, css: &str, fields: &[(&str, &str)]) {
        let script = "const [css, fields] = arguments; const f = document.querySelector(css); \
            for (const [name, value] of fields) f[name].value = value; \
            f.requestSubmit(); return true;";
        let fields = fields
            .iter()
            .map(|(name, value)| json!([name, value]))
            .collect();
        self.client
            .execute(script, vec![json!(css), Value::Array(fields)])
            .await
            .unwrap_or_else(|e| panic!("cannot send the form {css}: {e}"));
    }

    /// Waits for the element at `css` to be shown, with no redraw due that
    /// could move it from under the pointer (`data-rendering`), and returns
    /// it.
    pub async fn shown(&self, css: &str) -> fantoccini::elements::Element {
        let script = format!(
            "const e = document.querySelector({css:?}); \
             return !!e && e.offsetParent !== null && !document.querySelector('[data-rendering]');"
        );
        // The window may re-render between the check and the find.
        for _ in 1..ATTEMPTS {
            self.until(&format!("{css} shown"), &script).await;
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                return element;
            }
        }
        self.until(&format!("{css} shown"), &script).await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("cannot find {css}: {e}"))
    }

    /// Types `text` into the field at `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        for attempt in 1..=ATTEMPTS {
            match self.shown(css).await.send_keys(text).await {
                Ok(()) => return,
                Err(e) if attempt == ATTEMPTS => panic!("cannot type into {css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Clicks the element at `css`.
    /// A click on a tab is checked to have chosen it: one that lands while
    /// a member's change redraws the page is lost (WebKitWebDriver says it
    /// clicked), and a user would click again; so does this.
    pub async fn click(&self, css: &str) {
        let chosen = format!(
            "const e = document.querySelector({css:?}); \
             return !e || e.getAttribute('role') !== 'tab' || e.getAttribute('aria-selected') === 'true';"
        );
        for attempt in 1..=ATTEMPTS {
            match self.shown(css).await.click().await {
                Ok(_) if self.holds_within(&chosen, Duration::from_secs(3)).await => return,
                Ok(_) if attempt == ATTEMPTS => panic!("the click on {css} never chose it"),
                Err(e) if attempt == ATTEMPTS => panic!("cannot click {css}: {e}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Whether JavaScript `predicate` holds in the page within `wait`.
    async fn holds_within(&self, predicate: &str, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if let Ok(value) = self.execute(predicate).await {
                if truthy(&value) {
                    return true;
                }
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the element at `css` (empty if there is none).
    pub async fn text(&self, css: &str) -> String {
        let script =
            format!("const e = document.querySelector({css:?}); return e ? e.textContent : '';");
        self.client
            .execute(&script, vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The values of every note box, in order.
    pub async fn note_values(&self) -> Vec<String> {
        let script =
            "return [...document.querySelectorAll('textarea.note-text')].map(t => t.value);";
        match self.client.execute(script, vec![]).await {
            Ok(Value::Array(values)) => values
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The folder for logs and screenshots.
    pub fn artifacts(&self) -> &Path {
        &self.artifacts
    }

    /// A PNG of the window, for a failing test's folder.
    pub async fn screenshot(&self, to: &Path) {
        // WebKitWebDriver has been seen never to answer a screenshot; a
        // failing test must still fail, not hang.
        let shot = tokio::time::timeout(Duration::from_secs(20), self.client.screenshot());
        if let Ok(Ok(png)) = shot.await {
            let _ = std::fs::write(to, png);
        }
    }

    /// Closes the window, which quits the app.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

fn truthy(value: &Value) -> bool {
    !matches!(value, Value::Null | Value::Bool(false))
        && value.as_str() != Some("")
        && value.as_u64() != Some(0)
}

/// Process ids of running app binaries whose command line names `home`.
pub fn app_processes(home: &Path) -> Vec<u32> {
    let home = home.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let mut args = cmdline.split(|b| *b == 0);
            let program = args.next()?;
            let is_app = program.ends_with(b"circlekeep-app");
            (is_app && args.any(|a| a == home)).then_some(pid)
        })
        .collect()
}

/// A Secret Service on the private bus (GNOME Keyring, its keyrings in
/// `dir`, afresh, its login keyring unlocked), for the app's keychain.
fn start_keychain(daemon: PathBuf, bus_address: &str, dir: &Path) -> Result<Child, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("run")).map_err(|e| e.to_string())?;
    let mut child = Command::new(daemon)
        .args(["--foreground", "--unlock", "--components=secrets"])
        .env("DBUS_SESSION_BUS_ADDRESS", bus_address)
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir)
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start gnome-keyring-daemon: {e}"))?;
    // The login keyring's password, read once from standard input.
    if let Some(mut input) = child.stdin.take() {
        use std::io::Write;
        input
            .write_all(b"test keyring password")
            .map_err(|e| format!("cannot unlock the keyring: {e}"))?;
    }
    Ok(child)
}

/// Starts `command` and reads the first line it prints (Xvfb's display
/// number, dbus-daemon's address); stops it if that line never comes.
fn start_and_read_line(command: &mut Command, what: &str) -> Result<(Child, String), String> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| format!("{what} printed nothing: {e}"))?;
    }
    let line = line.trim().to_owned();
    if line.is_empty() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("{what} printed nothing"));
    }
    Ok((child, line))
}

/// A tool from `PATH` or cargo's bin folder.
fn find_tool(name: &str) -> Result<PathBuf, String> {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|c| c.join("bin"));
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(cargo_bin)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| format!("{name} is not installed"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
