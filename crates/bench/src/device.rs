//! One device of a benchmark: an engine on a sled store in its own temporary
//! folder, and its sync node on loopback.

use crate::{BenchError, Result};
use circlekeep_engine::{DeviceIdentity, Engine, SledStore};
use circlekeep_sync::{Node, NodeConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The engine a benchmark device runs.
pub type BenchEngine = Engine<SledStore>;

/// A device: engine, store folder, identity seed.
pub struct Device {
    name: String,
    seed: [u8; 32],
    dir: TempDir,
    engine: Option<Arc<BenchEngine>>,
}

impl Device {
    /// A device with a reproducible identity derived from `seed`.
    pub fn new(name: &str, seed: u32) -> Result<Device> {
        let mut bytes = [0x5a; 32];
        bytes[..4].copy_from_slice(&seed.to_le_bytes());
        let mut device = Device {
            name: name.to_owned(),
            seed: bytes,
            dir: tempfile::tempdir()?,
            engine: None,
        };
        device.start()?;
        Ok(device)
    }

    fn start(&mut self) -> Result<()> {
        let store = SledStore::open(&self.dir.path().join("store"))
            .map_err(|e| BenchError::Check(format!("open sled: {e}")))?;
        let me = DeviceIdentity::from_seed(&self.name, self.seed)
            .map_err(|e| BenchError::Check(e.to_string()))?;
        self.engine = Some(Arc::new(Engine::with_store(store, me)));
        Ok(())
    }

    /// The running engine.
    pub fn engine(&self) -> &Arc<BenchEngine> {
        // `start` succeeded in `new` and `reopen`, the only places it ends.
        #[allow(clippy::expect_used)]
        self.engine.as_ref().expect("device is running")
    }

    /// This device's member card line.
    pub fn card(&self) -> String {
        self.engine().member_card().as_line().to_owned()
    }

    /// Stops the engine (its nodes must be shut down) and opens it again
    /// from disk; returns how long the open took.
    pub fn reopen(&mut self) -> Result<Duration> {
        if let Some(engine) = self.engine.take() {
            engine.checkpoint()?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while Arc::strong_count(&engine) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let started = Instant::now();
        self.start()?;
        Ok(started.elapsed())
    }

    /// Starts a sync node on loopback: no relay, no discovery, a random port.
    pub async fn node(&self) -> Result<Node<BenchEngine>> {
        let secret = self.engine().identity().endpoint_secret();
        Node::spawn(self.engine().clone(), *secret, NodeConfig::loopback(0))
            .await
            .map_err(|e| BenchError::Network(e.to_string()))
    }

    /// Bytes this device holds on disk.
    pub fn disk_bytes(&self) -> u64 {
        bytes_under(self.dir.path())
    }
}

/// Total bytes of the files under `dir`.
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
