//! The keeper at scale: many circles of a year each held by one keeper
//! (its disk, its memory, its start), and members who missed the last
//! gatherings catching up through the keeper beside one catching up from a
//! member.

use crate::generator::{CircleSpec, Generator};
use crate::report::Figure;
use crate::{BenchError, Result};
use circlekeep_engine::SledStore;
use circlekeep_engine::{CircleId, DeviceIdentity, Engine, HistoryPolicy, MemberId, MemoryStore};
use circlekeep_keeper::{Keeper, KeeperHome};
use circlekeep_model::entry::{EntryBody, ENTRY_VERSION};
use circlekeep_model::membership::Membership;
use circlekeep_seal::signed::{sign_entry, verify_op};
use circlekeep_sync::{Node, NodeConfig, Replica, Summary};
use circlekeep_tests::cli::serve_keeper;
use circlekeep_tests::{bytes_under, Peer, TestEngine};
use std::time::{Duration, Instant};

const SECRET: [u8; 32] = [7; 32];

/// A circle's records, signed and chained like a real one's, whose entries
/// carry `payload` random bytes each (a keeper cannot tell): `members`
/// devices writing `per_author` entries each, all at the circle's last
/// epoch.
pub struct Synthetic {
    /// The circle.
    pub circle: CircleId,
    /// Its founder's device.
    pub founder: MemberId,
    /// Signed operations.
    pub ops: Vec<Vec<u8>>,
    /// Signed entries, each author's in order.
    pub entries: Vec<Vec<u8>>,
}

/// Circle number `n` of a synthetic set.
pub fn synthetic(n: u32, members: usize, per_author: u64, payload: usize) -> Result<Synthetic> {
    let identity = |m: usize| {
        let mut seed = [0xAB; 32];
        seed[..4].copy_from_slice(&n.to_be_bytes());
        seed[4] = m as u8;
        DeviceIdentity::from_seed(&format!("Member {m}"), seed)
            .map_err(|e| BenchError::Check(e.to_string()))
    };
    let founder = Engine::with_store(MemoryStore::new(), identity(0)?);
    let circle = founder.create_circle(&format!("Synthetic {n}"), HistoryPolicy::SinceJoining)?;
    for m in 1..members {
        founder.add_member(circle, identity(m)?.card().as_line())?;
    }
    let records = founder.records_since(&circle, &Summary::default(), usize::MAX);
    let ops: Vec<Vec<u8>> = records.ops.into_iter().map(|(_, b)| b).collect();
    let (membership, _) = Membership::build(circle, ops.iter().filter_map(|b| verify_op(b).ok()));
    let epoch = membership
        .write_epoch()
        .ok_or_else(|| BenchError::Check("no write epoch".into()))?;
    let mut rng = fastrand::Rng::with_seed(u64::from(n));
    let mut entries = Vec::with_capacity(members * per_author as usize);
    for m in 0..members {
        let me = identity(m)?;
        let mut prev = None;
        for seq in 1..=per_author {
            let body = EntryBody {
                version: ENTRY_VERSION,
                circle,
                author: me.device_id(),
                seq,
                prev,
                epoch,
                membership: membership.heads().to_vec(),
                payload: std::iter::repeat_with(|| rng.u8(..))
                    .take(payload)
                    .collect(),
                fold: None,
            };
            let entry = sign_entry(&me, body);
            prev = Some(entry.chain_hash());
            entries.push(entry.signed);
        }
    }
    Ok(Synthetic {
        circle,
        founder: Replica::me(&founder),
        ops,
        entries,
    })
}

/// A `circlekeep keeper serve` process over the keeper folder under
/// `home`: how long until it serves (its ticket printed: every circle
/// loaded), and its resident memory then (`VmRSS`, MiB).
fn keeper_process(home: &std::path::Path) -> Result<(Duration, f64)> {
    let started = Instant::now();
    let (keeper, _) = serve_keeper(home, circlekeep_tests::free_udp_port());
    let start = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let status = std::fs::read_to_string(format!("/proc/{}/status", keeper.pid()))?;
    keeper.kill();
    let kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0);
    Ok((start, kib / 1024.0))
}

