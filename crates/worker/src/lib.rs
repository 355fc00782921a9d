//! The job runner: claims jobs with leases, heartbeats them while they run, retries transient
//! failures with exponential backoff and jitter, gives up after a number of attempts, and shuts
//! down gracefully — on shutdown it stops claiming, lets the running job stop at its next step,
//! hands it back, and returns. Used by `docent-worker run` and, in the embedded default, inside
//! `docent-api serve`.
//!
//! A worker that dies (SIGKILL, power loss) simply stops heartbeating: its lease runs out and any
//! worker claims the job again. Handlers are idempotent, so the job ends as if it had run once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use docent_documents::jobs::{ClaimedJob, JobFailure, JobHandler, JobQueue};
use docent_kernel::Clock;
use rand::Rng as _;
use tokio::sync::Notify;

/// How the worker paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// How often a running job's lease is extended (well under `lease`).
    pub heartbeat: Duration,
    /// How long to wait before looking for work again when there was none.
    pub poll_interval: Duration,
    /// Attempts before a job that keeps failing transiently is given up.
    pub max_attempts: u32,
    /// The first retry delay; it doubles with every attempt.
    pub backoff_base: Duration,
    /// The longest retry delay.
    pub backoff_max: Duration,
    /// Jobs run at once.
    pub concurrency: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(10),
            poll_interval: Duration::from_millis(500),
            max_attempts: 8,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            concurrency: 1,
        }
    }
}

