//! The local embedding model: all-MiniLM-L6-v2 (int8 ONNX, 384 dimensions) through fastembed, with
//! ONNX Runtime loaded at run time from the library `scripts/fetch-models` unpacks. Nothing is
//! downloaded here. Embedding runs on blocking threads, a bounded number at a time, so the API stays
//! responsive while the worker embeds.

use std::path::Path;
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
pub const MINILM_ID: &str = "all-MiniLM-L6-v2-int8";
/// Texts per inference batch (OFFLINE.md measured larger batches slower on two cores).
const BATCH: usize = 32;
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
type Loaded = (std::path::PathBuf, Arc<LocalEmbedder>);

/// all-MiniLM-L6-v2 in process.
pub struct LocalEmbedder {
    model: Arc<Mutex<TextEmbedding>>,
    /// One inference at a time: the model already uses both cores.
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalEmbedder(all-MiniLM-L6-v2)")
    }
}

impl LocalEmbedder {
    /// The model in `models_dir`, loaded once per process and shared (several services in one
    /// process, as in the end-to-end tests, need only one copy).
    pub fn shared(models_dir: &Path) -> Result<Arc<Self>, String> {
        static LOADED: OnceLock<Mutex<Vec<Loaded>>> = OnceLock::new();
        let mut loaded = LOADED
            .get_or_init(|| Mutex::new(Vec::new()))
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, embedder)) = loaded.iter().find(|(dir, _)| dir == models_dir) {
            return Ok(embedder.clone());
        }
        let embedder = Arc::new(Self::load(models_dir)?);
        loaded.push((models_dir.to_path_buf(), embedder.clone()));
        Ok(embedder)
    }

    /// Loads the model from `models_dir` (as laid out by `scripts/fetch-models`).
    pub fn load(models_dir: &Path) -> Result<Self, String> {
        init_runtime(&models_dir.join("onnxruntime/libonnxruntime.so"))?;
        let dir = models_dir.join("all-minilm-l6-v2");
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
        .with_pooling(Pooling::Mean);
        let options = InitOptionsUserDefined::new()
            .with_max_length(MAX_TOKENS)
            .with_intra_threads(2);
        let embedding = TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| format!("cannot load the embedding model: {e}"))?;
        Ok(Self {
            model: Arc::new(Mutex::new(embedding)),
            slots: Arc::new(Semaphore::new(1)),
        })
    }
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
        MINILM_ID
    }

    fn dimensions(&self) -> usize {
        384
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
            model.embed(&texts, Some(BATCH))
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
        let embedder = LocalEmbedder::load(&dir)
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
}
