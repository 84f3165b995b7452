//! The gathering at the table (DESIGN §1's practice): what each step
//! brings — ground rules at the opening, last time's contracts at the
//! report back, the next gathering's roles at the close — and the contract
//! loop, with the facilitator recording a presenter's contract and report
//! back for them, shown as recorded by the facilitator. Authorship stays
//! with the signer (invariant 3a): a modified client can neither pass a
//! member's own contract off as someone else's nor claim another recorder.

use circlekeep_engine::practice::Setup;
use circlekeep_engine::schedule::Cadence;
use circlekeep_engine::{CircleId, DocId, HistoryPolicy, Outcome};
use circlekeep_model::docs::{self, CircleMap};
use circlekeep_tests::{circle_of, date, Peer};

const RULES: &str = "What is said here stays here.\nEveryone gets their time.";

/// Ada, Bo and Cy meeting every other Thursday; Ada wrote the charter.
fn circle() -> (Vec<Peer>, CircleId) {
    let group: Vec<Peer> = ["Ada", "Bo", "Cy"]
        .iter()
        .zip(1u8..)
        .map(|(name, seed)| Peer::new(name, seed))
        .collect();
    let others: Vec<&Peer> = group[1..].iter().collect();
    let circle = circle_of(&group[0], &others, HistoryPolicy::SinceJoining);
    let cadence =
        Cadence::parse(2, "thu", "18:30", 120, "Europe/Berlin", "2026-11-05").expect("cadence");
    let setup = Setup {
        cadence: Some(cadence),
        ..Default::default()
    };
    group[0].setup(circle, &setup).expect("setup");
    group[0].edit_charter(circle, RULES).expect("charter");
    (group, circle)
}

fn step_to(peer: &Peer, circle: CircleId, g: DocId, kind: &str) {
    let state = peer
        .gathering_state(circle, g, circlekeep_engine::Utc::now())
        .expect("state");
    let at = state
        .agenda
        .iter()
        .position(|s| s.kind == kind)
        .expect("step in the agenda");
    peer.set_step(circle, g, at as u64).expect("step");
}

