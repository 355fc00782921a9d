//! Wires configuration, storage and adapters into the domain services.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use docent_chat::{ChatPorts, ChatService};
use docent_documents::chunk::Chunker;
use docent_documents::extract::Limits;
use docent_documents::jobs::JobQueue;
use docent_documents::pipeline::{IngestPorts, Ingestor, PipelineSettings};
use docent_documents::ports::{
    BlobStore, DocumentRepo as _, Embedder, EmbeddingTarget, VectorIndex,
};
use docent_documents::{DocumentPorts, DocumentService, UploadLimits};
use docent_identity::{IdentityConfig, IdentityPorts, IdentityService};
use docent_infrastructure::blob::ObjectBlobStore;
use docent_infrastructure::chat_models::ProviderClients;
use docent_infrastructure::config::{
    BlobBackend, Config, EmbeddingConfig, EmbeddingProvider, PdfEngineChoice,
};
use docent_infrastructure::db::{self, SqlStore};
use docent_infrastructure::embedder::LocalEmbedder;
use docent_infrastructure::rate_limit::{InMemoryKeyRateLimiter, RedisKeyRateLimiter};
use docent_infrastructure::remote_embedder::OpenAiEmbedder;
use docent_infrastructure::sandbox::{self, SandboxSettings, SandboxedExtractor};
use docent_infrastructure::secrets::AesGcmBox;
use docent_infrastructure::throttle::{InMemoryLimiter, InMemoryLoginThrottle, RedisLimiter};
use docent_infrastructure::url_guard::NetworkGuard;
use docent_infrastructure::vector::{EdgeIndex, QdrantIndex};
use docent_infrastructure::{mail, tls};
use docent_kernel::{Allowance, Clock, Limiter, Mailer, SystemClock};
use docent_keys::{KeyPorts, KeyRateLimiter, KeyService, MonthlyQuota};
use docent_providers::{ProviderPorts, ProviderService};
use docent_tenancy::{TenancyConfig, TenancyPorts, TenancyService};
use docent_worker::{Worker, WorkerSettings};
use secrecy::ExposeSecret as _;

use crate::access::Access;
use crate::jobs::{JobRouter, OrgPurger};
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::usage::{KeyUsageGate, LedgerUsage};

/// Everything the HTTP API and the worker need, built once at start-up.
#[derive(Debug, Clone)]
pub struct Services {
    /// Resolves callers and their access to organizations: the one access call.
    pub access: Arc<Access>,
    /// Accounts, sessions and passwords.
    pub identity: Arc<IdentityService>,
    /// Organizations, members and invitations.
    pub tenancy: Arc<TenancyService>,
    /// API keys.
    pub keys: Arc<KeyService>,
    /// Model provider connections.
    pub providers: Arc<ProviderService>,
    /// Chatbots, conversations and answers.
    pub chat: Arc<ChatService>,
    /// Documents: uploads, reads, deletion and search.
    pub documents: Arc<DocumentService>,
    /// The ingestion pipeline the worker runs.
    pub ingestor: Arc<Ingestor>,
    /// Every job's handler (documents and organizations' purges).
    jobs_handler: Arc<JobRouter>,
    /// The job queue.
    pub jobs: Arc<dyn JobQueue>,
    /// The vector index (for readiness checks and tests).
    pub index: Arc<dyn VectorIndex>,
    /// The blob store (for tests).
    pub blobs: Arc<dyn BlobStore>,
    /// The embedder (for readiness checks).
    pub embedder: Arc<dyn Embedder>,
    /// The relational store (for readiness checks).
    pub store: SqlStore,
    /// The readiness checks, with the embedder's probe shared between callers.
    readiness: Arc<Readiness>,
    /// The configuration the services were built from.
    pub config: Arc<Config>,
    /// The domain metrics (the HTTP layer serves them at `/metrics`).
    pub metrics: Arc<Metrics>,
    /// Bounds the detached work requests start (password-reset mails), for the API and the
    /// console together.
    background: Arc<tokio::sync::Semaphore>,
}

/// How many detached request tasks may run at once.
const BACKGROUND_TASKS: usize = 64;

