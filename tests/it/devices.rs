//! A member with several devices (#19): a second laptop linked by the
//! member counts as that one member everywhere, catches up what its member
//! could read, writes concurrently with the first without a fork, and once
//! retired reads nothing new and changes nothing. Invariants 2 (members
//! only), 3a (authorship from the signer) and 5 (convergence).

use circlekeep_engine::{CircleId, HistoryPolicy, TextEdit};
use circlekeep_tests::{circle_of, date, readable_notes, Peer};

/// Ada and Bo in a circle with one gathering and Bo's note; Bo's laptop
/// linked and sent the circle.
fn bo_with_a_laptop() -> (Peer, Peer, Peer, CircleId) {
    let (ada, bo) = (Peer::new("Ada", 1), Peer::new("Bo", 2));
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g = bo.new_gathering(circle, date("2027-01-07")).expect("open");
    bo.add_note(circle, g, "Bo's plan:").expect("note");
    let laptop = Peer::device_of(&bo, 20);
    assert_eq!(bo.link(&laptop), [circle]);
    bo.send(&laptop, circle);
    bo.send(&ada, circle);
    (ada, bo, laptop, circle)
}

fn type_at_end(peer: &Peer, circle: CircleId, text: &str) {
    let notes = peer.notes(circle, None).expect("notes");
    let g = &notes[0];
    let note = &g.notes[0];
    let gathering = circlekeep_engine::DocId::from_hex(&g.gathering.id).expect("id");
    let edit = TextEdit {
        position: note.text.chars().count(),
        delete: 0,
        insert: text.into(),
    };
    peer.edit_note(circle, gathering, &note.id, &[edit])
        .expect("typing");
}

#[test]
fn two_devices_of_one_member_type_offline_and_meet_as_one_member() {
    let (ada, bo, laptop, circle) = bo_with_a_laptop();
    // The laptop took the circle in without asking (Bo linked it) and
    // reads what Bo could read, the note from before it was linked too.
    let view = laptop.circle(circle).expect("circle");
    assert!(view.member && !view.invitation);
    assert_eq!(readable_notes(&laptop, circle), ["Bo's plan:"]);

    // Offline, both of Bo's devices and Ada type into the one note.
    type_at_end(&bo, circle, " ask sooner");
    type_at_end(&laptop, circle, " (from the laptop)");
    type_at_end(&ada, circle, " (Ada agrees)");
    for (from, to) in [(&bo, &laptop), (&laptop, &ada), (&ada, &bo), (&bo, &laptop)] {
        let report = from.send(to, circle);
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    }
    let texts: Vec<Vec<String>> = [&ada, &bo, &laptop]
        .iter()
        .map(|p| readable_notes(p, circle))
        .collect();
    assert!(texts.windows(2).all(|w| w[0] == w[1]), "{texts:?}");
    for typed in [" ask sooner", " (from the laptop)", " (Ada agrees)"] {
        assert!(texts[0][0].contains(typed), "{typed:?} lost: {texts:?}");
    }
    // One member, whichever device wrote: two members in the circle, and
    // what the laptop wrote is Bo's.
    for peer in [&ada, &bo, &laptop] {
        let members = peer.members(circle).expect("members");
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["Ada", "Bo"], "{}", peer.name);
    }
    let g = ada.notes(circle, None).expect("notes").remove(0);
    let gathering = circlekeep_engine::DocId::from_hex(&g.gathering.id).expect("id");
    laptop
        .add_note(circle, gathering, "written on the laptop")
        .expect("note");
    laptop.send(&ada, circle);
    let notes = ada.notes(circle, Some(gathering)).expect("notes").remove(0);
    let by_laptop = notes
        .notes
        .iter()
        .find(|n| n.text == "written on the laptop")
        .expect("arrived");
    assert_eq!(by_laptop.author, bo.identity().member_id().to_hex());
    assert_eq!(by_laptop.author_name, "Bo");
    let devices = bo.devices().expect("devices");
    assert_eq!(devices.len(), 2);
}

