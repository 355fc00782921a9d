//! Documents, chunks and the job queue over sea-orm.
//!
//! Every read, change and deletion of documents and chunks starts from the tenant filter
//! ([`OrgScoped`]); nothing here touches a row without it. Jobs are the worker's and carry their
//! organization for fair claiming.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_documents::jobs::{ClaimedJob, JobKind, JobQueue, NewJob};
use docent_documents::ports::DocumentRepo;
use docent_documents::{Document, DocumentFilter, DocumentStatus, Failure, Progress, StoredChunk};
use docent_kernel::{Actor, ApiKeyId, DocumentId, JobId, OrgId, PageRequest, StoreError, UserId};
use sea_orm::sea_query::{
    Expr, ExprTrait as _, LikeExpr, LockBehavior, LockType, NullOrdering, OnConflict,
};
use sea_orm::{
    ColumnTrait as _, Condition, ConnectionTrait, DbBackend, EntityTrait as _, Order,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, QueryTrait as _, Set,
    UpdateMany,
};
use uuid::Uuid;

use super::entity::{document_chunks, documents, jobs};
use super::scope::OrgScoped as _;
use super::{SqlStore, corrupt, store_error, write_transaction};

/// Chunk rows per INSERT (9 columns each; SQLite allows 32 766 bound values).
const CHUNK_INSERT_BATCH: usize = 1_000;

/// One document of `org`, to change.
fn one_document(org: OrgId, id: DocumentId) -> UpdateMany<documents::Entity> {
    documents::Entity::update_of(org).filter(documents::Column::Id.eq(id.as_uuid()))
}

/// Moves one document to `status` at `at` (the tenant filter included).
fn status_update(
    org: OrgId,
    id: DocumentId,
    status: DocumentStatus,
    at: DateTime<Utc>,
) -> UpdateMany<documents::Entity> {
    one_document(org, id)
        .col_expr(documents::Column::Status, Expr::value(status.as_str()))
        .col_expr(documents::Column::UpdatedAt, Expr::value(at))
}

/// Moves one document to `status` for a new run: progress back to zero, the last failure cleared.
fn fresh_run(
    org: OrgId,
    id: DocumentId,
    status: DocumentStatus,
    at: DateTime<Utc>,
) -> UpdateMany<documents::Entity> {
    status_update(org, id, status, at)
        .col_expr(documents::Column::ChunksDone, Expr::value(0))
        .col_expr(documents::Column::ChunksTotal, Expr::value(0))
        .col_expr(
            documents::Column::ErrorCode,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            documents::Column::ErrorMessage,
            Expr::value(Option::<String>::None),
        )
}

fn stored_tags(tags: &[String]) -> String {
    if tags.is_empty() {
        String::new()
    } else {
        format!(" {} ", tags.join(" "))
    }
}

fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

