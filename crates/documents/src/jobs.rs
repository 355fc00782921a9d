//! Background jobs: what the worker does for documents, and the queue port it claims them from.
//!
//! Jobs are written in the same transaction as the document change that needs them (the
//! transactional outbox), claimed with a lease, heartbeated while they run, and retried with
//! backoff. A worker that dies simply stops heartbeating: its lease runs out and another worker
//! claims the job again.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_kernel::{DocumentId, JobId, OrgId, StoreError};
use uuid::Uuid;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Extract, chunk, embed and index a document.
    Ingest,
    /// Remove a deleted document's vectors and bytes.
    Purge,
    /// Embed a ready document's stored chunks again with the configured embedding model, into
    /// that model's collection (after the model changed; searches keep using the previous
    /// model's collection until the organization's documents are all re-embedded).
    Reembed,
    /// Remove everything of a deleted organization but its audit log and usage ledger, which
    /// stay until the operator's retention ends (enqueued with the deletion).
    PurgeOrg,
    /// Remove the last of a deleted organization once its retention ended: the organization's
    /// row with its audit log and usage ledger. (Organization jobs' rows go when they complete.)
    ForgetOrg,
}

impl JobKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [
        Self::Ingest,
        Self::Purge,
        Self::Reembed,
        Self::PurgeOrg,
        Self::ForgetOrg,
    ];

    /// The storage name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Purge => "purge",
            Self::Reembed => "reembed",
            Self::PurgeOrg => "purge_org",
            Self::ForgetOrg => "forget_org",
        }
    }

    /// Parses a storage name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the job is about a whole organization (its document id is the nil id).
    #[must_use]
    pub const fn is_org_job(self) -> bool {
        matches!(self, Self::PurgeOrg | Self::ForgetOrg)
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The id.
    pub id: JobId,
    /// The organization whose data it touches (claiming is fair across organizations).
    pub org_id: OrgId,
    /// The document.
    pub document_id: DocumentId,
    /// What to do.
    pub kind: JobKind,
    /// When it was enqueued; it may run from then on.
    pub at: DateTime<Utc>,
}

impl NewJob {
    /// A job of `kind` for a document, runnable at once.
    #[must_use]
    pub fn new(kind: JobKind, org_id: OrgId, document_id: DocumentId, at: DateTime<Utc>) -> Self {
        Self {
            id: JobId::generate(),
            org_id,
            document_id,
            kind,
            at,
        }
    }

    /// A job of `kind` for a whole organization, runnable from `at` (its document id is the nil
    /// id).
    #[must_use]
    pub fn for_org(kind: JobKind, org_id: OrgId, at: DateTime<Utc>) -> Self {
        Self::new(kind, org_id, DocumentId::from_uuid(Uuid::nil()), at)
    }
}

/// A job a worker holds a lease on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The id.
    pub id: JobId,
    /// The organization.
    pub org_id: OrgId,
    /// The document.
    pub document_id: DocumentId,
    /// What to do.
    pub kind: JobKind,
    /// How many times it has been claimed, this claim included.
    pub attempt: u32,
    /// Proves this claim: every later change to the job must present it, so a worker whose lease
    /// ran out (and whose job another worker took over) can no longer touch it.
    pub lease_token: Uuid,
}

/// The job queue.
#[async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// Claims the next runnable job, if any: one whose run time has come and which nobody holds a
    /// live lease on, preferring the organization served least recently. The lease lasts `lease`.
    async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<ClaimedJob>, StoreError>;

    /// Extends the lease; `false` when the lease was lost (it ran out and another worker claimed
    /// the job, or the job is gone).
    async fn heartbeat(
        &self,
        job: &ClaimedJob,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Marks the job done (an organization's purge jobs are removed instead: they leave no trace
    /// of the organization).
    async fn complete(&self, job: &ClaimedJob, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Gives the job back to run again at `at`, recording why.
    async fn retry(
        &self,
        job: &ClaimedJob,
        at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Gives up on the job for good, recording why.
    async fn bury(
        &self,
        job: &ClaimedJob,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Hands the job back untouched (shutting down): it is runnable again at once and this claim
    /// does not count as an attempt.
    async fn release(&self, job: &ClaimedJob, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Jobs waiting or running, for `/metrics` and tests.
    async fn pending(&self) -> Result<u64, StoreError>;
}

/// How a job ended, as told by its handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobFailure {
    /// Retrying later may help (a store or the vector index was unavailable).
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying will not help; the failure has been recorded where the user sees it.
    #[error("permanent: {0}")]
    Permanent(String),
    /// The worker is shutting down (or lost its lease) and stopped part-way; nothing was
    /// committed that a new attempt would not redo.
    #[error("interrupted")]
    Interrupted,
}

/// Runs jobs of every kind.
#[async_trait]
pub trait JobHandler: Send + Sync + std::fmt::Debug {
    /// Runs `job`. `stop` turns true when the worker wants the job to stop early (shutdown, lost
    /// lease); a handler checks it between steps and answers `Interrupted`.
    async fn run(&self, job: &ClaimedJob, stop: &AtomicBool) -> Result<(), JobFailure>;

    /// Called once a job has failed its last attempt, so the failure can be recorded on the
    /// document.
    async fn exhausted(&self, job: &ClaimedJob, error: &str);
}