#[test]
fn a_retired_device_reads_nothing_new_and_changes_nothing() {
    let (ada, bo, laptop, circle) = bo_with_a_laptop();
    let lost = laptop.identity().device_id();
    let g = ada.notes(circle, None).expect("notes").remove(0);
    let gathering = circlekeep_engine::DocId::from_hex(&g.gathering.id).expect("id");
    // Whoever has the lost laptop, before it hears of its retirement,
    // removes Ada (and so re-keys the circle to Bo and itself).
    laptop
        .remove_member(circle, ada.identity().member_id())
        .expect("the laptop still thinks it may");

    assert_eq!(bo.retire_device(lost).expect("retire"), 1);
    bo.send(&ada, circle);
    ada.add_note(circle, gathering, "after the laptop was lost")
        .expect("note");
    ada.send(&laptop, circle);
    laptop.send(&ada, circle);
    laptop.send(&bo, circle);

    for peer in [&ada, &bo] {
        let members = peer.members(circle).expect("members");
        assert_eq!(members.len(), 2, "{}: the laptop removed nobody", peer.name);
        let notes = readable_notes(peer, circle);
        assert!(notes.contains(&"after the laptop was lost".to_owned()));
    }
    assert!(
        !readable_notes(&laptop, circle)
            .iter()
            .any(|n| n.contains("after the laptop was lost")),
        "a retired device reads nothing written after"
    );
    assert_eq!(bo.devices().expect("devices").len(), 1);
    // Having heard, the laptop writes nothing more.
    assert!(laptop.add_note(circle, gathering, "later").is_err());
}

#[test]
fn a_device_is_linked_only_by_its_own_member_and_with_its_consent() {
    let (ada, bo) = (Peer::new("Ada", 1), Peer::new("Bo", 2));
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let laptop = Peer::device_of(&bo, 20);
    // Ada cannot make Bo's laptop hers, nor link it with a proof it did
    // not sign.
    assert!(ada.link_device(&laptop.device_request()).is_err());
    let mut forged = laptop.device_request();
    forged.member = ada.identity().member_id();
    assert!(ada.link_device(&forged).is_err());
    let mut swapped = laptop.device_request();
    swapped.recipient = ada.identity().recipient().to_string();
    assert!(bo.link_device(&swapped).is_err());
    assert_eq!(ada.members(circle).expect("members").len(), 2);
    assert_eq!(bo.devices().expect("devices").len(), 1);
}

/// The CLI contract of #19: `device add` on a device that serves prints a
/// ticket, `device join TICKET` in an empty folder links a new device of
/// that member which then reads the member's circles, `id --json` names
/// both the member and the device, `member list` counts the member once,
/// and `device remove` retires the laptop.
#[test]
fn a_member_links_a_laptop_from_the_command_line() {
    use circlekeep_tests::cli::{Device, LOOPBACK};
    let dir = tempfile::tempdir().expect("tempdir");
    let ada = Device {
        home: &dir.path().join("ada"),
    };
    let laptop = Device {
        home: &dir.path().join("ada-laptop"),
    };
    ada.ok(&["init", "--name", "Ada", "--kdf-work-factor", "10"]);
    ada.ok(&["circle", "create", "Thursday circle"]);
    ada.ok(&["gathering", "new", "thursday", "--date", "2026-11-26"]);
    ada.ok(&[
        "note",
        "add",
        "thursday",
        "DEVICE-MARKER: before the laptop",
    ]);
    let port = circlekeep_tests::free_udp_port();
    let serve = ada.serve_at(&dir.path().join("serve.log"), port);
    let ticket = ada.json(&["device", "add", "--expires", "10m"])["ticket"]
        .as_str()
        .expect("ticket")
        .to_owned();
    assert!(ticket.starts_with("circlekeep-device1:"), "{ticket}");

    let mut join = vec![
        "device",
        "join",
        ticket.as_str(),
        "--name",
        "Ada",
        "--kdf-work-factor",
        "10",
    ];
    join.extend(LOOPBACK);
    let linked = laptop.json(&join);
    assert_eq!(linked["circles"], 1, "{linked}");

    let (mine, its) = (ada.json(&["id"]), laptop.json(&["id"]));
    assert_eq!(its["member"], mine["member"], "one member");
    assert_ne!(its["device"], mine["device"], "two devices");
    assert_eq!(
        mine["member"], mine["device"],
        "the first device is the member's key"
    );
    let members = laptop.json(&["member", "list", "thursday"]);
    assert_eq!(members.as_array().map(Vec::len), Some(1), "{members}");
    assert!(laptop
        .note_texts("thursday", "2026-11-26")
        .contains(&"DEVICE-MARKER: before the laptop".to_owned()));
    let devices = ada.json(&["device", "list"]);
    assert_eq!(devices.as_array().map(Vec::len), Some(2), "{devices}");

    // The ticket works once.
    let other = Device {
        home: &dir.path().join("stranger"),
    };
    let mut again = vec!["device", "join", ticket.as_str(), "--kdf-work-factor", "10"];
    again.extend(LOOPBACK);
    let (status, code) = other.error_code(&again);
    assert_eq!((status, code.as_str()), (1, "invite_used"));

    // The laptop is lost: Ada retires it.
    let short = its["device"].as_str().expect("device id")[..8].to_owned();
    ada.ok(&["device", "remove", &short]);
    let devices = ada.json(&["device", "list"]);
    assert_eq!(devices.as_array().map(Vec::len), Some(1), "{devices}");
    drop(serve);
}

