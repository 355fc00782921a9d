//! Wires configuration, storage and adapters into the domain services.

use std::sync::Arc;
use std::time::Duration;

use docent_chat::ChatService;
use docent_documents::chunk::Chunker;
use docent_documents::extract::Limits;
use docent_documents::jobs::JobQueue;
use docent_documents::pipeline::{EmbeddingUsage, Ingestor, PipelineSettings};
use docent_documents::ports::{BlobStore, Embedder, VectorIndex};
use docent_documents::{DocumentService, UploadLimits};
use docent_providers::ProviderService;
use docent_worker::{Worker, WorkerSettings};

use docent_identity::{IdentityConfig, IdentityService};
use docent_kernel::{Clock, Mailer, SystemClock};
use docent_keys::{KeyRateLimiter, KeyService, MonthlyQuota};
use docent_tenancy::{TenancyConfig, TenancyService};
use secrecy::ExposeSecret as _;

use crate::blob::ObjectBlobStore;
use crate::chat_models::ProviderClients;
use crate::chat_usage::KeyUsageGate;
use crate::config::{BlobBackend, Config, EmbeddingProvider};
use crate::db::{self, SqlStore};
use crate::embedder::LocalEmbedder;
use crate::mail;
use crate::rate_limit::{InMemoryKeyRateLimiter, RedisKeyRateLimiter};
use crate::remote_embedder::OpenAiEmbedder;
use crate::secrets::AesGcmBox;
use crate::throttle::InMemoryLoginThrottle;
use crate::url_guard::NetworkGuard;
use crate::vector::{EdgeIndex, QdrantIndex};

