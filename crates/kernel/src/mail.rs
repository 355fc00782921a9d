//! The outbound mail port: password-reset links and invitations go through it.

use async_trait::async_trait;

/// One plain-text message to one recipient.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The recipient's address.
    pub to: crate::Email,
    /// The subject line.
    pub subject: String,
    /// The plain-text body; it may carry a secret link, so it is never logged by callers.
    pub body: String,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message or address was refused; retrying will not help.
    #[error("mail rejected: {0}")]
    Rejected(String),
    /// The mail server could not be reached; retrying later may help.
    #[error("mail transport unavailable: {0}")]
    Unavailable(String),
}

/// Sends mail.
#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Delivers `mail` to the transport. Returns `Unavailable` when the transport is down.
    async fn send(&self, mail: OutgoingMail) -> Result<(), MailError>;
}
