//! Qdrant in-process (qdrant-edge): one shard directory per collection under the data directory.
//!
//! The shard belongs to one process: a lock file keeps a second process (say a `docent-worker`
//! next to `docent-api serve` on the same data directory) from opening it and corrupting it.
//! Every call blocks, so each runs on a blocking thread. Writes and flushes go through one gate
//! (qdrant-edge's flush must not overlap a write), and every write is flushed before it returns:
//! this version does not replay its write-ahead log when a shard is reopened.
//!
//! Each write and flush also holds a shared lock on the shard's [`WRITE_LOCK`] file, which
//! `docent-api backup` takes exclusively from its own process: while it copies the shard's files,
//! no write is half-done and none starts.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use docent_documents::point_id;
use docent_documents::ports::{
    IndexError, IndexPoint, SearchMode, VectorHit, VectorIndex, VectorQuery,
};
use docent_kernel::{DocumentId, OrgId};
use qdrant_edge::bm25_embed::EdgeBm25;
use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::external::serde_json::{Map, Value};
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams,
    EdgeVectorParams, FieldCondition, FieldIndexOperations, Filter, JsonPath, KeywordIndexParams,
    Match, Modifier, NamedQuery, OperationError, Payload, PayloadFieldSchema, PayloadSchemaParams,
    PayloadSchemaType, PointId, PointInsertOperations, PointOperations, PointStructPersisted,
    QueryEnum, QueryRequest, Range, ScoredPoint, ScoringQuery, UpdateOperation, VectorInternal,
    VectorPersisted, VectorStructInternal, VectorStructPersisted, WithPayloadInterface, WithVector,
};

use super::{
    CANDIDATES_PER_HIT, Candidate, DENSE, SPARSE, bm25, collection_name, dense_only, fuse,
};

/// The in-process index.
pub struct EdgeIndex {
    inner: Arc<Inner>,
}

struct Inner {
    /// Always `Some` until the index is dropped.
    shard: Option<EdgeShard>,
    /// Serializes writes and flushes.
    gate: Mutex<()>,
    bm25: EdgeBm25,
    dimensions: usize,
    path: PathBuf,
    /// Held for the shard's lifetime: the directory belongs to this process.
    _lock: File,
    /// Locked shared around each write and flush (see the module's documentation).
    write_lock: File,
}

/// The file in each shard directory that writes lock shared and a backup locks exclusively.
pub const WRITE_LOCK: &str = ".docent.write";

/// Files of a shard directory that belong to docent's locking, not to the shard's data.
pub const LOCK_FILES: [&str; 2] = [".docent.lock", WRITE_LOCK];

/// Holds the write lock of a shard directory shared for as long as it lives.
struct Writing<'a>(&'a File);

