//! The identity service: sign-up, sign-in, sessions, password change and reset.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::Duration;
use docent_kernel::{
    Allowance, Clock, Email, ExposeSecret as _, Limiter, Mailer, OutgoingMail, PasswordResetId,
    SecretString, SessionId, TokenKind, UserId,
};
use tokio::sync::Semaphore;

use crate::error::IdentityError;
use crate::model::{
    DisplayName, IssuedSession, NewSessionInfo, PasswordReset, Principal, Session, User,
};
use crate::password::{PasswordHasher, PasswordPolicy};
use crate::ports::{LoginThrottle, PasswordResetRepo, SessionRepo, UserRepo};

/// Settings of the identity service.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// How long a session lasts from sign-in.
    pub session_ttl: Duration,
    /// How long a password-reset link works.
    pub reset_ttl: Duration,
    /// The shortest time between two reset mails to one account, so the endpoint cannot be used
    /// to flood a mailbox.
    pub reset_interval: Duration,
    /// The base URL of the web app, for links in e-mails (no trailing slash).
    pub public_url: String,
    /// Sign-ups per client address.
    pub signups_per_client: Allowance,
    /// Password-reset requests per client address (on top of `reset_interval` per account).
    pub resets_per_client: Allowance,
}

/// What the identity service is built from.
#[derive(Debug, Clone)]
pub struct IdentityPorts {
    /// Stores accounts.
    pub users: Arc<dyn UserRepo>,
    /// Stores sessions.
    pub sessions: Arc<dyn SessionRepo>,
    /// Stores password resets.
    pub resets: Arc<dyn PasswordResetRepo>,
    /// Limits sign-in attempts.
    pub throttle: Arc<dyn LoginThrottle>,
    /// Limits sign-ups and reset requests per client.
    pub limiter: Arc<dyn Limiter>,
    /// Sends reset mails.
    pub mailer: Arc<dyn Mailer>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// How long a session may go without its `last_seen_at` being written again.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// Sign-up, sign-in, sessions and passwords.
#[derive(Debug)]
pub struct IdentityService {
    users: Arc<dyn UserRepo>,
    sessions: Arc<dyn SessionRepo>,
    resets: Arc<dyn PasswordResetRepo>,
    throttle: Arc<dyn LoginThrottle>,
    limiter: Arc<dyn Limiter>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    config: IdentityConfig,
    hasher: PasswordHasher,
    /// Bounds concurrent argon2 runs (19 MiB and tens of milliseconds each).
    hashing_slots: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the e-mail is unknown so that a
    /// failed sign-in takes as long whether or not the account exists.
    dummy_hash: String,
}

impl IdentityService {
    /// Builds the service; hashes one random password for timing equalization.
    pub fn new(ports: IdentityPorts, config: IdentityConfig) -> Result<Self, IdentityError> {
        let IdentityPorts {
            users,
            sessions,
            resets,
            throttle,
            limiter,
            mailer,
            clock,
        } = ports;
        let hasher = PasswordHasher::new();
        let (random, _) = TokenKind::Session.generate();
        let dummy_hash = hasher
            .hash(random.expose_secret())
            .map_err(IdentityError::Hashing)?;
        let slots = std::thread::available_parallelism().map_or(2, std::num::NonZero::get) * 2;
        Ok(Self {
            users,
            sessions,
            resets,
            throttle,
            limiter,
            mailer,
            clock,
            config,
            hasher,
            hashing_slots: Arc::new(Semaphore::new(slots)),
            dummy_hash,
        })
    }

