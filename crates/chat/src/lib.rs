//! Chat: chatbots, prompt and tone templates, conversations and messages, retrieval-augmented
//! answering and citations. It reaches documents (retrieval) and providers (the model) through
//! their crates — the only two domain-to-domain edges in the workspace — and the quotas of the key
//! service through its own [`ports::UsageGate`].

pub mod answer;
pub mod citations;
pub mod error;
pub mod extractive;
pub mod model;
pub mod ports;
pub mod prompt;
pub mod service;
#[cfg(test)]
mod testing;

pub use answer::{AnswerEvent, AnswerStream, MAX_QUESTION_CHARS};
pub use error::ChatError;
pub use model::{
    Chatbot, Citation, CitationStyle, Conversation, KnowledgeScope, Message, RetrievalSettings,
    Role, TokenUsage, Tone,
};
pub use ports::{ChatbotRepo, ConversationRepo, UsageGate, UsageHold};
pub use prompt::{TONES, ToneTemplate};
pub use service::{
    ChatPorts, ChatService, ChatbotInput, MAX_MESSAGE_TEXT, MAX_MODEL, MAX_NAME, MAX_SCOPE_IDS,
    MAX_SYSTEM_PROMPT, MAX_TITLE, MAX_TONE, MAX_TOP_K,
};
