//! What the provider service needs from outside: storage, sealing of API keys under the master
//! key, and the check that keeps base URLs away from internal addresses.

use async_trait::async_trait;
use docent_kernel::{OrgId, PageRequest, ProviderId, SecretString, StoreError};

use crate::model::{Provider, SealedKey};

/// Why a key could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key was sealed under a master key this process does not have.
    #[error("the API key is sealed under master key {0}, which is not configured")]
    UnknownKey(String),
    /// The ciphertext does not open with its key and binding (tampered, or copied elsewhere).
    #[error("the sealed API key does not open")]
    Corrupt,
}

/// Seals and opens API keys under the master key (AES-256-GCM in infrastructure).
pub trait SecretBox: Send + Sync + std::fmt::Debug {
    /// The id of the master key new seals use.
    fn current_key_id(&self) -> &str;

    /// Seals `secret`, binding it to `aad`.
    fn seal(&self, secret: &SecretString, aad: &[u8]) -> Result<SealedKey, SealError>;

    /// Opens a sealed key bound to `aad`, with whichever configured master key sealed it.
    fn open(&self, sealed: &SealedKey, aad: &[u8]) -> Result<SecretString, SealError>;
}

/// Decides whether a base URL may be called.
#[async_trait]
pub trait BaseUrlGuard: Send + Sync + std::fmt::Debug {
    /// `Err(reason)` when the URL points (or resolves) somewhere docent must not call.
    async fn check(&self, url: &str) -> Result<(), String>;
}

/// Provider connections.
#[async_trait]
pub trait ProviderRepo: Send + Sync + std::fmt::Debug {
    /// Stores a new connection with its sealed key.
    async fn insert(&self, provider: &Provider, key: Option<&SealedKey>) -> Result<(), StoreError>;

    /// A connection of `org`.
    async fn get(&self, org: OrgId, id: ProviderId) -> Result<Option<Provider>, StoreError>;

    /// A page of `org`'s connections in id order.
    async fn list(&self, org: OrgId, page: &PageRequest) -> Result<Vec<Provider>, StoreError>;

    /// Stores changed settings; `key` replaces the sealed key when given (`Some(None)` removes
    /// it). `false` when the connection does not exist.
    async fn update(
        &self,
        provider: &Provider,
        key: Option<Option<&SealedKey>>,
    ) -> Result<bool, StoreError>;

    /// Deletes a connection: `false` when it does not exist.
    async fn delete(&self, org: OrgId, id: ProviderId) -> Result<bool, StoreError>;

    /// The sealed key of a connection.
    async fn sealed_key(&self, org: OrgId, id: ProviderId)
    -> Result<Option<SealedKey>, StoreError>;

    /// Up to `limit` sealed keys of every organization with ids above `after`, in id order (for
    /// re-sealing under a new master key).
    async fn sealed_keys(
        &self,
        after: Option<ProviderId>,
        limit: u64,
    ) -> Result<Vec<(OrgId, ProviderId, SealedKey)>, StoreError>;

    /// Replaces a sealed key, if it is still `expected` (so a concurrent change is not lost).
    async fn replace_sealed_key(
        &self,
        org: OrgId,
        id: ProviderId,
        expected: &SealedKey,
        key: &SealedKey,
    ) -> Result<bool, StoreError>;
}
