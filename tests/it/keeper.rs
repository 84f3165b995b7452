//! Keepers (#24): an always-on peer a circle enrols stores and forwards
//! its sealed records while members' laptops are closed, reads none of
//! them, lets in only current devices of the circle's members, and is
//! never the only copy.

use circlekeep_engine::{HistoryPolicy, SledStore};
use circlekeep_keeper::{Keeper, KeeperHome};
use circlekeep_sync::wire::{compressed, write_message, Hello, Message, SYNC_ALPN};
use circlekeep_sync::{EndpointAddr, KeeperTicket, Node, NodeConfig};
use circlekeep_tests::{circle_of, date, eventually, files_containing, readable_notes, Peer};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const SETTLE: Duration = Duration::from_secs(30);
const NOTE: &str = "Annabel's note: the orchard plan, marker 7c1e";

/// A keeper serving from its own folder on loopback.
struct RunningKeeper {
    dir: TempDir,
    node: Node<Keeper<SledStore>>,
    ticket: KeeperTicket,
}

async fn keeper() -> RunningKeeper {
    let dir = tempfile::tempdir().expect("folder");
    let home = KeeperHome::open(dir.path()).expect("keeper folder");
    let (node, ticket) = home.serve(NodeConfig::loopback(0)).await.expect("serve");
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
    for secret in [
        NOTE,
        "Annabel Quist",
        "Bertil Okafor",
        "Thursday circle",
        "orchard",
    ] {
        let found = files_containing(keeper.dir.path(), secret);
        assert!(
            found.is_empty(),
            "{secret:?} at rest on the keeper: {found:?}"
        );
    }
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
