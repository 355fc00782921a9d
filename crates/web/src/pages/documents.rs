//! An organization's documents: the list with each document's status and progress (the page's
//! script refreshes it while something is being processed), uploads of many files at once by the
//! file picker or by dropping them (one post per file with the script, so each has its own
//! progress; one post for all without it), and a document's page with its failure in words, its
//! chunks with their pages and sections, reprocess and delete.

use docent_app::Need;
use docent_documents::{
    Document, DocumentError, DocumentFilter, DocumentStatus, Staged, UploadDetails,
};
use docent_kernel::{Cursor, DocumentId, PageRequest};
use futures_util::StreamExt as _;
use poem::http::StatusCode;
use poem::http::header::CONTENT_TYPE;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde::{Deserialize, Serialize};

use super::org::{Inside, enter, frame, not_found};
use super::{Posted, failure, flash, form_page, posted, redirect};
use crate::Console;

/// The most files one upload post may carry.
const MAX_FILES: usize = 100;
/// The longest value of an upload form's text fields (`csrf`, `tags`, `allow_duplicate`).
const MAX_FORM_FIELD_BYTES: u64 = 16 * 1024;
/// Chunks shown per page of a document's page.
const CHUNKS_PER_PAGE: u32 = 20;
/// The header the page's script sends with a one-file upload: the answer is then the outcome as
/// plain text, not a page.
const SCRIPTED_UPLOAD: &str = "x-docent-upload";

#[derive(Debug, Serialize)]
struct DocumentRow {
    id: String,
    title: String,
    file_name: Option<String>,
    media_type: String,
    size: String,
    status: &'static str,
    /// Still on its way to `ready` or `failed`.
    pending: bool,
    done: u32,
    total: u32,
    chunks: u32,
    tags: Vec<String>,
    failure: Option<String>,
    created_at: String,
}

