//! The circle practice (DESIGN §1): a fair rota over a year with absences
//! and swaps, the year as iCalendar read back by a real parser, a
//! contract's report back under concurrent edits, the private journal
//! (invariant 1 and 2: nobody else ever reads it), and a backup the standard
//! `age` tool opens and that restores to an identical state.

use circlekeep_engine::agenda::StepKind;
use circlekeep_engine::practice::Setup;
use circlekeep_engine::rota::Role;
use circlekeep_engine::schedule::Cadence;
use circlekeep_engine::{CircleId, HistoryPolicy, Move};
use circlekeep_engine::{Outcome, TextEdit};
use circlekeep_seal::ExposeSecret;
use circlekeep_store::Store;
use circlekeep_tests::{circle_of, date, files_containing, readable_notes, seen, Peer};
use std::collections::BTreeMap;

/// A circle of `n` with a biweekly Thursday cadence from `first`.
fn scheduled_circle(peers: &[Peer], first: &str) -> CircleId {
    let others: Vec<&Peer> = peers[1..].iter().collect();
    let circle = circle_of(&peers[0], &others, HistoryPolicy::SinceJoining);
    let cadence = Cadence::parse(2, "thu", "18:30", 120, "Europe/Berlin", first).expect("cadence");
    peers[0]
        .setup(
            circle,
            &Setup {
                purpose: Some("grow as leaders".into()),
                cadence: Some(cadence),
                guide: None,
                place: Some(PLACE.into()),
                roles: None,
            },
        )
        .expect("setup");
    circle
}

/// Where the scheduled circle meets (commas and a semicolon, which
/// iCalendar escapes).
const PLACE: &str = "Room 4, Old Library; Oak Street";

