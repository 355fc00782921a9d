//! Configuration: defaults, then an optional `docent.toml`, then `DOCENT_*` environment variables
//! (`__` separates nesting: `DOCENT_DATABASE__URL`), then command-line overrides.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the HTTP API listens (`DOCENT_ADDR`).
    pub addr: SocketAddr,
    /// Where docent keeps its files: the SQLite database, mail outbox, later blobs and vectors
    /// (`DOCENT_DATA_DIR`).
    pub data_dir: PathBuf,
    /// The public base URL of the web app, used in links sent by e-mail (`DOCENT_PUBLIC_URL`);
    /// defaults to `http://{addr}`.
    pub public_url: Option<String>,
    /// The relational database.
    pub database: DatabaseConfig,
    /// Sessions.
    pub session: SessionConfig,
    /// Sign-in protection.
    pub auth: AuthConfig,
    /// Outgoing mail.
    pub mail: MailConfig,
    /// Logging.
    pub log: LogConfig,
    /// HTTP details.
    pub http: HttpConfig,
    /// Limits the operator sets for every organization.
    pub limits: LimitsConfig,
    /// Redis for limits shared by every API replica (`DOCENT_REDIS_URL`); unset keeps limits in
    /// each process.
    pub redis_url: Option<SecretString>,
    /// A Qdrant server's gRPC URL (`DOCENT_QDRANT_URL`, e.g. `http://qdrant:6334`); unset keeps
    /// vectors in-process in the data directory.
    pub qdrant_url: Option<String>,
    /// The Qdrant server's API key (`DOCENT_QDRANT_API_KEY`).
    pub qdrant_api_key: Option<SecretString>,
    /// Where the embedding model and ONNX Runtime are (`DOCENT_MODELS_DIR`); defaults to
    /// `~/.cache/docent/models`, where `scripts/fetch-models` puts them.
    pub models_dir: Option<PathBuf>,
    /// The master key that seals provider API keys (`DOCENT_MASTER_KEY`: 32 bytes in base64).
    /// Unset: a key file is generated in the data directory (`master.key`, mode 0600).
    pub master_key: Option<SecretString>,
    /// Earlier master keys, still needed to open keys sealed under them until
    /// `docent-api rotate-master-key` has re-sealed everything.
    pub previous_master_keys: Vec<SecretString>,
    /// Model provider connections.
    pub providers: ProvidersConfig,
    /// Where the original bytes of documents are kept.
    pub blobs: BlobsConfig,
    /// Where embeddings come from.
    pub embedding: EmbeddingConfig,
    /// Uploads, extraction and chunking.
    pub documents: DocumentsConfig,
    /// The background worker.
    pub worker: WorkerConfig,
    /// Answers.
    pub chat: ChatConfig,
    /// How long data outlives what it belonged to.
    pub retention: RetentionConfig,
}

/// How long data outlives what it belonged to.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// Days a deleted organization's audit log and usage ledger are kept after everything else
    /// of it was purged (`DOCENT_RETENTION__DELETED_ORG_DAYS`); `0` forgets them right after the
    /// purge.
    pub deleted_org_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            deleted_org_days: 30,
        }
    }
}

/// Answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ChatConfig {
    /// Seconds between the heartbeat comments of a streamed answer
    /// (`DOCENT_CHAT__HEARTBEAT_SECS`), so proxies keep an idle stream open.
    pub heartbeat_secs: u64,
    /// Seconds a streamed answer waits for a client that stopped reading before it ends the
    /// answer, dropping the provider call and settling the quota (`DOCENT_CHAT__SEND_TIMEOUT_SECS`).
    pub send_timeout_secs: u64,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            heartbeat_secs: 15,
            send_timeout_secs: 30,
        }
    }
}

/// Model provider connections.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProvidersConfig {
    /// Allow provider base URLs on loopback, private and link-local addresses
    /// (`DOCENT_PROVIDERS__ALLOW_PRIVATE_BASE_URLS`): needed for model servers on the local
    /// network, refused by default against SSRF.
    pub allow_private_base_urls: bool,
    /// An HTTP(S) proxy for every call to a model provider (`DOCENT_PROVIDERS__PROXY_URL`). The
    /// environment's `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` are never used for provider calls:
    /// a proxy resolves host names itself, past docent's internal-address guard, so it has to
    /// enforce where calls may go.
    pub proxy_url: Option<String>,
}

