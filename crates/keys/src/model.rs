//! The API-key domain's types.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use docent_kernel::{Actor, ApiKeyId, ChatbotId, OrgId, SecretString, TenantCtx, UserId};

/// A permission an API key can carry. Keys never manage keys, members or the organization itself:
/// there is no scope for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read documents and search.
    DocumentsRead,
    /// Upload, change and delete documents.
    DocumentsWrite,
    /// Read chatbots.
    ChatbotsRead,
    /// Create, change and delete chatbots.
    ChatbotsWrite,
    /// Talk to chatbots.
    Chat,
    /// Read provider connections.
    ProvidersRead,
    /// Change provider connections.
    ProvidersWrite,
    /// Read usage.
    UsageRead,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Self; 8] = [
        Self::DocumentsRead,
        Self::DocumentsWrite,
        Self::ChatbotsRead,
        Self::ChatbotsWrite,
        Self::Chat,
        Self::ProvidersRead,
        Self::ProvidersWrite,
        Self::UsageRead,
    ];

    /// The wire and storage name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DocumentsRead => "documents:read",
            Self::DocumentsWrite => "documents:write",
            Self::ChatbotsRead => "chatbots:read",
            Self::ChatbotsWrite => "chatbots:write",
            Self::Chat => "chat",
            Self::ProvidersRead => "providers:read",
            Self::ProvidersWrite => "providers:write",
            Self::UsageRead => "usage:read",
        }
    }

    /// Parses a wire name; `None` for an unknown scope.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// What a key may do and how much, as chosen by its creator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySettings {
    /// A label for people (1–100 characters).
    pub name: String,
    /// What the key may do; never empty.
    pub scopes: BTreeSet<Scope>,
    /// The chatbots the key may use; `None` means all of the organization's.
    pub chatbot_ids: Option<Vec<ChatbotId>>,
    /// When the key stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// Requests per minute.
    pub rate_limit_per_minute: Option<u32>,
    /// Chat messages per calendar month (UTC).
    pub monthly_message_quota: Option<u64>,
    /// Model tokens per calendar month (UTC).
    pub monthly_token_quota: Option<u64>,
    /// For a publishable key (the chat widget's): the web origins (`https://example.com`) it
    /// is accepted from. `None` for a secret key.
    pub allowed_origins: Option<Vec<String>>,
}

impl KeySettings {
    /// Whether this is a publishable key: `chat` on one chatbot, from its allowed origins only,
    /// and through the widget's routes only.
    #[must_use]
    pub const fn is_publishable(&self) -> bool {
        self.allowed_origins.is_some()
    }
}

/// An API key as stored (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The id.
    pub id: ApiKeyId,
    /// The organization the key belongs to; it works for no other.
    pub org_id: OrgId,
    /// The user who created it; the key stops working when that user is disabled.
    pub created_by: UserId,
    /// `dk_live_` and four more characters.
    pub prefix: String,
    /// The last four characters.
    pub last4: String,
    /// The settings.
    pub settings: KeySettings,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was last used (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Whether the key works at `now`.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.settings.expires_at.is_none_or(|at| at > now)
    }
}

/// A key just created, with its secret (shown once).
#[derive(Debug)]
pub struct IssuedApiKey {
    /// The stored key.
    pub key: ApiKey,
    /// The secret.
    pub secret: SecretString,
}

/// A request authenticated by an API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrincipal {
    /// The key.
    pub key: ApiKey,
    /// The key's rate-limit state after this request, when it has a limit.
    pub rate: Option<crate::ports::RateDecision>,
}

impl KeyPrincipal {
    /// The tenant context of the key's organization, limited to the key's chatbot allow-list.
    #[must_use]
    pub fn tenant(&self) -> TenantCtx {
        TenantCtx::new(self.key.org_id, Actor::ApiKey(self.key.id))
            .with_chatbots(self.key.settings.chatbot_ids.clone())
    }

    /// Whether the key carries `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.key.settings.scopes.contains(&scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("admin"), None);
        assert_eq!(Scope::parse("keys:write"), None);
    }
}
