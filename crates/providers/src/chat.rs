//! The `ChatModel` port: one call to a model (complete, or stream as deltas), with token usage,
//! and errors classified so callers know whether to retry, give up, or trim the prompt.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures_core::Stream;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    /// Instructions.
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
}

/// One message of a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Who said it.
    pub role: ChatRole,
    /// What was said.
    pub content: String,
}

/// A call to a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The model's name.
    pub model: String,
    /// The prompt.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// The most tokens to generate.
    pub max_tokens: Option<u32>,
}

/// Tokens a call used, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatUsage {
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatResponse {
    /// The text.
    pub content: String,
    /// Tokens used.
    pub usage: ChatUsage,
    /// Whether the model stopped because it hit `max_tokens`.
    pub truncated: bool,
}

/// A piece of a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatChunk {
    /// More text.
    Delta(String),
    /// Tokens used (usually last).
    Usage(ChatUsage),
    /// The model stopped because it hit `max_tokens`: the answer is cut short.
    Truncated,
}

/// A streamed answer.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, ChatError>> + Send>>;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// Retrying later may help: rate limits, server errors, timeouts, network trouble.
    #[error("the model provider is unavailable: {message}")]
    Transient {
        /// What happened.
        message: String,
        /// How long the provider asked to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// Retrying will not help: a bad key, an unknown model, a refused request.
    #[error("the model provider refused the request: {0}")]
    Permanent(String),
    /// The prompt is longer than the model's context.
    #[error("the prompt is too long for the model: {0}")]
    ContextTooLong(String),
}

impl ChatError {
    /// Classifies an HTTP error answer of a provider.
    #[must_use]
    pub fn from_status(status: u16, message: String, retry_after: Option<Duration>) -> Self {
        let lower = message.to_ascii_lowercase();
        if status == 429 || status == 408 || status >= 500 {
            Self::Transient {
                message: format!("{status}: {message}"),
                retry_after,
            }
        } else if lower.contains("context")
            && (lower.contains("length") || lower.contains("too long") || lower.contains("exceed"))
        {
            Self::ContextTooLong(message)
        } else {
            Self::Permanent(format!("{status}: {message}"))
        }
    }
}

/// Builds the model client of a provider connection.
pub trait ChatModels: Send + Sync + std::fmt::Debug {
    /// A client for `provider` with its opened API key. `Permanent` when the kind cannot be called
    /// (the built-in `extractive` has no remote model).
    fn connect(
        &self,
        provider: &crate::model::Provider,
        api_key: Option<docent_kernel::SecretString>,
    ) -> Result<std::sync::Arc<dyn ChatModel>, ChatError>;
}

/// A model behind one provider connection.
#[async_trait]
pub trait ChatModel: Send + Sync + std::fmt::Debug {
    /// One complete answer.
    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ChatError>;

    /// The answer as it is generated. Dropping the stream cancels the call.
    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, ChatError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_errors_are_classified() {
        let wait = Some(Duration::from_secs(3));
        assert!(matches!(
            ChatError::from_status(429, "slow down".into(), wait),
            ChatError::Transient { retry_after, .. } if retry_after == wait
        ));
        assert!(matches!(
            ChatError::from_status(503, "overloaded".into(), None),
            ChatError::Transient { .. }
        ));
        assert!(matches!(
            ChatError::from_status(401, "invalid api key".into(), None),
            ChatError::Permanent(_)
        ));
        assert!(matches!(
            ChatError::from_status(404, "model not found".into(), None),
            ChatError::Permanent(_)
        ));
        assert!(matches!(
            ChatError::from_status(
                400,
                "This model's maximum context length is 2048 tokens".into(),
                None
            ),
            ChatError::ContextTooLong(_)
        ));
        assert!(matches!(
            ChatError::from_status(
                400,
                "the request exceeds the available context size".into(),
                None
            ),
            ChatError::ContextTooLong(_)
        ));
    }
}
