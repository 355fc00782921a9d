//! Values for unit tests.

use chrono::Utc;
use docent_kernel::{ChatbotId, ConversationId, DocumentId, MessageId, OrgId, ProviderId, Slug};

use crate::model::{
    Chatbot, Citation, CitationStyle, KnowledgeScope, Message, RetrievalSettings, Role, TokenUsage,
    Tone,
};

pub(crate) fn chatbot() -> Chatbot {
    Chatbot {
        id: ChatbotId::generate(),
        org_id: OrgId::generate(),
        name: "Help".into(),
        slug: Slug::parse("help").unwrap(),
        provider_id: ProviderId::generate(),
        model: Some("m".into()),
        system_prompt: "You help.".into(),
        tone: Tone::Template("professional".into()),
        temperature: 0.2,
        max_answer_tokens: 256,
        context_window: 4_096,
        retrieval: RetrievalSettings::default(),
        knowledge: KnowledgeScope::All,
        welcome_message: None,
        fallback_answer: "No idea.".into(),
        citation_style: CitationStyle::Inline,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

pub(crate) fn message(role: Role, content: &str) -> Message {
    Message {
        id: MessageId::generate(),
        conversation_id: ConversationId::generate(),
        role,
        content: content.into(),
        citations: Vec::new(),
        usage: TokenUsage::default(),
        latency_ms: 0,
        incomplete: false,
        created_at: Utc::now(),
    }
}

pub(crate) fn citation(n: u32) -> Citation {
    Citation {
        n,
        document_id: DocumentId::generate(),
        title: format!("Doc {n}"),
        ordinal: n,
        page: None,
        section: None,
        char_start: 0,
        char_end: 10,
        score: 0.5,
        snippet: "text".into(),
    }
}