/// Everything the HTTP API and the worker need, built once at start-up.
#[derive(Debug, Clone)]
pub struct Services {
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
    /// The job queue.
    pub jobs: Arc<dyn JobQueue>,
    /// The vector index (for readiness checks and tests).
    pub index: Arc<dyn VectorIndex>,
    /// The embedder (for readiness checks).
    pub embedder: Arc<dyn Embedder>,
    /// The relational store (for readiness checks).
    pub store: SqlStore,
    /// The configuration the services were built from.
    pub config: Arc<Config>,
}

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
    /// Checks the dependencies `/readyz` reports on: `(name, error if not ready)`.
    pub async fn readiness(&self) -> Vec<(&'static str, Option<String>)> {
        let embedder = match self.embedder.embed(vec!["ready".to_owned()]).await {
            Ok(vectors) if vectors.first().map(Vec::len) == Some(self.embedder.dimensions()) => {
                None
            }
            Ok(_) => Some("the embedder returned no vector of the expected size".to_owned()),
            Err(e) => Some(e.to_string()),
        };
        vec![
            (
                "database",
                self.store.ping().await.err().map(|e| e.to_string()),
            ),
            (
                "vector_index",
                self.index.ping().await.err().map(|e| e.to_string()),
            ),
            ("embedder", embedder),
        ]
    }

    /// The background worker, named `name`, paced as configured.
    #[must_use]
    pub fn worker(&self, name: &str) -> Worker {
        let config = &self.config.worker;
        Worker::new(
            self.jobs.clone(),
            self.ingestor.clone(),
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

/// Records embedded tokens in the usage ledger.
#[derive(Debug)]
struct LedgerUsage(SqlStore);

#[async_trait::async_trait]
impl EmbeddingUsage for LedgerUsage {
    async fn embedded(
        &self,
        org: docent_kernel::OrgId,
        tokens: u64,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let delta = docent_keys::UsageDelta {
            org_id: org,
            day: at.date_naive(),
            chatbot_id: None,
            api_key_id: None,
            requests: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            embedded_tokens: tokens,
        };
        if let Err(error) = docent_keys::UsageLedger::add(&self.0, &delta).await {
            tracing::warn!(%error, "could not record embedding usage");
        }
    }
}

/// The master key box: the configured key (the key file, if one exists, stays readable as a
/// previous key), or the data directory's key file, generated on first start.
fn secret_box(config: &Config) -> Result<AesGcmBox, BootstrapError> {
    let mut previous = config.previous_master_keys.clone();
    let file = config.master_key_file();
    let current = match &config.master_key {
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

/// The vector index: a Qdrant server when `qdrant_url` is set, else in-process in the data
/// directory.
async fn open_index(
    config: &Config,
    model_id: &str,
    dimensions: usize,
) -> Result<Arc<dyn VectorIndex>, BootstrapError> {
    if let Some(url) = &config.qdrant_url {
        let index = QdrantIndex::connect(url, config.qdrant_api_key.as_ref(), model_id, dimensions)
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
    crate::tls::init();
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
    let store = SqlStore::new(connection);
    let mailer: Arc<dyn Mailer> = Arc::from(
        mail::from_config(&config.mail, config.mail_dir()).map_err(BootstrapError::Mail)?,
    );
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let throttle = Arc::new(InMemoryLoginThrottle::new(
        config.auth.max_failures_per_email,
        config.auth.max_failures_per_client,
        Duration::from_secs(config.auth.failure_window_secs),
    ));
    let store_arc = Arc::new(store.clone());
    let store_arc_jobs: Arc<dyn JobQueue> = store_arc.clone();
    let identity = IdentityService::new(
        store_arc.clone(),
        store_arc.clone(),
        store_arc.clone(),
        throttle,
        mailer.clone(),
        clock.clone(),
        IdentityConfig {
            session_ttl: chrono::Duration::hours(i64::from(config.session.lifetime_hours)),
            reset_ttl: chrono::Duration::minutes(30),
            reset_interval: chrono::Duration::seconds(
                i64::try_from(config.auth.password_reset_interval_secs).unwrap_or(i64::MAX),
            ),
            public_url: config.public_url(),
        },
    )
    .map_err(|e| BootstrapError::Service(e.to_string()))?;
    let limiter: Arc<dyn KeyRateLimiter> = match &config.redis_url {
        Some(url) => Arc::new(
            RedisKeyRateLimiter::connect(url.expose_secret())
                .await
                .map_err(|e| BootstrapError::Service(format!("cannot reach redis_url: {e}")))?,
        ),
        None => Arc::new(InMemoryKeyRateLimiter::default()),
    };
    let keys = KeyService::new(
        store_arc.clone(),
        limiter,
        store_arc.clone(),
        store_arc.clone(),
        clock.clone(),
        store_arc.clone(),
        MonthlyQuota {
            messages: config.limits.org_monthly_message_quota,
            tokens: config.limits.org_monthly_token_quota,
        },
    );
    let tenancy = TenancyService::new(
        store_arc.clone(),
        store_arc.clone(),
        store_arc.clone(),
        store_arc.clone(),
        mailer,
        clock.clone(),
        TenancyConfig {
            invitation_ttl: chrono::Duration::days(7),
            public_url: config.public_url(),
        },
    );
    let local_model = config.local_model();
    let embedder: Arc<dyn Embedder> = match (
        config.embedding.provider,
        config.embedding.base_url.as_deref(),
        config.embedding.model.as_deref(),
        config.embedding.dimensions,
    ) {
        (EmbeddingProvider::OpenaiCompatible, Some(base_url), Some(model), Some(dimensions)) => {
            Arc::new(OpenAiEmbedder::new(
                base_url,
                config.embedding.api_key.as_ref(),
                model,
                dimensions,
            ))
        }
        // Validation guarantees the settings of the remote provider.
        (EmbeddingProvider::OpenaiCompatible, _, _, _) | (EmbeddingProvider::Local, _, _, _) => {
            LocalEmbedder::shared_model(&local_model).map_err(BootstrapError::Service)?
        }
    };
    let tokenizer = std::fs::read(local_model.tokenizer()).map_err(|e| {
        BootstrapError::Service(format!(
            "cannot read the tokenizer {} ({e}); run scripts/fetch-models",
            local_model.tokenizer().display()
        ))
    })?;
    let documents_config = &config.documents;
    let chunker = Chunker::new(
        &tokenizer,
        documents_config.chunk_tokens,
        documents_config.chunk_overlap,
    )
    .map_err(BootstrapError::Service)?;
    let index = open_index(config, embedder.model_id(), embedder.dimensions()).await?;
    let blobs: Arc<dyn BlobStore> = Arc::new(
        match config.blobs.backend {
            BlobBackend::Local => ObjectBlobStore::local(&config.blobs_dir()),
            BlobBackend::S3 => ObjectBlobStore::s3(&config.blobs.s3),
        }
        .map_err(BootstrapError::Service)?,
    );
    let documents = DocumentService::new(
        store_arc.clone(),
        blobs.clone(),
        index.clone(),
        embedder.clone(),
        store_arc.clone(),
        clock.clone(),
        UploadLimits {
            max_upload_bytes: documents_config.max_upload_bytes,
        },
    );
    let ingestor = Ingestor::new(
        store_arc.clone(),
        blobs,
        index.clone(),
        embedder.clone(),
        Arc::new(chunker),
        Arc::new(LedgerUsage(store.clone())),
        clock.clone(),
        PipelineSettings {
            limits: Limits {
                max_pages: documents_config.max_pages,
                max_chars: documents_config.max_chars,
                max_unpacked_bytes: documents_config.max_unpacked_bytes,
                time_budget: Duration::from_secs(documents_config.extract_timeout_secs),
                ..Limits::default()
            },
            embed_batch: documents_config.embed_batch,
        },
    );
    let providers = ProviderService::new(
        store_arc.clone(),
        Arc::new(secret_box(config)?),
        Arc::new(NetworkGuard::new(config.providers.allow_private_base_urls)),
        Arc::new(ProviderClients::new(
            config.providers.allow_private_base_urls,
        )),
        store_arc.clone(),
        clock.clone(),
    );
    let providers = Arc::new(providers);
    let keys = Arc::new(keys);
    let documents = Arc::new(documents);
    let chat = ChatService::new(
        store_arc.clone(),
        store_arc.clone(),
        documents.clone(),
        providers.clone(),
        Arc::new(ProviderClients::new(
            config.providers.allow_private_base_urls,
        )),
        Arc::new(KeyUsageGate::new(keys.clone())),
        store_arc.clone(),
        clock.clone(),
    );
    Ok(Services {
        providers,
        chat: Arc::new(chat),
        identity: Arc::new(identity),
        tenancy: Arc::new(tenancy),
        keys,
        documents,
        ingestor: Arc::new(ingestor),
        jobs: store_arc_jobs,
        index,
        embedder,
        store,
        config: Arc::new(config.clone()),
    })
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
    let failed = |e: sea_orm::DbErr| BootstrapError::Migration(e.to_string());
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
    let providers = ProviderService::new(
        store.clone(),
        Arc::new(secret_box(config)?),
        Arc::new(NetworkGuard::new(config.providers.allow_private_base_urls)),
        Arc::new(ProviderClients::new(
            config.providers.allow_private_base_urls,
        )),
        store,
        Arc::new(SystemClock),
    );
    providers
        .reseal_all()
        .await
        .map_err(|e| BootstrapError::Service(format!("re-sealing provider API keys: {e}")))
}

/// Opens the configured database without building services (for `docent-api migrate`).
pub async fn open_database(config: &Config) -> Result<sea_orm::DatabaseConnection, BootstrapError> {
    crate::tls::init();
    if config.uses_sqlite() {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| BootstrapError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
    }
    db::connect(&config.database_url(), config.database.max_connections)
        .await
        .map_err(|e| BootstrapError::Database {
            url: crate::config::redact_url(&config.database_url()),
            message: e.to_string(),
        })
}
