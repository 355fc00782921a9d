//! The document service: what the API does with documents. Uploads are checked, stored and queued
//! here; the worker's side is in [`crate::pipeline`].

use std::sync::Arc;

use docent_kernel::{
    AuditEvent, AuditLog, Clock, DocumentId, Page, PageRequest, TenantCtx, record_or_log,
};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::error::DocumentError;
use crate::extract::{ExtractError, sniff};
use crate::jobs::{JobKind, NewJob};
use crate::model::{Document, DocumentFilter, DocumentStatus, Progress, StoredChunk};
use crate::ports::{BlobStore, DocumentRepo, Embedder, VectorIndex, VectorQuery};

/// Operator limits for uploads and search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// The largest upload, in bytes.
    pub max_upload_bytes: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 50 * 1024 * 1024,
        }
    }
}

/// The most tags a document may carry.
pub const MAX_TAGS: usize = 32;
/// The longest tag.
pub const MAX_TAG_CHARS: usize = 64;
/// The longest title.
pub const MAX_TITLE_CHARS: usize = 300;
/// The most hits a search may ask for.
pub const MAX_TOP_K: u32 = 50;
/// The longest search query.
pub const MAX_QUERY_CHARS: usize = 4_000;

/// An upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The original bytes.
    pub bytes: Vec<u8>,
    /// The client's file name (metadata only; sanitized before it is stored).
    pub file_name: Option<String>,
    /// A title; the file name when absent.
    pub title: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Store it even when the organization has the same bytes already.
    pub allow_duplicate: bool,
}

/// The original bytes of a document, for download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The sanitized file name, if the upload had one.
    pub file_name: Option<String>,
    /// The type decided from the bytes.
    pub media_type: String,
    /// The title.
    pub title: String,
}

/// A search request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// What to look for.
    pub query: String,
    /// How many passages at most.
    pub top_k: u32,
    /// Only documents with at least one of these tags.
    pub tags: Option<Vec<String>>,
    /// Only these documents (each checked against the organization).
    pub document_ids: Option<Vec<DocumentId>>,
    /// Fuse the semantic ranking with a keyword (BM25) ranking.
    pub hybrid: bool,
}

/// A passage found by search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The document.
    pub document_id: DocumentId,
    /// Its title.
    pub title: String,
    /// The chunk.
    pub chunk: StoredChunk,
    /// The dense similarity to the query.
    pub score: f32,
}

/// What the document service is built from.
#[derive(Debug, Clone)]
pub struct DocumentPorts {
    /// Stores documents and chunks.
    pub repo: Arc<dyn DocumentRepo>,
    /// Stores the original bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// The vector index.
    pub index: Arc<dyn VectorIndex>,
    /// Embeds search queries.
    pub embedder: Arc<dyn Embedder>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// Documents of organizations.
#[derive(Debug, Clone)]
pub struct DocumentService {
    repo: Arc<dyn DocumentRepo>,
    blobs: Arc<dyn BlobStore>,
    index: Arc<dyn VectorIndex>,
    embedder: Arc<dyn Embedder>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
    limits: UploadLimits,
}

impl DocumentService {
    /// A service over these ports.
    #[must_use]
    pub fn new(ports: DocumentPorts, limits: UploadLimits) -> Self {
        let DocumentPorts {
            repo,
            blobs,
            index,
            embedder,
            audit,
            clock,
        } = ports;
        Self {
            repo,
            blobs,
            index,
            embedder,
            audit,
            clock,
            limits,
        }
    }

    /// The upload limits.
    #[must_use]
    pub const fn limits(&self) -> UploadLimits {
        self.limits
    }

