//! Search without a model or a vector database: a hashing bag-of-words embedder and a brute-force
//! index over the organization's points.
//!
//! Both are deliberately simple. The embedder knows words, not meanings ("refund" and "money
//! back" do not meet), and the index scans every point of the organization. That is plenty for a
//! FAQ of a few dozen documents; a larger service would put a real model and index behind the same
//! two ports.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use docent_documents::SearchMode;
use docent_documents::ports::{
    EmbedError, Embedder, IndexError, IndexPoint, VectorHit, VectorIndex, VectorQuery,
};
use docent_kernel::{DocumentId, OrgId};

/// Words too common to say anything about a passage.
const STOPWORDS: [&str; 40] = [
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "has",
    "have", "how", "i", "in", "is", "it", "me", "my", "of", "on", "or", "our", "so", "that", "the",
    "their", "this", "to", "was", "we", "what", "when", "where", "which", "will", "you",
];

/// The constant of reciprocal-rank fusion: large enough that the first ranks of either list do
/// not drown everything else (the usual value).
const RRF_K: f32 = 60.0;

/// The words of `text` that carry meaning: lower-cased, without stopwords, plurals folded
/// ("items" → "item") so a question and a passage agree on the common case.
#[must_use]
pub fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !STOPWORDS.contains(&w.as_str()))
        .map(|w| match w.strip_suffix('s') {
            Some(stem) if stem.chars().count() >= 3 && !stem.ends_with('s') => stem.to_owned(),
            Some(_) | None => w,
        })
        .collect()
}

/// FNV-1a: a stable hash, so vectors stay comparable across runs and machines (unlike std's
/// randomly seeded hasher).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Embeds a text as its term counts hashed into a fixed number of dimensions (the "hashing
/// trick"), L2-normalized, so the cosine of two texts measures how many words they share.
#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    model_id: String,
    dimensions: usize,
}

impl HashingEmbedder {
    /// An embedder into `dimensions` dimensions (at least one).
    #[must_use]
    pub fn new(dimensions: usize) -> Self {
        let dimensions = dimensions.max(1);
        Self {
            // The size is part of the id: vectors of another size are another model's.
            model_id: format!("hashing-bow-{dimensions}"),
            dimensions,
        }
    }

    fn vector(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0_f32; self.dimensions];
        let mut words = terms(text);
        if words.is_empty() {
            // Still a unit vector, as the port promises: a text of stopwords only matches others
            // like it, and nothing else.
            words.push(String::new());
        }
        for word in &words {
            let hash = fnv1a(word);
            let slot = usize::try_from(hash % self.dimensions as u64).unwrap_or(0);
            // A sign bit from the hash keeps colliding words from adding up to a false match.
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            if let Some(value) = vector.get_mut(slot) {
                *value += sign;
            }
        }
        let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|v| *v /= norm);
        }
        vector
    }
}

#[async_trait]
impl Embedder for HashingEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|text| self.vector(text)).collect())
    }
}

/// A point as the index keeps it: its document's tags, its vector and its words.
#[derive(Debug, Clone)]
struct Point {
    tags: Vec<String>,
    vector: Vec<f32>,
    terms: HashSet<String>,
}

/// One organization's points, by document and ordinal.
type Points = BTreeMap<(DocumentId, u32), Point>;

/// Every organization's points in memory, by document and ordinal (what docent derives point ids
/// from, so writing a chunk twice keeps one point).
#[derive(Debug)]
pub struct MemoryIndex {
    dimensions: usize,
    points: Mutex<HashMap<OrgId, Points>>,
}