fn peers(n: u8) -> Vec<Peer> {
    let names = ["Ada", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal"];
    (0..n)
        .map(|i| Peer::new(names[i as usize], i + 1))
        .collect()
}

#[test]
fn rotation_stays_fair_over_a_year_with_absences_and_swaps() {
    let group = peers(6);
    let ada = &group[0];
    let circle = scheduled_circle(&group, "2027-01-04");
    let year = ada.schedule(circle, date("2027-01-04")).expect("schedule");
    assert!(
        year.len() >= 26,
        "a year of biweekly gatherings: {}",
        year.len()
    );
    let members: Vec<_> = ada.members(circle).expect("members");

    // Each member is away twice (a fixed, spread-out pattern), and three
    // swaps are agreed.
    for (i, m) in members.iter().enumerate() {
        let who = circlekeep_engine::MemberId::from_hex(&m.id).expect("id");
        for k in [i * 2 + 1, i * 2 + 14] {
            ada.set_absent(circle, date(&year[k].planned), who, true)
                .expect("absent");
        }
    }
    let swaps = [(2, 12), (4, 6), (13, 25)];
    let mut expected = Vec::new();
    for (a, b) in swaps {
        let now = ada.schedule(circle, date("2027-01-04")).expect("schedule");
        expected.push((a, now[b].roles["facilitator"].clone()));
        expected.push((b, now[a].roles["facilitator"].clone()));
        ada.swap_role(
            circle,
            Role::Facilitator,
            date(&now[a].planned),
            date(&now[b].planned),
        )
        .expect("swap");
    }
    let after = ada.schedule(circle, date("2027-01-04")).expect("schedule");
    for (slot, holder) in expected {
        assert_eq!(after[slot].roles["facilitator"], holder, "swap stands");
    }

    // Nobody absent holds a role; three different people each time.
    let year: Vec<_> = after.iter().take(26).collect();
    for g in &year {
        let holders: std::collections::BTreeSet<&str> =
            g.roles.values().map(|h| h.id.as_str()).collect();
        assert_eq!(holders.len(), 3, "{g:?}");
        for away in &g.absent {
            assert!(!holders.contains(away.id.as_str()), "{g:?}");
        }
    }
    // Over the year each member holds each role about equally often.
    for role in ["facilitator", "timekeeper", "host"] {
        let mut counts: BTreeMap<&str, usize> =
            members.iter().map(|m| (m.id.as_str(), 0)).collect();
        for g in &year {
            *counts.entry(g.roles[role].id.as_str()).or_default() += 1;
        }
        let (min, max) = (
            counts.values().min().copied().unwrap_or(0),
            counts.values().max().copied().unwrap_or(0),
        );
        assert!(max - min <= 2, "{role}: {counts:?}");
    }
    // Every device computes the same rota.
    let bo = &group[1];
    ada.send(bo, circle);
    assert_eq!(
        bo.schedule(circle, date("2027-01-04")).expect("schedule"),
        after
    );
}

/// A circle adds its own roles (who brings lunch, who takes notes): they
/// rotate as fairly as the practice's, swap like them, reach every
/// member's device, and are bounded.
#[test]
fn a_circle_s_own_roles_rotate_like_the_practice_s() {
    let group = peers(5);
    let (ada, bo) = (&group[0], &group[1]);
    let circle = scheduled_circle(&group, "2027-01-04");
    let roles = |names: &[&str]| Setup {
        roles: Some(names.iter().map(|n| (*n).to_owned()).collect()),
        ..Default::default()
    };
    ada.setup(circle, &roles(&["Lunch", " note  taker "]))
        .expect("two roles of the circle's own");
    let year = ada.schedule(circle, date("2027-01-04")).expect("schedule");
    let year: Vec<_> = year.into_iter().take(26).collect();
    for g in &year {
        let holders: std::collections::BTreeSet<&str> =
            g.roles.values().map(|h| h.id.as_str()).collect();
        assert_eq!(g.roles.len(), 5, "{g:?}");
        assert_eq!(holders.len(), 5, "five members, five people: {g:?}");
    }
    for role in ["Lunch", "note taker"] {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for g in &year {
            *counts.entry(g.roles[role].id.as_str()).or_default() += 1;
        }
        let (min, max) = (counts.values().min(), counts.values().max());
        assert!(
            counts.len() == 5 && max.zip(min).is_some_and(|(a, b)| a - b <= 1),
            "{role}: {counts:?}"
        );
    }
    let practice = ada.practice(circle, date("2027-01-04")).expect("practice");
    assert_eq!(
        practice.roles,
        ["facilitator", "timekeeper", "host", "Lunch", "note taker"]
    );
    // A swap of lunch, named in any case, stands.
    let (a, b) = (
        year[1].roles["Lunch"].clone(),
        year[2].roles["Lunch"].clone(),
    );
    let lunch: Role = "lunch".parse().expect("a role");
    ada.swap_role(
        circle,
        lunch,
        date(&year[1].planned),
        date(&year[2].planned),
    )
    .expect("swap lunch");
    let after = ada.schedule(circle, date("2027-01-04")).expect("schedule");
    assert_eq!(
        (&after[1].roles["Lunch"], &after[2].roles["Lunch"]),
        (&b, &a)
    );
    // Bo's device computes the same rota with the same roles.
    ada.send(bo, circle);
    assert_eq!(
        bo.schedule(circle, date("2027-01-04")).expect("schedule"),
        after
    );
    // Bounded: a role the circle does not have, a fifth own role, a name
    // that is no name, a practice role twice.
    let tea: Role = "tea".parse().expect("a role");
    assert!(ada
        .swap_role(circle, tea, date(&year[1].planned), date(&year[2].planned))
        .is_err());
    for bad in [
        &["a", "b", "c", "d", "e"][..],
        &["lunch/host"],
        &["Host"],
        &["lunch", "LUNCH"],
    ] {
        assert!(ada.setup(circle, &roles(bad)).is_err(), "{bad:?}");
    }
    ada.setup(circle, &roles(&[])).expect("no roles of its own");
    let plain = ada.schedule(circle, date("2027-01-04")).expect("schedule");
    assert_eq!(plain[3].roles.len(), 3);
}

/// A modified app writes 5,000 "roles" into the circle document, most of
/// them no names: every device reads at most four valid ones, each once,
/// and its rota is the same as everyone's.
#[test]
fn a_flood_of_made_up_roles_is_read_as_four() {
    let group = peers(3);
    let (ada, mallory) = (&group[0], &group[2]);
    let circle = scheduled_circle(&group, "2027-01-04");
    ada.send(mallory, circle);
    let mut flood: Vec<String> = (0..5_000).map(|i| format!("x/{i}")).collect();
    flood[10] = "tea".into();
    flood[11] = "TEA".into();
    flood[4_000] = "host".into();
    for (i, name) in ["lunch", "notes", "photos", "snacks", "music"]
        .iter()
        .enumerate()
    {
        flood[20 + i] = (*name).to_owned();
    }
    mallory
        .tamper(circle, circlekeep_engine::DocId::CIRCLE, |d| {
            circlekeep_model::docs::put_at(d, &["settings"], "roles", &flood)
        })
        .expect("the flood, signed by Mallory");
    mallory.send(ada, circle);
    let practice = ada.practice(circle, date("2027-01-04")).expect("practice");
    assert_eq!(
        practice.roles,
        [
            "facilitator",
            "timekeeper",
            "host",
            "tea",
            "lunch",
            "notes",
            "photos"
        ]
    );
    let year = ada.schedule(circle, date("2027-01-04")).expect("schedule");
    assert!(year.iter().take(26).all(|g| g.roles.len() == 7));
    assert_eq!(
        mallory
            .schedule(circle, date("2027-01-04"))
            .expect("schedule"),
        year
    );
}

#[test]
fn the_year_exports_as_ics_that_a_calendar_parser_reads() {
    let group = peers(3);
    let ada = &group[0];
    let circle = scheduled_circle(&group, "2027-01-04");
    ada.cancel_gathering(circle, date("2027-01-21"), true)
        .expect("cancel");
    let online = "https://meet.example/circle-42";
    let to = Move {
        date: date("2027-02-05"),
        time: None,
        place: Some(online.into()),
    };
    ada.reschedule(circle, date("2027-02-04"), &to)
        .expect("move");
    let schedule = ada.schedule(circle, date("2027-01-04")).expect("schedule");
    let ics = ada.schedule_ics(circle, date("2027-01-04")).expect("ics");

    let mut parser = ical::IcalParser::new(ics.as_bytes());
    let calendar = parser
        .next()
        .expect("one calendar")
        .expect("valid iCalendar");
    assert!(parser.next().is_none());
    assert_eq!(calendar.events.len(), schedule.len());
    let prop = |e: &ical::parser::ical::component::IcalEvent, name: &str| {
        e.properties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.clone())
            .unwrap_or_default()
    };
    let mut uids = std::collections::BTreeSet::new();
    for (event, planned) in calendar.events.iter().zip(&schedule) {
        assert!(uids.insert(prop(event, "UID")), "unique UIDs");
        let start = prop(event, "DTSTART");
        let expected = chrono::DateTime::parse_from_rfc3339(&planned.starts)
            .expect("rfc3339")
            .format("%Y%m%dT%H%M%SZ")
            .to_string();
        assert_eq!(start, expected);
        assert!(!prop(event, "DTEND").is_empty() && !prop(event, "DTSTAMP").is_empty());
        assert_eq!(prop(event, "SUMMARY"), "Thursday circle gathering");
        // Every event says where, in iCalendar's escaping.
        let place = prop(event, "LOCATION")
            .replace("\\,", ",")
            .replace("\\;", ";");
        let expected = if planned.planned == "2027-02-04" {
            online
        } else {
            PLACE
        };
        assert_eq!(place, expected);
        assert_eq!(planned.place.as_deref(), Some(expected));
        if planned.cancelled {
            assert_eq!(prop(event, "STATUS"), "CANCELLED");
        } else {
            let description = prop(event, "DESCRIPTION");
            for role in ["Facilitator", "Timekeeper", "Host"] {
                assert!(description.contains(role), "{description}");
            }
            assert_eq!(event.alarms.len(), 1, "a reminder the day before");
        }
    }
    // Winter in Berlin: 18:30 local is 17:30 UTC.
    assert!(ics.contains("DTSTART:20270107T173000Z"));
    assert!(ics.contains("DTSTART:20270205T173000Z"), "moved to Friday");
    assert!(
        schedule
            .iter()
            .any(|p| p.planned == "2027-01-21" && p.cancelled),
        "cancelled stays listed"
    );
    // The practice at a glance: three that take place, the cancelled one
    // among them still shown (so it can be restored).
    let next = ada
        .practice(circle, date("2027-01-04"))
        .expect("practice")
        .next;
    let dates: Vec<(&str, bool)> = next
        .iter()
        .map(|p| (p.date.as_str(), p.cancelled))
        .collect();
    assert_eq!(
        dates,
        [
            ("2027-01-07", false),
            ("2027-01-21", true),
            ("2027-02-05", false),
            ("2027-02-18", false)
        ]
    );
}

