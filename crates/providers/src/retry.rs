//! Retrying model calls: transient failures (rate limits, server errors, timeouts) are tried again
//! with exponential backoff and jitter, waiting at least as long as the provider's `Retry-After`
//! asks; permanent failures and context overflows are returned at once (the caller trims the
//! prompt for the latter).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng as _;

use crate::chat::{ChatError, ChatModel, ChatRequest, ChatResponse, ChatStream};

/// How a model call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first delay; it doubles with every attempt.
    pub base: Duration,
    /// The longest delay of our own choosing.
    pub max: Duration,
    /// The longest `Retry-After` honoured; a provider asking for more fails the call instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base: Duration::from_millis(500),
            max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (`attempt` from 1): backoff with full jitter between
    /// half and all of it, but never less than the provider's `Retry-After`. `None` when the
    /// provider asks for longer than `max_retry_after`.
    #[must_use]
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let exponent = attempt.saturating_sub(1).min(16);
        let full = self.base.saturating_mul(1_u32 << exponent).min(self.max);
        let jittered = full.mul_f64(rand::rng().random_range(0.5..=1.0));
        match retry_after {
            Some(asked) if asked > self.max_retry_after => None,
            Some(asked) => Some(jittered.max(asked)),
            None => Some(jittered),
        }
    }
}

/// A model whose transient failures are retried.
#[derive(Debug, Clone)]
pub struct Retrying {
    inner: Arc<dyn ChatModel>,
    policy: RetryPolicy,
}

impl Retrying {
    /// Wraps `inner`.
    #[must_use]
    pub fn new(inner: Arc<dyn ChatModel>, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }

    async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, ChatError>
    where
        F: FnMut() -> Fut + Send,
        Fut: std::future::Future<Output = Result<T, ChatError>> + Send,
        T: Send,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(ChatError::Transient {
                    message,
                    retry_after,
                }) if attempt < self.policy.attempts => {
                    let Some(wait) = self.policy.delay(attempt, retry_after) else {
                        return Err(ChatError::Transient {
                            message,
                            retry_after,
                        });
                    };
                    tracing::warn!(attempt, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), %message, "model call failed; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl ChatModel for Retrying {
    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ChatError> {
        self.run(|| self.inner.complete(request.clone())).await
    }

    /// Only opening the stream is retried: once text has flowed, a retry would repeat it.
    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, ChatError> {
        self.run(|| self.inner.stream(request.clone())).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::chat::{ChatMessage, ChatRole, ChatUsage};

    /// Answers with the scripted outcomes in order, then succeeds.
    #[derive(Debug)]
    struct Scripted {
        outcomes: Mutex<Vec<ChatError>>,
        calls: Mutex<u32>,
    }

    impl Scripted {
        fn new(outcomes: Vec<ChatError>) -> Arc<Self> {
            Arc::new(Self {
                outcomes: Mutex::new(outcomes),
                calls: Mutex::new(0),
            })
        }

        fn calls(&self) -> u32 {
            *self.calls.lock().unwrap()
        }
    }

    #[async_trait]
    impl ChatModel for Scripted {
        async fn complete(&self, _request: ChatRequest) -> Result<ChatResponse, ChatError> {
            *self.calls.lock().unwrap() += 1;
            let mut outcomes = self.outcomes.lock().unwrap();
            if outcomes.is_empty() {
                Ok(ChatResponse {
                    content: "ok".into(),
                    usage: ChatUsage::default(),
                    truncated: false,
                })
            } else {
                Err(outcomes.remove(0))
            }
        }

        async fn stream(&self, _request: ChatRequest) -> Result<ChatStream, ChatError> {
            Err(ChatError::Permanent("no streams here".into()))
        }
    }

    fn request() -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage {
                role: ChatRole::User,
                content: "hi".into(),
            }],
            temperature: None,
            max_tokens: None,
        }
    }

    fn transient(retry_after: Option<u64>) -> ChatError {
        ChatError::Transient {
            message: "busy".into(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_honouring_retry_after() {
        let model = Scripted::new(vec![transient(Some(5)), transient(None)]);
        let retrying = Retrying::new(model.clone(), RetryPolicy::default());
        let started = tokio::time::Instant::now();
        assert_eq!(retrying.complete(request()).await.unwrap().content, "ok");
        assert_eq!(model.calls(), 3);
        // At least the five seconds the provider asked for, plus the second backoff.
        assert!(
            started.elapsed() >= Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_and_long_waits_are_not_retried() {
        let model = Scripted::new(vec![ChatError::Permanent("bad key".into())]);
        let retrying = Retrying::new(model.clone(), RetryPolicy::default());
        assert!(matches!(
            retrying.complete(request()).await,
            Err(ChatError::Permanent(_))
        ));
        assert_eq!(model.calls(), 1);

        let model = Scripted::new(vec![ChatError::ContextTooLong("2048".into())]);
        let retrying = Retrying::new(model.clone(), RetryPolicy::default());
        assert!(matches!(
            retrying.complete(request()).await,
            Err(ChatError::ContextTooLong(_))
        ));
        assert_eq!(model.calls(), 1);

        // Asking for an hour: give up now rather than hang the caller.
        let model = Scripted::new(vec![transient(Some(3600))]);
        let retrying = Retrying::new(model.clone(), RetryPolicy::default());
        assert!(matches!(
            retrying.complete(request()).await,
            Err(ChatError::Transient { .. })
        ));
        assert_eq!(model.calls(), 1);

        // Out of attempts: the last error.
        let model = Scripted::new(vec![transient(None), transient(None), transient(None)]);
        let retrying = Retrying::new(model.clone(), RetryPolicy::default());
        assert!(matches!(
            retrying.complete(request()).await,
            Err(ChatError::Transient { .. })
        ));
        assert_eq!(model.calls(), 3);
    }

    #[test]
    fn delays_double_within_bounds_and_respect_retry_after() {
        let policy = RetryPolicy::default();
        for (attempt, full) in [(1, 500), (2, 1000), (3, 2000), (10, 8000)] {
            let delay = policy.delay(attempt, None).unwrap();
            let full = Duration::from_millis(full);
            assert!(delay <= full && delay >= full / 2, "{attempt}: {delay:?}");
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(10))),
            Some(Duration::from_secs(10))
        );
        assert_eq!(policy.delay(1, Some(Duration::from_secs(31))), None);
    }
}
