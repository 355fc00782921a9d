//! Verified credentials kept in memory, exactly: what a session token, an API key or a membership
//! resolved to is kept until anything that could change the answer happens, and not a moment
//! longer. No time-to-live decides that a credential is still valid. An organization's chatbots,
//! which every chat request and every listing reads, are kept the same way.
//!
//! - In this process, every store write that changes who may authenticate or what they may do
//!   (a session revoked, an account disabled, renamed or given a new password, a key revoked, a
//!   member's role changed or removed, an organization renamed or deleted, an organization purged)
//!   or a chatbot (created, changed, deleted) empties the cache right after it commits, before it
//!   returns.
//! - The same writes increment the `auth_epoch` row in their transaction. Each serving process
//!   polls that row every [`POLL_INTERVAL`]; when it moved — another replica or the operator's CLI
//!   changed something — the cache is emptied. A cached answer is only used while the epoch was
//!   confirmed unchanged within [`TRUST_WINDOW`]: when the poll stalls (a starved runtime, a lost
//!   database) the cache stops answering and every lookup goes to the database again. So another
//!   process's change is honoured here within `TRUST_WINDOW` at worst.
//! - A lookup that raced with a change cannot put the old answer back: entries are only stored
//!   when no invalidation happened between the lookup's start and its insertion (a generation
//!   counter).
//!
//! Only positive answers are kept (an unknown token always asks the database), expiry is checked
//! on every hit, and each map is bounded ([`CAPACITY`] entries; a full map starts over). Chatbots
//! are kept per organization, all of them or none: an organization with more than
//! [`MAX_CHATBOTS_PER_ORG`] always asks the database, and at most [`CHATBOT_CAPACITY`] chatbots
//! are kept in all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use docent_chat::Chatbot;
use docent_identity::{Session, User};
use docent_kernel::{ApiKeyId, OrgId, SessionId, TokenHash, UserId};
use docent_keys::ApiKey;
use docent_tenancy::OrgWithRole;

/// How often a serving process reads the authentication epoch.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How long after the epoch was last confirmed cached answers are still used.
pub const TRUST_WINDOW: Duration = Duration::from_millis(500);

/// The most entries each map holds.
const CAPACITY: usize = 10_000;

/// The most chatbots of one organization that are kept (a full page of a listing).
pub(crate) const MAX_CHATBOTS_PER_ORG: usize = 200;

/// The most chatbots kept in all.
const CHATBOT_CAPACITY: usize = 10_000;

/// What is kept of an organization's chatbots.
#[derive(Debug, Clone)]
pub(crate) enum OrgChatbots {
    /// All of them, in id order.
    All(Arc<[Chatbot]>),
    /// More than [`MAX_CHATBOTS_PER_ORG`]: every read asks the database.
    TooMany,
}

/// A generation: incremented by every invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generation(u64);

#[derive(Debug, Default)]
struct Maps {
    generation: u64,
    /// The epoch last read from the database, once one was.
    epoch: Option<i64>,
    /// When the epoch was last read and found unchanged (or the cache emptied for a new one).
    confirmed: Option<Instant>,
    sessions: HashMap<[u8; 32], (Session, User)>,
    keys: HashMap<[u8; 32], ApiKey>,
    members: HashMap<(OrgId, UserId), OrgWithRole>,
    chatbots: HashMap<OrgId, OrgChatbots>,
    /// How many chatbots `chatbots` holds.
    chatbots_kept: usize,
}

impl Maps {
    fn trusted(&self) -> bool {
        self.confirmed
            .is_some_and(|at| at.elapsed() <= TRUST_WINDOW)
    }

    fn clear(&mut self) {
        self.generation += 1;
        self.sessions.clear();
        self.keys.clear();
        self.members.clear();
        self.chatbots.clear();
        self.chatbots_kept = 0;
    }
}

/// The cache; [`AuthCache::disabled`] keeps nothing (short-lived processes such as the operator's
/// CLI, and stores nobody polls for).
#[derive(Debug)]
pub struct AuthCache {
    maps: Option<Mutex<Maps>>,
}

fn insert_bounded<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(key, value);
}

impl AuthCache {
    /// A cache that keeps nothing.
    #[must_use]
    pub const fn disabled() -> Self {
        Self { maps: None }
    }