/// The delay before attempt `attempt + 1`: `base · 2^(attempt-1)`, capped at `max`, then between
/// half and all of it at random (so workers that failed together do not retry together).
#[must_use]
pub fn backoff(settings: &WorkerSettings, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let full = settings
        .backoff_base
        .saturating_mul(1_u32 << exponent)
        .min(settings.backoff_max);
    full.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// Runs jobs from a queue.
#[derive(Debug, Clone)]
pub struct Worker {
    queue: Arc<dyn JobQueue>,
    handler: Arc<dyn JobHandler>,
    clock: Arc<dyn Clock>,
    settings: WorkerSettings,
    name: String,
}

impl Worker {
    /// A worker named `name` (shown as the lease owner).
    #[must_use]
    pub fn new(
        queue: Arc<dyn JobQueue>,
        handler: Arc<dyn JobHandler>,
        clock: Arc<dyn Clock>,
        settings: WorkerSettings,
        name: impl Into<String>,
    ) -> Self {
        Self {
            queue,
            handler,
            clock,
            settings,
            name: name.into(),
        }
    }

    /// Claims and runs jobs until `shutdown` resolves, then finishes or hands back what is running
    /// and returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(Notify::new());
        tracing::info!(worker = %self.name, concurrency = self.settings.concurrency, "worker started");
        let mut loops = tokio::task::JoinSet::new();
        for slot in 0..self.settings.concurrency.max(1) {
            let worker = self.clone();
            let (stop, wake) = (stop.clone(), wake.clone());
            loops.spawn(async move { worker.claim_loop(slot, &stop, &wake).await });
        }
        shutdown.await;
        tracing::info!(worker = %self.name, "shutting down: no new jobs; the running ones stop at their next step");
        stop.store(true, Ordering::SeqCst);
        wake.notify_waiters();
        while loops.join_next().await.is_some() {}
        tracing::info!(worker = %self.name, "worker stopped");
    }

    async fn claim_loop(&self, slot: usize, stop: &Arc<AtomicBool>, wake: &Notify) {
        let name = format!("{}/{slot}", self.name);
        while !stop.load(Ordering::SeqCst) {
            match self
                .queue
                .claim(&name, self.settings.lease, self.clock.now())
                .await
            {
                Ok(Some(job)) => self.run_job(job, stop).await,
                Ok(None) => {
                    let _ =
                        tokio::time::timeout(self.settings.poll_interval, wake.notified()).await;
                }
                Err(error) => {
                    tracing::warn!(worker = %name, %error, "cannot claim jobs; retrying");
                    let _ = tokio::time::timeout(self.settings.poll_interval * 4, wake.notified())
                        .await;
                }
            }
        }
    }

    async fn run_job(&self, job: ClaimedJob, stop: &Arc<AtomicBool>) {
        if job.attempt > self.settings.max_attempts {
            // Claimed again and again without an outcome: the process died while running it
            // (a parser crash, out of memory). Running it once more would crash again.
            let reason = format!(
                "claimed {} times without finishing; the worker processing it may have crashed",
                job.attempt - 1
            );
            tracing::error!(job = %job.id, %reason, "giving up on a job that never finishes");
            self.handler.exhausted(&job, &reason).await;
            if let Err(error) = self.queue.bury(&job, &reason, self.clock.now()).await {
                tracing::error!(job = %job.id, %error, "cannot record the job's outcome");
            }
            return;
        }
        let job_stop = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicBool::new(false));
        let heartbeat = AbortOnDrop({
            let (queue, clock, job, settings) = (
                self.queue.clone(),
                self.clock.clone(),
                job.clone(),
                self.settings,
            );
            let (stop, job_stop, lost) = (stop.clone(), job_stop.clone(), lost.clone());
            tokio::spawn(async move {
                loop {
                    // Check for shutdown often; extend the lease every `heartbeat`.
                    let mut waited = Duration::ZERO;
                    while waited < settings.heartbeat {
                        let step = Duration::from_millis(200).min(settings.heartbeat - waited);
                        tokio::time::sleep(step).await;
                        waited += step;
                        if stop.load(Ordering::SeqCst) {
                            job_stop.store(true, Ordering::SeqCst);
                        }
                    }
                    match queue.heartbeat(&job, settings.lease, clock.now()).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(job = %job.id, "lost the lease (it ran out, or the job was cancelled); stopping the job");
                            lost.store(true, Ordering::SeqCst);
                            job_stop.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(error) => {
                            tracing::warn!(job = %job.id, %error, "heartbeat failed; will try again");
                        }
                    }
                }
            })
        });
        tracing::info!(job = %job.id, kind = job.kind.as_str(), document = %job.document_id, attempt = job.attempt, "job started");
        let outcome = self.handler.run(&job, &job_stop).await;
        drop(heartbeat);
        if lost.load(Ordering::SeqCst) {
            // Someone else owns the job now (or it was cancelled); leave it alone.
            return;
        }
        let now = self.clock.now();
        let settled = match outcome {
            Ok(()) => {
                tracing::info!(job = %job.id, "job done");
                self.queue.complete(&job, now).await
            }
            Err(JobFailure::Interrupted) => {
                tracing::info!(job = %job.id, "job interrupted; handed back");
                self.queue.release(&job, now).await
            }
            Err(JobFailure::Permanent(reason)) => {
                tracing::warn!(job = %job.id, %reason, "job failed permanently");
                self.queue.bury(&job, &reason, now).await
            }
            Err(JobFailure::Transient(reason)) if job.attempt >= self.settings.max_attempts => {
                tracing::error!(job = %job.id, attempts = job.attempt, %reason, "job failed too often; giving up");
                self.handler.exhausted(&job, &reason).await;
                self.queue.bury(&job, &reason, now).await
            }
            Err(JobFailure::Transient(reason)) => {
                let delay = backoff(&self.settings, job.attempt);
                tracing::warn!(job = %job.id, attempt = job.attempt, retry_in_ms = delay.as_millis() as u64, %reason, "job failed; will retry");
                let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                self.queue.retry(&job, at, &reason, now).await
            }
        };
        if let Err(error) = settled {
            // The lease runs out and the job runs again: processing is idempotent.
            tracing::error!(job = %job.id, %error, "cannot record the job's outcome; it will run again after its lease");
        }
    }
}

/// Stops a task when dropped, also when the job it belongs to panics.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests;
