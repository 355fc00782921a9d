//! What the documents pipeline needs from outside: the extraction sandbox, the embedder, the blob
//! store, the vector index and the document repository. Every method that touches an
//! organization's data takes its [`OrgId`]; the implementations apply that filter in one place
//! each.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_kernel::{DocumentId, OrgId, PageRequest, StoreError};
use futures_core::Stream;

use crate::chunk::Chunk;
use crate::extract::{ExtractError, Limits, MediaType};
use crate::jobs::NewJob;
use crate::model::{Document, DocumentFilter, Failure, Progress, StoredChunk};

/// A file's bytes, piece by piece.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, BlobError>> + Send>>;

/// What to extract and chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractRequest {
    /// The uploaded file's name (it only picks between text flavours).
    pub file_name: Option<String>,
    /// The document's title, embedded with every chunk (each chunk's budget leaves room for it).
    pub title: Option<String>,
    /// Bounds on what the document may yield.
    pub limits: Limits,
}

/// Why a document could not be extracted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractFailure {
    /// The document itself is the problem (its code is recorded on it): unsupported, damaged,
    /// too large, too slow, too hungry.
    #[error(transparent)]
    Document(#[from] ExtractError),
    /// The sandbox could not run or its input could not be read; retrying later may help.
    #[error("extraction could not run: {0}")]
    Unavailable(String),
}

/// A document's chunks as they come out of the sandbox, in order.
#[async_trait]
pub trait ChunkSource: Send {
    /// What the bytes turned out to be.
    fn media_type(&self) -> MediaType;

    /// How many chunks the document has.
    fn total(&self) -> u32;

    /// Up to `max` more chunks; an empty batch once all were given.
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Chunk>, ExtractFailure>;
}

/// Extracts and chunks documents where a hostile file can do no harm: a crash, a runaway parser or
/// an out-of-memory ends as an [`ExtractError`] with its own code, and nothing keeps running after
/// its budget.
#[async_trait]
pub trait Extractor: Send + Sync + std::fmt::Debug {
    /// Extracts and chunks `bytes`; returns once the document is chunked, with its chunks to read
    /// in batches, or with why not.
    async fn start(
        &self,
        bytes: ByteStream,
        request: ExtractRequest,
    ) -> Result<Box<dyn ChunkSource>, ExtractFailure>;
}

/// Why texts could not be embedded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    /// Retrying later may help (overload, a provider's 429 or 5xx, a timeout).
    #[error("embedding temporarily failed: {0}")]
    Transient(String),
    /// Retrying will not help (a bad model, bad input).
    #[error("embedding failed: {0}")]
    Permanent(String),
}

/// Turns texts into vectors of one model.
#[async_trait]
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// The model's identifier, stored with every document embedded by it.
    fn model_id(&self) -> &str;

    /// The length of every vector.
    fn dimensions(&self) -> usize;

    /// One L2-normalized vector per text, in order.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// An embedding model and its collection in the vector index.
#[derive(Debug, Clone)]
pub struct EmbeddingTarget {
    /// The model.
    pub embedder: Arc<dyn Embedder>,
    /// Its collection.
    pub index: Arc<dyn VectorIndex>,
}

impl EmbeddingTarget {
    /// The model and its collection, borrowed.
    #[must_use]
    pub fn parts(&self) -> (&dyn Embedder, &dyn VectorIndex) {
        (&*self.embedder, &*self.index)
    }
}

/// Why a blob operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// There is no blob for this document.
    #[error("blob not found")]
    NotFound,
    /// The store failed; retrying later may help.
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

