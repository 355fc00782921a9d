//! The local embedding model: all-MiniLM-L6-v2 (int8 ONNX, 384 dimensions) through fastembed, with
//! ONNX Runtime loaded at run time from the library `scripts/fetch-models` unpacks. Nothing is
//! downloaded here. Embedding runs on blocking threads, a bounded number at a time, so the API stays
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
pub const MINILM_ID: &str = "all-MiniLM-L6-v2-int8";
/// The default model's directory, relative to the models directory.
const MINILM_DIR: &str = "all-minilm-l6-v2";

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
