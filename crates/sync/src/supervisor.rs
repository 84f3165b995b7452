//! The sync node of a long-running app: started in the background, restarted
//! when the network settings it should run with change, stopped on quit.

use crate::{Node, NodeConfig, NodeError, Replica};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};

/// Tries at binding right after the previous node shut down, and the pause
/// between them (its socket is released shortly after `shutdown` returns).
const REBIND_ATTEMPTS: u32 = 20;
const REBIND_PAUSE: Duration = Duration::from_millis(100);

/// Where a supervised node is.
pub enum NodeState<R: Replica> {
    /// Binding its endpoint (the app is usable meanwhile).
    Starting,
    /// Running, with the settings it was started with.
    Running(Arc<Node<R>>, NodeConfig),
    /// Why there is no node: it could not start, or the app stopped it.
    Offline(String),
}

impl<R: Replica> Clone for NodeState<R> {
    fn clone(&self) -> Self {
        match self {
            NodeState::Starting => NodeState::Starting,
            NodeState::Running(node, config) => NodeState::Running(node.clone(), config.clone()),
            NodeState::Offline(why) => NodeState::Offline(why.clone()),
        }
    }
}

/// Keeps one sync node running with the settings it is given, one change at
/// a time, and says where it is.
pub struct Supervisor<R: Replica> {
    replica: Arc<R>,
    state: watch::Sender<NodeState<R>>,
    /// Held while a node starts or stops; true once stopped for good.
    stopped: Mutex<bool>,
}

impl<R: Replica> Supervisor<R> {
    /// A supervisor whose node is about to start (state [`NodeState::Starting`]).
    pub fn new(replica: Arc<R>) -> Self {
        Self {
            replica,
            state: watch::Sender::new(NodeState::Starting),
            stopped: Mutex::new(false),
        }
    }

    /// Runs a node with `config` (or goes offline with the reason it could
    /// not be read), keeping members connected. A node already running with
    /// exactly these settings is kept; any other is shut down first.
    /// Returns whether a new node was started.
    pub async fn run_with(&self, secret_key: [u8; 32], config: Result<NodeConfig, String>) -> bool {
        let stopped = self.stopped.lock().await;
        if *stopped {
            return false;
        }
        let unchanged = match (&*self.state.borrow(), &config) {
            (NodeState::Running(_, running), Ok(wanted)) => running == wanted,
            _ => false,
        };
        if unchanged {
            return false;
        }
        let replaced = match self.state.send_replace(NodeState::Starting) {
            NodeState::Running(node, _) => {
                node.shutdown().await;
                true
            }
            _ => false,
        };
        let next = match config {
            Ok(config) => match self.spawn(secret_key, &config, replaced).await {
                Ok(node) => {
                    node.keep_connected();
                    tracing::info!(endpoint = %node.status().endpoint_id, ?config, "sync node running");
                    NodeState::Running(Arc::new(node), config)
                }
                Err(e) => NodeState::Offline(e.to_string()),
            },
            Err(why) => NodeState::Offline(why),
        };
        if let NodeState::Offline(why) = &next {
            tracing::warn!("working offline: {why}");
        }
        let started = matches!(next, NodeState::Running(..));
        self.state.send_replace(next);
        started
    }

    /// Starts a node; right after `replaced` one, retries binding for a
    /// moment while the old endpoint lets go of its socket (the same fixed
    /// `--bind` port, say).
    async fn spawn(
        &self,
        secret_key: [u8; 32],
        config: &NodeConfig,
        replaced: bool,
    ) -> Result<Node<R>, NodeError> {
        let mut attempts = if replaced { REBIND_ATTEMPTS } else { 1 };
        loop {
            attempts -= 1;
            match Node::spawn(self.replica.clone(), secret_key, config.clone()).await {
                Err(NodeError::Bind(_)) if attempts > 0 => {
                    tokio::time::sleep(REBIND_PAUSE).await;
                }
                spawned => return spawned,
            }
        }
    }

    /// Where the node is now.
    pub fn state(&self) -> NodeState<R> {
        self.state.borrow().clone()
    }

    /// The running node, waiting up to `wait` while it starts; otherwise
    /// why there is none.
    pub async fn running(&self, wait: Duration) -> Result<Arc<Node<R>>, String> {
        let mut state = self.state.subscribe();
        let settled =
            tokio::time::timeout(wait, state.wait_for(|s| !matches!(s, NodeState::Starting))).await;
        let state = match settled {
            Ok(Ok(state)) => state.clone(),
            Ok(Err(_)) => NodeState::Offline("the sync node was dropped".into()),
            Err(_) => return Err("the sync node is still starting".into()),
        };
        match state {
            NodeState::Running(node, _) => Ok(node),
            NodeState::Offline(why) => Err(why),
            NodeState::Starting => Err("the sync node is still starting".into()),
        }
    }

    /// Shuts the node down for good: later [`Supervisor::run_with`] calls
    /// start nothing.
    pub async fn stop(&self) {
        let mut stopped = self.stopped.lock().await;
        *stopped = true;
        let previous = self
            .state
            .send_replace(NodeState::Offline("the sync node was stopped".into()));
        if let NodeState::Running(node, _) = previous {
            node.shutdown().await;
        }
    }
}
