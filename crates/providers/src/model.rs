//! The provider model: an organization's connection to a model API.

use chrono::{DateTime, Utc};
use docent_kernel::{OrgId, ProviderId};

/// The kind of a provider connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Every kind.
    pub const ALL: [Self; 6] = [
        Self::OpenAi,
        Self::AzureOpenAi,
        Self::OpenAiCompatible,
        Self::Gemini,
        Self::Anthropic,
        Self::Extractive,
    ];

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

    /// Parses a wire or storage name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The base URL used when the connection names none; `None` when one is required (or, for
    /// `extractive`, meaningless).
    #[must_use]
    pub const fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("https://api.openai.com/v1"),
            Self::Gemini => Some("https://generativelanguage.googleapis.com"),
            Self::Anthropic => Some("https://api.anthropic.com"),
            Self::AzureOpenAi | Self::OpenAiCompatible | Self::Extractive => None,
        }
    }

    /// Whether the kind talks to a remote API at all.
    #[must_use]
    pub const fn is_remote(self) -> bool {
        !matches!(self, Self::Extractive)
    }

    /// Whether the kind needs an API key (OpenAI-compatible servers often take none).
    #[must_use]
    pub const fn needs_api_key(self) -> bool {
        matches!(
            self,
            Self::OpenAi | Self::AzureOpenAi | Self::Gemini | Self::Anthropic
        )
    }
}

/// A provider connection. Its API key is stored sealed and never part of this type: only its last
/// four characters are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The id.
    pub id: ProviderId,
    /// The organization.
    pub org_id: OrgId,
    /// A label.
    pub name: String,
    /// The kind.
    pub kind: ProviderKind,
    /// Where the API is (the kind's default when the connection names none).
    pub base_url: Option<String>,
    /// The model chatbots use unless they name one.
    pub default_model: Option<String>,
    /// The API version (Azure OpenAI).
    pub api_version: Option<String>,
    /// The last four characters of the API key, when there is one.
    pub api_key_last4: Option<String>,
    /// How long one call may take, in seconds.
    pub timeout_secs: u32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Provider {
    /// The base URL calls go to: the configured one, else the kind's default.
    #[must_use]
    pub fn effective_base_url(&self) -> Option<&str> {
        self.base_url
            .as_deref()
            .or_else(|| self.kind.default_base_url())
    }
}

/// An API key sealed under a master key: which key (for rotation), and the nonce-prefixed
/// ciphertext. The organization and provider ids are bound to it as associated data, so a sealed
/// key copied to another provider does not open.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKey {
    /// The id of the master key it is sealed under.
    pub key_id: String,
    /// Nonce followed by ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedKey")
            .field("key_id", &self.key_id)
            .field("bytes", &self.ciphertext.len())
            .finish()
    }
}

/// The associated data a provider's key is sealed with: organization id then provider id.
#[must_use]
pub fn key_binding(org: OrgId, provider: ProviderId) -> [u8; 32] {
    let mut aad = [0_u8; 32];
    aad[..16].copy_from_slice(org.as_uuid().as_bytes());
    aad[16..].copy_from_slice(provider.as_uuid().as_bytes());
    aad
}
