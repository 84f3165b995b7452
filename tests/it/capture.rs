//! Invariant 1 on the wire: a non-member forwarding all traffic between two
//! members (as a relay or a router would) sees no plaintext; nor does the disk.

use circlekeep_engine::HistoryPolicy;
use circlekeep_tests::{circle_of, files_containing, readable_notes, Peer};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;

const MARKER: &str = "WIRE-MARKER-5c1d: the layoffs start in March";

/// A UDP forwarder in front of `target` that keeps a copy of every datagram.
pub(crate) async fn forwarder(
    target: SocketAddr,
) -> (SocketAddr, Arc<Mutex<Vec<u8>>>, tokio::task::JoinHandle<()>) {
    let front = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let back = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let address = front.local_addr().expect("address");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let copy = seen.clone();
    let task = tokio::spawn(async move {
        let mut client: Option<SocketAddr> = None;
        let (mut a, mut b) = (vec![0u8; 65536], vec![0u8; 65536]);
        loop {
            tokio::select! {
                Ok((n, from)) = front.recv_from(&mut a) => {
                    client = Some(from);
                    copy.lock().expect("lock").extend_from_slice(&a[..n]);
                    let _ = back.send_to(&a[..n], target).await;
                }
                Ok((n, _)) = back.recv_from(&mut b) => {
                    copy.lock().expect("lock").extend_from_slice(&b[..n]);
                    if let Some(client) = client {
                        let _ = front.send_to(&b[..n], client).await;
                    }
                }
            }
        }
    });
    (address, seen, task)
}

pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    let utf16: Vec<u8> = needle.encode_utf16().flat_map(u16::to_le_bytes).collect();
    [needle.as_bytes(), &utf16]
        .iter()
        .any(|n| haystack.windows(n.len()).any(|w| w == *n))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forwarder_between_members_and_the_disk_see_no_plaintext() {
    let ada = Peer::new("Ada", 1);
    let bo = Peer::new("Bo", 2);
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g = bo
        .new_gathering(circle, "2026-11-26".parse().expect("date"))
        .expect("gathering");
    bo.add_note(circle, g, MARKER).expect("note");
    bo.add_goal(circle, MARKER).expect("goal");

    let ada_node = ada.node().await;
    let real = *ada_node.addr().ip_addrs().next().expect("Ada listens");
    let (via, captured, task) = forwarder(real).await;
    let bo_node = bo.node().await;
    // Bo knows Ada only through the forwarder.
    bo_node.add_address(&iroh::EndpointAddr::new(ada_node.addr().id).with_ip_addr(via));
    let report = bo_node.sync_once(Duration::from_secs(20)).await;
    assert_eq!(report.synced.len(), 1, "{report:?}");

    // Not vacuous: the note crossed, through the forwarder.
    assert_eq!(readable_notes(&ada, circle), [MARKER]);
    let wire = captured.lock().expect("lock").clone();
    let note_entry_bytes = 400;
    assert!(
        wire.len() > note_entry_bytes * 4,
        "only {} bytes crossed the forwarder",
        wire.len()
    );
    assert!(!contains(&wire, MARKER), "plaintext on the wire");
    assert!(
        !contains(&wire, "Thursday circle"),
        "circle name on the wire"
    );

    bo_node.shutdown().await;
    ada_node.shutdown().await;
    task.abort();
    ada.checkpoint().expect("checkpoint");
    bo.checkpoint().expect("checkpoint");
    for place in [ada.dir(), bo.dir()] {
        assert!(
            files_containing(place, MARKER).is_empty(),
            "plaintext at rest"
        );
    }
}
