//! The local embedding model: all-MiniLM-L6-v2 (int8 matrix products, 384 dimensions) through
//! fastembed, with ONNX Runtime loaded at run time from the library `scripts/fetch-models` unpacks.
//! Nothing is downloaded here. Embedding runs on blocking threads, a bounded number at a time, so the API stays
//! responsive while the worker embeds.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use docent_documents::ports::{EmbedError, Embedder};
use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};
use tokio::sync::Semaphore;

/// The tokenizer of the default model, relative to the models directory.
pub const TOKENIZER_FILE: &str = "all-minilm-l6-v2/tokenizer.json";
/// The default model's identifier.
pub const MINILM_ID: &str = "all-MiniLM-L6-v2-qint8";
/// The default model's directory, relative to the models directory.
const MINILM_DIR: &str = "all-minilm-l6-v2-qint8";

/// How a model's token vectors become one text vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalPooling {
    /// The mean of the token vectors (sentence-transformers models such as MiniLM).
    Mean,
    /// The first (`[CLS]`) token's vector (BGE and similar).
    Cls,
}

/// A local ONNX embedding model: a directory with `model.onnx`, `tokenizer.json`, `config.json`,
/// `special_tokens_map.json` and `tokenizer_config.json` (as Hugging Face exports them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalModel {
    /// ONNX Runtime's shared library.
    pub runtime: PathBuf,
    /// The model's directory.
    pub dir: PathBuf,
    /// Its identifier (one vector collection per identifier).
    pub id: String,
    /// Its pooling.
    pub pooling: LocalPooling,
}

impl LocalModel {
    /// all-MiniLM-L6-v2 as `scripts/fetch-models` lays it out in `models_dir`.
    #[must_use]
    pub fn default_in(models_dir: &Path) -> Self {
        Self {
            runtime: runtime_library(models_dir),
            dir: models_dir.join(MINILM_DIR),
            id: MINILM_ID.to_owned(),
            pooling: LocalPooling::Mean,
        }
    }

    /// The model's tokenizer file (also what chunks are measured with).
    #[must_use]
    pub fn tokenizer(&self) -> PathBuf {
        self.dir.join("tokenizer.json")
    }
}

/// Where `scripts/fetch-models` puts ONNX Runtime.
#[must_use]
pub fn runtime_library(models_dir: &Path) -> PathBuf {
    models_dir.join("onnxruntime/libonnxruntime.so")
}
/// Texts per inference batch at most (OFFLINE.md measured larger batches slower on two cores).
const BATCH: usize = 32;
/// The size of an inference batch in characters, counted as its longest text's length times its
/// number of texts. Every text of a batch is padded to the longest, and attention's memory grows
/// with the square of the length: one inference over chunks of 256 tokens held at its peak about
/// 95 MB for one chunk, 120 MB for 2, 290 MB for 4 and 540 MB for 8, at no more tokens per second
/// for the larger batches on two cores. So long chunks go two at a time (this budget), and short
/// texts still go 32 at a time.
const BATCH_CHARS: usize = 2048;
/// The longest input in tokens; longer texts are truncated by the tokenizer.
const MAX_TOKENS: usize = 256;

/// ONNX Runtime is loaded once per process.
fn init_runtime(library: &Path) -> Result<(), String> {
    static RUNTIME: OnceLock<Result<(), String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            // Only the library is loaded here; fastembed creates the environment it needs.
            ort::init_from(library).map(drop).map_err(|e| {
                format!(
                    "cannot load ONNX Runtime from {} ({e}); run scripts/fetch-models",
                    library.display()
                )
            })
        })
        .clone()
}

/// A model loaded from a directory.
type Loaded = (LocalModel, Arc<LocalEmbedder>);

/// A local ONNX embedding model in process (all-MiniLM-L6-v2 by default).
pub struct LocalEmbedder {
    model: Arc<Mutex<TextEmbedding>>,
    /// One inference at a time: the model already uses both cores.
    slots: Arc<Semaphore>,
    id: String,
    dimensions: usize,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("id", &self.id)
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

impl LocalEmbedder {
    /// The default model in `models_dir`, loaded once per process and shared.
    pub fn shared(models_dir: &Path) -> Result<Arc<Self>, String> {
        Self::shared_model(&LocalModel::default_in(models_dir))
    }

