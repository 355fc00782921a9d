//! Errors of the document service.

use docent_kernel::{DocumentId, ErrorKind, PagingError, StoreError};

use crate::ports::{BlobError, EmbedError, IndexError};

/// Why a document operation failed. Messages are safe to show to clients.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// A field is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The upload has no text at all (empty or only white space).
    #[error("the document is empty")]
    Empty,
    /// The upload is larger than a configured maximum.
    #[error("the document is larger than the maximum of {limit} bytes (`{setting}`)")]
    TooLarge {
        /// The maximum, in bytes.
        limit: u64,
        /// The setting that says so (`documents.max_upload_bytes`, or `documents.max_chars` for
        /// text, which yields as many characters as it has bytes at most).
        setting: &'static str,
    },
    /// The upload's bytes could not be read to the end (the client stopped, or the form is
    /// malformed).
    #[error("the upload could not be read: {0}")]
    Unreadable(String),
    /// The bytes are not one of the supported formats (decided from the bytes, not the name).
    #[error(
        "unsupported file type; supported: plain text, Markdown, HTML, CSV, PDF and DOCX (decided from the file's contents)"
    )]
    UnsupportedMediaType,
    /// The organization already has a document with the same bytes.
    #[error(
        "the organization already has this document ({0}); pass allow_duplicate=true to upload it anyway"
    )]
    Duplicate(DocumentId),
    /// No such document in this organization.
    #[error("document not found")]
    NotFound,
    /// The document is queued or being processed; it can be reprocessed once it is ready or failed.
    #[error("the document is queued or being processed already")]
    Busy,
    /// Paging parameters are invalid.
    #[error(transparent)]
    Paging(#[from] PagingError),
    /// The blob store failed.
    #[error("file storage unavailable")]
    Blob(#[from] BlobError),
    /// The vector index failed.
    #[error("search index unavailable")]
    Index(#[from] IndexError),
    /// The embedder failed.
    #[error("embedding unavailable")]
    Embed(#[from] EmbedError),
    /// Storage failed.
    #[error("storage failure")]
    Store(#[from] StoreError),
}

impl DocumentError {
    /// The kind of this failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. }
            | Self::Empty
            | Self::Paging(_)
            | Self::TooLarge { .. }
            | Self::Unreadable(_) => ErrorKind::InvalidInput,
            Self::UnsupportedMediaType => ErrorKind::InvalidInput,
            Self::Duplicate(_) | Self::Busy => ErrorKind::Conflict,
            Self::NotFound | Self::Blob(BlobError::NotFound) => ErrorKind::NotFound,
            Self::Blob(BlobError::Unavailable(_))
            | Self::Index(IndexError::Unavailable(_))
            | Self::Embed(EmbedError::Transient(_)) => ErrorKind::Unavailable,
            Self::Index(IndexError::Invalid(_)) | Self::Embed(EmbedError::Permanent(_)) => {
                ErrorKind::Internal
            }
            Self::Store(e) => e.kind(),
        }
    }
}
