//! Providers: an organization's model connections (OpenAI, Azure OpenAI, OpenAI-compatible servers,
//! Gemini, Anthropic, and the built-in offline `extractive` answerer) and the `ChatModel` port the
//! chat crate calls, with errors classified as transient, permanent or context-too-long.
//!
//! Filled by the chatbots-and-providers issue; for now it only names the provider kinds.

/// The kind of a provider connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenAI's API.
    OpenAi,
    /// Azure OpenAI.
    AzureOpenAi,
    /// Any server speaking OpenAI's chat-completions API (Ollama, vLLM, llama.cpp, LiteLLM, …).
    OpenAiCompatible,
    /// Google Gemini.
    Gemini,
    /// Anthropic's Messages API.
    Anthropic,
    /// The built-in answerer that quotes the best passages; needs no key and works offline.
    Extractive,
}

impl ProviderKind {
    /// The wire and storage name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::AzureOpenAi => "azure_openai",
            Self::OpenAiCompatible => "openai_compatible",
            Self::Gemini => "gemini",
            Self::Anthropic => "anthropic",
            Self::Extractive => "extractive",
        }
    }
}