    /// A cache that keeps answers once the epoch has been read ([`AuthCache::observe_epoch`]).
    #[must_use]
    pub fn enabled() -> Self {
        Self {
            maps: Some(Mutex::new(Maps::default())),
        }
    }

    fn lock(&self) -> Option<MutexGuard<'_, Maps>> {
        // Nothing a holder does can leave the maps half-changed, so a poisoned lock is still sound.
        self.maps
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The generation a lookup starts at, for [`AuthCache::put_session`] and the like; `None`
    /// when nothing may be cached now.
    pub(crate) fn generation(&self) -> Option<Generation> {
        self.lock()
            .filter(|m| m.trusted())
            .map(|m| Generation(m.generation))
    }

    /// Empties the cache: called after every write that changes authentication commits.
    pub fn invalidate(&self) {
        if let Some(mut maps) = self.lock() {
            maps.clear();
        }
    }

    /// Records the epoch read from the database now: a new one empties the cache.
    pub fn observe_epoch(&self, epoch: i64) {
        if let Some(mut maps) = self.lock() {
            if maps.epoch != Some(epoch) {
                maps.clear();
                maps.epoch = Some(epoch);
            }
            maps.confirmed = Some(Instant::now());
        }
    }

    /// The session and user of an active session token, if cached.
    pub(crate) fn session(&self, token: &TokenHash, now: DateTime<Utc>) -> Option<(Session, User)> {
        let maps = self.lock().filter(|m| m.trusted())?;
        maps.sessions
            .get(token.as_bytes())
            .filter(|(session, _)| session.revoked_at.is_none() && session.expires_at > now)
            .cloned()
    }

    /// Keeps what `token` resolved to, unless the cache was emptied since `generation`.
    pub(crate) fn put_session(
        &self,
        generation: Generation,
        token: &TokenHash,
        found: (Session, User),
    ) {
        if let Some(mut maps) = self.lock().filter(|m| m.generation == generation.0) {
            insert_bounded(&mut maps.sessions, *token.as_bytes(), found);
        }
    }

    /// Notes a session's new `last_seen_at` (written to the database by the caller).
    pub(crate) fn touch_session(&self, id: SessionId, now: DateTime<Utc>) {
        if let Some(mut maps) = self.lock() {
            for (session, _) in maps.sessions.values_mut() {
                if session.id == id {
                    session.last_seen_at = now;
                }
            }
        }
    }

    /// The usable key behind `token`, if cached.
    pub(crate) fn key(&self, token: &TokenHash) -> Option<ApiKey> {
        let maps = self.lock().filter(|m| m.trusted())?;
        maps.keys.get(token.as_bytes()).cloned()
    }

    /// Keeps the key `token` resolved to, unless the cache was emptied since `generation`.
    pub(crate) fn put_key(&self, generation: Generation, token: &TokenHash, key: ApiKey) {
        if let Some(mut maps) = self.lock().filter(|m| m.generation == generation.0) {
            insert_bounded(&mut maps.keys, *token.as_bytes(), key);
        }
    }

    /// Notes a key's new `last_used_at` (written to the database by the caller).
    pub(crate) fn touch_key(&self, id: ApiKeyId, now: DateTime<Utc>) {
        if let Some(mut maps) = self.lock() {
            for key in maps.keys.values_mut() {
                if key.id == id {
                    key.last_used_at = Some(now);
                }
            }
        }
    }

    /// A user's membership of an organization, if cached.
    pub(crate) fn member(&self, org: OrgId, user: UserId) -> Option<OrgWithRole> {
        let maps = self.lock().filter(|m| m.trusted())?;
        maps.members.get(&(org, user)).cloned()
    }

    /// What is kept of an organization's chatbots, if anything.
    pub(crate) fn chatbots(&self, org: OrgId) -> Option<OrgChatbots> {
        let maps = self.lock().filter(|m| m.trusted())?;
        maps.chatbots.get(&org).cloned()
    }