/// Why start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open the database {url}: {message}")]
    Database {
        /// The URL with secrets removed.
        url: String,
        /// The cause.
        message: String,
    },
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The mail transport could not be set up.
    #[error("cannot set up mail: {0}")]
    Mail(String),
    /// A service could not be built.
    #[error("cannot start: {0}")]
    Service(String),
}

impl Services {
    /// Checks the dependencies `/readyz` reports on: `(name, error if not ready)`. The database
    /// and the vector index are pinged on every call; the embedder runs a real inference at most
    /// once per probe interval, whose outcome every caller in that interval shares.
    pub async fn readiness(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            (
                "database",
                self.store.ping().await.err().map(|e| e.to_string()),
            ),
            (
                "vector_index",
                self.index.ping().await.err().map(|e| e.to_string()),
            ),
            ("embedder", self.readiness.embedder().await),
        ]
    }

    /// Runs `work` detached, unless [`BACKGROUND_TASKS`] such tasks are running already: then it
    /// is dropped (and logged) and `false` returned. Requests use it for work whose outcome must
    /// not show in their answer or its timing (a password-reset mail).
    pub fn detach(&self, work: impl Future<Output = ()> + Send + 'static) -> bool {
        match self.background.clone().try_acquire_owned() {
            Ok(slot) => {
                tokio::spawn(async move {
                    work.await;
                    drop(slot);
                });
                true
            }
            Err(_) => {
                tracing::warn!("too much detached work in flight; this piece was dropped");
                false
            }
        }
    }

    /// Reads what the metrics take from the database (the job queue) just before a scrape.
    pub async fn refresh_metrics(&self) {
        self.metrics.refresh_jobs(&self.store).await;
    }

    /// The background worker, named `name`, paced as configured.
    #[must_use]
    pub fn worker(&self, name: &str) -> Worker {
        let config = &self.config.worker;
        Worker::new(
            self.jobs.clone(),
            self.jobs_handler.clone(),
            Arc::new(SystemClock),
            WorkerSettings {
                lease: Duration::from_secs(config.lease_secs),
                heartbeat: Duration::from_secs(config.heartbeat_secs.max(1)),
                poll_interval: Duration::from_millis(config.poll_interval_ms.max(10)),
                max_attempts: config.max_attempts.max(1),
                concurrency: config.concurrency.max(1),
                ..WorkerSettings::default()
            },
            name,
        )
    }
}

/// The master key box: the configured key (the key file, if one exists, stays readable as a
/// previous key), or the data directory's key file, generated on first start.
fn secret_box(config: &Config) -> Result<AesGcmBox, BootstrapError> {
    let mut previous = config.secrets.previous_master_keys.clone();
    let file = config.master_key_file();
    let current = match &config.secrets.master_key {
        Some(key) => {
            if file.exists() {
                previous.push(AesGcmBox::key_file(&file).map_err(BootstrapError::Service)?);
            }
            key.clone()
        }
        None => AesGcmBox::key_file(&file).map_err(BootstrapError::Service)?,
    };
    AesGcmBox::new(&current, &previous)
        .map_err(|e| BootstrapError::Service(format!("master_key: {e}")))
}

/// The vector index: a Qdrant server when `qdrant.url` is set, else in-process in the data
/// directory.
/// The embedder these settings name.
fn embedder_for(
    settings: &EmbeddingConfig,
    models_dir: &Path,
) -> Result<Arc<dyn Embedder>, BootstrapError> {
    Ok(
        match (
            settings.provider,
            settings.base_url.as_deref(),
            settings.model.as_deref(),
            settings.dimensions,
        ) {
            (
                EmbeddingProvider::OpenaiCompatible,
                Some(base_url),
                Some(model),
                Some(dimensions),
            ) => Arc::new(OpenAiEmbedder::new(
                base_url,
                settings.api_key.as_ref(),
                model,
                dimensions,
            )),
            // Validation guarantees the settings of the remote provider.
            (EmbeddingProvider::OpenaiCompatible, _, _, _)
            | (EmbeddingProvider::Local, _, _, _) => {
                LocalEmbedder::shared_model(&settings.local_model(models_dir))
                    .map_err(BootstrapError::Service)?
            }
        },
    )
}

