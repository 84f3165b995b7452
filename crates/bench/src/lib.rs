//! Circlekeep's benchmark suite: the editing traces, the generated
//! multi-year circle, Automerge's own sync as the baseline, crafted decoder
//! bombs, and the report.
//! Its devices are the scenario tests' peers (`circlekeep_tests::Peer`:
//! real sled stores, iroh endpoints on loopback). The bench `suite`
//! (`cargo bench -p circlekeep-bench`) runs them all.

pub mod generator;
pub mod hostile;
pub mod keeper;
pub mod membership;
pub mod plain;
pub mod report;
pub mod traces;

use circlekeep_engine::EngineError;

/// A benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The engine refused an operation.
    #[error(transparent)]
    Engine(Box<EngineError>),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A trace or result file is not valid JSON.
    #[error("bad JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Automerge refused an operation in a baseline.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// Networking failed.
    #[error("network: {0}")]
    Network(String),
    /// The run did not do what it should (e.g. texts differ).
    #[error("{0}")]
    Check(String),
}

impl From<EngineError> for BenchError {
    fn from(e: EngineError) -> Self {
        BenchError::Engine(Box::new(e))
    }
}

/// Results of the suite's building blocks.
pub type Result<T> = std::result::Result<T, BenchError>;