/// Where the original bytes of documents are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// A local directory (`blobs.dir`).
    #[default]
    Local,
    /// An S3-compatible object store (`blobs.s3.*`).
    S3,
}

/// Where the original bytes of documents are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BlobsConfig {
    /// `local` (default) or `s3`.
    pub backend: BlobBackend,
    /// The directory of the `local` backend; defaults to `{data_dir}/blobs`.
    pub dir: Option<PathBuf>,
    /// The `s3` backend.
    pub s3: S3Config,
}

/// An S3-compatible object store. Unset credentials and region fall back to the standard `AWS_*`
/// environment variables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct S3Config {
    /// The bucket (required for `s3`).
    pub bucket: Option<String>,
    /// The region, e.g. `eu-central-1`.
    pub region: Option<String>,
    /// The endpoint of a non-AWS service (MinIO, Ceph, R2, …), e.g. `http://minio:9000`.
    pub endpoint: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key (`DOCENT_BLOBS__S3__SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<SecretString>,
    /// Allow a plain-HTTP endpoint (local test servers only).
    pub allow_http: bool,
}

/// Which embedder turns text into vectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddingProvider {
    /// all-MiniLM-L6-v2 in process (from `models_dir`), nothing leaves the machine.
    #[default]
    Local,
    /// Any server that speaks OpenAI's `POST /v1/embeddings`.
    OpenaiCompatible,
}

/// Where embeddings come from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EmbeddingConfig {
    /// `local` (default) or `openai_compatible`.
    pub provider: EmbeddingProvider,
    /// The API's base URL, e.g. `https://api.openai.com/v1` (`openai_compatible`).
    pub base_url: Option<String>,
    /// The API key (`DOCENT_EMBEDDING__API_KEY`); none for local servers that want none.
    pub api_key: Option<SecretString>,
    /// `openai_compatible`: the model name the API knows. `local`: the model's identifier (one
    /// vector collection per identifier), by default the name of `model_dir`.
    pub model: Option<String>,
    /// The length of the model's vectors (`openai_compatible`; a local model's is measured).
    pub dimensions: Option<usize>,
    /// `local`: a directory with another ONNX model (`model.onnx`, `tokenizer.json`, `config.json`,
    /// `special_tokens_map.json`, `tokenizer_config.json`); unset uses all-MiniLM-L6-v2 from
    /// `models_dir`.
    pub model_dir: Option<PathBuf>,
    /// `local`: how token vectors become one vector (`mean`, the default, or `cls`).
    pub pooling: Option<crate::embedder::LocalPooling>,
    /// After changing the model: the one configured before, in the same shape
    /// (`[embedding.previous]`). Every ready document is re-embedded by the new model in the
    /// background (that happens whether or not this is set); while an organization's documents
    /// are, its searches use the previous model's collection, so answers never come from a
    /// half-built one. Remove it once the log says re-embedding is complete.
    pub previous: Option<Box<EmbeddingConfig>>,
}

