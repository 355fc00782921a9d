//! What deleting an organization sets off in the relational store: its background work is
//! cancelled and its purge scheduled in the deletion's transaction; the purge then removes
//! everything it owns but its audit log and usage ledger, and schedules the organization to be
//! forgotten — its row, and with it (by cascade) those two — once the operator's retention ends.

use chrono::{DateTime, Utc};
use docent_documents::jobs::{JobKind, NewJob};
use docent_kernel::{OrgId, StoreError};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, PaginatorTrait as _, QueryFilter as _,
};
use uuid::Uuid;

use super::documents::{STATE_DONE, STATE_PENDING, insert_job};
use super::entity::{
    api_keys, audit_events, chat_messages, chatbots, conversations, document_chunks, documents,
    invitations, jobs, memberships, organizations, providers, usage_daily,
};
use super::scope::OrgScoped;
use super::{SqlStore, store_error, write_transaction};

/// In the deletion's transaction: cancels the organization's pending jobs and enqueues its
/// purge.
pub(super) async fn schedule_purge(
    txn: &impl ConnectionTrait,
    org: OrgId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    jobs::Entity::update_of(org)
        .col_expr(jobs::Column::State, Expr::value(STATE_DONE))
        .col_expr(jobs::Column::LeaseToken, Expr::value(Option::<Uuid>::None))
        .col_expr(
            jobs::Column::LastError,
            Expr::value("cancelled: organization deleted"),
        )
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
        .filter(jobs::Column::State.eq(STATE_PENDING))
        .exec(txn)
        .await
        .map_err(store_error)?;
    insert_job(txn, &NewJob::for_org(JobKind::PurgeOrg, org, now)).await
}

/// Rows of one table of an organization, for checks after a purge.
async fn count<E>(store: &SqlStore, org: OrgId) -> Result<u64, StoreError>
where
    E: OrgScoped,
    E::Model: Sync,
{
    E::of(org).count(&store.db).await.map_err(store_error)
}

impl SqlStore {
    /// Removes a deleted organization's documents and chunks, chatbots with their conversations
    /// and messages, provider connections (with their sealed keys), API keys, invitations,
    /// memberships and finished jobs, and schedules it to be forgotten at `forget_at` — in one
    /// transaction. Its audit log, usage ledger and row stay until then. Does nothing (and
    /// schedules nothing) for an organization that is not deleted.
    pub async fn purge_org(
        &self,
        org: OrgId,
        forget_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = write_transaction(&self.db).await?;
        let deleted = organizations::Entity::find_by_id(org.as_uuid())
            .filter(organizations::Column::DeletedAt.is_not_null())
            .one(&txn)
            .await
            .map_err(store_error)?
            .is_some();
        if !deleted {
            return Ok(false);
        }
        // Chunks go with their documents, conversations and messages with their chatbots; the
        // chatbots go before the providers they use.
        documents::Entity::delete_of(org)
            .exec(&txn)
            .await
            .map_err(store_error)?;
        chatbots::Entity::delete_of(org)
            .exec(&txn)
            .await
            .map_err(store_error)?;
        providers::Entity::delete_of(org)
            .exec(&txn)
            .await
            .map_err(store_error)?;
        api_keys::Entity::delete_of(org)
            .exec(&txn)
            .await
            .map_err(store_error)?;
        invitations::Entity::delete_of(org)
            .exec(&txn)
            .await
            .map_err(store_error)?;
        memberships::Entity::delete_of(org)
            .exec(&txn)
            .await
            .map_err(store_error)?;
        // Finished and cancelled jobs; the purge's own job completes afterwards.
        jobs::Entity::delete_of(org)
            .filter(jobs::Column::State.ne(STATE_PENDING))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        insert_job(&txn, &NewJob::for_org(JobKind::ForgetOrg, org, forget_at)).await?;
        self.commit_auth_change(txn).await?;
        Ok(true)
    }

    /// Forgets a deleted organization: its row, and with it its audit log and usage ledger, and
    /// every job of it but the running `ForgetOrg` one (which goes when it completes).
    pub async fn forget_org(&self, org: OrgId) -> Result<(), StoreError> {
        let txn = write_transaction(&self.db).await?;
        organizations::Entity::delete_many()
            .filter(organizations::Column::Id.eq(org.as_uuid()))
            .filter(organizations::Column::DeletedAt.is_not_null())
            .exec(&txn)
            .await
            .map_err(store_error)?;
        jobs::Entity::delete_of(org)
            .filter(jobs::Column::Kind.ne(JobKind::ForgetOrg.as_str()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)
    }

    /// How many rows of each tenant table an organization has (for checks after a purge; the
    /// organization's own row counts as `organizations`).
    pub async fn org_rows(&self, org: OrgId) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let own = organizations::Entity::find_by_id(org.as_uuid())
            .count(&self.db)
            .await
            .map_err(store_error)?;
        Ok(vec![
            ("organizations", own),
            (
                "memberships",
                count::<memberships::Entity>(self, org).await?,
            ),
            (
                "invitations",
                count::<invitations::Entity>(self, org).await?,
            ),
            ("api_keys", count::<api_keys::Entity>(self, org).await?),
            (
                "audit_events",
                count::<audit_events::Entity>(self, org).await?,
            ),
            (
                "usage_daily",
                count::<usage_daily::Entity>(self, org).await?,
            ),
            ("documents", count::<documents::Entity>(self, org).await?),
            (
                "document_chunks",
                count::<document_chunks::Entity>(self, org).await?,
            ),
            ("jobs", count::<jobs::Entity>(self, org).await?),
            ("providers", count::<providers::Entity>(self, org).await?),
            ("chatbots", count::<chatbots::Entity>(self, org).await?),
            (
                "conversations",
                count::<conversations::Entity>(self, org).await?,
            ),
            (
                "chat_messages",
                count::<chat_messages::Entity>(self, org).await?,
            ),
        ])
    }
}
