//! Errors of the chat services.

use docent_documents::DocumentError;
use docent_kernel::{ErrorKind, PagingError, StoreError};
use docent_providers::{ChatError as ModelError, ProviderError};

/// Why a chat operation failed. Messages are safe to show to clients.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// A field is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such chatbot in this organization (or the key may not use it).
    #[error("chatbot not found")]
    ChatbotNotFound,
    /// The calling key was revoked (or expired) while the request was under way.
    #[error("the API key is not valid")]
    AccessRevoked,
    /// No such conversation of this caller.
    #[error("conversation not found")]
    ConversationNotFound,
    /// Another chatbot of the organization has this slug.
    #[error("the slug `{0}` is taken by another chatbot of this organization")]
    SlugTaken(String),
    /// The monthly quota is used up.
    #[error("{message}")]
    QuotaExceeded {
        /// Which quota.
        message: String,
        /// Seconds until it resets.
        resets_in_secs: u64,
    },
    /// The model provider failed (after retries) or refused.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The provider connection is unusable or gone.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Retrieval failed (or a document id in the scope is not the organization's).
    #[error(transparent)]
    Documents(#[from] DocumentError),
    /// Paging parameters are invalid.
    #[error(transparent)]
    Paging(#[from] PagingError),
    /// Storage failed.
    #[error("storage failure")]
    Store(#[from] StoreError),
}

impl ChatError {
    /// The kind of this failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } | Self::Paging(_) => ErrorKind::InvalidInput,
            Self::ChatbotNotFound | Self::ConversationNotFound => ErrorKind::NotFound,
            Self::AccessRevoked => ErrorKind::Unauthenticated,
            Self::SlugTaken(_) => ErrorKind::Conflict,
            Self::QuotaExceeded { .. } => ErrorKind::RateLimited,
            Self::Model(ModelError::Transient { .. }) => ErrorKind::Unavailable,
            Self::Model(ModelError::Permanent(_) | ModelError::ContextTooLong(_)) => {
                ErrorKind::InvalidInput
            }
            Self::Provider(e) => e.kind(),
            Self::Documents(e) => e.kind(),
            Self::Store(e) => e.kind(),
        }
    }
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> ChatError {
    ChatError::Invalid {
        field,
        reason: reason.into(),
    }
}