    /// Creates an account and signs it in.
    pub async fn signup(
        &self,
        email: &str,
        password: &SecretString,
        name: &str,
        info: NewSessionInfo,
    ) -> Result<(User, IssuedSession), IdentityError> {
        let email = Email::parse(email).map_err(|e| IdentityError::InvalidEmail(e.to_string()))?;
        let name = DisplayName::parse(name).map_err(IdentityError::InvalidName)?;
        PasswordPolicy
            .check(password.expose_secret(), &email)
            .map_err(IdentityError::WeakPassword)?;
        // Counted before the (costly) hash, and only for well-formed requests.
        self.limit(
            "sign-ups",
            "signup",
            info.client_addr,
            self.config.signups_per_client,
        )
        .await?;
        let hash = self.hash(password).await?;
        let user = User {
            id: UserId::generate(),
            email,
            name,
            created_at: self.clock.now(),
            disabled_at: None,
        };
        self.users
            .insert(&user, &hash)
            .await
            .map_err(|e| e.or_on_conflict(IdentityError::EmailTaken))?;
        let issued = self.issue_session(user.id, info).await?;
        Ok((user, issued))
    }

    /// Signs in with e-mail and password.
    ///
    /// Unknown addresses, disabled accounts and wrong passwords all answer `InvalidCredentials`
    /// after one argon2 verification, so neither the answer nor its timing tells them apart. The
    /// attempt is counted against the throttle before the password is verified, so concurrent
    /// guesses get no more verifications than the limit allows.
    pub async fn login(
        &self,
        email: &str,
        password: &SecretString,
        info: NewSessionInfo,
    ) -> Result<(User, IssuedSession), IdentityError> {
        let throttle_key = email.trim().to_lowercase();
        self.throttle
            .attempt(&throttle_key, info.client_addr)
            .await
            .map_err(|retry_after| IdentityError::TooManyAttempts { retry_after })?;

        let found = match Email::parse(email) {
            Ok(parsed) => self.users.find_by_email(&parsed).await?,
            Err(_) => None,
        };
        let (user, stored_hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, self.dummy_hash.clone()),
        };
        let password_ok = self.verify(password, stored_hash).await?;
        let user = match user {
            Some(user) if password_ok && user.disabled_at.is_none() => user,
            // The attempt was counted on arrival.
            _ => return Err(IdentityError::InvalidCredentials),
        };
        self.throttle
            .succeeded(&throttle_key, info.client_addr)
            .await;
        let issued = self.issue_session(user.id, info).await?;
        Ok((user, issued))
    }

