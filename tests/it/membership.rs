//! Invariant 2: members only. A removed member cannot read what is written
//! after the author learnt of the removal; a newcomer reads the circle
//! document but not earlier gatherings, unless newcomers see history;
//! concurrent membership changes are repaired by handing over keys.

use circlekeep_engine::HistoryPolicy;
use circlekeep_tests::{circle_of, date, readable_notes, Peer};

#[test]
fn a_removed_member_cannot_read_notes_written_after_the_removal_reached_the_author() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let cy = Peer::new("Cy", 3);
    let circle = circle_of(&ada, &[&bo, &cy], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.add_note(circle, g, "before the removal").expect("note");
    ada.send(&bo, circle);
    ada.send(&cy, circle);
    assert_eq!(readable_notes(&cy, circle), vec!["before the removal"]);

    // Bo writes before hearing of the removal: sealed to who Bo knew.
    bo.add_note(circle, g, "Bo, not yet knowing").expect("note");

    let cy_id = ada.find_member(circle, "Cy").expect("member");
    ada.remove_member(circle, cy_id).expect("remove");
    ada.add_note(circle, g, "Ada after removing Cy")
        .expect("note");
    ada.send(&bo, circle);
    bo.add_note(circle, g, "Bo after hearing of the removal")
        .expect("note");

    // Cy still receives everything (stores it, could relay it) ...
    for from in [&ada, &bo] {
        let report = from.send(&cy, circle);
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    }
    let mut seen = readable_notes(&cy, circle);
    seen.sort();
    // ... but reads only what was sealed before its authors knew.
    assert_eq!(seen, vec!["Bo, not yet knowing", "before the removal"]);
    assert!(cy.circle(circle).expect("view").sealed_entries >= 2);
    assert!(!cy.circle(circle).expect("view").member);
    assert_eq!(
        cy.add_note(circle, g, "let me in")
            .err()
            .map(|e| e.code().as_str()),
        Some("not_a_member")
    );
    // The others read everything.
    bo.send(&ada, circle);
    assert_eq!(readable_notes(&ada, circle).len(), 4);
}

#[test]
fn a_newcomer_since_joining_reads_the_charter_but_not_earlier_gatherings() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let dee = Peer::new("Dee", 4);
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let early = ada
        .new_gathering(circle, date("2026-11-12"))
        .expect("gathering");
    ada.add_note(circle, early, "early secret").expect("note");
    let goal = ada.add_goal(circle, "write the book").expect("goal");
    ada.add_contract(circle, "two pages a day", Some(&goal), Some(early))
        .expect("contract");

    ada.add_member(circle, &dee.card()).expect("add");
    let report = ada.send(&dee, circle);
    assert!(report.joined && report.rejected.is_empty(), "{report:?}");

    let view = dee.circle(circle).expect("circle document is readable");
    assert_eq!(view.name, "Thursday circle");
    assert!(view.charter.contains("Confidentiality"));
    assert_eq!(view.goals[0].text, "write the book");
    assert_eq!(view.contracts[0].text, "two pages a day");
    assert_eq!(view.members.len(), 3);
    assert_eq!(view.gatherings.len(), 1);
    assert!(!view.gatherings[0].readable);
    assert!(readable_notes(&dee, circle).is_empty());
    assert_eq!(
        dee.add_note(circle, early, "hello")
            .err()
            .map(|e| e.code().as_str()),
        Some("unreadable")
    );

    // Gatherings after joining are readable to the newcomer.
    let next = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.add_note(circle, next, "welcome Dee").expect("note");
    ada.send(&dee, circle);
    dee.accept_circle(circle).expect("accept");
    assert_eq!(readable_notes(&dee, circle), vec!["welcome Dee"]);
    dee.add_note(circle, next, "thank you")
        .expect("newcomer writes");
    dee.send(&ada, circle);
    assert_eq!(readable_notes(&ada, circle).len(), 3);
}

#[test]
fn a_newcomer_reads_earlier_gatherings_when_the_circle_chose_history() {
    let ada = Peer::new("Ada", 1);
    let dee = Peer::new("Dee", 4);
    let circle = circle_of(&ada, &[], HistoryPolicy::NewcomersSeeHistory);
    let early = ada
        .new_gathering(circle, date("2026-11-12"))
        .expect("gathering");
    ada.add_note(circle, early, "early notes").expect("note");
    ada.add_member(circle, &dee.card()).expect("add");
    ada.send(&dee, circle);
    assert_eq!(readable_notes(&dee, circle), vec!["early notes"]);
    assert_eq!(
        dee.circle(circle).expect("view").history,
        "newcomers-see-history"
    );
}

