//! `/v1/orgs/{org_id}/documents` and `/v1/orgs/{org_id}/search`: uploads, their processing
//! status, chunks, original bytes, reprocessing, deletion, and retrieval-only search. Members and
//! above write, viewers and above read; keys need `documents:write` / `documents:read`.

use chrono::{DateTime, Utc};
use docent_app::Need;
use docent_documents::{
    Document, DocumentError, DocumentFilter, DocumentStatus, SearchMode, SearchRequest,
    StoredChunk, Upload, UploadDetails,
};
use docent_kernel::DocumentId;
use futures_util::StreamExt as _;
use poem_openapi::error::ContentTypeError;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Payload;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::multipart::Upload as FilePart;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use poem_openapi::{ApiResponse, Enum, Multipart, Object, OpenApi};
use uuid::Uuid;

use super::{ApiTags, decimal, page_request};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::ApiState;

/// The document endpoints.
#[derive(Debug, Clone)]
pub(crate) struct DocumentsApi {
    state: ApiState,
}

impl DocumentsApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// Where a document is in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub(crate) enum DocumentStatusDto {
    /// Stored, waiting for the worker.
    Queued,
    /// Being extracted, chunked and embedded.
    Processing,
    /// Searchable.
    Ready,
    /// Failed; see `error`.
    Failed,
}

impl From<DocumentStatus> for DocumentStatusDto {
    fn from(status: DocumentStatus) -> Self {
        match status {
            DocumentStatus::Queued => Self::Queued,
            DocumentStatus::Processing => Self::Processing,
            DocumentStatus::Ready => Self::Ready,
            DocumentStatus::Failed => Self::Failed,
        }
    }
}

impl From<DocumentStatusDto> for DocumentStatus {
    fn from(status: DocumentStatusDto) -> Self {
        match status {
            DocumentStatusDto::Queued => Self::Queued,
            DocumentStatusDto::Processing => Self::Processing,
            DocumentStatusDto::Ready => Self::Ready,
            DocumentStatusDto::Failed => Self::Failed,
        }
    }
}

/// How far processing got.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ProgressDto {
    /// Chunks embedded and indexed so far.
    pub chunks_done: u32,
    /// Chunks in the document (0 until it is chunked).
    pub chunks_total: u32,
}

/// Why a document failed.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct DocumentErrorDto {
    /// A stable code: `unsupported_format`, `encrypted_pdf`, `too_many_pages`, `too_large`,
    /// `empty_text`, `extract_error`, `extract_timeout`, `blob_missing`, `embed_error`,
    /// `index_error` or `processing_failed`.
    pub code: String,
    /// What happened, for people.
    pub message: String,
}

/// A document.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct DocumentDto {
    /// The id.
    pub id: Uuid,
    /// The title.
    pub title: String,
    /// The uploaded file's name (sanitized; metadata only).
    pub file_name: Option<String>,
    /// The type decided from the bytes.
    pub media_type: String,
    /// The size of the original, in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the original, hex.
    pub checksum: String,
    /// Labels.
    pub tags: Vec<String>,
    /// Where it is in the pipeline.
    pub status: DocumentStatusDto,
    /// How far processing got.
    pub progress: ProgressDto,
    /// Why it failed, when `status` is `failed`.
    pub error: Option<DocumentErrorDto>,
    /// Chunks stored (once ready).
    pub chunk_count: u32,
    /// The embedding model its vectors were made with.
    pub embedding_model: Option<String>,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Document> for DocumentDto {
    fn from(document: Document) -> Self {
        Self {
            id: document.id.as_uuid(),
            title: document.title,
            file_name: document.file_name,
            media_type: document.media_type,
            size_bytes: document.size_bytes,
            checksum: document.checksum,
            tags: document.tags,
            status: document.status.into(),
            progress: ProgressDto {
                chunks_done: document.progress.chunks_done,
                chunks_total: document.progress.chunks_total,
            },
            error: document.failure.map(|f| DocumentErrorDto {
                code: f.code,
                message: f.message,
            }),
            chunk_count: document.chunk_count,
            embedding_model: document.embedding_model,
            created_at: document.created_at,
            updated_at: document.updated_at,
        }
    }
}