impl EmbeddingConfig {
    /// Checks the settings of a remote provider; `previous` says which section this is.
    fn validate(&self, previous: bool) -> Result<(), ConfigError> {
        let key = |field: &str| -> &'static str {
            match (previous, field) {
                (false, "base_url") => "embedding.base_url",
                (false, "model") => "embedding.model",
                (false, _) => "embedding.dimensions",
                (true, "base_url") => "embedding.previous.base_url",
                (true, "model") => "embedding.previous.model",
                (true, _) => "embedding.previous.dimensions",
            }
        };
        if self.provider == EmbeddingProvider::OpenaiCompatible {
            let base = self.base_url.as_deref().ok_or_else(|| {
                invalid(
                    key("base_url"),
                    "is required for the openai_compatible provider",
                )
            })?;
            url::Url::parse(base)
                .map_err(|e| invalid(key("base_url"), format!("not a URL: {e}")))?;
            if self.model.as_deref().is_none_or(str::is_empty) {
                return Err(invalid(
                    key("model"),
                    "is required for the openai_compatible provider",
                ));
            }
            if self.dimensions.is_none_or(|d| d == 0) {
                return Err(invalid(
                    key("dimensions"),
                    "is required for the openai_compatible provider (the length of the model's vectors)",
                ));
            }
        }
        match (&self.previous, previous) {
            (None, _) => Ok(()),
            (Some(_), true) => Err(invalid(
                "embedding.previous.previous",
                "only one previous model is searched while documents are re-embedded",
            )),
            (Some(before), false) => before.validate(true),
        }
    }

    /// The local model these settings name, with `models_dir` for the default one.
    #[must_use]
    pub fn local_model(&self, models_dir: &std::path::Path) -> crate::embedder::LocalModel {
        let default = crate::embedder::LocalModel::default_in(models_dir);
        match (&self.provider, &self.model_dir) {
            (EmbeddingProvider::Local, Some(dir)) => crate::embedder::LocalModel {
                dir: dir.clone(),
                id: self.model.clone().unwrap_or_else(|| {
                    dir.file_name().map_or_else(
                        || "local-model".to_owned(),
                        |name| name.to_string_lossy().into_owned(),
                    )
                }),
                pooling: self.pooling.unwrap_or(crate::embedder::LocalPooling::Mean),
                ..default
            },
            (EmbeddingProvider::Local, None) => crate::embedder::LocalModel {
                pooling: self.pooling.unwrap_or(default.pooling),
                id: match (&self.model, self.pooling) {
                    (Some(id), _) => id.clone(),
                    // The default model pooled otherwise makes other vectors: another collection.
                    (None, Some(crate::embedder::LocalPooling::Cls)) => {
                        format!("{}-cls", default.id)
                    }
                    (None, _) => default.id.clone(),
                },
                ..default
            },
            (EmbeddingProvider::OpenaiCompatible, _) => default,
        }
    }

    /// The redacted summary of these settings, for the startup log.
    fn summary(&self) -> String {
        let this = match self.provider {
            EmbeddingProvider::Local => "local".to_owned(),
            EmbeddingProvider::OpenaiCompatible => format!(
                "openai_compatible({} at {}, api_key={})",
                self.model.as_deref().unwrap_or("-"),
                self.base_url
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), redact_url),
                if self.api_key.is_some() {
                    "<redacted>"
                } else {
                    "-"
                }
            ),
        };
        match &self.previous {
            Some(previous) => format!("{this} (previous: {})", previous.summary()),
            None => this,
        }
    }
}

/// Uploads, extraction and chunking.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DocumentsConfig {
    /// The largest upload, in bytes (413 `too_large` above it).
    pub max_upload_bytes: u64,
    /// The most pages a PDF may have (the document fails with `too_many_pages`).
    pub max_pages: u32,
    /// The most characters of text a document may yield (the document fails with `too_large`). A
    /// text upload larger than this, in bytes, is refused at upload (413).
    pub max_chars: usize,
    /// The most bytes an archive (DOCX) may unpack to, or a compressed PDF stream to (the
    /// document fails with `too_large`: zip bombs end here).
    pub max_unpacked_bytes: u64,
    /// How long extracting and chunking one document may take, wall clock and CPU time, in
    /// seconds; the sandbox is killed then (`extract_timeout`).
    pub extract_timeout_secs: u64,
    /// The extraction sandbox's memory (address-space) limit, in MiB (`extract_memory`).
    pub extract_memory_mb: u64,
    /// The binary that runs the extraction sandbox (it must accept the sandbox's hidden
    /// subcommand, as `docent-api` and `docent-worker` do); unset: the running binary.
    pub extractor_program: Option<PathBuf>,
    /// The most tokens (of the embedding model's tokenizer) per chunk.
    pub chunk_tokens: usize,
    /// Tokens a chunk shares with the one before it.
    pub chunk_overlap: usize,
    /// Chunks per embedding batch.
    pub embed_batch: usize,
    /// How PDFs are read: `auto` (PDFium when its library is there, the built-in reader
    /// otherwise, with a warning at start-up), `pdfium` (start-up fails without it) or `builtin`.
    pub pdf_engine: PdfEngineChoice,
    /// PDFium's shared library; unset: `pdfium/libpdfium.so` in `models_dir`, where
    /// `scripts/fetch-models` puts it.
    pub pdfium_library: Option<PathBuf>,
}

/// Which engine reads PDFs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PdfEngineChoice {
    /// PDFium when its library is found, the built-in reader otherwise.
    #[default]
    Auto,
    /// PDFium, required.
    Pdfium,
    /// The built-in reader (lopdf): no shared library, but ligatures in fonts without a
    /// `ToUnicode` map (LaTeX's) are lost.
    Builtin,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 50 * 1024 * 1024,
            max_pages: 20_000,
            max_chars: 64 * 1024 * 1024,
            max_unpacked_bytes: 512 * 1024 * 1024,
            extract_timeout_secs: 600,
            extract_memory_mb: 4096,
            extractor_program: None,
            // Chosen on the evaluation corpus (docs/quality.md): 250 tokens and the two special
            // ones fit the local embedder's 256.
            chunk_tokens: 250,
            chunk_overlap: 40,
            embed_batch: 32,
            pdf_engine: PdfEngineChoice::Auto,
            pdfium_library: None,
        }
    }
}