impl<'a> Writing<'a> {
    fn start(file: &'a File) -> Result<Self, IndexError> {
        file.lock_shared()
            .map_err(|e| unavailable(format!("cannot lock the vector index for writing ({e})")))?;
        Ok(Self(file))
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl std::fmt::Debug for EdgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeIndex")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn unavailable(error: impl std::fmt::Display) -> IndexError {
    IndexError::Unavailable(error.to_string())
}

fn field(name: &str) -> Result<JsonPath, IndexError> {
    name.parse()
        .map_err(|()| IndexError::Invalid(format!("bad payload field {name}")))
}

fn keyword(name: &str, value: String) -> Result<Condition, IndexError> {
    Ok(Condition::Field(FieldCondition::new_match(
        field(name)?,
        Match::from(value),
    )))
}

fn any_keyword(name: &str, values: Vec<String>) -> Result<Condition, IndexError> {
    Ok(Condition::Field(FieldCondition::new_match(
        field(name)?,
        Match::from(values),
    )))
}

/// The filter of every read and delete: the organization always, then the narrowing conditions.
fn org_filter(org: OrgId, mut narrowing: Vec<Condition>) -> Result<Filter, IndexError> {
    let mut must = vec![keyword("org_id", org.to_string())?];
    must.append(&mut narrowing);
    Ok(Filter {
        must: Some(must),
        ..Filter::default()
    })
}

fn edge_config(dimensions: usize) -> EdgeConfig {
    EdgeConfig::builder()
        .vector(
            DENSE,
            EdgeVectorParams::builder(dimensions, Distance::Cosine).build(),
        )
        .sparse_vector(
            SPARSE,
            EdgeSparseVectorParams::builder()
                .modifier(Modifier::Idf)
                .build(),
        )
        .build()
}

fn open(dir: &Path, dimensions: usize) -> Result<EdgeShard, OperationError> {
    let shard = if dir.join("edge_config.json").exists() {
        EdgeShard::load(dir, None)?
    } else {
        EdgeShard::new(dir, edge_config(dimensions))?
    };
    let index = |name: &str, schema: PayloadFieldSchema| -> Result<(), OperationError> {
        let field_name = name
            .parse()
            .map_err(|()| OperationError::service_error(format!("bad payload field {name}")))?;
        shard.update(UpdateOperation::FieldIndexOperation(
            FieldIndexOperations::CreateIndex(CreateIndex {
                field_name,
                field_schema: Some(schema),
            }),
        ))
    };
    index(
        "org_id",
        PayloadFieldSchema::FieldParams(PayloadSchemaParams::Keyword(KeywordIndexParams {
            is_tenant: Some(true),
            ..KeywordIndexParams::default()
        })),
    )?;
    index(
        "document_id",
        PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword),
    )?;
    index(
        "tags",
        PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword),
    )?;
    Ok(shard)
}

impl EdgeIndex {
    /// Opens (or creates) the collection of `model_id` under `dir`. Fails when another process
    /// holds it.
    pub fn open(dir: &Path, model_id: &str, dimensions: usize) -> Result<Self, String> {
        let path = dir.join(collection_name(model_id, dimensions));
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {} ({e})", path.display()))?;
        let lock = File::create(path.join(".docent.lock"))
            .map_err(|e| format!("cannot create the lock file in {} ({e})", path.display()))?;
        lock.try_lock().map_err(|_| {
            format!(
                "the vector index in {} is in use by another process; the in-process index belongs to one process (set DOCENT_QDRANT__URL to share a Qdrant server between processes)",
                path.display()
            )
        })?;
        let write_lock = File::create(path.join(WRITE_LOCK))
            .map_err(|e| format!("cannot create the lock file in {} ({e})", path.display()))?;
        let shard = open(&path, dimensions)
            .map_err(|e| format!("cannot open the vector index in {} ({e})", path.display()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                shard: Some(shard),
                gate: Mutex::new(()),
                bm25: bm25()?,
                dimensions,
                path,
                _lock: lock,
                write_lock,
            }),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, IndexError> + Send + 'static,
    ) -> Result<T, IndexError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| unavailable(format!("the vector index task failed: {e}")))?
    }

    /// Builds the HNSW index and vacuums deletions (search works without it, by exact scan).
    pub async fn optimize(&self) -> Result<bool, IndexError> {
        self.blocking(|inner| {
            let _gate = inner.gate.lock().unwrap_or_else(PoisonError::into_inner);
            let _writing = Writing::start(&inner.write_lock)?;
            let shard = inner.shard()?;
            let optimized = shard.optimize().map_err(unavailable)?;
            shard.flush();
            Ok(optimized)
        })
        .await
    }
}

impl Inner {
    fn shard(&self) -> Result<&EdgeShard, IndexError> {
        self.shard
            .as_ref()
            .ok_or_else(|| unavailable("the vector index is closing"))
    }

    fn write(&self, operation: UpdateOperation) -> Result<(), IndexError> {
        let _gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        let _writing = Writing::start(&self.write_lock)?;
        let shard = self.shard()?;
        shard.update(operation).map_err(unavailable)?;
        shard.flush();
        Ok(())
    }