/// A page of documents.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct DocumentList {
    /// The documents on this page.
    pub items: Vec<DocumentDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A passage of a document.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ChunkDto {
    /// Its position in the document, from 0.
    pub ordinal: u32,
    /// The text.
    pub text: String,
    /// The first character in the document's extracted text.
    pub char_start: u64,
    /// One past the last character.
    pub char_end: u64,
    /// The page it lies on, for formats with pages.
    pub page: Option<u32>,
    /// The headings it lies under, outermost first, joined by " › " (as in
    /// "Installation › Upgrading"); absent before a document's first heading and in documents
    /// without headings.
    pub section: Option<String>,
    /// Tokens of the embedding model's tokenizer.
    pub token_count: u32,
}

impl From<StoredChunk> for ChunkDto {
    fn from(chunk: StoredChunk) -> Self {
        Self {
            ordinal: chunk.ordinal,
            text: chunk.text,
            char_start: chunk.char_start,
            char_end: chunk.char_end,
            page: chunk.page,
            section: chunk.section,
            token_count: chunk.token_count,
        }
    }
}

/// A page of chunks.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ChunkList {
    /// The chunks on this page, in order.
    pub items: Vec<ChunkDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A file upload. Only its schema is used: the form is read by [`UploadStream`], after the
/// caller was authorized and without holding the file in memory.
#[derive(Debug, Multipart)]
#[allow(dead_code)]
pub(crate) struct UploadForm {
    /// The file: plain text, Markdown, HTML, CSV, PDF or DOCX (decided from its contents).
    pub file: FilePart,
    /// A title (1–300 characters); the file name when absent.
    pub title: Option<String>,
    /// Labels: repeat the field, or separate them with commas.
    #[oai(default)]
    pub tags: Vec<String>,
}

/// The longest title or tags field of an upload form.
const MAX_FORM_FIELD_BYTES: u64 = 16 * 1024;
/// The most `tags` fields an upload form may have.
const MAX_TAG_FIELDS: usize = 64;

/// A `multipart/form-data` upload, taken as the raw body: nothing of it is read before the handler
/// has authorized the caller, and the file part streams into storage in bounded memory.
pub(crate) struct UploadStream {
    body: poem::Body,
    boundary: String,
}

impl std::fmt::Debug for UploadStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UploadStream")
    }
}

impl<'a> ApiExtractor<'a> for UploadStream {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <UploadForm as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <UploadForm as Payload>::CONTENT_TYPE,
                schema: <UploadForm as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a poem::Request,
        body: &mut poem::RequestBody,
        _: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let content_type = request
            .content_type()
            .ok_or(ContentTypeError::ExpectContentType)?;
        if !<UploadForm as Payload>::check_content_type(content_type) {
            return Err(ContentTypeError::NotSupported {
                content_type: content_type.to_owned(),
            }
            .into());
        }
        let boundary = multer::parse_boundary(content_type).map_err(|e| {
            ApiError::new(
                poem::http::StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("the multipart form has no usable boundary: {e}"),
            )
        })?;
        Ok(Self {
            body: body.take()?,
            boundary,
        })
    }
}

fn unreadable_form(error: &multer::Error) -> ApiError {
    ApiError::new(
        poem::http::StatusCode::BAD_REQUEST,
        "invalid_request",
        format!("cannot read the upload form: {error}"),
    )
}

/// A text upload.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct TextUpload {
    /// The title (1–300 characters).
    #[oai(validator(max_length = 1200))]
    pub title: String,
    /// The text.
    pub text: String,
    /// Labels (each 1–64 letters, digits, `-`, `_`, `.`, `:` or `/`; at most 32).
    #[oai(validator(max_items = 64))]
    pub tags: Option<Vec<String>>,
}

/// A search.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SearchBody {
    /// What to look for (1–4000 characters).
    pub query: String,
    /// How many passages (1–50, default 5).
    pub top_k: Option<u32>,
    /// Only documents with at least one of these tags.
    #[oai(validator(max_items = 64))]
    pub tags: Option<Vec<String>>,
    /// Only these documents (ids of another organization answer 404).
    #[oai(validator(max_items = 200))]
    pub document_ids: Option<Vec<Uuid>>,
    /// How passages are ranked (default `hybrid`). Scores are the semantic similarity in every
    /// mode.
    pub mode: Option<SearchModeDto>,
    /// Deprecated: `true` is `"mode": "hybrid"`, `false` is `"mode": "dense"`; contradicting
    /// `mode` is refused.
    #[oai(deprecated)]
    pub hybrid: Option<bool>,
}

