//! In-process counting in fixed windows: the sign-in throttle (attempts per e-mail address and per
//! client address) and the action limiter (sign-ups, reset requests, invitations).
//!
//! A rate limiter such as governor smooths requests; these count events in a window that starts
//! with the first event, check and count in one step under one lock (so concurrent callers never
//! get more than the limit between them), and can take an event back (a successful sign-in). State
//! is per process: with several API replicas each keeps its own count (see the README), except for
//! the action limiter, which uses Redis when `redis.url` is set ([`RedisLimiter`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use docent_identity::LoginThrottle;
use docent_kernel::{Allowance, Limiter};

/// Above this many tracked keys, expired entries are purged; far above it, the oldest are dropped.
const MAX_TRACKED_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    window: Duration,
    count: u32,
}

/// Counters per key in fixed windows, behind one lock.
#[derive(Debug, Default)]
struct Windows(Mutex<HashMap<String, Window>>);

impl Windows {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one event for every key unless one of them is full: then nothing is counted and the
    /// answer is how long until the fullest has room.
    fn count(&self, keys: &[(String, Allowance)]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut state = self.lock();
        let mut wait = Duration::ZERO;
        for (key, allowance) in keys {
            let current = state
                .get(key)
                .filter(|w| now.duration_since(w.started) < w.window);
            let used = current.map_or(0, |w| w.count);
            if used >= allowance.max {
                let left = current.map_or(allowance.window, |w| {
                    w.window.saturating_sub(now.duration_since(w.started))
                });
                wait = wait.max(left.max(Duration::from_secs(1)));
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        if state.len() >= MAX_TRACKED_KEYS {
            state.retain(|_, w| now.duration_since(w.started) < w.window);
            if state.len() >= MAX_TRACKED_KEYS {
                // Under a flood of distinct keys, forgetting is better than exhausting memory.
                state.clear();
            }
        }
        for (key, allowance) in keys {
            let entry = state.entry(key.clone()).or_insert(Window {
                started: now,
                window: allowance.window,
                count: 0,
            });
            if now.duration_since(entry.started) >= entry.window {
                *entry = Window {
                    started: now,
                    window: allowance.window,
                    count: 0,
                };
            }
            entry.count = entry.count.saturating_add(1);
        }
        Ok(())
    }

    /// Takes one event back from `key`.
    fn take_back(&self, key: &str) {
        if let Some(window) = self.lock().get_mut(key) {
            window.count = window.count.saturating_sub(1);
        }
    }

    /// Forgets `key`.
    fn forget(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// Sign-in attempts counted in memory.
#[derive(Debug)]
pub struct InMemoryLoginThrottle {
    per_email: Allowance,
    per_client: Allowance,
    windows: Windows,
}

impl InMemoryLoginThrottle {
    /// A throttle allowing `max_per_email` and `max_per_client` failed attempts per `window`.
    #[must_use]
    pub fn new(max_per_email: u32, max_per_client: u32, window: Duration) -> Self {
        Self {
            per_email: Allowance {
                max: max_per_email,
                window,
            },
            per_client: Allowance {
                max: max_per_client,
                window,
            },
            windows: Windows::default(),
        }
    }
}

fn email_key(email: &str) -> String {
    format!("e:{email}")
}

fn client_key(ip: IpAddr) -> String {
    format!("c:{ip}")
}

#[async_trait]
impl LoginThrottle for InMemoryLoginThrottle {
    async fn attempt(&self, email: &str, client: Option<IpAddr>) -> Result<(), Duration> {
        let mut keys = vec![(email_key(email), self.per_email)];
        keys.extend(client.map(|ip| (client_key(ip), self.per_client)));
        self.windows.count(&keys)
    }

    async fn succeeded(&self, email: &str, client: Option<IpAddr>) {
        self.windows.forget(&email_key(email));
        if let Some(ip) = client {
            self.windows.take_back(&client_key(ip));
        }
    }
}

/// The action limiter in memory (one process).
#[derive(Debug, Default)]
pub struct InMemoryLimiter {
    windows: Windows,
}

#[async_trait]
impl Limiter for InMemoryLimiter {
    async fn acquire(&self, keys: &[(String, Allowance)]) -> Result<(), Duration> {
        self.windows.count(keys)
    }
}

/// The action limiter in Redis, shared by every API replica: one counter per key with the window
/// as its expiry, checked and counted for all keys by one script.
#[derive(Clone)]
pub struct RedisLimiter {
    connection: redis::aio::ConnectionManager,
    script: redis::Script,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisLimiter")
    }
}

/// KEYS: the counters; ARGV: per key its maximum and its window in milliseconds. Returns -1 when
/// every key was counted, otherwise the milliseconds until the fullest key has room (nothing
/// counted).
const COUNT_SCRIPT: &str = r"
local wait = -1
for i, key in ipairs(KEYS) do
  local max = tonumber(ARGV[2 * i - 1])
  local used = tonumber(redis.call('GET', key) or '0')
  if used >= max then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then ttl = tonumber(ARGV[2 * i]) end
    if ttl > wait then wait = ttl end
  end
end
if wait >= 0 then return wait end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[2 * i])
  end
end
return -1
";

impl RedisLimiter {
    /// Connects to Redis at `url`.
    pub async fn connect(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let connection = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            connection,
            script: redis::Script::new(COUNT_SCRIPT),
        })
    }
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn acquire(&self, keys: &[(String, Allowance)]) -> Result<(), Duration> {
        let mut invocation = self.script.prepare_invoke();
        for (key, allowance) in keys {
            invocation
                .key(format!("docent:limit:{key}"))
                .arg(allowance.max)
                .arg(u64::try_from(allowance.window.as_millis()).unwrap_or(u64::MAX));
        }
        let mut connection = self.connection.clone();
        match invocation.invoke_async::<i64>(&mut connection).await {
            Ok(wait) if wait < 0 => Ok(()),
            Ok(wait) => {
                Err(Duration::from_millis(u64::try_from(wait).unwrap_or(0))
                    .max(Duration::from_secs(1)))
            }
            Err(error) => {
                // A limiter that is down must not take sign-up down with it.
                tracing::warn!(%error, "the Redis action limiter failed; allowing the request");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn locks_an_address_after_the_limit_and_success_clears_it() {
        let throttle = InMemoryLoginThrottle::new(3, 100, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(throttle.attempt("a@example.com", Some(ip)).await.is_ok());
        }
        let wait = throttle
            .attempt("a@example.com", Some(ip))
            .await
            .unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert!(throttle.attempt("b@example.com", Some(ip)).await.is_ok());
        throttle.succeeded("a@example.com", Some(ip)).await;
        assert!(throttle.attempt("a@example.com", Some(ip)).await.is_ok());
    }

    #[tokio::test]
    async fn locks_a_client_that_tries_many_addresses() {
        let throttle = InMemoryLoginThrottle::new(100, 2, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        throttle.attempt("x@example.com", Some(ip)).await.unwrap();
        throttle.attempt("y@example.com", Some(ip)).await.unwrap();
        assert!(throttle.attempt("z@example.com", Some(ip)).await.is_err());
        assert!(throttle.attempt("z@example.com", None).await.is_ok());
        // A refused attempt counted nothing for the address either.
        let fresh = InMemoryLoginThrottle::new(1, 1, Duration::from_secs(60));
        fresh.attempt("p@example.com", Some(ip)).await.unwrap();
        assert!(fresh.attempt("q@example.com", Some(ip)).await.is_err());
        assert!(fresh.attempt("q@example.com", None).await.is_ok());
    }

    #[tokio::test]
    async fn concurrent_attempts_never_exceed_the_limit() {
        let throttle = Arc::new(InMemoryLoginThrottle::new(5, 100, Duration::from_secs(60)));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let throttle = throttle.clone();
                tokio::spawn(async move { throttle.attempt("a@example.com", None).await.is_ok() })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            admitted += usize::from(task.await.unwrap());
        }
        assert_eq!(admitted, 5);
    }

    #[tokio::test]
    async fn the_window_expires() {
        let throttle = InMemoryLoginThrottle::new(1, 1, Duration::from_millis(50));
        throttle.attempt("a@example.com", None).await.unwrap();
        assert!(throttle.attempt("a@example.com", None).await.is_err());
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(throttle.attempt("a@example.com", None).await.is_ok());
    }

    #[tokio::test]
    async fn the_limiter_counts_all_keys_or_none() {
        let limiter = InMemoryLimiter::default();
        let org = ("invite:org:1".to_owned(), Allowance::per_day(2));
        let client = ("invite:client:a".to_owned(), Allowance::per_hour(1));
        limiter
            .acquire(&[org.clone(), client.clone()])
            .await
            .unwrap();
        let wait = limiter.acquire(&[org.clone(), client]).await.unwrap_err();
        assert!(wait > Duration::from_secs(3500), "{wait:?}");
        // The refused call did not count against the organization.
        let other_client = ("invite:client:b".to_owned(), Allowance::per_hour(1));
        limiter.acquire(&[org.clone(), other_client]).await.unwrap();
        assert!(limiter.acquire(&[org]).await.is_err());
        assert!(
            limiter
                .acquire(&[("x".to_owned(), Allowance::per_hour(0))])
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn the_redis_limiter_is_shared_and_exact() {
        // The Redis server tests use, as in `rate_limit`'s tests.
        let url = std::env::var("DOCENT_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let first = RedisLimiter::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test Redis at {url}: {e}"));
        let second = RedisLimiter::connect(&url).await.unwrap();
        let key = format!("test:{}", uuid::Uuid::now_v7());
        let allowance = Allowance {
            max: 3,
            window: Duration::from_secs(30),
        };
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let limiter = if i % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let keys = vec![(key.clone(), allowance)];
                tokio::spawn(async move { limiter.acquire(&keys).await.is_ok() })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            admitted += usize::from(task.await.unwrap());
        }
        assert_eq!(admitted, 3);
        let wait = first.acquire(&[(key, allowance)]).await.unwrap_err();
        assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(1));
    }
}
