//! The document repository: documents, their chunks, and the jobs their changes need.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_documents::jobs::{JobKind, NewJob};
use docent_documents::ports::DocumentRepo;
use docent_documents::{Document, DocumentFilter, DocumentStatus, Failure, Progress, StoredChunk};
use docent_kernel::{DocumentId, OrgId, PageRequest, StoreError};

use super::{MemoryStore, State, paged};

/// Back to the start of a run: no progress, no failure.
fn fresh_run(document: &mut Document, status: DocumentStatus, at: DateTime<Utc>) {
    document.status = status;
    document.progress = Progress::default();
    document.failure = None;
    document.updated_at = at;
}

#[async_trait]
impl DocumentRepo for MemoryStore {
    async fn insert(&self, document: &Document, job: &NewJob) -> Result<(), StoreError> {
        let mut state = self.state();
        let org = state.orgs.entry(document.org_id).or_default();
        if org.documents.contains_key(&document.id) {
            return Err(StoreError::Conflict("unique"));
        }
        org.documents.insert(document.id, document.clone());
        state.jobs.push(job.clone());
        Ok(())
    }

    async fn get(&self, org: OrgId, id: DocumentId) -> Result<Option<Document>, StoreError> {
        Ok(self.org(org, |o| o.documents.get(&id).cloned()))
    }

    async fn find_by_checksum(
        &self,
        org: OrgId,
        checksum: &str,
    ) -> Result<Option<DocumentId>, StoreError> {
        // The map is in id order, so the first match is the oldest.
        Ok(self.org(org, |o| {
            o.documents
                .values()
                .find(|d| d.checksum == checksum)
                .map(|d| d.id)
        }))
    }

    async fn list(
        &self,
        org: OrgId,
        filter: &DocumentFilter,
        page: &PageRequest,
    ) -> Result<Vec<Document>, StoreError> {
        Ok(self.org(org, |o| {
            let matching = o.documents.values().filter(|d| {
                filter.status.is_none_or(|s| d.status == s)
                    && filter.tag.as_ref().is_none_or(|t| d.tags.contains(t))
            });
            paged(matching.cloned(), page, |d| d.id.as_uuid())
        }))
    }

    async fn chunks(
        &self,
        org: OrgId,
        document: DocumentId,
        after: Option<u32>,
        limit: u64,
    ) -> Result<Vec<StoredChunk>, StoreError> {
        Ok(self.org(org, |o| {
            o.chunks
                .get(&document)
                .into_iter()
                .flat_map(|chunks| chunks.values())
                .filter(|c| after.is_none_or(|after| c.ordinal > after))
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .cloned()
                .collect()
        }))
    }

    async fn chunks_by_key(
        &self,
        org: OrgId,
        keys: &[(DocumentId, u32)],
    ) -> Result<Vec<(String, StoredChunk)>, StoreError> {
        Ok(self.org(org, |o| {
            keys.iter()
                .filter_map(|(id, ordinal)| {
                    // A failed document's chunks (left from an earlier run) are no results.
                    let document = o
                        .documents
                        .get(id)
                        .filter(|d| d.status != DocumentStatus::Failed)?;
                    let chunk = o.chunks.get(id)?.get(ordinal)?;
                    Some((document.title.clone(), chunk.clone()))
                })
                .collect()
        }))
    }

    async fn requeue(&self, org: OrgId, id: DocumentId, job: &NewJob) -> Result<bool, StoreError> {
        let mut state = self.state();
        let Some(document) = state
            .orgs
            .get_mut(&org)
            .and_then(|o| o.documents.get_mut(&id))
            .filter(|d| matches!(d.status, DocumentStatus::Ready | DocumentStatus::Failed))
        else {
            return Ok(false);
        };
        fresh_run(document, DocumentStatus::Queued, job.at);
        state.jobs.push(job.clone());
        Ok(true)
    }