/// How a search ranks passages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum SearchModeDto {
    /// By semantic (dense embedding) similarity.
    Dense,
    /// By keyword relevance (BM25) alone.
    Keyword,
    /// Both rankings fused by reciprocal rank.
    Hybrid,
}

impl From<SearchModeDto> for SearchMode {
    fn from(mode: SearchModeDto) -> Self {
        match mode {
            SearchModeDto::Dense => Self::Dense,
            SearchModeDto::Keyword => Self::Keyword,
            SearchModeDto::Hybrid => Self::Hybrid,
        }
    }
}

/// The mode a search body asks for, from `mode` or the deprecated `hybrid`.
fn search_mode(body: &SearchBody) -> Result<SearchMode, DocumentError> {
    let legacy = body.hybrid.map(|hybrid| {
        if hybrid {
            SearchMode::Hybrid
        } else {
            SearchMode::Dense
        }
    });
    match (body.mode.map(SearchMode::from), legacy) {
        (Some(mode), Some(legacy)) if mode != legacy => Err(DocumentError::Invalid {
            field: "hybrid",
            reason: "contradicts mode; send mode alone".to_owned(),
        }),
        (Some(mode), _) | (None, Some(mode)) => Ok(mode),
        (None, None) => Ok(SearchMode::default()),
    }
}

/// A passage found by search.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SearchResultDto {
    /// The document.
    pub document_id: Uuid,
    /// Its title.
    pub title: String,
    /// The chunk's position in the document.
    pub ordinal: u32,
    /// The chunk's text.
    pub text: String,
    /// Semantic (cosine) similarity to the query, higher is closer, in every mode.
    pub score: f64,
    /// The page, for formats with pages.
    pub page: Option<u32>,
    /// The headings the passage lies under, outermost first, joined by " › "; absent where the
    /// document has none there.
    pub section: Option<String>,
}

/// Search results, best first.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct SearchResults {
    /// The passages.
    pub results: Vec<SearchResultDto>,
}

#[derive(ApiResponse)]
pub(crate) enum AcceptedDocument {
    /// Stored and queued for processing; poll the document for its status.
    #[oai(status = 202)]
    Accepted(Json<DocumentDto>),
}