/// The background worker.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WorkerConfig {
    /// Run the worker inside `docent-api serve` (the embedded default). Turn it off when separate
    /// `docent-worker` processes do the work.
    pub embedded: bool,
    /// Jobs run at once per process.
    pub concurrency: usize,
    /// Seconds a claimed job stays claimed without a heartbeat; a crashed worker's job is taken
    /// over after this.
    pub lease_secs: u64,
    /// Seconds between heartbeats (under a third of the lease).
    pub heartbeat_secs: u64,
    /// Milliseconds between looks for new work when idle.
    pub poll_interval_ms: u64,
    /// Attempts before a job that keeps failing transiently is given up.
    pub max_attempts: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            embedded: true,
            concurrency: 1,
            lease_secs: 60,
            heartbeat_secs: 10,
            poll_interval_ms: 500,
            max_attempts: 8,
        }
    }
}

/// Limits the operator sets for every organization and every client address.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Chat messages per organization per UTC month; unset means unlimited.
    pub org_monthly_message_quota: Option<u64>,
    /// Model tokens (prompt + completion) per organization per UTC month; unset means unlimited.
    pub org_monthly_token_quota: Option<u64>,
    /// Sign-ups per client address per hour.
    pub signups_per_client_per_hour: u32,
    /// Password-reset requests per client address per hour (each account also gets at most one
    /// mail per `auth.password_reset_interval_secs`).
    pub password_resets_per_client_per_hour: u32,
    /// Invitation mails per organization per day (24 hours from the first).
    pub invitations_per_org_per_day: u32,
    /// Invitation mails per client address per hour.
    pub invitations_per_client_per_hour: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            org_monthly_message_quota: None,
            org_monthly_token_quota: None,
            signups_per_client_per_hour: 20,
            password_resets_per_client_per_hour: 20,
            invitations_per_org_per_day: 200,
            invitations_per_client_per_hour: 100,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            public_url: None,
            database: DatabaseConfig::default(),
            session: SessionConfig::default(),
            auth: AuthConfig::default(),
            mail: MailConfig::default(),
            log: LogConfig::default(),
            http: HttpConfig::default(),
            limits: LimitsConfig::default(),
            redis_url: None,
            qdrant_url: None,
            qdrant_api_key: None,
            models_dir: None,
            master_key: None,
            previous_master_keys: Vec::new(),
            providers: ProvidersConfig::default(),
            blobs: BlobsConfig::default(),
            embedding: EmbeddingConfig::default(),
            documents: DocumentsConfig::default(),
            worker: WorkerConfig::default(),
            chat: ChatConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

/// The relational database.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…` (`DOCENT_DATABASE__URL`); defaults to `docent.db` in the data
    /// directory.
    pub url: Option<SecretString>,
    /// The size of the connection pool.
    pub max_connections: u32,
    /// Whether `serve` applies pending migrations at start.
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            migrate_on_start: true,
        }
    }
}

/// Sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SessionConfig {
    /// How long a session lasts after sign-in, in hours.
    pub lifetime_hours: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            lifetime_hours: 24 * 7,
        }
    }
}

/// Sign-in protection.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Failed sign-ins for one e-mail address within the window before it is locked out.
    pub max_failures_per_email: u32,
    /// Failed sign-ins from one client address within the window before it is locked out.
    pub max_failures_per_client: u32,
    /// The window, in seconds.
    pub failure_window_secs: u64,
    /// The shortest time between two password-reset mails to one account, in seconds.
    pub password_reset_interval_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            max_failures_per_email: 5,
            max_failures_per_client: 20,
            failure_window_secs: 15 * 60,
            password_reset_interval_secs: 60,
        }
    }
}

/// How mail leaves docent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Write each message to the log (development only: links carry secrets).
    Log,
    /// Write each message as an `.eml` file into `mail.file_dir`.
    File,
    /// Send through an SMTP server.
    Smtp,
}

