//! The ingestion pipeline, as the worker runs it: the blob streams into the extraction sandbox,
//! which sniffs, extracts and chunks it (bounded, killable) → chunks come back in batches → each
//! batch is embedded, upserted into the vector index and stored → the document is marked `ready`.
//! Memory stays bounded whatever the document's size: the worker holds one batch at a time. And
//! the purge that follows a deletion, and the re-embedding of stored chunks after the embedding
//! model changed.
//!
//! Every step is idempotent: point ids are derived from document id and ordinal, and chunk rows
//! are replaced by ordinal (the ones past the new end are dropped when the document is finished),
//! so a job that is retried or taken over from a crashed worker ends in the same state as one that
//! ran once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_kernel::{Clock, DocumentId, OrgId};

use crate::chunk::{Chunk, indexed_text};
use crate::extract::Limits;
use crate::jobs::{ClaimedJob, JobFailure, JobHandler, JobKind};
use crate::model::{DocumentStatus, Failure, Progress, StoredChunk};
use crate::ports::{
    BlobError, BlobStore, DocumentRepo, EmbedError, Embedder, EmbeddingTarget, ExtractFailure,
    ExtractRequest, Extractor, IndexError, IndexPoint, VectorIndex,
};

/// Records tokens spent on embeddings (the usage ledger).
#[async_trait]
pub trait EmbeddingUsage: Send + Sync + std::fmt::Debug {
    /// Adds `tokens` embedded for `org` at `at`.
    async fn embedded(&self, org: OrgId, tokens: u64, at: DateTime<Utc>);
}

/// How the pipeline processes documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineSettings {
    /// Bounds on extraction.
    pub limits: Limits,
    /// Chunks per embedding call (and per progress update).
    pub embed_batch: usize,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            embed_batch: 32,
        }
    }
}

