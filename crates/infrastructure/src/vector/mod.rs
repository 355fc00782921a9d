//! The vector index: Qdrant in-process (qdrant-edge, the embedded default) or a Qdrant server
//! (qdrant-client). Both keep one collection per embedding model with a named dense vector and a
//! named sparse BM25 vector per chunk, and the payload `{org_id, document_id, ordinal, tags}` with
//! `org_id` indexed as the tenant key. Each adapter builds its filters in one helper that always
//! starts from the organization.

mod edge;
pub use edge::{LOCK_FILES, WRITE_LOCK};
mod server;

use std::collections::HashMap;

use docent_documents::ports::VectorHit;
use docent_kernel::DocumentId;
use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};

pub use edge::EdgeIndex;
pub use server::QdrantIndex;

/// The dense vector's name.
const DENSE: &str = "dense";
/// The sparse (BM25) vector's name.
const SPARSE: &str = "bm25";
/// Reciprocal-rank fusion's constant (the customary 60: ranks far down still count a little).
const RRF_K: f32 = 60.0;
/// How many candidates each side of a hybrid search fetches, per hit wanted.
const CANDIDATES_PER_HIT: usize = 4;

/// The collection of an embedding model: its id made safe for a directory or collection name, and
/// its dimensions (a model's vectors never share a collection with another's).
#[must_use]
pub fn collection_name(model_id: &str, dimensions: usize) -> String {
    let safe: String = model_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("docent_{safe}_{dimensions}")
}

/// The BM25 sparse embedder both adapters use (the engine applies IDF at query time).
pub(crate) fn bm25() -> Result<EdgeBm25, String> {
    EdgeBm25::new(EdgeBm25Config::default()).map_err(|e| format!("BM25 tokenizer: {e}"))
}

/// A candidate from one side of a search.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub(crate) document_id: DocumentId,
    pub(crate) ordinal: u32,
    /// The dense similarity to the query, when known.
    pub(crate) dense_score: Option<f32>,
    /// The candidate's dense vector (sparse-side candidates), to compute the similarity.
    pub(crate) dense_vector: Option<Vec<f32>>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fuses a dense and a sparse ranking with reciprocal-rank fusion. Every hit reports its dense
/// similarity (computed from its vector when only the sparse side found it), since the minimum
/// score applies to that.
pub(crate) fn fuse(
    dense: Vec<Candidate>,
    sparse: Vec<Candidate>,
    query: &[f32],
    limit: usize,
) -> Vec<VectorHit> {
    let mut fused: HashMap<(DocumentId, u32), (f32, f32)> = HashMap::new();
    for (rank, candidate) in dense.into_iter().enumerate() {
        let rrf = 1.0 / (RRF_K + rank as f32 + 1.0);
        let score = candidate.dense_score.unwrap_or(0.0);
        fused
            .entry((candidate.document_id, candidate.ordinal))
            .and_modify(|e| e.0 += rrf)
            .or_insert((rrf, score));
    }
    for (rank, candidate) in sparse.into_iter().enumerate() {
        let rrf = 1.0 / (RRF_K + rank as f32 + 1.0);
        let score = candidate
            .dense_score
            .or_else(|| candidate.dense_vector.as_deref().map(|v| dot(v, query)))
            .unwrap_or(0.0);
        fused
            .entry((candidate.document_id, candidate.ordinal))
            .and_modify(|e| e.0 += rrf)
            .or_insert((rrf, score));
    }
    let mut hits: Vec<_> = fused.into_iter().collect();
    hits.sort_by(|a, b| {
        b.1.0
            .total_cmp(&a.1.0)
            .then(b.1.1.total_cmp(&a.1.1))
            .then(a.0.cmp(&b.0))
    });
    hits.into_iter()
        .take(limit)
        .map(|((document_id, ordinal), (_, score))| VectorHit {
            document_id,
            ordinal,
            score,
        })
        .collect()
}

fn dense_only(candidates: Vec<Candidate>, limit: usize) -> Vec<VectorHit> {
    candidates
        .into_iter()
        .take(limit)
        .map(|c| VectorHit {
            document_id: c.document_id,
            ordinal: c.ordinal,
            score: c.dense_score.unwrap_or(0.0),
        })
        .collect()
}

#[cfg(test)]
mod contract;

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(document: DocumentId, ordinal: u32, score: Option<f32>) -> Candidate {
        Candidate {
            document_id: document,
            ordinal,
            dense_score: score,
            dense_vector: None,
        }
    }

    #[test]
    fn collection_names_are_safe() {
        assert_eq!(
            collection_name("all-MiniLM-L6-v2-int8", 384),
            "docent_all-minilm-l6-v2-int8_384"
        );
        assert_eq!(
            collection_name("../text-embedding 3/small", 1536),
            "docent____text-embedding_3_small_1536"
        );
    }

    #[test]
    fn fusion_rewards_agreement_and_keeps_dense_scores() {
        let a = DocumentId::generate();
        let dense = vec![
            candidate(a, 0, Some(0.9)),
            candidate(a, 1, Some(0.8)),
            candidate(a, 2, Some(0.7)),
        ];
        let mut sparse_only = candidate(a, 5, None);
        sparse_only.dense_vector = Some(vec![0.6, 0.8]);
        let sparse = vec![candidate(a, 2, Some(0.7)), sparse_only];
        let hits = fuse(dense, sparse, &[1.0, 0.0], 10);
        // Found by both sides: first, despite its lower dense rank.
        assert_eq!(hits[0].ordinal, 2);
        assert!((hits[0].score - 0.7).abs() < 1e-6);
        let five = hits.iter().find(|h| h.ordinal == 5).unwrap();
        assert!(
            (five.score - 0.6).abs() < 1e-6,
            "dense score computed from the vector"
        );
        assert_eq!(hits.len(), 4);
        assert_eq!(fuse(Vec::new(), Vec::new(), &[1.0], 3), Vec::new());
    }
}