    /// A model, loaded once per process and shared (several services in one process, as in the
    /// end-to-end tests, need only one copy).
    pub fn shared_model(model: &LocalModel) -> Result<Arc<Self>, String> {
        static LOADED: OnceLock<Mutex<Vec<Loaded>>> = OnceLock::new();
        let mut loaded = LOADED
            .get_or_init(|| Mutex::new(Vec::new()))
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, embedder)) = loaded.iter().find(|(known, _)| known == model) {
            return Ok(embedder.clone());
        }
        let embedder = Arc::new(Self::load(model)?);
        loaded.push((model.clone(), embedder.clone()));
        Ok(embedder)
    }

    /// Loads a model; its dimensions are learned from one probe embedding.
    pub fn load(local: &LocalModel) -> Result<Self, String> {
        init_runtime(&local.runtime)?;
        let dir = &local.dir;
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| {
                format!(
                    "cannot read {} ({e}); run scripts/fetch-models",
                    dir.join(name).display()
                )
            })
        };
        let model = UserDefinedEmbeddingModel::new(
            read("model.onnx")?,
            TokenizerFiles {
                tokenizer_file: read("tokenizer.json")?,
                config_file: read("config.json")?,
                special_tokens_map_file: read("special_tokens_map.json")?,
                tokenizer_config_file: read("tokenizer_config.json")?,
            },
        )
        .with_pooling(match local.pooling {
            LocalPooling::Mean => Pooling::Mean,
            LocalPooling::Cls => Pooling::Cls,
        });
        // ONNX Runtime's CPU arena keeps the largest batch's buffers for good (hundreds of MB
        // for a batch of long chunks); without it, a batch's memory is returned when it is done.
        let options = InitOptionsUserDefined::new()
            .with_max_length(MAX_TOKENS)
            .with_intra_threads(2)
            .with_execution_providers(vec![
                ort::ep::CPU::default().with_arena_allocator(false).build(),
            ]);
        let mut embedding = TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| format!("cannot load the embedding model in {}: {e}", dir.display()))?;
        let dimensions = embedding
            .embed(vec!["dimension probe"], None)
            .map_err(|e| format!("the embedding model in {} does not run: {e}", dir.display()))?
            .first()
            .map_or(0, Vec::len);
        if dimensions == 0 {
            return Err(format!(
                "the embedding model in {} returned an empty vector",
                dir.display()
            ));
        }
        Ok(Self {
            model: Arc::new(Mutex::new(embedding)),
            slots: Arc::new(Semaphore::new(1)),
            id: local.id.clone(),
            dimensions,
        })
    }
}

/// Where each batch of texts of these ascending `lengths` ends: at most [`BATCH`] texts, and at
/// most [`BATCH_CHARS`] counted as the longest one's length times their number (a text longer than
/// that goes alone).
fn batch_ends(lengths: &[usize]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut start = 0;
    for (i, &length) in lengths.iter().enumerate() {
        let count = i - start + 1;
        if count > 1 && (count > BATCH || count * length.max(1) > BATCH_CHARS) {
            ends.push(i);
            start = i;
        }
    }
    if start < lengths.len() {
        ends.push(lengths.len());
    }
    ends
}

/// Embeds `texts` in batches of similar length ([`batch_ends`]), returning the vectors in the
/// order of `texts`. Every text of a batch is padded to the batch's longest, so a batch costs its
/// longest text's length for each member: grouping by length spends the model's time on tokens,
/// not on padding, and bounds the memory a batch holds.
fn embed_by_length(
    model: &mut TextEmbedding,
    texts: &[String],
) -> fastembed::Result<Vec<Vec<f32>>> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let sorted: Vec<&str> = order.iter().map(|&i| texts[i].as_str()).collect();
    let lengths: Vec<usize> = sorted.iter().map(|t| t.len()).collect();
    let mut vectors = Vec::with_capacity(texts.len());
    let mut start = 0;
    for end in batch_ends(&lengths) {
        let batch = &sorted[start..end];
        vectors.extend(model.embed(batch, Some(batch.len()))?);
        start = end;
    }
    let mut placed = vec![Vec::new(); texts.len()];
    for (position, vector) in order.into_iter().zip(vectors) {
        placed[position] = vector;
    }
    Ok(placed)
}

