//! The document and chunk model.

use chrono::{DateTime, Utc};
use docent_kernel::{Actor, DocumentId, OrgId};
use uuid::Uuid;

/// Where a document is in the ingestion pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Every status, in pipeline order.
    pub const ALL: [Self; 4] = [Self::Queued, Self::Processing, Self::Ready, Self::Failed];

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

    /// Parses a wire or storage name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Why a document failed, as recorded on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// A stable code (`unsupported_format`, `encrypted_pdf`, `too_large`, `empty_text`, …).
    pub code: String,
    /// A human-readable explanation, safe to show to the organization.
    pub message: String,
}

/// How far the worker got with a document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Chunks embedded and indexed so far.
    pub chunks_done: u32,
    /// Chunks the document was split into (0 until it is chunked).
    pub chunks_total: u32,
}

/// A document of an organization. Its bytes live in the blob store, its chunks in the repository,
/// its vectors in the vector index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The id.
    pub id: DocumentId,
    /// The organization it belongs to.
    pub org_id: OrgId,
    /// A title (the file name when the uploader gave none).
    pub title: String,
    /// The uploaded file's name, sanitized; metadata only, never part of a path.
    pub file_name: Option<String>,
    /// The type decided from the bytes (`application/pdf`, `text/markdown`, …).
    pub media_type: String,
    /// The size of the original bytes.
    pub size_bytes: u64,
    /// SHA-256 of the original bytes, hex; duplicates are detected per organization.
    pub checksum: String,
    /// Labels to filter by.
    pub tags: Vec<String>,
    /// Where it is in the pipeline.
    pub status: DocumentStatus,
    /// How far processing got.
    pub progress: Progress,
    /// Why it failed, when it did.
    pub failure: Option<Failure>,
    /// Chunks stored for it (once ready).
    pub chunk_count: u32,
    /// The model its vectors were made with (once processed).
    pub embedding_model: Option<String>,
    /// Who uploaded it.
    pub created_by: Actor,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A passage of a document's extracted text, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChunk {
    /// The document.
    pub document_id: DocumentId,
    /// The position in the document, from 0.
    pub ordinal: u32,
    /// The text.
    pub text: String,
    /// The first character (inclusive) in the document's extracted text.
    pub char_start: u64,
    /// The last character (exclusive) in the document's extracted text.
    pub char_end: u64,
    /// The page it starts on, for formats with pages.
    pub page: Option<u32>,
    /// The headings it lies under, outermost first, joined by " › ".
    pub section: Option<String>,
    /// Tokens of the embedding model's tokenizer.
    pub token_count: u32,
}

/// Filters for listing documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentFilter {
    /// Only documents with this status.
    pub status: Option<DocumentStatus>,
    /// Only documents carrying this tag.
    pub tag: Option<String>,
}

/// The namespace of chunk point ids.
const POINT_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_3c2e_8d4a_4f0b_9e57_d0c3_a1b2_c3d4);

/// The vector-index id of a chunk: UUIDv5 of the document id and ordinal, so processing a document
/// again overwrites its points instead of duplicating them.
#[must_use]
pub fn point_id(document: DocumentId, ordinal: u32) -> Uuid {
    let mut name = [0_u8; 20];
    name[..16].copy_from_slice(document.as_uuid().as_bytes());
    name[16..].copy_from_slice(&ordinal.to_be_bytes());
    Uuid::new_v5(&POINT_NAMESPACE, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_ids_are_deterministic_and_distinct() {
        let a = DocumentId::generate();
        let b = DocumentId::generate();
        assert_eq!(point_id(a, 0), point_id(a, 0));
        assert_ne!(point_id(a, 0), point_id(a, 1));
        assert_ne!(point_id(a, 0), point_id(b, 0));
        assert_eq!(point_id(a, 7).get_version_num(), 5);
    }

    #[test]
    fn statuses_round_trip() {
        for status in DocumentStatus::ALL {
            assert_eq!(DocumentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(DocumentStatus::parse("deleted"), None);
    }
}