/// A circle Bo founds, or accepts, after linking the laptop reaches the
/// laptop too (its consent, signed once, serves every circle).
#[test]
fn later_circles_reach_every_device() {
    let (ada, bo, laptop, _) = bo_with_a_laptop();
    let founded = bo
        .create_circle("Bo's own circle", HistoryPolicy::SinceJoining)
        .expect("found");
    let added = circle_of(&ada, &[], HistoryPolicy::SinceJoining);
    ada.add_member(added, &bo.card()).expect("add Bo");
    ada.send(&bo, added);
    bo.accept_circle(added).expect("accept");
    for circle in [founded, added] {
        bo.send(&laptop, circle);
        let view = laptop.circle(circle).expect("circle");
        assert!(view.member && !view.invitation, "{}", view.name);
        assert_eq!(
            laptop.members(circle).expect("members").len(),
            bo.members(circle).expect("members").len()
        );
    }
    assert_eq!(bo.devices().expect("devices")[0].circles, 3);
}

/// The laptop acts for Bo without his first device: it founds a circle
/// (Bo is its one member, his first device linked in and taking it without
/// asking), and its card adds Bo, never a person of its own. A circle that
/// adds Bo by the laptop waits for his consent like any other.
#[test]
fn a_linked_device_founds_and_joins_as_its_member() {
    let (ada, bo, laptop, first) = bo_with_a_laptop();
    let bo_id = bo.identity().member_id().to_hex();
    let names = |p: &circlekeep_tests::Peer, c| -> Vec<(String, String)> {
        let members = p.members(c).expect("members");
        members.into_iter().map(|m| (m.id, m.name)).collect()
    };

    // Founded on the laptop: Bo is the member, and Bo's first device is
    // linked in (by the attestation it carries) and takes the circle.
    let founded = laptop
        .create_circle("Laptop circle", HistoryPolicy::SinceJoining)
        .expect("a linked device founds");
    assert_eq!(names(&laptop, founded), [(bo_id.clone(), "Bo".to_owned())]);
    let report = laptop.send(&bo, founded);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let view = bo.circle(founded).expect("circle");
    assert!(
        view.member && !view.invitation,
        "Bo's own device takes it in"
    );
    assert_eq!(bo.devices().expect("devices")[0].circles, 2);
    bo.add_goal(founded, "written on the first device")
        .expect("Bo writes");
    bo.send(&laptop, founded);
    let view = laptop.circle(founded).expect("circle");
    assert_eq!(view.goals[0].owner, bo_id, "one member, either device");

    // The laptop's card is Bo's, by the laptop: where Bo is a member
    // already it adds nobody.
    let card = laptop.card();
    assert!(card.starts_with("circlekeep-member2:"), "{card}");
    assert!(matches!(
        ada.add_member(first, &card),
        Err(circlekeep_engine::EngineError::AlreadyMember(_))
    ));
    assert_eq!(ada.members(first).expect("members").len(), 2);

    // Ada adds Bo to a new circle by the laptop's card: Bo, one member,
    // one fingerprint; the laptop is asked first, then Bo's first device
    // is linked in and follows without asking again.
    let added = circle_of(&ada, &[], HistoryPolicy::SinceJoining);
    let view = ada.add_member(added, &card).expect("add Bo by the laptop");
    assert_eq!(view.id, bo_id);
    assert_eq!(
        view.fingerprint,
        bo.member_card().expect("card").fingerprint()
    );
    ada.send(&laptop, added);
    assert!(
        laptop.circle(added).expect("circle").invitation,
        "consent first"
    );
    laptop.accept_circle(added).expect("accept");
    laptop.send(&bo, added);
    laptop.send(&ada, added);
    let view = bo.circle(added).expect("circle");
    assert!(view.member && !view.invitation);
    let both = [
        (ada.identity().member_id().to_hex(), "Ada".to_owned()),
        (bo_id.clone(), "Bo".to_owned()),
    ];
    for peer in [&ada, &bo, &laptop] {
        assert_eq!(names(peer, added), both, "{}", peer.name);
    }
    assert_eq!(bo.devices().expect("devices")[0].circles, 3);
}