#[derive(ApiResponse)]
pub(crate) enum DeletedDocument {
    /// Deleted: gone from listings and search at once; its vectors and file are purged in the
    /// background.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
pub(crate) enum ContentResponse {
    /// The original bytes, always as an attachment.
    #[oai(status = 200)]
    Ok(
        Binary<poem::Body>,
        /// `attachment` with the sanitized file name.
        #[oai(header = "Content-Disposition")]
        String,
        /// `nosniff`: browsers must not guess a type for the bytes.
        #[oai(header = "X-Content-Type-Options")]
        String,
        /// The type docent decided from the bytes.
        #[oai(header = "X-Docent-Media-Type")]
        String,
    ),
}

/// `attachment; filename="…"; filename*=UTF-8''…`: an ASCII fallback with quotes, backslashes and
/// control characters replaced, and the exact name percent-encoded.
fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[OpenApi(tag = "ApiTags::Documents")]
impl DocumentsApi {
    /// Upload a document
    ///
    /// `multipart/form-data` with a `file` part. The type is decided from the bytes (415
    /// `unsupported_media_type` otherwise); the size is limited by the operator (413
    /// `too_large`). The same bytes uploaded again answer 409 `duplicate_document` naming the
    /// existing document, unless `allow_duplicate=true`.
    #[oai(
        path = "/v1/orgs/:org_id/documents",
        method = "post",
        operation_id = "document_create"
    )]
    async fn create(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Store the document even if the organization has the same bytes already.
        allow_duplicate: Query<Option<bool>>,
        form: UploadStream,
    ) -> Result<AcceptedDocument, ApiError> {
        // Authorized before a byte of the body is read: a stranger's 50 MB upload is refused
        // before it is sent.
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::DocumentsWrite)
            .await?;
        let documents = self.state.documents()?;
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .for_field("title", MAX_FORM_FIELD_BYTES)
                .for_field("tags", MAX_FORM_FIELD_BYTES),
        );
        let mut multipart = multer::Multipart::with_constraints(
            form.body.into_bytes_stream(),
            form.boundary,
            constraints,
        );
        let mut staged = None;
        let mut title = None;
        let mut tags = Vec::new();
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| unreadable_form(&e))?
        {
            match field.name() {
                Some("file") if staged.is_some() => {
                    return Err(ApiError::new(
                        poem::http::StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "an upload has one `file` part",
                    ));
                }
                Some("file") => {
                    let file_name = field.file_name().map(str::to_owned);
                    let bytes = field.map(|piece| {
                        piece.map(|bytes| bytes.to_vec()).map_err(|e| {
                            docent_documents::ports::BlobError::Unavailable(e.to_string())
                        })
                    });
                    staged = Some(
                        documents
                            .stage(tenant.ctx(), Box::pin(bytes), file_name)
                            .await?,
                    );
                }
                Some("title") => title = Some(field.text().await.map_err(|e| unreadable_form(&e))?),
                Some("tags") if tags.len() >= MAX_TAG_FIELDS => {
                    return Err(ApiError::new(
                        poem::http::StatusCode::BAD_REQUEST,
                        "invalid_request",
                        format!("an upload has at most {MAX_TAG_FIELDS} `tags` parts"),
                    ));
                }
                Some("tags") => tags.push(field.text().await.map_err(|e| unreadable_form(&e))?),
                // Other parts are skipped.
                Some(_) | None => {}
            }
        }
        let staged = staged.ok_or_else(|| {
            ApiError::new(
                poem::http::StatusCode::BAD_REQUEST,
                "invalid_request",
                "the form has no `file` part",
            )
        })?;
        let document = documents
            .commit(
                tenant.ctx(),
                staged,
                UploadDetails {
                    title,
                    tags: docent_documents::split_tags(&tags),
                    allow_duplicate: allow_duplicate.0.unwrap_or(false),
                },
            )
            .await?;
        Ok(AcceptedDocument::Accepted(Json(document.into())))
    }

    /// Upload text as a document
    #[oai(
        path = "/v1/orgs/:org_id/documents/text",
        method = "post",
        operation_id = "document_create_text"
    )]
    async fn create_text(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Store the document even if the organization has the same text already.
        allow_duplicate: Query<Option<bool>>,
        body: Json<TextUpload>,
    ) -> Result<AcceptedDocument, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::DocumentsWrite)
            .await?;
        let Json(body) = body;
        let document = self
            .state
            .documents()?
            .upload(
                tenant.ctx(),
                Upload {
                    bytes: body.text.into_bytes(),
                    file_name: None,
                    title: Some(body.title),
                    tags: body.tags.unwrap_or_default(),
                    allow_duplicate: allow_duplicate.0.unwrap_or(false),
                },
            )
            .await?;
        Ok(AcceptedDocument::Accepted(Json(document.into())))
    }

    /// List documents
    #[oai(
        path = "/v1/orgs/:org_id/documents",
        method = "get",
        operation_id = "document_list"
    )]
    async fn list(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Only documents with this status.
        status: Query<Option<DocumentStatusDto>>,
        /// Only documents with this tag.
        tag: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<DocumentList>, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::DocumentsRead)
            .await?;
        let page = page_request(limit.0, cursor.0.as_deref())?;
        let filter = DocumentFilter {
            status: status.0.map(Into::into),
            tag: tag.0,
        };
        let documents = self
            .state
            .documents()?
            .list(tenant.ctx(), &filter, &page)
            .await?;
        Ok(Json(DocumentList {
            items: documents.items.into_iter().map(Into::into).collect(),
            next_cursor: documents.next_cursor,
        }))
    }

    /// Get a document
    ///
    /// With its status, progress and, when it failed, the error.
    #[oai(
        path = "/v1/orgs/:org_id/documents/:document_id",
        method = "get",
        operation_id = "document_get"
    )]
    async fn get(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        document_id: Path<Uuid>,
    ) -> Result<Json<DocumentDto>, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::DocumentsRead)
            .await?;
        let document = self
            .state
            .documents()?
            .get(tenant.ctx(), DocumentId::from_uuid(document_id.0))
            .await?;
        Ok(Json(document.into()))
    }

    /// List a document's chunks
    #[oai(
        path = "/v1/orgs/:org_id/documents/:document_id/chunks",
        method = "get",
        operation_id = "document_chunks"
    )]
    async fn chunks(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        document_id: Path<Uuid>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ChunkList>, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::DocumentsRead)
            .await?;
        let page = page_request(limit.0, cursor.0.as_deref())?;
        let chunks = self
            .state
            .documents()?
            .chunks(tenant.ctx(), DocumentId::from_uuid(document_id.0), &page)
            .await?;
        Ok(Json(ChunkList {
            items: chunks.items.into_iter().map(Into::into).collect(),
            next_cursor: chunks.next_cursor,
        }))
    }

    /// Download a document's original bytes
    #[oai(
        path = "/v1/orgs/:org_id/documents/:document_id/content",
        method = "get",
        operation_id = "document_content"
    )]
    async fn content(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        document_id: Path<Uuid>,
    ) -> Result<ContentResponse, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::DocumentsRead)
            .await?;
        let content = self
            .state
            .documents()?
            .content(tenant.ctx(), DocumentId::from_uuid(document_id.0))
            .await?;
        let name = content
            .file_name
            .unwrap_or_else(|| format!("{}.txt", content.title));
        // Streamed out as it is read, never held whole.
        let body = poem::Body::from_bytes_stream(
            content
                .bytes
                .map(|piece| piece.map_err(std::io::Error::other)),
        );
        Ok(ContentResponse::Ok(
            Binary(body),
            content_disposition(&name),
            "nosniff".to_owned(),
            content.media_type,
        ))
    }

    /// Process a document again
    ///
    /// For a `ready` or `failed` document (409 `document_busy` while it is queued or processing).
    #[oai(
        path = "/v1/orgs/:org_id/documents/:document_id/reprocess",
        method = "post",
        operation_id = "document_reprocess"
    )]
    async fn reprocess(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        document_id: Path<Uuid>,
    ) -> Result<AcceptedDocument, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::DocumentsWrite)
            .await?;
        let document = self
            .state
            .documents()?
            .reprocess(tenant.ctx(), DocumentId::from_uuid(document_id.0))
            .await?;
        Ok(AcceptedDocument::Accepted(Json(document.into())))
    }

    /// Delete a document
    ///
    /// Its chunks go at once; its vectors and file through a purge job that retries until the
    /// vector index and file store have let go of them.
    #[oai(
        path = "/v1/orgs/:org_id/documents/:document_id",
        method = "delete",
        operation_id = "document_delete"
    )]
    async fn delete(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        document_id: Path<Uuid>,
    ) -> Result<DeletedDocument, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::DocumentsWrite)
            .await?;
        self.state
            .documents()?
            .delete(tenant.ctx(), DocumentId::from_uuid(document_id.0))
            .await?;
        Ok(DeletedDocument::Deleted)
    }

    /// Search documents
    ///
    /// Retrieval only: the passages of the organization's ready documents that best match the
    /// query, by meaning (`dense`), by keywords (`keyword`, BM25) or by both (`hybrid`).
    #[oai(
        path = "/v1/orgs/:org_id/search",
        method = "post",
        operation_id = "document_search"
    )]
    async fn search(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<SearchBody>,
    ) -> Result<Json<SearchResults>, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::DocumentsRead)
            .await?;
        let Json(body) = body;
        let mode = search_mode(&body)?;
        let hits = self
            .state
            .documents()?
            .search(
                tenant.ctx(),
                SearchRequest {
                    query: body.query,
                    top_k: body.top_k.unwrap_or(5),
                    tags: body.tags,
                    document_ids: body
                        .document_ids
                        .map(|ids| ids.into_iter().map(DocumentId::from_uuid).collect()),
                    mode,
                },
            )
            .await?;
        Ok(Json(SearchResults {
            results: hits
                .into_iter()
                .map(|hit| SearchResultDto {
                    document_id: hit.document_id.as_uuid(),
                    title: hit.title,
                    ordinal: hit.chunk.ordinal,
                    text: hit.chunk.text,
                    score: decimal(hit.score),
                    page: hit.chunk.page,
                    section: hit.chunk.section,
                })
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_cannot_break_out_of_the_header() {
        let header = content_disposition("a\"b\\c\r\nSet-Cookie: x.pdf");
        assert!(!header.contains('\r') && !header.contains('\n'));
        assert!(header.starts_with("attachment; filename=\"a_b_c__Set-Cookie: x.pdf\""));
        assert!(header.ends_with("filename*=UTF-8''a%22b%5Cc%0D%0ASet-Cookie%3A%20x.pdf"));
        assert!(
            content_disposition("résumé.pdf").contains("filename*=UTF-8''r%C3%A9sum%C3%A9.pdf")
        );
    }
}