    fn query(
        &self,
        filter: Filter,
        query: VectorInternal,
        using: &str,
        limit: usize,
        with_dense: bool,
    ) -> Result<Vec<Candidate>, IndexError> {
        let points = self
            .shard()?
            .query(QueryRequest {
                prefetches: Vec::new(),
                query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(
                    query, using,
                )))),
                filter: Some(filter),
                score_threshold: None,
                limit,
                offset: 0,
                params: None,
                with_vector: if with_dense {
                    WithVector::Selector(vec![DENSE.into()])
                } else {
                    WithVector::Bool(false)
                },
                with_payload: WithPayloadInterface::Bool(true),
            })
            .map_err(unavailable)?;
        points
            .into_iter()
            .map(|p| candidate(p, using == DENSE))
            .collect()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // qdrant-edge flushes on drop and panics if it cannot; a shard whose directory is already
        // gone (a removed temporary data directory) has nothing left to flush to.
        if let Some(shard) = self.shard.take() {
            if self.path.exists() {
                let _gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = self.write_lock.lock_shared();
                drop(shard);
                let _ = self.write_lock.unlock();
            } else {
                std::mem::forget(shard);
            }
        }
    }
}

fn candidate(point: ScoredPoint, dense_side: bool) -> Result<Candidate, IndexError> {
    let payload = point.payload.map(|p| p.0).unwrap_or_default();
    let document_id = payload
        .get("document_id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<DocumentId>().ok())
        .ok_or_else(|| IndexError::Invalid("a point without a document id".to_owned()))?;
    let ordinal = payload
        .get("ordinal")
        .and_then(Value::as_u64)
        .and_then(|o| u32::try_from(o).ok())
        .ok_or_else(|| IndexError::Invalid("a point without an ordinal".to_owned()))?;
    let dense_vector = match point.vector {
        Some(VectorStructInternal::Named(mut named)) => match named.remove(DENSE) {
            Some(VectorInternal::Dense(v)) => Some(v),
            Some(VectorInternal::Sparse(_) | VectorInternal::MultiDense(_)) | None => None,
        },
        Some(VectorStructInternal::Single(v)) => Some(v),
        Some(VectorStructInternal::MultiDense(_)) | None => None,
    };
    Ok(Candidate {
        document_id,
        ordinal,
        dense_score: dense_side.then_some(point.score),
        dense_vector,
    })
}

#[async_trait]
impl VectorIndex for EdgeIndex {
    async fn upsert(&self, org: OrgId, points: Vec<IndexPoint>) -> Result<(), IndexError> {
        if points.is_empty() {
            return Ok(());
        }
        self.blocking(move |inner| {
            let mut persisted = Vec::with_capacity(points.len());
            for point in points {
                if point.vector.len() != inner.dimensions {
                    return Err(IndexError::Invalid(format!(
                        "a vector of {} dimensions for a collection of {}",
                        point.vector.len(),
                        inner.dimensions
                    )));
                }
                let sparse = inner.bm25.embed_document(&point.text);
                let mut payload = Map::new();
                payload.insert("org_id".into(), Value::from(org.to_string()));
                payload.insert(
                    "document_id".into(),
                    Value::from(point.document_id.to_string()),
                );
                payload.insert("ordinal".into(), Value::from(point.ordinal));
                payload.insert("tags".into(), Value::from(point.tags));
                persisted.push(PointStructPersisted {
                    id: PointId::Uuid(point_id(point.document_id, point.ordinal)),
                    vector: VectorStructPersisted::Named(
                        [
                            (DENSE.to_owned(), VectorPersisted::Dense(point.vector)),
                            (SPARSE.to_owned(), VectorPersisted::Sparse(sparse)),
                        ]
                        .into_iter()
                        .collect(),
                    ),
                    payload: Some(Payload(payload)),
                });
            }
            inner.write(UpdateOperation::PointOperation(
                PointOperations::UpsertPoints(PointInsertOperations::PointsList(persisted)),
            ))
        })
        .await
    }

    async fn delete_document(&self, org: OrgId, document: DocumentId) -> Result<(), IndexError> {
        self.blocking(move |inner| {
            let filter = org_filter(org, vec![keyword("document_id", document.to_string())?])?;
            inner.write(UpdateOperation::PointOperation(
                PointOperations::DeletePointsByFilter(filter),
            ))
        })
        .await
    }

    async fn delete_from(
        &self,
        org: OrgId,
        document: DocumentId,
        from_ordinal: u32,
    ) -> Result<(), IndexError> {
        self.blocking(move |inner| {
            let from = Condition::Field(FieldCondition::new_range(
                field("ordinal")?,
                Range {
                    gte: Some(OrderedFloat(f64::from(from_ordinal))),
                    ..Range::default()
                },
            ));
            let filter = org_filter(
                org,
                vec![keyword("document_id", document.to_string())?, from],
            )?;
            inner.write(UpdateOperation::PointOperation(
                PointOperations::DeletePointsByFilter(filter),
            ))
        })
        .await
    }

    async fn search(&self, org: OrgId, query: VectorQuery) -> Result<Vec<VectorHit>, IndexError> {
        self.blocking(move |inner| {
            let mut narrowing = Vec::new();
            if let Some(ids) = query.document_ids {
                narrowing.push(any_keyword(
                    "document_id",
                    ids.iter().map(ToString::to_string).collect(),
                )?);
            }
            if let Some(tags) = query.tags {
                narrowing.push(any_keyword("tags", tags)?);
            }
            let filter = org_filter(org, narrowing)?;
            let dense = |limit| {
                inner.query(
                    filter.clone(),
                    VectorInternal::Dense(query.vector.clone()),
                    DENSE,
                    limit,
                    false,
                )
            };
            let sparse = |limit| {
                let sparse_query = inner.bm25.embed_query(&query.text);
                if sparse_query.indices.is_empty() {
                    return Ok(Vec::new());
                }
                inner.query(
                    filter.clone(),
                    VectorInternal::Sparse(sparse_query),
                    SPARSE,
                    limit,
                    true,
                )
            };
            Ok(match query.mode {
                SearchMode::Dense => dense_only(dense(query.limit)?, query.limit),
                SearchMode::Keyword => {
                    fuse(Vec::new(), sparse(query.limit)?, &query.vector, query.limit)
                }
                SearchMode::Hybrid => {
                    let candidates = query.limit * CANDIDATES_PER_HIT;
                    fuse(
                        dense(candidates)?,
                        sparse(candidates)?,
                        &query.vector,
                        query.limit,
                    )
                }
            })
        })
        .await
    }

    async fn count(&self, org: OrgId, document: DocumentId) -> Result<u64, IndexError> {
        self.blocking(move |inner| {
            let filter = org_filter(org, vec![keyword("document_id", document.to_string())?])?;
            let count = inner
                .shard()?
                .count(CountRequest {
                    filter: Some(filter),
                    exact: true,
                })
                .map_err(unavailable)?;
            Ok(count as u64)
        })
        .await
    }

    async fn delete_org(&self, org: OrgId) -> Result<(), IndexError> {
        self.blocking(move |inner| {
            inner.write(UpdateOperation::PointOperation(
                PointOperations::DeletePointsByFilter(org_filter(org, Vec::new())?),
            ))
        })
        .await
    }

    async fn count_org(&self, org: OrgId) -> Result<u64, IndexError> {
        self.blocking(move |inner| {
            let count = inner
                .shard()?
                .count(CountRequest {
                    filter: Some(org_filter(org, Vec::new())?),
                    exact: true,
                })
                .map_err(unavailable)?;
            Ok(count as u64)
        })
        .await
    }

    async fn ping(&self) -> Result<(), IndexError> {
        self.blocking(|inner| {
            inner
                .shard()?
                .count(CountRequest {
                    filter: None,
                    exact: false,
                })
                .map(drop)
                .map_err(unavailable)
        })
        .await
    }
}
