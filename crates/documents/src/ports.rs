//! What the documents pipeline needs from outside. The embedder is the first port to land; the blob
//! store, the vector index and the document repository follow with the rest of the pipeline.

use async_trait::async_trait;

/// Why texts could not be embedded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    /// Retrying later may help (overload, a provider's 429 or 5xx, a timeout).
    #[error("embedding temporarily failed: {0}")]
    Transient(String),
    /// Retrying will not help (a bad model, bad input).
    #[error("embedding failed: {0}")]
    Permanent(String),
}

/// Turns texts into vectors of one model.
#[async_trait]
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// The model's identifier, stored with every document embedded by it.
    fn model_id(&self) -> &str;

    /// The length of every vector.
    fn dimensions(&self) -> usize;

    /// One L2-normalized vector per text, in order.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Why a blob operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// There is no blob for this document.
    #[error("blob not found")]
    NotFound,
    /// The store failed; retrying later may help.
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

/// Stores the original bytes of documents. Keys are derived from the organization and document
/// ids only, never from a file name, so no upload can choose where its bytes go.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Stores (or replaces) the bytes of a document.
    async fn put(
        &self,
        org: docent_kernel::OrgId,
        document: docent_kernel::DocumentId,
        bytes: Vec<u8>,
    ) -> Result<(), BlobError>;

    /// The bytes of a document; `NotFound` when there are none.
    async fn get(
        &self,
        org: docent_kernel::OrgId,
        document: docent_kernel::DocumentId,
    ) -> Result<Vec<u8>, BlobError>;

    /// Removes the bytes of a document; removing what is not there succeeds.
    async fn delete(
        &self,
        org: docent_kernel::OrgId,
        document: docent_kernel::DocumentId,
    ) -> Result<(), BlobError>;
}
