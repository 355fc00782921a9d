//! Documents: the document and chunk model, text extraction, chunking, the ingestion pipeline, and
//! the ports it needs from outside (`BlobStore`, `Embedder`, `VectorIndex`, `DocumentRepo`,
//! `JobQueue`).
//!
//! - [`extract`] decides a file's real type from its bytes and extracts its text, page by page,
//!   within limits — hostile input ends in an error code, never a crash or a hang.
//! - [`chunk`] cuts the text into token-bounded, overlapping passages.
//! - [`service`] is what the API does: upload, list, read, reprocess, delete, search.
//! - [`pipeline`] is what the worker does: ingest and purge jobs.
//! - [`jobs`] is the job model and the queue port the worker claims from.

pub mod chunk;
pub mod error;
pub mod extract;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
#[cfg(any(test, feature = "fixtures"))]
pub mod in_process;
pub mod jobs;
pub mod model;
pub mod pipeline;
pub mod ports;
pub mod service;

pub use error::DocumentError;
pub use model::{
    Document, DocumentFilter, DocumentStatus, Failure, Progress, StoredChunk, point_id,
};
pub use ports::SearchMode;
pub use service::{
    Content, DocumentPorts, DocumentService, MAX_QUERY_CHARS, MAX_TAG_CHARS, MAX_TAGS,
    MAX_TITLE_CHARS, MAX_TOP_K, SearchHit, SearchRequest, Staged, Upload, UploadDetails,
    UploadLimits, split_tags,
};
