//! Keepers (#24): an always-on peer a circle enrols stores and forwards
//! its sealed records while members' laptops are closed, reads none of
//! them, lets in only current devices of the circle's members, and is
//! never the only copy.

use circlekeep_engine::{HistoryPolicy, SledStore};
use circlekeep_keeper::{Keeper, KeeperHome};
use circlekeep_sync::wire::{compressed, write_message, Hello, Message, SYNC_ALPN};
use circlekeep_sync::{EndpointAddr, KeeperTicket, Node, NodeConfig};
use circlekeep_tests::cli::{serve_keeper, Device, LOOPBACK};
use circlekeep_tests::{circle_of, date, eventually, files_containing, readable_notes, Peer};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const SETTLE: Duration = Duration::from_secs(30);
const NOTE: &str = "Annabel's note: the orchard plan, marker 7c1e";
/// What must appear nowhere on the keeper: the note, the members' and the
/// circle's names, a word of the note.
const SECRETS: [&str; 5] = [
    NOTE,
    "Annabel Quist",
    "Bertil Okafor",
    "Thursday circle",
    "orchard",
];

/// A keeper serving from its own folder on loopback.
struct RunningKeeper {
    dir: TempDir,
    node: Node<Keeper<SledStore>>,
    ticket: KeeperTicket,
}

async fn keeper() -> RunningKeeper {
    let dir = tempfile::tempdir().expect("folder");
    let home = KeeperHome::open(dir.path()).expect("keeper folder");
    let (node, ticket) = home
        .serve(NodeConfig::loopback(0), circlekeep_keeper::DEFAULT_QUOTA)
        .await
        .expect("serve");
    RunningKeeper { dir, node, ticket }
}

/// Dials `addr` on the sync protocol as `peer` (a bare endpoint), says
/// hello and returns the first answer: a refused endpoint gets none.
async fn hello_from(peer: &Peer, addr: EndpointAddr) -> Option<Message> {
    let endpoint = peer.bare_endpoint().await;
    let answer = async {
        let conn = endpoint.connect(addr, SYNC_ALPN).await.ok()?;
        let (send, recv) = conn.open_bi().await.ok()?;
        let (mut send, mut recv) = compressed(send, recv);
        write_message(&mut send, &Message::Hello(Hello::default()))
            .await
            .ok()?;
        let read = circlekeep_sync::wire::read_message(&mut recv);
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .ok()?
            .ok()?
    }
    .await;
    endpoint.close().await;
    answer
}

/// Annabel writes while Bertil's laptop is closed, syncs with the keeper
/// and closes hers; Bertil opens his and receives the note from the
/// keeper alone. The keeper's folder holds none of the circle's content
/// or names, and it refuses an endpoint that is no member.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_note_written_while_the_other_is_offline_arrives_through_the_keeper() {
    let ann = Peer::new("Annabel Quist", 1);
    let ben = Peer::new("Bertil Okafor", 2);
    let eve = Peer::new("Eve", 5);
    let keeper = keeper().await;
    let circle = circle_of(&ann, &[&ben], HistoryPolicy::SinceJoining);
    let added = ann
        .add_keeper(circle, &keeper.ticket.to_string())
        .expect("enrol the keeper");
    assert_eq!(added.id, keeper.ticket.keeper.to_hex());
    let g = ann
        .new_gathering(circle, date("2027-01-07"))
        .expect("gathering");
    ann.send(&ben, circle);
    assert_eq!(
        ben.keepers(circle).expect("keepers").len(),
        1,
        "Bertil learns the keeper"
    );

    ann.add_note(circle, g, NOTE).expect("note");
    let ann_node = ann.node().await;
    let report = ann_node.sync_once(SETTLE).await;
    assert!(
        report.synced.contains(&keeper.ticket.keeper.to_hex()),
        "Annabel reached the keeper: {report:?}"
    );
    ann_node.shutdown().await;
    assert!(readable_notes(&ben, circle).is_empty());

    let ben_node = ben.node().await;
    let connecting = Instant::now();
    ben_node.keep_connected();
    assert!(
        eventually(SETTLE, || readable_notes(&ben, circle) == [NOTE]).await,
        "Bertil got the note from the keeper"
    );
    println!(
        "note arrived {:?} after Bertil went online",
        connecting.elapsed()
    );

    assert!(
        hello_from(&eve, keeper.node.addr()).await.is_none(),
        "an endpoint that is no member is refused"
    );
    ben_node.shutdown().await;
    keeper.node.shutdown().await;
    for secret in SECRETS {
        let found = files_containing(keeper.dir.path(), secret);
        assert!(
            found.is_empty(),
            "{secret:?} at rest on the keeper: {found:?}"
        );
    }
}