/// The attack the attestation opens: Bo's laptop is stolen and Bo retires
/// it. Its attestation still verifies, so the thief founds a circle as Bo
/// and links Bo's first device into it. Bo's device does not take it in
/// without asking, and even once accepted never counts the retired laptop
/// as its own device (which would hand it Bo's private journal).
#[test]
fn a_retired_laptop_cannot_come_back_as_its_member() {
    use circlekeep_sync::Replica;
    let (_ada, bo, laptop, _) = bo_with_a_laptop();
    let lost = laptop.identity().device_id();
    assert!(bo.engine().own_device(&lost), "before: Bo's own device");
    assert_eq!(bo.retire_device(lost).expect("retire"), 1);
    assert!(!bo.engine().own_device(&lost));

    let trap = laptop
        .create_circle("Bo's new circle", HistoryPolicy::SinceJoining)
        .expect("the thief founds as Bo");
    laptop.send(&bo, trap);
    let view = bo.circle(trap).expect("held");
    assert!(view.invitation, "a retired device's link asks Bo first");
    bo.accept_circle(trap).expect("Bo is fooled and accepts");
    assert!(
        !bo.engine().own_device(&lost),
        "retired anywhere, retired everywhere on Bo's device"
    );
    assert_eq!(bo.devices().expect("devices").len(), 1);
}

/// Bo's laptop joins Ada's circle by her invite ticket over the network,
/// with its own card: Ada's device adds Bo (by the laptop), the laptop
/// catches up, and Bo's first device is linked in. A card of the laptop's
/// presented by another device is refused as not its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_linked_device_joins_by_invite_as_its_member() {
    use circlekeep_sync::{InviteRefusal, JoinError, Ticket};
    let (ada, bo, laptop, _) = bo_with_a_laptop();
    let circle = circle_of(&ada, &[], HistoryPolicy::SinceJoining);
    ada.add_goal(circle, "Ada's goal").expect("goal");
    let ada_node = ada.node().await;
    let ticket = || -> Ticket {
        let (secret, expires) = ada
            .create_invite(circle, std::time::Duration::from_secs(600))
            .expect("invite");
        ada_node.ticket(circle, secret, expires)
    };

    // Someone else's device presents the laptop's card: not its own.
    let eve = Peer::new("Eve", 5);
    let eve_node = eve.node().await;
    let refused = eve_node.join(&ticket(), &laptop.card()).await;
    assert!(
        matches!(refused, Err(JoinError::Refused(InviteRefusal::NotYourCard))),
        "{refused:?}"
    );

    let laptop_node = laptop.node().await;
    let joined = laptop_node
        .join(&ticket(), &laptop.card())
        .await
        .expect("the laptop joins");
    assert_eq!(joined, circle);
    let members = ada.members(circle).expect("members");
    let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
    assert!(ids.contains(&bo.identity().member_id().to_hex().as_str()));
    assert_eq!(members.len(), 2, "Ada and Bo, no third person");
    let view = laptop.circle(circle).expect("caught up");
    assert!(view.member && !view.invitation);
    assert_eq!(view.goals[0].text, "Ada's goal");
    // The laptop linked Bo's first device in; it follows without asking.
    laptop.send(&bo, circle);
    assert!(bo.circle(circle).expect("circle").member);
    for node in [ada_node, eve_node, laptop_node] {
        node.shutdown().await;
    }
}

