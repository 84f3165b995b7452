//! The app's log: to stderr, and to a file in the data folder's `logs`
//! (rotated daily, a week kept) for bug reports. What is logged is ids,
//! counts and reasons, never content, names or keys (the desktop test
//! scans the data folder, logs included, for what it typed).

use std::path::Path;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Log files kept.
const KEPT: usize = 7;

/// Starts logging; the guard flushes the file when dropped.
pub fn init(home: &Path) -> Option<WorkerGuard> {
    // `CIRCLEKEEP_LOG` for both; unset, warnings on stderr, more in the file.
    let filter = |default: &str| {
        EnvFilter::try_from_env("CIRCLEKEEP_LOG").unwrap_or_else(|_| EnvFilter::new(default))
    };
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter("warn"));
    let file = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("circlekeep")
        .filename_suffix("log")
        .max_log_files(KEPT)
        .build(home.join("logs"));
    match file {
        Ok(file) => {
            let (writer, guard) = tracing_appender::non_blocking(file);
            let file = fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .with_filter(filter("info"));
            tracing_subscriber::registry()
                .with(stderr)
                .with(file)
                .init();
            Some(guard)
        }
        Err(e) => {
            tracing_subscriber::registry().with(stderr).init();
            tracing::warn!("no log file: {e}");
            None
        }
    }
}