/// The model configured before the current one (`[embedding.previous]`) with its collection, for
/// searches while documents are re-embedded; none when unset or the same model.
async fn previous_model(
    config: &Config,
    current: &str,
) -> Result<Option<EmbeddingTarget>, BootstrapError> {
    let Some(settings) = &config.embedding.previous else {
        return Ok(None);
    };
    let embedder = embedder_for(settings, &config.models_dir())?;
    if embedder.model_id() == current {
        tracing::warn!(
            model = current,
            "[embedding.previous] names the current model; it is ignored"
        );
        return Ok(None);
    }
    let index = open_index(config, embedder.model_id(), embedder.dimensions()).await?;
    Ok(Some(EmbeddingTarget { embedder, index }))
}

async fn open_index(
    config: &Config,
    model_id: &str,
    dimensions: usize,
) -> Result<Arc<dyn VectorIndex>, BootstrapError> {
    if let Some(url) = &config.qdrant.url {
        let index = QdrantIndex::connect(url, config.qdrant.api_key.as_ref(), model_id, dimensions)
            .await
            .map_err(BootstrapError::Service)?;
        return Ok(Arc::new(index));
    }
    let dir = config.data_dir.join("vectors");
    let model_id = model_id.to_owned();
    let index = tokio::task::spawn_blocking(move || EdgeIndex::open(&dir, &model_id, dimensions))
        .await
        .map_err(|e| BootstrapError::Service(e.to_string()))?
        .map_err(BootstrapError::Service)?;
    Ok(Arc::new(index))
}

