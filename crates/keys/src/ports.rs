//! What the key service needs from storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_kernel::{ApiKeyId, OrgId, PageRequest, StoreError, TokenHash};

use crate::model::ApiKey;

/// Stores API keys by the hash of their secret.
#[async_trait]
pub trait ApiKeyRepo: Send + Sync + std::fmt::Debug {
    /// Stores a new key.
    async fn insert(&self, key: &ApiKey, hash: &TokenHash) -> Result<(), StoreError>;

    /// The keys of `org`, by id, fetching `page.fetch_limit()` rows.
    async fn list(&self, org: OrgId, page: &PageRequest) -> Result<Vec<ApiKey>, StoreError>;

    /// One key of `org`.
    async fn get(&self, org: OrgId, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError>;

    /// Revokes a key of `org`; `false` when there is no such unrevoked key.
    async fn revoke(
        &self,
        org: OrgId,
        id: ApiKeyId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The key with this hash, only if its organization still exists and its creator is neither
    /// disabled nor gone from the organization. Revocation and expiry are the caller's to check.
    async fn find_usable(&self, hash: &TokenHash) -> Result<Option<ApiKey>, StoreError>;

    /// Records that the key was used at `now`.
    async fn touch(&self, id: ApiKeyId, now: DateTime<Utc>) -> Result<(), StoreError>;
}