#[test]
fn the_contract_loop_runs_at_the_table() {
    let (group, circle) = circle();
    let (ada, bo, cy) = (&group[0], &group[1], &group[2]);
    let id = |p: &Peer| p.identity().member_id();
    let first = ada
        .new_gathering(circle, date("2026-11-19"))
        .expect("first gathering");
    // Bo's turn ends; Ada, facilitating, writes down his contract for him.
    ada.start_turn(circle, first, id(bo), Some(10), "", false)
        .expect("Bo's turn");
    ada.end_turn(circle, first).expect("end");
    let bos = ada
        .record_contract(
            circle,
            Some(id(bo)),
            "Ask for the budget",
            None,
            Some(first),
        )
        .expect("Bo's contract, recorded by Ada");
    for peer in [bo, cy] {
        ada.send(peer, circle);
    }
    let cys = cy
        .add_contract(circle, "Run the stand-up", None, Some(first))
        .expect("Cy's own contract");
    cy.send(ada, circle);
    let brief = ada.step_brief(circle, first).expect("brief");
    let made: Vec<(&str, Option<&str>)> = brief
        .made_here
        .iter()
        .map(|k| {
            (
                k.owner_name.as_str(),
                k.recorded_by.as_ref().map(|r| r.name.as_str()),
            )
        })
        .collect();
    assert_eq!(made.len(), 2);
    assert!(
        made.contains(&("Bo", Some("Ada"))) && made.contains(&("Cy", None)),
        "{made:?}"
    );
    let on_bos = bo.circle(circle).expect("Bo's view").contracts;
    assert_eq!(on_bos[0].owner, id(bo).to_hex(), "Bo's, on his device too");
    assert_eq!(
        on_bos[0].recorded_by.as_ref().map(|r| r.name.as_str()),
        Some("Ada")
    );

    // Next time: Cy sends apologies; the report back lists Bo's contract.
    let second = ada
        .new_gathering(circle, date("2026-12-03"))
        .expect("second gathering");
    ada.set_attendance(circle, second, id(cy), false)
        .expect("Cy absent");
    step_to(ada, circle, second, "open");
    assert_eq!(
        ada.step_brief(circle, second).expect("open").ground_rules,
        RULES
    );
    step_to(ada, circle, second, "report-back");
    let brief = ada.step_brief(circle, second).expect("report back");
    assert_eq!(brief.step, "report-back");
    let listed: Vec<&str> = brief.report_back.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(listed, [bos.as_str()], "Cy is away: only Bo's");
    ada.report_contract(
        circle,
        &bos,
        Some(Outcome::Kept),
        Some("asking early helps"),
    )
    .expect("Ada records Bo's report back");
    let reported = &ada.step_brief(circle, second).expect("brief").report_back;
    assert_eq!(reported.len(), 1, "still listed once reported");
    assert_eq!(reported[0].outcome, "kept");
    assert_eq!(
        reported[0].reported_by.as_ref().map(|r| r.name.as_str()),
        Some("Ada")
    );
    assert!(!listed.contains(&cys.as_str()));

    // The close names the next gathering and who holds each role.
    step_to(ada, circle, second, "close");
    let next = ada
        .step_brief(circle, second)
        .expect("close")
        .next
        .expect("next");
    assert_eq!(next.date, "2026-12-17");
    assert!(next.roles.contains_key("facilitator"), "{:?}", next.roles);

    // The Markdown of each gathering says who recorded and who reported.
    let md = |g| ada.gathering_markdown(circle, g).expect("markdown");
    let first_md = md(first);
    assert!(
        first_md.contains("- Bo: Ask for the budget (recorded by Ada)"),
        "{first_md}"
    );
    assert!(first_md.contains("- Cy: Run the stand-up\n"), "{first_md}");
    // The report back given at the second is in its Markdown, though the
    // gathering is dated before the day it was recorded on.
    let second_md = md(second);
    assert!(
        second_md.contains("## Report back")
            && second_md.contains(
                "- Bo: Ask for the budget — **kept**. asking early helps (reported by Ada)"
            ),
        "{second_md}"
    );
    assert!(!first_md.contains("## Report back"), "{first_md}");
}

#[test]
fn a_modified_client_cannot_move_a_contract_or_claim_its_recorder() {
    let (group, circle) = circle();
    let (ada, bo, mallory) = (&group[0], &group[1], &group[2]);
    let hex = |p: &Peer| p.identity().member_id().to_hex();
    let own = ada
        .add_contract(circle, "Finish the draft", None, None)
        .expect("Ada's own");
    ada.send(mallory, circle);
    // Mallory (Cy's device, modified) makes Ada's own contract look like
    // Bo's, recorded by Ada, and posts one "recorded by Bo" for Ada.
    mallory
        .tamper(circle, DocId::CIRCLE, |d| {
            docs::put_value(d, &["contracts", &own], "owner", Some(hex(bo)))?;
            docs::put_value(d, &["contracts", &own], "on_behalf", Some(true))?;
            let forged = docs::Contract {
                owner: hex(ada),
                on_behalf: true,
                recorded_by: hex(bo),
                text: autosurgeon::Text::with_value("Quit the circle"),
                ..Default::default()
            };
            docs::put_record(d, CircleMap::Contracts, "forged", &forged)
        })
        .expect("forged");
    mallory.send(ada, circle);
    let contracts = ada.circle(circle).expect("view").contracts;
    let find = |id: &str| contracts.iter().find(|k| k.id == id).expect("contract");
    let mine = find(&own);
    assert_eq!(
        (mine.owner.as_str(), mine.recorded_by.as_ref()),
        (hex(ada).as_str(), None)
    );
    let forged = find("forged");
    assert_eq!(forged.owner, hex(ada), "on Ada's behalf, as claimed ...");
    assert_eq!(
        forged.recorded_by.as_ref().map(|r| r.id.clone()),
        Some(hex(mallory)),
        "... but shown as recorded by its signer"
    );
}

