//! Sync over iroh on loopback: real endpoints, relays off, direct addresses.
//! Invariants 4 (only members connect) and 5 (convergence) over the network,
//! invites, removal, status, and hostile peers.

use circlekeep_engine::HistoryPolicy;
use circlekeep_sync::wire::{compressed, write_message, Hello, Message, SYNC_ALPN};
use circlekeep_sync::{
    InviteRefusal, JoinError, Node, NodeConfig, NodeState, Supervisor, Ticket, CLOSE_BUSY,
    MAX_INVITE_CONNECTIONS,
};
use circlekeep_tests::{circle_of, date, eventually, readable_notes, seen, Peer, TestEngine};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const SETTLE: Duration = Duration::from_secs(30);

/// Starts a node per peer, tells each where the first one listens, and keeps
/// them connected (addresses of the others spread through hellos).
async fn mesh(peers: &[&Peer]) -> Vec<Node<TestEngine>> {
    let mut nodes = Vec::new();
    for peer in peers {
        nodes.push(peer.node().await);
    }
    let hub = nodes[0].addr();
    for node in &nodes[1..] {
        node.add_address(&hub);
        nodes[0].add_address(&node.addr());
    }
    for node in &nodes {
        node.keep_connected();
    }
    nodes
}

fn all_agree(peers: &[&Peer], circle: circlekeep_engine::CircleId) -> bool {
    let first = seen(peers[0], circle);
    peers[1..].iter().all(|p| seen(p, circle) == first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_members_edit_concurrently_and_converge() {
    let (ada, bo, cy) = (Peer::new("Ada", 1), Peer::new("Bo", 2), Peer::new("Cy", 3));
    let circle = circle_of(&ada, &[&bo, &cy], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.send(&bo, circle);
    ada.send(&cy, circle);
    // Written before anyone is online.
    for (i, p) in [&ada, &bo, &cy].iter().enumerate() {
        p.add_note(circle, g, &format!("offline note {i}"))
            .expect("note");
    }
    let nodes = mesh(&[&ada, &bo, &cy]).await;
    // Written concurrently while connected.
    for round in 0..5 {
        for p in [&ada, &bo, &cy] {
            p.add_note(circle, g, &format!("{} live {round}", p.name))
                .expect("note");
        }
    }
    let peers = [&ada, &bo, &cy];
    assert!(
        eventually(SETTLE, || all_agree(&peers, circle)
            && readable_notes(&ada, circle).len() == 18)
        .await,
        "did not converge: {:?}",
        peers
            .iter()
            .map(|p| readable_notes(p, circle).len())
            .collect::<Vec<_>>()
    );
    // Status reports the others as connected and nothing outstanding.
    let status = nodes[0].status();
    let members = &status.circles[0].members;
    assert_eq!(members.len(), 2);
    assert!(
        eventually(SETTLE, || nodes[0].status().circles[0].members.iter().all(
            |m| m.connected && m.entries_behind == Some(0) && m.entries_ahead == Some(0)
        ))
        .await
    );
    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_a_full_mesh_each_record_travels_once() {
    let group: Vec<Peer> = ["Ada", "Bo", "Cy", "Di"]
        .iter()
        .enumerate()
        .map(|(i, n)| Peer::new(n, i as u8 + 1))
        .collect();
    let peers: Vec<&Peer> = group.iter().collect();
    let circle = circle_of(peers[0], &peers[1..], HistoryPolicy::SinceJoining);
    let g = peers[0]
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    for p in &peers[1..] {
        peers[0].send(p, circle);
    }
    let nodes = mesh(&peers).await;
    assert!(
        eventually(SETTLE, || nodes.iter().all(|n| n
            .status()
            .circles
            .iter()
            .all(|c| c.members.iter().all(|m| m.connected))))
        .await,
        "the mesh never formed"
    );
    let again_before: u64 = nodes.iter().map(|n| n.status().received_again).sum();
    // Ada types; everyone is connected to Ada, so nobody needs a relay.
    const NOTES: usize = 24;
    for i in 0..NOTES {
        peers[0]
            .add_note(circle, g, &format!("note {i}"))
            .expect("note");
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert!(
        eventually(SETTLE, || peers[1..].iter().all(|p| readable_notes(
            p, circle
        )
        .len()
            == NOTES))
        .await
    );
    // Relays wait longer than it takes to hear who has what.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let again: u64 = nodes.iter().map(|n| n.status().received_again).sum::<u64>() - again_before;
    // Without `Have`, each of the three others would pass each note to the
    // other two: 144 copies received again. A slow machine may still race.
    assert!(again <= NOTES as u64 / 2, "{again} records arrived twice");
    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_members_converge_after_a_partition_heals() {
    let peers: Vec<Peer> = (1..=8)
        .map(|i| Peer::new(&format!("Member{i}"), i as u8))
        .collect();
    let refs: Vec<&Peer> = peers.iter().collect();
    let circle = circle_of(refs[0], &refs[1..], HistoryPolicy::SinceJoining);
    let g = refs[0]
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    for p in &refs[1..] {
        refs[0].send(p, circle);
    }
    let mut nodes = mesh(&refs).await;
    // Two members drop off the network and keep writing; so does everyone.
    let away: Vec<Node<TestEngine>> = nodes.drain(6..).collect();
    for node in &away {
        node.shutdown().await;
    }
    drop(away);
    for round in 0..3 {
        for p in &refs {
            p.add_note(circle, g, &format!("{} round {round}", p.name))
                .expect("note");
        }
    }
    let online = &refs[..6];
    assert!(
        eventually(SETTLE, || all_agree(online, circle)).await,
        "the six did not converge"
    );
    assert!(
        !all_agree(&refs, circle),
        "the two away must differ before healing"
    );
    // Heal: the two come back.
    for p in &refs[6..] {
        let node = p.node().await;
        node.add_address(&nodes[0].addr());
        node.keep_connected();
        nodes.push(node);
    }
    assert!(
        eventually(SETTLE, || all_agree(&refs, circle)
            && readable_notes(refs[0], circle).len() == 24)
        .await,
        "did not converge after healing"
    );
    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_newcomer_joins_by_ticket_and_catches_up() {
    let ada = Peer::new("Ada", 1);
    let dee = Peer::new("Dee", 4);
    let eve = Peer::new("Eve", 5);
    let circle = circle_of(&ada, &[], HistoryPolicy::SinceJoining);
    ada.add_goal(circle, "finish the thesis").expect("goal");
    let ada_node = ada.node().await;
    ada_node.keep_connected();
    let (secret, expires) = ada
        .create_invite(circle, Duration::from_secs(3600))
        .expect("invite");
    let ticket: Ticket = ada_node
        .ticket(circle, secret, expires)
        .to_string()
        .parse()
        .expect("ticket");

    let dee_node = dee.node().await;
    let joined = dee_node
        .join(&ticket, dee.member_card().expect("card").as_line())
        .await
        .expect("join");
    assert_eq!(joined, circle);
    let view = dee.circle(circle).expect("caught up");
    assert_eq!(view.goals[0].text, "finish the thesis");
    assert_eq!(view.members.len(), 2);
    assert_eq!(ada.members(circle).expect("members").len(), 2);

    // The ticket is spent: someone else using it is refused.
    let eve_node = eve.node().await;
    let refused = eve_node
        .join(&ticket, eve.member_card().expect("card").as_line())
        .await;
    assert!(
        matches!(refused, Err(JoinError::Refused(InviteRefusal::Used))),
        "{refused:?}"
    );
    // A forged ticket is refused.
    let mut forged = ticket.clone();
    forged.secret = [7; 32];
    let refused = eve_node
        .join(&forged, eve.member_card().expect("card").as_line())
        .await;
    assert!(
        matches!(refused, Err(JoinError::Refused(InviteRefusal::Unknown))),
        "{refused:?}"
    );
    // A genuine secret presented for another circle is refused.
    let elsewhere = circle_of(&ada, &[], HistoryPolicy::SinceJoining);
    let (secret, expires) = ada
        .create_invite(circle, Duration::from_secs(3600))
        .expect("invite");
    let mut redirected = ada_node.ticket(circle, secret, expires);
    redirected.circle = elsewhere;
    let refused = eve_node
        .join(&redirected, eve.member_card().expect("card").as_line())
        .await;
    assert!(
        matches!(refused, Err(JoinError::Refused(InviteRefusal::Unknown))),
        "{refused:?}"
    );
    assert_eq!(ada.members(elsewhere).expect("members").len(), 1);
    // Someone else's card is refused.
    let (secret, expires) = ada
        .create_invite(circle, Duration::from_secs(3600))
        .expect("invite");
    let other = ada_node.ticket(circle, secret, expires);
    let refused = eve_node
        .join(&other, dee.member_card().expect("card").as_line())
        .await;
    assert!(
        matches!(refused, Err(JoinError::Refused(InviteRefusal::NotYourCard))),
        "{refused:?}"
    );
    // An expired ticket is refused.
    let (secret, expires) = ada.create_invite(circle, Duration::ZERO).expect("invite");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = ada_node.ticket(circle, secret, expires);
    let refused = eve_node
        .join(&stale, eve.member_card().expect("card").as_line())
        .await;
    assert!(
        matches!(refused, Err(JoinError::Refused(InviteRefusal::Expired))),
        "{refused:?}"
    );
    assert_eq!(ada.members(circle).expect("members").len(), 2);

    // Live from here: Ada's next note reaches Dee.
    dee_node.keep_connected();
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.add_note(circle, g, "welcome, Dee").expect("note");
    assert!(eventually(SETTLE, || readable_notes(&dee, circle) == ["welcome, Dee"]).await);
    for node in [&ada_node, &dee_node, &eve_node] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_member_reads_nothing_new_and_is_refused_on_reconnect() {
    let (ada, bo, cy) = (Peer::new("Ada", 1), Peer::new("Bo", 2), Peer::new("Cy", 3));
    let circle = circle_of(&ada, &[&bo, &cy], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.send(&bo, circle);
    ada.send(&cy, circle);
    let nodes = mesh(&[&ada, &bo, &cy]).await;
    ada.add_note(circle, g, "before").expect("note");
    assert!(eventually(SETTLE, || readable_notes(&cy, circle) == ["before"]).await);

    let cy_id = ada.find_member(circle, "Cy").expect("member");
    ada.remove_member(circle, cy_id).expect("remove");
    ada.add_note(circle, g, "after removing Cy").expect("note");
    // Cy, still connected, is sent its removal (it learns it is out)...
    assert!(eventually(SETTLE, || !cy.circle(circle).expect("view").member).await);
    // ...and nothing new.
    assert_eq!(readable_notes(&cy, circle), ["before"]);

    // Cy reconnects: refused at the handshake, gets nothing.
    let answer = dial_raw(&cy, &nodes[0]).await;
    assert!(
        !matches!(answer, Ok(Some(_))),
        "a removed member got an answer: {answer:?}"
    );
    bo.add_note(circle, g, "Bo after the removal")
        .expect("note");
    assert!(eventually(SETTLE, || readable_notes(&ada, circle).len() == 3).await);
    assert_eq!(readable_notes(&cy, circle), ["before"]);
    for node in &nodes {
        node.shutdown().await;
    }
}

/// A removed member's device that ignores its removal — a bare endpoint
/// that keeps its live session open and reads on — is sent the removal and
/// nothing written after it, and Ada's node closes the session at once,
/// refusing it (#19: live sessions close on removal).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_session_closes_when_its_member_is_removed() {
    let (ada, bo, cy) = (Peer::new("Ada", 1), Peer::new("Bo", 2), Peer::new("Cy", 3));
    let circle = circle_of(&ada, &[&bo, &cy], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    let ada_node = ada.node().await;
    let endpoint = cy.bare_endpoint().await;
    let conn = endpoint
        .connect(ada_node.addr(), SYNC_ALPN)
        .await
        .expect("Cy is still a member");
    let (send, recv) = conn.open_bi().await.expect("stream");
    let (mut send, mut recv) = compressed(send, recv);
    write_message(&mut send, &Message::Hello(Hello::default()))
        .await
        .expect("hello");
    loop {
        match next_message(&mut recv).await {
            Some(Message::CaughtUp) => break,
            Some(_) => {}
            None => panic!("the session ended before catching up"),
        }
    }

    let cy_id = ada.find_member(circle, "Cy").expect("member");
    ada.remove_member(circle, cy_id).expect("remove");
    ada.add_note(circle, g, "after removing Cy").expect("note");
    let (mut ops, mut entries) = (0, 0);
    while let Some(message) = next_message(&mut recv).await {
        if let Message::Records {
            ops: o, entries: e, ..
        } = message
        {
            ops += o.len();
            entries += e.len();
        }
    }
    assert!(ops > 0, "Cy was sent its removal");
    assert_eq!(entries, 0, "and nothing written after it");
    let closed = tokio::time::timeout(Duration::from_secs(10), conn.closed())
        .await
        .expect("Ada closed the session");
    assert!(
        matches!(&closed, iroh::endpoint::ConnectionError::ApplicationClosed(c)
            if c.error_code == iroh::endpoint::VarInt::from_u32(403)),
        "closed as a stranger: {closed:?}"
    );
    endpoint.close().await;
    ada_node.shutdown().await;
}

/// Anyone may open an invite connection and then say nothing for the
/// invite timeout. A stranger holding as many open as Ada serves finds the
/// next one closed at once as busy, and a newcomer is told to try again;
/// once they go, the newcomer's ticket works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invite_connections_are_capped() {
    let (ada, dee, eve) = (
        Peer::new("Ada", 1),
        Peer::new("Dee", 4),
        Peer::new("Eve", 5),
    );
    let circle = circle_of(&ada, &[], HistoryPolicy::SinceJoining);
    let ada_node = ada.node().await;
    let (secret, expires) = ada
        .create_invite(circle, Duration::from_secs(3600))
        .expect("invite");
    let ticket = ada_node.ticket(circle, secret, expires);
    let alpn = circlekeep_sync::wire::INVITE_ALPN;
    let endpoint = eve.bare_endpoint().await;
    let mut held = Vec::new();
    for _ in 0..MAX_INVITE_CONNECTIONS {
        let conn = endpoint
            .connect(ada_node.addr(), alpn)
            .await
            .expect("connect");
        let (mut send, recv) = conn.open_bi().await.expect("stream");
        // A stream is accepted once it carries a byte; the request never comes.
        send.write_all(&[0]).await.expect("write");
        held.push((conn, send, recv));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let extra = endpoint
        .connect(ada_node.addr(), alpn)
        .await
        .expect("connect");
    let closed = tokio::time::timeout(Duration::from_secs(10), extra.closed())
        .await
        .expect("closed at once, not after the invite timeout");
    assert!(
        matches!(&closed, iroh::endpoint::ConnectionError::ApplicationClosed(c)
            if c.error_code == iroh::endpoint::VarInt::from_u32(CLOSE_BUSY)),
        "closed as busy: {closed:?}"
    );
    let dee_node = dee.node().await;
    let busy = dee_node
        .join(&ticket, dee.member_card().expect("card").as_line())
        .await;
    assert!(
        matches!(&busy, Err(JoinError::Unreachable(m)) if m.contains("busy")),
        "{busy:?}"
    );
    drop(held);
    endpoint.close().await;
    let joined = dee_node
        .join(&ticket, dee.member_card().expect("card").as_line())
        .await
        .expect("join once the stranger is gone");
    assert_eq!(joined, circle);
    dee_node.shutdown().await;
    ada_node.shutdown().await;
}

/// The next message on a raw session, if one comes within 20 s.
async fn next_message<R: tokio::io::AsyncRead + Unpin>(recv: &mut R) -> Option<Message> {
    let next = circlekeep_sync::wire::read_message(recv);
    tokio::time::timeout(Duration::from_secs(20), next)
        .await
        .ok()?
        .ok()?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_who_left_offline_tells_the_others_once_online() {
    let (ada, bo, cy) = (Peer::new("Ada", 1), Peer::new("Bo", 2), Peer::new("Cy", 3));
    let circle = circle_of(&ada, &[&bo, &cy], HistoryPolicy::SinceJoining);
    ada.send(&bo, circle);
    ada.send(&cy, circle);
    // Bo leaves with no network; the others learn of it only from Bo, who
    // no longer counts them as peers of its own circles.
    bo.leave_circle(circle).expect("leave");
    assert!(!bo.circle(circle).expect("view").member);
    let nodes = mesh(&[&ada, &bo, &cy]).await;
    let without_bo = |p: &Peer| {
        p.members(circle)
            .expect("members")
            .iter()
            .all(|m| m.name != "Bo")
    };
    assert!(
        eventually(SETTLE, || without_bo(&ada) && without_bo(&cy)).await,
        "Bo's departure never reached the others"
    );
    // What they write from now on is sealed away from Bo.
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.add_note(circle, g, "after Bo left").expect("note");
    assert!(eventually(SETTLE, || readable_notes(&cy, circle) == ["after Bo left"]).await);
    assert!(readable_notes(&bo, circle).is_empty());
    for node in &nodes {
        node.shutdown().await;
    }
}

/// Dials `node`'s sync protocol as `peer` with a bare endpoint, says hello,
/// and returns the first answer (refused connections give none).
async fn dial_raw(
    peer: &Peer,
    node: &Node<TestEngine>,
) -> Result<Option<Message>, Box<dyn std::error::Error>> {
    let endpoint = peer.bare_endpoint().await;
    let outcome = async {
        let conn = endpoint.connect(node.addr(), SYNC_ALPN).await?;
        let (send, recv) = conn.open_bi().await?;
        let (mut send, mut recv) = compressed(send, recv);
        write_message(&mut send, &Message::Hello(Hello::default())).await?;
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            circlekeep_sync::wire::read_message(&mut recv),
        )
        .await??;
        Ok::<_, Box<dyn std::error::Error>>(answer)
    }
    .await;
    endpoint.close().await;
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_that_is_not_a_member_is_refused_at_the_handshake() {
    let ada = Peer::new("Ada", 1);
    let eve = Peer::new("Eve", 5);
    let circle = circle_of(&ada, &[], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.add_note(circle, g, "members only").expect("note");
    let ada_node = ada.node().await;
    let outcome = dial_raw(&eve, &ada_node).await;
    assert!(
        !matches!(outcome, Ok(Some(_))),
        "a stranger got an answer: {outcome:?}"
    );
    assert!(eve.circles().expect("circles").is_empty());
    ada_node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_and_oversized_frames_from_a_member_are_survived() {
    let (ada, bo, cy) = (Peer::new("Ada", 1), Peer::new("Bo", 2), Peer::new("Cy", 3));
    let circle = circle_of(&ada, &[&bo, &cy], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.send(&cy, circle);
    let ada_node = ada.node().await;
    let cy_node = cy.node().await;
    cy_node.add_address(&ada_node.addr());
    cy_node.keep_connected();

    // Bo's device misbehaves: garbage, then a frame announcing 4 GiB, then
    // a stall — each once as bare bytes (not even deflate) and once inside a
    // well-formed deflate stream.
    let endpoint = bo.bare_endpoint().await;
    let attacks = [
        &[0u8, 0, 0, 5, 1, 2, 3, 4, 5][..],
        &[0xff, 0xff, 0xff, 0xff][..],
        &[0, 0][..],
    ];
    for (attack, deflated) in attacks.iter().flat_map(|a| [(a, false), (a, true)]) {
        let conn = endpoint
            .connect(ada_node.addr(), SYNC_ALPN)
            .await
            .expect("member connects");
        let (mut send, recv) = conn.open_bi().await.expect("stream");
        let mut send_deflated = None;
        if deflated {
            let (mut deflating, _) = compressed(&mut send, tokio::io::empty());
            deflating.write_all(attack).await.expect("write");
            let _ = deflating.flush().await;
            send_deflated = Some(deflating);
        } else {
            send.write_all(attack).await.expect("write");
            let _ = send.flush().await;
        }
        // Ada answers with her hello, then drops the session.
        let (_, mut recv) = compressed(tokio::io::sink(), recv);
        let _ = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(_)) = circlekeep_sync::wire::read_message(&mut recv).await {}
        })
        .await;
        drop(send_deflated);
        conn.close(0u32.into(), b"");
    }
    endpoint.close().await;
    // Ada keeps serving Cy, and her store is intact.
    cy.add_note(circle, g, "still working").expect("note");
    assert!(eventually(SETTLE, || readable_notes(&ada, circle) == ["still working"]).await);
    assert_eq!(ada.circle(circle).expect("view").rejected_entries, 0);
    ada_node.shutdown().await;
    cy_node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_shot_sync_reaches_members_and_reports() {
    let (ada, bo) = (Peer::new("Ada", 1), Peer::new("Bo", 2));
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.add_note(circle, g, "from Ada").expect("note");
    let ada_node = ada.node().await;
    let bo_node = bo.node().await;
    bo_node.add_address(&ada_node.addr());
    let report = bo_node.sync_once(Duration::from_secs(20)).await;
    assert_eq!(report.synced, vec![ada.identity().member_id().to_hex()]);
    assert_eq!(readable_notes(&bo, circle), ["from Ada"]);
    bo_node.shutdown().await;
    ada_node.shutdown().await;
}

/// With a self-hosted relay, a node asks and tells no address lookup
/// service (number 0's DNS and pkarr come only with its default relays;
/// mDNS only when local discovery is on), and members still sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_custom_relay_publishes_nowhere_else() {
    use circlekeep_sync::Relay;
    let (ada, bo) = (Peer::new("Ada", 1), Peer::new("Bo", 2));
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    ada.add_note(circle, g, "over our own relay").expect("note");
    let own_relay = NodeConfig {
        relay: Relay::Custom("http://127.0.0.1:9".into()),
        ..NodeConfig::loopback(0)
    };
    let spawn = |peer: &Peer| {
        let (engine, secret) = (peer.engine().clone(), *peer.identity().endpoint_secret());
        let config = own_relay.clone();
        async move { Node::spawn(engine, secret, config).await.expect("node") }
    };
    let ada_node = spawn(&ada).await;
    let bo_node = spawn(&bo).await;
    assert_eq!(ada_node.address_lookups(), 0);
    assert_eq!(bo_node.address_lookups(), 0);
    bo_node.add_address(&ada_node.addr());
    let report = bo_node.sync_once(Duration::from_secs(20)).await;
    assert_eq!(report.synced, vec![ada.identity().member_id().to_hex()]);
    assert_eq!(readable_notes(&bo, circle), ["over our own relay"]);
    bo_node.shutdown().await;
    ada_node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_supervised_node_restarts_when_its_settings_change() {
    let (ada, bo) = (Peer::new("Ada", 1), Peer::new("Bo", 2));
    let circle = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let g = ada
        .new_gathering(circle, date("2026-11-26"))
        .expect("gathering");
    let ada_node = ada.node().await;
    ada_node.keep_connected();
    let bo_sync = Supervisor::new(bo.engine().clone());
    let secret = *bo.identity().endpoint_secret();
    let wait = Duration::from_secs(10);

    // A port another program holds: the node cannot start and says why.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
    let taken_port = taken.local_addr().expect("address").port();
    assert!(
        !bo_sync
            .run_with(secret, Ok(NodeConfig::loopback(taken_port)))
            .await
    );
    assert!(matches!(bo_sync.state(), NodeState::Offline(_)));
    assert!(bo_sync.running(wait).await.is_err());
    // Settings that cannot be read: offline with that reason.
    assert!(
        !bo_sync
            .run_with(secret, Err("not a relay setting".into()))
            .await
    );
    assert!(matches!(bo_sync.state(), NodeState::Offline(why) if why == "not a relay setting"));

    // Settings that work: it runs, and the same settings keep the same node.
    assert!(bo_sync.run_with(secret, Ok(NodeConfig::loopback(0))).await);
    let first = bo_sync.running(wait).await.expect("running");
    assert!(!bo_sync.run_with(secret, Ok(NodeConfig::loopback(0))).await);
    assert!(Arc::ptr_eq(
        &first,
        &bo_sync.running(wait).await.expect("running")
    ));
    let first_addr = *first.addr().ip_addrs().next().expect("listening address");

    // New settings: the old endpoint lets go of its port, a new one runs
    // with them, and members reach it there.
    let port = circlekeep_tests::free_udp_port();
    assert!(
        bo_sync
            .run_with(secret, Ok(NodeConfig::loopback(port)))
            .await
    );
    let NodeState::Running(second, config) = bo_sync.state() else {
        panic!("not running after the restart");
    };
    assert_eq!(config, NodeConfig::loopback(port));
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(
        second.addr().ip_addrs().next().map(|a| a.port()),
        Some(port)
    );
    drop(first);
    // Its socket goes shortly after shutdown returns.
    let released = eventually(Duration::from_secs(10), || {
        std::net::UdpSocket::bind(first_addr).is_ok()
    })
    .await;
    assert!(released, "the old node never released its port");
    ada_node.add_address(&second.addr());
    ada.add_note(circle, g, "written after Bo's restart")
        .expect("note");
    assert!(
        eventually(SETTLE, || readable_notes(&bo, circle)
            .iter()
            .any(|n| n == "written after Bo's restart"))
        .await,
        "Bo's restarted node never received Ada's note"
    );

    // Stopped for good: nothing starts again.
    drop(second);
    bo_sync.stop().await;
    assert!(!bo_sync.run_with(secret, Ok(NodeConfig::loopback(0))).await);
    assert!(matches!(bo_sync.state(), NodeState::Offline(_)));
    ada_node.shutdown().await;
}

/// Sharing one circle opens a session, not the others: Ada removed Bo from
/// `other`; Bo, not having heard, writes there and syncs with Ada because
/// they still share `shared`. Ada takes Bo's records of `shared` only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_s_records_are_taken_only_for_circles_it_is_a_member_of() {
    let (ada, bo, cy) = (Peer::new("Ada", 1), Peer::new("Bo", 2), Peer::new("Cy", 3));
    let shared = circle_of(&ada, &[&bo], HistoryPolicy::SinceJoining);
    let other = circle_of(&ada, &[&bo, &cy], HistoryPolicy::SinceJoining);
    let here = ada
        .new_gathering(shared, date("2026-11-26"))
        .expect("gathering");
    let there = ada
        .new_gathering(other, date("2026-11-27"))
        .expect("gathering");
    ada.send(&bo, shared);
    ada.send(&bo, other);
    let bo_id = ada.find_member(other, "Bo").expect("member");
    ada.remove_member(other, bo_id).expect("remove");

    bo.add_note(shared, here, "Bo in the circle we share")
        .expect("note");
    bo.add_note(other, there, "Bo, after his removal")
        .expect("Bo has not heard");
    let ada_node = ada.node().await;
    let bo_node = bo.node().await;
    bo_node.add_address(&ada_node.addr());
    bo_node.sync_once(Duration::from_secs(20)).await;
    assert_eq!(readable_notes(&ada, shared), ["Bo in the circle we share"]);
    assert!(readable_notes(&ada, other).is_empty());
    // Bo heard of his removal in the same session.
    assert!(!bo.circle(other).expect("view").member);
    bo_node.shutdown().await;
    ada_node.shutdown().await;
}