    /// Resolves a bearer session token to its user.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, IdentityError> {
        let hash = TokenKind::Session
            .parse(token)
            .ok_or(IdentityError::InvalidSession)?;
        let now = self.clock.now();
        let (session, user) = self
            .sessions
            .find_active(&hash, now)
            .await?
            .ok_or(IdentityError::InvalidSession)?;
        // Writing on every request would turn reads into writes; once a minute is plenty for a
        // "last active" column.
        if now - session.last_seen_at > Duration::seconds(TOUCH_INTERVAL_SECS) {
            self.sessions.touch(session.id, now).await?;
        }
        Ok(Principal {
            user,
            session_id: session.id,
        })
    }

    /// Revokes the session the principal signed in with.
    pub async fn logout(&self, principal: &Principal) -> Result<(), IdentityError> {
        self.sessions
            .revoke(principal.user.id, principal.session_id, self.clock.now())
            .await?;
        Ok(())
    }

    /// The principal's active sessions.
    pub async fn list_sessions(
        &self,
        principal: &Principal,
    ) -> Result<Vec<Session>, IdentityError> {
        Ok(self
            .sessions
            .list_active(principal.user.id, self.clock.now())
            .await?)
    }

    /// Revokes one of the principal's sessions.
    pub async fn revoke_session(
        &self,
        principal: &Principal,
        id: SessionId,
    ) -> Result<(), IdentityError> {
        let revoked = self
            .sessions
            .revoke(principal.user.id, id, self.clock.now())
            .await?;
        if revoked {
            Ok(())
        } else {
            Err(IdentityError::SessionNotFound)
        }
    }

    /// Accepts a password-reset request from `client`: fails with `TooManyRequests` when the
    /// client asked too often, and otherwise returns the work to do, which callers run detached
    /// ([`PasswordResetJob::run`]) so that neither the answer nor its timing depends on whether
    /// the account exists or on how fast the mail server is.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: Option<IpAddr>,
    ) -> Result<PasswordResetJob, IdentityError> {
        self.limit(
            "password-reset requests",
            "reset",
            client,
            self.config.resets_per_client,
        )
        .await?;
        Ok(PasswordResetJob {
            email: email.to_owned(),
            users: self.users.clone(),
            resets: self.resets.clone(),
            mailer: self.mailer.clone(),
            clock: self.clock.clone(),
            config: self.config.clone(),
        })
    }

    /// Sets a new password with a reset token; revokes every session of the user.
    pub async fn confirm_password_reset(
        &self,
        token: &SecretString,
        new_password: &SecretString,
    ) -> Result<(), IdentityError> {
        let hash = TokenKind::PasswordReset
            .parse_secret(token)
            .ok_or(IdentityError::InvalidResetToken)?;
        let now = self.clock.now();
        let reset = self
            .resets
            .find_valid(&hash, now)
            .await?
            .ok_or(IdentityError::InvalidResetToken)?;
        let user = self
            .users
            .get(reset.user_id)
            .await?
            .ok_or(IdentityError::InvalidResetToken)?;
        PasswordPolicy
            .check(new_password.expose_secret(), &user.email)
            .map_err(IdentityError::WeakPassword)?;
        let password_hash = self.hash(new_password).await?;
        if self
            .resets
            .complete(&reset, &password_hash, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(IdentityError::InvalidResetToken)
        }
    }

    /// Changes the principal's password; every other session is revoked.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &SecretString,
        new_password: &SecretString,
    ) -> Result<(), IdentityError> {
        let stored = self
            .users
            .password_hash(principal.user.id)
            .await?
            .ok_or(IdentityError::UserNotFound)?;
        if !self.verify(current, stored).await? {
            return Err(IdentityError::WrongCurrentPassword);
        }
        PasswordPolicy
            .check(new_password.expose_secret(), &principal.user.email)
            .map_err(IdentityError::WeakPassword)?;
        let hash = self.hash(new_password).await?;
        self.users
            .change_password(
                principal.user.id,
                &hash,
                Some(principal.session_id),
                self.clock.now(),
            )
            .await?;
        Ok(())
    }

    /// Disables an account (its sessions are revoked, its API keys stop working, it cannot sign
    /// in) or enables it again. For operators.
    pub async fn set_disabled(&self, user: UserId, disabled: bool) -> Result<(), IdentityError> {
        let at = disabled.then(|| self.clock.now());
        self.users
            .set_disabled(user, at)
            .await
            .map_err(|e| e.or_on_not_found(IdentityError::UserNotFound))
    }

    /// Signs an account out everywhere: revokes all its sessions (its API keys are the
    /// organizations', and stay). For operators; returns how many sessions were revoked.
    pub async fn revoke_all_sessions(&self, user: UserId) -> Result<u64, IdentityError> {
        if self.users.get(user).await?.is_none() {
            return Err(IdentityError::UserNotFound);
        }
        Ok(self.sessions.revoke_all(user, self.clock.now()).await?)
    }

    /// The account with this e-mail address, for operators.
    pub async fn find_by_email(&self, email: &str) -> Result<User, IdentityError> {
        let email = Email::parse(email).map_err(|_| IdentityError::UserNotFound)?;
        match self.users.find_by_email(&email).await? {
            Some((user, _)) => Ok(user),
            None => Err(IdentityError::UserNotFound),
        }
    }

    /// Updates the principal's profile.
    pub async fn update_profile(
        &self,
        principal: &Principal,
        name: Option<&str>,
    ) -> Result<User, IdentityError> {
        match name {
            Some(name) => {
                let name = DisplayName::parse(name).map_err(IdentityError::InvalidName)?;
                self.users
                    .update_name(principal.user.id, &name)
                    .await
                    .map_err(|e| e.or_on_not_found(IdentityError::UserNotFound))
            }
            None => Ok(principal.user.clone()),
        }
    }

    /// Counts one `action` from `client` (nothing without a client address: the per-account and
    /// per-address limits still apply).
    async fn limit(
        &self,
        what: &'static str,
        action: &str,
        client: Option<IpAddr>,
        allowance: Allowance,
    ) -> Result<(), IdentityError> {
        let Some(client) = client else {
            return Ok(());
        };
        self.limiter
            .acquire(&[(format!("{action}:client:{client}"), allowance)])
            .await
            .map_err(|retry_after| IdentityError::TooManyRequests { what, retry_after })
    }

    async fn issue_session(
        &self,
        user_id: UserId,
        info: NewSessionInfo,
    ) -> Result<IssuedSession, IdentityError> {
        let now = self.clock.now();
        let (token, hash) = TokenKind::Session.generate();
        let session = Session {
            id: SessionId::generate(),
            user_id,
            created_at: now,
            expires_at: now + self.config.session_ttl,
            last_seen_at: now,
            revoked_at: None,
            user_agent: info.user_agent.map(|ua| ua.chars().take(256).collect()),
            client_addr: info.client_addr.map(|ip| ip.to_string()),
        };
        self.sessions.insert(&session, &hash).await?;
        Ok(IssuedSession { session, token })
    }

    async fn hash(&self, password: &SecretString) -> Result<String, IdentityError> {
        let hasher = self.hasher.clone();
        let password = password.clone();
        let _slot = self
            .hashing_slots
            .acquire()
            .await
            .map_err(|e| IdentityError::Hashing(e.to_string()))?;
        tokio::task::spawn_blocking(move || hasher.hash(password.expose_secret()))
            .await
            .map_err(|e| IdentityError::Hashing(e.to_string()))?
            .map_err(IdentityError::Hashing)
    }

    async fn verify(&self, password: &SecretString, stored: String) -> Result<bool, IdentityError> {
        let hasher = self.hasher.clone();
        let password = password.clone();
        let _slot = self
            .hashing_slots
            .acquire()
            .await
            .map_err(|e| IdentityError::Hashing(e.to_string()))?;
        tokio::task::spawn_blocking(move || hasher.verify(password.expose_secret(), &stored))
            .await
            .map_err(|e| IdentityError::Hashing(e.to_string()))
    }
}

