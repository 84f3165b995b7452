//! Support for Circlekeep's scenario tests and benchmarks: seeded peers on
//! real sled stores in temporary folders, bundle exchange between them,
//! comparable snapshots of what each sees, and a scan of what lies at rest.

pub mod cli;
pub mod desktop;

use circlekeep_engine::views::{GatheringNotes, ImportReport};
use circlekeep_engine::{CircleId, DeviceIdentity, Engine, HistoryPolicy, MemberId, SledStore};
use circlekeep_sync::{Node, NodeConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// The engine a test device runs.
pub type TestEngine = Engine<SledStore>;

/// One device: an engine over a sled store in its own temporary folder.
pub struct Peer {
    /// Display name.
    pub name: String,
    seed: u8,
    /// The member this device is linked to, if not its own.
    member: Option<MemberId>,
    dir: TempDir,
    engine: Option<Arc<TestEngine>>,
}

impl Peer {
    /// A device with a reproducible identity derived from `seed`.
    pub fn new(name: &str, seed: u8) -> Peer {
        Self::device(name, seed, None)
    }

    /// Another device of `member`'s (its own keys from `seed`), not yet
    /// linked: `member.link(&laptop)` links it.
    pub fn device_of(member: &Peer, seed: u8) -> Peer {
        Self::device(&member.name, seed, Some(member.identity().member_id()))
    }

    fn device(name: &str, seed: u8, member: Option<MemberId>) -> Peer {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut peer = Peer {
            name: name.to_owned(),
            seed,
            member,
            dir,
            engine: None,
        };
        peer.start();
        peer
    }

    fn start(&mut self) {
        let store = SledStore::open(&self.dir.path().join("store")).expect("open sled");
        let mut me = DeviceIdentity::from_seed(&self.name, [self.seed; 32]).expect("identity");
        if let Some(member) = self.member {
            me.become_device_of(member);
        }
        self.engine = Some(Arc::new(Engine::with_store(store, me)));
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<TestEngine> {
        self.engine.as_ref().expect("running")
    }

    /// Starts a sync node for this device on loopback: no relay, no
    /// local-network discovery, a random port.
    pub async fn node(&self) -> Node<TestEngine> {
        let secret = self.identity().endpoint_secret();
        Node::spawn(self.engine().clone(), *secret, NodeConfig::loopback(0))
            .await
            .expect("node")
    }

    /// Stops the engine (optionally writing caches first) and starts it
    /// again from what is on disk; returns how long the start took.
    pub fn restart(&mut self, checkpoint: bool) -> Duration {
        if let Some(engine) = self.engine.take() {
            if checkpoint {
                engine.checkpoint().expect("checkpoint");
            }
            // A stopped node's last tasks may still be letting go.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while Arc::strong_count(&engine) > 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(
                Arc::strong_count(&engine),
                1,
                "stop the node before restarting"
            );
        }
        let started = std::time::Instant::now();
        self.start();
        started.elapsed()
    }

    /// The folder everything of this device lives in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes this device holds on disk.
    pub fn disk_bytes(&self) -> u64 {
        bytes_under(self.dir())
    }

    /// Links `device` (made by [`Peer::device_of`] this member) into every
    /// circle of this member, and has it keep the attestation it is given,
    /// as a device ticket does. Returns the circles.
    pub fn link(&self, device: &Peer) -> Vec<CircleId> {
        let linked = self
            .link_device(&device.device_request())
            .expect("link the device");
        device.keep_link(&linked).expect("keep the attestation");
        linked.circles
    }

    /// This device's member card.
    pub fn card(&self) -> String {
        self.engine()
            .member_card()
            .expect("card")
            .as_line()
            .to_owned()
    }

    /// A bare iroh endpoint with this device's key on loopback (no relay),
    /// for speaking the sync protocol by hand, as a hostile or stale
    /// device would.
    pub async fn bare_endpoint(&self) -> iroh::Endpoint {
        iroh::Endpoint::builder(iroh::endpoint::presets::Minimal)
            .secret_key(iroh::SecretKey::from_bytes(
                &self.identity().endpoint_secret(),
            ))
            .relay_mode(iroh::RelayMode::Disabled)
            .bind()
            .await
            .expect("endpoint")
    }

    /// Sends everything this device holds of `circle` to `to` by bundle.
    pub fn send(&self, to: &Peer, circle: CircleId) -> ImportReport {
        let bundle = self.engine().export_bundle(circle, None).expect("export");
        to.engine().import_bundle(&bundle).expect("import")
    }
}

impl std::ops::Deref for Peer {
    type Target = TestEngine;

    fn deref(&self) -> &Self::Target {
        self.engine()
    }
}

/// `founder` creates a circle, adds `others`, and sends it to each of them,
/// who accept it.
pub fn circle_of(founder: &Peer, others: &[&Peer], history: HistoryPolicy) -> CircleId {
    let circle = founder
        .create_circle("Thursday circle", history)
        .expect("create");
    for peer in others {
        founder.add_member(circle, &peer.card()).expect("add");
    }
    for peer in others {
        let report = founder.send(peer, circle);
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        peer.accept_circle(circle).expect("accept");
    }
    circle
}

/// A date written as in the scenarios (YYYY-MM-DD).
pub fn date(s: &str) -> circlekeep_engine::NaiveDate {
    s.parse().expect("date")
}

/// What a device shows of a circle, in a form that compares across devices.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    /// Current members (hex ids).
    pub members: Vec<String>,
    /// Document heads.
    pub heads: BTreeMap<String, Vec<String>>,
    /// Notes by gathering (text only, sorted).
    pub notes: BTreeMap<String, Vec<String>>,
    /// Goals' texts, sorted.
    pub goals: Vec<String>,
}