    /// Checks an upload, stores its bytes, and records it as `queued` together with its ingest
    /// job.
    pub async fn upload(
        &self,
        tenant: &TenantCtx,
        upload: Upload,
    ) -> Result<Document, DocumentError> {
        let size = upload.bytes.len() as u64;
        if size > self.limits.max_upload_bytes {
            return Err(DocumentError::TooLarge {
                limit: self.limits.max_upload_bytes,
            });
        }
        let file_name = upload.file_name.as_deref().and_then(sanitize_file_name);
        let media_type = match sniff(&upload.bytes, file_name.as_deref()) {
            Ok(media_type) => media_type,
            Err(ExtractError::EmptyText) => return Err(DocumentError::Empty),
            Err(_) => return Err(DocumentError::UnsupportedMediaType),
        };
        let title = match upload.title {
            Some(title) => validate_title(&title)?,
            None => file_name.clone().unwrap_or_else(|| "Untitled".to_owned()),
        };
        let tags = validate_tags(upload.tags)?;
        let checksum = hex::encode(Sha256::digest(&upload.bytes));
        let org = tenant.org_id();
        if !upload.allow_duplicate
            && let Some(existing) = self.repo.find_by_checksum(org, &checksum).await?
        {
            return Err(DocumentError::Duplicate(existing));
        }
        let now = self.clock.now();
        let document = Document {
            id: DocumentId::generate(),
            org_id: org,
            title,
            file_name,
            media_type: media_type.mime().to_owned(),
            size_bytes: size,
            checksum,
            tags,
            status: DocumentStatus::Queued,
            progress: Progress::default(),
            failure: None,
            chunk_count: 0,
            embedding_model: None,
            created_by: tenant.actor(),
            created_at: now,
            updated_at: now,
        };
        self.blobs.put(org, document.id, upload.bytes).await?;
        let job = NewJob::new(JobKind::Ingest, org, document.id, now);
        if let Err(error) = self.repo.insert(&document, &job).await {
            // Without its row the blob is unreachable; do not leave it behind.
            if let Err(cleanup) = self.blobs.delete(org, document.id).await {
                tracing::warn!(document = %document.id, error = %cleanup, "could not remove the blob of a failed upload");
            }
            return Err(error.into());
        }
        tracing::info!(org = %org, document = %document.id, bytes = size, media_type = %document.media_type, "document queued");
        Ok(document)
    }

    /// A page of the organization's documents.
    pub async fn list(
        &self,
        tenant: &TenantCtx,
        filter: &DocumentFilter,
        page: &PageRequest,
    ) -> Result<Page<Document>, DocumentError> {
        let rows = self.repo.list(tenant.org_id(), filter, page).await?;
        Ok(Page::from_rows(rows, page, |d| d.id.as_uuid()))
    }

    /// One document.
    pub async fn get(&self, tenant: &TenantCtx, id: DocumentId) -> Result<Document, DocumentError> {
        self.repo
            .get(tenant.org_id(), id)
            .await?
            .ok_or(DocumentError::NotFound)
    }

    /// A page of a document's chunks, in order. The cursor encodes the last ordinal.
    pub async fn chunks(
        &self,
        tenant: &TenantCtx,
        id: DocumentId,
        page: &PageRequest,
    ) -> Result<Page<StoredChunk>, DocumentError> {
        self.get(tenant, id).await?;
        let after = page
            .after()
            .map(|cursor| u32::try_from(cursor.as_u128()))
            .transpose()
            .map_err(|_| DocumentError::Paging(docent_kernel::PagingError::InvalidCursor))?;
        let rows = self
            .repo
            .chunks(tenant.org_id(), id, after, page.fetch_limit())
            .await?;
        Ok(Page::from_rows(rows, page, |c| {
            Uuid::from_u128(u128::from(c.ordinal))
        }))
    }

    /// The original bytes.
    pub async fn content(
        &self,
        tenant: &TenantCtx,
        id: DocumentId,
    ) -> Result<Content, DocumentError> {
        let document = self.get(tenant, id).await?;
        let bytes = self.blobs.get(tenant.org_id(), id).await?;
        Ok(Content {
            bytes,
            file_name: document.file_name,
            media_type: document.media_type,
            title: document.title,
        })
    }

    /// Queues a `ready` or `failed` document for processing again.
    pub async fn reprocess(
        &self,
        tenant: &TenantCtx,
        id: DocumentId,
    ) -> Result<Document, DocumentError> {
        let org = tenant.org_id();
        let job = NewJob::new(JobKind::Ingest, org, id, self.clock.now());
        if !self.repo.requeue(org, id, &job).await? {
            // Tell "not there" from "busy".
            self.get(tenant, id).await?;
            return Err(DocumentError::Busy);
        }
        self.get(tenant, id).await
    }

    /// Deletes a document: its row and chunks at once, its vectors and bytes through a purge job
    /// (so they go even if the vector index or blob store is down right now).
    pub async fn delete(&self, tenant: &TenantCtx, id: DocumentId) -> Result<(), DocumentError> {
        let org = tenant.org_id();
        let now = self.clock.now();
        let document = self.get(tenant, id).await?;
        let purge = NewJob::new(JobKind::Purge, org, id, now);
        if !self.repo.delete(org, id, &purge).await? {
            return Err(DocumentError::NotFound);
        }
        record_or_log(
            self.audit.as_ref(),
            AuditEvent::new(tenant, "document.delete", ("document", id.as_uuid()), now)
                .with_detail(document.title),
        )
        .await;
        Ok(())
    }

    /// The passages of the organization's documents closest to a query.
    pub async fn search(
        &self,
        tenant: &TenantCtx,
        request: SearchRequest,
    ) -> Result<Vec<SearchHit>, DocumentError> {
        if let Some(ids) = &request.document_ids {
            // Ids in bodies are checked like path ids: another organization's answer 404.
            for id in ids {
                self.get(tenant, *id).await?;
            }
        }
        self.retrieve(tenant, request).await
    }

