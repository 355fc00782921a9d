//! Adapters that only connect domain crates to each other: the chat service's quota port over the
//! key service (a message reserves against the monthly quotas of the organization and, when a key
//! asks, of that key, and settles with the usage the provider reported), and the pipeline's
//! embedding-usage port over the usage ledger.

use std::sync::Arc;

use async_trait::async_trait;
use docent_chat::{ChatError, TokenUsage, UsageGate, UsageHold};
use docent_documents::pipeline::EmbeddingUsage;
use docent_kernel::{Actor, ChatbotId, OrgId, StoreError, TenantCtx};
use docent_keys::{KeyError, KeyService, ReportedUsage, Reservation, UsageDelta, UsageLedger};

use crate::metrics::Metrics;

/// Quotas kept by the key service.
#[derive(Debug, Clone)]
pub struct KeyUsageGate {
    keys: Arc<KeyService>,
    metrics: Arc<Metrics>,
}

impl KeyUsageGate {
    /// A gate over `keys`, counting rejections and tokens in `metrics`.
    #[must_use]
    pub fn new(keys: Arc<KeyService>, metrics: Arc<Metrics>) -> Self {
        Self { keys, metrics }
    }
}

fn chat_error(error: KeyError) -> ChatError {
    match error {
        KeyError::QuotaExceeded { resets_in_secs, .. } => ChatError::QuotaExceeded {
            message: error.to_string(),
            resets_in_secs,
        },
        // The key was revoked or deleted between authentication and now.
        KeyError::NotFound | KeyError::InvalidKey => ChatError::AccessRevoked,
        KeyError::Store(store) => ChatError::Store(store),
        other @ (KeyError::Invalid { .. }
        | KeyError::UnknownScope(_)
        | KeyError::InsufficientScope(_)
        | KeyError::CreatorLacks(_)
        | KeyError::RateLimited(_)
        | KeyError::ChatbotNotFound(_)
        | KeyError::InvalidRange(_)
        | KeyError::Paging(_)
        | KeyError::PublishableOnly
        | KeyError::OriginRefused) => ChatError::Store(StoreError::Unavailable(other.to_string())),
    }
}

#[async_trait]
impl UsageGate for KeyUsageGate {
    async fn reserve(
        &self,
        tenant: &TenantCtx,
        chatbot: ChatbotId,
        estimated_tokens: u64,
    ) -> Result<Box<dyn UsageHold>, ChatError> {
        let key = match tenant.actor() {
            Actor::ApiKey(id) => Some(self.keys.get(tenant, id).await.map_err(chat_error)?),
            Actor::User(_) => None,
        };
        let reservation = match self
            .keys
            .reserve(tenant, key.as_ref(), Some(chatbot), estimated_tokens)
            .await
        {
            Ok(reservation) => reservation,
            Err(error) => {
                if let KeyError::QuotaExceeded { holder, what, .. } = &error {
                    self.metrics.quota_rejected(holder, what);
                }
                return Err(chat_error(error));
            }
        };
        Ok(Box::new(Held {
            keys: self.keys.clone(),
            metrics: self.metrics.clone(),
            reservation,
        }))
    }
}

/// A reservation of the key service.
#[derive(Debug)]
struct Held {
    keys: Arc<KeyService>,
    metrics: Arc<Metrics>,
    reservation: Reservation,
}

#[async_trait]
impl UsageHold for Held {
    async fn settle(self: Box<Self>, used: TokenUsage) {
        let Self {
            keys,
            metrics,
            reservation,
        } = *self;
        metrics.tokens("prompt", used.prompt_tokens);
        metrics.tokens("completion", used.completion_tokens);
        let reported = ReportedUsage {
            prompt_tokens: used.prompt_tokens,
            completion_tokens: used.completion_tokens,
        };
        if let Err(error) = keys.settle(reservation, reported).await {
            tracing::warn!(%error, "could not record chat usage");
        }
    }
}

/// Records embedded tokens in the usage ledger (and the metrics).
#[derive(Debug)]
pub struct LedgerUsage {
    ledger: Arc<dyn UsageLedger>,
    metrics: Arc<Metrics>,
}

impl LedgerUsage {
    /// Records into `ledger` and `metrics`.
    #[must_use]
    pub fn new(ledger: Arc<dyn UsageLedger>, metrics: Arc<Metrics>) -> Self {
        Self { ledger, metrics }
    }
}

#[async_trait]
impl EmbeddingUsage for LedgerUsage {
    async fn embedded(&self, org: OrgId, tokens: u64, at: chrono::DateTime<chrono::Utc>) {
        self.metrics.tokens("embedded", tokens);
        let delta = UsageDelta {
            org_id: org,
            day: at.date_naive(),
            chatbot_id: None,
            api_key_id: None,
            requests: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            embedded_tokens: tokens,
        };
        if let Err(error) = self.ledger.add(&delta).await {
            tracing::warn!(%error, "could not record embedding usage");
        }
    }
}