/// What the ingestion pipeline is built from.
#[derive(Debug, Clone)]
pub struct IngestPorts {
    /// Stores documents and chunks.
    pub repo: Arc<dyn DocumentRepo>,
    /// The original bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// The vector index.
    pub index: Arc<dyn VectorIndex>,
    /// Embeds chunks.
    pub embedder: Arc<dyn Embedder>,
    /// The model configured before `embedder` and its collection, while documents are
    /// re-embedded: what is ingested meanwhile goes into both, what is purged leaves both.
    pub previous: Option<EmbeddingTarget>,
    /// Extracts and chunks documents in a sandbox.
    pub extractor: Arc<dyn Extractor>,
    /// Records embedded tokens.
    pub usage: Arc<dyn EmbeddingUsage>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// Runs ingest and purge jobs.
#[derive(Debug, Clone)]
pub struct Ingestor {
    repo: Arc<dyn DocumentRepo>,
    blobs: Arc<dyn BlobStore>,
    index: Arc<dyn VectorIndex>,
    embedder: Arc<dyn Embedder>,
    previous: Option<EmbeddingTarget>,
    extractor: Arc<dyn Extractor>,
    usage: Arc<dyn EmbeddingUsage>,
    clock: Arc<dyn Clock>,
    settings: PipelineSettings,
}

/// A failure with what to record on the document when it is permanent.
enum Step {
    Transient(String),
    Permanent(Failure),
    Interrupted,
}

impl From<IndexError> for Step {
    fn from(error: IndexError) -> Self {
        match error {
            IndexError::Unavailable(e) => Self::Transient(format!("vector index: {e}")),
            IndexError::Invalid(e) => Self::Permanent(failure("index_error", e)),
        }
    }
}

impl From<EmbedError> for Step {
    fn from(error: EmbedError) -> Self {
        match error {
            EmbedError::Transient(e) => Self::Transient(format!("embedder: {e}")),
            EmbedError::Permanent(e) => Self::Permanent(failure("embed_error", e)),
        }
    }
}

impl From<docent_kernel::StoreError> for Step {
    fn from(error: docent_kernel::StoreError) -> Self {
        Self::Transient(format!("database: {error}"))
    }
}

impl From<ExtractFailure> for Step {
    fn from(error: ExtractFailure) -> Self {
        match error {
            ExtractFailure::Document(e) => Self::Permanent(failure(e.code(), e.to_string())),
            ExtractFailure::Unavailable(e) => Self::Transient(format!("extraction: {e}")),
        }
    }
}

/// Embeds chunks (`keys` their ordinals, `texts` what is indexed of them) with `embedder` and
/// upserts them into its collection, `index`.
async fn index_batch(
    org: OrgId,
    id: DocumentId,
    tags: &[String],
    keys: &[u32],
    texts: &[String],
    (embedder, index): (&dyn Embedder, &dyn VectorIndex),
) -> Result<(), Step> {
    let vectors = embedder.embed(texts.to_vec()).await?;
    if vectors.len() != texts.len() {
        return Err(Step::Permanent(failure(
            "embed_error",
            format!(
                "the embedder returned {} vectors for {} texts",
                vectors.len(),
                texts.len()
            ),
        )));
    }
    let points = keys
        .iter()
        .zip(vectors)
        .zip(texts)
        .map(|((ordinal, vector), text)| IndexPoint {
            document_id: id,
            ordinal: *ordinal,
            tags: tags.to_vec(),
            vector,
            text: text.clone(),
        })
        .collect();
    index.upsert(org, points).await?;
    Ok(())
}

/// A chunk of document `id` as stored.
fn stored(id: DocumentId, chunk: Chunk) -> StoredChunk {
    StoredChunk {
        document_id: id,
        ordinal: chunk.ordinal,
        text: chunk.text,
        char_start: chunk.char_start as u64,
        char_end: chunk.char_end as u64,
        page: chunk.page,
        section: chunk.section,
        token_count: u32::try_from(chunk.token_count).unwrap_or(u32::MAX),
    }
}

fn failure(code: &str, message: impl Into<String>) -> Failure {
    Failure {
        code: code.to_owned(),
        message: message.into(),
    }
}

impl Ingestor {
    /// A pipeline over these ports.
    #[must_use]
    pub fn new(ports: IngestPorts, settings: PipelineSettings) -> Self {
        let IngestPorts {
            repo,
            blobs,
            index,
            embedder,
            previous,
            extractor,
            usage,
            clock,
        } = ports;
        Self {
            repo,
            blobs,
            index,
            embedder,
            previous,
            extractor,
            usage,
            clock,
            settings,
        }
    }

