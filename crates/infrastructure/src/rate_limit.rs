//! The in-process per-key rate limiter: one GCRA state per key (governor), with a burst of the
//! key's per-minute limit refilled evenly over the minute. With several API replicas each keeps its
//! own state, so a key's effective limit is multiplied by the number of replicas (see the README).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use docent_kernel::ApiKeyId;
use docent_keys::{KeyRateLimiter, RateDecision};
use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{Quota, RateLimiter};

type Limiter = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    DefaultClock,
    StateInformationMiddleware,
>;

/// Per-key limiters in memory.
#[derive(Debug, Default)]
pub struct InMemoryKeyRateLimiter {
    clock: DefaultClock,
    limiters: Mutex<HashMap<ApiKeyId, (u32, Arc<Limiter>)>>,
}

impl InMemoryKeyRateLimiter {
    fn limiter(&self, key: ApiKeyId, per_minute: NonZeroU32) -> Arc<Limiter> {
        let mut limiters = self
            .limiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match limiters.get(&key) {
            // A changed limit starts a fresh allowance.
            Some((limit, limiter)) if *limit == per_minute.get() => limiter.clone(),
            Some(_) | None => {
                let quota = Quota::per_minute(per_minute);
                let limiter = Arc::new(
                    RateLimiter::direct_with_clock(quota, self.clock.clone())
                        .with_middleware::<StateInformationMiddleware>(),
                );
                limiters.insert(key, (per_minute.get(), limiter.clone()));
                limiter
            }
        }
    }
}

#[async_trait]
impl KeyRateLimiter for InMemoryKeyRateLimiter {
    async fn check(&self, key: ApiKeyId, per_minute: u32) -> RateDecision {
        let Some(limit) = NonZeroU32::new(per_minute) else {
            return RateDecision {
                limit: 0,
                remaining: 0,
                reset: Duration::from_secs(60),
                retry_after: Some(Duration::from_secs(60)),
            };
        };
        let per_request = Duration::from_secs(60) / limit.get();
        match self.limiter(key, limit).check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                RateDecision {
                    limit: limit.get(),
                    remaining,
                    reset: per_request * (limit.get() - remaining.min(limit.get())),
                    retry_after: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                RateDecision {
                    limit: limit.get(),
                    remaining: 0,
                    reset: per_request * limit.get(),
                    retry_after: Some(wait.max(Duration::from_millis(1))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_gets_its_burst_then_waits() {
        let limiter = InMemoryKeyRateLimiter::default();
        let key = ApiKeyId::generate();
        for expected_remaining in (0..3).rev() {
            let decision = limiter.check(key, 3).await;
            assert_eq!(
                (decision.limit, decision.remaining),
                (3, expected_remaining)
            );
            assert!(decision.retry_after.is_none());
        }
        let refused = limiter.check(key, 3).await;
        let wait = refused.retry_after.unwrap();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // Another key has its own allowance.
        assert!(
            limiter
                .check(ApiKeyId::generate(), 3)
                .await
                .retry_after
                .is_none()
        );
        // A raised limit takes effect at once.
        assert!(limiter.check(key, 10).await.retry_after.is_none());
    }
}