    /// Like [`Self::search`], without checking `document_ids` one by one: for filters that were
    /// checked when they were saved (a chatbot's knowledge scope), where a document deleted since
    /// simply matches nothing. The organization filter applies as always.
    pub async fn retrieve(
        &self,
        tenant: &TenantCtx,
        request: SearchRequest,
    ) -> Result<Vec<SearchHit>, DocumentError> {
        let query = request.query.trim();
        if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
            return Err(invalid(
                "query",
                format!("must be 1 to {MAX_QUERY_CHARS} characters"),
            ));
        }
        if request.top_k == 0 || request.top_k > MAX_TOP_K {
            return Err(invalid("top_k", format!("must be 1 to {MAX_TOP_K}")));
        }
        let tags = request.tags.map(validate_tags).transpose()?;
        let org = tenant.org_id();
        let vector = self
            .embedder
            .embed(vec![query.to_owned()])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                DocumentError::Embed(crate::ports::EmbedError::Permanent(
                    "the embedder returned no vector".to_owned(),
                ))
            })?;
        let hits = self
            .index
            .search(
                org,
                VectorQuery {
                    vector,
                    text: query.to_owned(),
                    limit: request.top_k as usize,
                    tags,
                    document_ids: request.document_ids,
                    hybrid: request.hybrid,
                },
            )
            .await?;
        let keys: Vec<_> = hits.iter().map(|h| (h.document_id, h.ordinal)).collect();
        let mut chunks = self.repo.chunks_by_key(org, &keys).await?;
        // Keep the index's order; drop hits whose chunk is gone (a document deleted a moment ago,
        // its purge not yet run).
        let mut results = Vec::with_capacity(hits.len());
        for hit in hits {
            if let Some(position) = chunks
                .iter()
                .position(|(_, c)| c.document_id == hit.document_id && c.ordinal == hit.ordinal)
            {
                let (title, chunk) = chunks.swap_remove(position);
                results.push(SearchHit {
                    document_id: hit.document_id,
                    title,
                    chunk,
                    score: hit.score,
                });
            }
        }
        Ok(results)
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> DocumentError {
    DocumentError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A file name safe to store and show: the last path component, without control characters, at
/// most 255 characters. `None` when nothing usable is left.
#[must_use]
pub fn sanitize_file_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

fn validate_title(raw: &str) -> Result<String, DocumentError> {
    let title: String = raw.chars().filter(|c| !c.is_control()).collect();
    let title = title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(invalid(
            "title",
            format!("must be 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(title.to_owned())
}

/// Tags are trimmed and deduplicated; each is 1–64 characters of letters, digits, `-`, `_`, `.`,
/// `:` or `/`.
pub fn validate_tags(raw: Vec<String>) -> Result<Vec<String>, DocumentError> {
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for tag in raw {
        let tag = tag.trim();
        let valid = !tag.is_empty()
            && tag.chars().count() <= MAX_TAG_CHARS
            && tag
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'));
        if !valid {
            return Err(invalid(
                "tags",
                format!(
                    "{tag:?}: a tag is 1 to {MAX_TAG_CHARS} letters, digits, '-', '_', '.', ':' or '/'"
                ),
            ));
        }
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(invalid("tags", format!("at most {MAX_TAGS} tags")));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(
            sanitize_file_name("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            sanitize_file_name("C:\\Users\\x\\report.pdf").as_deref(),
            Some("report.pdf")
        );
        assert_eq!(
            sanitize_file_name("evil\0name\n.txt").as_deref(),
            Some("evilname.txt")
        );
        assert_eq!(sanitize_file_name("../"), None);
        assert_eq!(sanitize_file_name(".."), None);
        assert_eq!(sanitize_file_name(".hidden").as_deref(), Some("hidden"));
        assert_eq!(
            sanitize_file_name(&"a".repeat(1000)).map(|n| n.len()),
            Some(255)
        );
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_checked() {
        assert_eq!(
            validate_tags(vec![" hr ".into(), "hr".into(), "policy:2024".into()]).unwrap(),
            vec!["hr".to_owned(), "policy:2024".to_owned()]
        );
        assert!(validate_tags(vec![String::new()]).is_err());
        assert!(validate_tags(vec!["has space".into()]).is_err());
        assert!(validate_tags(vec!["x".repeat(65)]).is_err());
        assert!(validate_tags((0..33).map(|i| format!("t{i}")).collect()).is_err());
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(validate_title("  Handbook \n").unwrap(), "Handbook");
        assert!(validate_title("   ").is_err());
        assert!(validate_title(&"x".repeat(301)).is_err());
    }
}
