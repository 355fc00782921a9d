//! An FAQ service that embeds docent's domain crates — `docent-documents` for upload, extraction,
//! chunking, ingestion and retrieval, `docent-chat` for the chatbot and its cited answers,
//! `docent-providers` for the built-in extractive answerer — with adapters of its own: everything
//! in memory, a hashing embedder, a brute-force index, no remote model. None of docent's
//! infrastructure (SQL, Qdrant, ONNX, HTTP) is linked in.
//!
//! - [`store`] is the repositories and the audit log, with the job outbox.
//! - [`search`] is the embedder and the vector index.
//! - [`adapters`] is the blob store, the extractor and the offline and unmetered ports.

pub mod adapters;
pub mod search;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use docent_chat::{ChatError, ChatPorts, ChatService, ChatbotInput, Citation, CitationStyle};
use docent_documents::chunk::Chunker;
use docent_documents::jobs::{ClaimedJob, JobFailure, JobHandler as _};
use docent_documents::pipeline::{IngestPorts, Ingestor, PipelineSettings};
use docent_documents::{
    DocumentError, DocumentPorts, DocumentService, DocumentStatus, Upload, UploadLimits,
};
use docent_kernel::{
    Actor, ChatbotId, Clock, DocumentId, ErrorKind, OrgId, SystemClock, TenantCtx, UserId,
};
use docent_providers::{NewProvider, ProviderError, ProviderKind, ProviderPorts, ProviderService};

use crate::adapters::{LocalExtractor, MemoryBlobs, Offline, Unmetered};
use crate::search::{HashingEmbedder, MemoryIndex};
use crate::store::MemoryStore;

/// The default model's tokenizer, relative to docent's models directory (what
/// `scripts/fetch-models` unpacks; docent measures chunks with the same file).
pub const TOKENIZER_FILE: &str = "all-minilm-l6-v2/tokenizer.json";
/// The size of the hashing embedder's vectors.
pub const DIMENSIONS: usize = 256;
/// The most tokens of a chunk, and how many it shares with the one before: docent's defaults.
const CHUNK_TOKENS: usize = 250;
const CHUNK_OVERLAP: usize = 40;
/// The cosine a passage needs to count as relevant. Lower than docent's default (0.3), which is
/// tuned for a semantic model: two texts sharing a few words score lower under word hashing.
pub const MIN_SCORE: f32 = 0.2;
/// Passages an answer draws on, at most.
const TOP_K: u32 = 3;
/// What the FAQ says when no document answers the question.
pub const FALLBACK_ANSWER: &str = "Sorry, the FAQ does not cover that. Please contact us.";

/// Where docent's models directory puts the default tokenizer: `$DOCENT_MODELS__DIR` (docent's
/// `models.dir` setting), `$DOCENT_MODELS_DIR` (the scripts'), else `~/.cache/docent/models`.
/// This is the service's configuration, so the one place it reads the environment.
#[must_use]
pub fn default_tokenizer_path() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCENT_MODELS__DIR")
        .or_else(|| std::env::var_os("DOCENT_MODELS_DIR"))
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/docent/models"))
        })?;
    Some(dir.join(TOKENIZER_FILE))
}

/// Why an FAQ operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FaqError {
    /// The tokenizer file could not be read or parsed.
    #[error("the tokenizer {path} could not be loaded: {reason}")]
    Tokenizer {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The document was stored but could not be made searchable; it stays `failed`.
    #[error("document {document} could not be ingested: {reason}")]
    Ingest {
        /// The document.
        document: DocumentId,
        /// Why (the failure recorded on it).
        reason: String,
    },
    /// The document service refused (a duplicate, an empty or unsupported file, …).
    #[error(transparent)]
    Documents(#[from] DocumentError),
    /// The provider connection could not be made.
    #[error(transparent)]
    Providers(#[from] ProviderError),
    /// The chatbot could not be made or could not answer.
    #[error(transparent)]
    Chat(#[from] ChatError),
}

impl FaqError {
    /// The kind of this failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Tokenizer { .. } => ErrorKind::Internal,
            // The adapters are in memory and never down: only the document can make it fail.
            Self::Ingest { .. } => ErrorKind::InvalidInput,
            Self::Documents(e) => e.kind(),
            Self::Providers(e) => e.kind(),
            Self::Chat(e) => e.kind(),
        }
    }
}

/// An answer and the passages it quotes.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The text, with `[n]` markers pointing at the citations.
    pub text: String,
    /// The passages the markers refer to (none for the fallback answer).
    pub citations: Vec<Citation>,
}

