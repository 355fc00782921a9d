//! The service's other adapters: blobs in memory, extraction on a blocking thread, no remote
//! models (so no API keys and no base URLs), and no quotas.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_chat::{ChatError, TokenUsage, UsageGate, UsageHold};
use docent_documents::chunk::{Chunk, Chunker, extract_and_chunk};
use docent_documents::extract::{ExtractError, MediaType};
use docent_documents::pipeline::EmbeddingUsage;
use docent_documents::ports::{
    BlobError, BlobStore, ByteStream, ChunkSource, ExtractFailure, ExtractRequest, Extractor,
};
use docent_kernel::{ChatbotId, DocumentId, OrgId, SecretString, TenantCtx};
use docent_providers::chat::ChatModel;
use docent_providers::{
    BaseUrlGuard, ChatError as ModelError, ChatModels, Provider, SealError, SealedKey, SecretBox,
};
use futures_util::StreamExt as _;

/// The size of the pieces a blob is streamed in.
const PIECE: usize = 64 * 1024;

/// Documents' original bytes, in memory.
#[derive(Debug, Default)]
pub struct MemoryBlobs {
    blobs: Mutex<HashMap<(OrgId, DocumentId), Vec<u8>>>,
}

impl MemoryBlobs {
    fn blobs(&self) -> std::sync::MutexGuard<'_, HashMap<(OrgId, DocumentId), Vec<u8>>> {
        self.blobs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl BlobStore for MemoryBlobs {
    async fn put(&self, org: OrgId, document: DocumentId, bytes: Vec<u8>) -> Result<(), BlobError> {
        self.blobs().insert((org, document), bytes);
        Ok(())
    }

    async fn get(&self, org: OrgId, document: DocumentId) -> Result<Vec<u8>, BlobError> {
        self.blobs()
            .get(&(org, document))
            .cloned()
            .ok_or(BlobError::NotFound)
    }

    async fn stream(&self, org: OrgId, document: DocumentId) -> Result<ByteStream, BlobError> {
        let bytes = self.get(org, document).await?;
        let pieces: Vec<Result<Vec<u8>, BlobError>> = bytes
            .chunks(PIECE)
            .map(|piece| Ok(piece.to_vec()))
            .collect();
        Ok(Box::pin(futures_util::stream::iter(pieces)))
    }

    async fn put_stream(
        &self,
        org: OrgId,
        document: DocumentId,
        mut bytes: ByteStream,
    ) -> Result<(), BlobError> {
        // Memory is the store here, so "bounded memory" is the caller's upload limit; what matters
        // is that a stream that fails stores nothing.
        let mut all = Vec::new();
        while let Some(piece) = bytes.next().await {
            all.extend(piece?);
        }
        self.blobs().insert((org, document), all);
        Ok(())
    }

    async fn delete_org(&self, org: OrgId) -> Result<(), BlobError> {
        self.blobs().retain(|(o, _), _| *o != org);
        Ok(())
    }

    async fn count_org(&self, org: OrgId) -> Result<u64, BlobError> {
        let count = self.blobs().keys().filter(|(o, _)| *o == org).count();
        Ok(u64::try_from(count).unwrap_or(u64::MAX))
    }

    async fn delete(&self, org: OrgId, document: DocumentId) -> Result<(), BlobError> {
        self.blobs().remove(&(org, document));
        Ok(())
    }
}

/// Extracts and chunks in this process, on a blocking thread. docent runs a sandboxed child
/// process instead, because anyone in an organization may upload a hostile file; this service
/// only ingests documents its own code hands it, so docent's extraction limits and a caught panic
/// are enough.
#[derive(Debug, Clone)]
pub struct LocalExtractor {
    chunker: Arc<Chunker>,
}

impl LocalExtractor {
    /// An extractor cutting documents with `chunker`.
    #[must_use]
    pub fn new(chunker: Chunker) -> Self {
        Self {
            chunker: Arc::new(chunker),
        }
    }
}

/// A document's chunks, all made already.
struct Chunked {
    media_type: MediaType,
    total: u32,
    rest: std::vec::IntoIter<Chunk>,
}

#[async_trait]
impl ChunkSource for Chunked {
    fn media_type(&self) -> MediaType {
        self.media_type
    }

    fn total(&self) -> u32 {
        self.total
    }

    async fn next_batch(&mut self, max: usize) -> Result<Vec<Chunk>, ExtractFailure> {
        Ok(self.rest.by_ref().take(max.max(1)).collect())
    }
}

#[async_trait]
impl Extractor for LocalExtractor {
    async fn start(
        &self,
        mut bytes: ByteStream,
        request: ExtractRequest,
    ) -> Result<Box<dyn ChunkSource>, ExtractFailure> {
        let mut all = Vec::new();
        while let Some(piece) = bytes.next().await {
            all.extend(piece.map_err(|e| ExtractFailure::Unavailable(e.to_string()))?);
        }
        let chunker = self.chunker.clone();
        let made = tokio::task::spawn_blocking(move || {
            extract_and_chunk(
                &all,
                request.file_name.as_deref(),
                request.title.as_deref(),
                &request.limits,
                &chunker,
            )
        })
        .await;
        let (media_type, chunks) = match made {
            Ok(result) => result?,
            // A parser that panics on this file fails on it every time: the document's fault.
            Err(error) if error.is_panic() => {
                return Err(ExtractError::Damaged("the parser failed on this file".into()).into());
            }
            Err(error) => return Err(ExtractFailure::Unavailable(error.to_string())),
        };
        Ok(Box::new(Chunked {
            media_type,
            total: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
            rest: chunks.into_iter(),
        }))
    }
}

/// The service calls no remote model: it answers with the built-in extractive provider only. So
/// it keeps no API keys, allows no base URL, and opens no model client.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offline;

impl SecretBox for Offline {
    fn current_key_id(&self) -> &str {
        "none"
    }

    fn seal(&self, _secret: &SecretString, _aad: &[u8]) -> Result<SealedKey, SealError> {
        Err(SealError::UnknownKey("none".to_owned()))
    }

    fn open(&self, sealed: &SealedKey, _aad: &[u8]) -> Result<SecretString, SealError> {
        Err(SealError::UnknownKey(sealed.key_id.clone()))
    }
}

#[async_trait]
impl BaseUrlGuard for Offline {
    async fn check(&self, _url: &str) -> Result<(), String> {
        Err("this service calls no remote model".to_owned())
    }
}

impl ChatModels for Offline {
    fn connect(
        &self,
        provider: &Provider,
        _api_key: Option<SecretString>,
    ) -> Result<Arc<dyn ChatModel>, ModelError> {
        Err(ModelError::Permanent(format!(
            "this service calls no remote model ({} is not available)",
            provider.kind.as_str()
        )))
    }
}

/// No quotas and no usage ledger: the service's one caller is itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unmetered;

#[async_trait]
impl UsageHold for Unmetered {
    async fn settle(self: Box<Self>, _used: TokenUsage) {}
}

#[async_trait]
impl UsageGate for Unmetered {
    async fn reserve(
        &self,
        _tenant: &TenantCtx,
        _chatbot: ChatbotId,
        _estimated_tokens: u64,
    ) -> Result<Box<dyn UsageHold>, ChatError> {
        Ok(Box::new(Self))
    }
}

#[async_trait]
impl EmbeddingUsage for Unmetered {
    async fn embedded(&self, _org: OrgId, _tokens: u64, _at: DateTime<Utc>) {}
}
