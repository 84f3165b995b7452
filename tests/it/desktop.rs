//! The desktop app end to end, as its user sees it: the real app binary in
//! a virtual display, driven through tauri-driver and WebKitWebDriver, syncing
//! over real iroh on loopback with a member who uses the command line.
//! Invariants 1, 4, 5 and 6 through the window.
//!
//! Needs Xvfb, WebKitWebDriver and tauri-driver (`./scripts/run-tests`
//! installs them). Without them the test says what is missing and passes,
//! unless `CIRCLEKEEP_REQUIRE_DESKTOP=1` (set by `run-tests` and CI).

use chrono::Datelike;
use circlekeep_engine::{Engine, Home, SecretString};
use circlekeep_tests::cli::{serve_keeper, Device, Serve, LOOPBACK, PASSPHRASE};
use circlekeep_tests::desktop::{app_processes, Desktop, Window};
use circlekeep_tests::{eventually, files_containing};

const CIRCLE: &str = "Thursday circle";
const DATE: &str = "2026-11-26";
const ADA_NOTE: &str = "hello from Ada's laptop";
const BO_NOTE: &str = "DESKTOP-MARKER-71c2: I will ask for help sooner";
const ADA_LATER: &str = "Ada, after Bo joined";
const BO_TYPED: &str = " (Bo agrees)";
const JOURNAL: &str = "JOURNAL-MARKER-5be1: I held back again today";
const DRAFT: &str = "half a thought, not yet added";
const EXTRA_STEP: &str = "Celebrate milestones";
const CONTRACT: &str = "Ask one question in every meeting";
/// Ada's contract from before the gathering, and the one Bo records for her.
const LAST_TIME: &str = "Bring the budget draft";
const NEXT_TIME: &str = "Delegate the offsite planning";
const BO_NEXT_TIME: &str = "Ask for help before Friday";
const RELAY_URL: &str = "https://relay.example.org/";
const CHARTER_RULE: &str = "We start on time, and we end on time.";
const OFF_RECORD: &str = "OFF-RECORD-MARKER-3d9a: said in confidence";
const MILESTONE: &str = "Spoke first in the Monday meeting";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_joins_types_and_syncs_in_the_desktop_app() {
    // Logs and failure screenshots outlive the run; so do the members'
    // folders (with Ada's `serve` log and Bo's app log) when it fails.
    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("desktop-e2e");
    let _ = std::fs::remove_dir_all(artifacts.join("failed-run"));
    let dir = tempfile::tempdir().expect("tempdir");
    let _keep = KeptOnFailure(dir.path(), artifacts.join("failed-run"));
    let desktop = match Desktop::start(&artifacts) {
        Ok(desktop) => desktop,
        Err(missing) if std::env::var_os("CIRCLEKEEP_REQUIRE_DESKTOP").is_none() => {
            eprintln!("skipping the desktop end-to-end test: {missing}");
            return;
        }
        Err(missing) => panic!("the desktop end-to-end test cannot run: {missing}"),
    };

    // Ada uses the command line: a circle with one gathering and a note,
    // served on loopback, and an invite for Bo.
    let ada_home = dir.path().join("ada");
    let ada = Device { home: &ada_home };
    ada.ok(&["init", "--name", "Ada", "--kdf-work-factor", "10"]);
    // History shared with newcomers, so Bo reads the note from before joining.
    ada.ok(&[
        "circle",
        "create",
        CIRCLE,
        "--history",
        "newcomers-see-history",
    ]);
    ada.ok(&["gathering", "new", CIRCLE, "--date", DATE]);
    ada.ok(&["note", "add", CIRCLE, ADA_NOTE]);
    // On a port of its own, so it is found again at the ticket's address
    // after a restart (relays and discovery are off here).
    let port = circlekeep_tests::free_udp_port();
    let serve_log = dir.path().join("ada-serve.log");
    let serve = ada.serve_at(&serve_log, port);
    // Bo clicks the invite link Ada sent: the app starts with it.
    let link = ada.json(&["invite", CIRCLE, "--expires", "1h"])["link"]
        .as_str()
        .expect("link")
        .to_owned();
    assert!(link.starts_with("circlekeep://invite1/"), "{link}");
    // Ada's laptop closes before Bo gets to join.
    drop(serve);

    // Bo uses the app, on loopback only.
    let bo_home = dir.path().join("bo");
    let bo_home_arg = bo_home.display().to_string();
    // Exports go to a folder given on the command line instead of a native
    // save dialog (which WebDriver cannot drive).
    let exports = dir.path().join("bo-exports");
    std::fs::create_dir_all(&exports).expect("exports folder");
    let exports_arg = exports.display().to_string();
    let mut args = vec![
        "--home",
        bo_home_arg.as_str(),
        "--exports",
        exports_arg.as_str(),
    ];
    args.extend(LOOPBACK);
    let mut first_args = args.clone();
    first_args.push(&link);
    let window = desktop.launch(&first_args).await;
    let (window, _serve) = first_run(window, &link, || {
        ada.serve_at(&dir.path().join("ada-serve-again.log"), port)
    })
    .await;
    a_link_opened_later_reaches_the_running_window(&window, &bo_home).await;
    diagnostics_without_content(&window).await;
    change_the_passphrase_and_back(&window).await;
    lock_now_and_when_idle(&window).await;

    // What Bo did in the window reached Ada over the network.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let texts = ada.note_texts(CIRCLE, DATE);
        let typed = texts.iter().any(|t| t == &format!("{ADA_NOTE}{BO_TYPED}"));
        if texts.iter().any(|t| t == BO_NOTE) && typed {
            break;
        }
        if std::time::Instant::now() > deadline {
            window
                .screenshot(&window.artifacts().join("failure.png"))
                .await;
            panic!("Ada never received Bo's notes: {texts:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let goals = ada.json(&["goal", "list", CIRCLE]);
    assert!(
        goals.to_string().contains("Speak up in meetings"),
        "{goals}"
    );
    run_the_gathering(&window, &ada).await;
    looking_back(&window, &ada).await;
    // The circle meets on Thursdays from a week or two ahead, whenever this runs.
    let mut first = circlekeep_engine::today() + chrono::Days::new(7);
    while first.weekday() != chrono::Weekday::Thu {
        first = first + chrono::Days::new(1);
    }
    keepsakes(&window, &exports, first).await;
    sync_by_file(&window, &ada, &exports, dir.path()).await;
    a_keeper_through_the_window(&window, &ada, dir.path()).await;
    schedule_changes(&window, &ada, first).await;
    circle_life(&window, &ada, first).await;
    // The gathering Ada brought forward to tomorrow is announced to the
    // desktop's notification service too, once.
    let announced = |log: &str| log.matches("Thursday circle meets in").count();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while announced(&desktop.notifications()) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no notification: {}",
            desktop.notifications()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(desktop.notifications().contains("member=Notify"));
    assert_eq!(announced(&desktop.notifications()), 1, "announced once");
    // Bo's contracts from the gathering are due there: he is told, once,
    // without their words.
    let log = desktop.notifications();
    assert_eq!(
        log.matches("Thursday circle: report back on your").count(),
        1,
        "{log}"
    );
    assert!(!log.contains(BO_NEXT_TIME), "{log}");

    // Ada writes; the open window shows it without being asked, and what Bo
    // had begun in a form (then looked away from) survives the redraw.
    window.type_into("#new-note", DRAFT).await;
    window
        .run("document.activeElement.blur(); document.getElementById('circle-name').dataset.before = ''; return true;")
        .await;
    ada.ok(&["note", "add", CIRCLE, ADA_LATER, "--gathering", DATE]);
    window
        .until(
            "Ada's new note",
            &format!("return [...document.querySelectorAll('textarea.note-text')].some(t => t.value === {ADA_LATER:?});"),
        )
        .await;
    window
        .until(
            "the redrawn circle",
            "return !document.querySelector('#circle-name[data-before]');",
        )
        .await;
    assert_eq!(
        window
            .run("return document.getElementById('new-note').value;")
            .await,
        DRAFT,
        "the half-written note after the redraw"
    );
    add_and_remove_a_device(&window, dir.path()).await;
    window.close().await;

    // Nothing Bo wrote lies readable in Bo's data folder, its log included
    // (which has something in it).
    let logged: u64 = std::fs::read_dir(bo_home.join("logs"))
        .expect("the app's log folder")
        .filter_map(Result::ok)
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(logged > 0, "the app logged nothing to its file");
    assert_eq!(
        files_containing(&bo_home, BO_NOTE),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(
        files_containing(&bo_home, CIRCLE),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(
        files_containing(&bo_home, JOURNAL),
        Vec::<std::path::PathBuf>::new()
    );
    // The passphrase Bo asked the keychain to keep is in the keychain's
    // own (sealed) file, not in Bo's data folder.
    assert_eq!(
        files_containing(&bo_home, PASSPHRASE),
        Vec::<std::path::PathBuf>::new()
    );

    // Reopened: the passphrase kept in the keychain opens it at once.
    let window = desktop.launch(&args).await;
    window
        .until(
            "opened by the keychain, without the passphrase",
            &format!("return !document.getElementById('home').hidden && !document.getElementById('kept-passphrase').hidden \
                      && [...document.querySelectorAll('textarea.note-text')].some(t => t.value === {BO_NOTE:?});"),
        )
        .await;
    window
        .until(
            "the notes after reopening",
            &format!("const v = [...document.querySelectorAll('textarea.note-text')].map(t => t.value); return v.includes({BO_NOTE:?}) && v.includes({ADA_LATER:?});"),
        )
        .await;
    // The reopened app remembers it announced tomorrow's gathering (it
    // looks at reminders as soon as it is unlocked).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        announced(&desktop.notifications()),
        1,
        "announced again after reopening: {}",
        desktop.notifications()
    );

    // Bo forgets it here: the next start asks again (the tests below).
    window.click("#lock-panel summary").await;
    window.click("#forget-passphrase").await;
    window
        .until(
            "the passphrase forgotten",
            "return document.getElementById('message').textContent.startsWith('Forgotten') && document.getElementById('kept-passphrase').hidden;",
        )
        .await;
    window.click("#lock-panel summary").await;

    a_copied_key_is_flagged(&window, &ada, dir.path()).await;
    a_short_series(&window, &ada).await;

    // Bo leaves the circle: Ada's device re-keys it without Bo, and Bo's
    // window says nothing new will reach it (what Bo holds stays).
    // Leaving asks first (in the page, not `window.confirm`): Cancel keeps
    // Bo in the circle.
    window.click("#tab-members").await;
    answer(&window, "#leave-circle", false).await;
    sees(&ada, &["member", "list", CIRCLE], "Bo still in", &|m| {
        m.as_array().is_some_and(|l| l.len() == 2)
    })
    .await;
    assert_eq!(
        window
            .run("return !!document.getElementById('leave-circle');")
            .await,
        true
    );
    answer(&window, "#leave-circle", true).await;
    window
        .until(
            "the circle left",
            "return document.getElementById('circle-view').textContent.includes('no longer a member') && !document.getElementById('leave-circle');",
        )
        .await;
    sees(&ada, &["member", "list", CIRCLE], "Bo gone", &|m| {
        m.as_array()
            .is_some_and(|l| l.len() == 1 && l[0]["name"] == "Ada")
    })
    .await;
    an_invitation_waits_for_consent(&window, &ada).await;

    // Logging out sends SIGTERM: the app quits cleanly (node stopped, caches
    // written, data folder released) and everything is still there.
    let running = app_processes(&bo_home);
    assert_eq!(running.len(), 1, "one app on Bo's folder: {running:?}");
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &running[0].to_string()])
        .status()
        .expect("kill");
    assert!(signalled.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !app_processes(&bo_home).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the app ignored SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(artifacts.join("tauri-driver.log")).unwrap_or_default();
    assert!(
        log.contains("asked to stop; quitting"),
        "no clean stop logged"
    );
    let engine = Engine::open(
        &Home::new(&bo_home),
        &SecretString::from(PASSPHRASE.to_owned()),
    )
    .expect("Bo's data folder opens after the app quit");
    let circle = engine.find_circle(CIRCLE).expect("circle");
    let texts: Vec<String> = engine
        .notes(circle, None)
        .expect("notes")
        .into_iter()
        .flat_map(|g| g.notes)
        .map(|n| n.text)
        .collect();
    assert!(texts.iter().any(|t| t == BO_NOTE), "{texts:?}");
    assert!(texts.iter().any(|t| t == ADA_LATER), "{texts:?}");
    assert_eq!(
        engine.setting("relay").expect("setting").as_deref(),
        Some(RELAY_URL),
        "the relay saved in the app"
    );
    drop(engine);
    window.close().await;

    // A new computer: the saved key file and backup bring Bo's circle and
    // journal back, once the passphrase opens the key.
    assert_eq!(
        std::fs::read(exports.join("circlekeep-identity.age")).expect("saved key file"),
        std::fs::read(bo_home.join("identity.age")).expect("key file"),
    );
    let backup = std::fs::read_dir(&exports)
        .expect("exports")
        .filter_map(Result::ok)
        .map(|f| f.path())
        .find(|p| p.to_string_lossy().contains("circlekeep-backup-"))
        .expect("the backup");
    let new_home = dir.path().join("bo-new-laptop");
    let new_home_arg = new_home.display().to_string();
    let mut args = vec!["--home", new_home_arg.as_str()];
    args.extend(LOOPBACK);
    let window = desktop.launch(&args).await;
    window.click("#restore summary").await;
    window
        .type_into(
            "#restore-key",
            &exports
                .join("circlekeep-identity.age")
                .display()
                .to_string(),
        )
        .await;
    window
        .type_into("#restore-backup", &backup.display().to_string())
        .await;
    window.type_into("#restore-pass", PASSPHRASE).await;
    window.click("#restore-form button").await;
    window
        .until(
            "the restored circle and its notes",
            &format!("return document.getElementById('message').textContent.startsWith('Restored 1 circle') && [...document.querySelectorAll('textarea.note-text')].some(t => t.value === {BO_NOTE:?});"),
        )
        .await;
    window.click("#tab-journal").await;
    window
        .until(
            "the restored journal",
            &format!(
                "return document.getElementById('journal')?.textContent.includes({JOURNAL:?});"
            ),
        )
        .await;
    window.close().await;
    assert_eq!(
        files_containing(&new_home, JOURNAL),
        Vec::<std::path::PathBuf>::new()
    );

    // Ada's laptop, in the app: linked with a ticket from Ada's serving
    // device, it holds Ada's two circles (the one Bo left and the one he
    // accepted), as Ada.
    let ticket = ada.json(&["device", "add"])["ticket"]
        .as_str()
        .expect("ticket")
        .to_owned();
    let laptop_home = dir.path().join("ada-laptop");
    let laptop_home_arg = laptop_home.display().to_string();
    let mut args = vec!["--home", laptop_home_arg.as_str()];
    args.extend(LOOPBACK);
    let window = desktop.launch(&args).await;
    window.click("#link-device summary").await;
    window.type_into("#link-ticket", &ticket).await;
    window.type_into("#link-name", "Ada").await;
    window.type_into("#link-pass", PASSPHRASE).await;
    window.type_into("#link-pass2", PASSPHRASE).await;
    window.click("#link-form button").await;
    // One circle: in the second, Ada was its guide and handed over.
    window
        .until(
            "Ada's circles on her laptop",
            &format!("return document.getElementById('message').textContent.startsWith('This computer is linked, in 1 circle') && [...document.querySelectorAll('#circles button.circle')].some(b => b.textContent.startsWith({CIRCLE:?}));"),
        )
        .await;
    // The laptop hands out Ada's card on its own (its attestation):
    // Ada's fingerprint, never a person of its own.
    let fingerprint = ada.json(&["id"])["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    window
        .until(
            "the laptop's card is Ada's",
            &format!("return document.getElementById('card').textContent.startsWith('circlekeep-member2:') && document.getElementById('fingerprint').textContent === {fingerprint:?};"),
        )
        .await;
    window
        .screenshot(&window.artifacts().join("linked-laptop.png"))
        .await;
    window.close().await;
    let devices = ada.json(&["device", "list"]);
    assert_eq!(devices.as_array().map(Vec::len), Some(2), "{devices}");
}

/// Copies a folder elsewhere if the test fails while it is in scope.
struct KeptOnFailure<'a>(&'a std::path::Path, std::path::PathBuf);

impl Drop for KeptOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = std::process::Command::new("cp")
                .arg("-r")
                .arg(self.0)
                .arg(&self.1)
                .status();
        }
    }
}