/// Outgoing mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MailConfig {
    /// The transport.
    pub transport: MailTransport,
    /// The sender, e.g. `docent <noreply@example.com>`.
    pub from: String,
    /// Where the `file` transport writes; defaults to `outbox` in the data directory.
    pub file_dir: Option<PathBuf>,
    /// The SMTP server, for the `smtp` transport.
    pub smtp: SmtpConfig,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransport::Log,
            from: "docent <noreply@docent.invalid>".to_owned(),
            file_dir: None,
            smtp: SmtpConfig::default(),
        }
    }
}

/// How to secure the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Upgrade a plain connection with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (a local relay only).
    None,
}

/// An SMTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmtpConfig {
    /// The host name.
    pub host: Option<String>,
    /// The port; defaults to 587 for `starttls`, 465 for `tls` and 25 for `none`.
    pub port: Option<u16>,
    /// The user name, if the server wants one.
    pub username: Option<String>,
    /// The password (`DOCENT_MAIL__SMTP__PASSWORD`).
    pub password: Option<SecretString>,
    /// Transport security.
    pub tls: SmtpTls,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: None,
            username: None,
            password: None,
            tls: SmtpTls::Starttls,
        }
    }
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// The format.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `docent=debug,info`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".to_owned(),
        }
    }
}