#[test]
fn concurrent_add_and_removal_are_repaired_with_key_grants() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let cy = Peer::new("Cy", 3);
    let dee = Peer::new("Dee", 4);
    let circle = circle_of(&ada, &[&bo, &cy], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.send(&bo, circle);

    // Concurrently: Ada adds Dee while Bo removes Cy and then writes.
    ada.add_member(circle, &dee.card()).expect("add");
    let cy_id = bo.find_member(circle, "Cy").expect("member");
    bo.remove_member(circle, cy_id).expect("remove");
    bo.add_goal(circle, "Bo's goal after removing Cy")
        .expect("goal");
    bo.add_note(circle, g, "Bo's note, not knowing Dee")
        .expect("note");

    // Everyone meets.
    for _ in 0..3 {
        for (from, to) in [(&ada, &bo), (&bo, &ada), (&ada, &dee), (&bo, &dee)] {
            let report = from.send(to, circle);
            assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        }
    }
    let members: Vec<String> = dee
        .members(circle)
        .expect("members")
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(members, vec!["Ada", "Bo", "Dee"]);
    // Dee reads Bo's circle-document edit: its key was granted afterwards.
    let goals: Vec<String> = dee
        .circle(circle)
        .expect("view")
        .goals
        .into_iter()
        .map(|g| g.text)
        .collect();
    assert_eq!(goals, vec!["Bo's goal after removing Cy"]);
    // Bo's note was sealed to those Bo knew; Dee was not among them.
    assert!(readable_notes(&dee, circle).is_empty());

    // Gathering `g` was opened before Dee joined, so it stays sealed to her
    // as a whole. The next writer re-keys for exactly Ada, Bo and Dee.
    let next = ada
        .new_gathering(circle, date("2026-12-10"))
        .expect("gathering");
    ada.add_note(circle, next, "for the three of us")
        .expect("note");
    ada.send(&dee, circle);
    ada.send(&cy, circle);
    assert!(readable_notes(&dee, circle).contains(&"for the three of us".to_owned()));
    assert!(!readable_notes(&cy, circle).contains(&"for the three of us".to_owned()));
}

#[test]
fn a_member_who_leaves_cannot_read_what_comes_after() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.send(&bo, circle);
    bo.leave_circle(circle).expect("leave");
    bo.send(&ada, circle);
    assert_eq!(ada.members(circle).expect("members").len(), 1);
    ada.add_note(circle, g, "after Bo left").expect("note");
    ada.send(&bo, circle);
    assert!(readable_notes(&bo, circle).is_empty());
}

#[test]
fn operations_signed_by_a_non_member_are_rejected() {
    use circlekeep_model::membership::{Action, OpBody, OP_VERSION};
    use circlekeep_seal::signed::{sign_op, verify_op};
    use circlekeep_seal::{DeviceIdentity, EpochSecret};

    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let bundle = circlekeep_engine::bundle::Bundle::decode(
        &ada.export_bundle(circle, None).expect("export"),
    )
    .expect("decode");
    let heads: Vec<_> = {
        let ops: Vec<_> = bundle
            .ops
            .iter()
            .map(|b| verify_op(b).expect("op"))
            .collect();
        let (m, _) = circlekeep_model::membership::Membership::build(circle, ops);
        m.heads().to_vec()
    };
    let eve = DeviceIdentity::from_seed("Eve", [9; 32]).expect("identity");
    let key = EpochSecret::generate()
        .seal_for([eve.recipient().to_string().as_str()])
        .expect("seal");
    let forged = sign_op(
        &eve,
        OpBody {
            version: OP_VERSION,
            circle: Some(circle),
            author: eve.member_id(),
            deps: heads,
            action: Action::Add {
                member: eve.member_id(),
                recipient: eve.recipient().to_string(),
                key,
            },
        },
    );
    let mut tampered = bundle.clone();
    tampered.ops.push(forged.signed);
    let report = bo.import_bundle(&tampered.encode()).expect("import");
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].code, "not_a_member");
    assert_eq!(bo.members(circle).expect("members").len(), 2);
}