#[test]
fn a_contracts_report_back_survives_concurrent_edits() {
    let group = peers(2);
    let (ada, bo) = (&group[0], &group[1]);
    let circle = circle_of(ada, &[bo], HistoryPolicy::SinceJoining);
    let contract = bo
        .add_contract(circle, "Ask for the stretch project", None, None)
        .expect("contract");
    bo.report_contract(circle, &contract, None, Some("I asked."))
        .expect("draft");
    bo.send(ada, circle);

    // Offline, at the same time: Ada (facilitating) records the outcome and
    // adds to the reflection; Bo rewrites the end of it.
    ada.report_contract(
        circle,
        &contract,
        Some(Outcome::Partly),
        Some("I asked. The answer was maybe."),
    )
    .expect("ada");
    bo.report_contract(circle, &contract, None, Some("I asked, nervously."))
        .expect("bo");
    ada.send(bo, circle);
    bo.send(ada, circle);

    for peer in [ada, bo] {
        let view = peer.circle(circle).expect("view");
        let k = view
            .contracts
            .iter()
            .find(|k| k.id == contract)
            .expect("contract");
        assert_eq!(k.outcome, "partly");
        assert!(k.reported.is_some());
        assert!(k.reflection.contains("nervously"), "{}", k.reflection);
        assert!(
            k.reflection.contains("The answer was maybe"),
            "{}",
            k.reflection
        );
    }
    assert_eq!(seen(ada, circle), seen(bo, circle));
    let history = ada.contract_history(circle, None).expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].member.name, "Bo");
}

#[test]
fn a_journal_entry_is_never_readable_by_another_member() {
    const MARKER: &str = "JOURNAL-MARKER-3f9a-i-doubt-myself";
    let group = peers(2);
    let (ada, bo) = (&group[0], &group[1]);
    let circle = circle_of(ada, &[bo], HistoryPolicy::NewcomersSeeHistory);
    ada.journal_add(MARKER, Some(circle)).expect("journal");
    assert_eq!(ada.journal().expect("journal")[0].text, MARKER);

    // Everything Ada can send Bo carries none of it.
    let bundle = ada.export_bundle(circle, None).expect("export");
    assert!(!bundle.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()));
    ada.send(bo, circle);
    assert!(bo.journal().expect("journal").is_empty());
    // Nor does anything at rest on either device.
    assert!(files_containing(ada.dir(), MARKER).is_empty());
    assert!(files_containing(bo.dir(), MARKER).is_empty());
    // Ada's sealed journal, copied to Bo, stays closed to Bo's key.
    let sealed = ada
        .store()
        .blobs(circlekeep_store::BlobKind::Journal, b"")
        .expect("blobs");
    assert_eq!(sealed.len(), 1);
    assert!(
        circlekeep_seal::epoch::open_with_identity(bo.identity().age_identity(), &sealed[0].1)
            .is_err()
    );
    // A backup of Ada's is hers alone too.
    let backup = ada.backup(None).expect("backup");
    assert!(bo.restore(&backup).is_err());
}

