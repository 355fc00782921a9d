//! Documents: the document and chunk model, text extraction, chunking, and the ingestion pipeline,
//! with the ports it needs from outside (`BlobStore`, `Embedder`, `VectorIndex`, `DocumentRepo`).
//!
//! Filled by the documents issue. Until then it only names the statuses a document moves through,
//! which the worker and the API will share.

/// Where a document is in the ingestion pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentStatus {
    /// Stored, waiting for the worker.
    Queued,
    /// Being extracted, chunked and embedded.
    Processing,
    /// Searchable.
    Ready,
    /// Failed permanently; the document carries an error code.
    Failed,
}

impl DocumentStatus {
    /// The wire and storage name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
}