/// Strong removal, end to end through bundles: Ada removes Bo; Bo, not
/// having heard, adds Mallory, removes Cy and writes; Mallory removes Ada.
/// None of it takes effect on Ada's or Cy's device, whatever order the
/// bundles arrive in, and Mallory reads nothing written after the removal.
#[test]
fn a_removed_member_who_has_not_heard_cannot_take_the_circle_over() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let cy = Peer::new("Cy", 3);
    let mallory = Peer::new("Mallory", 9);
    let circle = circle_of(&ada, &[&bo, &cy], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.send(&bo, circle);
    ada.send(&cy, circle);

    let bo_id = ada.find_member(circle, "Bo").expect("member");
    ada.remove_member(circle, bo_id).expect("remove");
    ada.add_note(circle, g, "after Bo's removal").expect("note");

    // Bo has not heard: in Bo's view all of this is allowed.
    let cy_id = bo.find_member(circle, "Cy").expect("member");
    bo.add_member(circle, &mallory.card()).expect("add Mallory");
    bo.remove_member(circle, cy_id).expect("remove Cy");
    bo.send(&mallory, circle);
    mallory.accept_circle(circle).expect("accept");
    let ada_id = mallory.find_member(circle, "Ada").expect("member");
    mallory.remove_member(circle, ada_id).expect("remove Ada");
    mallory.send(&bo, circle);

    // Cy hears of the takeover first, Ada of the removal first.
    for (from, to) in [(&mallory, &cy), (&ada, &cy), (&bo, &ada), (&mallory, &ada)] {
        from.send(to, circle);
    }
    for (who, peer) in [("Ada", &ada), ("Cy", &cy)] {
        let names: Vec<String> = peer
            .members(circle)
            .expect("members")
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, vec!["Ada", "Cy"], "on {who}'s device");
        assert!(peer.circle(circle).expect("view").member);
    }
    // Ada and Cy keep writing to each other; Mallory reads none of it.
    cy.add_note(circle, g, "Cy, still here")
        .expect("Cy is a member");
    cy.send(&ada, circle);
    ada.send(&mallory, circle);
    cy.send(&mallory, circle);
    let read = readable_notes(&mallory, circle);
    assert!(
        !read
            .iter()
            .any(|n| n == "after Bo's removal" || n == "Cy, still here"),
        "{read:?}"
    );
}

/// Who gets which key is the founder's signed choice, not a document field:
/// Bo flips the circle document's "newcomers see history" field; when Ada
/// then adds Dee, no device hands Dee an earlier epoch's key.
#[test]
fn a_member_flipping_the_history_field_opens_no_earlier_notes() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let dee = Peer::new("Dee", 4);
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-12"))
        .expect("gathering");
    ada.add_note(circle, g, "early secret").expect("note");
    ada.send(&bo, circle);

    bo.set_history_field(circle, HistoryPolicy::NewcomersSeeHistory)
        .expect("a valid, hostile edit");
    bo.send(&ada, circle);
    ada.add_member(circle, &dee.card()).expect("add");
    for _ in 0..2 {
        for (from, to) in [(&ada, &bo), (&bo, &ada), (&ada, &dee), (&bo, &dee)] {
            from.send(to, circle);
        }
    }
    assert!(dee.circle(circle).expect("view").member);
    assert!(readable_notes(&dee, circle).is_empty());
    for peer in [&ada, &bo, &dee] {
        assert_eq!(peer.circle(circle).expect("view").history, "since-joining");
    }
}

/// Consent: a circle that adds me waits as an invitation. Until I accept,
/// I can look at it but write nothing, and its members are not my peers
/// (they do not pass my handshake); then it is mine like any other.
#[test]
fn a_circle_that_adds_me_waits_as_an_invitation_until_i_accept() {
    use circlekeep_sync::Replica;
    let ada = Peer::new("Ada", 1);
    let dee = Peer::new("Dee", 4);
    let circle = ada
        .create_circle("Thursday circle", HistoryPolicy::SinceJoining)
        .expect("create");
    ada.add_member(circle, &dee.card()).expect("add");
    let g = ada
        .new_gathering(circle, date("2026-12-10"))
        .expect("gathering");
    ada.add_note(circle, g, "welcome, Dee").expect("note");
    let report = ada.send(&dee, circle);
    assert!(report.joined && report.rejected.is_empty(), "{report:?}");

    assert_eq!(dee.invitations().expect("invitations"), vec![circle]);
    let listed = dee.circles().expect("circles");
    assert!(listed[0].invitation && listed[0].member);
    assert!(dee.circle(circle).expect("view").invitation);
    assert_eq!(readable_notes(&dee, circle), vec!["welcome, Dee"]);
    assert_eq!(
        dee.add_note(circle, g, "too soon")
            .err()
            .map(|e| e.code().as_str()),
        Some("not_accepted")
    );
    assert!(dee.peers().is_empty());
    assert!(dee.circles_with(&ada.identity().member_id()).is_empty());

    dee.accept_circle(circle).expect("accept");
    assert!(dee.invitations().expect("invitations").is_empty());
    assert!(!dee.circle(circle).expect("view").invitation);
    assert!(dee.peers().contains(&ada.identity().member_id()));
    dee.add_note(circle, g, "glad to be here").expect("note");
    dee.send(&ada, circle);
    assert_eq!(readable_notes(&ada, circle).len(), 2);
}