/// Bo's laptop is stolen and Bo retires it. Its card (Bo's, by the
/// laptop's attestation) still verifies, so the thief hands it round. Ada,
/// who shares a circle with Bo and so knows of the retirement, refuses it
/// for her new circle, whether she adds the card or the thief joins by her
/// invite; Bo's card from a current device still adds him.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retired_laptop_s_card_is_refused_where_its_retirement_is_known() {
    use circlekeep_sync::{InviteRefusal, JoinError};
    let (ada, bo, laptop, shared) = bo_with_a_laptop();
    let lost = laptop.identity().device_id();
    assert_eq!(bo.retire_device(lost).expect("retire"), 1);
    bo.send(&ada, shared);
    let circle = circle_of(&ada, &[], HistoryPolicy::SinceJoining);
    let refused = ada.add_member(circle, &laptop.card());
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("retired")),
        "{refused:?}"
    );

    let ada_node = ada.node().await;
    let (secret, expires) = ada
        .create_invite(circle, std::time::Duration::from_secs(600))
        .expect("invite");
    let laptop_node = laptop.node().await;
    let joined = laptop_node
        .join(&ada_node.ticket(circle, secret, expires), &laptop.card())
        .await;
    assert!(
        matches!(&joined, Err(JoinError::Refused(InviteRefusal::BadCard(why))) if why.contains("retired")),
        "{joined:?}"
    );
    assert_eq!(ada.members(circle).expect("members").len(), 1, "Ada alone");

    ada.add_member(circle, &bo.card())
        .expect("Bo, by a current device");
    for node in [ada_node, laptop_node] {
        node.shutdown().await;
    }
}

