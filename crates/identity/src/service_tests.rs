//! Service tests over in-memory fakes of the ports, with a manual clock for expiry rules.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use docent_kernel::{
    Allowance, CountingLimiter, Email, ExposeSecret as _, MailError, Mailer, ManualClock,
    OutgoingMail, SecretString, SessionId, StoreError, TokenHash, UserId,
};

use crate::error::IdentityError;
use crate::model::{DisplayName, NewSessionInfo, PasswordReset, Session, User};
use crate::ports::{LoginThrottle, PasswordResetRepo, SessionRepo, UserRepo};
use crate::service::{IdentityConfig, IdentityPorts, IdentityService};

#[derive(Debug, Default)]
struct State {
    users: HashMap<UserId, (User, String)>,
    sessions: Vec<(Session, TokenHash)>,
    resets: Vec<(PasswordReset, TokenHash, bool)>,
    touches: usize,
}

/// All three repositories over one in-memory state.
#[derive(Debug, Default)]
struct Memory(Mutex<State>);

impl Memory {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }
}

#[async_trait]
impl UserRepo for Memory {
    async fn insert(&self, user: &User, password_hash: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.users.values().any(|(u, _)| u.email == user.email) {
            return Err(StoreError::Conflict("users_email"));
        }
        state
            .users
            .insert(user.id, (user.clone(), password_hash.to_owned()));
        Ok(())
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<(User, String)>, StoreError> {
        Ok(self
            .state()
            .users
            .values()
            .find(|(u, _)| &u.email == email)
            .cloned())
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.state().users.get(&id).map(|(u, _)| u.clone()))
    }

    async fn password_hash(&self, id: UserId) -> Result<Option<String>, StoreError> {
        Ok(self.state().users.get(&id).map(|(_, h)| h.clone()))
    }

    async fn update_name(&self, id: UserId, name: &DisplayName) -> Result<User, StoreError> {
        let mut state = self.state();
        let (user, _) = state.users.get_mut(&id).ok_or(StoreError::NotFound)?;
        user.name = name.clone();
        Ok(user.clone())
    }

    async fn set_disabled(&self, id: UserId, at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        let mut state = self.state();
        state
            .users
            .get_mut(&id)
            .ok_or(StoreError::NotFound)?
            .0
            .disabled_at = at;
        if let Some(at) = at {
            for (session, _) in &mut state.sessions {
                if session.user_id == id {
                    session.revoked_at.get_or_insert(at);
                }
            }
        }
        Ok(())
    }

