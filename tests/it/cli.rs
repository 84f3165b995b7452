//! End to end through the `circlekeep` binary: the README's walk-through,
//! JSON output and error codes, nothing readable at rest, and saved edits
//! surviving a kill at any moment.

use circlekeep_tests::cli::{Device, LOOPBACK, PASSPHRASE};
use circlekeep_tests::files_containing;
use serde_json::Value;

const NOTE: &str = "CLI-MARKER-3e9f: I will ask for help sooner";

#[test]
fn a_gathering_walk_through_with_two_devices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ada = Device {
        home: &dir.path().join("ada"),
    };
    let bo = Device {
        home: &dir.path().join("bo"),
    };
    ada.ok(&["init", "--name", "Ada", "--kdf-work-factor", "10"]);
    bo.ok(&["init", "--name", "Bo", "--kdf-work-factor", "10"]);
    let card = bo.json(&["id"])["card"].as_str().expect("card").to_owned();

    let circle = ada.json(&["circle", "create", "Thursday circle"])["circle"]
        .as_str()
        .expect("id")
        .to_owned();
    ada.ok(&["member", "add", "thursday", &card]);
    let gathering = ada.json(&["gathering", "new", "thursday", "--date", "2026-11-26"])
        ["gathering"]
        .as_str()
        .expect("id")
        .to_owned();
    ada.ok(&["note", "add", "thursday", "Tëa at 5"]);
    let tea = ada.json(&["note", "list", "thursday"])[0]["notes"][0]["id"]
        .as_str()
        .expect("note id")
        .to_owned();
    // Typing into a note counts characters, whatever their encoding.
    ada.ok(&[
        "note",
        "edit",
        "thursday",
        &tea,
        "--at",
        "4",
        "--delete",
        "4",
        "--insert",
        "🫖 at 6",
    ]);
    let edited = ada.json(&["note", "list", "thursday"]);
    assert_eq!(edited[0]["notes"][0]["id"], tea.as_str());
    assert_eq!(edited[0]["notes"][0]["text"], "Tëa 🫖 at 6");
    assert_eq!(
        ada.error_code(&["note", "edit", "thursday", &tea, "--at", "99", "--insert", "x"]),
        (1, "bad_text".to_owned())
    );
    ada.ok(&["note", "add", "thursday", NOTE]);
    let goal = ada.json(&["goal", "add", "thursday", "Ship the report"])["goal"]
        .as_str()
        .expect("id")
        .to_owned();
    ada.ok(&[
        "contract",
        "add",
        "thursday",
        "Draft chapter one",
        "--goal",
        &goal,
    ]);

    let bundle = dir.path().join("to-bo.ckb");
    ada.ok(&[
        "bundle",
        "export",
        &circle[..8],
        bundle.to_str().expect("path"),
    ]);
    let report = bo.json(&["bundle", "import", bundle.to_str().expect("path")]);
    assert_eq!(report["joined"], true);
    assert_eq!(report["rejected"].as_array().map(Vec::len), Some(0));
    // A circle that added Bo waits for him to accept it.
    assert_eq!(bo.json(&["circle", "list"])[0]["invitation"], true);
    assert_eq!(
        bo.error_code(&["note", "add", "thursday", "too soon"]).1,
        "not_accepted"
    );
    bo.ok(&["circle", "accept", "thursday"]);
    assert_eq!(bo.json(&["circle", "list"])[0]["invitation"], false);

    let notes = bo.json(&["note", "list", "thursday", "--gathering", "2026-11-26"]);
    assert_eq!(notes[0]["gathering"]["id"], gathering.as_str());
    let note = notes[0]["notes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["text"] == NOTE))
        .expect("the note arrived");
    assert_eq!(note["author_name"], "Ada");
    let shown = bo.json(&["circle", "show", "thursday"]);
    assert_eq!(shown["members"].as_array().map(Vec::len), Some(2));
    assert_eq!(shown["contracts"][0]["goal"], goal.as_str());

    // Bo answers with only what Ada lacks.
    bo.ok(&["note", "add", "thursday", "Bo will bring lunch"]);
    let back = dir.path().join("to-ada.ckb");
    bo.ok(&[
        "bundle",
        "export",
        "thursday",
        back.to_str().expect("path"),
        "--for",
        "Ada",
    ]);
    let report = ada.json(&["bundle", "import", back.to_str().expect("path")]);
    assert_eq!(report["entries_accepted"], 1);

    let listed = ada.json(&["circle", "list"]);
    assert_eq!(listed[0]["name"], "Thursday circle");
    let members = ada.json(&["member", "list", "thursday"]);
    assert_eq!(members.as_array().map(Vec::len), Some(2));

    // Removal through the CLI.
    ada.ok(&["member", "remove", "thursday", "Bo"]);
    assert_eq!(
        ada.json(&["member", "list", "thursday"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Nothing of it is readable at rest, in either home or the bundles.
    for marker in [
        "CLI-MARKER-3e9f",
        "Ship the report",
        "Thursday circle",
        "Bo will bring lunch",
    ] {
        let hits = files_containing(dir.path(), marker);
        assert!(hits.is_empty(), "{marker:?} at rest in {hits:?}");
    }
}

#[test]
fn errors_have_stable_codes_and_exit_statuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ada = Device {
        home: &dir.path().join("ada"),
    };
    assert_eq!(
        ada.error_code(&["circle", "list"]),
        (1, "not_initialized".into())
    );
    ada.ok(&["init", "--name", "Ada", "--kdf-work-factor", "10"]);
    assert_eq!(
        ada.error_code(&["init", "--name", "Ada", "--kdf-work-factor", "10"]),
        (1, "already_initialized".into())
    );
    let wrong = ada
        .cmd(&["--json", "circle", "list"])
        .env("CIRCLEKEEP_PASSPHRASE", "wrong")
        .output()
        .expect("run");
    assert_eq!(wrong.status.code(), Some(1));
    let value: Value = serde_json::from_slice(&wrong.stdout).expect("json");
    assert_eq!(value["error"]["code"], "wrong_passphrase");

    ada.ok(&["circle", "create", "Circle one"]);
    assert_eq!(
        ada.error_code(&["circle", "show", "nope"]),
        (1, "unknown_circle".into())
    );
    assert_eq!(
        ada.error_code(&["member", "add", "circle one", "not-a-card"]),
        (1, "bad_card".into())
    );
    assert_eq!(
        ada.error_code(&["note", "add", "circle one", "x"]),
        (1, "no_gathering".into())
    );
    assert_eq!(
        ada.error_code(&["gathering", "new", "circle one", "--date", "26/11/2026"]),
        (1, "bad_date".into())
    );
    let junk = dir.path().join("junk.ckb");
    std::fs::write(&junk, b"not a bundle").expect("write");
    assert_eq!(
        ada.error_code(&["bundle", "import", junk.to_str().expect("path")]),
        (1, "bad_bundle".into())
    );
    let bad = ada.run(&["no-such-command"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_note_reported_saved_survives_a_kill_at_any_moment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ada = Device {
        home: &dir.path().join("ada"),
    };
    ada.ok(&["init", "--name", "Ada", "--kdf-work-factor", "10"]);
    ada.ok(&["circle", "create", "Kill test"]);
    ada.ok(&["gathering", "new", "kill", "--date", "2026-11-26"]);
    let mut saved = Vec::new();
    for i in 0..24u64 {
        let text = format!("note number {i}");
        let mut child = ada
            .cmd(&["note", "add", "kill", &text])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        // Kill after a varying delay: before, during or after the write.
        std::thread::sleep(std::time::Duration::from_millis((i * 7) % 60));
        let _ = child.kill();
        let out = child.wait_with_output().expect("wait");
        if String::from_utf8_lossy(&out.stdout).contains("Note saved.") {
            saved.push(text);
        }
    }
    let notes = ada.json(&["note", "list", "kill"]);
    let held: Vec<&str> = notes[0]["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n["text"].as_str())
        .collect();
    for text in &saved {
        assert!(
            held.contains(&text.as_str()),
            "{text:?} was reported saved but is gone"
        );
    }
    assert!(
        !saved.is_empty(),
        "no run got far enough to save; delays too short"
    );
}

#[test]
fn serve_invite_join_status_and_sync_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ada = Device {
        home: &dir.path().join("ada"),
    };
    let bo = Device {
        home: &dir.path().join("bo"),
    };
    let cy = Device {
        home: &dir.path().join("cy"),
    };
    for (device, name) in [(&ada, "Ada"), (&bo, "Bo"), (&cy, "Cy")] {
        device.ok(&["init", "--name", name, "--kdf-work-factor", "10"]);
    }
    // History shared with newcomers, so Bo can read the note written before joining.
    ada.ok(&[
        "circle",
        "create",
        "Thursday circle",
        "--history",
        "newcomers-see-history",
    ]);
    ada.ok(&["gathering", "new", "thursday", "--date", "2026-11-26"]);
    ada.ok(&["note", "add", "thursday", "hello over the network"]);

    let serve = ada.serve(&dir.path().join("serve.log"));

    // Commands reach the running serve; status shows where it listens.
    let status = ada.json(&["status"]);
    assert_eq!(status["online"], true);
    assert!(!status["status"]["direct_addresses"]
        .as_array()
        .expect("list")
        .is_empty());
    let ticket = ada.json(&["invite", "thursday", "--expires", "1h"])["ticket"]
        .as_str()
        .expect("ticket")
        .to_owned();

    let mut join = vec!["join", ticket.as_str()];
    join.extend(LOOPBACK);
    let joined = bo.json(&join);
    assert_eq!(joined["name"], "Thursday circle");
    let notes = bo.json(&["note", "list", "thursday"]);
    assert_eq!(notes[0]["notes"][0]["text"], "hello over the network");

    // The ticket worked once.
    let mut again = vec!["--json", "join", ticket.as_str()];
    again.extend(LOOPBACK);
    let refused = cy.run(&again);
    assert_eq!(refused.status.code(), Some(1));
    let value: Value = serde_json::from_slice(&refused.stdout).expect("json");
    assert_eq!(value["error"]["code"], "invite_used");

    // Bo writes and syncs once; Ada (serving) has it.
    bo.ok(&["note", "add", "thursday", "Bo's reply"]);
    let mut sync = vec!["sync"];
    sync.extend(LOOPBACK);
    let report = bo.json(&sync);
    assert_eq!(
        report["synced"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    let notes = ada.json(&["note", "list", "thursday"]);
    let texts: Vec<&str> = notes[0]["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n["text"].as_str())
        .collect();
    assert!(texts.contains(&"Bo's reply"), "{texts:?}");
    let status = ada.json(&["status"]);
    let members = &status["status"]["circles"][0]["members"];
    assert_eq!(members.as_array().map(Vec::len), Some(1));

    drop(serve);
    assert!(
        !ada.home.join("control.sock").exists(),
        "serve cleans up its socket"
    );
    // Offline status still answers, from the store.
    let offline = ada.json(&["status"]);
    assert_eq!(offline["online"], false);

    // With nobody to reach, a one-shot sync says so in its exit status.
    let mut lonely = vec!["--json", "sync", "--timeout", "2s"];
    lonely.extend(LOOPBACK);
    let alone = bo.run(&lonely);
    assert_eq!(alone.status.code(), Some(4), "{alone:?}");
    let report: Value = serde_json::from_slice(&alone.stdout).expect("json");
    assert_eq!(report["unreachable"].as_array().map(Vec::len), Some(1));
}

/// The README's gathering walk-through: setup, schedule, a gathering run
/// from the command line, exports, and a backup restored on a new device.
#[test]
fn a_gathering_run_from_the_command_line_with_exports_and_a_restored_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ada = Device {
        home: &dir.path().join("ada"),
    };
    ada.ok(&["init", "--name", "Ada", "--kdf-work-factor", "10"]);
    ada.ok(&["circle", "create", "Thursday circle"]);
    ada.ok(&[
        "circle",
        "setup",
        "Thursday",
        "--purpose",
        "grow as leaders",
        "--every-weeks",
        "2",
        "--weekday",
        "thu",
        "--time",
        "18:30",
        "--minutes",
        "120",
        "--time-zone",
        "Europe/Berlin",
        "--first",
        "2027-01-04",
        "--place",
        "Room 4, Old Library",
        "--roles",
        "lunch",
    ]);
    ada.ok(&[
        "schedule",
        "move",
        "Thursday",
        "2027-01-21",
        "2027-01-21",
        "--place",
        "https://meet.example/q1",
    ]);
    let schedule = ada.json(&["schedule", "show", "Thursday", "--from", "2027-01-04"]);
    assert_eq!(schedule[0]["date"], "2027-01-07");
    assert_eq!(schedule[0]["place"], "Room 4, Old Library");
    assert_eq!(schedule[1]["place"], "https://meet.example/q1");
    assert_eq!(schedule[0]["roles"]["facilitator"]["name"], "Ada");
    assert_eq!(
        schedule[0]["roles"]["lunch"]["name"], "Ada",
        "one member, every role"
    );
    assert_eq!(
        ada.error_code(&["circle", "setup", "Thursday", "--roles", "a,b,c,d,e"]),
        (1, "bad_text".into())
    );
    assert_eq!(
        ada.error_code(&["circle", "setup", "Thursday", "--every-weeks", "2"]),
        (1, "bad_cadence".into())
    );
    ada.ok(&["charter", "accept", "Thursday"]);
    ada.ok(&["gathering", "new", "Thursday", "--date", "2027-01-07"]);
    ada.ok(&["gathering", "attend", "Thursday", "Ada"]);
    ada.ok(&["gathering", "request", "Thursday", "15"]);
    ada.ok(&[
        "turn",
        "start",
        "Thursday",
        "Ada",
        "--feedback",
        "challenge me",
    ]);
    ada.ok(&["note", "add", "Thursday", "Delegating is hard for me"]);
    ada.ok(&["turn", "pause", "Thursday"]);
    let paused = ada.json(&["gathering", "show", "Thursday"]);
    assert_eq!(paused["current_turn"]["paused"], true, "{paused}");
    ada.ok(&["turn", "resume", "Thursday"]);
    ada.ok(&["turn", "end", "Thursday"]);
    let state = ada.json(&["gathering", "step", "Thursday"]);
    assert_eq!(state["agenda"][1]["current"], true);
    assert_eq!(state["turns"][0]["allotted"], 15);
    // At the check-in Ada speaks: airtime, but no turn.
    let speaking = ada.json(&["turn", "start", "Thursday", "Ada", "--speaking"]);
    assert_eq!(speaking["current_turn"]["speaking"], true, "{speaking}");
    ada.ok(&["turn", "end", "Thursday"]);
    let contract = ada.json(&[
        "contract",
        "add",
        "Thursday",
        "Delegate the Q1 plan",
        "--gathering",
        "2027-01-07",
    ]);
    let contract = contract["contract"].as_str().expect("id").to_owned();
    ada.ok(&[
        "contract",
        "report",
        "Thursday",
        &contract,
        "--outcome",
        "kept",
    ]);
    // What the step brings: the contract made here, not recorded by another.
    let brief = ada.json(&["gathering", "brief", "Thursday"]);
    assert_eq!(
        brief["made_here"][0]["text"], "Delegate the Q1 plan",
        "{brief}"
    );
    assert!(brief["made_here"][0]["recorded_by"].is_null());
    assert_eq!(brief["next"]["date"], "2027-01-21", "{brief}");
    assert_eq!(
        ada.error_code(&["contract", "add", "Thursday", "x", "--for", "Nobody"])
            .1,
        "unknown_member"
    );
    ada.ok(&["journal", "add", "I felt heard"]);
    // Looking back: the pulse, search and the retrospective.
    let pulse = ada.json(&[
        "gathering",
        "pulse",
        "Thursday",
        "--gathering",
        "2027-01-07",
        "--heard",
        "5",
        "--useful",
        "4",
        "--time-fair",
        "3",
    ]);
    assert_eq!(
        (pulse["answered"].as_u64(), pulse["heard"].is_null()),
        (Some(1), true)
    );
    assert_eq!(pulse["mine"]["time_fair"], 3);
    assert_eq!(
        ada.error_code(&[
            "gathering",
            "pulse",
            "Thursday",
            "--heard",
            "0",
            "--useful",
            "1",
            "--time-fair",
            "1"
        ]),
        (1, "bad_text".into())
    );
    let kinds = |found: &Value| -> Vec<String> {
        found
            .as_array()
            .expect("hits")
            .iter()
            .filter_map(|h| h["kind"].as_str().map(str::to_owned))
            .collect()
    };
    let found = ada.json(&["search", "Thursday", "DELEGAT"]);
    assert_eq!(kinds(&found), ["contract", "note"], "{found}");
    let in_turn = ada.json(&["search", "Thursday", "delegat", "--turn-of", "Ada"]);
    assert_eq!(kinds(&in_turn), ["note"], "{in_turn}");
    assert_eq!(in_turn[0]["turn_of"]["name"], "Ada");
    let felt = ada.json(&["search", "Thursday", "felt heard"]);
    assert_eq!(felt[0]["kind"], "journal");
    let retro = dir.path().join("retro.md");
    ada.ok(&[
        "circle",
        "retro",
        "Thursday",
        retro.to_str().expect("path"),
        "--from",
        "2027-01-01",
        "--to",
        "2027-03-31",
    ]);
    let retro = std::fs::read_to_string(&retro).expect("the retrospective");
    assert!(
        retro.contains("1 gathering held.")
            && retro.contains("- Ada: Delegate the Q1 plan — **kept**.")
            && retro.contains("| Ada | 1 of 1 |"),
        "{retro}"
    );

    let md = dir.path().join("gathering.md");
    let ics = dir.path().join("year.ics");
    let backup = dir.path().join("backup.age");
    ada.ok(&[
        "export",
        "markdown",
        "Thursday",
        "2027-01-07",
        md.to_str().expect("path"),
    ]);
    ada.ok(&[
        "export",
        "ics",
        "Thursday",
        ics.to_str().expect("path"),
        "--from",
        "2027-01-04",
    ]);
    ada.ok(&["backup", backup.to_str().expect("path")]);
    // Circle content taken out of the app is for its owner's eyes only.
    #[cfg(unix)]
    for file in [&md, &ics, &backup] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)
            .expect("export")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    let md = std::fs::read_to_string(md).expect("markdown");
    assert!(md.contains("Delegating is hard for me") && md.contains("Delegate the Q1 plan"));
    assert!(std::fs::read_to_string(ics)
        .expect("ics")
        .contains("BEGIN:VEVENT"));

    // A new laptop: the saved key file and the backup bring everything back.
    let key_file = dir.path().join("saved-identity.age");
    std::fs::copy(dir.path().join("ada/identity.age"), &key_file).expect("copy");
    let laptop = Device {
        home: &dir.path().join("laptop"),
    };
    laptop.ok(&[
        "restore",
        backup.to_str().expect("path"),
        "--key-file",
        key_file.to_str().expect("path"),
    ]);
    assert_eq!(
        laptop.json(&["note", "list", "Thursday"]),
        ada.json(&["note", "list", "Thursday"])
    );
    // A new device of Ada's, not a copy of her key.
    let (mine, its) = (ada.json(&["id"]), laptop.json(&["id"]));
    assert_eq!(its["member"], mine["member"]);
    assert_ne!(its["device"], mine["device"]);
    assert_eq!(
        laptop.json(&["journal", "list"]),
        ada.json(&["journal", "list"])
    );
    assert_eq!(
        laptop.json(&["contract", "history", "Thursday"])[0]["kept"],
        1
    );
    assert_eq!(
        laptop.error_code(&["restore", "/nonexistent/backup.age"]),
        (1, "error".into())
    );
    // A short series: both days set at its start; its report follows it.
    let start = [
        "gathering",
        "new",
        "Thursday",
        "--date",
        "2027-03-01",
        "--template",
        "series-start",
    ];
    ada.ok(&[&start[..], &["--report-on", "2027-03-15"]].concat());
    let report = [
        "gathering",
        "new",
        "Thursday",
        "--date",
        "2027-03-15",
        "--template",
        "series-report",
    ];
    ada.ok(&report);
    let listed = ada.json(&["gathering", "list", "Thursday"]);
    let listed = listed.as_array().expect("gatherings");
    let first = listed
        .iter()
        .find(|g| g["date"] == "2027-03-01")
        .expect("first");
    let second = listed
        .iter()
        .find(|g| g["date"] == "2027-03-15")
        .expect("second");
    assert_eq!(first["report_on"], "2027-03-15");
    assert_eq!(second["follows"], first["id"]);
    assert_eq!(
        ada.error_code(&["gathering", "new", "Thursday", "--report-on", "2027-03-20"]),
        (1, "bad_text".into())
    );
}

#[test]
fn join_waits_for_an_inviter_who_is_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ada = Device {
        home: &dir.path().join("ada"),
    };
    let bo = Device {
        home: &dir.path().join("bo"),
    };
    for (device, name) in [(&ada, "Ada"), (&bo, "Bo")] {
        device.ok(&["init", "--name", name, "--kdf-work-factor", "10"]);
    }
    ada.ok(&["circle", "create", "Thursday circle"]);
    // Ada serves on a port of her own, so the ticket's address is hers
    // again after a restart (relays and discovery are off here).
    let port = circlekeep_tests::free_udp_port();
    let serve = ada.serve_at(&dir.path().join("serve.log"), port);
    // Bo got the invite as a link: `join` takes it as it takes a ticket.
    let ticket = ada.json(&["invite", "thursday", "--expires", "1h"])["link"]
        .as_str()
        .expect("link")
        .to_owned();
    assert!(ticket.starts_with("circlekeep://invite1/"), "{ticket}");
    drop(serve);

    // Bo's join finds nobody, says so, and keeps trying...
    let log = dir.path().join("join.log");
    let mut join = vec!["--json", "join", ticket.as_str(), "--wait", "5m"];
    join.extend(LOOPBACK);
    let waiting = bo
        .cmd(&join)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("join");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("cannot reach the inviter yet")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "join never said it is waiting"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // ...until Ada's device is back.
    let serve_again = ada.serve_at(&dir.path().join("serve-again.log"), port);
    let out = waiting.wait_with_output().expect("join finished");
    assert!(
        out.status.success(),
        "join failed: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let joined: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(joined["name"], "Thursday circle");

    // Without --wait, an unreachable inviter is one clear failure.
    drop(serve_again);
    let mut once = vec!["join", ticket.as_str()];
    once.extend(LOOPBACK);
    let (status, code) = bo.error_code(&once);
    assert_eq!((status, code.as_str()), (1, "unreachable"));
}

/// `diagnostics`: the version, the system and counts, for a bug report;
/// nothing of the circle, the member or the keys.
#[test]
fn diagnostics_hold_counts_and_no_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ada = Device {
        home: &dir.path().join("ada"),
    };
    ada.ok(&["init", "--name", "Ada Lovelace", "--kdf-work-factor", "10"]);
    ada.ok(&["circle", "create", "Thursday circle"]);
    let report = ada.json(&["diagnostics"]);
    assert_eq!(report["circles"], 1, "{report}");
    assert_eq!(report["devices"], 1, "{report}");
    assert!(report["version"].is_string(), "{report}");
    let text = ada.ok(&["diagnostics"]);
    assert!(text.starts_with("Circlekeep "), "{text}");
    let id = ada.json(&["id"]);
    let member = id["member"].as_str().expect("member id");
    for secret in ["Thursday circle", "Ada Lovelace", member, &member[..8]] {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
}

/// `passphrase`: a wrong current passphrase changes nothing; the right one
/// seals the key file again, after which only the new passphrase opens it
/// (and the identity is the same).
#[test]
fn the_passphrase_changes_only_with_the_current_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ada = Device {
        home: &dir.path().join("ada"),
    };
    ada.ok(&["init", "--name", "Ada", "--kdf-work-factor", "10"]);
    let member = ada.json(&["id"])["member"].clone();
    let key_file = dir.path().join("ada").join("identity.age");
    let before = std::fs::read(&key_file).expect("key file");
    let change = |current: &str| {
        ada.cmd(&["--json", "passphrase", "--kdf-work-factor", "10"])
            .env("CIRCLEKEEP_PASSPHRASE", current)
            .env("CIRCLEKEEP_NEW_PASSPHRASE", "a new passphrase")
            .output()
            .expect("run")
    };
    let refused = change("not the passphrase");
    assert_eq!(refused.status.code(), Some(1));
    let value: Value = serde_json::from_slice(&refused.stdout).expect("json");
    assert_eq!(value["error"]["code"], "wrong_passphrase");
    assert_eq!(std::fs::read(&key_file).expect("key file"), before);

    assert!(change(PASSPHRASE).status.success());
    assert_ne!(std::fs::read(&key_file).expect("key file"), before);
    let old = ada.cmd(&["--json", "id"]).output().expect("run");
    let value: Value = serde_json::from_slice(&old.stdout).expect("json");
    assert_eq!(value["error"]["code"], "wrong_passphrase");
    let new = ada
        .cmd(&["--json", "id"])
        .env("CIRCLEKEEP_PASSPHRASE", "a new passphrase")
        .output()
        .expect("run");
    assert!(new.status.success());
    let value: Value = serde_json::from_slice(&new.stdout).expect("json");
    assert_eq!(value["member"], member);
}