/// A question-answering service over the documents it is given, all in memory.
#[derive(Debug)]
pub struct Faq {
    tenant: TenantCtx,
    store: Arc<MemoryStore>,
    documents: Arc<DocumentService>,
    ingestor: Ingestor,
    chat: ChatService,
    chatbot: ChatbotId,
}

impl Faq {
    /// An empty FAQ chunking with the tokenizer at `tokenizer_path` (a Hugging Face
    /// `tokenizer.json`; see [`default_tokenizer_path`]).
    pub async fn new(tokenizer_path: &Path) -> Result<Self, FaqError> {
        let tokenizer_error = |reason: String| FaqError::Tokenizer {
            path: tokenizer_path.display().to_string(),
            reason,
        };
        let tokenizer =
            std::fs::read(tokenizer_path).map_err(|e| tokenizer_error(e.to_string()))?;
        let chunker =
            Chunker::new(&tokenizer, CHUNK_TOKENS, CHUNK_OVERLAP).map_err(tokenizer_error)?;

        let store = Arc::new(MemoryStore::default());
        let blobs = Arc::new(MemoryBlobs::default());
        let embedder = Arc::new(HashingEmbedder::new(DIMENSIONS));
        let index = Arc::new(MemoryIndex::new(DIMENSIONS));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let documents = Arc::new(DocumentService::new(
            DocumentPorts {
                repo: store.clone(),
                blobs: blobs.clone(),
                index: index.clone(),
                embedder: embedder.clone(),
                previous: None,
                audit: store.clone(),
                clock: clock.clone(),
            },
            UploadLimits::default(),
        ));
        let ingestor = Ingestor::new(
            IngestPorts {
                repo: store.clone(),
                blobs,
                index,
                embedder,
                previous: None,
                extractor: Arc::new(LocalExtractor::new(chunker)),
                usage: Arc::new(Unmetered),
                clock: clock.clone(),
            },
            PipelineSettings::default(),
        );
        let providers = Arc::new(ProviderService::new(ProviderPorts {
            repo: store.clone(),
            secrets: Arc::new(Offline),
            guard: Arc::new(Offline),
            models: Arc::new(Offline),
            audit: store.clone(),
            clock: clock.clone(),
        }));
        let chat = ChatService::new(ChatPorts {
            chatbots: store.clone(),
            conversations: store.clone(),
            documents: documents.clone(),
            providers: providers.clone(),
            models: Arc::new(Offline),
            gate: Arc::new(Unmetered),
            audit: store.clone(),
            clock,
        });

        // In docent only the tenancy and keys services may build a tenant context, after checking
        // the caller's membership or key. This service is a single tenant of its own and
        // authorizes its callers itself (it has one: its own code), so it acts as one user of one
        // organization.
        let tenant = TenantCtx::new(OrgId::generate(), Actor::User(UserId::generate()));
        let provider = providers
            .create(
                &tenant,
                NewProvider {
                    name: "Built-in extractive answerer".to_owned(),
                    kind: ProviderKind::Extractive,
                    base_url: None,
                    api_key: None,
                    default_model: None,
                    api_version: None,
                    timeout_secs: None,
                },
            )
            .await?;
        let chatbot = chat
            .create_chatbot(
                &tenant,
                ChatbotInput {
                    name: Some("FAQ".to_owned()),
                    provider_id: Some(provider.id),
                    top_k: Some(TOP_K),
                    min_score: Some(MIN_SCORE),
                    fallback_answer: Some(FALLBACK_ANSWER.to_owned()),
                    citation_style: Some(CitationStyle::Inline),
                    ..ChatbotInput::default()
                },
            )
            .await?;
        Ok(Self {
            tenant,
            store,
            documents,
            ingestor,
            chat,
            chatbot: chatbot.id,
        })
    }