impl From<&Document> for DocumentRow {
    fn from(d: &Document) -> Self {
        Self {
            id: d.id.to_string(),
            title: d.title.clone(),
            file_name: d.file_name.clone(),
            media_type: d.media_type.clone(),
            size: human_size(d.size_bytes),
            status: d.status.as_str(),
            pending: matches!(
                d.status,
                DocumentStatus::Queued | DocumentStatus::Processing
            ),
            done: d.progress.chunks_done,
            total: d.progress.chunks_total,
            chunks: d.chunk_count,
            tags: d.tags.clone(),
            failure: d.failure.as_ref().map(|f| f.message.clone()),
            created_at: d.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

/// `1.4 MB`, `312 KB`, `80 bytes` (binary units, as file managers count them).
fn human_size(bytes: u64) -> String {
    const KB: u64 = 1024;
    const MB: u64 = 1024 * 1024;
    #[allow(clippy::cast_precision_loss)] // a size shown to one decimal
    let value = bytes as f64;
    if bytes >= MB {
        let shown = format!("{:.1}", value / MB as f64);
        format!("{} MB", shown.trim_end_matches(".0"))
    } else if bytes >= KB {
        format!("{:.0} KB", value / KB as f64)
    } else {
        format!("{bytes} bytes")
    }
}

/// What a failed document's code means for the person who uploaded it: what to do about it.
fn advice(code: &str) -> &'static str {
    match code {
        "encrypted_pdf" => {
            "The PDF is protected by a password. Save a copy without the password and upload that."
        }
        "unsupported_format" => {
            "docent reads plain text, Markdown, HTML, CSV, PDF and Word (DOCX) files. Save the document in one of those formats and upload it again."
        }
        "too_many_pages" | "too_large" => {
            "The document is larger than this installation accepts. Split it into parts and upload those, or ask the operator to raise the limit."
        }
        "empty_text" => {
            "No text could be found in it. A scanned PDF holds pictures of pages rather than text: run it through text recognition (OCR) first."
        }
        "extract_timeout" | "extract_memory" => {
            "Reading it took more time or memory than allowed, and was stopped so that it could not slow anything else down. A damaged or unusually complex file does this; try saving it again, or splitting it."
        }
        "extract_error" => {
            "The file looks damaged. Open it in the program that made it, save it again and upload the new copy."
        }
        "embed_error" | "index_error" => {
            "It was read, but making it searchable failed. Reprocess it; if that fails too, tell the operator."
        }
        _ => "Reprocess it, or upload it again; if it keeps failing, tell the operator.",
    }
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    cursor: String,
}

/// The documents page with `status` and, after a refused upload, what went wrong.
async fn list_page(
    console: &Console,
    req: &Request,
    inside: &Inside,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let query: ListQuery = super::query(req);
    let filter = DocumentFilter {
        status: DocumentStatus::parse(query.status.trim()),
        tag: Some(query.tag.trim().to_owned()).filter(|t| !t.is_empty()),
    };
    let cursor = Some(query.cursor.as_str()).filter(|c| !c.is_empty());
    let (documents, next, listing_error) = match PageRequest::new(None, cursor) {
        Ok(page) => match console
            .services
            .documents
            .list(inside.tenant(), &filter, &page)
            .await
        {
            Ok(documents) => (documents.items, documents.next_cursor, None),
            Err(error) => (Vec::new(), None, Some(failure(error.kind(), &error))),
        },
        Err(_) => (
            Vec::new(),
            None,
            Some((
                StatusCode::UNPROCESSABLE_ENTITY,
                "That page of the list is no longer there; start again from the first page."
                    .to_owned(),
            )),
        ),
    };
    let (status, error) = match (error, listing_error) {
        (Some(error), _) => (status, Some(error)),
        (None, Some((listing_status, message))) => (listing_status, Some(message)),
        (None, None) => (status, None),
    };
    let rows: Vec<DocumentRow> = documents.iter().map(DocumentRow::from).collect();
    let next = next.map(|cursor| {
        serde_urlencoded::to_string([
            ("status", query.status.as_str()),
            ("tag", query.tag.as_str()),
            ("cursor", cursor.as_str()),
        ])
        .unwrap_or_default()
    });
    let statuses: Vec<&str> = DocumentStatus::ALL.iter().map(|s| s.as_str()).collect();
    let context = minijinja::context! {
        documents => minijinja::value::Value::from(minijinja::value::Serde(&rows)),
        pending => rows.iter().any(|r| r.pending),
        statuses,
        filter_status => filter.status.map(DocumentStatus::as_str),
        filter_tag => query.tag.trim(),
        next,
        error,
        max_upload => human_size(console.services.documents.limits().max_upload_bytes),
        ..frame(console, inside, "documents").await
    };
    form_page(console, req, "documents.html", status, context)
}

/// `GET /orgs/:org/documents`: the documents, filtered by status and tag, and the upload form.
#[handler]
pub(crate) async fn document_list(
    req: &Request,
    Path(org): Path<String>,
    console: Data<&Console>,
) -> Response {
    match enter(&console, req, &org, Need::DocumentsRead).await {
        Ok(inside) => list_page(&console, req, &inside, StatusCode::OK, None).await,
        Err(refused) => refused,
    }
}

/// What became of one uploaded file.
struct Outcome {
    name: String,
    result: Result<Document, DocumentError>,
}

/// Why an upload post could not be read at all.
enum Unread {
    /// No valid CSRF token before the first file: not a post from this site's page.
    Csrf,
    /// Not a readable `multipart/form-data` body.
    Form(String),
    /// More files than one post may carry.
    TooManyFiles,
}

/// `POST /orgs/:org/documents`: stores every file of the form as a document, with the form's tags.
/// Authorized before a byte of the body is read; the CSRF token must come before the first file
/// (the page's form puts it first), so nothing is stored for a post from another site.
#[handler]
pub(crate) async fn upload(
    req: &Request,
    Path(org): Path<String>,
    body: Body,
    console: Data<&Console>,
) -> Response {
    let scripted = req.headers().contains_key(SCRIPTED_UPLOAD);
    let inside = match enter(&console, req, &org, Need::DocumentsWrite).await {
        Ok(inside) => inside,
        Err(refused) if scripted => return plain(refused.status(), "You cannot upload here."),
        Err(refused) => return refused,
    };
    let (status, message) = match read_upload(&console, req, &inside, body).await {
        Ok(outcomes) if !outcomes.is_empty() => {
            return uploaded(&console, req, &inside, scripted, outcomes).await;
        }
        Ok(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose at least one file to upload.".to_owned(),
        ),
        Err(Unread::Csrf) if scripted => (
            StatusCode::FORBIDDEN,
            "The page is too old: reload it and upload again.".to_owned(),
        ),
        Err(Unread::Csrf) => return super::forbidden(&console),
        Err(Unread::Form(reason)) => (
            StatusCode::BAD_REQUEST,
            format!("The upload could not be read: {reason}"),
        ),
        Err(Unread::TooManyFiles) => (
            StatusCode::BAD_REQUEST,
            format!("Upload at most {MAX_FILES} files at once."),
        ),
    };
    refuse_upload(&console, req, &inside, scripted, status, message).await
}

/// An upload refused as a whole: in words for the page's script, or on the documents page.
async fn refuse_upload(
    console: &Console,
    req: &Request,
    inside: &Inside,
    scripted: bool,
    status: StatusCode,
    message: String,
) -> Response {
    if scripted {
        plain(status, &message)
    } else {
        list_page(console, req, inside, status, Some(message)).await
    }
}

/// What the files of an upload became: all queued (the list again, with the news), or some
/// refused (each in words, with the first refusal's status).
async fn uploaded(
    console: &Console,
    req: &Request,
    inside: &Inside,
    scripted: bool,
    outcomes: Vec<Outcome>,
) -> Response {
    let mut queued = Vec::new();
    let mut refused = Vec::new();
    let mut status = StatusCode::OK;
    for outcome in outcomes {
        match outcome.result {
            Ok(document) => queued.push(document.title),
            Err(error) => {
                let (error_status, message) = refusal(&error);
                if status == StatusCode::OK {
                    status = error_status;
                }
                refused.push(format!("{}: {message}", outcome.name));
            }
        }
    }
    let summary = match queued.as_slice() {
        [] => String::new(),
        [title] => format!("{title} is queued for processing."),
        many => format!("{} documents are queued for processing.", many.len()),
    };
    if refused.is_empty() {
        return if scripted {
            plain(StatusCode::CREATED, &summary)
        } else {
            redirect(
                &format!("/orgs/{}/documents", inside.org_id()),
                vec![flash(console, &summary)],
            )
        };
    }
    // The script posts one file at a time: its one refusal is the answer.
    let message = if scripted {
        refused.join("; ")
    } else {
        format!("{summary} Not uploaded — {}", refused.join("; "))
            .trim()
            .to_owned()
    };
    refuse_upload(console, req, inside, scripted, status, message).await
}

/// How a refused file is explained on the page.
fn refusal(error: &DocumentError) -> (StatusCode, String) {
    match error {
        DocumentError::Duplicate(_) => (
            StatusCode::CONFLICT,
            "the organization has this file already (tick \u{201c}Upload duplicates too\u{201d} to store it again)".to_owned(),
        ),
        DocumentError::Invalid { .. }
        | DocumentError::Empty
        | DocumentError::TooLarge { .. }
        | DocumentError::Unreadable(_)
        | DocumentError::UnsupportedMediaType
        | DocumentError::NotFound
        | DocumentError::Busy
        | DocumentError::Paging(_)
        | DocumentError::Blob(_)
        | DocumentError::Index(_)
        | DocumentError::Embed(_)
        | DocumentError::Store(_) => failure(error.kind(), error),
    }
}

/// A plain-text answer for the page's script.
fn plain(status: StatusCode, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(poem::http::header::CACHE_CONTROL, "no-store")
        .body(message.to_owned())
}

/// Reads the upload form: its CSRF token first, then its files (each streamed into storage as it
/// arrives) and its tags; then commits every stored file with the tags.
async fn read_upload(
    console: &Console,
    req: &Request,
    inside: &Inside,
    body: Body,
) -> Result<Vec<Outcome>, Unread> {
    let boundary = req
        .content_type()
        .ok_or_else(|| Unread::Form("it is not a file upload form".to_owned()))
        .and_then(|ct| multer::parse_boundary(ct).map_err(|e| Unread::Form(e.to_string())))?;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .for_field("csrf", MAX_FORM_FIELD_BYTES)
            .for_field("tags", MAX_FORM_FIELD_BYTES)
            .for_field("allow_duplicate", MAX_FORM_FIELD_BYTES),
    );
    let mut form =
        multer::Multipart::with_constraints(body.into_bytes_stream(), boundary, constraints);
    let documents = &console.services.documents;
    let unreadable = |e: multer::Error| Unread::Form(e.to_string());
    let mut verified = false;
    let mut tags = Vec::new();
    let mut allow_duplicate = false;
    let mut staged: Vec<(String, Result<Staged, DocumentError>)> = Vec::new();
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        if !verified && field.name() != Some("csrf") {
            return Err(Unread::Csrf);
        }
        match field.name() {
            Some("csrf") => {
                let token = field.text().await.map_err(unreadable)?;
                verified = crate::csrf::verify(req, Some(&token));
            }
            Some("file") if staged.len() >= MAX_FILES => return Err(Unread::TooManyFiles),
            // A file input with nothing chosen sends one empty part without a name.
            Some("file") if field.file_name().is_none_or(str::is_empty) => {}
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let bytes = field.map(|piece| {
                    piece
                        .map(|bytes| bytes.to_vec())
                        .map_err(|e| docent_documents::ports::BlobError::Unavailable(e.to_string()))
                });
                let result = documents
                    .stage(inside.tenant(), Box::pin(bytes), Some(name.clone()))
                    .await;
                staged.push((name, result));
            }
            Some("tags") => tags.push(field.text().await.map_err(unreadable)?),
            Some("allow_duplicate") => {
                allow_duplicate = field.text().await.map_err(unreadable)? == "on";
            }
            Some(_) | None => {}
        }
    }
    if !verified {
        return Err(Unread::Csrf);
    }
    let tags = docent_documents::split_tags(&tags);
    let mut outcomes = Vec::with_capacity(staged.len());
    for (name, stored) in staged {
        let result = match stored {
            Ok(stored) => {
                let details = UploadDetails {
                    title: None,
                    tags: tags.clone(),
                    allow_duplicate,
                };
                documents.commit(inside.tenant(), stored, details).await
            }
            Err(error) => Err(error),
        };
        outcomes.push(Outcome { name, result });
    }
    Ok(outcomes)
}