#[test]
fn a_journal_entry_s_time_is_not_kept_in_the_clear() {
    // An earlier version filed each entry under `created/id`: anyone with
    // the data folder read when the member wrote, entry by entry.
    let mut ada = Peer::new("Ada", 1);
    for text in ["first reflection", "second reflection"] {
        ada.journal_add(text, None).expect("journal");
    }
    ada.store().flush().expect("flush");
    let entries = ada.journal().expect("journal");
    for entry in &entries {
        assert!(
            files_containing(ada.dir(), &entry.created).is_empty(),
            "{} is at rest in the clear",
            entry.created
        );
    }
    // Entries kept under the old keys are moved under their ids at start,
    // and read as before, oldest first.
    let journal = circlekeep_store::BlobKind::Journal;
    for (key, sealed) in ada.store().blobs(journal, b"").expect("blobs") {
        let entry = entries
            .iter()
            .find(|e| e.id.as_bytes() == key)
            .expect("entry");
        let legacy = format!("{}/{}", entry.created, entry.id);
        ada.store().put_blob(journal, &key, None).expect("delete");
        ada.store()
            .put_blob(journal, legacy.as_bytes(), Some(&sealed))
            .expect("legacy");
    }
    ada.restart(false);
    let keys: Vec<Vec<u8>> = ada
        .store()
        .blobs(journal, b"")
        .expect("blobs")
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    let ids: Vec<Vec<u8>> = entries.iter().map(|e| e.id.clone().into_bytes()).collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| ids.contains(k)), "{keys:?}");
    assert_eq!(ada.journal().expect("journal"), entries);
}

/// A tar archive of `files`, in order.
fn archive(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        builder
            .append_data(&mut header, path, bytes.as_slice())
            .expect("append");
    }
    builder.into_inner().expect("archive")
}

/// `files` followed by a `signature` file naming `device`, signed by `signer`.
fn signed_archive(
    files: &[(&str, Vec<u8>)],
    device: circlekeep_engine::MemberId,
    signer: &circlekeep_seal::DeviceIdentity,
) -> Vec<u8> {
    let mut digest = circlekeep_seal::backup::BackupDigest::default();
    for (path, bytes) in files {
        digest.add(path, bytes);
    }
    let mut signature = device.as_bytes().to_vec();
    signature.extend_from_slice(&digest.sign(signer));
    let mut all = files.to_vec();
    all.push(("signature", signature));
    archive(&all)
}

/// Anyone can seal a file to Ada's public recipient. Eve makes "backups"
/// of Ada's that bring Eve's circle (which added Ada), a journal entry and
/// Eve's relay: unsigned, signed by Eve, signed by Eve in Ada's name, and
/// Ada's own backup altered. Ada's restore refuses each one before taking
/// anything in: no circle, no journal entry, no setting.
#[test]
fn a_backup_this_device_did_not_sign_is_refused() {
    use circlekeep_seal::epoch::{open_backup, seal_to_recipient};
    let group = peers(2);
    let (ada, eve) = (&group[0], &group[1]);
    let evil_circle = eve
        .create_circle("Eve's circle", HistoryPolicy::SinceJoining)
        .expect("create");
    eve.add_member(evil_circle, &ada.card()).expect("add");
    let bundle = eve.export_bundle(evil_circle, None).expect("export");
    let entry = serde_json::json!({"id": "planted", "created": "2026-01-01T00:00:00Z", "circle": null, "text": "PLANTED-JOURNAL"});
    let files = vec![
        (
            format!("circles/{}.bundle", evil_circle.to_hex()).leak() as &str,
            bundle,
        ),
        ("journal.jsonl", format!("{entry}\n").into_bytes()),
        (
            "settings.json",
            br#"{"relay": "https://relay.eve.example"}"#.to_vec(),
        ),
    ];
    let to_ada = |tar: &[u8]| seal_to_recipient(&ada.identity().recipient(), tar);
    let ada_id = ada.identity().device_id();
    let mut genuine = open_backup(
        ada.identity().age_identity(),
        &ada.backup(None).expect("backup"),
    )
    .expect("open");
    // Ada's own backup with one byte of its settings changed (the bytes
    // follow the file's 512-byte header, which starts with its name).
    let at = (0..genuine.len())
        .step_by(512)
        .find(|&at| genuine[at..].starts_with(b"settings.json\0"))
        .expect("settings in the archive")
        + 512;
    genuine[at] ^= 1;
    let crafted = [
        ("unsigned", "not signed", to_ada(&archive(&files))),
        (
            "signed by Eve",
            "another device",
            to_ada(&signed_archive(
                &files,
                eve.identity().device_id(),
                eve.identity(),
            )),
        ),
        (
            "Eve's signature in Ada's name",
            "altered",
            to_ada(&signed_archive(&files, ada_id, eve.identity())),
        ),
        ("Ada's backup altered", "altered", to_ada(&genuine)),
    ];
    for (what, why, sealed) in crafted {
        let refused = ada.restore(&sealed);
        assert!(
            matches!(&refused, Err(circlekeep_engine::EngineError::Backup(m)) if m.contains(why)),
            "{what}: {refused:?}"
        );
    }
    assert!(ada.journal().expect("journal").is_empty());
    assert_eq!(ada.setting("relay").expect("setting"), None);
    assert!(ada.circles().expect("circles").is_empty());
    // Ada's own backup restores.
    assert!(ada.restore(&ada.backup(None).expect("backup")).is_ok());
}