/// HTTP details.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// The largest accepted JSON request body, in bytes.
    pub max_json_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            trust_forwarded_for: false,
            max_json_body_bytes: 1024 * 1024,
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Overrides {
    /// `--addr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<SocketAddr>,
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

/// Why the configuration was refused; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value has the wrong type or shape.
    #[error("invalid configuration: {0}")]
    Parse(#[from] Box<figment::Error>),
    /// A value is well-formed but unacceptable.
    #[error("invalid configuration: `{key}`: {reason}")]
    Invalid {
        /// The key, e.g. `database.url`.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// Loads defaults ← `file` (or `./docent.toml` if present) ← `DOCENT_*` ← `overrides`, and
    /// validates the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        if let Some(file) = file.filter(|f| !f.is_file()) {
            return Err(invalid(
                "--config",
                format!("{} does not exist or is not a file", file.display()),
            ));
        }
        let default_file = Path::new("docent.toml");
        let file = file.or_else(|| default_file.is_file().then_some(default_file));
        let mut figment = Figment::new();
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let figment = figment
            .merge(Env::prefixed("DOCENT_").split("__"))
            .merge(Serialized::defaults(overrides));
        Self::from_figment(&figment)
    }

    /// Extracts and validates a configuration from any figment (used by tests).
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let config: Self = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database_url();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if self.session.lifetime_hours == 0 {
            return Err(invalid("session.lifetime_hours", "must be at least 1"));
        }
        if self.auth.max_failures_per_email == 0 || self.auth.max_failures_per_client == 0 {
            return Err(invalid("auth", "failure limits must be at least 1"));
        }
        url::Url::parse(&self.public_url())
            .map_err(|e| invalid("public_url", format!("not a URL: {e}")))?;
        self.mail
            .from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| invalid("mail.from", format!("not a mailbox: {e}")))?;
        if self.mail.transport == MailTransport::Smtp && self.mail.smtp.host.is_none() {
            return Err(invalid(
                "mail.smtp.host",
                "is required for the smtp transport",
            ));
        }
        if self.documents.max_upload_bytes == 0 {
            return Err(invalid("documents.max_upload_bytes", "must be at least 1"));
        }
        if self.documents.chunk_tokens < 16
            || self.documents.chunk_overlap >= self.documents.chunk_tokens
        {
            return Err(invalid(
                "documents.chunk_tokens",
                "must be at least 16 and larger than documents.chunk_overlap",
            ));
        }
        if self.documents.extract_timeout_secs == 0 {
            return Err(invalid(
                "documents.extract_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.documents.extract_memory_mb < 256 {
            return Err(invalid(
                "documents.extract_memory_mb",
                "must be at least 256 (the sandbox needs room for its parsers and the tokenizer)",
            ));
        }
        if self.documents.embed_batch == 0 || self.worker.concurrency == 0 {
            return Err(invalid(
                "documents.embed_batch",
                "documents.embed_batch and worker.concurrency must be at least 1",
            ));
        }
        if self.worker.lease_secs < 3 * self.worker.heartbeat_secs.max(1) {
            return Err(invalid(
                "worker.lease_secs",
                "must be at least three heartbeats (worker.heartbeat_secs)",
            ));
        }
        if self.blobs.backend == BlobBackend::S3 {
            if self.blobs.s3.bucket.as_deref().is_none_or(str::is_empty) {
                return Err(invalid("blobs.s3.bucket", "is required for the s3 backend"));
            }
            if let Some(endpoint) = &self.blobs.s3.endpoint {
                url::Url::parse(endpoint)
                    .map_err(|e| invalid("blobs.s3.endpoint", format!("not a URL: {e}")))?;
            }
        }
        self.embedding.validate(false)?;
        if let Some(url) = &self.qdrant_url {
            url::Url::parse(url).map_err(|e| invalid("qdrant_url", format!("not a URL: {e}")))?;
        }
        if let Some(url) = &self.providers.proxy_url {
            url::Url::parse(url)
                .map_err(|e| invalid("providers.proxy_url", format!("not a URL: {e}")))?;
        }
        Ok(())
    }

    /// The local embedding model (also the tokenizer chunks are measured with, whatever the
    /// provider).
    #[must_use]
    pub fn local_model(&self) -> crate::embedder::LocalModel {
        self.embedding.local_model(&self.models_dir())
    }

    /// The generated master key file used when `master_key` is unset.
    #[must_use]
    pub fn master_key_file(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }

    /// The directory of the local blob store.
    #[must_use]
    pub fn blobs_dir(&self) -> PathBuf {
        self.blobs
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    /// Where PDFium's shared library is expected (whether or not it is there).
    #[must_use]
    pub fn pdfium_library(&self) -> PathBuf {
        self.documents
            .pdfium_library
            .clone()
            .unwrap_or_else(|| self.models_dir().join("pdfium/libpdfium.so"))
    }

    /// Where the embedding model and ONNX Runtime are.
    #[must_use]
    pub fn models_dir(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map_or_else(|| PathBuf::from("."), PathBuf::from)
                .join(".cache/docent/models")
        })
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    #[must_use]
    pub fn database_url(&self) -> String {
        self.database.url.as_ref().map_or_else(
            || {
                format!(
                    "sqlite://{}?mode=rwc",
                    self.data_dir.join("docent.db").display()
                )
            },
            |url| url.expose_secret().to_owned(),
        )
    }

    /// Whether the database is SQLite (the embedded default).
    #[must_use]
    pub fn uses_sqlite(&self) -> bool {
        self.database_url().starts_with("sqlite:")
    }

    /// The public base URL without a trailing slash.
    #[must_use]
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.addr))
            .trim_end_matches('/')
            .to_owned()
    }

    /// Where the `file` mail transport writes.
    #[must_use]
    pub fn mail_dir(&self) -> PathBuf {
        self.mail
            .file_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// A one-line summary with every secret removed, for the start-up log.
    #[must_use]
    pub fn redacted_summary(&self) -> String {
        let mut out = format!(
            "addr={} data_dir={} public_url={} database={} migrate_on_start={} pool={} \
             session_lifetime_hours={} mail.transport={:?} mail.from={:?} log.format={:?}",
            self.addr,
            self.data_dir.display(),
            self.public_url(),
            redact_url(&self.database_url()),
            self.database.migrate_on_start,
            self.database.max_connections,
            self.session.lifetime_hours,
            self.mail.transport,
            self.mail.from,
            self.log.format,
        );
        let _ = write!(
            out,
            " vectors={} blobs={} models_dir={} embedding={} worker.embedded={} documents.max_upload_bytes={} master_key={} providers.allow_private_base_urls={}",
            self.qdrant_url
                .as_deref()
                .map_or_else(|| "in-process".to_owned(), redact_url),
            match self.blobs.backend {
                BlobBackend::Local => format!("local({})", self.blobs_dir().display()),
                BlobBackend::S3 => format!(
                    "s3({}{}, secret_access_key={})",
                    self.blobs.s3.bucket.as_deref().unwrap_or("-"),
                    self.blobs
                        .s3
                        .endpoint
                        .as_deref()
                        .map_or_else(String::new, |e| format!(" at {}", redact_url(e))),
                    if self.blobs.s3.secret_access_key.is_some() {
                        "<redacted>"
                    } else {
                        "-"
                    }
                ),
            },
            self.models_dir().display(),
            self.embedding.summary(),
            self.worker.embedded,
            self.documents.max_upload_bytes,
            if self.master_key.is_some() {
                "<redacted>".to_owned()
            } else {
                format!("file:{}", self.master_key_file().display())
            },
            self.providers.allow_private_base_urls,
        );
        if let Some(redis) = &self.redis_url {
            let _ = write!(out, " redis={}", redact_url(redis.expose_secret()));
        }
        if let Some(proxy) = &self.providers.proxy_url {
            let _ = write!(out, " providers.proxy_url={}", redact_url(proxy));
        }
        if self.mail.transport == MailTransport::Smtp {
            let _ = write!(
                out,
                " mail.smtp.host={} mail.smtp.port={} mail.smtp.username={} mail.smtp.password={}",
                self.mail.smtp.host.as_deref().unwrap_or("-"),
                self.mail
                    .smtp
                    .port
                    .map_or_else(|| "default".to_owned(), |p| p.to_string()),
                self.mail.smtp.username.as_deref().unwrap_or("-"),
                if self.mail.smtp.password.is_some() {
                    "<redacted>"
                } else {
                    "-"
                },
            );
        }
        out
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// Removes the password (and any query string) from a database URL.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("<redacted>"));
            }
            url.set_query(None);
            url.to_string()
        }
        Err(_) => "<unparseable>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use figment::Jail;
    use figment::providers::Serialized;

    use super::*;

    #[test]
    fn defaults_are_the_embedded_setup() {
        let config = Config::from_figment(&Figment::new()).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert!(config.uses_sqlite());
        assert!(config.database_url().ends_with("data/docent.db?mode=rwc"));
        assert_eq!(config.public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error.
    fn environment_overrides_file_and_overrides_win() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "docent.toml",
                "addr = \"127.0.0.1:9000\"\n[session]\nlifetime_hours = 5\n",
            )?;
            jail.set_env("DOCENT_SESSION__LIFETIME_HOURS", "7");
            jail.set_env("DOCENT_DATA_DIR", "/tmp/docent-x");
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(config.addr.port(), 9000);
            assert_eq!(config.session.lifetime_hours, 7);
            assert_eq!(config.data_dir, PathBuf::from("/tmp/docent-x"));
            let overridden = Config::load(
                None,
                &Overrides {
                    addr: Some(SocketAddr::from(([127, 0, 0, 1], 9100))),
                    data_dir: None,
                },
            )
            .unwrap();
            assert_eq!(overridden.addr.port(), 9100);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error.
    fn without_a_config_file_the_defaults_apply() {
        Jail::expect_with(|_| {
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(config.addr.port(), 8080);
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let message = Config::load(
            Some(Path::new("/nonexistent/docent.toml")),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(message.contains("--config"), "{message}");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let figment = Figment::new().merge(Serialized::default("addr", "not an address"));
        let message = Config::from_figment(&figment).unwrap_err().to_string();
        assert!(message.contains("addr"), "{message}");

        let figment = Figment::new().merge(Serialized::default("database.url", "mysql://x"));
        let message = Config::from_figment(&figment).unwrap_err().to_string();
        assert!(message.contains("database.url"), "{message}");

        let figment = Figment::new().merge(Serialized::default("mail.transport", "pigeon"));
        let message = Config::from_figment(&figment).unwrap_err().to_string();
        assert!(message.contains("mail.transport"), "{message}");
    }

    #[test]
    fn the_summary_hides_secrets() {
        let figment = Figment::new()
            .merge(Serialized::default(
                "database.url",
                "postgres://docent:hunter2hunter2@db:5432/docent?sslmode=require",
            ))
            .merge(Serialized::default("mail.transport", "smtp"))
            .merge(Serialized::default("mail.smtp.host", "smtp.example.com"))
            .merge(Serialized::default(
                "mail.smtp.password",
                "smtp-secret-value",
            ));
        let figment = figment
            .merge(Serialized::default("qdrant_url", "http://qdrant:6334"))
            .merge(Serialized::default("qdrant_api_key", "qdrant-secret-value"))
            .merge(Serialized::default("blobs.backend", "s3"))
            .merge(Serialized::default("blobs.s3.bucket", "docs"))
            .merge(Serialized::default(
                "blobs.s3.secret_access_key",
                "s3-secret-value",
            ))
            .merge(Serialized::default(
                "embedding.provider",
                "openai_compatible",
            ))
            .merge(Serialized::default(
                "embedding.base_url",
                "https://api.example.com/v1",
            ))
            .merge(Serialized::default(
                "embedding.model",
                "text-embedding-3-small",
            ))
            .merge(Serialized::default("embedding.dimensions", 1536))
            .merge(Serialized::default(
                "embedding.api_key",
                "embedding-secret-value",
            ));
        let config = Config::from_figment(&figment).unwrap();
        let summary = config.redacted_summary();
        for secret in [
            "hunter2",
            "smtp-secret-value",
            "qdrant-secret-value",
            "s3-secret-value",
            "embedding-secret-value",
        ] {
            assert!(!summary.contains(secret), "{summary}");
            assert!(!format!("{config:?}").contains(secret));
        }
        assert!(summary.contains("db:5432"), "{summary}");
        assert!(summary.contains("vectors=http://qdrant:6334"), "{summary}");
        assert!(summary.contains("s3(docs"), "{summary}");
        assert!(
            summary.contains("openai_compatible(text-embedding-3-small"),
            "{summary}"
        );
    }

    #[test]
    fn scaled_backends_need_their_settings() {
        for (key, value, named) in [
            ("blobs.backend", "s3", "blobs.s3.bucket"),
            (
                "embedding.provider",
                "openai_compatible",
                "embedding.base_url",
            ),
            ("qdrant_url", "not a url", "qdrant_url"),
            ("documents.chunk_tokens", "8", "documents.chunk_tokens"),
            ("worker.lease_secs", "5", "worker.lease_secs"),
        ] {
            let figment = Figment::new().merge(Serialized::default(key, value));
            let message = Config::from_figment(&figment).unwrap_err().to_string();
            assert!(message.contains(named), "{key}: {message}");
        }
        let figment = Figment::new()
            .merge(Serialized::default(
                "embedding.provider",
                "openai_compatible",
            ))
            .merge(Serialized::default(
                "embedding.base_url",
                "http://127.0.0.1:8000/v1",
            ))
            .merge(Serialized::default("embedding.model", "m"));
        let message = Config::from_figment(&figment).unwrap_err().to_string();
        assert!(message.contains("embedding.dimensions"), "{message}");
    }

    #[test]
    fn a_local_model_directory_replaces_the_default_model() {
        let config = Config::default();
        assert_eq!(config.local_model().id, "all-MiniLM-L6-v2-int8");
        assert!(config.local_model().dir.ends_with("all-minilm-l6-v2"));
        let figment = Figment::new()
            .merge(Serialized::default("models_dir", "/opt/models"))
            .merge(Serialized::default("embedding.model_dir", "/opt/bge-small"))
            .merge(Serialized::default("embedding.pooling", "cls"));
        let config = Config::from_figment(&figment).unwrap();
        let local = config.local_model();
        assert_eq!(local.id, "bge-small");
        assert_eq!(local.pooling, crate::embedder::LocalPooling::Cls);
        assert_eq!(
            local.tokenizer(),
            PathBuf::from("/opt/bge-small/tokenizer.json")
        );
        assert_eq!(
            local.runtime,
            PathBuf::from("/opt/models/onnxruntime/libonnxruntime.so")
        );
    }

    #[test]
    fn the_previous_embedding_model_is_one_level_deep_and_validated() {
        let figment = Figment::new()
            .merge(Serialized::default("models_dir", "/opt/models"))
            .merge(Serialized::default("embedding.pooling", "cls"))
            .merge(Serialized::default("embedding.previous.provider", "local"));
        let config = Config::from_figment(&figment).unwrap();
        // The default model pooled otherwise is another model, with its own collection.
        assert_eq!(config.local_model().id, "all-MiniLM-L6-v2-int8-cls");
        let previous = config.embedding.previous.as_deref().unwrap();
        assert_eq!(
            previous.local_model(&config.models_dir()).id,
            "all-MiniLM-L6-v2-int8"
        );
        assert!(
            config
                .redacted_summary()
                .contains("embedding=local (previous: local)")
        );
        let remote = Figment::new()
            .merge(Serialized::default(
                "embedding.previous.provider",
                "openai_compatible",
            ))
            .merge(Serialized::default(
                "embedding.previous.base_url",
                "https://api.example.com/v1",
            ));
        let message = Config::from_figment(&remote).unwrap_err().to_string();
        assert!(message.contains("embedding.previous.model"), "{message}");
        let nested = Figment::new().merge(Serialized::default(
            "embedding.previous.previous.provider",
            "local",
        ));
        let message = Config::from_figment(&nested).unwrap_err().to_string();
        assert!(message.contains("embedding.previous.previous"), "{message}");
    }
}