#[derive(Debug, Serialize)]
struct ChunkRow {
    ordinal: u32,
    page: Option<u32>,
    section: Option<String>,
    tokens: u32,
    text: String,
    cited: bool,
}

#[derive(Debug, Default, Deserialize)]
struct DetailQuery {
    /// A chunk to show first and mark: the passage a citation points at.
    #[serde(default)]
    passage: Option<u32>,
    #[serde(default)]
    cursor: String,
}

/// The document's id in a path, or `None`.
fn document_id(raw: &str) -> Option<DocumentId> {
    raw.parse::<uuid::Uuid>().ok().map(DocumentId::from_uuid)
}

async fn detail_page(
    console: &Console,
    req: &Request,
    inside: &Inside,
    id: DocumentId,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let documents = &console.services.documents;
    let document = match documents.get(inside.tenant(), id).await {
        Ok(document) => document,
        Err(DocumentError::NotFound) => return not_found(console),
        Err(error) => {
            let (status, message) = failure(error.kind(), &error);
            return super::error_page(console, status, "This document is not available", &message);
        }
    };
    let query: DetailQuery = super::query(req);
    // A citation's passage opens the page that starts with it.
    let cursor = match query.passage {
        Some(0) | None => Some(query.cursor.clone()).filter(|c| !c.is_empty()),
        Some(n) => Some(Cursor::after(uuid::Uuid::from_u128(u128::from(n - 1))).encode()),
    };
    let (chunks, next) = match PageRequest::new(Some(CHUNKS_PER_PAGE), cursor.as_deref()) {
        Ok(page) => match documents.chunks(inside.tenant(), id, &page).await {
            Ok(chunks) => (chunks.items, chunks.next_cursor),
            Err(error) => {
                tracing::warn!(%error, "the console could not list a document's chunks");
                (Vec::new(), None)
            }
        },
        Err(_) => (Vec::new(), None),
    };
    let chunks: Vec<ChunkRow> = chunks
        .into_iter()
        .map(|c| ChunkRow {
            cited: query.passage == Some(c.ordinal),
            ordinal: c.ordinal,
            page: c.page,
            section: c.section,
            tokens: c.token_count,
            text: c.text,
        })
        .collect();
    let row = DocumentRow::from(&document);
    let context = minijinja::context! {
        document => minijinja::value::Value::from(minijinja::value::Serde(&row)),
        failure_code => document.failure.as_ref().map(|f| f.code.as_str()),
        advice => document.failure.as_ref().map(|f| advice(&f.code)),
        can_reprocess => !row.pending,
        chunks => minijinja::value::Value::from(minijinja::value::Serde(&chunks)),
        next,
        first_page => cursor.is_some(),
        error,
        ..frame(console, inside, "documents").await
    };
    form_page(console, req, "document.html", status, context)
}