#[test]
fn a_backup_decrypts_with_the_age_cli_and_restores_identically() {
    let group = peers(2);
    let (ada, bo) = (&group[0], &group[1]);
    let circle = scheduled_circle(&group, "2027-01-04");
    let gathering = ada
        .open_gathering(
            circle,
            date("2027-01-07"),
            circlekeep_engine::agenda::Template::Biweekly,
        )
        .expect("open");
    ada.add_note(circle, gathering, "We began.").expect("note");
    let goal = ada.add_goal(circle, "Lead the team offsite").expect("goal");
    ada.goal_milestone(circle, &goal, "Agenda drafted")
        .expect("milestone");
    bo.add_goal(circle, "Speak up in reviews").expect("goal");
    bo.send(ada, circle);
    ada.journal_add("After the first gathering I felt lighter.", None)
        .expect("journal");
    ada.set_setting("relay", Some("disabled")).expect("setting");

    let backup = ada.backup(Some(b"key file bytes")).expect("backup");
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, key, tar) = (
        dir.path().join("backup.age"),
        dir.path().join("key.txt"),
        dir.path().join("backup.tar"),
    );
    std::fs::write(&file, &backup).expect("write");
    std::fs::write(
        &key,
        ada.identity().age_identity().to_string().expose_secret(),
    )
    .expect("key");

    // The standard age tool opens it with the identity.
    let status = std::process::Command::new("age")
        .args(["-d", "-i"])
        .arg(&key)
        .arg("-o")
        .arg(&tar)
        .arg(&file)
        .status()
        .expect("the age command-line tool is installed (apt-get install age)");
    assert!(status.success());
    let mut names: Vec<String> = tar::Archive::new(std::fs::File::open(&tar).expect("tar"))
        .entries()
        .expect("entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "README.txt".to_owned(),
            format!("circles/{}.bundle", circle.to_hex()),
            "identity.age".into(),
            "journal.jsonl".into(),
            "settings.json".into(),
            "signature".into(),
        ]
    );

    // A fresh device with the same identity restores an identical state.
    let fresh = Peer::new("Ada", 1);
    let report = fresh.restore(&backup).expect("restore");
    assert_eq!(report.circles, 1);
    assert_eq!(report.journal, 1);
    assert_eq!(seen(&fresh, circle), seen(ada, circle));
    assert_eq!(
        fresh.circle(circle).expect("view").goals,
        ada.circle(circle).expect("view").goals
    );
    assert_eq!(
        fresh.schedule(circle, date("2027-01-04")).expect("s"),
        ada.schedule(circle, date("2027-01-04")).expect("s")
    );
    assert_eq!(fresh.journal().expect("j"), ada.journal().expect("j"));
    assert_eq!(
        fresh.setting("relay").expect("s").as_deref(),
        Some("disabled")
    );
    // Restoring twice changes nothing; and the restored device writes on.
    let again = fresh.restore(&backup).expect("again");
    assert_eq!((again.records, again.journal), (0, 0));
    fresh
        .add_note(circle, gathering, "Back again.")
        .expect("note");
    // Garbage is refused clearly.
    assert!(matches!(
        fresh.restore(b"not a backup"),
        Err(circlekeep_engine::EngineError::Backup(_))
    ));
}

/// The leak of #23: while an off-the-record turn runs, typing into a note
/// that already exists was saved, synced and exported under the previous
/// turn. Every way of writing a note is tried during the turn; none of the
/// text reaches the store, the other member or the export.
#[test]
fn nothing_typed_during_an_off_the_record_turn_is_kept() {
    let group = peers(2);
    let (ada, bo) = (&group[0], &group[1]);
    let circle = scheduled_circle(&group, "2027-01-04");
    let g = ada.new_gathering(circle, date("2027-01-07")).expect("open");
    let note = ada.add_note(circle, g, "Bo's plan:").expect("note");
    let version = ada.notes(circle, Some(g)).expect("notes")[0]
        .version
        .clone();
    let bo_id = bo.identity().member_id();
    ada.start_turn(circle, g, bo_id, None, "", true)
        .expect("turn");

    let secret = "SECRET-OFF-RECORD";
    let edit = [TextEdit {
        position: 10,
        delete: 0,
        insert: secret.into(),
    }];
    let attempts = [
        ada.edit_note(circle, g, &note, &edit).err(),
        ada.edit_note_at(circle, g, &note, &edit, &version).err(),
        ada.add_note(circle, g, secret).err(),
    ];
    for refused in attempts {
        assert!(
            matches!(refused, Some(circlekeep_engine::EngineError::NotAllowed(_))),
            "refused while off the record: {refused:?}"
        );
    }
    ada.end_turn(circle, g).expect("end");
    ada.send(bo, circle);

    for peer in [ada, bo] {
        let notes = readable_notes(peer, circle);
        assert_eq!(notes, ["Bo's plan:"], "{}: nothing of the turn", peer.name);
    }
    let markdown = ada.gathering_markdown(circle, g).expect("export");
    assert!(!markdown.contains(secret), "the export keeps none of it");
    assert!(files_containing(ada.dir(), secret).is_empty());

    // Once the turn has ended, the note is open again.
    ada.edit_note(circle, g, &note, &edit)
        .expect("typing after the turn");
    assert!(readable_notes(ada, circle)[0].ends_with(secret));
}

