//! The chat model: chatbots and their settings, conversations, messages and citations.

use chrono::{DateTime, Utc};
use docent_kernel::{
    Actor, ChatbotId, ConversationId, DocumentId, MessageId, OrgId, ProviderId, Slug,
};

/// How a chatbot speaks: one of the built-in tone templates, or the organization's own text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tone {
    /// A built-in template by name (see [`crate::prompts::TONES`]).
    Template(String),
    /// Custom instructions.
    Custom(String),
}

/// Which of the organization's documents a chatbot answers from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KnowledgeScope {
    /// Every document of the organization.
    #[default]
    All,
    /// Documents carrying any of these tags.
    Tags(Vec<String>),
    /// These documents.
    Documents(Vec<DocumentId>),
}

/// How answers show their sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CitationStyle {
    /// Markers such as `[1]` in the text, and the citations alongside.
    #[default]
    Inline,
    /// Markers in the text, and a numbered list of the sources appended to it.
    Footnotes,
    /// No markers in the text; the citations alongside list the passages the answer drew on.
    None,
}

impl CitationStyle {
    /// Every style.
    pub const ALL: [Self; 3] = [Self::Inline, Self::Footnotes, Self::None];

    /// The wire and storage name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inline => "inline",
            Self::Footnotes => "footnotes",
            Self::None => "none",
        }
    }

    /// Parses a wire or storage name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the model is asked to put markers in its text.
    #[must_use]
    pub const fn uses_markers(self) -> bool {
        !matches!(self, Self::None)
    }
}

/// How passages are retrieved for a question.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrievalSettings {
    /// Passages given to the model, at most.
    pub top_k: u32,
    /// The lowest dense similarity a passage needs to count as relevant.
    pub min_score: f32,
}

impl Default for RetrievalSettings {
    fn default() -> Self {
        Self {
            top_k: 5,
            min_score: 0.3,
        }
    }
}

/// A chatbot: a provider and model, instructions, and the documents it answers from.
#[derive(Debug, Clone, PartialEq)]
pub struct Chatbot {
    /// The id.
    pub id: ChatbotId,
    /// The organization.
    pub org_id: OrgId,
    /// A label.
    pub name: String,
    /// A handle unique in the organization (also the `model` of `/v1/chat/completions`).
    pub slug: Slug,
    /// The provider connection.
    pub provider_id: ProviderId,
    /// The model; the connection's default model when `None`.
    pub model: Option<String>,
    /// Instructions given to the model before everything else.
    pub system_prompt: String,
    /// How it speaks.
    pub tone: Tone,
    /// Sampling temperature.
    pub temperature: f32,
    /// The most tokens an answer may take.
    pub max_answer_tokens: u32,
    /// The model's context window in tokens: the budget for instructions, sources, history and
    /// answer.
    pub context_window: u32,
    /// Retrieval settings.
    pub retrieval: RetrievalSettings,
    /// Which documents it answers from.
    pub knowledge: KnowledgeScope,
    /// Shown when a conversation starts.
    pub welcome_message: Option<String>,
    /// The answer when no passage is relevant (no model is called then).
    pub fallback_answer: String,
    /// How answers show their sources.
    pub citation_style: CitationStyle,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A conversation with a chatbot, owned by the user or key that started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The id.
    pub id: ConversationId,
    /// The organization.
    pub org_id: OrgId,
    /// The chatbot.
    pub chatbot_id: ChatbotId,
    /// Who started it; nobody else may read or continue it.
    pub owner: Actor,
    /// A label (the first question, shortened, unless given).
    pub title: String,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When the last message was added.
    pub updated_at: DateTime<Utc>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The person asking.
    User,
    /// The chatbot.
    Assistant,
}

impl Role {
    /// The wire and storage name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }

    /// Parses a wire or storage name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            _ => None,
        }
    }
}

/// A passage an answer refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct Citation {
    /// The number the answer's markers use (`[n]`).
    pub n: u32,
    /// The document.
    pub document_id: DocumentId,
    /// Its title.
    pub title: String,
    /// The chunk's position in the document.
    pub ordinal: u32,
    /// The page, where known.
    pub page: Option<u32>,
    /// The headings the passage lies under ("Installation › Upgrading"), where the document has
    /// any.
    pub section: Option<String>,
    /// Where the chunk starts in the document's extracted text (characters).
    pub char_start: u64,
    /// Where it ends.
    pub char_end: u64,
    /// The dense similarity to the question.
    pub score: f32,
    /// The start of the passage.
    pub snippet: String,
}

/// Tokens a message cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
}

/// A message of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The id.
    pub id: MessageId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: String,
    /// The passages it refers to (answers only).
    pub citations: Vec<Citation>,
    /// Tokens the answer cost (answers only).
    pub usage: TokenUsage,
    /// How long the answer took, in milliseconds (answers only).
    pub latency_ms: u64,
    /// Whether the answer was cut short (the client went away, or the model stopped at its
    /// token limit).
    pub incomplete: bool,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}
