//! Authorship comes from the signer: a member's modified client that writes
//! someone else's id into author, owner and acceptance fields, or renames
//! other members, gets every record shown as its own, and no one renamed.

use circlekeep_engine::HistoryPolicy;
use circlekeep_model::docs::{self, CircleMap};
use circlekeep_tests::{circle_of, date, Peer};

const FORGERIES_PER_KIND: usize = 20;

#[test]
fn spoofed_authors_and_names_show_under_their_signer_only() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let mallory = Peer::new("Mallory", 6);
    let circle = circle_of(&ada, &[&bo, &mallory], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    let goal = ada.add_goal(circle, "write the book").expect("goal");
    ada.send(&mallory, circle);
    let hex = |p: &Peer| p.identity().member_id().to_hex();
    let (ada_hex, bo_hex, mallory_hex) = (hex(&ada), hex(&bo), hex(&mallory));

    // Mallory's client forges, in documents any member may edit: notes,
    // goals, contracts and progress notes that name Ada as their author ...
    let mut forged = 0;
    for i in 0..FORGERIES_PER_KIND {
        let id = format!("forged-{i}");
        let note = docs::Note {
            author: ada_hex.clone(),
            text: autosurgeon::Text::with_value(format!("Ada says {i}")),
            created: "2026-11-26T18:00:00Z".into(),
            turn: None,
        };
        mallory
            .tamper(circle, g, |d| docs::put_note(d, &id, &note))
            .expect("forged note");
        let goal_record = docs::Goal {
            owner: ada_hex.clone(),
            text: autosurgeon::Text::with_value(format!("Ada's goal {i}")),
            status: "open".into(),
            ..Default::default()
        };
        let contract = docs::Contract {
            owner: ada_hex.clone(),
            text: autosurgeon::Text::with_value(format!("Ada promises {i}")),
            ..Default::default()
        };
        let progress = docs::ProgressNote {
            author: ada_hex.clone(),
            text: format!("Ada's progress {i}"),
            created: "2026-11-26T18:00:00Z".into(),
        };
        mallory
            .tamper(circle, circlekeep_engine::DocId::CIRCLE, |d| {
                docs::put_record(d, CircleMap::Goals, &id, &goal_record)?;
                docs::put_record(d, CircleMap::Contracts, &id, &contract)?;
                docs::put_at(d, &["goals", &goal, "progress"], &id, &progress)
            })
            .expect("forged records");
        forged += 4;
    }
    // ... Bo's acceptance of the charter, and new names for Ada and Bo
    // (Bo renamed "Ada", so that `member remove Ada` would remove Bo).
    let acceptance = docs::Acceptance {
        at: "2026-11-26T18:00:00Z".into(),
        version: docs::charter_version(&ada.circle(circle).expect("view").charter),
    };
    for i in 0..FORGERIES_PER_KIND / 2 {
        mallory
            .tamper(circle, circlekeep_engine::DocId::CIRCLE, |d| {
                docs::put_at(d, &["charter", "accepted"], &bo_hex, &acceptance)?;
                docs::put_value(d, &["members", &ada_hex], "name", Some(format!("Mal {i}")))?;
                docs::put_value(d, &["members", &bo_hex], "name", Some("Ada"))
            })
            .expect("forged acceptance and names");
        forged += 2;
    }
    assert_eq!(forged, 100);

    for honest in [&ada, &bo] {
        let report = mallory.send(honest, circle);
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        let mut misattributed = 0;
        let view = honest.circle(circle).expect("view");
        for goal in view
            .goals
            .iter()
            .filter(|g| g.text.starts_with("Ada's goal"))
        {
            misattributed += usize::from(goal.owner != mallory_hex || goal.owner_name != "Mallory");
        }
        for contract in view
            .contracts
            .iter()
            .filter(|c| c.text.starts_with("Ada promises"))
        {
            misattributed +=
                usize::from(contract.owner != mallory_hex || contract.owner_name != "Mallory");
        }
        let notes = honest.notes(circle, Some(g)).expect("notes");
        for note in notes[0]
            .notes
            .iter()
            .filter(|n| n.text.starts_with("Ada says"))
        {
            misattributed +=
                usize::from(note.author != mallory_hex || note.author_name != "Mallory");
        }
        let markdown = honest.gathering_markdown(circle, g).expect("markdown");
        assert!(!markdown.contains("Ada: Ada says"), "{markdown}");
        assert!(markdown.contains("Mallory: Ada says 0"), "{markdown}");
        let practice = honest
            .practice(circle, date("2026-11-26"))
            .expect("practice");
        let bo_accepted = practice
            .charter
            .iter()
            .find(|a| a.member.id == bo_hex)
            .expect("Bo in the charter")
            .accepted
            .is_some();
        misattributed += usize::from(bo_accepted);
        let name = |hex: &str| {
            view.members
                .iter()
                .find(|m| m.id == hex)
                .map(|m| m.name.clone())
                .expect("member")
        };
        misattributed += usize::from(name(&ada_hex).starts_with("Mal"));
        misattributed += usize::from(name(&bo_hex).starts_with("Ada"));
        eprintln!(
            "authorship: {forged} spoofed author, owner, acceptance and name fields, \
             {misattributed} shown under anyone but their signer"
        );
        assert_eq!(misattributed, 0);
    }

    // Renamed members' devices write their own names back; once they meet,
    // every device shows them, and `Ada` selects Ada.
    ada.send(&bo, circle);
    bo.send(&ada, circle);
    for honest in [&ada, &bo] {
        let view = honest.circle(circle).expect("view");
        let names: Vec<(&str, &str)> = view
            .members
            .iter()
            .map(|m| (m.id.as_str(), m.name.as_str()))
            .collect();
        assert!(names.contains(&(ada_hex.as_str(), "Ada")), "{names:?}");
        assert!(names.contains(&(bo_hex.as_str(), "Bo")), "{names:?}");
        assert_eq!(
            honest.find_member(circle, "Ada").expect("Ada is Ada"),
            ada.identity().member_id()
        );
    }
}

#[test]
fn two_members_who_choose_one_name_are_told_apart() {
    let ada = Peer::new("Ada", 1);
    let other = Peer::new("Ada", 7);
    let circle = circle_of(&ada, &[&other], HistoryPolicy::SinceJoining);
    let names: Vec<String> = ada
        .circle(circle)
        .expect("view")
        .members
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|n| n.starts_with("Ada (")), "{names:?}");
    assert_ne!(names[0], names[1]);
    assert_eq!(
        ada.find_member(circle, "Ada")
            .err()
            .map(|e| e.code().as_str()),
        Some("ambiguous")
    );
}
