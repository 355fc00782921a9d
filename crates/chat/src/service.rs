//! The chat service: chatbots (create, read, change, delete) and conversations. Answering lives in
//! [`crate::answer`].

use std::sync::Arc;

use docent_documents::DocumentService;
use docent_documents::service::validate_tags;
use docent_kernel::{
    Actor, AuditEvent, AuditLog, ChatbotId, Clock, ConversationId, Page, PageRequest, ProviderId,
    Slug, StoreError, TenantCtx, record_or_log,
};
use docent_providers::retry::RetryPolicy;
use docent_providers::{ChatModels, ProviderError, ProviderService};

use crate::error::{ChatError, invalid};
use crate::model::{
    Chatbot, CitationStyle, Conversation, KnowledgeScope, Message, RetrievalSettings, Tone,
};
use crate::ports::{ChatbotRepo, ConversationRepo, UsageGate};
use crate::prompt::tone_template;

/// The default instructions of a new chatbot.
pub const DEFAULT_SYSTEM_PROMPT: &str =
    "You are a helpful assistant that answers questions about the organization's documents.";
/// The default answer when nothing relevant is found.
pub const DEFAULT_FALLBACK: &str = "I could not find anything about that in the documents I can \
     use. Please rephrase the question or ask about another topic.";

/// The longest chatbot name, in characters.
pub const MAX_NAME: usize = 100;
/// The longest model name.
pub const MAX_MODEL: usize = 200;
/// The longest system prompt.
pub const MAX_SYSTEM_PROMPT: usize = 8_000;
/// The longest custom tone.
pub const MAX_TONE: usize = 2_000;
/// The longest welcome message or fallback answer.
pub const MAX_MESSAGE_TEXT: usize = 4_000;
/// The most documents a knowledge scope names.
pub const MAX_SCOPE_IDS: usize = 100;
/// The longest conversation title.
pub const MAX_TITLE: usize = 200;
/// The most retrieved passages an answer may use.
pub const MAX_TOP_K: u32 = 20;

/// A chatbot as a client describes it. On create, `None` takes the default; on update, `None`
/// keeps the current value (`Some(None)` clears an optional one).
#[derive(Debug, Clone, Default)]
pub struct ChatbotInput {
    /// A label (required on create).
    pub name: Option<String>,
    /// The handle; derived from the name on create when absent.
    pub slug: Option<String>,
    /// The provider connection (required on create).
    pub provider_id: Option<ProviderId>,
    /// The model; `Some(None)` uses the connection's default.
    pub model: Option<Option<String>>,
    /// Instructions.
    pub system_prompt: Option<String>,
    /// The tone.
    pub tone: Option<Tone>,
    /// Sampling temperature (0–2).
    pub temperature: Option<f32>,
    /// The most tokens an answer may take.
    pub max_answer_tokens: Option<u32>,
    /// The model's context window in tokens.
    pub context_window: Option<u32>,
    /// Passages per answer.
    pub top_k: Option<u32>,
    /// The lowest dense similarity that counts as relevant.
    pub min_score: Option<f32>,
    /// Which documents it answers from.
    pub knowledge: Option<KnowledgeScope>,
    /// Shown when a conversation starts; `Some(None)` removes it.
    pub welcome_message: Option<Option<String>>,
    /// The answer when nothing relevant is found.
    pub fallback_answer: Option<String>,
    /// How answers show their sources.
    pub citation_style: Option<CitationStyle>,
}

/// Chatbots, conversations and answers of organizations.
#[derive(Debug, Clone)]
pub struct ChatService {
    pub(crate) chatbots: Arc<dyn ChatbotRepo>,
    pub(crate) conversations: Arc<dyn ConversationRepo>,
    pub(crate) documents: Arc<DocumentService>,
    pub(crate) providers: Arc<ProviderService>,
    pub(crate) models: Arc<dyn ChatModels>,
    pub(crate) gate: Arc<dyn UsageGate>,
    pub(crate) audit: Arc<dyn AuditLog>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) retry: RetryPolicy,
    /// How long a streamed answer waits for a client that stopped reading.
    pub(crate) send_timeout: std::time::Duration,
}