    async fn delete(&self, org: OrgId, id: DocumentId, purge: &NewJob) -> Result<bool, StoreError> {
        let mut state = self.state();
        let data = state.orgs.entry(org).or_default();
        if data.documents.remove(&id).is_none() {
            return Ok(false);
        }
        data.chunks.remove(&id);
        // Ingesting a deleted document is pointless: its pending ingest jobs are cancelled.
        state
            .jobs
            .retain(|j| !(j.org_id == org && j.document_id == id && j.kind == JobKind::Ingest));
        state.jobs.push(purge.clone());
        Ok(true)
    }

    async fn start_processing(
        &self,
        org: OrgId,
        id: DocumentId,
        now: DateTime<Utc>,
    ) -> Result<Option<Document>, StoreError> {
        Ok(self.org(org, |o| {
            o.documents.get_mut(&id).map(|d| {
                fresh_run(d, DocumentStatus::Processing, now);
                d.clone()
            })
        }))
    }

    async fn mark_queued(
        &self,
        org: OrgId,
        id: DocumentId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update(org, id, |d| {
            if d.status == DocumentStatus::Processing {
                d.status = DocumentStatus::Queued;
                d.updated_at = now;
            }
        });
        Ok(())
    }

    async fn set_progress(
        &self,
        org: OrgId,
        id: DocumentId,
        progress: Progress,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update(org, id, |d| {
            d.progress = progress;
            d.updated_at = now;
        });
        Ok(())
    }

    async fn store_chunks(
        &self,
        org: OrgId,
        id: DocumentId,
        chunks: &[StoredChunk],
    ) -> Result<(), StoreError> {
        self.org(org, |o| {
            if !o.documents.contains_key(&id) {
                // What a foreign key does in SQL: the document was deleted while it was processed.
                return Err(StoreError::Conflict("foreign_key"));
            }
            let stored = o.chunks.entry(id).or_default();
            for chunk in chunks {
                stored.insert(chunk.ordinal, chunk.clone());
            }
            Ok(())
        })
    }

    async fn finish(
        &self,
        org: OrgId,
        id: DocumentId,
        total: u32,
        embedding_model: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.org(org, |o| {
            let Some(d) = o.documents.get_mut(&id) else {
                return false;
            };
            d.status = DocumentStatus::Ready;
            d.progress = Progress {
                chunks_done: total,
                chunks_total: total,
            };
            d.chunk_count = total;
            d.embedding_model = Some(embedding_model.to_owned());
            d.failure = None;
            d.updated_at = now;
            // Chunks past the new end are left from a longer earlier run.
            if let Some(chunks) = o.chunks.get_mut(&id) {
                chunks.retain(|ordinal, _| *ordinal < total);
            }
            true
        }))
    }

    async fn enqueue_reembedding(&self, model: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.state();
        let State { orgs, jobs } = &mut *state;
        let mut added = 0;
        for document in orgs.values().flat_map(|o| o.documents.values()) {
            let stale = document.status == DocumentStatus::Ready
                && document.embedding_model.as_deref() != Some(model);
            let pending = jobs
                .iter()
                .any(|j| j.document_id == document.id && j.kind == JobKind::Reembed);
            if stale && !pending {
                jobs.push(NewJob::new(
                    JobKind::Reembed,
                    document.org_id,
                    document.id,
                    at,
                ));
                added += 1;
            }
        }
        Ok(added)
    }

    async fn awaits_reembedding(&self, org: OrgId, model: &str) -> Result<bool, StoreError> {
        Ok(self.org(org, |o| {
            o.documents.values().any(|d| {
                d.status == DocumentStatus::Ready && d.embedding_model.as_deref() != Some(model)
            })
        }))
    }

    async fn reembedded(
        &self,
        org: OrgId,
        id: DocumentId,
        model: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.org(org, |o| {
            let Some(d) = o
                .documents
                .get_mut(&id)
                .filter(|d| d.status == DocumentStatus::Ready)
            else {
                return false;
            };
            d.embedding_model = Some(model.to_owned());
            d.updated_at = now;
            true
        }))
    }

    async fn fail(
        &self,
        org: OrgId,
        id: DocumentId,
        failure: &Failure,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update(org, id, |d| {
            d.status = DocumentStatus::Failed;
            d.failure = Some(failure.clone());
            d.updated_at = now;
        });
        Ok(())
    }
}