/// Opens the database (creating the data directory and SQLite file as needed), applies migrations
/// when `migrate` is set, and builds the services.
pub async fn bootstrap(config: &Config, migrate: bool) -> Result<Services, BootstrapError> {
    tls::init();
    std::fs::create_dir_all(&config.data_dir).map_err(|source| BootstrapError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let connection = open_database(config).await?;
    if migrate {
        db::migrate_up(&connection)
            .await
            .map_err(|e| BootstrapError::Migration(e.to_string()))?;
    }
    // A serving process keeps verified credentials in memory, exactly (see `db::auth_cache`);
    // the epoch's poll ends by itself once the services are dropped.
    let store = SqlStore::with_auth_cache(connection);
    drop(store.watch_auth_epoch());
    let mailer: Arc<dyn Mailer> = Arc::from(
        mail::from_config(&config.mail, config.mail_dir()).map_err(BootstrapError::Mail)?,
    );
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let metrics = Arc::new(Metrics::default());
    let sql = Arc::new(store.clone());
    let (key_limiter, limiter): (Arc<dyn KeyRateLimiter>, Arc<dyn Limiter>) =
        match &config.redis.url {
            Some(url) => {
                let unreachable =
                    |e: String| BootstrapError::Service(format!("cannot reach redis.url: {e}"));
                (
                    Arc::new(
                        RedisKeyRateLimiter::connect(url.expose_secret())
                            .await
                            .map_err(|e| unreachable(e.to_string()))?,
                    ),
                    Arc::new(
                        RedisLimiter::connect(url.expose_secret())
                            .await
                            .map_err(unreachable)?,
                    ),
                )
            }
            None => (
                Arc::new(InMemoryKeyRateLimiter::default()),
                Arc::new(InMemoryLimiter::default()),
            ),
        };
    let identity = identity_service(
        config,
        sql.clone(),
        limiter.clone(),
        mailer.clone(),
        clock.clone(),
    )?;
    let keys = Arc::new(key_service(config, sql.clone(), key_limiter, clock.clone()));
    let tenancy = tenancy_service(config, sql.clone(), limiter, mailer, clock.clone());
    let local_model = config.local_model();
    let embedder = embedder_for(&config.embedding, &config.models_dir())?;
    let index = open_index(config, embedder.model_id(), embedder.dimensions()).await?;
    let previous = previous_model(config, embedder.model_id()).await?;
    // Documents whose vectors another model made are embedded again, in the background, whether
    // or not the previous model is configured to answer searches meanwhile.
    let stale = sql
        .enqueue_reembedding(embedder.model_id(), clock.now())
        .await
        .map_err(|e| BootstrapError::Service(format!("cannot queue re-embedding: {e}")))?;
    if stale > 0 {
        if previous.is_some() {
            tracing::info!(
                documents = stale,
                model = embedder.model_id(),
                "the embedding model changed: documents are re-embedded in the background; searches use the previous model until an organization's documents are done"
            );
        } else {
            tracing::warn!(
                documents = stale,
                model = embedder.model_id(),
                "the embedding model changed: documents are re-embedded in the background, and until then searches miss them; set [embedding.previous] to the model configured before to keep searching its vectors meanwhile"
            );
        }
    }
    let documents_config = &config.documents;
    let extractor = extractor(config, &local_model.tokenizer())?;
    let blobs: Arc<dyn BlobStore> = Arc::new(
        match config.blobs.backend {
            BlobBackend::Local => ObjectBlobStore::local(&config.blobs_dir()),
            BlobBackend::S3 => ObjectBlobStore::s3(&config.blobs.s3),
        }
        .map_err(BootstrapError::Service)?,
    );
    let documents = Arc::new(DocumentService::new(
        DocumentPorts {
            repo: sql.clone(),
            blobs: blobs.clone(),
            index: index.clone(),
            embedder: metrics.embedder(embedder.clone(), "query"),
            previous: previous.clone(),
            audit: sql.clone(),
            clock: clock.clone(),
        },
        UploadLimits {
            max_upload_bytes: documents_config.max_upload_bytes,
            max_chars: u64::try_from(documents_config.max_chars).unwrap_or(u64::MAX),
        },
    ));
    let ingestor = Ingestor::new(
        IngestPorts {
            repo: sql.clone(),
            blobs: blobs.clone(),
            index: index.clone(),
            embedder: metrics.embedder(embedder.clone(), "ingest"),
            previous: previous.clone(),
            extractor: Arc::new(extractor),
            usage: Arc::new(LedgerUsage::new(sql.clone(), metrics.clone())),
            clock: clock.clone(),
        },
        PipelineSettings {
            limits: Limits {
                max_pages: documents_config.max_pages,
                max_chars: documents_config.max_chars,
                max_unpacked_bytes: documents_config.max_unpacked_bytes,
                ..Limits::default()
            },
            embed_batch: documents_config.embed_batch,
        },
    );
    let providers = Arc::new(provider_service(
        config,
        sql.clone(),
        clock.clone(),
        &metrics,
    )?);
    let chat = ChatService::new(ChatPorts {
        chatbots: sql.clone(),
        conversations: sql.clone(),
        documents: documents.clone(),
        providers: providers.clone(),
        models: metrics.chat_models(Arc::new(provider_clients(config)?)),
        gate: Arc::new(KeyUsageGate::new(keys.clone(), metrics.clone())),
        audit: sql.clone(),
        clock,
    })
    .with_send_timeout(Duration::from_secs(config.chat.send_timeout_secs.max(1)));
    let identity = Arc::new(identity);
    let tenancy = Arc::new(tenancy);
    let ingestor = Arc::new(ingestor);
    let jobs_handler = Arc::new(JobRouter {
        documents: ingestor.clone(),
        orgs: Arc::new(OrgPurger {
            store: store.clone(),
            index: index.clone(),
            previous_index: previous.map(|p| p.index),
            blobs: blobs.clone(),
            clock: Arc::new(SystemClock),
            retention: chrono::Duration::days(i64::from(config.retention.deleted_org_days)),
        }),
    });
    Ok(Services {
        access: Arc::new(Access::new(identity.clone(), tenancy.clone(), keys.clone())),
        providers,
        chat: Arc::new(chat),
        identity,
        tenancy,
        keys,
        documents,
        ingestor,
        jobs_handler,
        jobs: sql,
        readiness: Arc::new(Readiness::new(embedder.clone())),
        index,
        blobs,
        embedder,
        store,
        config: Arc::new(config.clone()),
        metrics,
        background: Arc::new(tokio::sync::Semaphore::new(BACKGROUND_TASKS)),
    })
}

/// The extraction sandbox: children of the configured program (by default this binary), chunking
/// with `tokenizer`, checked here so that a missing model or bad chunk settings stop start-up.
fn extractor(config: &Config, tokenizer: &Path) -> Result<SandboxedExtractor, BootstrapError> {
    let documents = &config.documents;
    let bytes = std::fs::read(tokenizer).map_err(|e| {
        BootstrapError::Service(format!(
            "cannot read the tokenizer {} ({e}); run scripts/fetch-models",
            tokenizer.display()
        ))
    })?;
    Chunker::new(&bytes, documents.chunk_tokens, documents.chunk_overlap)
        .map_err(BootstrapError::Service)?;
    let absolute = |path: &Path| {
        std::fs::canonicalize(path)
            .map_err(|e| BootstrapError::Service(format!("{}: {e}", path.display())))
    };
    let settings = SandboxSettings {
        tokenizer: absolute(tokenizer)?,
        chunk_tokens: documents.chunk_tokens,
        chunk_overlap: documents.chunk_overlap,
        deadline: Duration::from_secs(documents.extract_timeout_secs),
        memory_bytes: documents.extract_memory_mb.saturating_mul(1024 * 1024),
        max_input_bytes: documents.max_upload_bytes,
        pdfium: pdfium_library(config)?,
    };
    match &documents.extractor_program {
        // Absolute but not resolved: the child shows the configured name.
        Some(program) => Ok(SandboxedExtractor::new(
            std::path::absolute(program)
                .map_err(|e| BootstrapError::Service(format!("{}: {e}", program.display())))?,
            vec![sandbox::CHILD_ARG.into()],
            settings,
        )),
        None => SandboxedExtractor::of_this_binary(settings).map_err(BootstrapError::Service),
    }
}

/// PDFium's library for the sandbox, as `documents.pdf_engine` asks: absolute, since the child
/// runs in `/`.
fn pdfium_library(config: &Config) -> Result<Option<PathBuf>, BootstrapError> {
    let library = config.pdfium_library();
    let found = std::fs::canonicalize(&library);
    match (config.documents.pdf_engine, found) {
        (PdfEngineChoice::Builtin, _) => Ok(None),
        (_, Ok(path)) => {
            tracing::info!(library = %path.display(), "PDFs are read by PDFium");
            Ok(Some(path))
        }
        (PdfEngineChoice::Pdfium, Err(e)) => Err(BootstrapError::Service(format!(
            "documents.pdf_engine is pdfium, but {} cannot be read ({e}); run scripts/fetch-models \
             or set documents.pdfium_library",
            library.display()
        ))),
        (PdfEngineChoice::Auto, Err(_)) => {
            tracing::warn!(
                library = %library.display(),
                "PDFium not found: PDFs are read by the built-in reader, which loses ligatures in \
                 fonts without a ToUnicode map (LaTeX's); run scripts/fetch-models"
            );
            Ok(None)
        }
    }
}

/// The HTTP clients for model providers, as the operator configured them.
fn provider_clients(config: &Config) -> Result<ProviderClients, BootstrapError> {
    ProviderClients::with_proxy(
        config.providers.allow_private_base_urls,
        config.providers.proxy_url.as_deref(),
    )
    .map_err(BootstrapError::Service)
}

/// The provider service over the store, with the configured master key and network guard.
fn provider_service(
    config: &Config,
    store: Arc<SqlStore>,
    clock: Arc<dyn Clock>,
    metrics: &Arc<Metrics>,
) -> Result<ProviderService, BootstrapError> {
    let allow_private = config.providers.allow_private_base_urls;
    Ok(ProviderService::new(ProviderPorts {
        repo: store.clone(),
        secrets: Arc::new(secret_box(config)?),
        guard: Arc::new(NetworkGuard::new(allow_private)),
        models: metrics.chat_models(Arc::new(provider_clients(config)?)),
        audit: store,
        clock,
    }))
}

/// The key service over the relational store (also what `docent-api` uses for temporary keys).
pub(crate) fn key_service(
    config: &Config,
    sql: Arc<SqlStore>,
    limiter: Arc<dyn KeyRateLimiter>,
    clock: Arc<dyn Clock>,
) -> KeyService {
    let limits = &config.limits;
    KeyService::new(
        KeyPorts {
            repo: sql.clone(),
            limiter,
            usage: sql.clone(),
            audit: sql.clone(),
            clock,
            chatbots: sql,
        },
        MonthlyQuota {
            messages: limits.org_monthly_message_quota,
            tokens: limits.org_monthly_token_quota,
        },
    )
}

/// The tenancy service over the relational store.
pub(crate) fn tenancy_service(
    config: &Config,
    sql: Arc<SqlStore>,
    limiter: Arc<dyn Limiter>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
) -> TenancyService {
    let limits = &config.limits;
    TenancyService::new(
        TenancyPorts {
            orgs: sql.clone(),
            members: sql.clone(),
            invitations: sql.clone(),
            audit: sql,
            mailer,
            limiter,
            clock,
        },
        TenancyConfig {
            invitation_ttl: chrono::Duration::days(7),
            public_url: config.public_url(),
            invitations_per_org: Allowance::per_day(limits.invitations_per_org_per_day),
            invitations_per_client: Allowance::per_hour(limits.invitations_per_client_per_hour),
        },
    )
}

/// The identity service over the relational store (also what `docent-api admin` uses).
pub(crate) fn identity_service(
    config: &Config,
    sql: Arc<SqlStore>,
    limiter: Arc<dyn Limiter>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
) -> Result<IdentityService, BootstrapError> {
    let limits = &config.limits;
    IdentityService::new(
        IdentityPorts {
            users: sql.clone(),
            sessions: sql.clone(),
            resets: sql,
            throttle: Arc::new(InMemoryLoginThrottle::new(
                config.auth.max_failures_per_email,
                config.auth.max_failures_per_client,
                Duration::from_secs(config.auth.failure_window_secs),
            )),
            limiter,
            mailer,
            clock,
        },
        IdentityConfig {
            session_ttl: chrono::Duration::hours(i64::from(config.session.lifetime_hours)),
            reset_ttl: chrono::Duration::minutes(30),
            reset_interval: chrono::Duration::seconds(
                i64::try_from(config.auth.password_reset_interval_secs).unwrap_or(i64::MAX),
            ),
            public_url: config.public_url(),
            signups_per_client: Allowance::per_hour(limits.signups_per_client_per_hour),
            resets_per_client: Allowance::per_hour(limits.password_resets_per_client_per_hour),
        },
    )
    .map_err(|e| BootstrapError::Service(e.to_string()))
}

/// What `docent-api migrate` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the last applied migration.
    Down,
    /// List applied and pending migrations.
    Status,
}

