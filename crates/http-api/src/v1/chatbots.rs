//! `/v1/orgs/{org_id}/chatbots`: an organization's chatbots (members, or keys with
//! `chatbots:write`, change them; anyone in the organization, or `chatbots:read`, reads them; a key
//! with an allow-list sees only its chatbots), and `/v1/prompt-templates`, the built-in tones.

use chrono::{DateTime, Utc};
use docent_app::Need;
use docent_chat::{Chatbot, ChatbotInput, CitationStyle, KnowledgeScope, TONES, Tone};
use docent_kernel::{ChatbotId, DocumentId, ProviderId};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::{ApiTags, decimal, page_request};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::ApiState;

/// The chatbot endpoints.
#[derive(Debug, Clone)]
pub(crate) struct ChatbotsApi {
    state: ApiState,
}

impl ChatbotsApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// How answers show their sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum CitationStyleDto {
    /// Markers such as `[1]` in the text, and `citations` alongside.
    Inline,
    /// Markers in the text, and a numbered source list appended to it.
    Footnotes,
    /// No markers in the text; `citations` lists the passages the answer drew on.
    None,
}

impl From<CitationStyle> for CitationStyleDto {
    fn from(style: CitationStyle) -> Self {
        match style {
            CitationStyle::Inline => Self::Inline,
            CitationStyle::Footnotes => Self::Footnotes,
            CitationStyle::None => Self::None,
        }
    }
}

impl From<CitationStyleDto> for CitationStyle {
    fn from(style: CitationStyleDto) -> Self {
        match style {
            CitationStyleDto::Inline => Self::Inline,
            CitationStyleDto::Footnotes => Self::Footnotes,
            CitationStyleDto::None => Self::None,
        }
    }
}

/// Retrieval settings.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RetrievalDto {
    /// Passages given to the model, at most (1–20).
    pub top_k: u32,
    /// The lowest dense similarity (−1 to 1) a passage needs to count as relevant; when none
    /// reaches it, the fallback answer is given without calling the model.
    pub min_score: f64,
}

/// Retrieval settings to change; absent fields stay.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct RetrievalInput {
    /// Passages given to the model, at most (1–20, default 5).
    pub top_k: Option<u32>,
    /// The lowest dense similarity that counts as relevant (default 0.3).
    pub min_score: Option<f32>,
}

/// Which documents a chatbot answers from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum KnowledgeKind {
    /// Every document of the organization.
    All,
    /// Documents carrying any of `tags`.
    Tags,
    /// The documents `document_ids`.
    Documents,
}

/// A chatbot's knowledge scope.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct KnowledgeDto {
    /// Which documents.
    pub kind: KnowledgeKind,
    /// The tags (kind `tags`).
    pub tags: Vec<String>,
    /// The documents (kind `documents`).
    pub document_ids: Vec<Uuid>,
}

/// A knowledge scope: give `tags` or `document_ids` (ids are checked against the organization),
/// or neither for all documents.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct KnowledgeInput {
    /// Only documents with any of these tags.
    #[oai(validator(max_items = 32))]
    pub tags: Option<Vec<String>>,
    /// Only these documents.
    #[oai(validator(max_items = 100))]
    pub document_ids: Option<Vec<Uuid>>,
}

