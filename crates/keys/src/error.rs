//! Errors of the key service.

use docent_kernel::{ErrorKind, PagingError, StoreError};

use crate::model::Scope;

/// Why a key operation failed. Messages are safe to show to clients.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A setting is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A scope name is not one of the known scopes.
    #[error(
        "unknown scope {0:?}; known scopes: documents:read, documents:write, chatbots:read, chatbots:write, chat, providers:read, providers:write, usage:read"
    )]
    UnknownScope(String),
    /// The presented key is malformed, unknown, revoked or expired, or its organization or creator
    /// is gone (one answer for all, so keys cannot be probed).
    #[error("the API key is invalid, revoked or expired")]
    InvalidKey,
    /// The key lacks the scope an operation needs.
    #[error("this API key lacks the `{}` scope", .0.as_str())]
    InsufficientScope(Scope),
    /// The key carries the scope, but the user who created it may no longer do what it allows
    /// (their role was lowered): a key never carries more than its creator may do now.
    #[error(
        "this API key carries the `{}` scope, but the user who created it may no longer do that",
        .0.as_str()
    )]
    CreatorLacks(Scope),
    /// The key exceeded its rate limit.
    #[error("this API key exceeded its rate limit of {} requests per minute", .0.limit)]
    RateLimited(crate::ports::RateDecision),
    /// A monthly quota of the key or the organization is used up.
    #[error("the {holder}'s monthly {what} quota is used up")]
    QuotaExceeded {
        /// `API key` or `organization`.
        holder: &'static str,
        /// `message` or `token`.
        what: &'static str,
        /// Seconds until the quota resets (the start of the next UTC month).
        resets_in_secs: u64,
    },
    /// A chatbot of the allow-list is not one of the organization's.
    #[error("chatbot {} not found", .0.as_uuid())]
    ChatbotNotFound(docent_kernel::ChatbotId),
    /// A usage range is invalid.
    #[error("invalid range: {0}")]
    InvalidRange(&'static str),
    /// The key does not exist in this organization.
    #[error("API key not found")]
    NotFound,
    /// A publishable key on a route other than the chat widget's.
    #[error("a publishable key (dk_pub_) works only for the chat widget; use a secret key here")]
    PublishableOnly,
    /// A publishable key from a web origin it does not allow (or with no origin at all).
    #[error("this key is not accepted from this website")]
    OriginRefused,
    /// Paging parameters are invalid.
    #[error(transparent)]
    Paging(#[from] PagingError),
    /// Storage failed.
    #[error("storage failure")]
    Store(#[from] StoreError),
}

impl KeyError {
    /// The kind of this failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } | Self::UnknownScope(_) | Self::Paging(_) => {
                ErrorKind::InvalidInput
            }
            Self::InvalidKey => ErrorKind::Unauthenticated,
            Self::InsufficientScope(_)
            | Self::CreatorLacks(_)
            | Self::PublishableOnly
            | Self::OriginRefused => ErrorKind::Forbidden,
            Self::RateLimited(_) | Self::QuotaExceeded { .. } => ErrorKind::RateLimited,
            Self::InvalidRange(_) => ErrorKind::InvalidInput,
            Self::NotFound | Self::ChatbotNotFound(_) => ErrorKind::NotFound,
            Self::Store(e) => e.kind(),
        }
    }
}
