//! The configuration's sections. Their defaults are in `defaults.toml`, not here: every field is
//! read from the merged layers, the compiled-in defaults first. Secrets serialize as `<redacted>`
//! and URLs without their credentials, so the effective configuration can be printed as it is.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::redact;

/// How long data outlives what it belonged to.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RetentionConfig {
    /// Days a deleted organization's audit log and usage ledger are kept after the purge.
    pub deleted_org_days: u32,
}

/// Answers.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChatConfig {
    /// Seconds between the heartbeat comments of a streamed answer.
    pub heartbeat_secs: u64,
    /// Seconds a streamed answer waits for a client that stopped reading before it ends.
    pub send_timeout_secs: u64,
}

/// Model provider connections.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ProvidersConfig {
    /// Allow provider base URLs on loopback, private and link-local addresses.
    pub allow_private_base_urls: bool,
    /// An HTTP(S) proxy for every call to a model provider.
    #[serde(serialize_with = "redact::url")]
    pub proxy_url: Option<String>,
}

/// Where the original bytes of documents are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// A local directory (`blobs.dir`).
    #[default]
    Local,
    /// An S3-compatible object store (`blobs.s3.*`).
    S3,
}

/// Where the original bytes of documents are kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BlobsConfig {
    /// `local` or `s3`.
    pub backend: BlobBackend,
    /// The directory of the `local` backend; defaults to `{data_dir}/blobs`.
    pub dir: Option<PathBuf>,
    /// The `s3` backend.
    pub s3: S3Config,
}

/// An S3-compatible object store. Unset credentials and region fall back to the standard `AWS_*`
/// environment variables.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct S3Config {
    /// The bucket (required for `s3`).
    pub bucket: Option<String>,
    /// The region, e.g. `eu-central-1`.
    pub region: Option<String>,
    /// The endpoint of a non-AWS service (MinIO, Ceph, R2, …).
    #[serde(serialize_with = "redact::url")]
    pub endpoint: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key.
    #[serde(serialize_with = "redact::secret")]
    pub secret_access_key: Option<SecretString>,
    /// Allow a plain-HTTP endpoint (local test servers only).
    #[serde(default)]
    pub allow_http: bool,
}

/// Which embedder turns text into vectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddingProvider {
    /// all-MiniLM-L6-v2 in process (from `models.dir`), nothing leaves the machine.
    #[default]
    Local,
    /// Any server that speaks OpenAI's `POST /v1/embeddings`.
    OpenaiCompatible,
}

/// Where embeddings come from. `[embedding.previous]` has the same shape, so every field has a
/// default here too.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct EmbeddingConfig {
    /// `local` or `openai_compatible`.
    pub provider: EmbeddingProvider,
    /// The API's base URL (`openai_compatible`).
    #[serde(serialize_with = "redact::url")]
    pub base_url: Option<String>,
    /// The API key.
    #[serde(serialize_with = "redact::secret")]
    pub api_key: Option<SecretString>,
    /// `openai_compatible`: the model name the API knows. `local`: the model's identifier.
    pub model: Option<String>,
    /// The length of the model's vectors (`openai_compatible`; a local model's is measured).
    pub dimensions: Option<usize>,
    /// `local`: a directory with another ONNX model.
    pub model_dir: Option<PathBuf>,
    /// `local`: how token vectors become one vector (`mean` or `cls`).
    pub pooling: Option<crate::embedder::LocalPooling>,
    /// After changing the model: the one configured before, in the same shape.
    pub previous: Option<Box<EmbeddingConfig>>,
}

/// Uploads, extraction and chunking.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DocumentsConfig {
    /// The largest upload, in bytes.
    pub max_upload_bytes: u64,
    /// The most pages a PDF may have.
    pub max_pages: u32,
    /// The most characters of text a document may yield.
    pub max_chars: usize,
    /// The most bytes an archive or a compressed PDF stream may unpack to.
    pub max_unpacked_bytes: u64,
    /// How long extracting and chunking one document may take, in seconds.
    pub extract_timeout_secs: u64,
    /// The extraction sandbox's memory limit, in MiB.
    pub extract_memory_mb: u64,
    /// The binary that runs the extraction sandbox; unset: the running binary.
    pub extractor_program: Option<PathBuf>,
    /// The most tokens per chunk.
    pub chunk_tokens: usize,
    /// Tokens a chunk shares with the one before it.
    pub chunk_overlap: usize,
    /// Chunks per embedding batch.
    pub embed_batch: usize,
    /// How PDFs are read.
    pub pdf_engine: PdfEngineChoice,
    /// PDFium's shared library; unset: `pdfium/libpdfium.so` in `models.dir`.
    pub pdfium_library: Option<PathBuf>,
}

