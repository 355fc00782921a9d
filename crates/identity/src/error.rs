//! Errors of the identity service.

use std::time::Duration;

use docent_kernel::{ErrorKind, StoreError};

use crate::password::WeakPassword;

/// Why an identity operation failed. Messages are safe to show to clients.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The e-mail address is malformed.
    #[error("invalid e-mail address: {0}")]
    InvalidEmail(String),
    /// The display name is unacceptable.
    #[error("invalid name: {0}")]
    InvalidName(&'static str),
    /// The password does not meet the policy.
    #[error("{0}")]
    WeakPassword(WeakPassword),
    /// An account with this e-mail address exists.
    #[error("an account with this e-mail address already exists")]
    EmailTaken,
    /// Wrong e-mail or password (deliberately not saying which).
    #[error("the e-mail address or password is wrong")]
    InvalidCredentials,
    /// The current password given to change the password is wrong.
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    /// Too many failed sign-ins; retry after the given time.
    #[error("too many failed sign-in attempts; retry later")]
    TooManyAttempts {
        /// How long to wait.
        retry_after: Duration,
    },
    /// Too many requests of one kind from one client (sign-ups, reset mails); retry after the
    /// given time.
    #[error("too many {what} from this address; retry later")]
    TooManyRequests {
        /// What was asked too often, in words (`sign-ups`, `password-reset requests`).
        what: &'static str,
        /// How long to wait.
        retry_after: Duration,
    },
    /// The bearer token is missing, malformed, expired or revoked.
    #[error("the session token is invalid or expired")]
    InvalidSession,
    /// The reset token is malformed, unknown, used or expired.
    #[error("the password reset token is invalid or expired")]
    InvalidResetToken,
    /// The session does not exist or belongs to someone else.
    #[error("session not found")]
    SessionNotFound,
    /// The user does not exist.
    #[error("user not found")]
    UserNotFound,
    /// Storage failed.
    #[error("storage failure")]
    Store(#[from] StoreError),
    /// Password hashing failed unexpectedly.
    #[error("password hashing failed")]
    Hashing(String),
}

impl IdentityError {
    /// The kind of this failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidEmail(_) | Self::InvalidName(_) | Self::WeakPassword(_) => {
                ErrorKind::InvalidInput
            }
            Self::EmailTaken => ErrorKind::Conflict,
            Self::InvalidCredentials | Self::InvalidSession => ErrorKind::Unauthenticated,
            Self::WrongCurrentPassword => ErrorKind::Forbidden,
            Self::TooManyAttempts { .. } | Self::TooManyRequests { .. } => ErrorKind::RateLimited,
            Self::InvalidResetToken => ErrorKind::InvalidInput,
            Self::SessionNotFound | Self::UserNotFound => ErrorKind::NotFound,
            Self::Store(e) => e.kind(),
            Self::Hashing(_) => ErrorKind::Internal,
        }
    }
}