/// Stores the original bytes of documents. Keys are derived from the organization and document
/// ids only, never from a file name, so no upload can choose where its bytes go.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Stores (or replaces) the bytes of a document.
    async fn put(
        &self,
        org: docent_kernel::OrgId,
        document: docent_kernel::DocumentId,
        bytes: Vec<u8>,
    ) -> Result<(), BlobError>;

    /// The bytes of a document; `NotFound` when there are none.
    async fn get(
        &self,
        org: docent_kernel::OrgId,
        document: docent_kernel::DocumentId,
    ) -> Result<Vec<u8>, BlobError>;

    /// The bytes of a document piece by piece, in bounded memory; `NotFound` when there are none.
    async fn stream(
        &self,
        org: docent_kernel::OrgId,
        document: docent_kernel::DocumentId,
    ) -> Result<ByteStream, BlobError>;

    /// Stores (or replaces) the bytes of a document from a stream, in bounded memory. Nothing is
    /// stored when the stream fails (its error is returned).
    async fn put_stream(
        &self,
        org: docent_kernel::OrgId,
        document: docent_kernel::DocumentId,
        bytes: ByteStream,
    ) -> Result<(), BlobError>;

    /// Removes every blob of an organization (its purge); removing what is not there succeeds.
    async fn delete_org(&self, org: docent_kernel::OrgId) -> Result<(), BlobError>;

    /// How many blobs an organization has (for checks after a purge).
    async fn count_org(&self, org: docent_kernel::OrgId) -> Result<u64, BlobError>;

    /// Removes the bytes of a document; removing what is not there succeeds.
    async fn delete(
        &self,
        org: docent_kernel::OrgId,
        document: docent_kernel::DocumentId,
    ) -> Result<(), BlobError>;
}

/// Why a vector-index operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The index is down or overloaded; retrying later may help.
    #[error("vector index unavailable: {0}")]
    Unavailable(String),
    /// The request does not fit the index (a vector of the wrong size); retrying will not help.
    #[error("vector index refused the request: {0}")]
    Invalid(String),
}

/// One chunk's entry in the vector index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexPoint {
    /// The document.
    pub document_id: DocumentId,
    /// The chunk's position in the document.
    pub ordinal: u32,
    /// The document's tags (for filtered search).
    pub tags: Vec<String>,
    /// The chunk's dense vector.
    pub vector: Vec<f32>,
    /// The chunk's text, for the index's sparse (BM25) vector.
    pub text: String,
}

/// What to search for.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorQuery {
    /// The query's dense vector.
    pub vector: Vec<f32>,
    /// The query's text, for the keyword (BM25) ranking.
    pub text: String,
    /// How many hits at most.
    pub limit: usize,
    /// Only chunks of documents with at least one of these tags.
    pub tags: Option<Vec<String>>,
    /// Only chunks of these documents.
    pub document_ids: Option<Vec<DocumentId>>,
    /// How passages are ranked.
    pub mode: SearchMode,
}

/// How a search ranks passages. Whatever the mode, a hit's score is its dense (cosine)
/// similarity to the query, since a chatbot's minimum score applies to that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// By dense (semantic) similarity alone.
    Dense,
    /// By BM25 keyword relevance alone.
    Keyword,
    /// The dense and the keyword rankings fused by reciprocal rank: the default, since it finds
    /// the evidence passage more often than either alone (`docs/quality.md`).
    #[default]
    Hybrid,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorHit {
    /// The document.
    pub document_id: DocumentId,
    /// The chunk.
    pub ordinal: u32,
    /// The dense (cosine) similarity of the chunk to the query, in `[-1, 1]`.
    pub score: f32,
}

/// The vector index: one collection per embedding model, every organization's points in it,
/// separated by an indexed `org_id` payload field.
#[async_trait]
pub trait VectorIndex: Send + Sync + std::fmt::Debug {
    /// Adds or replaces points of `org`. Point ids are derived from document id and ordinal, so
    /// writing the same chunk twice keeps one point.
    async fn upsert(&self, org: OrgId, points: Vec<IndexPoint>) -> Result<(), IndexError>;

    /// Removes every point of a document.
    async fn delete_document(&self, org: OrgId, document: DocumentId) -> Result<(), IndexError>;

    /// Removes a document's points from `from_ordinal` on (left over when a document shrank).
    async fn delete_from(
        &self,
        org: OrgId,
        document: DocumentId,
        from_ordinal: u32,
    ) -> Result<(), IndexError>;

    /// The nearest chunks of `org`'s documents, best first.
    async fn search(&self, org: OrgId, query: VectorQuery) -> Result<Vec<VectorHit>, IndexError>;

    /// How many points a document has.
    async fn count(&self, org: OrgId, document: DocumentId) -> Result<u64, IndexError>;

    /// Removes every point of an organization (its purge).
    async fn delete_org(&self, org: OrgId) -> Result<(), IndexError>;

    /// How many points an organization has.
    async fn count_org(&self, org: OrgId) -> Result<u64, IndexError>;

