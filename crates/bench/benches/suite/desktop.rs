//! DESIGN §4's desktop figures, measured in the real app: the release app
//! binary in a virtual display, driven through tauri-driver like its user
//! drives it, joining and opening the generated two-year circle.

use circlekeep_bench::generator::{generate, CircleSpec};
use circlekeep_bench::report::Figure;
use circlekeep_bench::{BenchError, Result};
use circlekeep_engine::{Engine, Home, SecretString};
use circlekeep_tests::cli::LOOPBACK;
use circlekeep_tests::desktop::{Desktop, Window};
use circlekeep_tests::Peer;
use std::path::Path;
use std::time::Duration;

const PASSPHRASE: &str = "bench passphrase";
/// How long the app sits idle before its memory is read.
const IDLE: Duration = Duration::from_secs(10);

/// Starts a stall meter in the page: a 10 ms interval that records how late
/// it ever ran (how long the window's main thread was blocked).
const STALL_METER: &str = "window.__stall = 0; let last = performance.now(); \
    setInterval(() => { const now = performance.now(); \
    window.__stall = Math.max(window.__stall, now - last - 10); last = now; }, 10); return true;";

/// Runs `start` (a click in the page), then measures in the page how long
/// until JavaScript condition `done` holds, watching every DOM change.
async fn time_in_page(window: &Window, start_css: &str, done: &str) -> Result<f64> {
    let arm = format!(
        "window.__took = null; const button = document.querySelector({start_css:?}); \
         button.addEventListener('click', () => {{ const t0 = performance.now(); \
           const check = () => {{ if (window.__took === null && (() => {{ {done} }})()) \
             {{ window.__took = performance.now() - t0; observer.disconnect(); }} }}; \
           const observer = new MutationObserver(check); \
           observer.observe(document.body, {{ subtree: true, childList: true, characterData: true, attributes: true }}); \
         }}, {{ capture: true, once: true }}); return true;"
    );
    window.run(&arm).await;
    window.click(start_css).await;
    let took = window
        .until("the measured step done", "return window.__took;")
        .await;
    took.as_f64()
        .ok_or_else(|| BenchError::Check("no time measured in the page".into()))
}

/// Proportional memory (PSS) of the app and every process under it (the
/// web and network processes of the webview), in bytes.
fn app_memory(app_name: &str) -> u64 {
    let procs: Vec<(u32, u32, String)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let name = stat.split('(').nth(1)?.split(')').next()?.to_owned();
            let ppid = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid, name))
        })
        .collect();
    let mut tree: Vec<u32> = procs
        .iter()
        .filter(|(_, _, name)| name == app_name)
        .map(|(pid, _, _)| *pid)
        .collect();
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(procs.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    let mut total = 0;
    for pid in tree {
        let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
            continue;
        };
        let pss_kb = rollup
            .lines()
            .find(|l| l.starts_with("Pss:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0);
        let name = procs
            .iter()
            .find(|p| p.0 == pid)
            .map_or("?", |p| p.2.as_str());
        println!("  {name} (pid {pid}): {:.1} MB", pss_kb as f64 / 1e3);
        total += pss_kb * 1024;
    }
    total
}

/// The desktop figures; none when this machine cannot run the window (what
/// is missing is printed).
pub async fn desktop(quick: bool, out: &Path) -> Result<Vec<Figure>> {
    let desktop = match Desktop::start(&out.join("desktop")) {
        Ok(desktop) => desktop,
        Err(missing) => {
            println!("  desktop figures not measured: {missing}");
            return Ok(Vec::new());
        }
    };
    let spec = if quick {
        CircleSpec {
            gatherings: 13,
            ..CircleSpec::TWO_YEARS
        }
    } else {
        CircleSpec::TWO_YEARS
    };
    let generated = generate(spec)?;
    let founder: &Peer = &generated.devices[0];
    let founder_node = founder.node().await;
    let (secret, expires) = founder
        .engine()
        .create_invite(generated.circle, Duration::from_secs(600))?;
    let ticket = founder_node
        .ticket(generated.circle, secret, expires)
        .to_string();

    // The newcomer's identity exists; the app unlocks it and joins.
    let dir = tempfile::tempdir()?;
    let home = Home::new(dir.path().join("newcomer"));
    drop(Engine::init(
        &home,
        "Newcomer",
        &SecretString::from(PASSPHRASE.to_owned()),
        10,
    )?);
    let home_arg = home.root().display().to_string();
    let mut args = vec!["--home", home_arg.as_str()];
    args.extend(LOOPBACK);
    let notes_shown = "return document.querySelectorAll('textarea.note-text').length > 0;";

    let window = desktop.launch(&args).await;
    window.type_into("#unlock-pass", PASSPHRASE).await;
    window.click("#unlock-form button").await;
    window.shown("#join-ticket").await;
    // The same app holding no circle yet: the floor the shell and webview set.
    tokio::time::sleep(IDLE).await;
    println!("  idle, no circle yet:");
    let empty_memory = app_memory("circlekeep-app");
    window.type_into("#join-ticket", &ticket).await;
    window.run(STALL_METER).await;
    let catch_up = time_in_page(&window, "#join-form button", notes_shown).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stall = window
        .run("return window.__stall;")
        .await
        .as_f64()
        .unwrap_or(f64::NAN);
    window.close().await;
    founder_node.shutdown().await;

    // Reopened: unlock to the first screen of the circle, then idle.
    let window = desktop.launch(&args).await;
    window.type_into("#unlock-pass", PASSPHRASE).await;
    let first_screen = time_in_page(&window, "#unlock-form button", notes_shown).await?;
    tokio::time::sleep(IDLE).await;
    println!("  idle, holding the circle:");
    let memory = app_memory("circlekeep-app");
    window.close().await;

    let label = format!("{} members, {} gatherings", spec.members, spec.gatherings);
    Ok(vec![
        Figure::bounded(
            &format!("app: join by ticket until the latest notes show, {label}"),
            catch_up / 1e3,
            "s",
            2.0,
        ),
        Figure::bounded(
            &format!("app: longest stall of the window during that catch-up, {label}"),
            stall,
            "ms",
            100.0,
        ),
        Figure::bounded(
            &format!("app: unlock to first screen of the circle, {label}"),
            first_screen,
            "ms",
            1000.0,
        ),
        Figure::bounded(
            &format!("app: idle memory (PSS, app and webview processes), {label}"),
            memory as f64 / 1e6,
            "MB",
            150.0,
        ),
        Figure::plain(
            "app: idle memory of the same app holding no circle",
            empty_memory as f64 / 1e6,
            "MB",
        ),
    ])
}
