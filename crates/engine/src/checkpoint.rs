//! Checkpoints: writing every changed circle's sealed cache (and folds),
//! on demand and whenever changes settle in a running device.

use crate::{Engine, EngineError, Store};

impl<S: Store> Engine<S> {
    /// Writes every changed circle's sealed cache and flushes the store.
    /// Call it when idle and before exiting; entries are already durable,
    /// the cache only makes the next start faster.
    pub fn checkpoint(&self) -> Result<(), EngineError> {
        let mut circles = self.lock();
        let ctx = self.ctx();
        let mut panicked = Vec::new();
        for (id, runtime) in circles.iter_mut() {
            // Automerge's save can panic on what a member signed: that
            // circle goes uncached (and is read again from the store).
            let saved =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.checkpoint(&ctx)));
            match saved {
                Ok(written) => written?,
                Err(_) => {
                    tracing::error!(circle = %id.short(), "writing a circle's cache panicked");
                    panicked.push(*id);
                }
            }
        }
        for id in panicked {
            circles.remove(&id);
        }
        self.store.flush().map_err(EngineError::store)
    }
}

/// When a running device writes its caches: once changes have been quiet
/// for a moment, and at least this often while they keep coming.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointPolicy {
    /// Quiet time after the last change.
    pub quiet: std::time::Duration,
    /// Longest time a change waits to be cached.
    pub at_most: std::time::Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            quiet: std::time::Duration::from_secs(2),
            at_most: std::time::Duration::from_secs(30),
        }
    }
}

impl<S: Store + Send + Sync + 'static> Engine<S> {
    /// Writes caches whenever changes settle, until the engine is dropped,
    /// so the next start reads a fresh cache instead of replaying entries
    /// even if this process is killed.
    pub async fn checkpoint_when_settled(engine: std::sync::Weak<Self>, policy: CheckpointPolicy) {
        use tokio::sync::broadcast::error::RecvError;
        let Some(mut changes) = engine.upgrade().map(|e| e.subscribe()) else {
            return;
        };
        loop {
            if let Err(RecvError::Closed) = changes.recv().await {
                return;
            }
            let first = tokio::time::Instant::now();
            loop {
                let deadline =
                    (tokio::time::Instant::now() + policy.quiet).min(first + policy.at_most);
                match tokio::time::timeout_at(deadline, changes.recv()).await {
                    Err(_elapsed) => break,
                    Ok(Err(RecvError::Closed)) => return,
                    Ok(_) => continue,
                }
            }
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let written = tokio::task::spawn_blocking(move || engine.checkpoint()).await;
            if let Ok(Err(e)) = written {
                tracing::warn!("cannot write caches: {e}");
            }
        }
    }
}