/// A chatbot.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ChatbotDto {
    /// The id.
    pub id: Uuid,
    /// A label.
    pub name: String,
    /// A handle unique in the organization; also the `model` of `/v1/chat/completions`.
    pub slug: String,
    /// The provider connection.
    pub provider_id: Uuid,
    /// The model; `null` uses the connection's default model.
    pub model: Option<String>,
    /// Instructions given to the model first.
    pub system_prompt: String,
    /// A built-in tone template (see `GET /v1/prompt-templates`), or `custom`.
    pub tone: String,
    /// The custom tone's instructions (tone `custom`).
    pub custom_tone: Option<String>,
    /// Sampling temperature.
    pub temperature: f64,
    /// The most tokens an answer may take.
    pub max_answer_tokens: u32,
    /// The model's context window in tokens: the budget for instructions, sources, history
    /// and answer.
    pub context_window: u32,
    /// Retrieval settings.
    pub retrieval: RetrievalDto,
    /// Which documents it answers from.
    pub knowledge: KnowledgeDto,
    /// Shown when a conversation starts.
    pub welcome_message: Option<String>,
    /// The answer when no passage is relevant.
    pub fallback_answer: String,
    /// How answers show their sources.
    pub citation_style: CitationStyleDto,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Chatbot> for ChatbotDto {
    fn from(bot: Chatbot) -> Self {
        let (tone, custom_tone) = match bot.tone {
            Tone::Template(name) => (name, None),
            Tone::Custom(text) => ("custom".to_owned(), Some(text)),
        };
        let knowledge = match bot.knowledge {
            KnowledgeScope::All => KnowledgeDto {
                kind: KnowledgeKind::All,
                tags: Vec::new(),
                document_ids: Vec::new(),
            },
            KnowledgeScope::Tags(tags) => KnowledgeDto {
                kind: KnowledgeKind::Tags,
                tags,
                document_ids: Vec::new(),
            },
            KnowledgeScope::Documents(ids) => KnowledgeDto {
                kind: KnowledgeKind::Documents,
                tags: Vec::new(),
                document_ids: ids.into_iter().map(|id| id.as_uuid()).collect(),
            },
        };
        Self {
            id: bot.id.as_uuid(),
            name: bot.name,
            slug: bot.slug.to_string(),
            provider_id: bot.provider_id.as_uuid(),
            model: bot.model,
            system_prompt: bot.system_prompt,
            tone,
            custom_tone,
            temperature: decimal(bot.temperature),
            max_answer_tokens: bot.max_answer_tokens,
            context_window: bot.context_window,
            retrieval: RetrievalDto {
                top_k: bot.retrieval.top_k,
                min_score: decimal(bot.retrieval.min_score),
            },
            knowledge,
            welcome_message: bot.welcome_message,
            fallback_answer: bot.fallback_answer,
            citation_style: bot.citation_style.into(),
            created_at: bot.created_at,
            updated_at: bot.updated_at,
        }
    }
}

/// A new chatbot. Absent settings take their defaults.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CreateChatbotRequest {
    /// A label (1–100 characters).
    #[oai(validator(max_length = 400))]
    pub name: String,
    /// A handle unique in the organization (2–48 of `a-z`, `0-9`, inner dashes); derived from
    /// the name when absent.
    #[oai(validator(max_length = 200))]
    pub slug: Option<String>,
    /// The provider connection (one of the organization's).
    pub provider_id: Uuid,
    /// The model; the connection's default model when absent.
    #[oai(validator(max_length = 800))]
    pub model: Option<String>,
    /// Instructions given to the model first (up to 8000 characters).
    #[oai(validator(max_length = 32000))]
    pub system_prompt: Option<String>,
    /// A built-in tone (`professional` by default; see `GET /v1/prompt-templates`), or `custom`
    /// with `custom_tone`.
    #[oai(validator(max_length = 64))]
    pub tone: Option<String>,
    /// Your own tone instructions (up to 2000 characters); implies tone `custom`.
    #[oai(validator(max_length = 8000))]
    pub custom_tone: Option<String>,
    /// Sampling temperature, 0–2 (default 0.2).
    pub temperature: Option<f32>,
    /// The most tokens an answer may take, 1–32768 (default 512).
    pub max_answer_tokens: Option<u32>,
    /// The model's context window in tokens (default 8192).
    pub context_window: Option<u32>,
    /// Retrieval settings.
    pub retrieval: Option<RetrievalInput>,
    /// Which documents it answers from (default all).
    pub knowledge: Option<KnowledgeInput>,
    /// Shown when a conversation starts (up to 4000 characters).
    #[oai(validator(max_length = 16000))]
    pub welcome_message: Option<String>,
    /// The answer when nothing relevant is found (up to 4000 characters).
    #[oai(validator(max_length = 16000))]
    pub fallback_answer: Option<String>,
    /// How answers show their sources (default `inline`).
    pub citation_style: Option<CitationStyleDto>,
}

