//! The in-process sign-in throttle: counts failed sign-ins per e-mail address and per client address
//! in a fixed window and locks the key out when the count reaches the limit.
//!
//! A rate limiter such as governor counts every request; this counts only failures and must answer
//! "is this key locked?" without counting, which is why it is a small map rather than a GCRA. State
//! is per process: with several API replicas each keeps its own count (see the README).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use docent_identity::LoginThrottle;

/// Above this many tracked keys, expired entries are purged; far above it, the oldest are dropped.
const MAX_TRACKED_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Failed sign-in counting in memory.
#[derive(Debug)]
pub struct InMemoryLoginThrottle {
    max_per_email: u32,
    max_per_client: u32,
    window: Duration,
    state: Mutex<HashMap<String, Window>>,
}

impl InMemoryLoginThrottle {
    /// A throttle allowing `max_per_email` and `max_per_client` failures per `window`.
    #[must_use]
    pub fn new(max_per_email: u32, max_per_client: u32, window: Duration) -> Self {
        Self {
            max_per_email,
            max_per_client,
            window,
            state: Mutex::new(HashMap::new()),
        }
    }

    fn keys(email: &str, client: Option<IpAddr>) -> [(Option<String>, bool); 2] {
        [
            (Some(format!("e:{email}")), true),
            (client.map(|ip| format!("c:{ip}")), false),
        ]
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl LoginThrottle for InMemoryLoginThrottle {
    async fn check(&self, email: &str, client: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let state = self.lock();
        let mut wait = Duration::ZERO;
        for (key, is_email) in Self::keys(email, client) {
            let Some(window) = key.and_then(|k| state.get(&k).copied()) else {
                continue;
            };
            let limit = if is_email {
                self.max_per_email
            } else {
                self.max_per_client
            };
            let elapsed = now.duration_since(window.started);
            if window.failures >= limit && elapsed < self.window {
                wait = wait.max(self.window - elapsed);
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    async fn record_failure(&self, email: &str, client: Option<IpAddr>) {
        let now = Instant::now();
        let mut state = self.lock();
        if state.len() >= MAX_TRACKED_KEYS {
            let window = self.window;
            state.retain(|_, w| now.duration_since(w.started) < window);
            if state.len() >= MAX_TRACKED_KEYS {
                // Under a flood of distinct keys, forgetting is better than exhausting memory.
                state.clear();
            }
        }
        for key in Self::keys(email, client).into_iter().filter_map(|(k, _)| k) {
            let entry = state.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.duration_since(entry.started) >= self.window {
                *entry = Window {
                    started: now,
                    failures: 0,
                };
            }
            entry.failures = entry.failures.saturating_add(1);
        }
    }

    async fn record_success(&self, email: &str) {
        self.lock().remove(&format!("e:{email}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn locks_an_address_after_the_limit_and_success_clears_it() {
        let throttle = InMemoryLoginThrottle::new(3, 100, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(throttle.check("a@example.com", Some(ip)).await.is_ok());
            throttle.record_failure("a@example.com", Some(ip)).await;
        }
        let wait = throttle.check("a@example.com", Some(ip)).await.unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert!(throttle.check("b@example.com", Some(ip)).await.is_ok());
        throttle.record_success("a@example.com").await;
        assert!(throttle.check("a@example.com", Some(ip)).await.is_ok());
    }

    #[tokio::test]
    async fn locks_a_client_that_tries_many_addresses() {
        let throttle = InMemoryLoginThrottle::new(100, 2, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        throttle.record_failure("x@example.com", Some(ip)).await;
        throttle.record_failure("y@example.com", Some(ip)).await;
        assert!(throttle.check("z@example.com", Some(ip)).await.is_err());
        assert!(throttle.check("z@example.com", None).await.is_ok());
    }

    #[tokio::test]
    async fn the_window_expires() {
        let throttle = InMemoryLoginThrottle::new(1, 1, Duration::from_millis(50));
        throttle.record_failure("a@example.com", None).await;
        assert!(throttle.check("a@example.com", None).await.is_err());
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(throttle.check("a@example.com", None).await.is_ok());
    }
}
