//! The relational store: connection set-up, migrations, and the sea-orm implementations of the
//! domain's repository ports. Supports SQLite (embedded default) and PostgreSQL.

pub mod admin;
mod audit;
pub mod auth_cache;
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

use std::sync::{Arc, Weak};
use std::time::Duration;

use docent_kernel::StoreError;
use docent_migration::{Migrator, MigratorTrait as _};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqlErr, Statement,
};

use self::auth_cache::{AuthCache, POLL_INTERVAL};

/// An open connection pool.
pub type Connection = DatabaseConnection;

/// Why a migration failed.
pub type MigrationError = DbErr;

/// The sea-orm implementation of every repository port, over one connection pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
    /// Verified credentials; shared by every clone of the store.
    auth: Arc<AuthCache>,
}

impl SqlStore {
    /// Wraps an open connection pool; every lookup asks the database.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            auth: Arc::new(AuthCache::disabled()),
        }
    }

    /// Wraps an open connection pool for a serving process: verified sessions, keys and
    /// memberships are kept in memory exactly as long as nothing changed them (see
    /// [`auth_cache`]), once [`SqlStore::watch_auth_epoch`] runs.
    #[must_use]
    pub fn with_auth_cache(db: DatabaseConnection) -> Self {
        Self {
            db,
            auth: Arc::new(AuthCache::enabled()),
        }
    }

    /// Starts the task that reads the authentication epoch every [`POLL_INTERVAL`], so that
    /// what another process changed empties this store's cache; it ends once every clone of the
    /// store is gone.
    pub fn watch_auth_epoch(&self) -> tokio::task::JoinHandle<()> {
        let cache: Weak<AuthCache> = Arc::downgrade(&self.auth);
        let db = self.db.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(POLL_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(cache) = cache.upgrade() else {
                    return;
                };
                match read_auth_epoch(&db).await {
                    Ok(epoch) => cache.observe_epoch(epoch),
                    // The cache stops answering by itself once the epoch goes unconfirmed.
                    Err(error) => tracing::debug!(%error, "cannot read the authentication epoch"),
                }
            }
        })
    }

    /// Increments the authentication epoch in `txn`, commits it, and empties this process's
    /// cache: how every write that changes authentication ends.
    pub(crate) async fn commit_auth_change(
        &self,
        txn: DatabaseTransaction,
    ) -> Result<(), StoreError> {
        txn.execute_unprepared("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1")
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        self.auth.invalidate();
        Ok(())
    }

    /// [`SqlStore::commit_auth_change`] when `changed`, else a plain commit (a revocation that
    /// matched nothing does not empty anyone's cache).
    pub(crate) async fn commit_auth_change_if(
        &self,
        txn: DatabaseTransaction,
        changed: bool,
    ) -> Result<(), StoreError> {
        if changed {
            self.commit_auth_change(txn).await
        } else {
            txn.commit().await.map_err(store_error)
        }
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

async fn read_auth_epoch(db: &DatabaseConnection) -> Result<i64, StoreError> {
    let statement = Statement::from_string(
        db.get_database_backend(),
        "SELECT epoch FROM auth_epoch WHERE id = 1",
    );
    let row = db
        .query_one_raw(statement)
        .await
        .map_err(store_error)?
        .ok_or_else(|| corrupt("auth_epoch", "the row is missing"))?;
    row.try_get::<i64>("", "epoch").map_err(store_error)
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