/// Ada restores her backup on a second computer while her first one lives
/// on. The backed-up key links a new device (it never reaches the new
/// disk); the new device presents its link to Bo over the network and is
/// let in. Both computers write offline and meet: both edits, no fork,
/// one member. A stranger presenting that link as its own gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_restored_on_a_second_computer_links_a_device_instead_of_cloning() {
    use circlekeep_engine::{DocId, Engine, Home, SecretString};
    use circlekeep_sync::{InviteRefusal, Node, NodeConfig, Replica};
    use std::sync::Arc;
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = SecretString::from("correct horse".to_owned());
    let home = |name: &str| Home::new(dir.path().join(name));
    let ada = Engine::init(&home("ada"), "Ada", &pass, 10).expect("init");
    let bo = Peer::new("Bo", 2);
    let circle = ada
        .create_circle("Thursday circle", HistoryPolicy::SinceJoining)
        .expect("circle");
    ada.add_member(circle, &bo.card()).expect("add Bo");
    let bundle = ada.export_bundle(circle, None).expect("export");
    bo.import_bundle(&bundle).expect("import");
    bo.accept_circle(circle).expect("accept");
    let g: DocId = ada.new_gathering(circle, date("2027-01-07")).expect("open");
    ada.add_note(circle, g, "before the backup").expect("note");
    let key = std::fs::read(home("ada").identity_file()).expect("key file");
    let backup = ada.backup(Some(&key)).expect("backup");

    let (fresh, _) = Engine::restore_new_device(&home("fresh"), &key, &pass, &backup, 10)
        .expect("restore on the second computer");
    let fresh = Arc::new(fresh);
    assert_ne!(fresh.identity().device_id(), ada.identity().device_id());
    ada.add_note(circle, g, "on the first computer")
        .expect("note");
    fresh
        .add_note(circle, g, "on the second computer")
        .expect("note");
    let pending = fresh.links_to_present().expect("links");
    assert_eq!(pending.len(), 1);

    // Over the network: the second computer presents its link, is let in
    // and syncs.
    let bo_node = bo.node().await;
    let secret = *fresh.identity().endpoint_secret();
    let fresh_node = Node::spawn(fresh.clone(), secret, NodeConfig::loopback(0))
        .await
        .expect("node");
    fresh_node.add_address(&bo_node.addr());
    let report = fresh_node
        .sync_once(std::time::Duration::from_secs(20))
        .await;
    assert!(
        report.synced.contains(&bo.identity().device_id().to_hex()),
        "{report:?}"
    );
    assert!(
        fresh.links_to_present().expect("links").is_empty(),
        "presented"
    );
    fresh_node.shutdown().await;
    bo_node.shutdown().await;

    // The first computer meets Bo by file, and Bo it.
    let bundle = bo.export_bundle(circle, None).expect("export");
    ada.import_bundle(&bundle).expect("import");
    let bundle = ada.export_bundle(circle, None).expect("export");
    bo.import_bundle(&bundle).expect("import");
    let texts = |notes: Vec<circlekeep_engine::views::GatheringNotes>| -> Vec<String> {
        let mut t: Vec<String> = notes[0].notes.iter().map(|n| n.text.clone()).collect();
        t.sort();
        t
    };
    let expected = [
        "before the backup",
        "on the first computer",
        "on the second computer",
    ];
    assert_eq!(texts(ada.notes(circle, None).expect("notes")), expected);
    assert_eq!(texts(bo.notes(circle, None).expect("notes")), expected);
    for view in [ada.circle(circle), bo.circle(circle)] {
        let view = view.expect("view");
        assert!(view.forks.is_empty(), "no fork: {:?}", view.forks);
        assert_eq!(view.members.len(), 2, "Ada counts once");
    }
    assert_eq!(ada.devices().expect("devices").len(), 2);

    // Eve presents the link's genuine operations as her own: they link
    // another device, so she is not let in; a circle Bo does not hold is
    // refused.
    let eve = Peer::new("Eve", 5).identity().device_id();
    let ops = pending[0].1.clone();
    assert_eq!(bo.engine().present_link(&circle, &ops, &eve), Ok(false));
    let elsewhere = circlekeep_engine::CircleId([9; 32]);
    assert_eq!(
        bo.engine().present_link(&elsewhere, &ops, &eve),
        Err(InviteRefusal::Unknown)
    );
}

/// Only a genuine attestation makes a device its member's: the laptop of a
/// member linked by hand without one (an older version) has no card and
/// founds nothing; a card whose device is someone else's key is refused.
#[test]
fn a_device_without_an_attestation_acts_for_nobody() {
    let (ada, bo) = (Peer::new("Ada", 1), Peer::new("Bo", 2));
    circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let laptop = Peer::device_of(&bo, 20);
    bo.link_device(&laptop.device_request()).expect("link");
    // The laptop did not keep what it was given.
    assert!(laptop.member_card().is_err());
    assert!(matches!(
        laptop.create_circle("Nope", HistoryPolicy::SinceJoining),
        Err(circlekeep_engine::EngineError::NotAllowed(_))
    ));
    // An attestation naming another device or member is not kept.
    let other = Peer::device_of(&bo, 21);
    let linked = bo.link_device(&other.device_request()).expect("link");
    assert!(laptop.keep_link(&linked).is_err());
    assert!(ada.keep_link(&linked).is_err());
}