#[test]
fn a_gathering_runs_its_agenda_turns_and_off_the_record() {
    let group = peers(3);
    let (ada, bo, cy) = (&group[0], &group[1], &group[2]);
    let circle = scheduled_circle(&group, "2027-01-04");
    let g = ada
        .open_gathering(
            circle,
            date("2027-01-07"),
            circlekeep_engine::agenda::Template::Biweekly,
        )
        .expect("open");
    let id = |p: &Peer| p.identity().member_id();
    ada.set_attendance(circle, g, id(cy), false)
        .expect("absent");
    ada.request_time(circle, g, id(ada), 200).expect("ask");
    ada.request_time(circle, g, id(bo), 100).expect("ask");
    let fitted = ada.fitted_time(circle, g).expect("fit");
    let total: u32 = fitted.values().sum();
    let turns_minutes = 120 - (3 + 2 + 3 + 2 + 1 + 5);
    assert_eq!(total, turns_minutes, "requests scaled into the time left");
    assert!(fitted[&id(ada).to_hex()] > fitted[&id(bo).to_hex()]);

    ada.start_turn(circle, g, id(bo), None, "challenge my plan", true)
        .expect("turn");
    let refused = ada.add_note(circle, g, "should not be kept");
    assert!(matches!(
        refused,
        Err(circlekeep_engine::EngineError::NotAllowed(_))
    ));
    ada.start_turn(circle, g, id(ada), Some(1), "", false)
        .expect("turn");
    ada.add_note(circle, g, "Ada will delegate").expect("note");
    ada.end_turn(circle, g).expect("end");
    ada.next_step(circle, g).expect("step");
    ada.add_step(circle, g, Some(1), StepKind::Custom, "Welcome our guest", 5)
        .expect("add step");

    let state = ada
        .gathering_state(circle, g, chrono::Utc::now())
        .expect("state");
    assert_eq!(state.turns.len(), 2);
    assert!(state.turns[0].off_record && state.turns[0].ended.is_some());
    assert!(state.current_turn.is_none());
    assert_eq!(state.agenda[1].title, "Welcome our guest");
    assert!(
        state.agenda[2].current,
        "the current step stayed on check-in"
    );
    let waiting: Vec<&str> = state.waiting.iter().map(|w| w.name.as_str()).collect();
    assert!(
        waiting.is_empty(),
        "Cy is absent, Ada and Bo had turns: {waiting:?}"
    );
    // The timer warns near the end of an allotment.
    let later = chrono::Utc::now() + chrono::Duration::seconds(50);
    ada.start_turn(circle, g, id(bo), Some(1), "", false)
        .expect("turn");
    let warned = ada.gathering_state(circle, g, later).expect("state");
    assert!(warned.current_turn.expect("running").warning);
    // Paused, the clock stands still however late it is; resumed, it runs
    // on, the pause not counted as Bo's time or airtime.
    ada.pause_turn(circle, g, true).expect("pause");
    let much_later = chrono::Utc::now() + chrono::Duration::minutes(30);
    let paused = ada.gathering_state(circle, g, much_later).expect("state");
    let turn = paused.current_turn.expect("running");
    assert!(
        turn.paused && turn.elapsed_secs <= 2 && !turn.warning,
        "{turn:?}"
    );
    ada.pause_turn(circle, g, true)
        .expect("pausing twice is pausing");
    ada.pause_turn(circle, g, false).expect("resume");
    let resumed = ada.gathering_state(circle, g, later).expect("state");
    let turn = resumed.current_turn.expect("running");
    assert!(
        !turn.paused && (48..=52).contains(&turn.elapsed_secs),
        "{turn:?}"
    );

    let md = ada.gathering_markdown(circle, g).expect("markdown");
    assert!(md.contains("Off the record: no notes were kept."));
    assert!(md.contains("Ada will delegate"));
    assert!(!md.contains("should not be kept"));
    // The gathering's roles are frozen into the schedule.
    let s = ada.schedule(circle, date("2027-01-04")).expect("schedule");
    assert_eq!(s[0].gathering.as_deref(), Some(g.to_hex().as_str()));
}