fn stored_count(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn document_from(model: documents::Model) -> Result<Document, StoreError> {
    let status = DocumentStatus::parse(&model.status)
        .ok_or_else(|| corrupt("documents.status", &model.status))?;
    let created_by = match model.created_by_kind.as_str() {
        "user" => Actor::User(UserId::from_uuid(model.created_by)),
        "api_key" => Actor::ApiKey(ApiKeyId::from_uuid(model.created_by)),
        other => return Err(corrupt("documents.created_by_kind", other)),
    };
    let failure = model.error_code.map(|code| Failure {
        code,
        message: model.error_message.unwrap_or_default(),
    });
    Ok(Document {
        id: DocumentId::from_uuid(model.id),
        org_id: OrgId::from_uuid(model.org_id),
        title: model.title,
        file_name: model.file_name,
        media_type: model.media_type,
        size_bytes: u64::try_from(model.size_bytes).unwrap_or(0),
        checksum: model.checksum,
        tags: model.tags.split_whitespace().map(str::to_owned).collect(),
        status,
        progress: Progress {
            chunks_done: count(model.chunks_done),
            chunks_total: count(model.chunks_total),
        },
        failure,
        chunk_count: count(model.chunk_count),
        embedding_model: model.embedding_model,
        created_by,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn chunk_from(model: document_chunks::Model) -> StoredChunk {
    StoredChunk {
        document_id: DocumentId::from_uuid(model.document_id),
        ordinal: count(model.ordinal),
        text: model.text,
        char_start: u64::try_from(model.char_start).unwrap_or(0),
        char_end: u64::try_from(model.char_end).unwrap_or(0),
        page: model.page.and_then(|p| u32::try_from(p).ok()),
        section: model.section,
        token_count: count(model.token_count),
    }
}

fn job_row(job: &NewJob) -> jobs::ActiveModel {
    jobs::ActiveModel {
        id: Set(job.id.as_uuid()),
        org_id: Set(job.org_id.as_uuid()),
        kind: Set(job.kind.as_str().to_owned()),
        document_id: Set(job.document_id.as_uuid()),
        state: Set(STATE_PENDING.to_owned()),
        attempts: Set(0),
        run_at: Set(job.at),
        lease_token: Set(None),
        lease_owner: Set(None),
        lease_until: Set(None),
        claimed_at: Set(None),
        last_error: Set(None),
        created_at: Set(job.at),
        updated_at: Set(job.at),
    }
}

pub(super) const STATE_PENDING: &str = "pending";
pub(super) const STATE_DONE: &str = "done";
pub(super) const STATE_DEAD: &str = "dead";

/// Escapes `%`, `_` and the escape character itself for a LIKE pattern.
fn like_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) async fn insert_job(db: &impl ConnectionTrait, job: &NewJob) -> Result<(), StoreError> {
    jobs::Entity::insert(job_row(job))
        .exec_without_returning(db)
        .await
        .map_err(store_error)?;
    Ok(())
}

#[async_trait]
impl DocumentRepo for SqlStore {
    async fn insert(&self, document: &Document, job: &NewJob) -> Result<(), StoreError> {
        let (created_by_kind, created_by) = match document.created_by {
            Actor::User(id) => ("user", id.as_uuid()),
            Actor::ApiKey(id) => ("api_key", id.as_uuid()),
        };
        let row = documents::ActiveModel {
            id: Set(document.id.as_uuid()),
            org_id: Set(document.org_id.as_uuid()),
            title: Set(document.title.clone()),
            file_name: Set(document.file_name.clone()),
            media_type: Set(document.media_type.clone()),
            size_bytes: Set(i64::try_from(document.size_bytes).unwrap_or(i64::MAX)),
            checksum: Set(document.checksum.clone()),
            tags: Set(stored_tags(&document.tags)),
            status: Set(document.status.as_str().to_owned()),
            chunks_done: Set(stored_count(document.progress.chunks_done)),
            chunks_total: Set(stored_count(document.progress.chunks_total)),
            error_code: Set(document.failure.as_ref().map(|f| f.code.clone())),
            error_message: Set(document.failure.as_ref().map(|f| f.message.clone())),
            chunk_count: Set(stored_count(document.chunk_count)),
            embedding_model: Set(document.embedding_model.clone()),
            created_by_kind: Set(created_by_kind.to_owned()),
            created_by: Set(created_by),
            created_at: Set(document.created_at),
            updated_at: Set(document.updated_at),
        };
        let txn = write_transaction(&self.db).await?;
        documents::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(store_error)?;
        insert_job(&txn, job).await?;
        txn.commit().await.map_err(store_error)
    }

    async fn get(&self, org: OrgId, id: DocumentId) -> Result<Option<Document>, StoreError> {
        documents::Entity::of(org)
            .filter(documents::Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(document_from)
            .transpose()
    }

    async fn find_by_checksum(
        &self,
        org: OrgId,
        checksum: &str,
    ) -> Result<Option<DocumentId>, StoreError> {
        Ok(documents::Entity::of(org)
            .filter(documents::Column::Checksum.eq(checksum))
            .order_by_asc(documents::Column::Id)
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(|m| DocumentId::from_uuid(m.id)))
    }

    async fn list(
        &self,
        org: OrgId,
        filter: &DocumentFilter,
        page: &PageRequest,
    ) -> Result<Vec<Document>, StoreError> {
        let mut query = documents::Entity::of(org);
        if let Some(status) = filter.status {
            query = query.filter(documents::Column::Status.eq(status.as_str()));
        }
        if let Some(tag) = &filter.tag {
            let pattern = format!("% {} %", like_literal(tag));
            query = query.filter(
                Expr::col((documents::Entity, documents::Column::Tags))
                    .like(LikeExpr::new(pattern).escape('\\')),
            );
        }
        if let Some(after) = page.after() {
            query = query.filter(documents::Column::Id.gt(after));
        }
        query
            .order_by_asc(documents::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(document_from)
            .collect()
    }

    async fn chunks(
        &self,
        org: OrgId,
        document: DocumentId,
        after: Option<u32>,
        limit: u64,
    ) -> Result<Vec<StoredChunk>, StoreError> {
        let mut query = document_chunks::Entity::of(org)
            .filter(document_chunks::Column::DocumentId.eq(document.as_uuid()));
        if let Some(after) = after {
            query = query.filter(document_chunks::Column::Ordinal.gt(stored_count(after)));
        }
        Ok(query
            .order_by_asc(document_chunks::Column::Ordinal)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(chunk_from)
            .collect())
    }

    async fn chunks_by_key(
        &self,
        org: OrgId,
        keys: &[(DocumentId, u32)],
    ) -> Result<Vec<(String, StoredChunk)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut any = Condition::any();
        for (document, ordinal) in keys {
            any = any.add(
                Condition::all()
                    .add(document_chunks::Column::DocumentId.eq(document.as_uuid()))
                    .add(document_chunks::Column::Ordinal.eq(stored_count(*ordinal))),
            );
        }
        let chunks = document_chunks::Entity::of(org)
            .filter(any)
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let mut ids: Vec<Uuid> = keys.iter().map(|(d, _)| d.as_uuid()).collect();
        ids.sort_unstable();
        ids.dedup();
        // A failed document's chunks (left from an earlier run) are not search results.
        let titles: HashMap<Uuid, String> = documents::Entity::of(org)
            .filter(documents::Column::Id.is_in(ids))
            .filter(documents::Column::Status.ne(DocumentStatus::Failed.as_str()))
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|d| (d.id, d.title))
            .collect();
        Ok(chunks
            .into_iter()
            .filter_map(|c| {
                let title = titles.get(&c.document_id)?.clone();
                Some((title, chunk_from(c)))
            })
            .collect())
    }

    async fn requeue(&self, org: OrgId, id: DocumentId, job: &NewJob) -> Result<bool, StoreError> {
        let txn = write_transaction(&self.db).await?;
        let updated = fresh_run(org, id, DocumentStatus::Queued, job.at)
            .filter(documents::Column::Status.is_in([
                DocumentStatus::Ready.as_str(),
                DocumentStatus::Failed.as_str(),
            ]))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if updated.rows_affected == 0 {
            return Ok(false);
        }
        insert_job(&txn, job).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn delete(&self, org: OrgId, id: DocumentId, purge: &NewJob) -> Result<bool, StoreError> {
        let txn = write_transaction(&self.db).await?;
        document_chunks::Entity::delete_of(org)
            .filter(document_chunks::Column::DocumentId.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        let deleted = documents::Entity::delete_of(org)
            .filter(documents::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if deleted.rows_affected == 0 {
            return Ok(false);
        }
        // Pending (or running) ingestion of a deleted document is pointless; a running worker
        // loses its lease on its next heartbeat.
        jobs::Entity::update_many()
            .col_expr(jobs::Column::State, Expr::value(STATE_DONE))
            .col_expr(jobs::Column::LeaseToken, Expr::value(Option::<Uuid>::None))
            .col_expr(
                jobs::Column::LastError,
                Expr::value("cancelled: document deleted"),
            )
            .col_expr(jobs::Column::UpdatedAt, Expr::value(purge.at))
            .filter(jobs::Column::DocumentId.eq(id.as_uuid()))
            .filter(jobs::Column::Kind.eq(JobKind::Ingest.as_str()))
            .filter(jobs::Column::State.eq(STATE_PENDING))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        insert_job(&txn, purge).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn start_processing(
        &self,
        org: OrgId,
        id: DocumentId,
        now: DateTime<Utc>,
    ) -> Result<Option<Document>, StoreError> {
        let updated = fresh_run(org, id, DocumentStatus::Processing, now)
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        DocumentRepo::get(self, org, id).await
    }

    async fn mark_queued(
        &self,
        org: OrgId,
        id: DocumentId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        status_update(org, id, DocumentStatus::Queued, now)
            .filter(documents::Column::Status.eq(DocumentStatus::Processing.as_str()))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn set_progress(
        &self,
        org: OrgId,
        id: DocumentId,
        progress: Progress,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        one_document(org, id)
            .col_expr(
                documents::Column::ChunksDone,
                Expr::value(stored_count(progress.chunks_done)),
            )
            .col_expr(
                documents::Column::ChunksTotal,
                Expr::value(stored_count(progress.chunks_total)),
            )
            .col_expr(documents::Column::UpdatedAt, Expr::value(now))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn store_chunks(
        &self,
        org: OrgId,
        id: DocumentId,
        chunks: &[StoredChunk],
    ) -> Result<(), StoreError> {
        // Replacing by (document, ordinal): a retried or taken-over run writes the same rows again.
        let on_conflict = OnConflict::columns([
            document_chunks::Column::DocumentId,
            document_chunks::Column::Ordinal,
        ])
        .update_columns([
            document_chunks::Column::Text,
            document_chunks::Column::CharStart,
            document_chunks::Column::CharEnd,
            document_chunks::Column::Page,
            document_chunks::Column::Section,
            document_chunks::Column::TokenCount,
        ])
        .to_owned();
        for batch in chunks.chunks(CHUNK_INSERT_BATCH) {
            let rows = batch.iter().map(|c| document_chunks::ActiveModel {
                document_id: Set(id.as_uuid()),
                ordinal: Set(stored_count(c.ordinal)),
                org_id: Set(org.as_uuid()),
                text: Set(c.text.clone()),
                char_start: Set(i64::try_from(c.char_start).unwrap_or(i64::MAX)),
                char_end: Set(i64::try_from(c.char_end).unwrap_or(i64::MAX)),
                page: Set(c.page.map(stored_count)),
                section: Set(c.section.clone()),
                token_count: Set(stored_count(c.token_count)),
            });
            document_chunks::Entity::insert_many(rows)
                .on_conflict(on_conflict.clone())
                .exec_without_returning(&self.db)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    async fn finish(
        &self,
        org: OrgId,
        id: DocumentId,
        total: u32,
        embedding_model: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let total = stored_count(total);
        let txn = write_transaction(&self.db).await?;
        let updated = status_update(org, id, DocumentStatus::Ready, now)
            .col_expr(documents::Column::ChunksDone, Expr::value(total))
            .col_expr(documents::Column::ChunksTotal, Expr::value(total))
            .col_expr(documents::Column::ChunkCount, Expr::value(total))
            .col_expr(
                documents::Column::EmbeddingModel,
                Expr::value(embedding_model),
            )
            .col_expr(
                documents::Column::ErrorCode,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                documents::Column::ErrorMessage,
                Expr::value(Option::<String>::None),
            )
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if updated.rows_affected == 0 {
            return Ok(false);
        }
        // Chunks past the new end are left from a longer earlier run.
        document_chunks::Entity::delete_of(org)
            .filter(document_chunks::Column::DocumentId.eq(id.as_uuid()))
            .filter(document_chunks::Column::Ordinal.gte(total))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn enqueue_reembedding(&self, model: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
        // Across organizations by design (the embedding model is the deployment's); each job
        // carries its document's organization.
        let pending_jobs = jobs::Entity::find()
            .select_only()
            .column(jobs::Column::DocumentId)
            .filter(jobs::Column::Kind.eq(JobKind::Reembed.as_str()))
            .filter(jobs::Column::State.eq(STATE_PENDING))
            .into_query();
        let stale: Vec<(Uuid, Uuid)> = documents::Entity::find()
            .select_only()
            .column(documents::Column::Id)
            .column(documents::Column::OrgId)
            .filter(documents::Column::Status.eq(DocumentStatus::Ready.as_str()))
            .filter(
                Condition::any()
                    .add(documents::Column::EmbeddingModel.is_null())
                    .add(documents::Column::EmbeddingModel.ne(model)),
            )
            .filter(documents::Column::Id.not_in_subquery(pending_jobs))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_error)?;
        for batch in stale.chunks(CHUNK_INSERT_BATCH) {
            let rows = batch.iter().map(|(id, org)| {
                job_row(&NewJob::new(
                    JobKind::Reembed,
                    OrgId::from_uuid(*org),
                    DocumentId::from_uuid(*id),
                    at,
                ))
            });
            jobs::Entity::insert_many(rows)
                .exec_without_returning(&self.db)
                .await
                .map_err(store_error)?;
        }
        Ok(stale.len() as u64)
    }

    async fn awaits_reembedding(&self, org: OrgId, model: &str) -> Result<bool, StoreError> {
        let stale = documents::Entity::of(org)
            .filter(documents::Column::Status.eq(DocumentStatus::Ready.as_str()))
            .filter(
                Condition::any()
                    .add(documents::Column::EmbeddingModel.is_null())
                    .add(documents::Column::EmbeddingModel.ne(model)),
            )
            .select_only()
            .column(documents::Column::Id)
            .limit(1)
            .into_tuple::<Uuid>()
            .one(&self.db)
            .await
            .map_err(store_error)?;
        Ok(stale.is_some())
    }

    async fn reembedded(
        &self,
        org: OrgId,
        id: DocumentId,
        model: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = one_document(org, id)
            .filter(documents::Column::Status.eq(DocumentStatus::Ready.as_str()))
            .col_expr(documents::Column::EmbeddingModel, Expr::value(model))
            .col_expr(documents::Column::UpdatedAt, Expr::value(now))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(updated.rows_affected > 0)
    }

    async fn fail(
        &self,
        org: OrgId,
        id: DocumentId,
        failure: &Failure,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        status_update(org, id, DocumentStatus::Failed, now)
            .col_expr(
                documents::Column::ErrorCode,
                Expr::value(failure.code.clone()),
            )
            .col_expr(
                documents::Column::ErrorMessage,
                Expr::value(failure.message.clone()),
            )
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX)
}

/// Jobs held under this claim.
fn claimed(job: &ClaimedJob) -> Condition {
    Condition::all()
        .add(jobs::Column::Id.eq(job.id.as_uuid()))
        .add(jobs::Column::LeaseToken.eq(job.lease_token))
        .add(jobs::Column::State.eq(STATE_PENDING))
}

/// Runnable jobs: pending, due, and not leased (or leased by a worker that stopped heartbeating).
fn runnable(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(jobs::Column::State.eq(STATE_PENDING))
        .add(jobs::Column::RunAt.lte(now))
        .add(
            Condition::any()
                .add(jobs::Column::LeaseUntil.is_null())
                .add(jobs::Column::LeaseUntil.lt(now)),
        )
}

impl SqlStore {
    /// Picks the next runnable job: the organization served least recently first (its most recent
    /// claim is oldest, or it never had one), then the oldest job. PostgreSQL skips rows other
    /// workers are claiming; SQLite has one writer, and the conditional update below settles races.
    async fn next_runnable(
        &self,
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
    ) -> Result<Option<jobs::Model>, StoreError> {
        let last_served = Expr::cust(
            "(SELECT MAX(served.claimed_at) FROM jobs AS served WHERE served.org_id = jobs.org_id)",
        );
        let mut query = jobs::Entity::find()
            .filter(runnable(now))
            .order_by_with_nulls(last_served, Order::Asc, NullOrdering::First)
            .order_by_asc(jobs::Column::RunAt)
            .order_by_asc(jobs::Column::Id)
            .limit(1);
        if db.get_database_backend() == DbBackend::Postgres {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        query.one(db).await.map_err(store_error)
    }

    async fn try_claim(
        &self,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Option<ClaimedJob>>, StoreError> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            // SQLite: no transaction (a deferred one that reads and then writes can fail to
            // upgrade its lock); the conditional update below settles races.
            let Some(candidate) = self.next_runnable(&self.db, now).await? else {
                return Ok(Some(None));
            };
            return self.take(&self.db, candidate, worker, lease, now).await;
        }
        let txn = write_transaction(&self.db).await?;
        let Some(candidate) = self.next_runnable(&txn, now).await? else {
            return Ok(Some(None));
        };
        let claimed = self.take(&txn, candidate, worker, lease, now).await?;
        if claimed.is_some() {
            txn.commit().await.map_err(store_error)?;
        }
        Ok(claimed)
    }

    /// Leases `candidate` if it is still runnable: `None` when another worker got it first.
    async fn take(
        &self,
        db: &impl ConnectionTrait,
        candidate: jobs::Model,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Option<ClaimedJob>>, StoreError> {
        let token = Uuid::new_v4();
        let updated = jobs::Entity::update_many()
            .col_expr(jobs::Column::LeaseToken, Expr::value(token))
            .col_expr(jobs::Column::LeaseOwner, Expr::value(worker))
            .col_expr(jobs::Column::LeaseUntil, Expr::value(lease_end(now, lease)))
            .col_expr(jobs::Column::ClaimedAt, Expr::value(now))
            .col_expr(
                jobs::Column::Attempts,
                Expr::col(jobs::Column::Attempts).add(1),
            )
            .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
            .filter(jobs::Column::Id.eq(candidate.id))
            .filter(runnable(now))
            .exec(db)
            .await
            .map_err(store_error)?;
        if updated.rows_affected == 0 {
            // Another worker got it first; try again.
            return Ok(None);
        }
        let kind =
            JobKind::parse(&candidate.kind).ok_or_else(|| corrupt("jobs.kind", &candidate.kind))?;
        Ok(Some(Some(ClaimedJob {
            id: JobId::from_uuid(candidate.id),
            org_id: OrgId::from_uuid(candidate.org_id),
            document_id: DocumentId::from_uuid(candidate.document_id),
            kind,
            attempt: count(candidate.attempts).saturating_add(1),
            lease_token: token,
        })))
    }
}

#[async_trait]
impl JobQueue for SqlStore {
    async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        for _ in 0..5 {
            if let Some(outcome) = self.try_claim(worker, lease, now).await? {
                return Ok(outcome);
            }
        }
        Ok(None)
    }

    async fn heartbeat(
        &self,
        job: &ClaimedJob,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = jobs::Entity::update_many()
            .col_expr(jobs::Column::LeaseUntil, Expr::value(lease_end(now, lease)))
            .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
            .filter(claimed(job))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(updated.rows_affected == 1)
    }

    async fn complete(&self, job: &ClaimedJob, now: DateTime<Utc>) -> Result<(), StoreError> {
        if job.kind.is_org_job() {
            // A deleted organization's purge leaves no trace of itself.
            jobs::Entity::delete_many()
                .filter(claimed(job))
                .exec(&self.db)
                .await
                .map_err(store_error)?;
            return Ok(());
        }
        jobs::Entity::update_many()
            .col_expr(jobs::Column::State, Expr::value(STATE_DONE))
            .col_expr(
                jobs::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
            .filter(claimed(job))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn retry(
        &self,
        job: &ClaimedJob,
        at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        jobs::Entity::update_many()
            .col_expr(jobs::Column::RunAt, Expr::value(at))
            .col_expr(jobs::Column::LeaseToken, Expr::value(Option::<Uuid>::None))
            .col_expr(
                jobs::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(jobs::Column::LastError, Expr::value(error))
            .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
            .filter(claimed(job))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn bury(
        &self,
        job: &ClaimedJob,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        jobs::Entity::update_many()
            .col_expr(jobs::Column::State, Expr::value(STATE_DEAD))
            .col_expr(
                jobs::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(jobs::Column::LastError, Expr::value(error))
            .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
            .filter(claimed(job))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn release(&self, job: &ClaimedJob, now: DateTime<Utc>) -> Result<(), StoreError> {
        jobs::Entity::update_many()
            .col_expr(jobs::Column::RunAt, Expr::value(now))
            .col_expr(jobs::Column::LeaseToken, Expr::value(Option::<Uuid>::None))
            .col_expr(
                jobs::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                jobs::Column::Attempts,
                Expr::col(jobs::Column::Attempts).sub(1),
            )
            .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
            .filter(claimed(job))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn pending(&self) -> Result<u64, StoreError> {
        jobs::Entity::find()
            .filter(jobs::Column::State.eq(STATE_PENDING))
            .count(&self.db)
            .await
            .map_err(store_error)
    }
}