/// A short series is one thing: starting it sets both days; the second,
/// opened as the series' report, lists the actions set at the first at its
/// report back (not older contracts), and closes with the series in
/// review, in the app, the CLI's brief and the Markdown; a reminder comes
/// before the report-back day, and none once it is open.
#[test]
fn a_two_gathering_series_carries_its_actions_into_its_review() {
    let (group, circle) = circle();
    let (ada, bo) = (&group[0], &group[1]);
    let id = |p: &Peer| p.identity().member_id();
    let older = ada
        .add_contract(circle, "Something from before the series", None, None)
        .expect("an older contract, reported already");
    ada.report_contract(circle, &older, Some(Outcome::Kept), None)
        .expect("reported");
    let first = ada
        .start_series(circle, date("2027-03-01"), Some(date("2027-03-15")))
        .expect("the series starts");
    for (bad, why) in [("2027-03-01", "same day"), ("2027-09-01", "half a year on")] {
        assert!(
            ada.start_series(circle, date("2027-03-01"), Some(date(bad)))
                .is_err(),
            "{why}"
        );
    }
    let listed = ada.circle(circle).expect("circle").gatherings;
    let started = listed
        .iter()
        .find(|g| g.id == first.to_hex())
        .expect("listed");
    assert_eq!(
        started.report_on.as_deref(),
        Some("2027-03-15"),
        "both days set"
    );
    let actions = [
        ada.record_contract(circle, Some(id(bo)), "Ask one question", None, Some(first))
            .expect("Bo's action"),
        ada.add_contract(circle, "Draft the memo", None, Some(first))
            .expect("Ada's action"),
    ];
    let soon = chrono::DateTime::parse_from_rfc3339("2027-03-14T09:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let remind = |at| {
        ada.reminders(at, chrono::Duration::days(2))
            .expect("reminders")
            .into_iter()
            .filter(|r| r.kind == "series")
            .count()
    };
    assert_eq!(remind(soon), 1, "the report-back day is near");

    let second = ada
        .open_gathering(
            circle,
            date("2027-03-15"),
            circlekeep_engine::agenda::Template::SeriesReport,
        )
        .expect("the series' report");
    assert_eq!(remind(soon), 0, "reported back: no reminder");
    let listed = ada.circle(circle).expect("circle").gatherings;
    let report = listed
        .iter()
        .find(|g| g.id == second.to_hex())
        .expect("listed");
    assert_eq!(report.follows.as_deref(), Some(first.to_hex().as_str()));
    step_to(ada, circle, second, "report-back");
    let brief = ada.step_brief(circle, second).expect("report back");
    let mut listed: Vec<&str> = brief.report_back.iter().map(|k| k.id.as_str()).collect();
    listed.sort();
    let mut expected: Vec<&str> = actions.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(listed, expected, "the series' actions, nothing older");
    ada.report_contract(
        circle,
        &actions[0],
        Some(Outcome::Partly),
        Some("asked twice"),
    )
    .expect("Bo reports");
    assert!(brief.review.is_none(), "the review comes at the close");
    step_to(ada, circle, second, "close");
    let review = ada
        .step_brief(circle, second)
        .expect("close")
        .review
        .expect("the series in review");
    assert_eq!(review.from.as_deref(), Some("2027-03-01"));
    assert_eq!(review.gatherings.len(), 2);
    let how: Vec<(&str, &str)> = review
        .contracts
        .iter()
        .map(|k| (k.text.as_str(), k.outcome.as_str()))
        .collect();
    assert!(
        how.contains(&("Ask one question", "partly")) && how.contains(&("Draft the memo", "")),
        "{how:?}"
    );
    let md = ada.gathering_markdown(circle, second).expect("markdown");
    assert!(
        md.contains("## The series in review\n\n2 gatherings; 2 actions set.")
            && md.contains("- Bo: Ask one question — **partly**.")
            && md.contains("- Ada: Draft the memo — **not reported**."),
        "{md}"
    );
    // Bo's device sees the same series.
    ada.send(bo, circle);
    let on_bos = bo.circle(circle).expect("Bo's view").gatherings;
    assert!(on_bos
        .iter()
        .any(|g| g.follows.as_deref() == Some(first.to_hex().as_str())));
}
