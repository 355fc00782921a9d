//! Error vocabulary shared by every domain: the kind of a failure, and the error every storage port
//! returns.

/// What kind of failure an error is; the HTTP layer maps kinds to status codes, and callers decide
/// from it whether retrying can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is malformed or violates a rule; retrying the same input fails again.
    InvalidInput,
    /// The caller is not authenticated, or the credentials are wrong.
    Unauthenticated,
    /// The caller is authenticated but not allowed to do this.
    Forbidden,
    /// The object does not exist, or the caller may not know that it does.
    NotFound,
    /// The request conflicts with the current state (a duplicate, a last owner, …).
    Conflict,
    /// Too many requests; retry later.
    RateLimited,
    /// A dependency is down or overloaded; retrying later may succeed.
    Unavailable,
    /// A bug or an unexpected state.
    Internal,
}

/// The error of every repository port. Implementations map their driver's errors into it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write violates a uniqueness rule; the string names the rule (e.g. `users_email`).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// The store could not be reached or failed; the message is for logs, not for clients.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data did not pass validation when read back (a bug or a manual edit).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The kind of this failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::NotFound => ErrorKind::NotFound,
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::Corrupt(_) => ErrorKind::Internal,
        }
    }

    /// `on_conflict` for a conflict, the domain's conversion of this error otherwise.
    pub fn or_on_conflict<E: From<Self>>(self, on_conflict: E) -> E {
        match self {
            Self::Conflict(_) => on_conflict,
            other @ (Self::NotFound | Self::Unavailable(_) | Self::Corrupt(_)) => other.into(),
        }
    }

    /// `on_not_found` for a missing row, the domain's conversion of this error otherwise.
    pub fn or_on_not_found<E: From<Self>>(self, on_not_found: E) -> E {
        match self {
            Self::NotFound => on_not_found,
            other @ (Self::Conflict(_) | Self::Unavailable(_) | Self::Corrupt(_)) => other.into(),
        }
    }
}
