//! The job runner: claims jobs with leases, heartbeats them, retries transient failures with backoff,
//! and shuts down gracefully. Used by `docent-worker run` and, in the embedded default, inside
//! `docent-api serve`.
//!
//! The ingestion jobs arrive with the documents issue. Until then the runner only waits for a
//! shutdown signal, so both binaries already have their final shape.

use std::future::Future;

/// Runs the worker loop until `shutdown` resolves.
pub async fn run_until(shutdown: impl Future<Output = ()>) {
    tracing::info!("worker started; no job kinds are registered yet");
    shutdown.await;
    tracing::info!("worker stopped");
}