/// Sync files both ways: Bo saves one from the window that Ada's command
/// line imports, and opens one Ada made.
async fn sync_by_file(
    window: &Window,
    ada: &Device<'_>,
    exports: &std::path::Path,
    dir: &std::path::Path,
) {
    window.click("#tab-members").await;
    window.click("#export-bundle").await;
    window
        .until(
            "the sync file saved",
            "return document.getElementById('message').textContent.startsWith('Saved to');",
        )
        .await;
    // Named after the circle and the day: Thursday-circle-sync-DATE.ckb.
    let from_bo = std::fs::read_dir(exports)
        .expect("exports folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "ckb"))
        .expect("a sync file saved");
    assert!(
        from_bo
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("Thursday-circle-sync-")),
        "{}",
        from_bo.display()
    );
    let report = ada.json(&["bundle", "import", &from_bo.display().to_string()]);
    assert_eq!(
        report["rejected"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    assert!(
        report["duplicates"].as_u64().unwrap_or(0) > 0,
        "Bo's file holds what Ada already has: {report}"
    );

    let to_bo = dir.join("from-ada.ckb");
    ada.ok(&["bundle", "export", CIRCLE, &to_bo.display().to_string()]);
    window.click("#sync-file summary").await;
    window
        .type_into("#import-bundle", &to_bo.display().to_string())
        .await;
    window.click("#import-bundle-form button").await;
    window
        .until(
            "the sync file opened",
            "return /^Sync file opened: \\d+ new records?, \\d+ already here\\.$/.test(document.getElementById('message').textContent);",
        )
        .await;
    window
        .screenshot(&window.artifacts().join("sync-by-file.png"))
        .await;
    window.click("#sync-file summary").await;
}

/// Bo enrols a keeper in the window; the row says when it is reachable,
/// Ada's serving device learns it through the circle and reaches it too,
/// and removing it asks first.
async fn a_keeper_through_the_window(window: &Window, ada: &Device<'_>, dir: &std::path::Path) {
    let port = circlekeep_tests::free_udp_port();
    let (keeper, ticket) = serve_keeper(&dir.join("keeper-box"), port);
    // The view may redraw under a click (the sync file just opened), and
    // the keeper's row says whether it is reachable as of its drawing:
    // click the tab again until it shows what is expected, as a user would.
    members_tab_shows(
        window,
        "the Members tab without keepers",
        "return !!document.getElementById('no-keepers');",
    )
    .await;
    window.type_into("#add-keeper-form textarea", &ticket).await;
    window.click("#add-keeper-form button").await;
    let keeper_id = ticket_keeper(&ticket);
    members_tab_shows(
        window,
        "the keeper reachable",
        &format!("const row = document.querySelector('#keepers tr[data-keeper={keeper_id:?}]'); return !!row && row.querySelector('.sync').textContent.startsWith('reachable');"),
    )
    .await;
    window
        .screenshot(&window.artifacts().join("keepers.png"))
        .await;
    sees(
        ada,
        &["circle", "keeper", "list", CIRCLE],
        "Ada reaches the keeper",
        &|k| k[0]["keeper"]["id"] == keeper_id.as_str() && k[0]["status"]["connected"] == true,
    )
    .await;
    answer(window, "#keepers button.danger", true).await;
    window.shown("#no-keepers").await;
    sees(
        ada,
        &["circle", "keeper", "list", CIRCLE],
        "the keeper gone for Ada",
        &|k| k.as_array().is_some_and(Vec::is_empty),
    )
    .await;
    drop(keeper);
}

/// Clicks the Members tab until `predicate` holds there (within a minute).
async fn members_tab_shows(window: &Window, what: &str, predicate: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        window.click("#tab-members").await;
        if window.run(predicate).await == serde_json::Value::Bool(true) {
            return;
        }
        if std::time::Instant::now() > deadline {
            window
                .screenshot(&window.artifacts().join("failure.png"))
                .await;
            panic!("the Members tab never showed {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// The keeper a ticket names (as `circlekeep` reads it).
fn ticket_keeper(ticket: &str) -> String {
    let parsed: circlekeep_sync::KeeperTicket = ticket.parse().expect("a keeper ticket");
    parsed.keeper.to_hex()
}

/// Ada copies her key file onto a second computer by hand (restoring a
/// backup there would link a new device instead) and restores her backup
/// into it while her laptop lives on, and both write: the copy's note
/// reaches Bo by file, and Bo's window warns that Ada's key signed two
/// different records for one place.
async fn a_copied_key_is_flagged(window: &Window, ada: &Device<'_>, dir: &std::path::Path) {
    let backup = dir.join("ada-backup.age").display().to_string();
    ada.ok(&["backup", &backup]);
    let copy_home = dir.join("ada-copy");
    let copy = Device { home: &copy_home };
    std::fs::create_dir_all(&copy_home).expect("copy home");
    std::fs::copy(
        ada.home.join("identity.age"),
        copy_home.join("identity.age"),
    )
    .expect("the key copied by hand");
    copy.ok(&["restore", &backup]);
    const LAPTOP: &str = "written on Ada's laptop";
    ada.ok(&["note", "add", CIRCLE, LAPTOP, "--gathering", DATE]);
    window
        .until(
            "the laptop's note",
            &format!("return [...document.querySelectorAll('textarea.note-text')].some(t => t.value === {LAPTOP:?});"),
        )
        .await;
    copy.ok(&[
        "note",
        "add",
        CIRCLE,
        "written on the restored copy",
        "--gathering",
        DATE,
    ]);
    let file = dir.join("from-the-copy.ckb").display().to_string();
    copy.ok(&["bundle", "export", CIRCLE, &file]);
    window.click("#sync-file summary").await;
    window.type_into("#import-bundle", &file).await;
    window.click("#import-bundle-form button").await;
    window
        .until(
            "the fork warning",
            "return [...document.querySelectorAll('.fork-notice')].some(p => p.textContent.startsWith(\"Ada's device\") && p.textContent.includes('two different records'));",
        )
        .await;
    window
        .screenshot(&window.artifacts().join("fork-notice.png"))
        .await;
    window.click("#sync-file summary").await;
}

/// Ada adds Bo to a second circle by the card his window shows: it waits
/// in the window as an invitation (listed as one, with Accept) until Bo
/// presses Accept; then it is Bo's like any other.
async fn an_invitation_waits_for_consent(window: &Window, ada: &Device<'_>) {
    const SECOND: &str = "Second circle";
    const LATER: &str = "written once Bo accepted";
    let card = window
        .run("return document.getElementById('card').textContent;")
        .await;
    let card = card.as_str().expect("Bo's card").to_owned();
    ada.ok(&["circle", "create", SECOND]);
    ada.ok(&["member", "add", SECOND, &card]);
    window
        .until(
            "the invitation in the list",
            &format!("return [...document.querySelectorAll('#circles button.circle')].some(b => b.textContent.startsWith({SECOND:?}) && b.textContent.endsWith(' invitation'));"),
        )
        .await;
    window
        .run(&format!("[...document.querySelectorAll('#circles button.circle')].find(b => b.textContent.startsWith({SECOND:?})).click(); return true;"))
        .await;
    window
        .until(
            "the invitation, waiting",
            &format!("return document.getElementById('circle-name')?.textContent === {SECOND:?} && !!document.getElementById('accept-circle');"),
        )
        .await;
    // Its Members tab offers nothing the engine would refuse before Accept.
    window.click("#tab-members").await;
    window
        .until(
            "an invitation's members, with nothing to act on",
            "return !!document.querySelector('#members tbody tr') && !document.querySelector('#members button.danger') && !document.getElementById('make-invite') && !document.getElementById('add-member-form');",
        )
        .await;
    window.click("#tab-gatherings").await;
    window.run("window.scrollTo(0, 0); return true;").await;
    window
        .screenshot(&window.artifacts().join("invitation.png"))
        .await;
    window.click("#accept-circle").await;
    window
        .until(
            "the circle accepted",
            "return !document.getElementById('invitation') && !!document.getElementById('tab-gatherings');",
        )
        .await;
    // Opened after Bo joined: a since-joining circle's earlier gatherings
    // stay sealed to a newcomer.
    ada.ok(&["gathering", "new", SECOND, "--date", DATE]);
    ada.ok(&["note", "add", SECOND, LATER, "--gathering", DATE]);
    window
        .until(
            "the accepted circle, synced",
            &format!("return !document.getElementById('invitation') && [...document.querySelectorAll('textarea.note-text')].some(t => t.value === {LATER:?});"),
        )
        .await;
    guide_hands_over(window, ada, SECOND).await;
}

/// Ada guides `circle` for its first three gatherings; its charter tab then
/// offers Bo the hand-over (no command-line advice), which asks first,
/// then removes Ada (the circle is re-keyed) and thanks her.
async fn guide_hands_over(window: &Window, ada: &Device<'_>, circle: &str) {
    ada.ok(&["circle", "setup", circle, "--guide", "Ada"]);
    for day in ["2026-09-03", "2026-09-17"] {
        ada.ok(&["gathering", "new", circle, "--date", day]);
    }
    window.click("#tab-charter").await;
    window
        .until(
            "the hand-over prompt",
            "const p = document.getElementById('guide-prompt'); return !!document.getElementById('hand-over') && !!p \
             && p.textContent.includes('Ada has guided 3 gatherings') && !p.textContent.includes('circlekeep');",
        )
        .await;
    answer(window, "#hand-over", true).await;
    window
        .until(
            "Ada thanked, and gone",
            "return document.getElementById('message').textContent === 'Thank you, Ada, for guiding the circle.' && !document.getElementById('hand-over');",
        )
        .await;
    window.click("#tab-members").await;
    window
        .until(
            "Bo alone in the circle",
            "const rows = [...document.querySelectorAll('#members tbody tr')]; return rows.length === 1 && rows[0].textContent.includes('Bo');",
        )
        .await;
}

/// Bo looks back in the window: search finds the note Ada typed on her
/// device; Bo answers the pulse, which shows a count and no averages while
/// fewer than three answered; the retrospective counts the gathering.
async fn looking_back(window: &Window, ada: &Device<'_>) {
    tabs_by_keyboard(window).await;
    window.click("#tab-reflect").await;
    window
        .until(
            "the search form",
            "return !!document.getElementById('search-form') && !document.getElementById('circle-view').hasAttribute('data-rendering');",
        )
        .await;
    window
        .submit("#search-form", &[("text", "ADA'S laptop")])
        .await;
    window
        .until(
            "Ada's note found",
            &format!(
                "const r = document.getElementById('search-results'); return !!r && r.children.length === 1 \
                 && r.textContent.includes({ADA_NOTE:?}) && r.querySelector('.meta').textContent.includes('Ada');"
            ),
        )
        .await;
    window.submit("#retro-form", &[]).await;
    window
        .until(
            "the retrospective",
            "return document.getElementById('retro')?.textContent.includes('1 gathering held');",
        )
        .await;
    window
        .screenshot(&window.artifacts().join("look-back.png"))
        .await;
    ada.ok(&[
        "gathering",
        "pulse",
        CIRCLE,
        "--heard",
        "4",
        "--useful",
        "5",
        "--time-fair",
        "4",
    ]);
    window.click("#tab-gatherings").await;
    window
        .until(
            "the pulse form",
            "return !!document.getElementById('pulse-form') && !document.getElementById('circle-view').hasAttribute('data-rendering');",
        )
        .await;
    window
        .submit(
            "#pulse-form",
            &[("heard", "5"), ("useful", "4"), ("time_fair", "3")],
        )
        .await;
    window
        .until(
            "both answers counted, no averages shown",
            "const p = document.getElementById('pulse-summary')?.textContent ?? ''; \
             return p.startsWith('2 of 3 answers') && document.getElementById('message').dataset.kind === 'ok' \
               && document.getElementById('pulse-form').nextElementSibling === document.getElementById('message');",
        )
        .await;
    window
        .screenshot(&window.artifacts().join("pulse.png"))
        .await;
    let pulse = ada.json(&[
        "gathering",
        "pulse",
        CIRCLE,
        "--heard",
        "4",
        "--useful",
        "5",
        "--time-fair",
        "4",
    ]);
    assert!(pulse["heard"].is_null(), "{pulse}");
}

/// Bo takes things out of the app: the gathering as Markdown, the year as
/// .ics, a journal entry of Bo's own, and a backup.
async fn keepsakes(window: &Window, exports: &std::path::Path, first: chrono::NaiveDate) {
    let saved = |what: &str| {
        format!("return document.getElementById('message').textContent.startsWith({what:?});")
    };
    window.click("#tab-gatherings").await;
    window.click("#export-markdown").await;
    window.until("the Markdown saved", &saved("Saved to")).await;
    let markdown = std::fs::read_to_string(exports.join("Thursday-circle-2026-11-26.md"))
        .expect("the gathering as Markdown");
    assert!(
        markdown.contains(BO_NOTE) && markdown.contains(ADA_NOTE),
        "{markdown}"
    );
    // The walk as it went: Ada's check-in, the report back, both turns'
    // contracts, and nothing of the turn off the record.
    for walked in [
        "### Ada, speaking (",
        &format!("## Report back\n\n- Ada: {LAST_TIME} — **partly**. the budget came late (reported by Bo)"),
        "## Contracts until next time",
        &format!("- Bo: {BO_NEXT_TIME}\n"),
        &format!("- Ada: {NEXT_TIME} (recorded by Bo)"),
        "_Off the record: no notes were kept._",
    ] {
        assert!(markdown.contains(walked), "{walked:?} in {markdown}");
    }
    assert!(!markdown.contains(OFF_RECORD), "{markdown}");
    // The retrospective says the same of the contracts.
    window.click("#tab-reflect").await;
    window
        .until(
            "the retrospective form",
            "return !!document.getElementById('export-retro') && !document.getElementById('circle-view').hasAttribute('data-rendering');",
        )
        .await;
    window.click("#export-retro").await;
    window
        .until(
            "the retrospective saved",
            "return /^Saved to .*retrospective\\.md/.test(document.getElementById('message').textContent);",
        )
        .await;
    let retro = std::fs::read_to_string(exports.join("Thursday-circle-retrospective.md"))
        .expect("the retrospective as Markdown");
    for walked in [
        "1 gathering held.",
        "## Contracts made",
        &format!("- Ada: {LAST_TIME} — **partly**. the budget came late"),
        &format!("- Bo: {BO_NEXT_TIME} — **open**."),
        &format!("- Ada: {NEXT_TIME} — **open**."),
    ] {
        assert!(retro.contains(walked), "{walked:?} in {retro}");
    }

    // The circle gets its rhythm in the window; the year's plan follows.
    window.click("#tab-charter").await;
    // Typing keeps the form in place while the circle changes underneath.
    window
        .type_into("#setup-circle-form input[name=purpose]", "Grow as leaders")
        .await;
    window
        .type_into("#setup-circle-form input[name=place]", "Community room")
        .await;
    window
        .type_into("#setup-circle-form input[name=roles]", "lunch")
        .await;
    window
        .run(&format!(
            "document.getElementById('setup-circle-form').first.value = '{first}'; return true;"
        ))
        .await;
    window.click("#setup-circle-form button").await;
    window
        .until(
            "the planned gatherings",
            &format!("const li = document.querySelector(\"#schedule li[data-date='{first}']\"); return document.querySelector('.purpose')?.textContent === 'Grow as leaders' && !!li && li.textContent.includes('18:30') && li.textContent.includes('at Community room') \
                && /facilitator: .*, lunch: (Ada|Bo)/.test(li.textContent) \
                && document.getElementById('rhythm')?.textContent.startsWith('Every 2 weeks on ') && !document.getElementById('rhythm').textContent.includes('{first}') && [...document.querySelectorAll(\"form[id^=swap-] select[name=role] option\")].some(o => o.value === 'lunch');"),
        )
        .await;
    // The form keeps the rhythm it set: a new time alone is taken (it used
    // to be ignored without a first date), said as a success, not an error.
    for time in ["19:15", "18:30"] {
        window
            .until(
                "the form showing the rhythm",
                &format!("const f = document.getElementById('setup-circle-form'); return f && f.first.value === '{first}' && f.time.value !== '{time}';"),
            )
            .await;
        window.submit("#setup-circle-form", &[("time", time)]).await;
        window
            .until(
                "the new time",
                &format!("const m = document.getElementById('message'); const li = document.querySelector(\"#schedule li[data-date='{first}']\"); return m.dataset.kind === 'ok' && m.textContent.includes('new rhythm') && !!li && li.textContent.includes('{time}') \
                          && document.getElementById('setup-circle-form').nextElementSibling === m;"),
            )
            .await;
    }
    window.click("#export-ics").await;
    window.until("the calendar saved", &saved("Saved to")).await;
    let ics =
        std::fs::read_to_string(exports.join("Thursday-circle.ics")).expect("the year as .ics");
    assert!(ics.starts_with("BEGIN:VCALENDAR"), "{ics}");
    assert!(
        ics.matches("BEGIN:VEVENT").count() >= 20,
        "a year of gatherings: {ics}"
    );
    assert_eq!(
        ics.matches("LOCATION:Community room").count(),
        ics.matches("BEGIN:VEVENT").count(),
        "every event says where: {ics}"
    );

    window.click("#tab-journal").await;
    window.type_into("#journal-text", JOURNAL).await;
    window.click("#journal-form button").await;
    window
        .until(
            "the journal entry",
            &format!(
                "return document.getElementById('journal')?.textContent.includes({JOURNAL:?});"
            ),
        )
        .await;

    window
        .run("document.getElementById('backup').click(); return true;")
        .await;
    window
        .until("the backup saved", &saved("Backup saved to"))
        .await;
    let backup = std::fs::read_dir(exports)
        .expect("exports")
        .filter_map(Result::ok)
        .find(|f| {
            f.file_name()
                .to_string_lossy()
                .starts_with("circlekeep-backup-")
        })
        .map(|f| std::fs::read(f.path()).expect("backup"))
        .expect("a backup file");
    assert!(backup.starts_with(b"age-encryption.org/v1\n"));
    // The key file, saved beside the backup, is the one in Bo's folder.
    window
        .run("document.getElementById('save-key').click(); return true;")
        .await;
    window
        .until("the key file saved", &saved("Key file saved to"))
        .await;
    assert!(!backup
        .windows(JOURNAL.len())
        .any(|w| w == JOURNAL.as_bytes()));
    window.click("#tab-gatherings").await;
}

/// Bo runs the gathering from the window while Ada follows (and takes a
/// turn) from the command line: steps, attendance, a time request, turns
/// with their timer, and an off-the-record turn that closes the notes.
async fn run_the_gathering(window: &Window, ada: &Device<'_>) {
    let state = ["gathering", "show", CIRCLE, "--gathering", DATE];
    let row = |name: &str| {
        format!("[...document.querySelectorAll('#airtime tbody tr')].find(r => r.cells[0].textContent === {name:?})")
    };
    window.shown("#run").await;
    // Ada made a contract outside a gathering; it is reported back here.
    ada.ok(&["contract", "add", CIRCLE, LAST_TIME]);
    // The opening brings the charter's ground rules to the table.
    window
        .until(
            "the ground rules at the opening",
            "return document.querySelector('#step-brief h4')?.textContent === 'Ground rules';",
        )
        .await;
    // Bo, at the head of the table, runs the gathering in the room view
    // and moves it on with the keys; the table of who is here and who
    // asks for time, which the room does not need to see, is outside it.
    room(window, true).await;
    window
        .until(
            "the ground rules in the room view",
            &format!("return document.getElementById('room-step')?.textContent.startsWith('Open') \
                      && document.getElementById('ground-rules')?.getClientRects().length > 0 && document.getElementById('ground-rules').textContent.includes({:?});",
                "what is said in the circle stays in the circle"),
        )
        .await;
    room_step(window, "Check-in").await;
    room(window, false).await;

    // Bo marks Ada here; she checks in; Bo asks for 12 minutes.
    window
        .run(&format!(
            "{}.querySelector('input.present').click(); return true;",
            row("Ada")
        ))
        .await;
    window
        .until(
            "Ada marked here",
            &format!("return {}?.cells[1].textContent === 'here';", row("Ada")),
        )
        .await;
    check_in(window, ada, &row("Ada")).await;
    // Rows are redrawn as changes arrive; find Bo's by member id each time.
    let bo = window
        .run(&format!("return {}.dataset.member;", row("Bo")))
        .await;
    let bo = bo.as_str().expect("Bo's row names Bo's member id");
    window
        .type_into(
            &format!("#airtime tr[data-member='{bo}'] input.request"),
            "12",
        )
        .await;
    window
        .run("document.activeElement.blur(); return true;")
        .await;
    window
        .until(
            "Bo's 12 minutes fitted",
            &format!("return {}?.cells[3].textContent === '12 min';", row("Bo")),
        )
        .await;
    sees(
        ada,
        &state,
        "the step, the attendance and the request",
        &|s| {
            let step = s["agenda"][1]["current"] == true;
            let airtime = s["airtime"].as_array().cloned().unwrap_or_default();
            let of = |name: &str| {
                airtime
                    .iter()
                    .find(|a| a["member"]["name"] == name)
                    .cloned()
            };
            step && of("Ada").is_some_and(|a| a["present"] == true)
                && of("Bo").is_some_and(|a| a["requested"] == 12)
        },
    )
    .await;
    room(window, true).await;
    room_step(window, "Report back").await;
    report_back_for_ada(window, ada).await;
    room_step(window, "Time requests").await;
    room_step(window, "Turns").await;
    room(window, false).await;
    window
        .until(
            "the turns step, where time is a turn",
            "return document.querySelector('#agenda li.current .step-title')?.textContent === 'Turns' && [...document.querySelectorAll('button.start-turn')].every(b => b.textContent === 'Start turn');",
        )
        .await;

    // Bo's turn, with the feedback Bo wants: the timer counts down from the
    // 12 minutes fitted, and Ada's device shows the same turn.
    window
        .type_into(
            "#turn-options input[name=feedback]",
            "Ask me hard questions",
        )
        .await;
    window
        .run(&format!(
            "{}.querySelector('button.start-turn').click(); return true;",
            row("Bo")
        ))
        .await;
    window
        .until(
            "Bo's turn with its timer",
            "const t = document.getElementById('turn'); return !!t && t.textContent.includes(\"Bo's turn\") && /1[12]:[0-5][0-9] left of 12 min/.test(document.getElementById('turn-clock').textContent);",
        )
        .await;
    // One turn at a time; the timer is readable across a table and comes
    // first; Bo's airtime runs with it.
    window
        .until(
            "a big timer above the agenda, no other turn to start, Bo's airtime running",
            &format!(
                "const clock = document.getElementById('turn-clock'); const agenda = document.getElementById('agenda'); \
                 const starts = [...document.querySelectorAll('button.start-turn')]; \
                 return parseFloat(getComputedStyle(clock).fontSize) >= 40 && clock.getBoundingClientRect().top < agenda.getBoundingClientRect().top \
                   && starts.length > 0 && starts.every(b => b.disabled) && document.querySelector('#turn-options button').disabled \
                   && {}.querySelector('td.airtime').textContent !== '0:00';",
                row("Bo")
            ),
        )
        .await;
    // The room sees Bo's time in type read across it; the turn is paused,
    // resumed and ended there.
    room(window, true).await;
    window
        .until(
            "Bo's time in the room view",
            "const clock = document.getElementById('turn-clock'); \
             return parseFloat(getComputedStyle(clock).fontSize) >= 80 && document.getElementById('turn').textContent.includes(\"Bo's turn\");",
        )
        .await;
    // What Bo asked of that turn is not carried over to the next one.
    window
        .until(
            "the turn options start afresh",
            "const f = document.querySelector('#turn-options'); return !!f && f.feedback.value === '' && !f.offRecord.checked;",
        )
        .await;
    sees(ada, &state, "Bo's turn", &|s| {
        let t = &s["current_turn"];
        t["member"]["name"] == "Bo"
            && t["allotted"] == 12
            && t["feedback_wanted"] == "Ask me hard questions"
    })
    .await;
    pause_and_resume(window, ada, &state).await;
    // Bo ends his turn with his contract until next time.
    window.click("#end-turn").await;
    window
        .type_into("#contract-dialog[open] input[name=text]", BO_NEXT_TIME)
        .await;
    window.click("#save-contract").await;
    window
        .until(
            "Bo's contract made here, in the room view",
            &format!("const m = document.getElementById('made-here'); return !document.querySelector('dialog') && !!m && m.getClientRects().length > 0 && m.textContent.includes({BO_NEXT_TIME:?});"),
        )
        .await;
    room(window, false).await;

    // Ada takes an off-the-record turn: the window stops
    // offering to add notes until it ends.
    ada.ok(&[
        "turn",
        "start",
        CIRCLE,
        "Ada",
        "--off-record",
        "--minutes",
        "5",
    ]);
    window
        .until(
            "Ada's off-the-record turn",
            "return !!document.getElementById('off-record') && !document.getElementById('add-note-form') && document.getElementById('turn')?.textContent.includes(\"Ada's turn\");",
        )
        .await;
    // Nor is anything typed into the notes there are: the boxes are
    // read-only, and an edit forced past them is refused, not saved.
    window
        .until(
            "the note boxes read-only",
            "const b = [...document.querySelectorAll('textarea.note-text')]; return b.length > 0 && b.every(t => t.readOnly);",
        )
        .await;
    window
        .run(&format!("const t = document.querySelector('textarea.note-text'); t.value += {OFF_RECORD:?}; t.dispatchEvent(new Event('input')); return true;"))
        .await;
    window
        .until(
            "the forced edit refused",
            "return document.querySelector('.note span.saved')?.textContent === 'not saved';",
        )
        .await;
    window
        .screenshot(&window.artifacts().join("gathering.png"))
        .await;
    // Ending the turn asks for Ada's contract until next time; Bo, at the
    // laptop, records it for her.
    window.click("#end-turn").await;
    window
        .type_into("#contract-dialog[open] input[name=text]", NEXT_TIME)
        .await;
    window.click("#save-contract").await;
    sees(
        ada,
        &["contract", "list", CIRCLE],
        "her contract, recorded by Bo",
        &|list| {
            list.as_array().is_some_and(|l| {
                l.iter().any(|k| {
                    k["text"] == NEXT_TIME
                        && k["owner_name"] == "Ada"
                        && k["recorded_by"]["name"] == "Bo"
                })
            })
        },
    )
    .await;
    window
        .until(
            "the contract made here, recorded by Bo",
            &format!("const m = document.getElementById('made-here'); return !document.querySelector('dialog') && !!m && m.textContent.includes({NEXT_TIME:?}) && m.textContent.includes('(recorded by Bo)');"),
        )
        .await;
    window
        .until(
            "the notes open again, and turns can start",
            "return !!document.getElementById('add-note-form') && document.getElementById('turn')?.classList.contains('idle') && [...document.querySelectorAll('button.start-turn')].some(b => !b.disabled);",
        )
        .await;
    sees(ada, &state, "Ada's check-in and both turns ended", &|s| {
        s["current_turn"].is_null() && s["turns"].as_array().is_some_and(|t| t.len() == 3)
    })
    .await;
    let mut texts = ada.note_texts(CIRCLE, DATE);
    texts.extend(window.note_values().await);
    assert!(
        !texts.iter().any(|t| t.contains(OFF_RECORD)),
        "nothing of the off-the-record turn was kept: {texts:?}"
    );
    window
        .until(
            "the note boxes open again",
            "return [...document.querySelectorAll('textarea.note-text')].every(t => !t.readOnly);",
        )
        .await;

    // The agenda is the circle's to change: a step added, then taken out.
    let has_step = |s: &serde_json::Value| {
        s["agenda"]
            .as_array()
            .is_some_and(|a| a.iter().any(|step| step["title"] == EXTRA_STEP))
    };
    window
        .submit("#add-step-form", &[("title", EXTRA_STEP), ("minutes", "4")])
        .await;
    sees(ada, &state, "the added step", &has_step).await;
    window
        .until(
            "the added step",
            &format!("return [...document.querySelectorAll('#agenda .step-title')].some(b => b.textContent === {EXTRA_STEP:?});"),
        )
        .await;
    // Taking a step out asks first (it goes for everyone); Cancel keeps it.
    let remove = "#agenda li:last-child button.remove-step";
    answer(window, remove, false).await;
    assert_eq!(
        window
            .run(&format!("return [...document.querySelectorAll('#agenda .step-title')].some(b => b.textContent === {EXTRA_STEP:?});"))
            .await,
        true
    );
    answer(window, remove, true).await;
    sees(ada, &state, "the step taken out", &|s| !has_step(s)).await;
    room_view(window, ada).await;
}

/// A short series from the window: starting it sets both days; Ada's
/// action set at the first is carried into the second, whose close shows
/// the series in review.
async fn a_short_series(window: &Window, ada: &Device<'_>) {
    const ACTION: &str = "Try the new agenda at work";
    window.click("#tab-gatherings").await;
    // Choosing the template asks for the day it reports back (filled and
    // sent at once: a redraw would not keep untouched fields).
    let asked = window
        .run("const f = document.getElementById('open-gathering-form'); const shown = () => getComputedStyle(f.reportOn.closest('label')).display !== 'none'; \
              const before = shown(); f.template.value = 'series-start'; f.template.dispatchEvent(new Event('change')); \
              const asked = !before && shown(); \
              f.date.value = '2027-03-01'; f.reportOn.value = '2027-03-15'; if (asked) f.requestSubmit(); return asked;")
        .await;
    assert_eq!(asked, true, "the template asks for the report-back day");
    window
        .until(
            "the series started, its report next",
            "return [...document.querySelectorAll('.gatherings .series')].some(s => s.textContent.includes('reports back on')) \
             && document.getElementById('open-gathering-form')?.template.value === 'series-report';",
        )
        .await;
    sees(ada, &["gathering", "list", CIRCLE], "the series", &|g| {
        g.as_array()
            .is_some_and(|l| l.iter().any(|g| g["report_on"] == "2027-03-15"))
    })
    .await;
    ada.ok(&[
        "contract",
        "add",
        CIRCLE,
        ACTION,
        "--gathering",
        "2027-03-01",
    ]);
    // Ada's action reaches the window (the series' first gathering, shown,
    // lists it) before Bo opens the report.
    window
        .until(
            "Ada's action at the series' start",
            &format!("return document.getElementById('made-here')?.textContent.includes({ACTION:?}) && !document.getElementById('circle-view').hasAttribute('data-rendering');"),
        )
        .await;
    window
        .run("const f = document.getElementById('open-gathering-form'); f.date.value = '2027-03-15'; f.requestSubmit(); return true;")
        .await;
    window
        .until(
            "the series' report opened",
            "return [...document.querySelectorAll('.gatherings .series')].some(s => s.textContent.trim() === 'short series: report back');",
        )
        .await;
    window
        .until(
            "the series' report, its close step",
            "const close = [...document.querySelectorAll('#agenda .step-title')].find(b => b.textContent === 'Close'); \
             if (close && !document.getElementById('series-review')) close.click(); return !!close;",
        )
        .await;
    window
        .until(
            "the series in review",
            &format!(
                "return document.getElementById('series-review')?.textContent.includes({:?});",
                format!("Ada: {ACTION} — not reported")
            ),
        )
        .await;
    window
        .screenshot(&window.artifacts().join("series-review.png"))
        .await;
    // The close, read out to the room: the next gathering's roles to
    // confirm round the table, and the series in review.
    room_key(window, "r").await;
    window
        .until(
            "the next roles and the review in the room view",
            "const roles = document.getElementById('next-roles'); return document.body.classList.contains('room') \
             && roles?.getClientRects().length > 0 && !!roles.querySelector('[data-role=facilitator] strong') \
             && document.getElementById('series-review')?.getClientRects().length > 0;",
        )
        .await;
    window
        .screenshot(&window.artifacts().join("room-close.png"))
        .await;
    room_key(window, "r").await;
    window
        .until(
            "the room view left",
            "return !document.body.classList.contains('room');",
        )
        .await;
}

/// At the check-in Ada speaks: her time counts as airtime, yet it is no
/// turn, so it ends without asking for a contract.
async fn check_in(window: &Window, ada: &Device<'_>, ada_row: &str) {
    window
        .run(&format!(
            "{ada_row}.querySelector('button.start-turn').click(); return true;"
        ))
        .await;
    window
        .until(
            "Ada speaking at the check-in",
            "return document.getElementById('turn')?.textContent.includes('Ada speaking') && document.getElementById('end-turn')?.textContent === 'Done speaking' && document.querySelector('#turn-options input[name=feedback]').hidden;",
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    window.click("#end-turn").await;
    window
        .until(
            "her airtime counted, no contract asked, still waiting for a turn",
            &format!("return document.getElementById('turn')?.classList.contains('idle') && !document.querySelector('dialog') \
                && {ada_row}?.querySelector('td.airtime').textContent !== '0:00' && document.getElementById('waiting').textContent.includes('Ada');"),
        )
        .await;
    let state = ["gathering", "show", CIRCLE, "--gathering", DATE];
    sees(ada, &state, "Ada's check-in, speaking time", &|s| {
        s["turns"][0]["speaking"] == true && s["current_turn"].is_null()
    })
    .await;
}

/// Pause stops the turn's clock for everyone (said in words, not only
/// by a dimmed clock); P, a key, starts it again.
async fn pause_and_resume(window: &Window, ada: &Device<'_>, state: &[&str]) {
    window.click("#pause-turn").await;
    window
        .until(
            "the turn paused",
            "return document.getElementById('turn-stage')?.textContent === 'Paused' \
             && document.getElementById('pause-turn')?.textContent === 'Resume';",
        )
        .await;
    sees(ada, state, "the turn paused", &|s| {
        s["current_turn"]["paused"] == true
    })
    .await;
    window
        .screenshot(&window.artifacts().join("turn-paused.png"))
        .await;
    let clock = window.text("#turn-clock").await;
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert_eq!(
        window.text("#turn-clock").await,
        clock,
        "a paused clock stands still"
    );
    window
        .run("document.activeElement?.blur(); document.dispatchEvent(new KeyboardEvent('keydown', { key: 'p', bubbles: true })); return true;")
        .await;
    window
        .until(
            "the turn resumed by its key",
            "return document.getElementById('pause-turn')?.textContent === 'Pause' \
             && document.getElementById('turn-stage')?.textContent !== 'Paused';",
        )
        .await;
    sees(ada, state, "the turn resumed", &|s| {
        s["current_turn"]["paused"] == false
    })
    .await;
}

/// Turns the room view on or off (the R key), and waits until it is.
async fn room(window: &Window, on: bool) {
    room_key(window, "r").await;
    window
        .until(
            if on {
                "the room view"
            } else {
                "the room view left"
            },
            &format!("return document.body.classList.contains('room') === {on};"),
        )
        .await;
}

/// Moves the agenda on (→) to the step titled `title`, in the room view.
async fn room_step(window: &Window, title: &str) {
    room_key(window, "ArrowRight").await;
    window
        .until(
            &format!("the room view at {title}"),
            &format!(
                "return document.getElementById('room-step')?.textContent.startsWith({title:?});"
            ),
        )
        .await;
}

/// Presses `key` in the window, as at the head of the table (no field
/// focused).
async fn room_key(window: &Window, key: &str) {
    window
        .run(&format!("document.activeElement?.blur(); document.dispatchEvent(new KeyboardEvent('keydown', {{ key: {key:?}, bubbles: true }})); return true;"))
        .await;
}

/// The room view and the keys: R fills the window with the step, the
/// presenter's time and who has not had a turn, in large type; → moves the
/// agenda on for everyone, through the appreciations to the close; R again
/// leaves it.
async fn room_view(window: &Window, ada: &Device<'_>) {
    room_key(window, "r").await;
    window
        .until(
            "the room view",
            "const step = document.getElementById('room-step'); return document.body.classList.contains('room') && !!step \
             && step.textContent.startsWith('Turns') && parseFloat(getComputedStyle(step).fontSize) >= 30 \
             && getComputedStyle(document.getElementById('run')).position === 'fixed' \
             && document.getElementById('room-waiting').textContent.length > 0;",
        )
        .await;
    window
        .screenshot(&window.artifacts().join("room-view.png"))
        .await;
    room_key(window, "ArrowRight").await;
    let state = ["gathering", "show", CIRCLE, "--gathering", DATE];
    sees(ada, &state, "the next step, moved on by a key", &|s| {
        s["agenda"][5]["current"] == true
    })
    .await;
    window
        .until(
            "the room view following the step",
            "return document.getElementById('room-step')?.textContent === 'Appreciations';",
        )
        .await;
    // The close: with no rhythm set yet, the room is told where to set it.
    room_key(window, "ArrowRight").await;
    window
        .until(
            "the close in the room view",
            "return document.getElementById('room-step')?.textContent.startsWith('Close') \
             && document.getElementById('next-gathering')?.textContent.includes('set the circle\\'s rhythm');",
        )
        .await;
    room_key(window, "R").await;
    window
        .until(
            "the room view left",
            "return !document.body.classList.contains('room') && getComputedStyle(document.getElementById('run')).position !== 'fixed';",
        )
        .await;
}

/// Ada's contract from before, in the report back: Bo, at the laptop, says
/// how it went for her; Ada's device shows it, reported by Bo.
async fn report_back_for_ada(window: &Window, ada: &Device<'_>) {
    window
        .until(
            "Ada's contract to report back on, in the room view",
            &format!("return document.querySelector('#report-back form[id^=report-back-]')?.getClientRects().length > 0 && document.getElementById('report-back').textContent.includes({LAST_TIME:?}) && !document.getElementById('circle-view').hasAttribute('data-rendering');"),
        )
        .await;
    window
        .submit(
            "#report-back form[id^=report-back-]",
            &[
                ("outcome", "partly"),
                ("reflection", "the budget came late"),
            ],
        )
        .await;
    sees(
        ada,
        &["contract", "list", CIRCLE],
        "the report back",
        &|list| {
            list.as_array().is_some_and(|l| {
                l.iter().any(|k| {
                    k["text"] == LAST_TIME
                        && k["outcome"] == "partly"
                        && k["reported_by"]["name"] == "Bo"
                })
            })
        },
    )
    .await;
    window
        .until(
            "reported by Bo, still listed",
            "return document.getElementById('report-back')?.textContent.includes('(reported by Bo)');",
        )
        .await;
}

/// Bo links a laptop from the window: *Add a device* shows the ticket and
/// its QR code, the laptop joins with the ticket from the command line as
/// Bo, the window shows the code and both devices; removing the laptop asks
/// first (Cancel keeps it), then retires it.
async fn add_and_remove_a_device(window: &Window, dir: &std::path::Path) {
    window.click("#devices summary").await;
    window
        .until(
            "Bo's one device",
            "return document.querySelectorAll('#device-list li').length === 1;",
        )
        .await;
    window.click("#add-device").await;
    window
        .until(
            "the device ticket as a QR code",
            "const q = document.getElementById('device-qr'); return !document.getElementById('device-link').hidden && Number(q.dataset.modules) >= 21 && q.width > 100 && document.getElementById('device-ticket').textContent.startsWith('circlekeep-device1:');",
        )
        .await;
    window
        .screenshot(&window.artifacts().join("add-device.png"))
        .await;
    let ticket = window.text("#device-ticket").await;
    let laptop_home = dir.join("bo-laptop");
    let laptop = Device { home: &laptop_home };
    let mut join = vec![
        "device",
        "join",
        ticket.as_str(),
        "--name",
        "Bo",
        "--kdf-work-factor",
        "10",
    ];
    join.extend(LOOPBACK);
    let linked = laptop.json(&join);
    assert_eq!(linked["circles"], 1, "{linked}");
    let code = linked["code"].as_str().expect("code").to_owned();
    window
        .until(
            "the linked laptop and its code",
            &format!("return document.getElementById('device-code').textContent.includes({code:?}) && document.querySelectorAll('#device-list li').length === 2;"),
        )
        .await;
    let bo = window
        .run("return [...document.querySelectorAll('#device-list li')].find(li => li.textContent.includes('this device')).dataset.device;")
        .await;
    assert_eq!(laptop.json(&["id"])["member"], bo, "the laptop is Bo");
    assert!(laptop.note_texts(CIRCLE, DATE).iter().any(|t| t == BO_NOTE));

    // Removing asks first; Cancel changes nothing.
    let remove = "#device-list button.retire-device";
    answer(window, remove, false).await;
    assert_eq!(
        window
            .run("return document.querySelectorAll('#device-list li').length;")
            .await,
        2
    );
    answer(window, remove, true).await;
    window
        .until(
            "the laptop retired",
            "return document.querySelectorAll('#device-list li').length === 1 && document.getElementById('message').textContent.includes('removed from 1 circle');",
        )
        .await;
}

/// Clicks `trigger` and answers the in-page question it asks: the dialog
/// must be there (an action that does not ask fails here), and is gone after.
async fn answer(window: &Window, trigger: &str, yes: bool) {
    window.click(trigger).await;
    let button = if yes { "yes" } else { "cancel" };
    window
        .click(&format!("dialog.ask[open] button[value={button}]"))
        .await;
    window
        .until(
            "the question answered",
            "return !document.querySelector('dialog.ask');",
        )
        .await;
}

/// Waits until `check` holds for what `device` answers to `args` (JSON).
async fn sees(
    device: &Device<'_>,
    args: &[&str],
    what: &str,
    check: &dyn Fn(&serde_json::Value) -> bool,
) {
    let mut last = serde_json::Value::Null;
    let held = eventually(std::time::Duration::from_secs(30), || {
        last = device.json(args);
        check(&last)
    })
    .await;
    assert!(held, "{} never saw {what}: {last}", device.home.display());
}

/// Where the moved gathering meets instead.
const ROOM: &str = "Room 9, Guild Hall";

/// Bo changes the schedule from the window: cannot come to the first
/// gathering, notes that Ada cannot come to the second (and then that she
/// can after all), cancels the third,
/// moves the second a day later to 19:00; Ada's device follows, and the
/// rota skips Bo where Bo is away.
async fn schedule_changes(window: &Window, ada: &Device<'_>, first: chrono::NaiveDate) {
    let [second, third] = [14, 28].map(|days| (first + chrono::Days::new(days)).to_string());
    let moved_to = (first + chrono::Days::new(15)).to_string();
    let first = first.to_string();
    let planned = |date: &str| format!("#schedule li[data-planned='{date}']");
    window.click("#tab-charter").await;
    window
        .click(&format!("{} button.absent", planned(&first)))
        .await;
    window
        .until(
            "Bo away from the first",
            &format!(
                "return document.querySelector({:?})?.textContent.includes('not coming: Bo');",
                planned(&first)
            ),
        )
        .await;
    // Ada told Bo she cannot come to the second (Ada is the only choice).
    window.submit(&format!("#absent-{second}"), &[]).await;
    window
        .until(
            "Ada away from the second",
            &format!(
                "return document.querySelector({:?})?.textContent.includes('not coming: Ada');",
                planned(&second)
            ),
        )
        .await;
    let schedule = ["schedule", "show", CIRCLE, "--from", first.as_str()];
    let ada_away = |s: &serde_json::Value| {
        s.as_array().is_some_and(|list| {
            list.iter().any(|p| {
                p["planned"] == second.as_str()
                    && p["absent"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|m| m["name"] == "Ada"))
            })
        })
    };
    sees(ada, &schedule, "Ada noted as not coming", &ada_away).await;
    // She can after all: the same form, now offering that.
    window.submit(&format!("#absent-{second}"), &[]).await;
    window
        .until(
            "Ada coming to the second after all",
            &format!(
                "const li = document.querySelector({:?}); return !!li && !li.textContent.includes('not coming: Ada');",
                planned(&second)
            ),
        )
        .await;
    // Cancelling is for everyone: it asks first, and "Keep it" keeps it.
    let cancel = format!("{} button.cancel", planned(&third));
    answer(window, &cancel, false).await;
    assert_eq!(
        window
            .run(&format!("return !document.querySelector(\"#schedule li.cancelled[data-planned='{third}']\");"))
            .await,
        true
    );
    answer(window, &cancel, true).await;
    window
        .until(
            "the third cancelled",
            &format!("return !!document.querySelector(\"#schedule li.cancelled[data-planned='{third}']\");"),
        )
        .await;
    // Filled and sent in one go: the list redraws as each change lands.
    window
        .submit(
            &format!("{} form", planned(&second)),
            &[("to", &moved_to), ("time", "19:00"), ("place", ROOM)],
        )
        .await;
    window
        .until(
            "the second moved, shown as a day in the locale, with its place",
            &format!(
                "const li = document.querySelector(\"#schedule li[data-planned='{second}'][data-date='{moved_to}']\");
                 const day = (d) => new Date(...d.split('-').map((n, i) => Number(n) - (i === 1 ? 1 : 0))).toLocaleDateString([], {{ dateStyle: 'medium' }});
                 return !!li && li.textContent.includes(day('{moved_to}') + ' 19:00 (moved from ' + day('{second}') + ')')
                   && li.textContent.includes('at {ROOM}') && !li.textContent.includes('{moved_to}');"
            ),
        )
        .await;
    sees(ada, &schedule, "Bo's schedule changes", &|s| {
        let list = s.as_array().cloned().unwrap_or_default();
        let on = |d: &str| list.iter().find(|p| p["planned"] == d).cloned();
        let bo_away = on(&first).is_some_and(|p| {
            p["absent"]
                .as_array()
                .is_some_and(|a| a.iter().any(|m| m["name"] == "Bo"))
                && p["roles"]
                    .as_object()
                    .is_some_and(|r| r.values().all(|m| m["name"] != "Bo"))
        });
        let cancelled = on(&third).is_some_and(|p| p["cancelled"] == true);
        let moved = on(&second).is_some_and(|p| {
            p["date"] == moved_to.as_str()
                && p["time"] == "19:00"
                && p["moved"] == true
                && p["place"] == ROOM
        });
        bo_away && !ada_away(s) && cancelled && moved
    })
    .await;
    window.click("#tab-gatherings").await;
}

/// Bo tends the circle from the window: rewrites the ground rules and
/// accepts them again, swaps a role between two gatherings, marks a goal's
/// milestone reached and the goal achieved; Ada's device follows. When Ada
/// brings a gathering forward to tomorrow, the window reminds Bo of it.
async fn circle_life(window: &Window, ada: &Device<'_>, first: chrono::NaiveDate) {
    // The ground rules, rewritten: everyone is asked to accept them again.
    window.click("#tab-charter").await;
    window
        .until(
            "the charter form",
            "return !!document.getElementById('edit-charter-form');",
        )
        .await;
    window
        .run(&format!(
            "const f = document.getElementById('edit-charter-form'); f.text.value += {:?}; f.requestSubmit(); return true;",
            format!("\n{CHARTER_RULE}")
        ))
        .await;
    window
        .until(
            "the new rule, to be accepted",
            &format!("return document.getElementById('charter')?.textContent.includes({CHARTER_RULE:?}) && !!document.getElementById('accept-charter');"),
        )
        .await;
    window.click("#accept-charter").await;
    window
        .until(
            "Bo's acceptance",
            "return !document.getElementById('accept-charter') && !document.getElementById('charter-prompt') && [...document.querySelectorAll('#acceptance li')].some(l => l.textContent === 'Bo: accepted');",
        )
        .await;
    sees(
        ada,
        &["charter", "show", CIRCLE],
        "the new charter accepted by Bo",
        &|c| {
            let accepted = c["accepted"].as_array().cloned().unwrap_or_default();
            c["text"]
                .as_str()
                .is_some_and(|t| t.ends_with(CHARTER_RULE))
                && accepted
                    .iter()
                    .any(|a| a["member"]["name"] == "Bo" && !a["accepted"].is_null())
                && accepted
                    .iter()
                    .any(|a| a["member"]["name"] == "Ada" && a["accepted"].is_null())
        },
    )
    .await;

    // Ada becomes the circle's guide (who helps launch it, then hands over).
    window
        .run("const f = document.getElementById('setup-circle-form'); const o = [...f.guide.options].find(o => o.textContent === 'Ada'); f.guide.value = o.value; f.requestSubmit(); return true;")
        .await;
    sees(
        ada,
        &["circle", "practice", CIRCLE],
        "Ada as the guide",
        &|p| p["guide"]["name"] == "Ada",
    )
    .await;

    // A role swapped between the moved second gathering and the fourth.
    let [second, fourth] = [14, 42].map(|days| (first + chrono::Days::new(days)).to_string());
    let schedule = ["schedule", "show", CIRCLE, "--from", &second];
    let holders = |s: &serde_json::Value, date: &str, role: &str| {
        s.as_array()
            .and_then(|l| l.iter().find(|p| p["planned"] == date))
            .map(|p| p["roles"][role]["name"].clone())
    };
    let before = ada.json(&schedule);
    let role = ["facilitator", "timekeeper", "host"]
        .into_iter()
        .find(|r| holders(&before, &second, r) != holders(&before, &fourth, r))
        .unwrap_or_else(|| panic!("no role differs between {second} and {fourth}: {before}"));
    window
        .submit(
            &format!("#swap-{second}"),
            &[("role", role), ("other", &fourth.to_string())],
        )
        .await;
    sees(ada, &schedule, "the swapped role", &|s| {
        holders(s, &second, role) == holders(&before, &fourth, role)
            && holders(s, &fourth, role) == holders(&before, &second, role)
    })
    .await;

    // A milestone reached and the goal achieved.
    window.click("#tab-goals").await;
    window
        .until(
            "the milestone form",
            "return !!document.querySelector('form[id^=milestone-]');",
        )
        .await;
    window
        .submit("form[id^=milestone-]", &[("text", MILESTONE)])
        .await;
    window.click(".milestone button.reach").await;
    window
        .until(
            "the milestone reached",
            &format!("return [...document.querySelectorAll('.milestone.reached')].some(m => m.textContent.includes({MILESTONE:?}));"),
        )
        .await;
    window
        .submit("form[id^=status-]", &[("status", "achieved")])
        .await;
    window
        .until(
            "the goal achieved",
            "return document.querySelector('.goal .status')?.textContent === 'achieved';",
        )
        .await;
    window
        .screenshot(&window.artifacts().join("goals.png"))
        .await;
    sees(ada, &["goal", "list", CIRCLE], "the goal achieved", &|g| {
        g.as_array().and_then(|l| l.first()).is_some_and(|g| {
            g["status"] == "achieved"
                && g["milestones"].as_array().is_some_and(|m| {
                    m.iter()
                        .any(|m| m["text"] == MILESTONE && !m["reached"].is_null())
                })
        })
    })
    .await;

    // A contract towards the goal, kept: Bo's history counts it.
    window
        .run(&format!(
            "const f = document.getElementById('add-contract-form'); f.text.value = {CONTRACT:?}; f.goal.selectedIndex = 1; f.requestSubmit(); return true;"
        ))
        .await;
    window
        .until(
            "the contract",
            &format!(
                "return document.getElementById('contracts')?.textContent.includes({CONTRACT:?});"
            ),
        )
        .await;
    window
        .submit(
            "#contracts form[id^=report-]",
            &[("outcome", "kept"), ("reflection", "Asked on Monday")],
        )
        .await;
    window
        .until(
            "Bo's contract history",
            "const r = [...document.querySelectorAll('#contract-history tbody tr')].find(r => r.cells[0].textContent === 'Bo'); return !!r && r.querySelector('.kept').textContent === '1';",
        )
        .await;
    sees(
        ada,
        &["contract", "history", CIRCLE],
        "Bo's kept contract",
        &|h| {
            h.as_array().is_some_and(|l| {
                l.iter()
                    .any(|m| m["member"]["name"] == "Bo" && m["kept"] == 1)
            })
        },
    )
    .await;

    // Ada brings the next gathering forward to tomorrow: Bo is reminded.
    window.click("#tab-charter").await;
    let tomorrow = (circlekeep_engine::today() + chrono::Days::new(1)).to_string();
    ada.ok(&["schedule", "move", CIRCLE, &second, &tomorrow]);
    window
        .until(
            "the reminder of tomorrow's gathering",
            &format!("return [...document.querySelectorAll('#reminders li.upcoming')].some(r => r.textContent.includes(new Date({tomorrow:?} + 'T12:00').toLocaleDateString([], {{ dateStyle: 'medium' }})) && !r.textContent.includes({tomorrow:?}));"),
        )
        .await;
    window
        .screenshot(&window.artifacts().join("reminder.png"))
        .await;

    // The circle's own relay, saved for when the app starts without the
    // flags that turn relays off in this run (so the node keeps running).
    window.click("#network summary").await;
    window
        .until(
            "the network settings",
            "return document.getElementById('network-state').textContent.startsWith('In use: relay disabled');",
        )
        .await;
    window
        .submit("#network-form", &[("relay", "custom"), ("url", RELAY_URL)])
        .await;
    window
        .until(
            "the saved relay",
            "return document.getElementById('message').textContent === 'Network settings saved.' && document.getElementById('network-state').textContent.includes('starts without its --relay');",
        )
        .await;
    window.click("#network summary").await;
    window.click("#tab-gatherings").await;
}

/// Bo's first run: create an identity, join by ticket (waiting, while the
/// inviter is offline, until `inviter_online` brings Ada's device back), read,
/// write, type. Returns the window and Ada's running `serve`.
/// *Change passphrase*: a wrong current passphrase is refused; the right
/// one changes it (and back, so Bo later unlocks with the one he chose).
async fn change_the_passphrase_and_back(window: &Window) {
    const NEW: &str = "a new passphrase for Bo";
    window.click("#passphrase-panel summary").await;
    let steps = [
        (
            "not Bo's passphrase",
            NEW,
            "That is not your current passphrase.",
        ),
        (PASSPHRASE, NEW, "Passphrase changed."),
        (NEW, PASSPHRASE, "Passphrase changed."),
    ];
    for (current, next, said) in steps {
        window
            .run("document.getElementById('message').textContent = ''; return true;")
            .await;
        window
            .submit(
                "#passphrase-form",
                &[("current", current), ("next", next), ("next2", next)],
            )
            .await;
        window
            .until(
                said,
                &format!(
                    "return document.getElementById('message').textContent.startsWith({said:?});"
                ),
            )
            .await;
    }
    window.click("#passphrase-panel summary").await;
}

/// Waits until the window's node is connected to Ada's again (after an
/// unlock), as a person would before locking it again. A lock within a
/// second of unlocking has left Ada's `serve` unable to reach Bo for over
/// a minute (seen twice; not yet understood: `docs/limitations.md`, sync
/// liveness after a quick lock).
async fn connected_to_ada(window: &Window) {
    window
        .until(
            "connected to Ada again",
            "return Number(document.getElementById('sync-state')?.dataset.connected) > 0;",
        )
        .await;
}

/// The circle's tabs are a tab list to a screen reader and a keyboard: ←
/// and → (Home, End) move between them, the focus follows, and the page
/// below is the panel of the tab chosen.
async fn tabs_by_keyboard(window: &Window) {
    let press = |key: &str| {
        format!("const t = document.activeElement; t.dispatchEvent(new KeyboardEvent('keydown', {{ key: {key:?}, bubbles: true }})); return t.id;")
    };
    let chosen = |id: &str| {
        format!("const t = document.getElementById({id:?}); const panel = document.getElementById('tab-panel'); \
                 return t.getAttribute('aria-selected') === 'true' && document.activeElement === t && t.tabIndex === 0 \
                 && panel?.getAttribute('role') === 'tabpanel' && panel.getAttribute('aria-labelledby') === {id:?} \
                 && document.querySelector('[role=tablist]').querySelectorAll('[tabindex=\"0\"]').length === 1;")
    };
    window
        .run("document.getElementById('tab-gatherings').focus(); return true;")
        .await;
    window.run(&press("ArrowRight")).await;
    window
        .until("the next tab, by its key", &chosen("tab-goals"))
        .await;
    window.run(&press("End")).await;
    window.until("the last tab", &chosen("tab-reflect")).await;
    window.run(&press("Home")).await;
    window
        .until("the first tab", &chosen("tab-gatherings"))
        .await;
}

/// *Lock* closes the data folder and shows the unlock screen with nothing
/// of the circle left in the page; so does leaving the app unused for the
/// chosen time (shortened here in the window's storage); the passphrase
/// opens it all again, and Bo has the keychain keep it.
async fn lock_now_and_when_idle(window: &Window) {
    let locked = format!(
        "return !document.getElementById('unlock').hidden && document.getElementById('home').hidden \
         && !document.body.textContent.includes({CIRCLE:?}) && ![...document.querySelectorAll('textarea')].some(t => t.value.includes({BO_NOTE:?}));"
    );
    let unlock = || async {
        window.type_into("#unlock-pass", PASSPHRASE).await;
        window.click("#unlock-form button").await;
        window
            .until(
                "the circle again",
                &format!("return [...document.querySelectorAll('textarea.note-text')].some(t => t.value === {BO_NOTE:?});"),
            )
            .await;
        connected_to_ada(window).await;
    };
    window.click("#lock-now").await;
    window.until("locked on demand", &locked).await;
    // A wrong passphrase is refused, beside the form.
    window.type_into("#unlock-pass", "not the passphrase").await;
    window.click("#unlock-form button").await;
    window
        .until(
            "the refusal",
            "return document.getElementById('message').textContent.includes('does not open') && document.getElementById('unlock-form').nextElementSibling?.id === 'message';",
        )
        .await;
    window
        .shown("#unlock-pass")
        .await
        .clear()
        .await
        .expect("clear");
    // Unlocking, Bo has the keychain keep the passphrase.
    window.click("#unlock-remember").await;
    unlock().await;
    window
        .until(
            "the passphrase kept in the keychain",
            "return !document.getElementById('kept-passphrase').hidden;",
        )
        .await;
    // Chosen in the Lock panel: kept, and said.
    window.click("#lock-panel summary").await;
    window
        .run("const c = document.getElementById('lock-after'); c.value = '300'; c.dispatchEvent(new Event('change')); return true;")
        .await;
    window
        .until(
            "the idle time kept",
            "return localStorage.getItem('circlekeep.lockAfter') === '300' && document.getElementById('message').textContent.startsWith('The app locks when');",
        )
        .await;
    window
        .run("localStorage.setItem('circlekeep.lockAfter', '2'); return true;")
        .await;
    // Locked, even a passphrase the keychain keeps is asked for again.
    window.until("locked when left unused", &locked).await;
    window
        .run("localStorage.setItem('circlekeep.lockAfter', '0'); return true;")
        .await;
    unlock().await;
    window.click("#lock-panel summary").await;
}

/// *Copy diagnostic info*: the version, system and sync state, and nothing
/// of the circle, its members or its notes.
async fn diagnostics_without_content(window: &Window) {
    window.click("#diagnostics-panel summary").await;
    window.click("#copy-diagnostics").await;
    let text = window
        .until(
            "the diagnostic info",
            "const d = document.getElementById('diagnostics'); return !d.hidden && d.textContent.includes('Sync:') ? d.textContent : null;",
        )
        .await;
    let text = text.as_str().unwrap_or_default();
    assert!(text.starts_with("Circlekeep "), "{text}");
    for secret in [CIRCLE, ADA_NOTE, BO_NOTE, "Ada", "Bo"] {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
    window.click("#diagnostics-panel summary").await;
}

/// Another invite link clicked while the app runs on this folder: the
/// second start hands it to the running window and quits at once.
async fn a_link_opened_later_reaches_the_running_window(window: &Window, home: &std::path::Path) {
    let link = "circlekeep://invite1/opened-later";
    let app = circlekeep_tests::workspace_bin("circlekeep-app", "circlekeep-app");
    let status = std::process::Command::new(app)
        .arg("--home")
        .arg(home)
        .arg(link)
        .env_remove("DISPLAY")
        .status()
        .expect("a second start");
    assert!(
        status.success(),
        "the second start did not hand its link over"
    );
    window
        .until(
            "the handed-over link in the join form",
            &format!("return document.getElementById('join-ticket').value === {link:?};"),
        )
        .await;
    window
        .run("document.getElementById('join-ticket').value = ''; return true;")
        .await;
}

async fn first_run(
    window: Window,
    link: &str,
    inviter_online: impl FnOnce() -> Serve,
) -> (Window, Serve) {
    window
        .until(
            "the link waiting for the keys",
            "return document.getElementById('message').textContent.includes('An invite link');",
        )
        .await;
    window.type_into("#setup-name", "Bo").await;
    window.type_into("#setup-pass", PASSPHRASE).await;
    window.type_into("#setup-pass2", PASSPHRASE).await;
    window.click("#setup-form button").await;

    // The link the app was opened with waits in the join form.
    window
        .until(
            "the invite link in the join form",
            &format!("return document.getElementById('join-ticket').value === {link:?};"),
        )
        .await;
    window.click("#join-form button").await;
    window
        .until(
            "the app waiting for the inviter",
            "return document.getElementById('message').textContent.includes('cannot be reached yet') && !!document.getElementById('stop-joining');",
        )
        .await;
    let serve = inviter_online();
    window
        .until(
            "the joined circle",
            &format!("return document.getElementById('circle-name')?.textContent === {CIRCLE:?};"),
        )
        .await;
    // Joining means accepting: the ground rules wait above the tabs.
    window
        .until(
            "the ground rules to accept",
            "return !!document.querySelector('#charter-prompt .charter')?.textContent.trim() && !!document.getElementById('accept-charter-here');",
        )
        .await;
    window
        .until(
            "Ada's note",
            &format!("return [...document.querySelectorAll('textarea.note-text')].some(t => t.value === {ADA_NOTE:?});"),
        )
        .await;

    // A note of Bo's own, and a few characters typed into Ada's note.
    window.type_into("#new-note", BO_NOTE).await;
    window.click("#add-note-form button").await;
    window
        .until(
            "Bo's note saved",
            &format!("return [...document.querySelectorAll('textarea.note-text')].some(t => t.value === {BO_NOTE:?});"),
        )
        .await;
    let ada_box = window
        .until(
            "Ada's note box",
            &format!("const t = [...document.querySelectorAll('textarea.note-text')].find(t => t.value === {ADA_NOTE:?}); return t ? t.dataset.note : null;"),
        )
        .await;
    let css = format!(
        "textarea[data-note='{}']",
        ada_box.as_str().unwrap_or_default()
    );
    window.type_into(&css, BO_TYPED).await;
    window
        .until(
            "the typing saved",
            &format!("const t = document.querySelector({css:?}); return t && t.value === {:?} && t.closest('li').querySelector('.saved').textContent === 'saved';", format!("{ADA_NOTE}{BO_TYPED}")),
        )
        .await;

    // A goal, in its tab.
    window.click("#tab-goals").await;
    window
        .type_into("#add-goal-form input[name=text]", "Speak up in meetings")
        .await;
    window.click("#add-goal-form button").await;
    window
        .until(
            "the goal",
            "return document.getElementById('goals')?.textContent.includes('Speak up in meetings');",
        )
        .await;
    // Members, with the sync state of each; the charter with the ground rules.
    window.click("#tab-members").await;
    window
        .until(
            "Ada connected in the members table",
            "const t = document.getElementById('members')?.textContent ?? ''; return t.includes('Ada') && t.includes('connected');",
        )
        .await;
    window
        .until(
            "the sync state in the header",
            "return document.getElementById('sync-state').dataset.connected === '1';",
        )
        .await;
    // An invite of Bo's own: a link, a Copy button and the link's QR code.
    window.click("#make-invite").await;
    window
        .until(
            "the invite link and its QR code",
            "const q = document.getElementById('invite-qr'); return document.getElementById('invite-link')?.value.startsWith('circlekeep://invite1/') && !!document.getElementById('copy-invite') && Number(q?.dataset.modules) >= 21 && q.width > 100;",
        )
        .await;
    window
        .screenshot(&window.artifacts().join("invite-link.png"))
        .await;
    window.click("#tab-charter").await;
    window
        .until(
            "the charter",
            "return document.getElementById('charter')?.textContent.toLowerCase().includes('confidential');",
        )
        .await;
    window
        .screenshot(&window.artifacts().join("charter.png"))
        .await;
    window.click("#tab-gatherings").await;
    (window, serve)
}
