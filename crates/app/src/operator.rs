//! What an operator does without SQL (`docent-api admin`, `backup`, `restore`): list accounts and
//! organizations, disable and enable accounts, sign an account out everywhere, read the job queue,
//! retry failed documents, and back up or restore the embedded default. Each needs only the
//! database (and, for backups, the data directory's files), so it runs next to a serving instance.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use docent_identity::{IdentityError, IdentityService};
use docent_infrastructure::backup::{self, BackupError, Copied, DataLayout};
use docent_infrastructure::config::{BlobBackend, Config};
use docent_infrastructure::db::SqlStore;
pub use docent_infrastructure::db::admin::{
    FailedDocument, FailedJob, JobCounts, OrgSummary, UserSummary,
};
use docent_infrastructure::mail;
use docent_infrastructure::rate_limit::InMemoryKeyRateLimiter;
use docent_infrastructure::throttle::InMemoryLimiter;
use docent_kernel::{
    ApiKeyId, Clock as _, OrgId, SecretString, StoreError, SystemClock, TenantCtx, UserId,
};
use docent_keys::{KeyError, KeyRequest, KeyService};
use docent_tenancy::{Permission, TenancyError, TenancyService};

use crate::bootstrap::{
    BootstrapError, identity_service, key_service, open_database, tenancy_service,
};

/// Why an operator command failed; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// docent could not be reached or set up.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// No account has that address.
    #[error("no account has the address {0}")]
    NoSuchUser(String),
    /// The database failed.
    #[error("the database failed: {0}")]
    Store(#[from] StoreError),
    /// The identity service refused.
    #[error("{0}")]
    Identity(IdentityError),
    /// A backup or restore failed or was refused.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The command does not apply to this deployment.
    #[error("{0}")]
    Unsupported(String),
    /// The organization does not exist or has no owner to act for.
    #[error("no organization {0} with an owner")]
    NoSuchOrg(OrgId),
    /// The key service refused.
    #[error("{0}")]
    Keys(KeyError),
}

/// An API key made for one run of `import` or `export` against the local instance, revoked when
/// the run ends.
#[derive(Debug)]
pub struct TemporaryKey {
    /// The key to send.
    pub secret: SecretString,
    id: ApiKeyId,
    tenant: TenantCtx,
}

/// The operator's view of one docent installation.
#[derive(Debug, Clone)]
pub struct Operator {
    store: Arc<SqlStore>,
    identity: Arc<IdentityService>,
    tenancy: Arc<TenancyService>,
    keys: Arc<KeyService>,
}

impl Operator {
    /// Opens the configured database (which must be migrated: `docent-api migrate`).
    ///
    /// # Errors
    /// When the database cannot be opened or the services cannot be built.
    pub async fn open(config: &Config) -> Result<Self, OperatorError> {
        let store = Arc::new(SqlStore::new(open_database(config).await?));
        let mailer: Arc<dyn docent_kernel::Mailer> = Arc::from(
            mail::from_config(&config.mail, config.mail_dir()).map_err(BootstrapError::Mail)?,
        );
        let limiter = Arc::new(InMemoryLimiter::default());
        let identity = identity_service(
            config,
            store.clone(),
            limiter.clone(),
            mailer.clone(),
            Arc::new(SystemClock),
        )?;
        let tenancy = tenancy_service(
            config,
            store.clone(),
            limiter,
            mailer,
            Arc::new(SystemClock),
        );
        let keys = key_service(
            config,
            store.clone(),
            Arc::new(InMemoryKeyRateLimiter::default()),
            Arc::new(SystemClock),
        );
        Ok(Self {
            store,
            identity: Arc::new(identity),
            tenancy: Arc::new(tenancy),
            keys: Arc::new(keys),
        })
    }

