//! Configuration: the compiled-in defaults (`defaults.toml`, the one place they are written),
//! then an optional `docent.toml`, then `DOCENT_*` environment variables (`__` separates
//! sections: `DOCENT_DATABASE__URL`), then command-line overrides. Keys renamed since are still
//! read, with a warning; keys nothing reads are warned about. The sections are in [`sections`],
//! where values come from in `layers`, and the printable (redacted) form in `redact`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};

mod layers;
mod redact;
mod sections;
#[cfg(test)]
mod tests;

pub use layers::{DEFAULTS, RENAMED};
pub use redact::{REDACTED, redact_url};
pub use sections::*;

/// The whole configuration. Each field's documentation and default is in `defaults.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Config {
    /// Where the HTTP API listens (`DOCENT_ADDR`).
    pub addr: SocketAddr,
    /// Where docent keeps its files (`DOCENT_DATA_DIR`).
    pub data_dir: PathBuf,
    /// The public base URL, used in links sent by e-mail; defaults to `http://{addr}`.
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
    /// Redis for limits shared by every API replica.
    pub redis: RedisConfig,
    /// A Qdrant server instead of the in-process index.
    pub qdrant: QdrantConfig,
    /// Where the local models are.
    pub models: ModelsConfig,
    /// The keys that seal stored secrets.
    pub secrets: SecretsConfig,
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
    /// What loading noticed but accepted: deprecated and unknown keys. The binaries log these
    /// once logging is set up; `docent-api config check` prints them.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Default for Config {
    /// The compiled-in defaults alone.
    #[allow(clippy::expect_used)] // `the_defaults_file_is_the_whole_configuration` proves it parses.
    fn default() -> Self {
        Self::from_figment(&Figment::new()).expect("the compiled-in defaults are valid")
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
    ///
    /// # Errors
    /// When the file is missing, a value has the wrong shape, or a value is unacceptable; the
    /// message names the key.
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

    /// Extracts and validates a configuration from the user's layers in `figment`, under the
    /// compiled-in defaults (used by [`Config::load`] and by tests).
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let (user, mut warnings) = layers::with_renamed_keys(figment.clone());
        let merged = layers::with_defaults(&user);
        let mut config: Self = merged.extract().map_err(Box::new)?;
        warnings.extend(layers::unknown_keys(&merged));
        config.warnings = warnings;
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
        if let Some(url) = &self.qdrant.url {
            url::Url::parse(url).map_err(|e| invalid("qdrant.url", format!("not a URL: {e}")))?;
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
        self.models.dir.clone().unwrap_or_else(|| {
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
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
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
}