/// Snapshot of what `peer` sees of `circle`.
pub fn seen(peer: &Peer, circle: CircleId) -> Seen {
    let view = peer.circle(circle).expect("view");
    let notes: Vec<GatheringNotes> = peer.notes(circle, None).expect("notes");
    let mut goals: Vec<String> = view.goals.iter().map(|g| g.text.clone()).collect();
    goals.sort();
    Seen {
        members: view.members.iter().map(|m| m.id.clone()).collect(),
        heads: peer.heads(circle).expect("heads"),
        notes: notes
            .into_iter()
            .map(|g| {
                let mut texts: Vec<String> = g.notes.into_iter().map(|n| n.text).collect();
                texts.sort();
                (g.gathering.id, texts)
            })
            .collect(),
        goals,
    }
}

/// Every note text `peer` can read in `circle`.
pub fn readable_notes(peer: &Peer, circle: CircleId) -> Vec<String> {
    peer.notes(circle, None)
        .expect("notes")
        .into_iter()
        .flat_map(|g| g.notes.into_iter().map(|n| n.text))
        .collect()
}

/// Files under `dir` whose bytes contain `needle`, in UTF-8 or UTF-16.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let utf8 = needle.as_bytes().to_vec();
    let utf16le: Vec<u8> = needle.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16be: Vec<u8> = needle.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                stack.push(entry.expect("dir entry").path());
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            let found = [&utf8, &utf16le, &utf16be]
                .iter()
                .any(|n| bytes.windows(n.len()).any(|w| w == n.as_slice()));
            if found {
                hits.push(path);
            }
        }
    }
    hits
}

/// Total bytes of the files under `dir` (what cannot be read counts 0).
pub fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(read) = std::fs::read_dir(&path) {
                stack.extend(read.flatten().map(|e| e.path()));
            }
        } else {
            total += meta.len();
        }
    }
    total
}

/// The `circlekeep` binary of this workspace, brought up to date once per
/// test process (cargo builds a package's binary only for its own tests).
pub fn circlekeep_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| workspace_bin("circlekeep-cli", "circlekeep"))
        .clone()
}

/// Builds binary `bin` of workspace package `package` in this test's
/// profile and returns its path.
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/it-… → target/<profile>/<bin>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let path = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    // `scripts/run-tests` runs `cargo test --workspace`, which builds every
    // binary (each package has an integration test) with the features of
    // the whole run. A narrower `cargo build -p` here would resolve other
    // features and compile much of the tree a second time.
    if std::env::var_os("CIRCLEKEEP_BINARIES_BUILT").is_some() {
        assert!(path.exists(), "{} was not built", path.display());
        return path;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--quiet", "-p", package, "--bin", bin]);
    // Cargo sets these for the test; build scripts that watch them (ring's
    // does) would rebuild half the tree each time, twice.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name == "CARGO_MANIFEST_DIR"
            || name == "CARGO_MANIFEST_PATH"
            || name == "CARGO_CRATE_NAME"
            || name == "CARGO_PRIMARY_PACKAGE"
            || name == "CARGO_TARGET_TMPDIR"
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_")
        {
            build.env_remove(name.as_ref());
        }
    }
    if profile_dir.file_name() == Some(std::ffi::OsStr::new("release")) {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "building {bin} failed");
    path
}

/// Polls `check` every 50 ms until it holds or `within` passes; returns
/// whether it held.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A number from the environment variable `name` (a long run's size or
/// seed), or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A UDP port on loopback that nothing listens on right now (for a node
/// that must be found again at the same address after a restart).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