/// Changes to a chatbot: absent fields stay; `null` clears `model` and `welcome_message`.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct UpdateChatbotRequest {
    /// A new label.
    #[oai(validator(max_length = 400))]
    pub name: Option<String>,
    /// A new handle.
    #[oai(validator(max_length = 200))]
    pub slug: Option<String>,
    /// Another provider connection.
    pub provider_id: Option<Uuid>,
    /// A new model, or `null` for the connection's default.
    #[oai(nullable, validator(max_length = 800))]
    pub model: MaybeUndefined<String>,
    /// New instructions.
    #[oai(validator(max_length = 32000))]
    pub system_prompt: Option<String>,
    /// A built-in tone, or `custom` with `custom_tone`.
    #[oai(validator(max_length = 64))]
    pub tone: Option<String>,
    /// Your own tone instructions; implies tone `custom`.
    #[oai(validator(max_length = 8000))]
    pub custom_tone: Option<String>,
    /// Sampling temperature, 0–2.
    pub temperature: Option<f32>,
    /// The most tokens an answer may take.
    pub max_answer_tokens: Option<u32>,
    /// The model's context window in tokens.
    pub context_window: Option<u32>,
    /// Retrieval settings.
    pub retrieval: Option<RetrievalInput>,
    /// A new knowledge scope.
    pub knowledge: Option<KnowledgeInput>,
    /// A new welcome message, or `null` for none.
    #[oai(nullable, validator(max_length = 16000))]
    pub welcome_message: MaybeUndefined<String>,
    /// A new fallback answer.
    #[oai(validator(max_length = 16000))]
    pub fallback_answer: Option<String>,
    /// How answers show their sources.
    pub citation_style: Option<CitationStyleDto>,
}

/// A page of chatbots.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ChatbotList {
    /// The chatbots on this page.
    pub items: Vec<ChatbotDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A built-in tone template.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PromptTemplateDto {
    /// Its name, as a chatbot's `tone`.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The instructions it adds to the prompt.
    pub text: String,
}

/// The built-in tone templates.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct PromptTemplateList {
    /// The templates.
    pub items: Vec<PromptTemplateDto>,
}

#[derive(ApiResponse)]
pub(crate) enum CreatedChatbot {
    /// Created.
    #[oai(status = 201)]
    Created(Json<ChatbotDto>),
}

#[derive(ApiResponse)]
pub(crate) enum DeletedChatbot {
    /// Deleted, with its conversations.
    #[oai(status = 204)]
    Deleted,
}

fn tone(tone: Option<String>, custom: Option<String>) -> Result<Option<Tone>, ApiError> {
    match (tone.as_deref(), custom) {
        (Some("custom") | None, Some(text)) => Ok(Some(Tone::Custom(text))),
        (Some("custom"), None) => Err(invalid("custom_tone", "tone `custom` needs custom_tone")),
        (Some(_), Some(_)) => Err(invalid(
            "custom_tone",
            "custom_tone goes with tone `custom` (or without tone)",
        )),
        (Some(_), None) => Ok(tone.map(Tone::Template)),
        (None, None) => Ok(None),
    }
}

fn knowledge(input: Option<KnowledgeInput>) -> Result<Option<KnowledgeScope>, ApiError> {
    let Some(input) = input else { return Ok(None) };
    match (input.tags, input.document_ids) {
        (Some(_), Some(_)) => Err(invalid("knowledge", "give tags or document_ids, not both")),
        (Some(tags), None) => Ok(Some(KnowledgeScope::Tags(tags))),
        (None, Some(ids)) => Ok(Some(KnowledgeScope::Documents(
            ids.into_iter().map(DocumentId::from_uuid).collect(),
        ))),
        (None, None) => Ok(Some(KnowledgeScope::All)),
    }
}

fn invalid(field: &'static str, reason: &str) -> ApiError {
    docent_chat::ChatError::Invalid {
        field,
        reason: reason.to_owned(),
    }
    .into()
}

fn maybe<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(Some(value)),
    }
}