/// Check-in and discussion time count as airtime, not only turns: time a
/// member speaks outside the turns is theirs on the clock, yet leaves them
/// waiting for a turn, asks no feedback and makes no turn in the record.
#[test]
fn speaking_outside_the_turns_counts_as_airtime_but_is_no_turn() {
    let group = peers(3);
    let (ada, bo, cy) = (&group[0], &group[1], &group[2]);
    let circle = scheduled_circle(&group, "2027-01-04");
    let g = ada
        .open_gathering(
            circle,
            date("2027-01-07"),
            circlekeep_engine::agenda::Template::Biweekly,
        )
        .expect("open");
    let id = |p: &Peer| p.identity().member_id();
    ada.set_step(circle, g, 1).expect("check-in");
    // Check-in is 2 minutes for three: each speaks for a minute's share.
    let check_in = ada
        .start_speaking(circle, g, id(bo), None, false)
        .expect("Bo checks in");
    ada.add_note(circle, g, "Bo is tired but glad to be here")
        .expect("a note in Bo's check-in");
    let later = chrono::Utc::now() + chrono::Duration::seconds(70);
    let state = ada.gathering_state(circle, g, later).expect("state");
    let speaking = state.current_turn.clone().expect("Bo speaking");
    assert!(speaking.speaking && speaking.id == check_in);
    assert_eq!(speaking.allotted, 1, "the step's 2 minutes shared by three");
    let bo_air = |s: &circlekeep_engine::views::GatheringStateView| {
        s.airtime
            .iter()
            .find(|a| a.member.id == id(bo).to_hex())
            .map(|a| a.airtime_secs)
    };
    assert!(bo_air(&state) >= Some(70), "Bo's check-in is airtime");
    let waiting: Vec<&str> = state.waiting.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(waiting.len(), 3, "nobody has had a turn yet: {waiting:?}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ada.end_turn(circle, g).expect("Bo done");

    ada.set_step(circle, g, 4).expect("turns");
    ada.start_turn(circle, g, id(cy), Some(10), "questions", false)
        .expect("Cy's turn");
    ada.end_turn(circle, g).expect("end");
    let state = ada
        .gathering_state(circle, g, chrono::Utc::now())
        .expect("state");
    let waiting: Vec<&str> = state.waiting.iter().map(|w| w.name.as_str()).collect();
    assert!(
        waiting.contains(&"Bo") && !waiting.contains(&"Cy"),
        "Bo spoke but still waits for a turn, Cy had one: {waiting:?}"
    );
    assert_eq!(state.turns.iter().filter(|t| !t.speaking).count(), 1);

    let md = ada.gathering_markdown(circle, g).expect("markdown");
    assert!(
        md.contains(", speaking (") && md.contains("Bo is tired"),
        "{md}"
    );
    let retro = ada.retrospective(circle, None, Some(date("2027-01-07")));
    let retro = retro.expect("retrospective");
    assert_eq!(retro.gatherings[0].turns, 1, "speaking time is no turn");
    let bo_retro = retro
        .members
        .iter()
        .find(|m| m.member.id == id(bo).to_hex());
    assert!(
        bo_retro.is_some_and(|m| m.airtime_secs > 0),
        "but it is airtime"
    );
}

#[test]
fn a_new_device_restores_from_its_key_file_and_backup_or_is_left_untouched() {
    use circlekeep_engine::{Engine, EngineError, Home, SecretString};
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = SecretString::from("correct horse".to_owned());
    let home = |name: &str| Home::new(dir.path().join(name));
    let ada = Engine::init(&home("ada"), "Ada", &pass, 10).expect("init");
    let circle = ada
        .create_circle("Restored circle", HistoryPolicy::SinceJoining)
        .expect("circle");
    let gathering = ada
        .new_gathering(circle, date("2027-01-07"))
        .expect("gathering");
    ada.add_note(circle, gathering, "Before the laptop died.")
        .expect("note");
    ada.journal_add("Mine alone.", Some(circle))
        .expect("journal");
    // Ada also holds a circle she was removed from: the backup carries it,
    // and a restore leaves it out instead of failing on it.
    let cy = Engine::init(&home("cy"), "Cy", &pass, 10).expect("init");
    let elsewhere = cy
        .create_circle("Cy's circle", HistoryPolicy::SinceJoining)
        .expect("circle");
    cy.add_member(elsewhere, ada.member_card().expect("card").as_line())
        .expect("add Ada");
    let to_ada = |cy: &Engine| {
        let bundle = cy.export_bundle(elsewhere, None).expect("export");
        ada.import_bundle(&bundle).expect("import");
    };
    to_ada(&cy);
    cy.remove_member(elsewhere, ada.identity().member_id())
        .expect("remove Ada");
    to_ada(&cy);
    assert_eq!(ada.circles().expect("circles").len(), 2);
    let key = std::fs::read(home("ada").identity_file()).expect("key file");
    let backup = ada.backup(Some(&key)).expect("backup");

    // Mismatches are refused before anything is written.
    let other = Engine::init(&home("other"), "Other", &pass, 10).expect("init");
    let other_key = std::fs::read(home("other").identity_file()).expect("key file");
    let untouched = home("untouched");
    let refusals = [
        Engine::restore_new_device(&untouched, &other_key, &pass, &backup, 10).err(),
        Engine::restore_new_device(
            &untouched,
            &key,
            &SecretString::from("wrong".to_owned()),
            &backup,
            10,
        )
        .err(),
        Engine::restore_new_device(&untouched, &key, &pass, b"not a backup", 10).err(),
        Engine::restore_new_device(&untouched, b"not a key file", &pass, &backup, 10).err(),
        Engine::restore_new_device(&home("other"), &key, &pass, &backup, 10).err(),
    ];
    assert!(
        matches!(refusals[0], Some(EngineError::Backup(_))),
        "{refusals:?}"
    );
    assert!(
        matches!(refusals[4], Some(EngineError::AlreadyInitialized(_))),
        "{refusals:?}"
    );
    assert!(refusals.iter().all(Option::is_some), "{refusals:?}");
    assert!(!untouched.is_initialized());
    assert_eq!(
        other.circles().expect("circles"),
        Vec::new(),
        "the other device is as it was"
    );

    // The right pair brings everything back on a new device of Ada's,
    // with keys of its own: the backed-up key is not on its disk.
    let (fresh, report) =
        Engine::restore_new_device(&home("fresh"), &key, &pass, &backup, 10).expect("restore");
    assert_eq!((report.circles, report.journal), (1, 1));
    let (card, ada_card) = (
        fresh.member_card().expect("card"),
        ada.member_card().expect("card"),
    );
    assert_eq!(
        (card.member, card.fingerprint()),
        (ada_card.member, ada_card.fingerprint())
    );
    assert_ne!(fresh.identity().device_id(), ada.identity().device_id());
    let stored = std::fs::read(home("fresh").identity_file()).expect("key file");
    let stored = circlekeep_engine::DeviceIdentity::from_key_file(&stored, &pass).expect("opens");
    assert_eq!(stored.device_id(), fresh.identity().device_id());
    assert_eq!(
        fresh.heads(circle).expect("heads"),
        ada.heads(circle).expect("heads")
    );
    assert_eq!(fresh.journal().expect("j"), ada.journal().expect("j"));
    drop(fresh);
    Engine::open(&home("fresh"), &pass).expect("the new device opens with the passphrase");
}

#[test]
fn a_gathering_is_announced_once_and_again_when_moved() {
    let mut group = peers(2);
    // 2027-01-07, 18:30 in Berlin is 17:30 UTC.
    let circle = scheduled_circle(&group, "2027-01-04");
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&chrono::Utc)
    };
    let day = chrono::Duration::hours(24);
    let due = |peer: &Peer, now: &str| peer.reminders_to_announce(at(now), day).expect("reminders");

    assert!(
        due(&group[0], "2027-01-05T12:00:00Z").is_empty(),
        "two days ahead"
    );
    let first = due(&group[0], "2027-01-06T18:00:00Z");
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        first[0].text.contains("2027-01-07 18:30") && first[0].text.contains(PLACE),
        "the reminder says when and where: {}",
        first[0].text
    );
    assert!(due(&group[0], "2027-01-06T19:00:00Z").is_empty(), "once");
    // Still once after the app restarts: it is remembered on disk.
    group[0].restart(false);
    assert!(
        due(&group[0], "2027-01-06T19:30:00Z").is_empty(),
        "once, across restarts"
    );

    // Moved to later that evening: a new time, announced again, once.
    let ada = &group[0];
    let later = Move {
        date: date("2027-01-07"),
        time: Some("20:00".parse().expect("time")),
        place: None,
    };
    ada.reschedule(circle, date("2027-01-07"), &later)
        .expect("move");
    let moved = due(ada, "2027-01-06T20:00:00Z");
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(moved[0].text.contains("20:00"), "{}", moved[0].text);
    assert!(due(ada, "2027-01-06T21:00:00Z").is_empty());

    // Cancelled: nothing to announce, even where it never was.
    ada.cancel_gathering(circle, date("2027-01-07"), true)
        .expect("cancel");
    ada.send(&group[1], circle);
    assert!(due(&group[1], "2027-01-06T22:00:00Z").is_empty());
    // The announcement record is sealed: no date of the schedule in clear.
    let store = group[0].dir().join("store");
    assert!(files_containing(&store, "2027-01-07").is_empty());
    assert!(files_containing(&store, "Old Library").is_empty());
}

