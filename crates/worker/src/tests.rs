//! The runner against an in-memory queue (the SQL queue has its own tests against SQLite and
//! PostgreSQL in the infrastructure crate).

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_documents::jobs::{JobKind, NewJob};
use docent_kernel::{DocumentId, JobId, OrgId, StoreError, SystemClock};
use uuid::Uuid;

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Pending,
    Done,
    Dead(String),
}

#[derive(Debug)]
struct Row {
    job: NewJob,
    state: State,
    attempts: u32,
    run_at: DateTime<Utc>,
    lease: Option<(Uuid, DateTime<Utc>)>,
}

#[derive(Debug, Default)]
struct MemoryQueue {
    rows: Mutex<Vec<Row>>,
}

impl MemoryQueue {
    fn push(&self, job: NewJob) {
        self.rows.lock().unwrap().push(Row {
            run_at: job.at,
            job,
            state: State::Pending,
            attempts: 0,
            lease: None,
        });
    }

    fn state(&self, id: JobId) -> (State, u32) {
        let rows = self.rows.lock().unwrap();
        let row = rows.iter().find(|r| r.job.id == id).unwrap();
        (row.state.clone(), row.attempts)
    }

    fn with_claim(&self, job: &ClaimedJob, change: impl FnOnce(&mut Row)) -> bool {
        let mut rows = self.rows.lock().unwrap();
        match rows.iter_mut().find(|r| {
            r.job.id == job.id
                && r.state == State::Pending
                && r.lease.is_some_and(|(token, _)| token == job.lease_token)
        }) {
            Some(row) => {
                change(row);
                true
            }
            None => false,
        }
    }
}

fn until(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(lease).unwrap()
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn claim(
        &self,
        _worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        let Some(row) = rows.iter_mut().find(|r| {
            r.state == State::Pending && r.run_at <= now && r.lease.is_none_or(|(_, u)| u < now)
        }) else {
            return Ok(None);
        };
        let token = Uuid::now_v7();
        row.attempts += 1;
        row.lease = Some((token, until(now, lease)));
        Ok(Some(ClaimedJob {
            id: row.job.id,
            org_id: row.job.org_id,
            document_id: row.job.document_id,
            kind: row.job.kind,
            attempt: row.attempts,
            lease_token: token,
        }))
    }

    async fn heartbeat(
        &self,
        job: &ClaimedJob,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.with_claim(job, |row| {
            row.lease = Some((job.lease_token, until(now, lease)));
        }))
    }

    async fn complete(&self, job: &ClaimedJob, _now: DateTime<Utc>) -> Result<(), StoreError> {
        self.with_claim(job, |row| row.state = State::Done);
        Ok(())
    }

    async fn retry(
        &self,
        job: &ClaimedJob,
        at: DateTime<Utc>,
        _error: &str,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with_claim(job, |row| {
            row.run_at = at;
            row.lease = None;
        });
        Ok(())
    }

    async fn bury(
        &self,
        job: &ClaimedJob,
        error: &str,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with_claim(job, |row| row.state = State::Dead(error.to_owned()));
        Ok(())
    }

    async fn release(&self, job: &ClaimedJob, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.with_claim(job, |row| {
            row.lease = None;
            row.run_at = now;
            row.attempts -= 1;
        });
        Ok(())
    }

    async fn pending(&self) -> Result<u64, StoreError> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.state == State::Pending)
            .count() as u64)
    }
}

/// Fails transiently `failures` times, then succeeds; or runs until stopped when `block` is set.
#[derive(Debug, Default)]
struct Scripted {
    failures: u32,
    permanent: bool,
    block: bool,
    runs: Mutex<u32>,
    exhausted: Mutex<Vec<String>>,
}

#[async_trait]
impl JobHandler for Scripted {
    async fn run(&self, _job: &ClaimedJob, stop: &AtomicBool) -> Result<(), JobFailure> {
        let run = {
            let mut runs = self.runs.lock().unwrap();
            *runs += 1;
            *runs
        };
        if self.block {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            return Err(JobFailure::Interrupted);
        }
        if self.permanent {
            return Err(JobFailure::Permanent("broken".into()));
        }
        if run <= self.failures {
            return Err(JobFailure::Transient(format!("flaky {run}")));
        }
        Ok(())
    }

    async fn exhausted(&self, _job: &ClaimedJob, error: &str) {
        self.exhausted.lock().unwrap().push(error.to_owned());
    }
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        lease: Duration::from_secs(5),
        heartbeat: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
        max_attempts: 3,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        concurrency: 1,
    }
}

