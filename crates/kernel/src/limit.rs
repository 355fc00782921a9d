//! The action-limiter port: caps on how often one client or one organization may do something
//! costly for the server or for other people (sign up, ask for reset mails, send invitations).
//! `docent-identity` and `docent-tenancy` both count through it, with keys of their own.

use std::time::Duration;

use async_trait::async_trait;

/// At most `max` events per `window`; a `max` of 0 refuses every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// Events allowed per window.
    pub max: u32,
    /// The window.
    pub window: Duration,
}

impl Allowance {
    /// `max` events per hour.
    #[must_use]
    pub const fn per_hour(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(3600),
        }
    }

    /// `max` events per day.
    #[must_use]
    pub const fn per_day(max: u32) -> Self {
        Self {
            max,
            window: Duration::from_secs(24 * 3600),
        }
    }
}

/// Counts events per key in fixed windows.
#[async_trait]
pub trait Limiter: Send + Sync + std::fmt::Debug {
    /// Counts one event for every key in `keys` when none of them is over its allowance;
    /// otherwise counts nothing and answers `Err(retry_after)` (how long until the fullest key
    /// has room again). Checking and counting is one atomic step, so concurrent callers never get
    /// more than the allowance between them.
    async fn acquire(&self, keys: &[(String, Allowance)]) -> Result<(), Duration>;
}

/// A limiter that counts in memory and never forgets (windows never end): for domain unit tests,
/// like [`crate::ManualClock`].
#[derive(Debug, Default)]
pub struct CountingLimiter(std::sync::Mutex<std::collections::HashMap<String, u32>>);

#[async_trait]
impl Limiter for CountingLimiter {
    async fn acquire(&self, keys: &[(String, Allowance)]) -> Result<(), Duration> {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, allowance)) = keys
            .iter()
            .find(|(key, allowance)| counts.get(key).copied().unwrap_or(0) >= allowance.max)
        {
            return Err(allowance.window);
        }
        for (key, _) in keys {
            *counts.entry(key.clone()).or_default() += 1;
        }
        Ok(())
    }
}