#[OpenApi(tag = "ApiTags::Chatbots")]
impl ChatbotsApi {
    /// Create a chatbot
    #[oai(
        path = "/v1/orgs/:org_id/chatbots",
        method = "post",
        operation_id = "chatbot_create"
    )]
    async fn create(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<CreateChatbotRequest>,
    ) -> Result<CreatedChatbot, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::ChatbotsWrite)
            .await?;
        let Json(body) = body;
        let retrieval = body.retrieval;
        let bot = self
            .state
            .chat()?
            .create_chatbot(
                tenant.ctx(),
                ChatbotInput {
                    name: Some(body.name),
                    slug: body.slug,
                    provider_id: Some(ProviderId::from_uuid(body.provider_id)),
                    model: body.model.map(Some),
                    system_prompt: body.system_prompt,
                    tone: tone(body.tone, body.custom_tone)?,
                    temperature: body.temperature,
                    max_answer_tokens: body.max_answer_tokens,
                    context_window: body.context_window,
                    top_k: retrieval.as_ref().and_then(|r| r.top_k),
                    min_score: retrieval.as_ref().and_then(|r| r.min_score),
                    knowledge: knowledge(body.knowledge)?,
                    welcome_message: body.welcome_message.map(Some),
                    fallback_answer: body.fallback_answer,
                    citation_style: body.citation_style.map(Into::into),
                },
            )
            .await?;
        Ok(CreatedChatbot::Created(Json(bot.into())))
    }

    /// List chatbots
    #[oai(
        path = "/v1/orgs/:org_id/chatbots",
        method = "get",
        operation_id = "chatbot_list"
    )]
    async fn list(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ChatbotList>, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::ChatbotsRead)
            .await?;
        let page = page_request(limit.0, cursor.0.as_deref())?;
        let bots = self
            .state
            .chat()?
            .list_chatbots(tenant.ctx(), &page)
            .await?;
        Ok(Json(ChatbotList {
            items: bots.items.into_iter().map(Into::into).collect(),
            next_cursor: bots.next_cursor,
        }))
    }

    /// Get a chatbot
    #[oai(
        path = "/v1/orgs/:org_id/chatbots/:chatbot_id",
        method = "get",
        operation_id = "chatbot_get"
    )]
    async fn get(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        chatbot_id: Path<Uuid>,
    ) -> Result<Json<ChatbotDto>, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::ChatbotsRead)
            .await?;
        let id = ChatbotId::from_uuid(chatbot_id.0);
        let bot = self.state.chat()?.get_chatbot(tenant.ctx(), id).await?;
        Ok(Json(bot.into()))
    }

    /// Change a chatbot
    #[oai(
        path = "/v1/orgs/:org_id/chatbots/:chatbot_id",
        method = "patch",
        operation_id = "chatbot_update"
    )]
    async fn update(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        chatbot_id: Path<Uuid>,
        body: Json<UpdateChatbotRequest>,
    ) -> Result<Json<ChatbotDto>, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::ChatbotsWrite)
            .await?;
        let id = ChatbotId::from_uuid(chatbot_id.0);
        let Json(body) = body;
        let retrieval = body.retrieval;
        let bot = self
            .state
            .chat()?
            .update_chatbot(
                tenant.ctx(),
                id,
                ChatbotInput {
                    name: body.name,
                    slug: body.slug,
                    provider_id: body.provider_id.map(ProviderId::from_uuid),
                    model: maybe(body.model),
                    system_prompt: body.system_prompt,
                    tone: tone(body.tone, body.custom_tone)?,
                    temperature: body.temperature,
                    max_answer_tokens: body.max_answer_tokens,
                    context_window: body.context_window,
                    top_k: retrieval.as_ref().and_then(|r| r.top_k),
                    min_score: retrieval.as_ref().and_then(|r| r.min_score),
                    knowledge: knowledge(body.knowledge)?,
                    welcome_message: maybe(body.welcome_message),
                    fallback_answer: body.fallback_answer,
                    citation_style: body.citation_style.map(Into::into),
                },
            )
            .await?;
        Ok(Json(bot.into()))
    }

    /// Delete a chatbot
    ///
    /// Its conversations and their messages go with it.
    #[oai(
        path = "/v1/orgs/:org_id/chatbots/:chatbot_id",
        method = "delete",
        operation_id = "chatbot_delete"
    )]
    async fn delete(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        chatbot_id: Path<Uuid>,
    ) -> Result<DeletedChatbot, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::ChatbotsWrite)
            .await?;
        let id = ChatbotId::from_uuid(chatbot_id.0);
        self.state.chat()?.delete_chatbot(tenant.ctx(), id).await?;
        Ok(DeletedChatbot::Deleted)
    }

    /// List the built-in tone templates
    ///
    /// A chatbot's `tone` is one of these names, or `custom` with its own `custom_tone`.
    #[oai(
        path = "/v1/prompt-templates",
        method = "get",
        operation_id = "prompt_template_list"
    )]
    async fn templates(&self, auth: Auth) -> Result<Json<PromptTemplateList>, ApiError> {
        self.state.caller(&auth).await?;
        Ok(Json(PromptTemplateList {
            items: TONES
                .iter()
                .map(|t| PromptTemplateDto {
                    name: t.name.to_owned(),
                    description: t.description.to_owned(),
                    text: t.text.trim().to_owned(),
                })
                .collect(),
        }))
    }
}