/// `GET /orgs/:org/documents/:document`: a document, why it failed if it did, and its chunks.
#[handler]
pub(crate) async fn document_page(
    req: &Request,
    Path((org, doc)): Path<(String, String)>,
    console: Data<&Console>,
) -> Response {
    let inside = match enter(&console, req, &org, Need::DocumentsRead).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    match document_id(&doc) {
        Some(id) => detail_page(&console, req, &inside, id, StatusCode::OK, None).await,
        None => not_found(&console),
    }
}

#[derive(Debug, Deserialize)]
struct DocumentForm {
    csrf: Option<String>,
    /// `reprocess` or `delete`.
    #[serde(default)]
    action: String,
}

impl Posted for DocumentForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// `POST /orgs/:org/documents/:document`: reprocesses or deletes the document.
#[handler]
pub(crate) async fn update_document(
    req: &Request,
    Path((org, doc)): Path<(String, String)>,
    body: Body,
    console: Data<&Console>,
) -> Response {
    let posted = match posted::<DocumentForm>(&console, req, body).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    let inside = match enter(&console, req, &org, Need::DocumentsWrite).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let Some(id) = document_id(&doc) else {
        return not_found(&console);
    };
    let documents = &console.services.documents;
    let list = format!("/orgs/{}/documents", inside.org_id());
    let outcome = match posted.action.as_str() {
        "reprocess" => documents.reprocess(inside.tenant(), id).await.map(|d| {
            (
                format!("{list}/{id}"),
                format!("{} is queued for processing again.", d.title),
            )
        }),
        "delete" => match documents.get(inside.tenant(), id).await {
            Ok(d) => documents
                .delete(inside.tenant(), id)
                .await
                .map(|()| (list.clone(), format!("{} is deleted.", d.title))),
            Err(error) => Err(error),
        },
        _ => return super::forbidden(&console),
    };
    match outcome {
        Ok((to, done)) => redirect(&to, vec![flash(&console, &done)]),
        Err(DocumentError::NotFound) => not_found(&console),
        Err(error) => {
            let (status, message) = failure(error.kind(), &error);
            detail_page(&console, req, &inside, id, status, Some(message)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_file_manager() {
        assert_eq!(human_size(80), "80 bytes");
        assert_eq!(human_size(312 * 1024 + 100), "312 KB");
        assert_eq!(human_size(1_468_006), "1.4 MB");
        assert_eq!(human_size(50 * 1024 * 1024), "50 MB");
    }

    #[test]
    fn every_failure_code_has_its_own_advice() {
        let fallback = advice("no_such_code");
        for code in [
            "encrypted_pdf",
            "unsupported_format",
            "too_many_pages",
            "too_large",
            "empty_text",
            "extract_timeout",
            "extract_memory",
            "extract_error",
            "embed_error",
            "index_error",
        ] {
            assert_ne!(advice(code), fallback, "{code}");
        }
    }
}