/// What the chat service is built from.
#[derive(Debug, Clone)]
pub struct ChatPorts {
    /// Stores chatbots.
    pub chatbots: Arc<dyn ChatbotRepo>,
    /// Stores conversations and messages.
    pub conversations: Arc<dyn ConversationRepo>,
    /// Retrieval.
    pub documents: Arc<DocumentService>,
    /// Provider connections.
    pub providers: Arc<ProviderService>,
    /// Opens model clients for connections.
    pub models: Arc<dyn ChatModels>,
    /// Reserves and settles quotas.
    pub gate: Arc<dyn UsageGate>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// A text of at most `max` characters without control characters (line breaks and tabs allowed
/// with `allow_newlines`) as given, not blank; trimmed.
pub(crate) fn text_field(
    field: &'static str,
    value: String,
    max: usize,
    allow_newlines: bool,
) -> Result<String, ChatError> {
    let bad_control = value
        .chars()
        .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\t' | '\r')));
    let too_long = value.chars().count() > max;
    let value = value.trim().to_owned();
    if value.is_empty() || too_long || bad_control {
        return Err(invalid(
            field,
            format!(
                "1 to {max} characters{}",
                if allow_newlines {
                    ""
                } else {
                    " without control characters"
                }
            ),
        ));
    }
    Ok(value)
}

/// `bot`, unless the tenant's actor may not use it.
fn usable(tenant: &TenantCtx, bot: Chatbot) -> Result<Chatbot, ChatError> {
    if tenant.may_use_chatbot(bot.id) {
        Ok(bot)
    } else {
        Err(ChatError::ChatbotNotFound)
    }
}

impl ChatService {
    /// A service over these ports.
    #[must_use]
    pub fn new(ports: ChatPorts) -> Self {
        let ChatPorts {
            chatbots,
            conversations,
            documents,
            providers,
            models,
            gate,
            audit,
            clock,
        } = ports;
        Self {
            chatbots,
            conversations,
            documents,
            providers,
            models,
            gate,
            audit,
            clock,
            retry: RetryPolicy::default(),
            send_timeout: std::time::Duration::from_secs(30),
        }
    }