    /// Every account.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn users(&self) -> Result<Vec<UserSummary>, OperatorError> {
        Ok(self.store.admin_users(SystemClock.now()).await?)
    }

    /// Every organization.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn orgs(&self) -> Result<Vec<OrgSummary>, OperatorError> {
        Ok(self.store.admin_orgs().await?)
    }

    /// Disables (or enables again) the account with this address: a disabled account cannot sign
    /// in and its sessions stop working at once.
    ///
    /// # Errors
    /// `NoSuchUser` for an unknown address.
    pub async fn set_disabled(&self, email: &str, disabled: bool) -> Result<(), OperatorError> {
        let user = self.user(email).await?;
        self.identity
            .set_disabled(user, disabled)
            .await
            .map_err(OperatorError::Identity)
    }

    /// Signs the account with this address out everywhere; returns how many sessions ended.
    ///
    /// # Errors
    /// `NoSuchUser` for an unknown address.
    pub async fn reset_sessions(&self, email: &str) -> Result<u64, OperatorError> {
        let user = self.user(email).await?;
        self.identity
            .revoke_all_sessions(user)
            .await
            .map_err(OperatorError::Identity)
    }

    /// The job queue by kind.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn queue(&self) -> Result<Vec<(String, JobCounts)>, OperatorError> {
        Ok(self.store.job_counts(SystemClock.now()).await?)
    }

    /// The most recently failed jobs.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn failed_jobs(&self, limit: u64) -> Result<Vec<FailedJob>, OperatorError> {
        Ok(self.store.failed_jobs(limit).await?)
    }

    /// The failed documents of one organization, or of all.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn failed_documents(
        &self,
        org: Option<OrgId>,
    ) -> Result<Vec<FailedDocument>, OperatorError> {
        Ok(self.store.failed_documents(org).await?)
    }

    /// Queues every failed document (of one organization, or of all) for processing again.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn retry_failed(
        &self,
        org: Option<OrgId>,
    ) -> Result<Vec<FailedDocument>, OperatorError> {
        Ok(self
            .store
            .retry_failed_documents(org, SystemClock.now())
            .await?)
    }

    /// An API key of `org` with `scopes`, made in the name of the organization's longest-standing
    /// owner (the audit log records it as theirs, named `name`), expiring within a day; revoke
    /// it with [`Operator::revoke`] when done.
    ///
    /// # Errors
    /// `NoSuchOrg` when the organization does not exist or has no owner.
    pub async fn temporary_key(
        &self,
        org: OrgId,
        name: &str,
        scopes: &[&str],
    ) -> Result<TemporaryKey, OperatorError> {
        let owner = self
            .store
            .org_owner(org)
            .await?
            .map(UserId::from_uuid)
            .ok_or(OperatorError::NoSuchOrg(org))?;
        let access = match self
            .tenancy
            .authorize(owner, org, Permission::ManageKeys)
            .await
        {
            Ok(access) => access,
            Err(TenancyError::OrgNotFound | TenancyError::Forbidden) => {
                return Err(OperatorError::NoSuchOrg(org));
            }
            Err(other) => return Err(OperatorError::Unsupported(other.to_string())),
        };
        let issued = self
            .keys
            .create(
                &access.tenant,
                owner,
                KeyRequest {
                    name: name.to_owned(),
                    scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                    chatbot_ids: None,
                    expires_at: Some(SystemClock.now() + chrono::Duration::days(1)),
                    rate_limit_per_minute: None,
                    monthly_message_quota: None,
                    monthly_token_quota: None,
                    allowed_origins: None,
                },
            )
            .await
            .map_err(OperatorError::Keys)?;
        Ok(TemporaryKey {
            secret: issued.secret,
            id: issued.key.id,
            tenant: access.tenant,
        })
    }

    /// Revokes a temporary key.
    ///
    /// # Errors
    /// When the key service fails.
    pub async fn revoke(&self, key: TemporaryKey) -> Result<(), OperatorError> {
        self.keys
            .revoke(&key.tenant, key.id)
            .await
            .map_err(OperatorError::Keys)
    }

    async fn user(&self, email: &str) -> Result<docent_kernel::UserId, OperatorError> {
        match self.identity.find_by_email(email).await {
            Ok(user) => Ok(user.id),
            Err(IdentityError::UserNotFound) => Err(OperatorError::NoSuchUser(email.to_owned())),
            Err(other) => Err(OperatorError::Identity(other)),
        }
    }
}

/// Where the embedded default keeps its data, or why this deployment is not one.
fn layout(config: &Config) -> Result<DataLayout, OperatorError> {
    let mut other = Vec::new();
    if !config.uses_sqlite() {
        other.push("PostgreSQL (back it up with pg_dump or your provider's snapshots)");
    }
    if config.qdrant.url.is_some() {
        other.push("a Qdrant server (use Qdrant's snapshots)");
    }
    if config.blobs.backend == BlobBackend::S3 {
        other.push("S3 blobs (use the bucket's versioning or replication)");
    }
    if !other.is_empty() {
        return Err(OperatorError::Unsupported(format!(
            "backup and restore cover the embedded default (SQLite, in-process vectors, local blobs); this configuration uses {}",
            other.join(", ")
        )));
    }
    Ok(DataLayout {
        database: sqlite_file(&config.database_url()),
        vectors: config.data_dir.join("vectors"),
        blobs: config.blobs_dir(),
        master_key: config.master_key_file(),
    })
}

/// The file of a `sqlite:` URL.
fn sqlite_file(url: &str) -> PathBuf {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    PathBuf::from(path.split('?').next().unwrap_or(path))
}

/// Backs up the embedded default into `dest` (a new directory) while docent may be running.
///
/// # Errors
/// `Unsupported` for other deployments; `Backup` when the copy fails or `dest` is not empty.
pub async fn backup(config: &Config, dest: &Path) -> Result<Copied, OperatorError> {
    let layout = layout(config)?;
    let store = SqlStore::new(open_database(config).await?);
    Ok(backup::backup(&store, &layout, dest).await?)
}

/// Restores a backup into the configured data directory, which must not hold data yet; run it
/// before starting docent there.
///
/// # Errors
/// `Unsupported` for other deployments; `Backup` when `src` is not a backup or the target holds
/// data.
pub async fn restore(config: &Config, src: &Path) -> Result<Copied, OperatorError> {
    let layout = layout(config)?;
    let src = src.to_path_buf();
    tokio::task::spawn_blocking(move || backup::restore(&layout, &src))
        .await
        .map_err(|e| OperatorError::Unsupported(e.to_string()))?
        .map_err(OperatorError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_file_is_read_off_its_url() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/docent/docent.db?mode=rwc"),
            PathBuf::from("/var/lib/docent/docent.db")
        );
        assert_eq!(
            sqlite_file("sqlite://./data/docent.db?mode=rwc"),
            PathBuf::from("./data/docent.db")
        );
        assert_eq!(sqlite_file("sqlite:x.db"), PathBuf::from("x.db"));
    }
}