    /// Checks that the index answers.
    async fn ping(&self) -> Result<(), IndexError>;
}

/// Documents and chunks. Writes that need background work take the job and store it in the same
/// transaction (the outbox), so there is never a document without its job or a job without its
/// document change.
#[async_trait]
pub trait DocumentRepo: Send + Sync + std::fmt::Debug {
    /// Stores a new (queued) document together with its ingest job.
    async fn insert(&self, document: &Document, job: &NewJob) -> Result<(), StoreError>;

    /// A document of `org`.
    async fn get(&self, org: OrgId, id: DocumentId) -> Result<Option<Document>, StoreError>;

    /// The oldest document of `org` with this checksum.
    async fn find_by_checksum(
        &self,
        org: OrgId,
        checksum: &str,
    ) -> Result<Option<DocumentId>, StoreError>;

    /// A page of `org`'s documents in id order.
    async fn list(
        &self,
        org: OrgId,
        filter: &DocumentFilter,
        page: &PageRequest,
    ) -> Result<Vec<Document>, StoreError>;

    /// Chunks of a document with ordinals above `after`, in order, at most `limit`.
    async fn chunks(
        &self,
        org: OrgId,
        document: DocumentId,
        after: Option<u32>,
        limit: u64,
    ) -> Result<Vec<StoredChunk>, StoreError>;

    /// Chunks by document and ordinal, with their document's title (for search results). Chunks
    /// of documents that are gone or failed are left out.
    async fn chunks_by_key(
        &self,
        org: OrgId,
        keys: &[(DocumentId, u32)],
    ) -> Result<Vec<(String, StoredChunk)>, StoreError>;

    /// Queues a `ready` or `failed` document again, with its ingest job: `false` when the
    /// document does not exist or is queued or processing already.
    async fn requeue(&self, org: OrgId, id: DocumentId, job: &NewJob) -> Result<bool, StoreError>;

    /// Deletes a document and its chunks, cancels its pending ingest jobs and enqueues its purge
    /// job, in one transaction: `false` when the document does not exist.
    async fn delete(&self, org: OrgId, id: DocumentId, purge: &NewJob) -> Result<bool, StoreError>;

    /// Marks a document `processing` (progress reset) and returns it; `None` when it is gone.
    async fn start_processing(
        &self,
        org: OrgId,
        id: DocumentId,
        now: DateTime<Utc>,
    ) -> Result<Option<Document>, StoreError>;

    /// Puts a `processing` document back to `queued` (its job was interrupted and will run
    /// again).
    async fn mark_queued(
        &self,
        org: OrgId,
        id: DocumentId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records progress.
    async fn set_progress(
        &self,
        org: OrgId,
        id: DocumentId,
        progress: Progress,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Adds or replaces (by ordinal) chunks of a document being processed. `Conflict` when the
    /// document is gone (deleted while it was processed).
    async fn store_chunks(
        &self,
        org: OrgId,
        id: DocumentId,
        chunks: &[StoredChunk],
    ) -> Result<(), StoreError>;

    /// Marks a document `ready` with `total` chunks and drops its stored chunks from `total` on
    /// (left from a longer earlier run), in one transaction: `false` when the document is gone
    /// (deleted while it was processed).
    async fn finish(
        &self,
        org: OrgId,
        id: DocumentId,
        total: u32,
        embedding_model: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Enqueues a re-embedding job for every `ready` document, of any organization, whose vectors
    /// were made by another model than `model` and that has none pending; returns how many.
    /// (The one operation across organizations: it runs at start-up after the embedding model
    /// changed, and each job it makes is its organization's.)
    async fn enqueue_reembedding(&self, model: &str, at: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Whether `org` has a `ready` document whose vectors were made by another model than
    /// `model` (its searches then use the previous model's collection).
    async fn awaits_reembedding(&self, org: OrgId, model: &str) -> Result<bool, StoreError>;

    /// Records that a `ready` document's vectors are now `model`'s: `false` when it is no longer
    /// ready (deleted, or queued again meanwhile).
    async fn reembedded(
        &self,
        org: OrgId,
        id: DocumentId,
        model: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Marks a document `failed` with a reason.
    async fn fail(
        &self,
        org: OrgId,
        id: DocumentId,
        failure: &Failure,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}
