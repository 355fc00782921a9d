//! A Qdrant server or cluster over gRPC (qdrant-client), selected by `DOCENT_QDRANT__URL`. Any
//! number of API and worker processes share it.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use docent_documents::point_id;
use docent_documents::ports::{
    IndexError, IndexPoint, SearchMode, VectorHit, VectorIndex, VectorQuery,
};
use docent_kernel::{DocumentId, OrgId};
use qdrant_client::qdrant::r#match::MatchValue;
use qdrant_client::qdrant::vector_output::Vector as VectorOutputKind;
use qdrant_client::qdrant::vectors_output::VectorsOptions;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, KeywordIndexParamsBuilder, Modifier,
    NamedVectors, PointStruct, Query, QueryPointsBuilder, Range, ScoredPoint,
    SparseVectorParamsBuilder, SparseVectorsConfigBuilder, UpsertPointsBuilder, Value, Vector,
    VectorInput, VectorParamsBuilder, VectorsConfigBuilder, VectorsSelector,
};
use qdrant_client::{Payload, Qdrant};
use qdrant_edge::bm25_embed::EdgeBm25;
use secrecy::{ExposeSecret as _, SecretString};

use super::{
    CANDIDATES_PER_HIT, Candidate, DENSE, SPARSE, bm25, collection_name, dense_only, fuse,
};

/// The server-backed index.
pub struct QdrantIndex {
    client: Qdrant,
    collection: String,
    dimensions: usize,
    bm25: EdgeBm25,
}

impl std::fmt::Debug for QdrantIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantIndex")
            .field("collection", &self.collection)
            .finish_non_exhaustive()
    }
}

fn unavailable(error: impl std::fmt::Display) -> IndexError {
    IndexError::Unavailable(error.to_string())
}

fn keyword(name: &str, value: String) -> Condition {
    Condition::matches(name, MatchValue::Keyword(value))
}

/// The filter of every read and delete: the organization always, then the narrowing conditions.
fn org_filter(org: OrgId, narrowing: Vec<Condition>) -> Filter {
    let mut must = vec![keyword("org_id", org.to_string())];
    must.extend(narrowing);
    Filter::must(must)
}

impl QdrantIndex {
    /// Connects to `url` (the gRPC port, usually 6334) and makes sure the collection of
    /// `model_id` exists with its payload indexes.
    pub async fn connect(
        url: &str,
        api_key: Option<&SecretString>,
        model_id: &str,
        dimensions: usize,
    ) -> Result<Self, String> {
        crate::tls::init();
        let client = Qdrant::from_url(url)
            .api_key(api_key.map(|k| k.expose_secret().to_owned()))
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .skip_compatibility_check()
            .build()
            .map_err(|e| format!("invalid Qdrant URL {url}: {e}"))?;
        let collection = collection_name(model_id, dimensions);
        let index = Self {
            client,
            collection,
            dimensions,
            bm25: bm25()?,
        };
        index
            .ensure_collection()
            .await
            .map_err(|e| format!("cannot prepare the Qdrant collection at {url}: {e}"))?;
        Ok(index)
    }

    /// The collection's name.
    #[must_use]
    pub fn collection(&self) -> &str {
        &self.collection
    }