    /// The same service, ending a streamed answer whose client read nothing for `timeout`.
    #[must_use]
    pub fn with_send_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// The same service with another retry policy for model calls.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Applies `input` to `bot` and validates the result; ids in it are checked against the
    /// tenant's organization like path ids.
    async fn apply(
        &self,
        tenant: &TenantCtx,
        bot: &mut Chatbot,
        input: ChatbotInput,
    ) -> Result<(), ChatError> {
        if let Some(name) = input.name {
            bot.name = text_field("name", name, MAX_NAME, false)?;
        }
        if let Some(slug) = input.slug {
            let slug = slug.trim();
            // A slug is also a `model` name next to chatbot ids: it must not look like one.
            if slug.parse::<uuid::Uuid>().is_ok() {
                return Err(invalid("slug", "a slug must not look like an id"));
            }
            bot.slug = Slug::parse(slug).map_err(|reason| invalid("slug", reason))?;
        }
        if let Some(provider_id) = input.provider_id {
            bot.provider_id = provider_id;
        }
        if let Some(model) = input.model {
            bot.model = model
                .map(|m| text_field("model", m, MAX_MODEL, false))
                .transpose()?;
        }
        if let Some(prompt) = input.system_prompt {
            bot.system_prompt = text_field("system_prompt", prompt, MAX_SYSTEM_PROMPT, true)?;
        }
        if let Some(tone) = input.tone {
            bot.tone = match tone {
                Tone::Template(name) => {
                    let name = name.trim().to_owned();
                    if tone_template(&name).is_none() {
                        return Err(invalid(
                            "tone",
                            format!(
                                "unknown template {name:?}; see GET /v1/prompt-templates, or use custom_tone"
                            ),
                        ));
                    }
                    Tone::Template(name)
                }
                Tone::Custom(text) => {
                    Tone::Custom(text_field("custom_tone", text, MAX_TONE, true)?)
                }
            };
        }
        if let Some(t) = input.temperature {
            if !t.is_finite() || !(0.0..=2.0).contains(&t) {
                return Err(invalid("temperature", "must be between 0 and 2"));
            }
            bot.temperature = t;
        }
        if let Some(tokens) = input.max_answer_tokens {
            bot.max_answer_tokens = tokens;
        }
        if let Some(window) = input.context_window {
            bot.context_window = window;
        }
        if !(1..=32_768).contains(&bot.max_answer_tokens) {
            return Err(invalid("max_answer_tokens", "must be 1 to 32768"));
        }
        if !(512..=2_000_000).contains(&bot.context_window) {
            return Err(invalid("context_window", "must be 512 to 2000000 tokens"));
        }
        if bot.context_window < bot.max_answer_tokens.saturating_add(256) {
            return Err(invalid(
                "context_window",
                "must leave at least 256 tokens beyond max_answer_tokens for the question and sources",
            ));
        }
        if let Some(top_k) = input.top_k {
            if !(1..=MAX_TOP_K).contains(&top_k) {
                return Err(invalid(
                    "retrieval.top_k",
                    format!("must be 1 to {MAX_TOP_K}"),
                ));
            }
            bot.retrieval.top_k = top_k;
        }
        if let Some(min_score) = input.min_score {
            if !min_score.is_finite() || !(-1.0..=1.0).contains(&min_score) {
                return Err(invalid("retrieval.min_score", "must be between -1 and 1"));
            }
            bot.retrieval.min_score = min_score;
        }
        if let Some(scope) = input.knowledge {
            bot.knowledge = match scope {
                KnowledgeScope::All => KnowledgeScope::All,
                KnowledgeScope::Tags(tags) => {
                    let tags = validate_tags(tags)?;
                    if tags.is_empty() {
                        return Err(invalid("knowledge.tags", "name at least one tag"));
                    }
                    KnowledgeScope::Tags(tags)
                }
                KnowledgeScope::Documents(mut ids) => {
                    ids.sort_by_key(|id| id.as_uuid());
                    ids.dedup();
                    if ids.is_empty() || ids.len() > MAX_SCOPE_IDS {
                        return Err(invalid(
                            "knowledge.document_ids",
                            format!("name 1 to {MAX_SCOPE_IDS} documents"),
                        ));
                    }
                    for id in &ids {
                        self.documents.get(tenant, *id).await?;
                    }
                    KnowledgeScope::Documents(ids)
                }
            };
        }
        if let Some(welcome) = input.welcome_message {
            bot.welcome_message = welcome
                .map(|w| text_field("welcome_message", w, MAX_MESSAGE_TEXT, true))
                .transpose()?;
        }
        if let Some(fallback) = input.fallback_answer {
            bot.fallback_answer = text_field("fallback_answer", fallback, MAX_MESSAGE_TEXT, true)?;
        }
        if let Some(style) = input.citation_style {
            bot.citation_style = style;
        }
        // The provider must be this organization's, and there must be a model to call.
        let provider = self.providers.get(tenant, bot.provider_id).await?;
        if bot.model.is_none() && provider.default_model.is_none() && provider.kind.is_remote() {
            return Err(invalid(
                "model",
                "the provider connection has no default_model; name the model",
            ));
        }
        Ok(())
    }

    /// Creates a chatbot.
    pub async fn create_chatbot(
        &self,
        tenant: &TenantCtx,
        mut input: ChatbotInput,
    ) -> Result<Chatbot, ChatError> {
        let name = input
            .name
            .clone()
            .ok_or_else(|| invalid("name", "required"))?;
        let provider_id = input
            .provider_id
            .ok_or_else(|| invalid("provider_id", "required"))?;
        let derived = input.slug.is_none();
        let now = self.clock.now();
        let mut bot = Chatbot {
            id: ChatbotId::generate(),
            org_id: tenant.org_id(),
            name: name.clone(),
            slug: Slug::derive(&name, "chatbot"),
            provider_id,
            model: None,
            system_prompt: DEFAULT_SYSTEM_PROMPT.to_owned(),
            tone: Tone::Template("professional".to_owned()),
            temperature: 0.2,
            max_answer_tokens: 512,
            context_window: 8_192,
            retrieval: RetrievalSettings::default(),
            knowledge: KnowledgeScope::All,
            welcome_message: None,
            fallback_answer: DEFAULT_FALLBACK.to_owned(),
            citation_style: CitationStyle::Inline,
            created_at: now,
            updated_at: now,
        };
        input.provider_id = None;
        self.apply(tenant, &mut bot, input).await?;
        let base = bot.slug.clone();
        let mut attempt = 0_u32;
        loop {
            match self.chatbots.insert(&bot).await {
                Ok(()) => break,
                Err(StoreError::Conflict("unique")) if derived && attempt < 5 => {
                    attempt += 1;
                    let suffix = &ChatbotId::generate().as_uuid().simple().to_string()[26..];
                    bot.slug = base.with_suffix(suffix);
                }
                Err(StoreError::Conflict("unique")) => {
                    return Err(ChatError::SlugTaken(bot.slug.to_string()));
                }
                // The provider was deleted a moment ago.
                Err(StoreError::Conflict(_)) => {
                    return Err(ProviderError::NotFound.into());
                }
                Err(other) => return Err(other.into()),
            }
        }
        self.audit_change(tenant, "chatbot.create", &bot).await;
        Ok(bot)
    }

