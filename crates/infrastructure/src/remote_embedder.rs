//! Embeddings from a provider's API: any server that speaks OpenAI's `POST /v1/embeddings`
//! (OpenAI itself, Azure-style gateways, vLLM, llama.cpp, Ollama, LiteLLM, …), through
//! async-openai. Failures are classified for the worker: rate limits, server errors and network
//! trouble are transient (retried with backoff), everything else is permanent.

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput};
use async_trait::async_trait;
use docent_documents::ports::{EmbedError, Embedder};
use secrecy::{ExposeSecret as _, SecretString};

use crate::embedder::normalized;

/// How long one embeddings call may take: a hung server must not hold a worker (or `/readyz`)
/// forever.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// An OpenAI-compatible embeddings endpoint.
pub struct OpenAiEmbedder {
    client: Client<OpenAIConfig>,
    model: String,
    model_id: String,
    dimensions: usize,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("model", &self.model)
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

impl OpenAiEmbedder {
    /// An embedder for `model` at `base_url` (e.g. `https://api.openai.com/v1`), whose vectors
    /// have `dimensions` entries.
    #[must_use]
    pub fn new(
        base_url: &str,
        api_key: Option<&SecretString>,
        model: &str,
        dimensions: usize,
    ) -> Self {
        crate::tls::init();
        let mut config = OpenAIConfig::new().with_api_base(base_url.trim_end_matches('/'));
        config = match api_key {
            Some(key) => config.with_api_key(key.expose_secret()),
            // Local servers usually want none; async-openai would otherwise read OPENAI_API_KEY.
            None => config.with_api_key(""),
        };
        Self {
            client: Client::with_config(config),
            model: model.to_owned(),
            model_id: format!("openai-compatible:{model}"),
            dimensions,
        }
    }
}

fn classify(error: OpenAIError) -> EmbedError {
    match error {
        OpenAIError::ApiError(response) => {
            let status = response.status_code.as_u16();
            let message = format!(
                "the embeddings API answered {status}: {}",
                response.api_error
            );
            if status == 429 || status == 408 || status >= 500 {
                EmbedError::Transient(message)
            } else {
                EmbedError::Permanent(message)
            }
        }
        OpenAIError::Reqwest(error) => {
            EmbedError::Transient(format!("cannot reach the embeddings API: {error}"))
        }
        OpenAIError::JSONDeserialize(error, _) => EmbedError::Permanent(format!(
            "the embeddings API answered something that is not an embeddings response: {error}"
        )),
        other @ (OpenAIError::FileSaveError(_)
        | OpenAIError::FileReadError(_)
        | OpenAIError::StreamError(_)
        | OpenAIError::InvalidArgument(_)) => EmbedError::Permanent(other.to_string()),
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let count = texts.len();
        let request = CreateEmbeddingRequest {
            model: self.model.clone(),
            input: EmbeddingInput::StringArray(texts),
            encoding_format: None,
            user: None,
            dimensions: None,
        };
        let embeddings = self.client.embeddings();
        let mut response = tokio::time::timeout(CALL_TIMEOUT, embeddings.create(request))
            .await
            .map_err(|_| {
                EmbedError::Transient(format!(
                    "the embeddings API did not answer within {CALL_TIMEOUT:?}"
                ))
            })?
            .map_err(classify)?;
        if response.data.len() != count {
            return Err(EmbedError::Permanent(format!(
                "the embeddings API returned {} vectors for {count} texts",
                response.data.len()
            )));
        }
        response.data.sort_by_key(|e| e.index);
        response
            .data
            .into_iter()
            .map(|e| {
                if e.embedding.len() == self.dimensions {
                    Ok(normalized(e.embedding))
                } else {
                    Err(EmbedError::Permanent(format!(
                        "the embeddings API returned {} dimensions; embedding.dimensions says {}",
                        e.embedding.len(),
                        self.dimensions
                    )))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