/// The work of one accepted password-reset request: sends a link if an active account has the
/// address, does nothing visible otherwise.
#[derive(Debug)]
pub struct PasswordResetJob {
    email: String,
    users: Arc<dyn UserRepo>,
    resets: Arc<dyn PasswordResetRepo>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    config: IdentityConfig,
}

impl PasswordResetJob {
    /// Looks the account up and mails the link.
    pub async fn run(self) -> Result<(), IdentityError> {
        let Ok(email) = Email::parse(&self.email) else {
            return Ok(());
        };
        let Some((user, _)) = self.users.find_by_email(&email).await? else {
            return Ok(());
        };
        if user.disabled_at.is_some() {
            return Ok(());
        }
        let now = self.clock.now();
        let latest = self.resets.latest_request(user.id).await?;
        if latest.is_some_and(|latest| now - latest < self.config.reset_interval) {
            tracing::info!(user_id = %user.id, "password reset requested again too soon; no mail sent");
            return Ok(());
        }
        let reset = PasswordReset {
            id: PasswordResetId::generate(),
            user_id: user.id,
            created_at: now,
            expires_at: now + self.config.reset_ttl,
        };
        let (token, hash) = TokenKind::PasswordReset.generate();
        self.resets.replace(&reset, &hash).await?;
        let minutes = self.config.reset_ttl.num_minutes();
        let body = format!(
            "Hello {name},\n\nSomeone asked to reset the password of your docent account.\n\
             To choose a new password, open this link within {minutes} minutes:\n\n\
             {url}/reset-password?token={token}\n\n\
             If the web app is not in use, send the token to POST /v1/auth/password-reset/confirm.\n\
             Token: {token}\n\nIf you did not ask for this, ignore this message.\n",
            name = user.name.as_str(),
            url = self.config.public_url,
            token = token.expose_secret(),
        );
        let mail = OutgoingMail {
            to: user.email.clone(),
            subject: "Reset your docent password".to_owned(),
            body,
        };
        if let Err(error) = self.mailer.send(mail).await {
            tracing::warn!(%error, user_id = %user.id, "could not send the password-reset mail");
        }
        Ok(())
    }
}
