//! API keys: the key format (`dk_live_…` with a checksum), hashing, scopes, chatbot allow-lists,
//! expiry, revocation, per-key rate limits and monthly quotas.
//!
//! This crate is filled by the API-key issue; for now it only fixes the scope vocabulary that the
//! HTTP layer and the authorization matrix will share.

/// A permission an API key can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    /// The wire name.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("admin"), None);
    }
}
