//! Wires configuration, storage and adapters into the domain services.

use std::sync::Arc;
use std::time::Duration;

use docent_identity::{IdentityConfig, IdentityService};
use docent_kernel::{Clock, Mailer, SystemClock};
use docent_keys::{KeyRateLimiter, KeyService, MonthlyQuota};
use docent_tenancy::{TenancyConfig, TenancyService};
use secrecy::ExposeSecret as _;

use crate::config::Config;
use crate::db::{self, SqlStore};
use crate::mail;
use crate::rate_limit::{InMemoryKeyRateLimiter, RedisKeyRateLimiter};
use crate::throttle::InMemoryLoginThrottle;

/// Everything the HTTP API and the worker need, built once at start-up.
#[derive(Debug, Clone)]
pub struct Services {
    /// Accounts, sessions and passwords.
    pub identity: Arc<IdentityService>,
    /// Organizations, members and invitations.
    pub tenancy: Arc<TenancyService>,
    /// API keys.
    pub keys: Arc<KeyService>,
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
        vec![(
            "database",
            self.store.ping().await.err().map(|e| e.to_string()),
        )]
    }
}

/// Opens the database (creating the data directory and SQLite file as needed), applies migrations
/// when `migrate` is set, and builds the services.
pub async fn bootstrap(config: &Config, migrate: bool) -> Result<Services, BootstrapError> {
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
        MonthlyQuota {
            messages: config.limits.org_monthly_message_quota,
            tokens: config.limits.org_monthly_token_quota,
        },
    );
    let tenancy = TenancyService::new(
        store_arc.clone(),
        store_arc.clone(),
        store_arc.clone(),
        store_arc,
        mailer,
        clock,
        TenancyConfig {
            invitation_ttl: chrono::Duration::days(7),
            public_url: config.public_url(),
        },
    );
    Ok(Services {
        identity: Arc::new(identity),
        tenancy: Arc::new(tenancy),
        keys: Arc::new(keys),
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

/// Opens the configured database without building services (for `docent-api migrate`).
pub async fn open_database(config: &Config) -> Result<sea_orm::DatabaseConnection, BootstrapError> {
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
