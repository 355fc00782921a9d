//! The document service: what the API does with documents. Uploads are checked, stored and queued
//! here; the worker's side is in [`crate::pipeline`].

use std::sync::Arc;

use docent_kernel::{
    AuditEvent, AuditLog, Clock, DocumentId, Page, PageRequest, TenantCtx, record_or_log,
};
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::error::DocumentError;
use crate::extract::{ExtractError, MediaType, Sniffer};
use crate::jobs::{JobKind, NewJob};
use crate::model::{Document, DocumentFilter, DocumentStatus, Progress, StoredChunk};
use crate::ports::{
    BlobError, BlobStore, ByteStream, DocumentRepo, Embedder, EmbeddingTarget, SearchMode,
    VectorIndex, VectorQuery,
};

/// Operator limits for uploads and search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// The largest upload, in bytes.
    pub max_upload_bytes: u64,
    /// The most characters of text ingestion accepts: a text upload (plain text, Markdown, CSV,
    /// HTML) larger than this, in bytes, is refused at upload instead of failing later.
    pub max_chars: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 50 * 1024 * 1024,
            max_chars: 64 * 1024 * 1024,
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

/// An upload held in memory (small ones: a JSON text upload).
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

/// What an upload says about itself besides its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadDetails {
    /// A title; the file name when absent.
    pub title: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Store it even when the organization has the same bytes already.
    pub allow_duplicate: bool,
}

/// An upload's bytes, stored under a new document id but not yet a document: [`DocumentService::
/// commit`] makes it one. Dropped uncommitted, its bytes are removed again.
#[derive(Debug)]
pub struct Staged {
    id: DocumentId,
    org: docent_kernel::OrgId,
    size: u64,
    checksum: String,
    media_type: MediaType,
    file_name: Option<String>,
    blobs: Arc<dyn BlobStore>,
    committed: bool,
}

impl Staged {
    /// The upload's size in bytes.
    #[must_use]
    pub const fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let (blobs, org, id) = (self.blobs.clone(), self.org, self.id);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = blobs.delete(org, id).await {
                        tracing::warn!(document = %id, %error, "could not remove the bytes of an abandoned upload");
                    }
                });
            }
            Err(_) => {
                tracing::warn!(document = %id, "an abandoned upload's bytes stay behind (no runtime)");
            }
        }
    }
}

/// What streaming an upload found out on the way.
#[derive(Debug)]
struct Seen {
    size: u64,
    hash: Sha256,
    sniffer: Sniffer,
    too_large: bool,
    unreadable: Option<String>,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            size: 0,
            hash: Sha256::new(),
            sniffer: Sniffer::new(None),
            too_large: false,
            unreadable: None,
        }
    }
}

