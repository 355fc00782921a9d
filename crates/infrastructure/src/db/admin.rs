//! What an operator reads across organizations (`docent-api admin`): accounts, organizations, the
//! job queue and failed documents. None of it is reachable from the HTTP API; reads narrowed to
//! one organization still start from the tenant filter.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use docent_kernel::{OrgId, StoreError};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};
use uuid::Uuid;

use super::documents::{STATE_DEAD, STATE_PENDING};
use super::entity::{documents, jobs, memberships, organizations, sessions, users};
use super::scope::OrgScoped as _;
use super::{SqlStore, store_error};

/// An account, as an operator lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    /// The user's id.
    pub id: Uuid,
    /// The sign-in address.
    pub email: String,
    /// The display name.
    pub name: String,
    /// When the account was made.
    pub created_at: DateTime<Utc>,
    /// When it was disabled, if it is.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Organizations it is a member of.
    pub orgs: u64,
    /// Sessions neither revoked nor expired.
    pub active_sessions: u64,
}

/// An organization, as an operator lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSummary {
    /// The organization's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its slug.
    pub slug: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was deleted (its data is purged in the background), if it was.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Its members.
    pub members: u64,
    /// Its documents.
    pub documents: u64,
}

/// The queue of one kind of job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Waiting for a worker (including retries waiting for their time).
    pub queued: u64,
    /// Claimed by a worker whose lease has not run out.
    pub running: u64,
    /// Given up after their attempts (`dead`).
    pub failed: u64,
}

/// A job that was given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedJob {
    /// The job's id.
    pub id: Uuid,
    /// `ingest`, `purge`, …
    pub kind: String,
    /// The organization.
    pub org_id: Uuid,
    /// The document it was for.
    pub document_id: Uuid,
    /// Attempts made.
    pub attempts: i32,
    /// The last error.
    pub last_error: Option<String>,
    /// When it was given up.
    pub updated_at: DateTime<Utc>,
}

/// A document whose processing failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDocument {
    /// The organization.
    pub org_id: OrgId,
    /// The document's id.
    pub id: Uuid,
    /// Its title.
    pub title: String,
    /// The stable error code.
    pub error_code: Option<String>,
    /// The error in words.
    pub error_message: Option<String>,
}

