//! What the key service needs from storage.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_kernel::{ApiKeyId, ChatbotId, OrgId, PageRequest, StoreError, TokenHash};

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

/// The outcome of a per-key rate-limit check, also sent as `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Requests allowed per minute.
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Time until the allowance is full again.
    pub reset: Duration,
    /// When refused: how long to wait before the next request can succeed.
    pub retry_after: Option<Duration>,
}

/// Per-key request rate limiting (GCRA).
#[async_trait]
pub trait KeyRateLimiter: Send + Sync + std::fmt::Debug {
    /// Counts one request of `key` against `per_minute` and says whether it may proceed.
    async fn check(&self, key: ApiKeyId, per_minute: u32) -> RateDecision;
}

/// The usage ledger: one row per organization, UTC day, chatbot and key, with sums.
#[async_trait]
pub trait UsageLedger: Send + Sync + std::fmt::Debug {
    /// Adds `delta` to its day's row (creating it), atomically with concurrent additions.
    async fn add(&self, delta: &crate::usage::UsageDelta) -> Result<(), StoreError>;

    /// The sums for `org` (and, when given, one key) over `range`.
    async fn totals(
        &self,
        org: OrgId,
        key: Option<ApiKeyId>,
        range: &crate::usage::DayRange,
    ) -> Result<crate::usage::UsageTotals, StoreError>;

    /// The sums for `org` (only what `filter` names) over `range`, grouped; rows ordered by group.
    async fn report(
        &self,
        org: OrgId,
        filter: &crate::usage::UsageFilter,
        range: &crate::usage::DayRange,
        group: crate::usage::UsageGroup,
    ) -> Result<Vec<crate::usage::UsageRow>, StoreError>;
}

/// Which chatbots exist, to check a key's allow-list (`keys` does not depend on `chat`).
#[async_trait]
pub trait ChatbotDirectory: Send + Sync + std::fmt::Debug {
    /// Those of `ids` that are chatbots of `org`.
    async fn existing(&self, org: OrgId, ids: &[ChatbotId]) -> Result<Vec<ChatbotId>, StoreError>;
}