    /// Keeps an organization's chatbots (all of them, or that there are too many), unless the
    /// cache was emptied since `generation`.
    pub(crate) fn put_chatbots(&self, generation: Generation, org: OrgId, found: OrgChatbots) {
        let Some(mut maps) = self.lock().filter(|m| m.generation == generation.0) else {
            return;
        };
        let count = match &found {
            OrgChatbots::All(all) => all.len(),
            OrgChatbots::TooMany => 0,
        };
        if maps.chatbots_kept + count > CHATBOT_CAPACITY || maps.chatbots.len() >= CAPACITY {
            maps.chatbots.clear();
            maps.chatbots_kept = 0;
        }
        if let Some(OrgChatbots::All(replaced)) = maps.chatbots.insert(org, found) {
            maps.chatbots_kept -= replaced.len();
        }
        maps.chatbots_kept += count;
    }

    /// Keeps a membership, unless the cache was emptied since `generation`.
    pub(crate) fn put_member(&self, generation: Generation, user: UserId, found: OrgWithRole) {
        if let Some(mut maps) = self.lock().filter(|m| m.generation == generation.0) {
            insert_bounded(&mut maps.members, (found.org.id, user), found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration as Span;
    use docent_identity::DisplayName;
    use docent_kernel::Email;

    fn session(expires_in: Span) -> (Session, User) {
        let now = Utc::now();
        let user = User {
            id: UserId::generate(),
            email: Email::parse("a@example.com").unwrap(),
            name: DisplayName::parse("A").unwrap(),
            created_at: now,
            disabled_at: None,
        };
        let session = Session {
            id: SessionId::generate(),
            user_id: user.id,
            created_at: now,
            expires_at: now + expires_in,
            last_seen_at: now,
            revoked_at: None,
            user_agent: None,
            client_addr: None,
        };
        (session, user)
    }

    #[test]
    fn answers_only_after_the_epoch_was_read_and_forgets_on_every_invalidation() {
        let cache = AuthCache::enabled();
        let token = TokenHash::of("dss_token");
        assert!(
            cache.generation().is_none(),
            "nothing is trusted before a poll"
        );
        cache.observe_epoch(7);
        let generation = cache.generation().unwrap();
        cache.put_session(generation, &token, session(Span::hours(1)));
        assert!(cache.session(&token, Utc::now()).is_some());
        assert!(
            cache
                .session(&TokenHash::of("dss_other"), Utc::now())
                .is_none()
        );

        // The same epoch again keeps the entry; a new one (another process's change) drops it.
        cache.observe_epoch(7);
        assert!(cache.session(&token, Utc::now()).is_some());
        cache.observe_epoch(8);
        assert!(cache.session(&token, Utc::now()).is_none());

        // An in-process change drops it too.
        let generation = cache.generation().unwrap();
        cache.put_session(generation, &token, session(Span::hours(1)));
        cache.invalidate();
        assert!(cache.session(&token, Utc::now()).is_none());
    }

    #[test]
    fn a_lookup_that_raced_with_a_change_is_not_kept() {
        let cache = AuthCache::enabled();
        cache.observe_epoch(1);
        let token = TokenHash::of("dss_token");
        let before = cache.generation().unwrap();
        // The lookup read the database, then a revocation committed and invalidated.
        cache.invalidate();
        cache.put_session(before, &token, session(Span::hours(1)));
        assert!(cache.session(&token, Utc::now()).is_none());
    }

    #[test]
    fn expired_sessions_are_not_answered_and_a_stalled_poll_stops_all_answers() {
        let cache = AuthCache::enabled();
        cache.observe_epoch(1);
        let generation = cache.generation().unwrap();
        let token = TokenHash::of("dss_token");
        cache.put_session(generation, &token, session(Span::seconds(1)));
        assert!(
            cache
                .session(&token, Utc::now() + Span::seconds(2))
                .is_none()
        );

        let live = TokenHash::of("dss_live");
        cache.put_session(generation, &live, session(Span::hours(1)));
        assert!(cache.session(&live, Utc::now()).is_some());
        std::thread::sleep(TRUST_WINDOW + Duration::from_millis(50));
        assert!(
            cache.session(&live, Utc::now()).is_none(),
            "no poll within the window"
        );
        assert!(cache.generation().is_none());
        cache.observe_epoch(1);
        assert!(cache.session(&live, Utc::now()).is_some());
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = AuthCache::disabled();
        cache.observe_epoch(1);
        assert!(cache.generation().is_none());
    }
}