/// Runs `docent-api migrate`; returns the listing for `Status`.
pub async fn migrate(config: &Config, action: MigrateAction) -> Result<String, BootstrapError> {
    let connection = open_database(config).await?;
    let failed = |e: db::MigrationError| BootstrapError::Migration(e.to_string());
    match action {
        MigrateAction::Up => db::migrate_up(&connection).await.map_err(failed)?,
        MigrateAction::Down => db::migrate_down(&connection, Some(1))
            .await
            .map_err(failed)?,
        MigrateAction::Status => {
            let (applied, pending) = db::migration_status(&connection).await.map_err(failed)?;
            let applied = applied.iter().map(|m| format!("applied  {m}\n"));
            let pending = pending.iter().map(|m| format!("pending  {m}\n"));
            return Ok(applied.chain(pending).collect());
        }
    }
    Ok(String::new())
}

/// Runs `docent-api rotate-master-key`: re-seals every provider API key under the current master
/// key. Needs only the database and the keys (not the vector index), so it can run next to a
/// serving instance. Returns how many keys were re-sealed.
pub async fn rotate_master_key(config: &Config) -> Result<u64, BootstrapError> {
    let store = Arc::new(SqlStore::new(open_database(config).await?));
    provider_service(config, store, Arc::new(SystemClock), &Arc::default())?
        .reseal_all()
        .await
        .map_err(|e| BootstrapError::Service(format!("re-sealing provider API keys: {e}")))
}

/// Opens the configured database without building services (for `docent-api migrate`).
pub async fn open_database(config: &Config) -> Result<db::Connection, BootstrapError> {
    tls::init();
    if config.uses_sqlite() {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| BootstrapError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
    }
    db::connect(&config.database_url(), config.database.max_connections)
        .await
        .map_err(|e| BootstrapError::Database {
            url: docent_infrastructure::config::redact_url(&config.database_url()),
            message: e.to_string(),
        })
}