fn job() -> NewJob {
    NewJob::new(
        JobKind::Ingest,
        OrgId::generate(),
        DocumentId::generate(),
        SystemClock.now(),
    )
}

/// Runs a worker until `done` holds (or five seconds pass), then shuts it down.
async fn run_until_settled(
    queue: Arc<MemoryQueue>,
    handler: Arc<Scripted>,
    done: impl Fn() -> bool,
) {
    let worker = Worker::new(queue, handler, Arc::new(SystemClock), settings(), "test");
    let shutdown = async {
        for _ in 0..250 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), worker.run_until(shutdown))
        .await
        .expect("the worker stops after shutdown");
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff_until_they_pass() {
    let queue = Arc::new(MemoryQueue::default());
    let job = job();
    queue.push(job.clone());
    let handler = Arc::new(Scripted {
        failures: 2,
        ..Scripted::default()
    });
    let q = queue.clone();
    run_until_settled(queue.clone(), handler.clone(), move || {
        q.state(job.id).0 == State::Done
    })
    .await;
    assert_eq!(queue.state(job.id), (State::Done, 3));
    assert!(handler.exhausted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_given_up_and_reported() {
    let queue = Arc::new(MemoryQueue::default());
    let job = job();
    queue.push(job.clone());
    let handler = Arc::new(Scripted {
        failures: u32::MAX,
        ..Scripted::default()
    });
    let q = queue.clone();
    run_until_settled(queue.clone(), handler.clone(), move || {
        matches!(q.state(job.id).0, State::Dead(_))
    })
    .await;
    assert_eq!(
        queue.state(job.id),
        (State::Dead("flaky 3".into()), 3),
        "max_attempts is 3"
    );
    assert_eq!(
        *handler.exhausted.lock().unwrap(),
        vec!["flaky 3".to_owned()]
    );
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let queue = Arc::new(MemoryQueue::default());
    let job = job();
    queue.push(job.clone());
    let handler = Arc::new(Scripted {
        permanent: true,
        ..Scripted::default()
    });
    let q = queue.clone();
    run_until_settled(queue.clone(), handler.clone(), move || {
        matches!(q.state(job.id).0, State::Dead(_))
    })
    .await;
    assert_eq!(queue.state(job.id), (State::Dead("broken".into()), 1));
    assert_eq!(*handler.runs.lock().unwrap(), 1);
}

#[tokio::test]
async fn shutdown_hands_the_running_job_back_without_counting_an_attempt() {
    let queue = Arc::new(MemoryQueue::default());
    let job = job();
    queue.push(job.clone());
    let handler = Arc::new(Scripted {
        block: true,
        ..Scripted::default()
    });
    let h = handler.clone();
    run_until_settled(queue.clone(), handler.clone(), move || {
        *h.runs.lock().unwrap() == 1
    })
    .await;
    assert_eq!(queue.state(job.id), (State::Pending, 0));
    assert_eq!(queue.pending().await.unwrap(), 1);
    // Runnable again at once.
    let claimed = queue
        .claim("next", Duration::from_secs(1), SystemClock.now())
        .await
        .unwrap();
    assert_eq!(claimed.map(|c| c.id), Some(job.id));
}

#[tokio::test]
async fn a_job_whose_worker_keeps_dying_is_given_up_without_running_again() {
    let queue = Arc::new(MemoryQueue::default());
    let job = job();
    queue.push(job.clone());
    // Three claims that ended with the worker's death (the lease ran out each time).
    for _ in 0..3 {
        let claimed = queue
            .claim("dead", Duration::from_millis(1), SystemClock.now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claimed.id, job.id);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let handler = Arc::new(Scripted::default());
    let q = queue.clone();
    run_until_settled(queue.clone(), handler.clone(), move || {
        matches!(q.state(job.id).0, State::Dead(_))
    })
    .await;
    assert_eq!(*handler.runs.lock().unwrap(), 0, "not run a fourth time");
    assert_eq!(handler.exhausted.lock().unwrap().len(), 1);
}

#[test]
fn backoff_doubles_within_bounds() {
    let settings = WorkerSettings {
        backoff_base: Duration::from_secs(2),
        backoff_max: Duration::from_secs(60),
        ..WorkerSettings::default()
    };
    for (attempt, full) in [(1, 2), (2, 4), (3, 8), (6, 60), (40, 60)] {
        let delay = backoff(&settings, attempt);
        let full = Duration::from_secs(full);
        assert!(
            delay <= full && delay >= full / 2,
            "attempt {attempt}: {delay:?}"
        );
    }
}
