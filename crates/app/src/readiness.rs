//! The embedder's readiness probe, shared: `/readyz` may be called by every load balancer and
//! monitor at once, and a real inference per call would let anonymous callers keep the CPU busy.
//! At most one probe runs at a time and its outcome is reused for [`PROBE_INTERVAL`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use docent_documents::ports::Embedder;
use tokio::sync::Mutex;

/// How long one real probe of the embedder answers for.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// The outcome of the last probe: when, and the failure if it failed.
type Probed = (Instant, Option<String>);

/// Probes the embedder at most once per [`PROBE_INTERVAL`].
#[derive(Debug)]
pub(crate) struct Readiness {
    embedder: Arc<dyn Embedder>,
    last: Mutex<Option<Probed>>,
    probes: std::sync::atomic::AtomicU64,
}

impl Readiness {
    pub(crate) fn new(embedder: Arc<dyn Embedder>) -> Self {
        Self {
            embedder,
            last: Mutex::new(None),
            probes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `None` when the embedder answered its last probe, else why not. Callers that arrive while
    /// a probe runs wait for it instead of starting another.
    pub(crate) async fn embedder(&self) -> Option<String> {
        let mut last = self.last.lock().await;
        if let Some((at, outcome)) = &*last
            && at.elapsed() < PROBE_INTERVAL
        {
            return outcome.clone();
        }
        self.probes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = match self.embedder.embed(vec!["ready".to_owned()]).await {
            Ok(vectors) if vectors.first().map(Vec::len) == Some(self.embedder.dimensions()) => {
                None
            }
            Ok(_) => Some("the embedder returned no vector of the expected size".to_owned()),
            Err(e) => Some(e.to_string()),
        };
        *last = Some((Instant::now(), outcome.clone()));
        outcome
    }

    /// How many real probes ran.
    #[cfg(test)]
    pub(crate) fn probes(&self) -> u64 {
        self.probes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use docent_documents::ports::EmbedError;

    use super::*;

    #[derive(Debug, Default)]
    struct Slow(std::sync::atomic::AtomicU64);

    #[async_trait]
    impl Embedder for Slow {
        fn model_id(&self) -> &str {
            "slow"
        }
        fn dimensions(&self) -> usize {
            2
        }
        async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_probe() {
        let embedder = Arc::new(Slow::default());
        let readiness = Arc::new(Readiness::new(embedder.clone()));
        let callers: Vec<_> = (0..50)
            .map(|_| {
                let readiness = readiness.clone();
                tokio::spawn(async move { readiness.embedder().await })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), None);
        }
        assert_eq!(readiness.embedder().await, None);
        assert_eq!(embedder.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(readiness.probes(), 1);
    }
}