    async fn audit_change(&self, tenant: &TenantCtx, action: &'static str, bot: &Chatbot) {
        record_or_log(
            self.audit.as_ref(),
            AuditEvent::new(
                tenant,
                action,
                ("chatbot", bot.id.as_uuid()),
                self.clock.now(),
            )
            .with_detail(format!("{} ({})", bot.name, bot.slug)),
        )
        .await;
    }

    /// The organization's chatbots that the tenant's actor may use (a key with an allow-list
    /// sees only those).
    pub async fn list_chatbots(
        &self,
        tenant: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<Chatbot>, ChatError> {
        let rows = self
            .chatbots
            .list(tenant.org_id(), tenant.chatbots(), page)
            .await?;
        Ok(Page::from_rows(rows, page, |b| b.id.as_uuid()))
    }

    /// One of the organization's chatbots. Every other method reaches a chatbot through this one
    /// (or [`Self::find_chatbot`]), so a chatbot outside a key's allow-list is `ChatbotNotFound`
    /// everywhere.
    pub async fn get_chatbot(
        &self,
        tenant: &TenantCtx,
        id: ChatbotId,
    ) -> Result<Chatbot, ChatError> {
        if !tenant.may_use_chatbot(id) {
            return Err(ChatError::ChatbotNotFound);
        }
        self.chatbots
            .get(tenant.org_id(), id)
            .await?
            .ok_or(ChatError::ChatbotNotFound)
    }

    /// The organization's chatbot with this id or slug, if the tenant's actor may use it.
    pub async fn find_chatbot(
        &self,
        tenant: &TenantCtx,
        handle: &str,
    ) -> Result<Chatbot, ChatError> {
        if let Ok(uuid) = handle.parse()
            && let Some(bot) = self
                .chatbots
                .get(tenant.org_id(), ChatbotId::from_uuid(uuid))
                .await?
        {
            return usable(tenant, bot);
        }
        let bot = self
            .chatbots
            .by_slug(tenant.org_id(), handle)
            .await?
            .ok_or(ChatError::ChatbotNotFound)?;
        usable(tenant, bot)
    }

    /// Changes a chatbot.
    pub async fn update_chatbot(
        &self,
        tenant: &TenantCtx,
        id: ChatbotId,
        input: ChatbotInput,
    ) -> Result<Chatbot, ChatError> {
        let mut bot = self.get_chatbot(tenant, id).await?;
        // Renaming keeps the slug: integrations use it as the model name.
        self.apply(tenant, &mut bot, input).await?;
        bot.updated_at = self.clock.now();
        match self.chatbots.update(&bot).await {
            Ok(true) => {}
            Ok(false) => return Err(ChatError::ChatbotNotFound),
            Err(StoreError::Conflict("unique")) => {
                return Err(ChatError::SlugTaken(bot.slug.to_string()));
            }
            Err(StoreError::Conflict(_)) => return Err(ProviderError::NotFound.into()),
            Err(other) => return Err(other.into()),
        }
        self.audit_change(tenant, "chatbot.update", &bot).await;
        Ok(bot)
    }

    /// Deletes a chatbot with its conversations.
    pub async fn delete_chatbot(&self, tenant: &TenantCtx, id: ChatbotId) -> Result<(), ChatError> {
        let bot = self.get_chatbot(tenant, id).await?;
        if !self.chatbots.delete(tenant.org_id(), id).await? {
            return Err(ChatError::ChatbotNotFound);
        }
        self.audit_change(tenant, "chatbot.delete", &bot).await;
        Ok(())
    }

    /// Starts a conversation with a chatbot, owned by the tenant's actor.
    pub async fn start_conversation(
        &self,
        tenant: &TenantCtx,
        chatbot: ChatbotId,
        title: Option<String>,
    ) -> Result<(Conversation, Chatbot), ChatError> {
        let bot = self.get_chatbot(tenant, chatbot).await?;
        let title = title
            .map(|t| text_field("title", t, MAX_TITLE, false))
            .transpose()?
            .unwrap_or_default();
        let now = self.clock.now();
        let conversation = Conversation {
            id: ConversationId::generate(),
            org_id: tenant.org_id(),
            chatbot_id: bot.id,
            owner: tenant.actor(),
            title,
            created_at: now,
            updated_at: now,
        };
        self.conversations.insert(&conversation).await?;
        Ok((conversation, bot))
    }

    /// The caller's conversations with a chatbot, oldest first.
    pub async fn list_conversations(
        &self,
        tenant: &TenantCtx,
        chatbot: ChatbotId,
        page: &PageRequest,
    ) -> Result<Page<Conversation>, ChatError> {
        self.get_chatbot(tenant, chatbot).await?;
        let rows = self
            .conversations
            .list(tenant.org_id(), tenant.actor(), chatbot, page)
            .await?;
        Ok(Page::from_rows(rows, page, |c| c.id.as_uuid()))
    }

    /// The conversations website visitors had with a chatbot through one of its publishable keys
    /// (the widget's), newest first: for the organization's members to read.
    pub async fn visitor_conversations(
        &self,
        tenant: &TenantCtx,
        chatbot: ChatbotId,
        key: docent_kernel::ApiKeyId,
        page: &PageRequest,
    ) -> Result<Page<Conversation>, ChatError> {
        self.get_chatbot(tenant, chatbot).await?;
        let rows = self
            .conversations
            .list(tenant.org_id(), Actor::ApiKey(key), chatbot, page)
            .await?;
        Ok(Page::from_rows(rows, page, |c| c.id.as_uuid()))
    }

    /// The messages of a visitor's conversation (see [`Self::visitor_conversations`]).
    pub async fn visitor_messages(
        &self,
        tenant: &TenantCtx,
        chatbot: ChatbotId,
        key: docent_kernel::ApiKeyId,
        id: ConversationId,
        page: &PageRequest,
    ) -> Result<Page<Message>, ChatError> {
        self.get_chatbot(tenant, chatbot).await?;
        self.conversations
            .get(tenant.org_id(), Actor::ApiKey(key), id)
            .await?
            .filter(|c| c.chatbot_id == chatbot)
            .ok_or(ChatError::ConversationNotFound)?;
        let rows = self
            .conversations
            .messages(tenant.org_id(), id, page)
            .await?;
        Ok(Page::from_rows(rows, page, |m| m.id.as_uuid()))
    }

    /// One of the caller's conversations with a chatbot.
    pub async fn conversation(
        &self,
        tenant: &TenantCtx,
        chatbot: ChatbotId,
        id: ConversationId,
    ) -> Result<Conversation, ChatError> {
        if !tenant.may_use_chatbot(chatbot) {
            return Err(ChatError::ChatbotNotFound);
        }
        self.conversations
            .get(tenant.org_id(), tenant.actor(), id)
            .await?
            .filter(|c| c.chatbot_id == chatbot)
            .ok_or(ChatError::ConversationNotFound)
    }

    /// The messages of one of the caller's conversations, oldest first.
    pub async fn messages(
        &self,
        tenant: &TenantCtx,
        chatbot: ChatbotId,
        id: ConversationId,
        page: &PageRequest,
    ) -> Result<Page<Message>, ChatError> {
        self.get_chatbot(tenant, chatbot).await?;
        self.conversation(tenant, chatbot, id).await?;
        let rows = self
            .conversations
            .messages(tenant.org_id(), id, page)
            .await?;
        Ok(Page::from_rows(rows, page, |m| m.id.as_uuid()))
    }
}
