//! The identity domain's types.

use chrono::{DateTime, Utc};
use docent_kernel::{Email, PasswordResetId, SecretString, SessionId, UserId};

/// A user's display name: at most 100 characters and no control characters as given, not blank;
/// stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// The longest accepted name, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Validates a name.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("the name is empty");
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err("the name is longer than 100 characters");
        }
        if raw.chars().any(char::is_control) {
            return Err("the name contains control characters");
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The id.
    pub id: UserId,
    /// The normalized, unique e-mail address.
    pub email: Email,
    /// The display name.
    pub name: DisplayName,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the account was disabled; a disabled user cannot sign in and has no sessions.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A session of a user. The token itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The id (shown in the session list; not a credential).
    pub id: SessionId,
    /// The owner.
    pub user_id: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was last used (updated at most once a minute).
    pub last_seen_at: DateTime<Utc>,
    /// When it was revoked (logout, password change or reset).
    pub revoked_at: Option<DateTime<Utc>>,
    /// The client's user agent when it was created, if known.
    pub user_agent: Option<String>,
    /// The client's address when it was created, if known.
    pub client_addr: Option<String>,
}

/// Where a new session comes from, recorded for the session list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewSessionInfo {
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The client's address.
    pub client_addr: Option<std::net::IpAddr>,
}

/// A session just created, with its token (shown to the client once).
#[derive(Debug)]
pub struct IssuedSession {
    /// The session.
    pub session: Session,
    /// The bearer token.
    pub token: SecretString,
}

/// A pending password reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset {
    /// The id.
    pub id: PasswordResetId,
    /// The user whose password it resets.
    pub user_id: UserId,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// An authenticated user and the session they used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user: User,
    /// The session the request came with.
    pub session_id: SessionId,
}