fn count_by(ids: impl IntoIterator<Item = Uuid>) -> HashMap<Uuid, u64> {
    let mut counts = HashMap::new();
    for id in ids {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

impl SqlStore {
    /// Every account, oldest first, with its organizations and active sessions counted.
    pub async fn admin_users(&self, now: DateTime<Utc>) -> Result<Vec<UserSummary>, StoreError> {
        let members: Vec<Uuid> = memberships::Entity::find()
            .select_only()
            .column(memberships::Column::UserId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let orgs = count_by(members);
        let active: Vec<Uuid> = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::UserId)
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let sessions = count_by(active);
        let users = users::Entity::find()
            .order_by_asc(users::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(store_error)?;
        Ok(users
            .into_iter()
            .map(|user| UserSummary {
                orgs: orgs.get(&user.id).copied().unwrap_or(0),
                active_sessions: sessions.get(&user.id).copied().unwrap_or(0),
                id: user.id,
                email: user.email,
                name: user.name,
                created_at: user.created_at,
                disabled_at: user.disabled_at,
            })
            .collect())
    }

    /// Every organization (deleted ones too, until purged), oldest first, with its members and
    /// documents counted.
    pub async fn admin_orgs(&self) -> Result<Vec<OrgSummary>, StoreError> {
        let members: Vec<Uuid> = memberships::Entity::find()
            .select_only()
            .column(memberships::Column::OrgId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let members = count_by(members);
        let documents: Vec<Uuid> = documents::Entity::find()
            .select_only()
            .column(documents::Column::OrgId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let documents = count_by(documents);
        let orgs = organizations::Entity::find()
            .order_by_asc(organizations::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(store_error)?;
        Ok(orgs
            .into_iter()
            .map(|org| OrgSummary {
                members: members.get(&org.id).copied().unwrap_or(0),
                documents: documents.get(&org.id).copied().unwrap_or(0),
                id: org.id,
                name: org.name,
                slug: org.slug,
                created_at: org.created_at,
                deleted_at: org.deleted_at,
            })
            .collect())
    }

    /// The job queue by kind at `now`: queued, running (leased) and failed jobs.
    pub async fn job_counts(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, JobCounts)>, StoreError> {
        let rows: Vec<(String, String, Option<DateTime<Utc>>)> = jobs::Entity::find()
            .select_only()
            .column(jobs::Column::Kind)
            .column(jobs::Column::State)
            .column(jobs::Column::LeaseUntil)
            .filter(jobs::Column::State.is_in([STATE_PENDING, STATE_DEAD]))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let mut counts: std::collections::BTreeMap<String, JobCounts> =
            std::collections::BTreeMap::new();
        for (kind, state, lease_until) in rows {
            let entry = counts.entry(kind).or_default();
            if state == STATE_DEAD {
                entry.failed += 1;
            } else if lease_until.is_some_and(|until| until > now) {
                entry.running += 1;
            } else {
                entry.queued += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }

    /// The most recently failed jobs, newest first.
    pub async fn failed_jobs(&self, limit: u64) -> Result<Vec<FailedJob>, StoreError> {
        let rows = jobs::Entity::find()
            .filter(jobs::Column::State.eq(STATE_DEAD))
            .order_by_desc(jobs::Column::UpdatedAt)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|job| FailedJob {
                id: job.id,
                kind: job.kind,
                org_id: job.org_id,
                document_id: job.document_id,
                attempts: job.attempts,
                last_error: job.last_error,
                updated_at: job.updated_at,
            })
            .collect())
    }

    /// The failed documents of one organization, or of every organization.
    pub async fn failed_documents(
        &self,
        org: Option<OrgId>,
    ) -> Result<Vec<FailedDocument>, StoreError> {
        let failed = docent_documents::DocumentStatus::Failed.as_str();
        let query = match org {
            Some(org) => documents::Entity::of(org),
            None => documents::Entity::find(),
        };
        let rows = query
            .filter(documents::Column::Status.eq(failed))
            .order_by_asc(documents::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|document| FailedDocument {
                org_id: OrgId::from_uuid(document.org_id),
                id: document.id,
                title: document.title,
                error_code: document.error_code,
                error_message: document.error_message,
            })
            .collect())
    }

    /// Queues every failed document (of one organization, or all) for processing again, as
    /// `POST …/documents/{id}/reprocess` does, and retires the given-up jobs of each so the queue
    /// no longer counts them as failed. Returns the documents queued.
    pub async fn retry_failed_documents(
        &self,
        org: Option<OrgId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<FailedDocument>, StoreError> {
        use docent_documents::jobs::{JobKind, NewJob};
        use docent_documents::ports::DocumentRepo as _;
        use docent_kernel::DocumentId;
        use sea_orm::sea_query::Expr;

        let mut queued = Vec::new();
        for document in self.failed_documents(org).await? {
            let id = DocumentId::from_uuid(document.id);
            let job = NewJob::new(JobKind::Ingest, document.org_id, id, now);
            if !self.requeue(document.org_id, id, &job).await? {
                // Deleted or picked up since it was listed.
                continue;
            }
            jobs::Entity::update_of(document.org_id)
                .col_expr(
                    jobs::Column::State,
                    Expr::value(super::documents::STATE_DONE),
                )
                .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
                .filter(jobs::Column::DocumentId.eq(document.id))
                .filter(jobs::Column::State.eq(STATE_DEAD))
                .exec(&self.db)
                .await
                .map_err(store_error)?;
            queued.push(document);
        }
        Ok(queued)
    }

    /// The organization's longest-standing owner, if it has one (a deleted organization has
    /// none).
    pub async fn org_owner(&self, org: OrgId) -> Result<Option<Uuid>, StoreError> {
        let owner = memberships::Entity::of(org)
            .filter(memberships::Column::Role.eq("owner"))
            .order_by_asc(memberships::Column::CreatedAt)
            .one(&self.db)
            .await
            .map_err(store_error)?;
        Ok(owner.map(|m| m.user_id))
    }
}