    /// Adds a document and makes it searchable before returning. `file_name` only tells text
    /// flavours apart (`.md` is Markdown, whose headings become the citations' sections); the
    /// format itself is decided from the bytes. The same bytes twice are refused
    /// ([`DocumentError::Duplicate`]).
    pub async fn add_document(
        &self,
        title: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<DocumentId, FaqError> {
        let upload = Upload {
            bytes,
            file_name: Some(file_name.to_owned()),
            title: Some(title.to_owned()),
            tags: Vec::new(),
            allow_duplicate: false,
        };
        let document = self.documents.upload(&self.tenant, upload).await?;
        self.run_jobs(document.id).await?;
        let document = self.documents.get(&self.tenant, document.id).await?;
        match document.status {
            DocumentStatus::Ready => Ok(document.id),
            DocumentStatus::Queued | DocumentStatus::Processing | DocumentStatus::Failed => {
                Err(FaqError::Ingest {
                    document: document.id,
                    reason: document.failure.map_or_else(
                        || format!("left {}", document.status.as_str()),
                        |f| format!("{}: {}", f.code, f.message),
                    ),
                })
            }
        }
    }

    /// Removes a document: it is no longer searchable, and its vectors and bytes are gone.
    pub async fn remove_document(&self, document: DocumentId) -> Result<(), FaqError> {
        self.documents.delete(&self.tenant, document).await?;
        self.run_jobs(document).await
    }

    /// Runs the jobs the document service wrote for `document` (its ingestion, or its purge)
    /// right away, through the same pipeline docent's worker runs them with. There is no queue
    /// and no retry: with every adapter in memory nothing is ever briefly down, so a job runs
    /// once and a failure is final.
    async fn run_jobs(&self, document: DocumentId) -> Result<(), FaqError> {
        let stop = AtomicBool::new(false);
        for job in self.store.take_jobs(self.tenant.org_id(), document) {
            let claimed = ClaimedJob {
                id: job.id,
                org_id: job.org_id,
                document_id: job.document_id,
                kind: job.kind,
                attempt: 1,
                lease_token: uuid::Uuid::now_v7(),
            };
            let reason = match self.ingestor.run(&claimed, &stop).await {
                Ok(()) => continue,
                // The pipeline has recorded an ingestion's permanent failure on the document.
                Err(JobFailure::Permanent(reason)) => reason,
                Err(failure @ (JobFailure::Transient(_) | JobFailure::Interrupted)) => {
                    // Without retries this was the last attempt, and is recorded as such.
                    let reason = failure.to_string();
                    self.ingestor.exhausted(&claimed, &reason).await;
                    reason
                }
            };
            return Err(FaqError::Ingest { document, reason });
        }
        Ok(())
    }

    /// Answers `question` from the documents, quoting them with citations, or with
    /// [`FALLBACK_ANSWER`] when none is relevant. Each question is a conversation of its own.
    pub async fn ask(&self, question: &str) -> Result<Answer, FaqError> {
        let (conversation, _) = self
            .chat
            .start_conversation(&self.tenant, self.chatbot, None)
            .await?;
        let message = self
            .chat
            .ask(
                &self.tenant,
                self.chatbot,
                conversation.id,
                question.to_owned(),
            )
            .await?
            .collect()
            .await?;
        Ok(Answer {
            text: message.content,
            citations: message.citations,
        })
    }
}