/// `vector` scaled to length 1 (unchanged when it is all zeros), so dot product is cosine.
pub(crate) fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut vector {
            *x /= norm;
        }
    }
    vector
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| EmbedError::Transient(e.to_string()))?;
        let model = self.model.clone();
        let vectors = tokio::task::spawn_blocking(move || {
            let mut model = model.lock().unwrap_or_else(PoisonError::into_inner);
            embed_by_length(&mut model, &texts)
        })
        .await
        .map_err(|e| EmbedError::Transient(format!("the embedding task failed: {e}")))?
        .map_err(|e| EmbedError::Permanent(e.to_string()))?;
        Ok(vectors.into_iter().map(normalized).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[tokio::test]
    async fn paraphrases_are_close_and_unrelated_texts_are_not() {
        let dir = crate::testing::models_dir();
        let embedder = LocalEmbedder::load(&LocalModel::default_in(&dir))
            .unwrap_or_else(|e| panic!("{e} (models expected in {})", dir.display()));
        let vectors = embedder
            .embed(vec![
                "How long do I have to send an item back for a refund?".to_owned(),
                "Items may be returned within 30 days of delivery for a full refund.".to_owned(),
                "The volcano erupted and covered the village in ash.".to_owned(),
            ])
            .await
            .unwrap();
        assert_eq!(vectors.len(), 3);
        assert!(vectors.iter().all(|v| v.len() == embedder.dimensions()));
        for v in &vectors {
            assert!((cosine(v, v) - 1.0).abs() < 1e-3, "not normalized");
        }
        let related = cosine(&vectors[0], &vectors[1]);
        let unrelated = cosine(&vectors[0], &vectors[2]);
        assert!(related > 0.4, "paraphrase similarity {related}");
        assert!(related > unrelated + 0.25, "{related} vs {unrelated}");
        assert!(embedder.embed(Vec::new()).await.unwrap().is_empty());
    }

    #[test]
    fn batches_are_bounded_by_count_and_by_the_longest_text() {
        // Short texts go BATCH at a time.
        assert_eq!(batch_ends(&[10; 70]), [32, 64, 70]);
        // Long ones fewer: 2 of 1 000 characters fit, the third starts the next batch.
        assert_eq!(batch_ends(&[1000; 5]), [2, 4, 5]);
        // A batch ends where adding the next, longer text would overflow it.
        assert_eq!(batch_ends(&[100, 100, 1000, 1100]), [2, 3, 4]);
        // A text longer than the budget goes alone; nothing is empty.
        assert_eq!(batch_ends(&[3000, 3000]), [1, 2]);
        assert!(batch_ends(&[]).is_empty());
    }

    #[tokio::test]
    async fn texts_embedded_together_by_length_keep_their_own_vectors_in_order() {
        let dir = crate::testing::models_dir();
        let embedder = LocalEmbedder::shared(&dir).unwrap();
        // Longest first, so the length order is not the input order; more than one batch.
        let mut texts: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    "Pump {i} is checked {}.",
                    "every morning before the shift ".repeat(40 - i)
                )
            })
            .collect();
        texts.push("Short.".to_owned());
        let together = embedder.embed(texts.clone()).await.unwrap();
        assert_eq!(together.len(), texts.len());
        for (i, text) in texts.iter().enumerate().step_by(7) {
            let alone = embedder.embed(vec![text.clone()]).await.unwrap().remove(0);
            let similarity = cosine(&alone, &together[i]);
            assert!(similarity > 0.99, "text {i}: {similarity}");
        }
    }

    #[tokio::test]
    async fn another_local_model_directory_loads_with_its_own_id_and_pooling() {
        let source = crate::testing::models_dir();
        let dir = tempfile::tempdir().unwrap();
        let model_dir = dir.path().join("my-model");
        std::fs::create_dir(&model_dir).unwrap();
        for file in [
            "model.onnx",
            "tokenizer.json",
            "config.json",
            "special_tokens_map.json",
            "tokenizer_config.json",
        ] {
            std::fs::copy(source.join(MINILM_DIR).join(file), model_dir.join(file)).unwrap();
        }
        let local = LocalModel {
            dir: model_dir.clone(),
            id: "my-model".into(),
            pooling: LocalPooling::Cls,
            ..LocalModel::default_in(&source)
        };
        let custom = LocalEmbedder::shared_model(&local).unwrap();
        assert_eq!((custom.model_id(), custom.dimensions()), ("my-model", 384));
        let default = LocalEmbedder::shared(&source).unwrap();
        let text = vec!["The cafeteria serves lunch at noon.".to_owned()];
        let (cls, mean) = (
            custom.embed(text.clone()).await.unwrap(),
            default.embed(text).await.unwrap(),
        );
        assert!((cosine(&cls[0], &cls[0]) - 1.0).abs() < 1e-3);
        assert!(
            cosine(&cls[0], &mean[0]) < 0.999,
            "CLS pooling differs from mean pooling"
        );

        let missing = LocalModel {
            dir: dir.path().join("nowhere"),
            ..local
        };
        let error = LocalEmbedder::load(&missing).unwrap_err();
        assert!(error.contains("nowhere"), "{error}");
    }
}
