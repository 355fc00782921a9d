//! The relational store: connection set-up, migrations, and the sea-orm implementations of the
//! domain's repository ports. Supports SQLite (embedded default) and PostgreSQL.

pub mod admin;
mod audit;
mod chat;
mod documents;
pub mod entity;
mod identity;
mod keys;
mod providers;
mod purge;
mod scope;
mod tenancy;
#[cfg(test)]
mod tests;
mod usage;

use std::time::Duration;

use docent_kernel::StoreError;
use docent_migration::{Migrator, MigratorTrait as _};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DbErr, SqlErr};

/// An open connection pool.
pub type Connection = DatabaseConnection;

/// Why a migration failed.
pub type MigrationError = DbErr;

/// The sea-orm implementation of every repository port, over one connection pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
}

impl SqlStore {
    /// Wraps an open connection pool.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection pool.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(store_error)
    }
}

/// Opens a connection pool. SQLite files are created when missing and use write-ahead logging so
/// readers never wait for the writer.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
        });
    let db = Database::connect(options).await?;
    // Probe once so a wrong URL fails at start-up, not at the first request.
    db.execute_unprepared("SELECT 1").await?;
    Ok(db)
}

/// Applies all pending migrations.
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Rolls back the last `steps` migrations (all when `None`).
pub async fn migrate_down(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
    Migrator::down(db, steps).await
}

/// The names of applied and pending migrations.
pub async fn migration_status(
    db: &DatabaseConnection,
) -> Result<(Vec<String>, Vec<String>), DbErr> {
    let applied = Migrator::get_applied_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let pending = Migrator::get_pending_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    Ok((applied, pending))
}

/// Begins a transaction that writes. On SQLite it takes the write lock at `BEGIN` (`IMMEDIATE`):
/// two transactions that read and then write then queue on the busy timeout instead of one
/// failing at once with `SQLITE_BUSY` when it upgrades its read lock (a 503 under concurrent
/// writes, found by schemathesis with two workers). PostgreSQL ignores the mode.
pub(crate) async fn write_transaction(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, StoreError> {
    use sea_orm::TransactionTrait as _;
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
    .map_err(store_error)
}

/// Maps a driver error into the ports' error. Unique violations become `Conflict("unique")`,
/// foreign-key violations `Conflict("foreign_key")`.
pub(crate) fn store_error(error: DbErr) -> StoreError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict("unique"),
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => StoreError::Conflict("foreign_key"),
        // SQLite reports an `ON DELETE RESTRICT` violation as SQLITE_CONSTRAINT_TRIGGER (1811),
        // which sea-orm does not classify.
        _ if error.to_string().contains("FOREIGN KEY constraint failed") => {
            StoreError::Conflict("foreign_key")
        }
        _ => StoreError::Unavailable(error.to_string()),
    }
}

/// Parses a token hash stored as hex in `column`.
pub(crate) fn stored_hash(
    column: &str,
    stored: &str,
) -> Result<docent_kernel::TokenHash, StoreError> {
    let mut bytes = [0_u8; 32];
    hex::decode_to_slice(stored, &mut bytes).map_err(|e| corrupt(column, e))?;
    Ok(docent_kernel::TokenHash::from_bytes(bytes))
}

/// Maps a stored value that fails domain validation.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}