/// One keeper takes `circles` synthetic circles of `members` devices with
/// `per_author` entries of `payload` bytes each: how long that takes, its
/// disk, how long a keeper process takes to start over them and its
/// resident memory beside an empty keeper's, and serving every circle once.
pub fn many_circles(
    circles: u32,
    members: usize,
    per_author: u64,
    payload: usize,
) -> Result<Vec<Figure>> {
    let (empty, full) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (_, bare) = keeper_process(empty.path())?;
    let folder = full.path().join("keeper");
    let home = KeeperHome::open(&folder).map_err(|e| BenchError::Check(e.to_string()))?;
    let open = || -> Result<Keeper<SledStore>> {
        let store =
            SledStore::open(&folder.join("store")).map_err(|e| BenchError::Check(e.to_string()))?;
        Keeper::open(store, home.id(), &SECRET).map_err(|e| BenchError::Check(e.to_string()))
    };
    let label = format!("{circles} circles × {members} members, {per_author} entries each");
    let mut taking = Duration::ZERO;
    let mut records = 0usize;
    let keeper = open()?;
    for n in 0..circles {
        let s = synthetic(n, members, per_author, payload)?;
        records += s.ops.len() + s.entries.len();
        let started = Instant::now();
        keeper
            .keep_circle(&s.circle, &SECRET, &s.founder)
            .map_err(|e| BenchError::Check(e.to_string()))?;
        let taken = keeper.ingest(&s.circle, &s.founder, s.ops, s.entries);
        taking += started.elapsed();
        if taken.rejected > 0 {
            return Err(BenchError::Check(format!(
                "the keeper refused {} records",
                taken.rejected
            )));
        }
    }
    let served = Instant::now();
    let mut bytes = 0usize;
    for (circle, _, _) in keeper.kept() {
        bytes += keeper
            .records_since(&circle, &Summary::default(), usize::MAX)
            .byte_len();
    }
    let serving = served.elapsed();
    drop(keeper);
    let disk = bytes_under(full.path());
    let (start, resident) = keeper_process(full.path())?;
    Ok(vec![
        Figure::plain(
            &format!("keeper: take in {label}"),
            taking.as_secs_f64(),
            "s",
        ),
        Figure::plain(
            &format!("keeper: records held, {label}"),
            records as f64,
            "",
        ),
        Figure::plain(&format!("keeper: disk, {label}"), disk as f64, "B"),
        Figure::plain(
            &format!("keeper: process start until serving, {label}"),
            start.as_secs_f64() * 1e3,
            "ms",
        ),
        Figure::against(
            &format!("keeper: process resident memory, {label}"),
            resident,
            "MiB",
            bare,
            "an empty keeper",
        ),
        Figure::plain(
            &format!("keeper: serve every circle once ({bytes} B), {label}"),
            serving.as_secs_f64(),
            "s",
        ),
    ])
}