/// Everything Annabel and Bertil exchange with the keeper crosses a UDP
/// forwarder that keeps a copy (as a router or the keeper's host would):
/// the note arrives, and the capture holds none of the circle's content,
/// names or circle name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_capture_of_the_keepers_traffic_holds_no_content() {
    use crate::capture::{contains, forwarder};
    let ann = Peer::new("Annabel Quist", 1);
    let ben = Peer::new("Bertil Okafor", 2);
    let keeper = keeper().await;
    let real = *keeper
        .node
        .addr()
        .ip_addrs()
        .next()
        .expect("the keeper listens");
    let (via, captured, task) = forwarder(real).await;
    let ticket = KeeperTicket {
        direct: vec![via],
        ..keeper.ticket.clone()
    };
    let circle = circle_of(&ann, &[&ben], HistoryPolicy::SinceJoining);
    ann.add_keeper(circle, &ticket.to_string())
        .expect("enrol the keeper");
    let g = ann
        .new_gathering(circle, date("2027-01-07"))
        .expect("gathering");
    ann.send(&ben, circle);
    ann.add_note(circle, g, NOTE).expect("note");
    for peer in [&ann, &ben] {
        let node = peer.node().await;
        let report = node.sync_once(SETTLE).await;
        assert!(
            report.synced.contains(&ticket.keeper.to_hex()),
            "reached the keeper through the forwarder: {report:?}"
        );
        node.shutdown().await;
    }
    assert_eq!(readable_notes(&ben, circle), [NOTE], "through the keeper");
    let wire = captured.lock().expect("lock").clone();
    assert!(wire.len() > 4_000, "only {} bytes crossed", wire.len());
    for secret in SECRETS {
        assert!(!contains(&wire, secret), "{secret:?} on the wire");
    }
    task.abort();
    keeper.node.shutdown().await;
}

/// Once Bertil's removal reaches the keeper, his device is refused there,
/// and what it writes without having heard is not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_members_device_is_refused_once_the_keeper_knows() {
    let ann = Peer::new("Annabel Quist", 1);
    let ben = Peer::new("Bertil Okafor", 2);
    let keeper = keeper().await;
    let circle = circle_of(&ann, &[&ben], HistoryPolicy::SinceJoining);
    ann.add_keeper(circle, &keeper.ticket.to_string())
        .expect("enrol the keeper");
    ann.send(&ben, circle);
    let ben_node = ben.node().await;
    assert!(ben_node
        .sync_once(SETTLE)
        .await
        .synced
        .contains(&keeper.ticket.keeper.to_hex()));
    ben_node.shutdown().await;
    assert!(
        matches!(
            hello_from(&ben, keeper.node.addr()).await,
            Some(Message::Hello(_))
        ),
        "a current member is let in"
    );

    let ben_id = ann.find_member(circle, "Bertil").expect("member");
    ann.remove_member(circle, ben_id).expect("remove");
    let ann_node = ann.node().await;
    ann_node.sync_once(SETTLE).await;
    ann_node.shutdown().await;

    assert!(
        hello_from(&ben, keeper.node.addr()).await.is_none(),
        "the removed member's device is refused"
    );
    keeper.node.shutdown().await;
}

