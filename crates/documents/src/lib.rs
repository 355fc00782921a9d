//! Documents: the document and chunk model, text extraction, chunking, and the ingestion pipeline,
//! with the ports it needs from outside (`BlobStore`, `Embedder`, `VectorIndex`, `DocumentRepo`).
//!
//! The documents issue fills this crate in steps. Landed so far: the statuses a document moves
//! through, and [`extract`]: deciding a file's real type from its bytes and extracting its text,
//! page by page, within limits, from plain text, Markdown, HTML, CSV, DOCX and PDF — with hostile
//! input ending in an error code, never a crash or a hang.

pub mod chunk;
pub mod extract;
pub mod ports;

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
