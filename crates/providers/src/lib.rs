//! Providers: an organization's model connections (OpenAI, Azure OpenAI, OpenAI-compatible servers,
//! Gemini, Anthropic, and the built-in offline `extractive` answerer), with their API keys sealed at
//! rest under the operator's master key and their base URLs kept away from internal addresses.
//!
//! [`chat`] is the `ChatModel` port (complete and stream, usage, classified errors); infrastructure
//! implements it per provider kind.

pub mod chat;
pub mod error;
pub mod model;
pub mod ports;
pub mod retry;
pub mod service;

pub use chat::{ChatError, ChatModel, ChatModels};
pub use error::ProviderError;
pub use model::{Provider, ProviderKind, SealedKey, key_binding};
pub use ports::{BaseUrlGuard, ProviderRepo, SealError, SecretBox};
pub use service::{
    MAX_KEY_CHARS, MAX_MODEL_CHARS, MAX_NAME_CHARS, MAX_TIMEOUT_SECS, NewProvider, ProviderPatch,
    ProviderPorts, ProviderService, TestReport,
};