/// The private journal syncs between Bo's own devices over the network,
/// both ways, live; Ada, in the same circle and connected to both, gets
/// none of it, not even sealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_journal_syncs_among_a_member_s_own_devices_only() {
    use circlekeep_tests::{eventually, files_containing};
    let (ada, bo, laptop, circle) = bo_with_a_laptop();
    let written = bo
        .journal_add("JOURNAL-DEVICES-1: I held back again", Some(circle))
        .expect("journal");
    let nodes = [bo.node().await, laptop.node().await, ada.node().await];
    for node in &nodes[1..] {
        node.add_address(&nodes[0].addr());
        nodes[0].add_address(&node.addr());
    }
    for node in &nodes {
        node.keep_connected();
    }
    let texts = |p: &Peer| -> Vec<String> {
        p.journal()
            .expect("journal")
            .into_iter()
            .map(|e| e.text)
            .collect()
    };
    let settle = std::time::Duration::from_secs(30);
    assert!(eventually(settle, || texts(&laptop).len() == 1).await);
    assert_eq!(laptop.journal().expect("journal")[0].id, written);
    // While connected, what the laptop writes reaches Bo's first device.
    laptop
        .journal_add("JOURNAL-DEVICES-2: from the laptop", None)
        .expect("journal");
    assert!(eventually(settle, || texts(&bo).len() == 2).await);
    // Ada syncs the circle with both, and holds nothing of the journal.
    ada.add_note(
        circle,
        circlekeep_engine::DocId::from_hex(
            &ada.notes(circle, None).expect("notes")[0].gathering.id,
        )
        .expect("id"),
        "Ada after the journal",
    )
    .expect("note");
    assert!(eventually(settle, || readable_notes(&laptop, circle).len() == 2).await);
    assert!(ada.journal().expect("journal").is_empty());
    // The laptop's status lists Ada as the other member, not Bo's first
    // device; Ada's lists Bo once, connected on either device.
    let others = |node: &circlekeep_sync::Node<circlekeep_tests::TestEngine>| {
        node.status().circles[0]
            .members
            .iter()
            .map(|m| m.member.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&nodes[1]), [ada.identity().member_id().to_hex()]);
    assert_eq!(others(&nodes[2]), [bo.identity().member_id().to_hex()]);
    assert!(eventually(settle, || nodes[2].status().circles[0].members[0].connected).await);
    for marker in ["JOURNAL-DEVICES-1", "JOURNAL-DEVICES-2"] {
        assert!(files_containing(ada.dir(), marker).is_empty());
        assert!(
            files_containing(laptop.dir(), marker).is_empty(),
            "sealed at rest"
        );
    }
    for node in &nodes {
        node.shutdown().await;
    }
}

/// Ada, a member connected to Bo, pushes a forged entry into Bo's private
/// journal (sealed to Bo, well formed): Bo's device keeps only journal
/// entries from Bo's own devices, so nothing is added.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_member_cannot_write_into_my_journal() {
    use circlekeep_sync::wire::{compressed, write_message, Hello, Message, SYNC_ALPN};
    use tokio::io::AsyncWriteExt;
    let (ada, bo) = (Peer::new("Ada", 1), Peer::new("Bo", 2));
    circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let bo_node = bo.node().await;
    let endpoint = ada.bare_endpoint().await;
    let conn = endpoint
        .connect(bo_node.addr(), SYNC_ALPN)
        .await
        .expect("Ada is a member");
    let (send, recv) = conn.open_bi().await.expect("stream");
    let (mut send, _recv) = compressed(send, recv);
    let forged = serde_json::json!({
        "id": "f0f0", "created": "2026-12-01T10:00:00Z", "circle": null,
        "text": "FORGED: I quit the circle"
    });
    let sealed = circlekeep_seal::epoch::seal_to_recipient(
        &bo.identity().recipient(),
        forged.to_string().as_bytes(),
    );
    let key = b"2026-12-01T10:00:00Z/f0f0".to_vec();
    for message in [
        Message::Hello(Hello::default()),
        Message::JournalHave { keys: Vec::new() },
        Message::Journal {
            entries: vec![(key, sealed)],
        },
    ] {
        write_message(&mut send, &message).await.expect("send");
    }
    send.flush().await.expect("flush");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        bo.journal().expect("journal").is_empty(),
        "nothing forged was kept"
    );
    endpoint.close().await;
    bo_node.shutdown().await;
}
