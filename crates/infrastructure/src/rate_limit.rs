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

/// The GCRA in Redis, so every API replica shares one allowance per key. The script keeps a key's
/// theoretical arrival time (TAT) in milliseconds, on Redis's own clock, and answers
/// `{allowed, retry_after_ms, remaining, reset_ms}`.
const GCRA_SCRIPT: &str = r"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now_ms)
if tat < now_ms then tat = now_ms end
local allow_at = tat - (burst - 1) * interval
if now_ms < allow_at then
  return {0, allow_at - now_ms, 0, tat - now_ms}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now_ms))
local remaining = math.floor((now_ms - (new_tat - burst * interval)) / interval)
return {1, 0, remaining, new_tat - now_ms}
";

/// Per-key limits kept in Redis (`DOCENT_REDIS__URL`). When Redis cannot be reached a request is let
/// through and the failure logged: an outage of the limiter must not take the API down with it.
#[derive(Clone)]
pub struct RedisKeyRateLimiter {
    connection: redis::aio::ConnectionManager,
    script: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisKeyRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisKeyRateLimiter")
    }
}

impl RedisKeyRateLimiter {
    /// Connects to Redis at `url` (the connection is re-established by itself when it drops).
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        // A limiter that answers slowly is worse than none: short timeouts, few retries. A request
        // that cannot reach Redis is let through (see `check`).
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_millis(500)));
        let connection = redis::aio::ConnectionManager::new_with_config(client, config).await?;
        Ok(Self {
            connection,
            script: Arc::new(redis::Script::new(GCRA_SCRIPT)),
        })
    }
}

#[async_trait]
impl KeyRateLimiter for RedisKeyRateLimiter {
    async fn check(&self, key: ApiKeyId, per_minute: u32) -> RateDecision {
        let limit = per_minute.max(1);
        let interval_ms = (60_000 / u64::from(limit)).max(1);
        let mut connection = self.connection.clone();
        // The limit is part of the key, so a changed limit starts a fresh allowance.
        let answer: Result<Vec<i64>, _> = self
            .script
            .key(format!("docent:ratelimit:{key}:{limit}"))
            .arg(interval_ms)
            .arg(limit)
            .invoke_async(&mut connection)
            .await;
        let millis = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
        match answer.as_deref() {
            Ok([allowed, retry_after, remaining, reset]) => RateDecision {
                limit,
                remaining: u32::try_from(*remaining).unwrap_or(0),
                reset: millis(*reset),
                retry_after: (*allowed == 0)
                    .then(|| millis(*retry_after).max(Duration::from_millis(1))),
            },
            Ok(other) => {
                tracing::error!(
                    ?other,
                    "unexpected answer from the Redis rate limiter; request allowed"
                );
                RateDecision {
                    limit,
                    remaining: limit,
                    reset: Duration::ZERO,
                    retry_after: None,
                }
            }
            Err(error) => {
                tracing::error!(%error, "the Redis rate limiter is unreachable; request allowed");
                RateDecision {
                    limit,
                    remaining: limit,
                    reset: Duration::ZERO,
                    retry_after: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod redis_tests {
    use super::*;

    /// The Redis server tests use (`DOCENT_TEST_REDIS_URL`, default the local one).
    fn redis_url() -> String {
        std::env::var("DOCENT_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
    }

    #[tokio::test]
    async fn replicas_share_one_allowance_in_redis() {
        let url = redis_url();
        let first = RedisKeyRateLimiter::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test Redis at {url}: {e}"));
        let second = RedisKeyRateLimiter::connect(&url).await.unwrap();
        let key = ApiKeyId::generate();
        // Two "replicas" draw from the same three requests.
        let decisions = [
            first.check(key, 3).await,
            second.check(key, 3).await,
            first.check(key, 3).await,
        ];
        let remaining: Vec<u32> = decisions.iter().map(|d| d.remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        assert!(
            decisions
                .iter()
                .all(|d| d.retry_after.is_none() && d.limit == 3)
        );
        let refused = second.check(key, 3).await;
        let wait = refused.retry_after.unwrap();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // Another key is untouched; a raised limit is a fresh allowance.
        assert!(
            first
                .check(ApiKeyId::generate(), 3)
                .await
                .retry_after
                .is_none()
        );
        assert!(first.check(key, 10).await.retry_after.is_none());
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_at_start_up() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        assert!(
            RedisKeyRateLimiter::connect("redis://127.0.0.1:1")
                .await
                .is_err()
        );
    }
}
