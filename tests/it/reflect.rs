//! Looking back (DESIGN §1's practice): search finds what another member
//! typed once it synced, by word, member, day and turn, and never another
//! member's journal (invariant 1: the journal is its writer's alone); the
//! pulse shows only averages, only from the third answer, and a member's
//! modified client cannot answer for others; the retrospective counts
//! attendance, contracts made and kept, milestones and the pulse.

use circlekeep_engine::search::SearchQuery;
use circlekeep_engine::views::PulseAnswers;
use circlekeep_engine::{CircleId, DocId, HistoryPolicy, Outcome};
use circlekeep_model::docs;
use circlekeep_tests::{circle_of, date, files_containing, Peer};

/// Ada's note in Bo's turn, and what else the circle holds to be found.
const NOTE: &str = "Bo felt braver after asking the Saltmarsh team for help";

fn four() -> (Vec<Peer>, CircleId, DocId) {
    let group: Vec<Peer> = ["Ada", "Bo", "Cy", "Di"]
        .iter()
        .zip(1u8..)
        .map(|(name, seed)| Peer::new(name, seed))
        .collect();
    let others: Vec<&Peer> = group[1..].iter().collect();
    let circle = circle_of(&group[0], &others, HistoryPolicy::SinceJoining);
    let g = group[0]
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    for peer in &group[1..] {
        group[0].send(peer, circle);
    }
    (group, circle, g)
}

fn query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        ..Default::default()
    }
}

#[test]
fn search_finds_a_word_another_member_typed_once_it_synced() {
    let (group, circle, g) = four();
    let (ada, bo) = (&group[0], &group[1]);
    let bo_id = bo.identity().member_id();
    ada.start_turn(circle, g, bo_id, Some(10), "", false)
        .expect("Bo's turn");
    ada.add_note(circle, g, NOTE).expect("Ada's note");
    ada.end_turn(circle, g).expect("end");
    ada.journal_add("saltmarsh: I held back tonight", Some(circle))
        .expect("Ada's journal");
    bo.add_contract(circle, "Ask Saltmarsh for a mentor", None, Some(g))
        .expect("Bo's contract");
    bo.journal_add("Saltmarsh went well", Some(circle))
        .expect("Bo's journal");

    assert!(
        bo.search(circle, &query("saltmarsh braver"))
            .expect("search")
            .is_empty(),
        "not synced yet"
    );
    ada.send(bo, circle);
    let found = bo
        .search(circle, &query("SALTMARSH braver"))
        .expect("search");
    assert_eq!(found.len(), 1, "{found:?}");
    let hit = &found[0];
    assert_eq!((hit.kind.as_str(), hit.text.as_str()), ("note", NOTE));
    assert_eq!(hit.author.as_ref().map(|a| a.name.as_str()), Some("Ada"));
    assert_eq!(hit.turn_of.as_ref().map(|t| t.name.as_str()), Some("Bo"));
    assert_eq!(hit.gathering, Some(g.to_hex()));
    assert!(hit.context.contains("Bo's turn"), "{}", hit.context);

    // One word: the note, Bo's contract and Bo's own journal, never Ada's.
    let all = bo.search(circle, &query("saltmarsh")).expect("search");
    let kinds: Vec<&str> = all.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(all.len(), 3, "{kinds:?}");
    assert!(kinds.contains(&"journal") && kinds.contains(&"contract"));
    assert!(all.iter().all(|h| !h.text.contains("held back")));

    // Filters: by member, by turn, by day.
    let by = |member: &Peer| Some(member.identity().member_id().to_hex());
    let only = |q: SearchQuery| bo.search(circle, &q).expect("search").len();
    let mine = SearchQuery {
        member: by(bo),
        ..query("saltmarsh")
    };
    assert_eq!(only(mine), 2, "Bo's contract and journal");
    let in_ada_turn = SearchQuery {
        turn_of: by(ada),
        ..query("saltmarsh")
    };
    assert_eq!(only(in_ada_turn), 0);
    let later = SearchQuery {
        from: Some(date("2099-01-01")),
        ..query("saltmarsh")
    };
    assert_eq!(only(later), 0);
    let on_the_day = SearchQuery {
        from: Some(date("2026-11-26")),
        to: Some(date("2026-11-26")),
        ..query("braver")
    };
    assert_eq!(only(on_the_day), 1);
    // Searching leaves nothing readable behind on disk.
    assert!(files_containing(bo.dir(), "Saltmarsh").is_empty());
}

