//! What the identity service needs from outside: storage and a sign-in throttle.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_kernel::{Email, SessionId, StoreError, TokenHash, UserId};

use crate::model::{DisplayName, PasswordReset, Session, User};

/// Stores user accounts.
#[async_trait]
pub trait UserRepo: Send + Sync + std::fmt::Debug {
    /// Inserts a user with its password hash. Returns `Conflict("users_email")` when the e-mail
    /// address is taken.
    async fn insert(&self, user: &User, password_hash: &str) -> Result<(), StoreError>;

    /// The user with this address, with its password hash.
    async fn find_by_email(&self, email: &Email) -> Result<Option<(User, String)>, StoreError>;

    /// The user with this id.
    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The password hash of a user.
    async fn password_hash(&self, id: UserId) -> Result<Option<String>, StoreError>;

    /// Renames a user; `NotFound` when there is no such user.
    async fn update_name(&self, id: UserId, name: &DisplayName) -> Result<User, StoreError>;

    /// Disables the user at `at` (revoking all their sessions, in one transaction), or enables
    /// them again with `None`; `NotFound` when there is no such user.
    async fn set_disabled(&self, id: UserId, at: Option<DateTime<Utc>>) -> Result<(), StoreError>;

    /// Replaces the password hash, revokes every session of the user except `keep` and invalidates
    /// pending password resets — atomically.
    async fn change_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Stores sessions by the hash of their token.
#[async_trait]
pub trait SessionRepo: Send + Sync + std::fmt::Debug {
    /// Stores a new session.
    async fn insert(&self, session: &Session, token: &TokenHash) -> Result<(), StoreError>;

    /// The session with this token hash and its user, if the session is neither revoked nor
    /// expired at `now` and the user is not disabled.
    async fn find_active(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(Session, User)>, StoreError>;

    /// Records that the session was used at `now`.
    async fn touch(&self, id: SessionId, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// The user's sessions that are neither revoked nor expired, oldest first.
    async fn list_active(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError>;

    /// Revokes one session of `user`; `false` when the user has no such active session.
    async fn revoke(
        &self,
        user: UserId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Revokes every session of `user` not yet revoked; returns how many were.
    async fn revoke_all(&self, user: UserId, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Stores password-reset requests by the hash of their token.
#[async_trait]
pub trait PasswordResetRepo: Send + Sync + std::fmt::Debug {
    /// Stores a new reset and invalidates the user's earlier unused ones, atomically.
    async fn replace(&self, reset: &PasswordReset, token: &TokenHash) -> Result<(), StoreError>;

    /// When the user last requested a reset, if ever.
    async fn latest_request(&self, user: UserId) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// The unused, unexpired reset with this token hash.
    async fn find_valid(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<PasswordReset>, StoreError>;

    /// Marks the reset used, sets the new password hash, revokes all the user's sessions and other
    /// resets — atomically. Returns `false` (and changes nothing) when the reset was already used or
    /// expired by then.
    async fn complete(
        &self,
        reset: &PasswordReset,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// Limits sign-in attempts per e-mail address and per client address.
///
/// Every attempt counts as a failure from the moment it arrives, before the password is verified,
/// so that any number of concurrent guesses get at most the limit's worth of verifications; a
/// successful attempt is then taken back.
#[async_trait]
pub trait LoginThrottle: Send + Sync + std::fmt::Debug {
    /// Counts one attempt for the address and the client, atomically: `Err(retry_after)` (and
    /// nothing counted) while either is at its limit.
    async fn attempt(&self, email: &str, client: Option<IpAddr>) -> Result<(), Duration>;

    /// The attempt succeeded: forgets the address's failures and takes the attempt back from the
    /// client's count.
    async fn succeeded(&self, email: &str, client: Option<IpAddr>);
}