    async fn ingest(&self, org: OrgId, id: DocumentId, stop: &AtomicBool) -> Result<(), Step> {
        let Some(document) = self
            .repo
            .start_processing(org, id, self.clock.now())
            .await?
        else {
            tracing::info!(document = %id, "document deleted before processing; nothing to do");
            return Ok(());
        };
        let bytes = match self.blobs.stream(org, id).await {
            Ok(bytes) => bytes,
            Err(BlobError::NotFound) => {
                return Err(Step::Permanent(failure(
                    "blob_missing",
                    "the document's file is missing from storage; upload it again",
                )));
            }
            Err(BlobError::Unavailable(e)) => {
                return Err(Step::Transient(format!("blob store: {e}")));
            }
        };
        let request = ExtractRequest {
            file_name: document.file_name.clone(),
            title: Some(document.title.clone()),
            limits: self.settings.limits,
        };
        let mut chunks = self.extractor.start(bytes, request).await?;
        let total = chunks.total();
        self.progress(org, id, 0, total).await?;

        let mut done = 0_u32;
        let mut tokens = 0_u64;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(Step::Interrupted);
            }
            let batch = chunks.next_batch(self.settings.embed_batch.max(1)).await?;
            if batch.is_empty() {
                break;
            }
            // The title and section path go with the text into the dense and the keyword index.
            let texts: Vec<String> = batch
                .iter()
                .map(|c| indexed_text(Some(&document.title), c.section.as_deref(), &c.text))
                .collect();
            let keys: Vec<u32> = batch.iter().map(|c| c.ordinal).collect();
            // While a model change is re-embedded, the previous model's collection stays
            // complete: what is ingested meanwhile goes into it too.
            if let Some(previous) = &self.previous {
                index_batch(org, id, &document.tags, &keys, &texts, previous.parts()).await?;
            }
            index_batch(org, id, &document.tags, &keys, &texts, self.current()).await?;
            let stored: Vec<StoredChunk> = batch.into_iter().map(|c| stored(id, c)).collect();
            match self.repo.store_chunks(org, id, &stored).await {
                Ok(()) => {}
                // Deleted while we worked: the purge may have run before our upserts.
                Err(
                    docent_kernel::StoreError::Conflict(_) | docent_kernel::StoreError::NotFound,
                ) => {
                    self.delete_vectors(org, id).await?;
                    tracing::info!(document = %id, "document deleted while processing; its vectors were removed");
                    return Ok(());
                }
                Err(other) => return Err(other.into()),
            }
            tokens += stored.iter().map(|c| u64::from(c.token_count)).sum::<u64>();
            done += u32::try_from(stored.len()).unwrap_or(u32::MAX);
            self.progress(org, id, done, total).await?;
        }
        // A document processed again may have shrunk: drop the points past its new end.
        self.index.delete_from(org, id, done).await?;
        if let Some(previous) = &self.previous {
            previous.index.delete_from(org, id, done).await?;
        }
        let finished = self
            .repo
            .finish(org, id, done, self.embedder.model_id(), self.clock.now())
            .await?;
        if finished {
            self.usage.embedded(org, tokens, self.clock.now()).await;
            tracing::info!(document = %id, chunks = done, tokens, "document ready");
        } else {
            // Deleted while we worked: the purge may have run before our upserts.
            self.delete_vectors(org, id).await?;
            tracing::info!(document = %id, "document deleted while processing; its vectors were removed");
        }
        Ok(())
    }

    async fn progress(
        &self,
        org: OrgId,
        id: DocumentId,
        done: u32,
        total: u32,
    ) -> Result<(), Step> {
        self.repo
            .set_progress(
                org,
                id,
                Progress {
                    chunks_done: done,
                    chunks_total: total,
                },
                self.clock.now(),
            )
            .await?;
        Ok(())
    }

    /// Embeds a ready document's stored chunks with the configured model into its collection,
    /// then records the model on the document. Nothing else about the document changes: it stays
    /// `ready` and searchable (through the previous model) all along.
    async fn reembed(&self, org: OrgId, id: DocumentId, stop: &AtomicBool) -> Result<(), Step> {
        let model = self.embedder.model_id();
        let Some(document) = self.repo.get(org, id).await? else {
            return Ok(());
        };
        if document.status != DocumentStatus::Ready
            || document.embedding_model.as_deref() == Some(model)
        {
            // Deleted, processed again (by the new model) or done already.
            return Ok(());
        }
        let (mut after, mut done, mut tokens) = (None, 0_u32, 0_u64);
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(Step::Interrupted);
            }
            let batch = self
                .repo
                .chunks(org, id, after, self.settings.embed_batch.max(1) as u64)
                .await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.ordinal);
            let keys: Vec<u32> = batch.iter().map(|c| c.ordinal).collect();
            let texts: Vec<String> = batch
                .iter()
                .map(|c| indexed_text(Some(&document.title), c.section.as_deref(), &c.text))
                .collect();
            index_batch(org, id, &document.tags, &keys, &texts, self.current()).await?;
            tokens += batch.iter().map(|c| u64::from(c.token_count)).sum::<u64>();
            done += u32::try_from(batch.len()).unwrap_or(u32::MAX);
        }
        self.index.delete_from(org, id, done).await?;
        if self
            .repo
            .reembedded(org, id, model, self.clock.now())
            .await?
        {
            self.usage.embedded(org, tokens, self.clock.now()).await;
            tracing::info!(document = %id, chunks = done, model, "document re-embedded");
        } else if self.repo.get(org, id).await?.is_none() {
            // Deleted while we worked: the purge may have run before our upserts.
            self.delete_vectors(org, id).await?;
        }
        Ok(())
    }

    /// The configured model and its collection.
    fn current(&self) -> (&dyn Embedder, &dyn VectorIndex) {
        (&*self.embedder, &*self.index)
    }

    /// Removes a document's points from the collection, and from the previous model's.
    async fn delete_vectors(&self, org: OrgId, id: DocumentId) -> Result<(), IndexError> {
        self.index.delete_document(org, id).await?;
        if let Some(previous) = &self.previous {
            previous.index.delete_document(org, id).await?;
        }
        Ok(())
    }

    async fn purge(&self, org: OrgId, id: DocumentId) -> Result<(), Step> {
        self.delete_vectors(org, id).await?;
        match self.blobs.delete(org, id).await {
            Ok(()) | Err(BlobError::NotFound) => {}
            Err(BlobError::Unavailable(e)) => {
                return Err(Step::Transient(format!("blob store: {e}")));
            }
        }
        tracing::info!(document = %id, "document purged");
        Ok(())
    }
}

