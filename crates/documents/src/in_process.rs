//! Extraction and chunking in the caller's process, without a sandbox: for tests of the pipeline
//! around the [`Extractor`] port (feature `fixtures`). Production always runs the sandbox.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt as _;

use crate::chunk::{Chunk, Chunker, extract_and_chunk};
use crate::extract::MediaType;
use crate::ports::{ByteStream, ChunkSource, ExtractFailure, ExtractRequest, Extractor};

/// Extracts on a blocking thread of the caller's runtime.
#[derive(Debug, Clone)]
pub struct InProcessExtractor {
    chunker: Arc<Chunker>,
}

impl InProcessExtractor {
    /// An extractor chunking with `chunker`.
    #[must_use]
    pub fn new(chunker: Arc<Chunker>) -> Self {
        Self { chunker }
    }
}

/// Chunks already made.
struct Made {
    media_type: MediaType,
    total: u32,
    chunks: std::vec::IntoIter<Chunk>,
}

#[async_trait]
impl ChunkSource for Made {
    fn media_type(&self) -> MediaType {
        self.media_type
    }

    fn total(&self) -> u32 {
        self.total
    }

    async fn next_batch(&mut self, max: usize) -> Result<Vec<Chunk>, ExtractFailure> {
        Ok(self.chunks.by_ref().take(max.max(1)).collect())
    }
}

#[async_trait]
impl Extractor for InProcessExtractor {
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
        let (media_type, chunks) = tokio::task::spawn_blocking(move || {
            extract_and_chunk(
                &all,
                request.file_name.as_deref(),
                request.title.as_deref(),
                &request.limits,
                &chunker,
            )
        })
        .await
        .map_err(|e| ExtractFailure::Unavailable(e.to_string()))??;
        Ok(Box::new(Made {
            media_type,
            total: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
            chunks: chunks.into_iter(),
        }))
    }
}