    async fn ensure_collection(&self) -> Result<(), qdrant_client::QdrantError> {
        if !self.client.collection_exists(&self.collection).await? {
            let mut vectors = VectorsConfigBuilder::default();
            vectors.add_named_vector_params(
                DENSE,
                VectorParamsBuilder::new(self.dimensions as u64, Distance::Cosine),
            );
            let mut sparse = SparseVectorsConfigBuilder::default();
            sparse.add_named_vector_params(
                SPARSE,
                SparseVectorParamsBuilder::default().modifier(Modifier::Idf),
            );
            let created = self
                .client
                .create_collection(
                    CreateCollectionBuilder::new(&self.collection)
                        .vectors_config(vectors)
                        .sparse_vectors_config(sparse),
                )
                .await;
            // Another process may have created it a moment ago.
            if let Err(error) = created
                && !self.client.collection_exists(&self.collection).await?
            {
                return Err(error);
            }
        }
        self.client
            .create_field_index(
                CreateFieldIndexCollectionBuilder::new(
                    &self.collection,
                    "org_id",
                    FieldType::Keyword,
                )
                .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true))
                .wait(true),
            )
            .await?;
        for name in ["document_id", "tags"] {
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(
                        &self.collection,
                        name,
                        FieldType::Keyword,
                    )
                    .wait(true),
                )
                .await?;
        }
        Ok(())
    }

    async fn query(
        &self,
        filter: Filter,
        query: Query,
        using: &str,
        limit: usize,
        with_dense: bool,
    ) -> Result<Vec<Candidate>, IndexError> {
        let mut request = QueryPointsBuilder::new(&self.collection)
            .query(query)
            .using(using)
            .filter(filter)
            .limit(limit as u64)
            .with_payload(true);
        if with_dense {
            request = request.with_vectors(VectorsSelector {
                names: vec![DENSE.to_owned()],
            });
        }
        let response = self.client.query(request).await.map_err(unavailable)?;
        response
            .result
            .into_iter()
            .map(|p| candidate(p, using == DENSE))
            .collect()
    }

    /// The points nearest to `vector`.
    async fn dense(
        &self,
        filter: Filter,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<Candidate>, IndexError> {
        self.query(
            filter,
            Query::new_nearest(vector.to_vec()),
            DENSE,
            limit,
            false,
        )
        .await
    }

    /// The points most relevant to `text` by BM25, with their dense vectors (scores are the dense
    /// similarity); none when the text has no terms.
    async fn sparse(
        &self,
        filter: Filter,
        text: &str,
        limit: usize,
    ) -> Result<Vec<Candidate>, IndexError> {
        let sparse = self.bm25.embed_query(text);
        if sparse.indices.is_empty() {
            return Ok(Vec::new());
        }
        self.query(
            filter,
            Query::new_nearest(VectorInput::new_sparse(sparse.indices, sparse.values)),
            SPARSE,
            limit,
            true,
        )
        .await
    }

    async fn delete(&self, filter: Filter) -> Result<(), IndexError> {
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(filter)
                    .wait(true),
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn candidate(point: ScoredPoint, dense_side: bool) -> Result<Candidate, IndexError> {
    let payload: HashMap<String, Value> = point.payload;
    let document_id = payload
        .get("document_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<DocumentId>().ok())
        .ok_or_else(|| IndexError::Invalid("a point without a document id".to_owned()))?;
    let ordinal = payload
        .get("ordinal")
        .and_then(Value::as_integer)
        .and_then(|o| u32::try_from(o).ok())
        .ok_or_else(|| IndexError::Invalid("a point without an ordinal".to_owned()))?;
    let dense_vector = point
        .vectors
        .and_then(|v| v.vectors_options)
        .and_then(|options| match options {
            VectorsOptions::Vectors(mut named) => named.vectors.remove(DENSE),
            VectorsOptions::Vector(single) => Some(single),
        })
        .and_then(|output| match output.vector {
            Some(VectorOutputKind::Dense(dense)) => Some(dense.data),
            Some(VectorOutputKind::Sparse(_) | VectorOutputKind::MultiDense(_)) | None => None,
        });
    Ok(Candidate {
        document_id,
        ordinal,
        dense_score: dense_side.then_some(point.score),
        dense_vector,
    })
}

#[async_trait]
impl VectorIndex for QdrantIndex {
    async fn upsert(&self, org: OrgId, points: Vec<IndexPoint>) -> Result<(), IndexError> {
        if points.is_empty() {
            return Ok(());
        }
        let mut structs = Vec::with_capacity(points.len());
        for point in points {
            if point.vector.len() != self.dimensions {
                return Err(IndexError::Invalid(format!(
                    "a vector of {} dimensions for a collection of {}",
                    point.vector.len(),
                    self.dimensions
                )));
            }
            let sparse = self.bm25.embed_document(&point.text);
            let mut payload = Payload::new();
            payload.insert("org_id", org.to_string());
            payload.insert("document_id", point.document_id.to_string());
            payload.insert("ordinal", i64::from(point.ordinal));
            payload.insert("tags", point.tags);
            structs.push(PointStruct::new(
                point_id(point.document_id, point.ordinal).to_string(),
                NamedVectors::default()
                    .add_vector(DENSE, Vector::new_dense(point.vector))
                    .add_vector(SPARSE, Vector::new_sparse(sparse.indices, sparse.values)),
                payload,
            ));
        }
        self.client
            .upsert_points(UpsertPointsBuilder::new(&self.collection, structs).wait(true))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_document(&self, org: OrgId, document: DocumentId) -> Result<(), IndexError> {
        self.delete(org_filter(
            org,
            vec![keyword("document_id", document.to_string())],
        ))
        .await
    }

    async fn delete_from(
        &self,
        org: OrgId,
        document: DocumentId,
        from_ordinal: u32,
    ) -> Result<(), IndexError> {
        self.delete(org_filter(
            org,
            vec![
                keyword("document_id", document.to_string()),
                Condition::range(
                    "ordinal",
                    Range {
                        gte: Some(f64::from(from_ordinal)),
                        ..Range::default()
                    },
                ),
            ],
        ))
        .await
    }

    async fn search(&self, org: OrgId, query: VectorQuery) -> Result<Vec<VectorHit>, IndexError> {
        let mut narrowing = Vec::new();
        if let Some(ids) = query.document_ids {
            narrowing.push(Condition::matches(
                "document_id",
                ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ));
        }
        if let Some(tags) = query.tags {
            narrowing.push(Condition::matches("tags", tags));
        }
        let filter = org_filter(org, narrowing);
        Ok(match query.mode {
            SearchMode::Dense => dense_only(
                self.dense(filter, &query.vector, query.limit).await?,
                query.limit,
            ),
            SearchMode::Keyword => fuse(
                Vec::new(),
                self.sparse(filter, &query.text, query.limit).await?,
                &query.vector,
                query.limit,
            ),
            SearchMode::Hybrid => {
                let candidates = query.limit * CANDIDATES_PER_HIT;
                let dense = self
                    .dense(filter.clone(), &query.vector, candidates)
                    .await?;
                let sparse = self.sparse(filter, &query.text, candidates).await?;
                fuse(dense, sparse, &query.vector, query.limit)
            }
        })
    }

    async fn count(&self, org: OrgId, document: DocumentId) -> Result<u64, IndexError> {
        let response = self
            .client
            .count(
                CountPointsBuilder::new(&self.collection)
                    .filter(org_filter(
                        org,
                        vec![keyword("document_id", document.to_string())],
                    ))
                    .exact(true),
            )
            .await
            .map_err(unavailable)?;
        Ok(response.result.map_or(0, |r| r.count))
    }

    async fn delete_org(&self, org: OrgId) -> Result<(), IndexError> {
        self.delete(org_filter(org, Vec::new())).await
    }

    async fn count_org(&self, org: OrgId) -> Result<u64, IndexError> {
        let response = self
            .client
            .count(
                CountPointsBuilder::new(&self.collection)
                    .filter(org_filter(org, Vec::new()))
                    .exact(true),
            )
            .await
            .map_err(unavailable)?;
        Ok(response.result.map_or(0, |r| r.count))
    }

    async fn ping(&self) -> Result<(), IndexError> {
        self.client
            .health_check()
            .await
            .map(drop)
            .map_err(unavailable)
    }
}