/// Which engine reads PDFs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
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

/// The background worker.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WorkerConfig {
    /// Run the worker inside `docent-api serve`.
    pub embedded: bool,
    /// Jobs run at once per process.
    pub concurrency: usize,
    /// Seconds a claimed job stays claimed without a heartbeat.
    pub lease_secs: u64,
    /// Seconds between heartbeats.
    pub heartbeat_secs: u64,
    /// Milliseconds between looks for new work when idle.
    pub poll_interval_ms: u64,
    /// Attempts before a job that keeps failing transiently is given up.
    pub max_attempts: u32,
}

/// Limits the operator sets for every organization and every client address.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LimitsConfig {
    /// Chat messages per organization per UTC month; unset means unlimited.
    pub org_monthly_message_quota: Option<u64>,
    /// Model tokens per organization per UTC month; unset means unlimited.
    pub org_monthly_token_quota: Option<u64>,
    /// Sign-ups per client address per hour.
    pub signups_per_client_per_hour: u32,
    /// Password-reset requests per client address per hour.
    pub password_resets_per_client_per_hour: u32,
    /// Invitation mails per organization per day.
    pub invitations_per_org_per_day: u32,
    /// Invitation mails per client address per hour.
    pub invitations_per_client_per_hour: u32,
}

/// The relational database.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; defaults to `docent.db` in the data directory.
    #[serde(serialize_with = "redact::secret_url")]
    pub url: Option<SecretString>,
    /// The size of the connection pool.
    pub max_connections: u32,
    /// Whether `serve` applies pending migrations at start.
    pub migrate_on_start: bool,
}

/// Sessions.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SessionConfig {
    /// How long a session lasts after sign-in, in hours.
    pub lifetime_hours: u32,
}

/// Sign-in protection.
#[derive(Debug, Clone, Deserialize, Serialize)]
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

/// How mail leaves docent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize)]
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

/// How to secure the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SmtpConfig {
    /// The host name.
    pub host: Option<String>,
    /// The port; defaults to 587 for `starttls`, 465 for `tls` and 25 for `none`.
    pub port: Option<u16>,
    /// The user name, if the server wants one.
    pub username: Option<String>,
    /// The password.
    #[serde(serialize_with = "redact::secret")]
    pub password: Option<SecretString>,
    /// Transport security.
    pub tls: SmtpTls,
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LogConfig {
    /// The format.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `docent=debug,info`.
    pub filter: String,
}

/// HTTP details.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HttpConfig {
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// The largest accepted JSON request body, in bytes.
    pub max_json_body_bytes: usize,
}

/// Redis, for limits shared by every API replica.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RedisConfig {
    /// `redis://…`; unset keeps limits in each process.
    #[serde(serialize_with = "redact::secret_url")]
    pub url: Option<SecretString>,
}

/// A Qdrant server or cluster.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct QdrantConfig {
    /// The gRPC URL, e.g. `http://qdrant:6334`; unset keeps vectors in-process.
    #[serde(serialize_with = "redact::url")]
    pub url: Option<String>,
    /// The server's API key.
    #[serde(serialize_with = "redact::secret")]
    pub api_key: Option<SecretString>,
}

/// Where the local models are.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ModelsConfig {
    /// The embedding model, ONNX Runtime and PDFium; defaults to `~/.cache/docent/models`.
    pub dir: Option<PathBuf>,
}

/// The keys that seal stored secrets.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SecretsConfig {
    /// The master key that seals provider API keys (32 bytes in base64). Unset: a key file is
    /// generated in the data directory (`master.key`, mode 0600).
    #[serde(serialize_with = "redact::secret")]
    pub master_key: Option<SecretString>,
    /// Earlier master keys, still needed to open keys sealed under them until
    /// `docent-api rotate-master-key` has re-sealed everything.
    #[serde(default, serialize_with = "redact::secrets")]
    pub previous_master_keys: Vec<SecretString>,
}