/// How long `peer`'s node takes, once started, to hold what `target` says.
async fn catch_up(
    peer: &Peer,
    circle: CircleId,
    target: &Summary,
    addr: Option<iroh::EndpointAddr>,
) -> Result<(Duration, Node<TestEngine>)> {
    let node = peer.node().await;
    if let Some(addr) = addr {
        node.add_address(&addr);
    }
    let started = Instant::now();
    node.keep_connected();
    let deadline = started + Duration::from_secs(120);
    loop {
        if peer
            .engine()
            .summary(&circle)
            .is_some_and(|s| target.covered_by(&s))
        {
            return Ok((started.elapsed(), node));
        }
        if Instant::now() > deadline {
            return Err(BenchError::Check("a catch-up never finished".into()));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What a generated circle's members served: entries per author and
/// bytes per entry (folds included, as a catch-up sends them).
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Entries per author.
    pub per_author: u64,
    /// Mean bytes of a signed entry.
    pub entry_bytes: usize,
}

/// A circle of `spec` whose last `missed` gatherings four members miss;
/// a keeper enrolled from the start is brought up to date by the founder.
/// Then they catch up one at a time, alternately from the founder (the
/// keeper off) and from the keeper (the founder off); the faster of each
/// pair counts. Also returns the circle's shape.
pub async fn catch_up_through_keeper(
    spec: CircleSpec,
    missed: usize,
) -> Result<(Vec<Figure>, Shape)> {
    let dir = tempfile::tempdir()?;
    let keeper_home = KeeperHome::open(dir.path()).map_err(|e| BenchError::Check(e.to_string()))?;
    let port = circlekeep_tests::free_udp_port();
    let serve = || async {
        keeper_home
            .serve(NodeConfig::loopback(port), circlekeep_keeper::DEFAULT_QUOTA)
            .await
            .map_err(|e| BenchError::Network(e.to_string()))
    };
    let (keeper, ticket) = serve().await?;
    let mut generator = Generator::new(spec)?;
    let circle = generator.circle().circle;
    generator.circle().devices[0].add_keeper(circle, &ticket.to_string())?;
    let everyone: Vec<usize> = (0..spec.members).collect();
    let absent = spec.members.saturating_sub(4).max(1);
    for g in 0..spec.gatherings {
        let present = if g + missed < spec.gatherings {
            &everyone[..]
        } else {
            &everyone[..absent]
        };
        generator.gathering(present)?;
    }
    let generated = generator.done();
    let founder = &generated.devices[0];
    let target = founder
        .summary(&circle)
        .ok_or_else(|| BenchError::Check("the founder holds no circle".into()))?;
    let served = founder.records_since(&circle, &Summary::default(), usize::MAX);
    let entries = served.entries.len().max(1);
    let shape = Shape {
        per_author: (entries / spec.members.max(1)) as u64,
        entry_bytes: served
            .entries
            .iter()
            .map(|(_, _, b)| b.len())
            .sum::<usize>()
            / entries,
    };
    let founder_node = founder.node().await;
    founder_node.add_address(&keeper.addr());
    founder_node.sync_once(Duration::from_secs(60)).await;
    keeper.shutdown().await;
    drop(keeper);

    founder_node.shutdown().await;
    drop(founder_node);
    let (mut from_member, mut from_keeper) = (Duration::MAX, Duration::MAX);
    for (n, who) in (absent..spec.members).enumerate() {
        let device = &generated.devices[who];
        if n % 2 == 0 {
            let founder_node = founder.node().await;
            let (took, node) = catch_up(device, circle, &target, Some(founder_node.addr())).await?;
            from_member = from_member.min(took);
            node.shutdown().await;
            founder_node.shutdown().await;
        } else {
            // The stopped keeper's last tasks may still hold its store a moment.
            let mut again = serve().await;
            for _ in 0..50 {
                if again.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                again = serve().await;
            }
            let (keeper, _) = again?;
            let (took, node) = catch_up(device, circle, &target, None).await?;
            from_keeper = from_keeper.min(took);
            node.shutdown().await;
            keeper.shutdown().await;
        }
    }
    let label = format!(
        "{} members, {} gatherings, the last {missed} missed by {}",
        spec.members,
        spec.gatherings,
        spec.members - absent
    );
    let member = from_member.as_secs_f64();
    let figures = vec![
        Figure::plain(&format!("catch-up from a member, {label}"), member, "s"),
        Figure::against(
            &format!("catch-up through the keeper, {label}"),
            from_keeper.as_secs_f64(),
            "s",
            member,
            "from a member",
        )
        // Within timer noise: these are tens of milliseconds.
        .target("≤ 1.1×", from_keeper.as_secs_f64() <= member * 1.1),
    ];
    Ok((figures, shape))
}
