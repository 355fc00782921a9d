//! The metrics an operator reads besides HTTP's: the job queue by kind, ingestion throughput,
//! embedding and provider latency, provider errors by kind, tokens used and quota rejections.
//! They come from decorators around the domain's ports (the domain crates know nothing of
//! Prometheus) and from the job queue, read when `/metrics` is scraped. The HTTP layer registers
//! them beside its own with [`Metrics::register`].
//!
//! A separate `docent-worker` process keeps its ingestion metrics to itself (it serves no
//! `/metrics`); the job-queue gauges, read from the database, cover every worker.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use docent_documents::jobs::JobKind;
use docent_documents::ports::{EmbedError, Embedder};
use docent_infrastructure::db::SqlStore;
use docent_infrastructure::db::admin::JobCounts;
use docent_kernel::{Clock as _, SecretString, SystemClock};
use docent_providers::chat::{ChatRequest, ChatResponse, ChatStream};
use docent_providers::{ChatError, ChatModel, ChatModels, Provider};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PurposeLabels {
    purpose: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    kind: &'static str,
    call: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderErrorLabels {
    kind: &'static str,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuotaLabels {
    holder: &'static str,
    quota: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds() -> Histogram {
    // 1 ms to ~32 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The domain metrics of one process. Every label comes from a closed set (job kinds are the
/// queue's own names).
#[derive(Debug, Clone)]
pub struct Metrics {
    jobs: Family<JobLabels, Gauge>,
    ingested_chunks: Counter,
    embedding_seconds: Histograms<PurposeLabels>,
    provider_seconds: Histograms<ProviderLabels>,
    provider_errors: Family<ProviderErrorLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    quota_rejections: Family<QuotaLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            jobs: Family::default(),
            ingested_chunks: Counter::default(),
            embedding_seconds: Family::new_with_constructor(seconds),
            provider_seconds: Family::new_with_constructor(seconds),
            provider_errors: Family::default(),
            tokens: Family::default(),
            quota_rejections: Family::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric in `registry` (prefixed as the registry is).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "jobs",
            "Jobs by kind and state (queued, running, failed), read from the queue when scraped",
            self.jobs.clone(),
        );
        registry.register(
            "ingested_chunks",
            "Chunks embedded by the ingestion pipeline (its rate is ingestion's chunks per second)",
            self.ingested_chunks.clone(),
        );
        registry.register(
            "embedding_duration_seconds",
            "Embedding calls by purpose (ingest: a batch of chunks; query: a search)",
            self.embedding_seconds.clone(),
        );
        registry.register(
            "provider_request_duration_seconds",
            "Model provider calls by provider kind (stream: until the stream opened)",
            self.provider_seconds.clone(),
        );
        registry.register(
            "provider_errors",
            "Model provider errors by provider kind and error kind",
            self.provider_errors.clone(),
        );
        registry.register(
            "tokens",
            "Tokens used: prompt and completion tokens of answers, embedded tokens of documents",
            self.tokens.clone(),
        );
        registry.register(
            "quota_rejections",
            "Messages refused by a monthly quota, by holder (organization, API key) and quota",
            self.quota_rejections.clone(),
        );
    }

    /// Reads the job queue into the `jobs` gauges.
    pub async fn refresh_jobs(&self, store: &SqlStore) {
        match store.job_counts(SystemClock.now()).await {
            Ok(counts) => {
                self.jobs.clear();
                // Every kind is reported, at zero when none is in the queue.
                let idle = JobKind::ALL
                    .iter()
                    .filter(|kind| !counts.iter().any(|(k, _)| k == kind.as_str()))
                    .map(|kind| (kind.as_str().to_owned(), JobCounts::default()))
                    .collect::<Vec<_>>();
                let all: Vec<_> = counts.into_iter().chain(idle).collect();
                for (kind, counts) in all {
                    for (state, value) in [
                        ("queued", counts.queued),
                        ("running", counts.running),
                        ("failed", counts.failed),
                    ] {
                        self.jobs
                            .get_or_create(&JobLabels {
                                kind: kind.clone(),
                                state,
                            })
                            .set(i64::try_from(value).unwrap_or(i64::MAX));
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "could not read the job queue for /metrics"),
        }
    }

    /// Counts tokens of `kind` (`prompt`, `completion`, `embedded`).
    pub(crate) fn tokens(&self, kind: &'static str, tokens: u64) {
        self.tokens
            .get_or_create(&TokenLabels { kind })
            .inc_by(tokens);
    }

    /// Counts a message refused by a quota.
    pub(crate) fn quota_rejected(&self, holder: &'static str, quota: &'static str) {
        self.quota_rejections
            .get_or_create(&QuotaLabels { holder, quota })
            .inc();
    }

    /// The embedder, timed, for `purpose` (`ingest` also counts the chunks).
    pub(crate) fn embedder(
        self: &Arc<Self>,
        inner: Arc<dyn Embedder>,
        purpose: &'static str,
    ) -> Arc<dyn Embedder> {
        Arc::new(MeteredEmbedder {
            inner,
            metrics: self.clone(),
            purpose,
        })
    }

    /// The provider clients, timed and with their errors counted.
    pub(crate) fn chat_models(self: &Arc<Self>, inner: Arc<dyn ChatModels>) -> Arc<dyn ChatModels> {
        Arc::new(MeteredChatModels {
            inner,
            metrics: self.clone(),
        })
    }

    fn provider_call<T>(
        &self,
        kind: &'static str,
        call: &'static str,
        started: Instant,
        result: &Result<T, ChatError>,
    ) {
        self.provider_seconds
            .get_or_create(&ProviderLabels { kind, call })
            .observe(started.elapsed().as_secs_f64());
        if let Err(error) = result {
            let error = match error {
                ChatError::Transient { .. } => "transient",
                ChatError::Permanent(_) => "permanent",
                ChatError::ContextTooLong(_) => "context_too_long",
            };
            self.provider_errors
                .get_or_create(&ProviderErrorLabels { kind, error })
                .inc();
        }
    }
}

#[derive(Debug)]
struct MeteredEmbedder {
    inner: Arc<dyn Embedder>,
    metrics: Arc<Metrics>,
    purpose: &'static str,
}

#[async_trait]
impl Embedder for MeteredEmbedder {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let count = texts.len() as u64;
        let started = Instant::now();
        let result = self.inner.embed(texts).await;
        self.metrics
            .embedding_seconds
            .get_or_create(&PurposeLabels {
                purpose: self.purpose,
            })
            .observe(started.elapsed().as_secs_f64());
        if self.purpose == "ingest" && result.is_ok() {
            self.metrics.ingested_chunks.inc_by(count);
        }
        result
    }
}

#[derive(Debug)]
struct MeteredChatModels {
    inner: Arc<dyn ChatModels>,
    metrics: Arc<Metrics>,
}

impl ChatModels for MeteredChatModels {
    fn connect(
        &self,
        provider: &Provider,
        api_key: Option<SecretString>,
    ) -> Result<Arc<dyn ChatModel>, ChatError> {
        let inner = self.inner.connect(provider, api_key)?;
        Ok(Arc::new(MeteredChatModel {
            inner,
            kind: provider.kind.as_str(),
            metrics: self.metrics.clone(),
        }))
    }
}

#[derive(Debug)]
struct MeteredChatModel {
    inner: Arc<dyn ChatModel>,
    kind: &'static str,
    metrics: Arc<Metrics>,
}

#[async_trait]
impl ChatModel for MeteredChatModel {
    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ChatError> {
        let started = Instant::now();
        let result = self.inner.complete(request).await;
        self.metrics
            .provider_call(self.kind, "complete", started, &result);
        result
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, ChatError> {
        let started = Instant::now();
        let result = self.inner.stream(request).await;
        self.metrics
            .provider_call(self.kind, "stream", started, &result);
        result
    }
}
