//! The keeper's data folder: its endpoint key and enrolment secret (made
//! on first start, readable by its user only), its store, and the ticket
//! it last served under.
//!
//! Neither file is a key to any circle: the endpoint key only names the
//! keeper on the network, and the secret only lets members enrol circles.

use crate::{Keeper, KeeperError};
use circlekeep_model::MemberId;
use circlekeep_store::{SledStore, SledStoreError};
use circlekeep_sync::{KeeperTicket, Node, NodeConfig, NodeError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const KEY_FILE: &str = "endpoint.key";
const SECRET_FILE: &str = "enrolment.secret";
const TICKET_FILE: &str = "ticket";
const STORE_DIR: &str = "store";

/// Why the keeper's folder cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeeperHomeError {
    /// Reading or writing a file failed.
    #[error("cannot use the keeper's folder {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A key file is not 32 bytes.
    #[error("{0} is damaged (not 32 bytes); restore it from a backup or remove the folder to start a new keeper")]
    Damaged(PathBuf),
    /// The store could not open.
    #[error(transparent)]
    Store(#[from] SledStoreError),
    /// The keeper could not load what it keeps.
    #[error(transparent)]
    Keeper(#[from] KeeperError),
    /// Networking could not start.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// No ticket yet.
    #[error("this keeper has not served yet: run `circlekeep keeper serve` first, or give --bind")]
    NoTicket,
}

/// A keeper's data folder.
pub struct KeeperHome {
    dir: PathBuf,
    key: [u8; 32],
    secret: [u8; 32],
}

impl KeeperHome {
    /// Opens the folder, making the key and secret on first use.
    pub fn open(dir: &Path) -> Result<Self, KeeperHomeError> {
        let io = |source| KeeperHomeError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        Ok(KeeperHome {
            dir: dir.to_path_buf(),
            key: read_or_make(&dir.join(KEY_FILE))?,
            secret: read_or_make(&dir.join(SECRET_FILE))?,
        })
    }

    /// The keeper's endpoint id.
    pub fn id(&self) -> MemberId {
        MemberId(*iroh::SecretKey::from_bytes(&self.key).public().as_bytes())
    }

    /// A ticket for the keeper listening at `bind` (without starting it).
    pub fn ticket_at(&self, bind: std::net::SocketAddr) -> KeeperTicket {
        KeeperTicket {
            keeper: self.id(),
            direct: vec![bind],
            relay: None,
            secret: self.secret,
        }
    }

    /// The ticket the keeper last served under.
    pub fn last_ticket(&self) -> Result<KeeperTicket, KeeperHomeError> {
        let path = self.dir.join(TICKET_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeeperHomeError::NoTicket)
            }
            Err(source) => return Err(KeeperHomeError::Io { path, source }),
        };
        text.parse().map_err(|_| KeeperHomeError::Damaged(path))
    }

    /// Starts serving: the store, the keeper over it, the sync node (which
    /// only accepts; members dial the keeper). Writes the ticket.
    /// Each circle stores at most `quota` bytes (see [`Keeper::with_quota`]).
    pub async fn serve(
        &self,
        config: NodeConfig,
        quota: u64,
    ) -> Result<(Node<Keeper<SledStore>>, KeeperTicket), KeeperHomeError> {
        let store = SledStore::open(&self.dir.join(STORE_DIR))?;
        let keeper = Arc::new(Keeper::with_quota(store, self.id(), &self.secret, quota)?);
        let node = Node::spawn(keeper, self.key, config).await?;
        let ticket = node.keeper_ticket(self.secret);
        // The ticket carries the enrolment secret: as private as it.
        let path = self.dir.join(TICKET_FILE);
        let _ = std::fs::remove_file(&path);
        write_private(&path, ticket.to_string().as_bytes())?;
        Ok((node, ticket))
    }
}

/// Reads a 32-byte secret, or makes one (readable by this user only).
fn read_or_make(path: &Path) -> Result<[u8; 32], KeeperHomeError> {
    let io = |source| KeeperHomeError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| KeeperHomeError::Damaged(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            getrandom::getrandom(&mut secret)
                .map_err(|e| io(std::io::Error::other(e.to_string())))?;
            write_private(path, &secret)?;
            Ok(secret)
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes a new file readable by this user only, synced to disk.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeeperHomeError> {
    let io = |source| KeeperHomeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io)
}