#[test]
fn the_pulse_shows_averages_only_from_the_third_answer() {
    let (group, circle, g) = four();
    let answer = |n| PulseAnswers {
        heard: n,
        useful: n,
        time_fair: 4,
    };
    let ada = &group[0];
    // Mallory's client (Di's device) answers for Ada and Bo, and writes a
    // score out of range for itself: none of it counts.
    let di = &group[3];
    for victim in [&group[0], &group[1]] {
        let hex = victim.identity().member_id().to_hex();
        let forged = docs::Pulse {
            heard: 1,
            useful: 1,
            time_fair: 1,
            at: "2026-11-26T21:00:00Z".into(),
        };
        di.tamper(circle, g, |d| docs::put_at(d, &["pulse"], &hex, &forged))
            .expect("forged answer");
    }
    let di_hex = di.identity().member_id().to_hex();
    let junk = docs::Pulse {
        heard: 99,
        useful: 0,
        time_fair: u64::MAX,
        at: String::new(),
    };
    di.tamper(circle, g, |d| docs::put_at(d, &["pulse"], &di_hex, &junk))
        .expect("junk");
    di.send(ada, circle);
    assert_eq!(ada.pulse(circle, g).expect("pulse").answered, 0);

    let two = ada.answer_pulse(circle, g, answer(5)).expect("Ada answers");
    assert_eq!(two.mine, Some(answer(5)));
    ada.send(&group[1], circle);
    let two = group[1]
        .answer_pulse(circle, g, answer(4))
        .expect("Bo answers");
    assert_eq!((two.answered, two.heard), (2, None), "{two:?}");
    group[1].send(&group[2], circle);
    let three = group[2]
        .answer_pulse(circle, g, answer(3))
        .expect("Cy answers");
    assert_eq!(three.answered, 3);
    assert_eq!(
        (three.heard, three.time_fair),
        (Some(4.0), Some(4.0)),
        "{three:?}"
    );
    // Out of range is refused, with the rule said.
    let err = ada.answer_pulse(circle, g, answer(6)).expect_err("6 of 5");
    assert_eq!(err.code(), "bad_text");
}

#[test]
fn the_retrospective_counts_what_happened_in_its_days() {
    let (group, circle, g) = four();
    let (ada, bo) = (&group[0], &group[1]);
    for (peer, here) in group.iter().zip([true, true, true, false]) {
        ada.set_attendance(circle, g, peer.identity().member_id(), here)
            .expect("attendance");
    }
    ada.send(bo, circle);
    let kept = bo
        .add_contract(circle, "Ask Saltmarsh for a mentor", None, Some(g))
        .expect("contract");
    bo.report_contract(circle, &kept, Some(Outcome::Kept), Some("asking was easy"))
        .expect("report");
    bo.add_contract(circle, "Write the plan", None, Some(g))
        .expect("open contract");
    let goal = bo.add_goal(circle, "Lead the team").expect("goal");
    let milestone = bo
        .goal_milestone(circle, &goal, "First stand-up run")
        .expect("milestone");
    bo.reach_milestone(circle, &goal, &milestone)
        .expect("reached");
    for peer in &group[..3] {
        bo.send(peer, circle);
        let answers = PulseAnswers {
            heard: 5,
            useful: 4,
            time_fair: 3,
        };
        peer.answer_pulse(circle, g, answers).expect("pulse");
        peer.send(bo, circle);
    }

    let retro = bo
        .retrospective(circle, Some(date("2026-11-01")), None)
        .expect("retro");
    assert_eq!(retro.gatherings.len(), 1);
    assert_eq!(retro.gatherings[0].present, 3);
    let bo_row = retro
        .members
        .iter()
        .find(|m| m.member.name == "Bo")
        .expect("Bo");
    assert_eq!((bo_row.attended, bo_row.contracts), (1, 2));
    assert_eq!(bo_row.outcomes.get("kept"), Some(&1));
    assert_eq!(bo_row.outcomes.get("open"), Some(&1));
    let md = bo
        .retro_markdown(circle, Some(date("2026-11-01")), None)
        .expect("markdown");
    for line in [
        "1 gathering held.",
        "| Bo | 1 of 1 |",
        "| Di | 0 of 1 |",
        "- Bo: Ask Saltmarsh for a mentor — **kept**. asking was easy",
        "- Bo: Write the plan — **open**.",
        "- Bo: reached “First stand-up run” towards “Lead the team”",
        "| 2026-11-26 | 5.0 | 4.0 | 3.0 | 3 |",
    ] {
        assert!(md.contains(line), "{line:?} missing from\n{md}");
    }
    // A stretch before the gathering holds none of it.
    let before = bo
        .retrospective(circle, None, Some(date("2026-11-25")))
        .expect("retro");
    assert!(before.gatherings.is_empty());
}