/// The original bytes of a document, for download.
pub struct Content {
    /// The bytes, piece by piece.
    pub bytes: ByteStream,
    /// The sanitized file name, if the upload had one.
    pub file_name: Option<String>,
    /// The type decided from the bytes.
    pub media_type: String,
    /// The title.
    pub title: String,
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Content")
            .field("file_name", &self.file_name)
            .field("media_type", &self.media_type)
            .finish_non_exhaustive()
    }
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
    /// How passages are ranked.
    pub mode: SearchMode,
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
    /// The model configured before `embedder` and its collection, while documents are
    /// re-embedded: an organization's searches use it until all its documents are re-embedded.
    pub previous: Option<EmbeddingTarget>,
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
    previous: Option<EmbeddingTarget>,
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
            previous,
            audit,
            clock,
        } = ports;
        Self {
            repo,
            blobs,
            index,
            embedder,
            previous,
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

    /// Checks an upload held in memory, stores its bytes, and records it as `queued` together
    /// with its ingest job.
    pub async fn upload(
        &self,
        tenant: &TenantCtx,
        upload: Upload,
    ) -> Result<Document, DocumentError> {
        let details = UploadDetails {
            title: upload.title,
            tags: upload.tags,
            allow_duplicate: upload.allow_duplicate,
        };
        // Checked before the bytes are stored, since they are at hand anyway.
        check_details(&details, upload.file_name.as_deref())?;
        let bytes: ByteStream = Box::pin(futures_util::stream::iter([Ok(upload.bytes)]));
        let staged = self.stage(tenant, bytes, upload.file_name).await?;
        self.commit(tenant, staged, details).await
    }

    /// Streams an upload's bytes into the blob store under a new document id, in bounded memory,
    /// counting, hashing and sniffing them on the way: `TooLarge` as soon as they pass the upload
    /// limit (nothing is kept), `UnsupportedMediaType` or `Empty` once they ended, `Unreadable`
    /// when the stream itself failed (the client went away, a malformed form).
    pub async fn stage(
        &self,
        tenant: &TenantCtx,
        bytes: ByteStream,
        file_name: Option<String>,
    ) -> Result<Staged, DocumentError> {
        let file_name = file_name.as_deref().and_then(sanitize_file_name);
        let org = tenant.org_id();
        let id = DocumentId::generate();
        let seen = Arc::new(std::sync::Mutex::new(Seen {
            sniffer: Sniffer::new(file_name.as_deref()),
            ..Seen::default()
        }));
        let limit = self.limits.max_upload_bytes;
        let watched = {
            let seen = seen.clone();
            bytes.map(move |piece| {
                let mut seen = seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match piece {
                    Ok(piece) => {
                        seen.size += piece.len() as u64;
                        if seen.size > limit {
                            seen.too_large = true;
                            return Err(BlobError::Unavailable("the upload is too large".into()));
                        }
                        seen.hash.update(&piece);
                        seen.sniffer.feed(&piece);
                        Ok(piece)
                    }
                    Err(error) => {
                        seen.unreadable = Some(error.to_string());
                        Err(error)
                    }
                }
            })
        };
        let stored = self.blobs.put_stream(org, id, Box::pin(watched)).await;
        let seen = std::mem::take(
            &mut *seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if seen.too_large {
            return Err(DocumentError::TooLarge {
                limit,
                setting: "documents.max_upload_bytes",
            });
        }
        if let Some(reason) = seen.unreadable {
            return Err(DocumentError::Unreadable(reason));
        }
        stored?;
        // From here on the bytes are stored: dropping `staged` removes them again.
        let mut staged = Staged {
            id,
            org,
            size: seen.size,
            checksum: hex::encode(seen.hash.finalize()),
            media_type: MediaType::Text,
            file_name,
            blobs: self.blobs.clone(),
            committed: false,
        };
        staged.media_type = match seen.sniffer.finish() {
            Ok(media_type) => media_type,
            Err(ExtractError::EmptyText) => return Err(DocumentError::Empty),
            Err(_) => return Err(DocumentError::UnsupportedMediaType),
        };
        let text = matches!(
            staged.media_type,
            MediaType::Text | MediaType::Markdown | MediaType::Csv | MediaType::Html
        );
        if text && staged.size > self.limits.max_chars {
            return Err(DocumentError::TooLarge {
                limit: self.limits.max_chars,
                setting: "documents.max_chars",
            });
        }
        Ok(staged)
    }

    /// Makes a staged upload a `queued` document with its ingest job (or refuses it: a bad title
    /// or tags, the same bytes in the organization already); a refused upload's bytes are removed.
    pub async fn commit(
        &self,
        tenant: &TenantCtx,
        mut staged: Staged,
        details: UploadDetails,
    ) -> Result<Document, DocumentError> {
        let org = tenant.org_id();
        if staged.org != org {
            return Err(DocumentError::NotFound);
        }
        let (title, tags) = check_details(&details, staged.file_name.as_deref())?;
        if !details.allow_duplicate
            && let Some(existing) = self.repo.find_by_checksum(org, &staged.checksum).await?
        {
            return Err(DocumentError::Duplicate(existing));
        }
        let now = self.clock.now();
        let document = Document {
            id: staged.id,
            org_id: org,
            title,
            file_name: staged.file_name.clone(),
            media_type: staged.media_type.mime().to_owned(),
            size_bytes: staged.size,
            checksum: staged.checksum.clone(),
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
        let job = NewJob::new(JobKind::Ingest, org, document.id, now);
        // Without its row the blob is unreachable: a failed insert drops `staged`, which removes
        // it.
        self.repo.insert(&document, &job).await?;
        staged.committed = true;
        tracing::info!(org = %org, document = %document.id, bytes = staged.size, media_type = %document.media_type, "document queued");
        Ok(document)
    }

    /// A page of the organization's documents.
    pub async fn list(
        &self,
        tenant: &TenantCtx,
        filter: &DocumentFilter,
        page: &PageRequest,
    ) -> Result<Page<Document>, DocumentError> {
        // A tag filter follows the rule tags are stored by: one that no document can carry is a
        // mistake to point out, not a search that finds nothing.
        if let Some(tag) = &filter.tag {
            validate_tags(vec![tag.clone()])?;
        }
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
        let bytes = self.blobs.stream(tenant.org_id(), id).await?;
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
        if query.is_empty() || request.query.chars().count() > MAX_QUERY_CHARS {
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
        // While the organization's documents are re-embedded after a model change, its searches
        // use the previous model's complete collection; then they switch, never seeing a
        // half-built one.
        let (embedder, index) = match &self.previous {
            Some(previous)
                if self
                    .repo
                    .awaits_reembedding(org, self.embedder.model_id())
                    .await? =>
            {
                previous.parts()
            }
            Some(_) | None => (&*self.embedder, &*self.index),
        };
        let vector = embedder
            .embed(vec![query.to_owned()])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                DocumentError::Embed(crate::ports::EmbedError::Permanent(
                    "the embedder returned no vector".to_owned(),
                ))
            })?;
        let hits = index
            .search(
                org,
                VectorQuery {
                    vector,
                    text: query.to_owned(),
                    limit: request.top_k as usize,
                    tags,
                    document_ids: request.document_ids,
                    mode: request.mode,
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

/// The title (the file name when none was given) and tags an upload will have.
fn check_details(
    details: &UploadDetails,
    file_name: Option<&str>,
) -> Result<(String, Vec<String>), DocumentError> {
    let title = match &details.title {
        Some(title) => validate_title(title)?,
        None => file_name
            .and_then(sanitize_file_name)
            .unwrap_or_else(|| "Untitled".to_owned()),
    };
    Ok((title, validate_tags(details.tags.clone())?))
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
    if title.is_empty() || raw.chars().count() > MAX_TITLE_CHARS {
        return Err(invalid(
            "title",
            format!("must be 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(title.to_owned())
}

/// Tags as a form sends them: each field may hold several, separated by commas; blanks dropped.
#[must_use]
pub fn split_tags(raw: &[String]) -> Vec<String> {
    raw.iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Tags are trimmed and deduplicated; each is 1–64 characters of letters, digits, `-`, `_`, `.`,
/// `:` or `/`.
pub fn validate_tags(raw: Vec<String>) -> Result<Vec<String>, DocumentError> {
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for raw_tag in raw {
        let tag = raw_tag.trim();
        let valid = !tag.is_empty()
            && raw_tag.chars().count() <= MAX_TAG_CHARS
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
    fn tags_split_on_commas() {
        assert_eq!(
            split_tags(&["a, b".into(), "c".into(), " ,".into()]),
            vec!["a", "b", "c"]
        );
    }

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