#[async_trait]
impl JobHandler for Ingestor {
    async fn run(&self, job: &ClaimedJob, stop: &AtomicBool) -> Result<(), JobFailure> {
        let (org, id) = (job.org_id, job.document_id);
        let outcome = match job.kind {
            JobKind::Ingest => self.ingest(org, id, stop).await,
            JobKind::Purge => self.purge(org, id).await,
            JobKind::Reembed => self.reembed(org, id, stop).await,
            JobKind::PurgeOrg | JobKind::ForgetOrg => {
                return Err(JobFailure::Permanent(format!(
                    "{} is an organization's job, not a document's",
                    job.kind.as_str()
                )));
            }
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(Step::Transient(reason)) => {
                // Waiting for a retry is not processing: show it as queued meanwhile.
                if job.kind == JobKind::Ingest
                    && let Err(e) = self.repo.mark_queued(org, id, self.clock.now()).await
                {
                    tracing::warn!(document = %id, error = %e, "could not mark a document queued for its retry");
                }
                Err(JobFailure::Transient(reason))
            }
            Err(Step::Interrupted) => {
                // Deleted while we worked (deletion cancels the job, which stops us): the purge
                // may have run before our last upserts.
                if job.kind == JobKind::Ingest
                    && matches!(self.repo.get(org, id).await, Ok(None))
                    && let Err(e) = self.delete_vectors(org, id).await
                {
                    tracing::warn!(document = %id, error = %e, "could not remove the vectors of a document deleted while processing");
                }
                // Back to `queued` until a worker takes the job again, rather than looking stuck.
                if job.kind == JobKind::Ingest
                    && let Err(e) = self.repo.mark_queued(org, id, self.clock.now()).await
                {
                    tracing::warn!(document = %id, error = %e, "could not mark an interrupted document queued");
                }
                Err(JobFailure::Interrupted)
            }
            Err(Step::Permanent(failure)) => {
                let reason = format!("{}: {}", failure.code, failure.message);
                if job.kind == JobKind::Ingest {
                    self.repo
                        .fail(org, id, &failure, self.clock.now())
                        .await
                        .map_err(|e| JobFailure::Transient(format!("database: {e}")))?;
                }
                Err(JobFailure::Permanent(reason))
            }
        }
    }

    async fn exhausted(&self, job: &ClaimedJob, error: &str) {
        match job.kind {
            JobKind::Ingest => {
                let failure = failure(
                    "processing_failed",
                    format!(
                        "gave up after {} attempts; last error: {error}",
                        job.attempt
                    ),
                );
                if let Err(e) = self
                    .repo
                    .fail(job.org_id, job.document_id, &failure, self.clock.now())
                    .await
                {
                    tracing::error!(document = %job.document_id, error = %e, "could not record a document's failure");
                }
            }
            JobKind::Reembed => {
                tracing::error!(document = %job.document_id, error, "gave up re-embedding a document; its searches stay on the previous model until it is processed again");
            }
            JobKind::Purge | JobKind::PurgeOrg | JobKind::ForgetOrg => {
                tracing::error!(document = %job.document_id, kind = job.kind.as_str(), error, "gave up purging deleted data; the job is kept as `dead` in the jobs table with its last error");
            }
        }
    }
}