    async fn change_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        state.users.get_mut(&id).ok_or(StoreError::NotFound)?.1 = password_hash.to_owned();
        for (session, _) in &mut state.sessions {
            if session.user_id == id && Some(session.id) != keep {
                session.revoked_at.get_or_insert(now);
            }
        }
        for (reset, _, used) in &mut state.resets {
            if reset.user_id == id {
                *used = true;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl SessionRepo for Memory {
    async fn insert(&self, session: &Session, token: &TokenHash) -> Result<(), StoreError> {
        self.state().sessions.push((session.clone(), *token));
        Ok(())
    }

    async fn find_active(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(Session, User)>, StoreError> {
        let state = self.state();
        Ok(state
            .sessions
            .iter()
            .find(|(s, t)| t == token && s.revoked_at.is_none() && s.expires_at > now)
            .and_then(|(s, _)| {
                let (user, _) = state.users.get(&s.user_id)?;
                user.disabled_at
                    .is_none()
                    .then(|| (s.clone(), user.clone()))
            }))
    }

    async fn touch(&self, id: SessionId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        state.touches += 1;
        for (session, _) in &mut state.sessions {
            if session.id == id {
                session.last_seen_at = now;
            }
        }
        Ok(())
    }

    async fn list_active(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        Ok(self
            .state()
            .sessions
            .iter()
            .filter(|(s, _)| s.user_id == user && s.revoked_at.is_none() && s.expires_at > now)
            .map(|(s, _)| s.clone())
            .collect())
    }

    async fn revoke(
        &self,
        user: UserId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let found = state
            .sessions
            .iter_mut()
            .find(|(s, _)| s.id == id && s.user_id == user && s.revoked_at.is_none());
        Ok(found.map(|(s, _)| s.revoked_at = Some(now)).is_some())
    }

    async fn revoke_all(&self, user: UserId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.state();
        let mut revoked = 0;
        for (session, _) in &mut state.sessions {
            if session.user_id == user && session.revoked_at.is_none() {
                session.revoked_at = Some(now);
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}

#[async_trait]
impl PasswordResetRepo for Memory {
    async fn replace(&self, reset: &PasswordReset, token: &TokenHash) -> Result<(), StoreError> {
        let mut state = self.state();
        for (other, _, used) in &mut state.resets {
            if other.user_id == reset.user_id {
                *used = true;
            }
        }
        state.resets.push((reset.clone(), *token, false));
        Ok(())
    }

    async fn latest_request(&self, user: UserId) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .state()
            .resets
            .iter()
            .filter(|(r, _, _)| r.user_id == user)
            .map(|(r, _, _)| r.created_at)
            .max())
    }

    async fn find_valid(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<PasswordReset>, StoreError> {
        Ok(self
            .state()
            .resets
            .iter()
            .find(|(r, t, used)| t == token && !used && r.expires_at > now)
            .map(|(r, _, _)| r.clone()))
    }

    async fn complete(
        &self,
        reset: &PasswordReset,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let claimed = {
            let mut state = self.state();
            let entry = state
                .resets
                .iter_mut()
                .find(|(r, _, used)| r.id == reset.id && !used && r.expires_at > now);
            entry.map(|e| e.2 = true).is_some()
        };
        if !claimed {
            return Ok(false);
        }
        self.change_password(reset.user_id, password_hash, None, now)
            .await?;
        Ok(true)
    }
}

/// Records attempts and successes; never locks.
#[derive(Debug, Default)]
struct CountingThrottle {
    attempts: Mutex<Vec<String>>,
    successes: Mutex<Vec<String>>,
}

#[async_trait]
impl LoginThrottle for CountingThrottle {
    async fn attempt(&self, email: &str, _: Option<IpAddr>) -> Result<(), std::time::Duration> {
        self.attempts.lock().unwrap().push(email.to_owned());
        Ok(())
    }

    async fn succeeded(&self, email: &str, _: Option<IpAddr>) {
        self.successes.lock().unwrap().push(email.to_owned());
    }
}

/// Keeps every message.
#[derive(Debug, Default)]
struct Outbox(Mutex<Vec<OutgoingMail>>);

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, mail: OutgoingMail) -> Result<(), MailError> {
        self.0.lock().unwrap().push(mail);
        Ok(())
    }
}

impl Outbox {
    fn tokens(&self, prefix: &str) -> Vec<SecretString> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| {
                let start = m.body.find(prefix)?;
                Some(SecretString::from(
                    m.body[start..start + prefix.len() + 43].to_owned(),
                ))
            })
            .collect()
    }
}

struct Harness {
    service: IdentityService,
    memory: Arc<Memory>,
    throttle: Arc<CountingThrottle>,
    outbox: Arc<Outbox>,
    clock: Arc<ManualClock>,
}

fn harness() -> Harness {
    let memory = Arc::new(Memory::default());
    let throttle = Arc::new(CountingThrottle::default());
    let outbox = Arc::new(Outbox::default());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let service = IdentityService::new(
        IdentityPorts {
            users: memory.clone(),
            sessions: memory.clone(),
            resets: memory.clone(),
            throttle: throttle.clone(),
            limiter: Arc::new(CountingLimiter::default()),
            mailer: outbox.clone(),
            clock: clock.clone(),
        },
        IdentityConfig {
            session_ttl: Duration::hours(2),
            reset_ttl: Duration::minutes(30),
            reset_interval: Duration::seconds(60),
            public_url: "http://docent.test".to_owned(),
            signups_per_client: Allowance::per_hour(3),
            resets_per_client: Allowance::per_hour(3),
        },
    )
    .unwrap();
    Harness {
        service,
        memory,
        throttle,
        outbox,
        clock,
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

const PW: &str = "correct horse battery";

#[tokio::test]
async fn sign_up_sign_in_and_authenticate() {
    let h = harness();
    let (user, issued) = h
        .service
        .signup(
            " Ann@Example.com",
            &secret(PW),
            "Ann",
            NewSessionInfo::default(),
        )
        .await
        .unwrap();
    assert_eq!(user.email.as_str(), "ann@example.com");
    let principal = h
        .service
        .authenticate(issued.token.expose_secret())
        .await
        .unwrap();
    assert_eq!(principal.user.id, user.id);
    assert!(matches!(
        h.service
            .signup(
                "ann@example.com",
                &secret(PW),
                "Ann",
                NewSessionInfo::default()
            )
            .await,
        Err(IdentityError::EmailTaken)
    ));
    let (_, second) = h
        .service
        .login("ANN@example.com", &secret(PW), NewSessionInfo::default())
        .await
        .unwrap();
    assert_ne!(second.session.id, issued.session.id);
    // The stored hash is argon2id, never the password.
    let stored = h.memory.state().users[&user.id].1.clone();
    assert!(stored.starts_with("$argon2id$") && !stored.contains(PW));
}

#[tokio::test]
async fn unknown_addresses_and_wrong_passwords_look_alike_and_count() {
    let h = harness();
    h.service
        .signup(
            "bo@example.com",
            &secret(PW),
            "Bo",
            NewSessionInfo::default(),
        )
        .await
        .unwrap();
    for email in ["bo@example.com", "nobody@example.com", "not an email"] {
        let result = h
            .service
            .login(
                email,
                &secret("wrong password 1"),
                NewSessionInfo::default(),
            )
            .await;
        assert!(
            matches!(result, Err(IdentityError::InvalidCredentials)),
            "{email}"
        );
    }
    // Every attempt was counted on arrival; none succeeded.
    assert_eq!(h.throttle.attempts.lock().unwrap().len(), 3);
    assert!(h.throttle.successes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn disabled_users_cannot_sign_in_or_use_sessions() {
    let h = harness();
    let (user, issued) = h
        .service
        .signup(
            "cy@example.com",
            &secret(PW),
            "Cy",
            NewSessionInfo::default(),
        )
        .await
        .unwrap();
    h.service.set_disabled(user.id, true).await.unwrap();
    assert!(matches!(
        h.service
            .login("cy@example.com", &secret(PW), NewSessionInfo::default())
            .await,
        Err(IdentityError::InvalidCredentials)
    ));
    assert!(matches!(
        h.service.authenticate(issued.token.expose_secret()).await,
        Err(IdentityError::InvalidSession)
    ));
    // Enabled again, the account signs in; the session revoked on disabling stays revoked.
    h.service.set_disabled(user.id, false).await.unwrap();
    h.service
        .login("cy@example.com", &secret(PW), NewSessionInfo::default())
        .await
        .unwrap();
    assert!(matches!(
        h.service.authenticate(issued.token.expose_secret()).await,
        Err(IdentityError::InvalidSession)
    ));
    assert!(matches!(
        h.service.set_disabled(UserId::generate(), true).await,
        Err(IdentityError::UserNotFound)
    ));
}

#[tokio::test]
async fn sessions_expire_and_are_touched_at_most_once_a_minute() {
    let h = harness();
    let (_, issued) = h
        .service
        .signup(
            "di@example.com",
            &secret(PW),
            "Di",
            NewSessionInfo::default(),
        )
        .await
        .unwrap();
    let token = issued.token.expose_secret().to_owned();
    for _ in 0..5 {
        h.service.authenticate(&token).await.unwrap();
    }
    assert_eq!(h.memory.state().touches, 0);
    h.clock.advance(Duration::seconds(61));
    h.service.authenticate(&token).await.unwrap();
    h.service.authenticate(&token).await.unwrap();
    assert_eq!(h.memory.state().touches, 1);
    h.clock.advance(Duration::hours(2));
    assert!(matches!(
        h.service.authenticate(&token).await,
        Err(IdentityError::InvalidSession)
    ));
    assert!(matches!(
        h.service.authenticate("").await,
        Err(IdentityError::InvalidSession)
    ));
}

#[tokio::test]
async fn reset_links_expire_after_thirty_minutes_and_are_rate_limited() {
    let h = harness();
    h.service
        .signup(
            "ed@example.com",
            &secret(PW),
            "Ed",
            NewSessionInfo::default(),
        )
        .await
        .unwrap();
    h.service
        .request_password_reset("ED@example.com", None)
        .await
        .unwrap()
        .run()
        .await
        .unwrap();
    // A second request within the minute sends nothing.
    h.service
        .request_password_reset("ed@example.com", None)
        .await
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(h.outbox.tokens("dsr_").len(), 1);
    h.clock.advance(Duration::minutes(31));
    let expired = h.outbox.tokens("dsr_")[0].clone();
    assert!(matches!(
        h.service
            .confirm_password_reset(&expired, &secret("A new pass phrase 1"))
            .await,
        Err(IdentityError::InvalidResetToken)
    ));

    h.service
        .request_password_reset("ed@example.com", None)
        .await
        .unwrap()
        .run()
        .await
        .unwrap();
    let fresh = h.outbox.tokens("dsr_")[1].clone();
    h.clock.advance(Duration::minutes(29));
    h.service
        .confirm_password_reset(&fresh, &secret("A new pass phrase 1"))
        .await
        .unwrap();
    h.service
        .login(
            "ed@example.com",
            &secret("A new pass phrase 1"),
            NewSessionInfo::default(),
        )
        .await
        .unwrap();
    // Unknown addresses send nothing and say nothing.
    h.service
        .request_password_reset("zed@example.com", None)
        .await
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(h.outbox.0.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn sign_ups_and_reset_requests_are_limited_per_client_address() {
    let h = harness();
    let client: IpAddr = "203.0.113.7".parse().unwrap();
    let info = || NewSessionInfo {
        client_addr: Some(client),
        ..NewSessionInfo::default()
    };
    for i in 0..3 {
        h.service
            .signup(&format!("u{i}@example.com"), &secret(PW), "U", info())
            .await
            .unwrap();
    }
    let refused = h
        .service
        .signup("u9@example.com", &secret(PW), "U", info())
        .await;
    assert!(
        matches!(refused, Err(IdentityError::TooManyRequests { .. })),
        "{refused:?}"
    );
    // Another client is not affected, and a malformed request is refused for itself, uncounted.
    let other = NewSessionInfo {
        client_addr: Some("203.0.113.8".parse().unwrap()),
        ..NewSessionInfo::default()
    };
    h.service
        .signup("u10@example.com", &secret(PW), "U", other)
        .await
        .unwrap();
    assert!(matches!(
        h.service.signup("bad", &secret(PW), "U", info()).await,
        Err(IdentityError::InvalidEmail(_))
    ));

    for _ in 0..3 {
        h.service
            .request_password_reset("u0@example.com", Some(client))
            .await
            .unwrap();
    }
    assert!(matches!(
        h.service
            .request_password_reset("nobody@example.com", Some(client))
            .await,
        Err(IdentityError::TooManyRequests { .. })
    ));
}

#[tokio::test]
async fn a_successful_sign_in_is_taken_back_from_the_throttle() {
    let h = harness();
    h.service
        .signup(
            "ann@example.com",
            &secret(PW),
            "Ann",
            NewSessionInfo::default(),
        )
        .await
        .unwrap();
    h.service
        .login("Ann@example.com", &secret(PW), NewSessionInfo::default())
        .await
        .unwrap();
    assert_eq!(*h.throttle.attempts.lock().unwrap(), ["ann@example.com"]);
    assert_eq!(*h.throttle.successes.lock().unwrap(), ["ann@example.com"]);
}
