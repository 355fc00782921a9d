//! Errors of the provider service.

use docent_kernel::{ErrorKind, PagingError, StoreError};

use crate::ports::SealError;

/// Why a provider operation failed. Messages are safe to show to clients: they never contain a
/// key.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A field is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The base URL points at an address docent must not call.
    #[error("base_url refused: {0}")]
    BaseUrlRefused(String),
    /// No such provider in this organization.
    #[error("provider not found")]
    NotFound,
    /// Chatbots use the connection; it cannot be deleted before they move to another.
    #[error("chatbots use this provider connection; move them to another one first")]
    InUse,
    /// Paging parameters are invalid.
    #[error(transparent)]
    Paging(#[from] PagingError),
    /// A stored key does not open (a master key is missing or the data was tampered with).
    #[error("the provider's API key cannot be read: {0}")]
    Seal(#[from] SealError),
    /// Storage failed.
    #[error("storage failure")]
    Store(#[from] StoreError),
}

impl ProviderError {
    /// The kind of this failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } | Self::BaseUrlRefused(_) | Self::Paging(_) => {
                ErrorKind::InvalidInput
            }
            Self::NotFound => ErrorKind::NotFound,
            Self::InUse => ErrorKind::Conflict,
            Self::Seal(_) => ErrorKind::Internal,
            Self::Store(e) => e.kind(),
        }
    }
}