/// Note texts as `note list` shows them on a command-line device.
fn cli_notes(device: &Device<'_>) -> Vec<String> {
    let notes = device.json(&["note", "list", "orchard"]);
    let mut texts: Vec<String> = notes[0]["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n["text"].as_str().map(str::to_owned))
        .collect();
    texts.sort();
    texts
}

/// From the command line: Ada enrols a keeper, writes and syncs while the
/// keeper is killed (SIGKILL) under her; she keeps every note she saw
/// saved, the keeper starts again from its folder, and Bo — offline
/// throughout — receives every note from the keeper alone.
#[test]
fn a_keeper_killed_mid_write_loses_nothing_and_serves_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ada, bo) = (
        Device {
            home: &dir.path().join("ada"),
        },
        Device {
            home: &dir.path().join("bo"),
        },
    );
    for (device, name) in [(&ada, "Ada"), (&bo, "Bo")] {
        device.ok(&["init", "--name", name, "--kdf-work-factor", "10"]);
    }
    let box_home = dir.path().join("keeper-box");
    let port = circlekeep_tests::free_udp_port();
    let (keeper, ticket) = serve_keeper(&box_home, port);
    let mut keeper = Some(keeper);
    assert_eq!(
        Device { home: &box_home }.json(&["keeper", "ticket"])["ticket"],
        ticket.as_str()
    );

    ada.ok(&["circle", "create", "Orchard circle"]);
    let card = bo.json(&["id"])["card"].as_str().expect("card").to_owned();
    ada.ok(&["member", "add", "orchard", &card]);
    assert_eq!(
        ada.error_code(&[
            "circle",
            "keeper",
            "add",
            "orchard",
            "circlekeep-invite1:AAAA"
        ]),
        (1, "bad_ticket".to_owned())
    );
    let added = ada.json(&["circle", "keeper", "add", "orchard", &ticket]);
    let keeper_id = added["keeper"].as_str().expect("id").to_owned();
    ada.ok(&["gathering", "new", "orchard", "--date", "2027-01-07"]);
    let bundle = dir.path().join("to-bo.ckb");
    let path = bundle.to_str().expect("path");
    ada.ok(&["bundle", "export", "orchard", path]);
    bo.ok(&["bundle", "import", path]);
    bo.ok(&["circle", "accept", "orchard"]);
    let listed = bo.json(&["circle", "keeper", "list", "orchard"]);
    assert_eq!(listed[0]["keeper"]["id"], keeper_id.as_str(), "{listed}");

    let mut sync = vec!["sync", "--timeout", "3s"];
    sync.extend(LOOPBACK);
    let mut written = Vec::new();
    for i in 0..12 {
        let text = format!("orchard note {i:02}");
        ada.ok(&["note", "add", "orchard", &text]);
        written.push(text);
        if i % 3 == 2 {
            let syncing = ada.cmd(&sync).stdout(std::process::Stdio::null()).spawn();
            if i == 5 {
                // The keeper dies while Ada's sync is under way.
                std::thread::sleep(Duration::from_millis(40));
                keeper.take().expect("running").kill();
            }
            syncing.expect("sync").wait().expect("sync ends");
        }
    }
    written.sort();
    assert_eq!(cli_notes(&ada), written, "Ada keeps everything she wrote");

    let (keeper, again) = serve_keeper(&box_home, port);
    assert_eq!(again, ticket, "the keeper comes back as itself");
    for device in [&ada, &bo] {
        let report = device.json(&sync);
        let synced = report["synced"].as_array().expect("list");
        assert!(synced.iter().any(|k| *k == keeper_id.as_str()), "{report}");
    }
    assert_eq!(cli_notes(&bo), written, "Bo got every note from the keeper");

    ada.ok(&["circle", "keeper", "remove", "orchard", &keeper_id[..8]]);
    assert_eq!(
        ada.json(&["circle", "keeper", "list", "orchard"]),
        serde_json::json!([])
    );
    assert_eq!(
        ada.error_code(&["circle", "keeper", "remove", "orchard", &keeper_id[..8]]),
        (1, "unknown_keeper".to_owned())
    );
    drop(keeper);
}
