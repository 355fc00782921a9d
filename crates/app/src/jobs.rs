//! The worker's jobs: document jobs go to the ingestion pipeline; an organization's purge, which
//! touches every domain's data, is done here — its vectors and blobs, then everything in the
//! database but its audit log and usage ledger, which are forgotten when the operator's retention
//! ends.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use async_trait::async_trait;
use chrono::Duration;
use docent_documents::jobs::{ClaimedJob, JobFailure, JobHandler, JobKind};
use docent_documents::pipeline::Ingestor;
use docent_documents::ports::{BlobError, BlobStore, IndexError, VectorIndex};
use docent_infrastructure::db::SqlStore;
use docent_kernel::{Clock, OrgId};

/// Removes deleted organizations' data.
#[derive(Debug)]
pub struct OrgPurger {
    pub(crate) store: SqlStore,
    pub(crate) index: Arc<dyn VectorIndex>,
    /// The previous embedding model's collection, while documents are re-embedded.
    pub(crate) previous_index: Option<Arc<dyn VectorIndex>>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) clock: Arc<dyn Clock>,
    /// How long audit events and usage rows outlive their organization.
    pub(crate) retention: Duration,
}

fn transient(what: &str, error: impl std::fmt::Display) -> JobFailure {
    JobFailure::Transient(format!("{what}: {error}"))
}

impl OrgPurger {
    /// Vectors and blobs first (they cannot be found again once the rows are gone), then the
    /// rows. Each step is idempotent, so a retried purge finishes the job.
    async fn purge(&self, org: OrgId) -> Result<(), JobFailure> {
        self.content(org).await?;
        let forget_at = self.clock.now() + self.retention;
        if !self
            .store
            .purge_org(org, forget_at)
            .await
            .map_err(|e| transient("database", e))?
        {
            tracing::warn!(org = %org, "a purge job for an organization that is not deleted; nothing done");
            return Ok(());
        }
        tracing::info!(org = %org, forget_at = %forget_at, "organization purged; its audit log and usage stay until forget_at");
        Ok(())
    }

    async fn content(&self, org: OrgId) -> Result<(), JobFailure> {
        for index in std::iter::once(&self.index).chain(&self.previous_index) {
            index.delete_org(org).await.map_err(|e| match e {
                IndexError::Unavailable(e) | IndexError::Invalid(e) => transient("vector index", e),
            })?;
        }
        match self.blobs.delete_org(org).await {
            Ok(()) | Err(BlobError::NotFound) => Ok(()),
            Err(BlobError::Unavailable(e)) => Err(transient("blob store", e)),
        }
    }

    /// The end of retention: the organization's row, its audit log and usage ledger. Vectors and
    /// blobs are removed once more, for anything an ingestion that was running at the deletion
    /// wrote after the purge.
    async fn forget(&self, org: OrgId) -> Result<(), JobFailure> {
        self.content(org).await?;
        self.store
            .forget_org(org)
            .await
            .map_err(|e| transient("database", e))?;
        tracing::info!(org = %org, "organization forgotten");
        Ok(())
    }
}

/// Routes every job to what does it.
#[derive(Debug)]
pub struct JobRouter {
    pub(crate) documents: Arc<Ingestor>,
    pub(crate) orgs: Arc<OrgPurger>,
}

#[async_trait]
impl JobHandler for JobRouter {
    async fn run(&self, job: &ClaimedJob, stop: &AtomicBool) -> Result<(), JobFailure> {
        match job.kind {
            JobKind::Ingest | JobKind::Purge | JobKind::Reembed => {
                self.documents.run(job, stop).await
            }
            JobKind::PurgeOrg => self.orgs.purge(job.org_id).await,
            JobKind::ForgetOrg => self.orgs.forget(job.org_id).await,
        }
    }

    async fn exhausted(&self, job: &ClaimedJob, error: &str) {
        match job.kind {
            JobKind::Ingest | JobKind::Purge | JobKind::Reembed => {
                self.documents.exhausted(job, error).await;
            }
            JobKind::PurgeOrg | JobKind::ForgetOrg => {
                tracing::error!(org = %job.org_id, kind = job.kind.as_str(), error, "gave up purging a deleted organization; the job is kept as `dead` in the jobs table with its last error, and runs again when requeued");
            }
        }
    }
}