impl MemoryIndex {
    /// An empty index for vectors of `dimensions`.
    #[must_use]
    pub fn new(dimensions: usize) -> Self {
        Self {
            dimensions,
            points: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `f` on one organization's points: the organization filter, in this one place.
    fn org<T>(&self, org: OrgId, f: impl FnOnce(&mut Points) -> T) -> T {
        let mut points = self.points.lock().unwrap_or_else(PoisonError::into_inner);
        f(points.entry(org).or_default())
    }

    fn check(&self, vector: &[f32]) -> Result<(), IndexError> {
        if vector.len() == self.dimensions {
            Ok(())
        } else {
            Err(IndexError::Invalid(format!(
                "a vector of {} dimensions in an index of {}",
                vector.len(),
                self.dimensions
            )))
        }
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Ranks `candidates` for `query`. The dense ranking is exact cosine; the keyword ranking, which
/// docent gets from BM25 in Qdrant, is simplified to "how many of the query's words the passage
/// has" (ties broken by cosine); hybrid fuses the two by reciprocal rank like docent does. Every
/// hit's score stays its cosine, since a chatbot's `min_score` applies to that.
fn rank(query: &VectorQuery, candidates: Vec<((DocumentId, u32), f32, usize)>) -> Vec<VectorHit> {
    let mut dense = candidates.clone();
    dense.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut keyword: Vec<_> = candidates.into_iter().filter(|c| c.2 > 0).collect();
    keyword.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.total_cmp(&a.1)).then(a.0.cmp(&b.0)));
    let ranked = match query.mode {
        SearchMode::Dense => dense,
        SearchMode::Keyword => keyword,
        SearchMode::Hybrid => {
            let mut fused: BTreeMap<(DocumentId, u32), (f32, f32)> = BTreeMap::new();
            for list in [&dense, &keyword] {
                for (rank, (key, cosine, _)) in (1_u16..).zip(list.iter()) {
                    fused.entry(*key).or_insert((0.0, *cosine)).0 +=
                        1.0 / (RRF_K + f32::from(rank));
                }
            }
            let mut fused: Vec<_> = fused
                .into_iter()
                .map(|(key, (rrf, cosine))| (key, cosine, rrf))
                .collect();
            fused.sort_by(|a, b| {
                b.2.total_cmp(&a.2)
                    .then(b.1.total_cmp(&a.1))
                    .then(a.0.cmp(&b.0))
            });
            fused
                .into_iter()
                .map(|(key, cosine, _)| (key, cosine, 0))
                .collect()
        }
    };
    ranked
        .into_iter()
        .take(query.limit)
        .map(|((document_id, ordinal), score, _)| VectorHit {
            document_id,
            ordinal,
            score,
        })
        .collect()
}

#[async_trait]
impl VectorIndex for MemoryIndex {
    async fn upsert(&self, org: OrgId, points: Vec<IndexPoint>) -> Result<(), IndexError> {
        for point in &points {
            self.check(&point.vector)?;
        }
        self.org(org, |stored| {
            for point in points {
                let terms = terms(&point.text).into_iter().collect();
                stored.insert(
                    (point.document_id, point.ordinal),
                    Point {
                        tags: point.tags,
                        vector: point.vector,
                        terms,
                    },
                );
            }
        });
        Ok(())
    }

    async fn delete_document(&self, org: OrgId, document: DocumentId) -> Result<(), IndexError> {
        self.org(org, |points| points.retain(|(id, _), _| *id != document));
        Ok(())
    }

    async fn delete_from(
        &self,
        org: OrgId,
        document: DocumentId,
        from_ordinal: u32,
    ) -> Result<(), IndexError> {
        self.org(org, |points| {
            points.retain(|(id, ordinal), _| *id != document || *ordinal < from_ordinal);
        });
        Ok(())
    }

    async fn search(&self, org: OrgId, query: VectorQuery) -> Result<Vec<VectorHit>, IndexError> {
        self.check(&query.vector)?;
        let words: HashSet<String> = terms(&query.text).into_iter().collect();
        let candidates = self.org(org, |points| {
            points
                .iter()
                .filter(|((id, _), point)| {
                    query
                        .document_ids
                        .as_ref()
                        .is_none_or(|ids| ids.contains(id))
                        && query
                            .tags
                            .as_ref()
                            .is_none_or(|tags| point.tags.iter().any(|t| tags.contains(t)))
                })
                .map(|(key, point)| {
                    let cosine = point
                        .vector
                        .iter()
                        .zip(&query.vector)
                        .map(|(a, b)| a * b)
                        .sum();
                    (*key, cosine, point.terms.intersection(&words).count())
                })
                .collect()
        });
        Ok(rank(&query, candidates))
    }

    async fn count(&self, org: OrgId, document: DocumentId) -> Result<u64, IndexError> {
        Ok(self.org(org, |points| {
            count(points.keys().filter(|(id, _)| *id == document).count())
        }))
    }

    async fn delete_org(&self, org: OrgId) -> Result<(), IndexError> {
        self.org(org, BTreeMap::clear);
        Ok(())
    }

    async fn count_org(&self, org: OrgId) -> Result<u64, IndexError> {
        Ok(self.org(org, |points| count(points.len())))
    }

    async fn ping(&self) -> Result<(), IndexError> {
        Ok(())
    }
}