/// A contract made at a gathering is due for report back at the next one:
/// its owner is reminded (once, without the contract's words, which a
/// notification would show to anyone near the screen); once reported,
/// or for anyone else, there is nothing to remind.
#[test]
fn a_contract_is_announced_as_due_before_the_next_gathering() {
    let group = peers(2);
    let (ada, bo) = (&group[0], &group[1]);
    let circle = scheduled_circle(&group, "2027-01-04");
    let first = ada
        .open_gathering(
            circle,
            date("2027-01-07"),
            circlekeep_engine::agenda::Template::Biweekly,
        )
        .expect("the first gathering");
    const WORDS: &str = "Delegate the offsite planning";
    let contract = ada
        .add_contract(circle, WORDS, None, Some(first))
        .expect("Ada's contract");
    ada.send(bo, circle);
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&chrono::Utc)
    };
    let day = chrono::Duration::hours(24);
    let contract_reminders = |peer: &Peer, now: &str| {
        peer.reminders_to_announce(at(now), day)
            .expect("reminders")
            .into_iter()
            .filter(|r| r.kind == "contract")
            .collect::<Vec<_>>()
    };
    // The next gathering: 2027-01-21, 18:30 in Berlin.
    assert!(
        contract_reminders(ada, "2027-01-19T12:00:00Z").is_empty(),
        "too early"
    );
    let due = contract_reminders(ada, "2027-01-20T18:00:00Z");
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].due, 1);
    assert!(
        due[0].text.contains("report back on your contract") && due[0].text.contains("2027-01-21"),
        "{}",
        due[0].text
    );
    assert!(!due[0].text.contains(WORDS), "{}", due[0].text);
    assert!(
        contract_reminders(ada, "2027-01-20T19:00:00Z").is_empty(),
        "once"
    );
    assert!(
        contract_reminders(bo, "2027-01-20T18:00:00Z").is_empty(),
        "Ada's, not Bo's"
    );
    // Reported early: nothing due.
    ada.report_contract(
        circle,
        &contract,
        Some(circlekeep_engine::Outcome::Kept),
        None,
    )
    .expect("reported");
    let later = ada
        .reminders(at("2027-01-20T20:00:00Z"), day)
        .expect("reminders");
    assert!(later.iter().all(|r| r.kind != "contract"), "{later:?}");
}

#[test]
fn the_guide_is_prompted_to_hand_over_after_the_third_gathering() {
    let group = peers(3);
    let (ada, bo) = (&group[0], &group[1]);
    let circle = scheduled_circle(&group, "2026-09-01");
    let bo_id = bo.identity().member_id();
    let guide = Setup {
        guide: Some(Some(bo_id)),
        ..Default::default()
    };
    ada.setup(circle, &guide).expect("Bo guides");
    let on = date("2026-11-01");
    for (i, day) in ["2026-09-03", "2026-09-17", "2026-10-01"]
        .iter()
        .enumerate()
    {
        assert!(
            ada.practice(circle, on)
                .expect("practice")
                .guide_prompt
                .is_none(),
            "not before the third ({i})"
        );
        ada.new_gathering(circle, date(day)).expect("gathering");
    }
    let practice = ada.practice(circle, on).expect("practice");
    let prompt = practice.guide_prompt.expect("the hand-over prompt");
    assert!(prompt.contains("Bo has guided 3 gatherings"), "{prompt}");
    // The app shows it as it is: no command-line advice in it.
    assert!(
        !prompt.contains("circlekeep") && !prompt.contains('`'),
        "{prompt}"
    );
    // Handing over removes the guide; the role and the prompt go with them.
    ada.remove_member(circle, bo_id).expect("hand over");
    let after = ada.practice(circle, on).expect("practice");
    assert_eq!((after.guide, after.guide_prompt), (None, None));
}
