//! `/v1/orgs/{org_id}/chatbots/{chatbot_id}/conversations`: conversations with a chatbot and their
//! messages. A conversation belongs to the user or key that started it; to anyone else it does not
//! exist. Asking answers JSON, or Server-Sent Events with `"stream": true` or
//! `Accept: text/event-stream`.

use chrono::{DateTime, Utc};
use docent_app::Need;
use docent_chat::{AnswerEvent, AnswerStream, Citation, Conversation, Message, TokenUsage};
use docent_kernel::{ChatbotId, ConversationId};
use futures_util::StreamExt as _;
use poem::web::sse::{Event, SSE};
use poem::{IntoResponse, Response};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{ToJSON as _, Type as _};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Union};
use uuid::Uuid;

use super::{ApiTags, decimal, page_request};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::ApiState;

/// The conversation endpoints.
#[derive(Debug, Clone)]
pub(crate) struct ConversationsApi {
    state: ApiState,
}

impl ConversationsApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// A passage an answer refers to.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CitationDto {
    /// The number the answer's markers use (`[n]`).
    pub n: u32,
    /// The document.
    pub document_id: Uuid,
    /// Its title.
    pub title: String,
    /// The chunk's position in the document.
    pub ordinal: u32,
    /// The page, where known.
    pub page: Option<u32>,
    /// The headings the passage lies under, outermost first, joined by " › "
    /// ("Installation › Upgrading"); absent where the document has no headings there.
    pub section: Option<String>,
    /// Where the passage starts in the document's extracted text (characters).
    pub char_start: u64,
    /// Where it ends.
    pub char_end: u64,
    /// Its dense similarity to the question.
    pub score: f64,
    /// The start of the passage.
    pub snippet: String,
}

impl From<Citation> for CitationDto {
    fn from(c: Citation) -> Self {
        Self {
            n: c.n,
            document_id: c.document_id.as_uuid(),
            title: c.title,
            ordinal: c.ordinal,
            page: c.page,
            section: c.section,
            char_start: c.char_start,
            char_end: c.char_end,
            score: decimal(c.score),
            snippet: c.snippet,
        }
    }
}

/// Tokens an answer cost, as the provider reported them (estimated when it reported none).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct UsageDto {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
}

impl From<TokenUsage> for UsageDto {
    fn from(u: TokenUsage) -> Self {
        Self {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub(crate) enum MessageRoleDto {
    /// The person asking.
    User,
    /// The chatbot.
    Assistant,
}

/// A message of a conversation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct MessageDto {
    /// The id.
    pub id: Uuid,
    /// Who wrote it.
    pub role: MessageRoleDto,
    /// The text.
    pub content: String,
    /// The passages it refers to (answers only; each was retrieved for this answer).
    pub citations: Vec<CitationDto>,
    /// Tokens the answer cost (`null` for questions).
    pub usage: Option<UsageDto>,
    /// How long the answer took, in milliseconds (0 for questions).
    pub latency_ms: u64,
    /// Whether the answer was cut short: the client went away, or the provider failed mid-way.
    pub incomplete: bool,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

impl From<Message> for MessageDto {
    fn from(m: Message) -> Self {
        let answer = m.role == docent_chat::Role::Assistant;
        Self {
            id: m.id.as_uuid(),
            role: if answer {
                MessageRoleDto::Assistant
            } else {
                MessageRoleDto::User
            },
            content: m.content,
            citations: m.citations.into_iter().map(Into::into).collect(),
            usage: answer.then(|| m.usage.into()),
            latency_ms: m.latency_ms,
            incomplete: m.incomplete,
            created_at: m.created_at,
        }
    }
}

/// A conversation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ConversationDto {
    /// The id.
    pub id: Uuid,
    /// The chatbot.
    pub chatbot_id: Uuid,
    /// A label: the one given, or the first question.
    pub title: String,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When the last message was added.
    pub updated_at: DateTime<Utc>,
}

impl From<Conversation> for ConversationDto {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id.as_uuid(),
            chatbot_id: c.chatbot_id.as_uuid(),
            title: c.title,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A new conversation.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CreateConversationRequest {
    /// A label (up to 200 characters); the first question when absent.
    #[oai(validator(max_length = 800))]
    pub title: Option<String>,
}

/// A started conversation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct StartedConversation {
    /// The conversation.
    pub conversation: ConversationDto,
    /// The chatbot's welcome message, to show first.
    pub welcome_message: Option<String>,
}

/// A page of conversations.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ConversationList {
    /// The conversations on this page.
    pub items: Vec<ConversationDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of messages, oldest first.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct MessageList {
    /// The messages on this page.
    pub items: Vec<MessageDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A question.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct AskRequest {
    /// The question (1–4000 characters).
    #[oai(validator(max_length = 16000))]
    pub content: String,
    /// Answer as Server-Sent Events (as does `Accept: text/event-stream`).
    pub stream: Option<bool>,
}

/// The answer.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct AnswerEnvelope {
    /// The stored answer.
    pub message: MessageDto,
}

/// `event: delta`: more text of the answer.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct DeltaEvent {
    /// The text.
    pub text: String,
}

/// `event: citations`: the passages the answer refers to.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CitationsEvent {
    /// The citations.
    pub citations: Vec<CitationDto>,
}

/// `event: done`: the answer is complete and stored.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct DoneEvent {
    /// The stored answer's id.
    pub message_id: Uuid,
    /// How long the answer took, in milliseconds.
    pub latency_ms: u64,
}

/// `event: error`: the answer failed (what came before is stored, marked incomplete).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ErrorEvent {
    /// A stable code, as in error responses.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

/// The data of one Server-Sent Event of an answer; the event's name (`delta`, `citations`,
/// `usage`, `done`, `error`) tells which. Heartbeat comments (`:`) keep idle streams open.
#[derive(Debug, Clone, Union)]
pub(crate) enum AnswerEventDto {
    /// `delta`.
    Delta(DeltaEvent),
    /// `citations`.
    Citations(CitationsEvent),
    /// `usage`.
    Usage(UsageDto),
    /// `done`.
    Done(DoneEvent),
    /// `error`.
    Error(ErrorEvent),
}

/// The SSE form of an answer event.
fn sse_event(event: AnswerEvent) -> Event {
    let (name, data) = match event {
        AnswerEvent::Delta(text) => ("delta", DeltaEvent { text }.to_json_string()),
        AnswerEvent::Citations(citations) => (
            "citations",
            CitationsEvent {
                citations: citations.into_iter().map(Into::into).collect(),
            }
            .to_json_string(),
        ),
        AnswerEvent::Usage(usage) => ("usage", UsageDto::from(usage).to_json_string()),
        AnswerEvent::Done(message) => (
            "done",
            DoneEvent {
                message_id: message.id.as_uuid(),
                latency_ms: message.latency_ms,
            }
            .to_json_string(),
        ),
        AnswerEvent::Error(error) => {
            let error = ApiError::from(error);
            if let Some(internal) = &error.internal {
                tracing::warn!(code = error.code, cause = %internal, "a streamed answer failed");
            }
            (
                "error",
                ErrorEvent {
                    code: error.code.to_owned(),
                    message: error.message,
                }
                .to_json_string(),
            )
        }
    };
    Event::message(data).event_type(name)
}

/// An answer: JSON, or Server-Sent Events.
pub(crate) enum AnswerReply {
    /// The whole answer.
    Json(AnswerEnvelope),
    /// The answer as it is generated.
    Stream(SSE),
}

impl std::fmt::Debug for AnswerReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Json(_) => "AnswerReply::Json",
            Self::Stream(_) => "AnswerReply::Stream",
        })
    }
}

impl AnswerReply {
    /// Streams `answer` as SSE with heartbeats.
    pub(crate) fn stream(answer: AnswerStream, heartbeat: std::time::Duration) -> Self {
        Self::Stream(SSE::new(answer.map(sse_event)).keep_alive(heartbeat))
    }
}

impl IntoResponse for AnswerReply {
    fn into_response(self) -> Response {
        match self {
            Self::Json(body) => Json(body).into_response(),
            Self::Stream(sse) => sse.into_response(),
        }
    }
}

impl ApiResponse for AnswerReply {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The answer: JSON, or with `\"stream\": true` (or `Accept: \
                              text/event-stream`) Server-Sent Events `delta`, `citations`, \
                              `usage`, then `done` or `error`, with heartbeat comments",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: AnswerEnvelope::schema_ref(),
                    },
                    MetaMediaType {
                        content_type: "text/event-stream",
                        schema: AnswerEventDto::schema_ref(),
                    },
                ],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        AnswerEnvelope::register(registry);
        AnswerEventDto::register(registry);
    }
}

/// Whether the client asked for Server-Sent Events.
pub(crate) fn wants_stream(request: &poem::Request, stream: Option<bool>) -> bool {
    stream.unwrap_or_else(|| {
        request
            .header(poem::http::header::ACCEPT)
            .is_some_and(|accept| accept.contains("text/event-stream"))
    })
}

#[OpenApi(tag = "ApiTags::Chatbots")]
impl ConversationsApi {
    /// Start a conversation
    ///
    /// The conversation belongs to the caller (user or API key); nobody else can read or
    /// continue it.
    #[oai(
        path = "/v1/orgs/:org_id/chatbots/:chatbot_id/conversations",
        method = "post",
        operation_id = "conversation_create"
    )]
    async fn create(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        chatbot_id: Path<Uuid>,
        body: Json<CreateConversationRequest>,
    ) -> Result<CreatedConversation, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Chat).await?;
        let id = ChatbotId::from_uuid(chatbot_id.0);
        let (conversation, bot) = self
            .state
            .chat()?
            .start_conversation(tenant.ctx(), id, body.0.title)
            .await?;
        Ok(CreatedConversation::Created(Json(StartedConversation {
            conversation: conversation.into(),
            welcome_message: bot.welcome_message,
        })))
    }

    /// List your conversations with a chatbot
    #[oai(
        path = "/v1/orgs/:org_id/chatbots/:chatbot_id/conversations",
        method = "get",
        operation_id = "conversation_list"
    )]
    async fn list(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        chatbot_id: Path<Uuid>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ConversationList>, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Chat).await?;
        let id = ChatbotId::from_uuid(chatbot_id.0);
        let page = page_request(limit.0, cursor.0.as_deref())?;
        let conversations = self
            .state
            .chat()?
            .list_conversations(tenant.ctx(), id, &page)
            .await?;
        Ok(Json(ConversationList {
            items: conversations.items.into_iter().map(Into::into).collect(),
            next_cursor: conversations.next_cursor,
        }))
    }

    /// List the messages of one of your conversations
    #[oai(
        path = "/v1/orgs/:org_id/chatbots/:chatbot_id/conversations/:conversation_id/messages",
        method = "get",
        operation_id = "message_list"
    )]
    async fn messages(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        chatbot_id: Path<Uuid>,
        conversation_id: Path<Uuid>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<MessageList>, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Chat).await?;
        let id = ChatbotId::from_uuid(chatbot_id.0);
        let page = page_request(limit.0, cursor.0.as_deref())?;
        let messages = self
            .state
            .chat()?
            .messages(
                tenant.ctx(),
                id,
                ConversationId::from_uuid(conversation_id.0),
                &page,
            )
            .await?;
        Ok(Json(MessageList {
            items: messages.items.into_iter().map(Into::into).collect(),
            next_cursor: messages.next_cursor,
        }))
    }

    /// Ask a question
    ///
    /// Retrieves passages (the organization's documents within the chatbot's knowledge scope); when
    /// none is relevant enough, answers with the chatbot's fallback answer without calling the
    /// model; otherwise asks the model with the numbered passages and as much history as fits.
    /// Counts against the monthly quotas (checked before the model is called). A client that
    /// disconnects from a stream cancels the model call; the partial answer is stored as
    /// incomplete.
    #[oai(
        path = "/v1/orgs/:org_id/chatbots/:chatbot_id/conversations/:conversation_id/messages",
        method = "post",
        operation_id = "message_create"
    )]
    async fn ask(
        &self,
        request: &poem::Request,
        auth: Auth,
        org_id: Path<Uuid>,
        chatbot_id: Path<Uuid>,
        conversation_id: Path<Uuid>,
        body: Json<AskRequest>,
    ) -> Result<AnswerReply, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Chat).await?;
        let id = ChatbotId::from_uuid(chatbot_id.0);
        let Json(body) = body;
        let stream = wants_stream(request, body.stream);
        let answer = self
            .state
            .chat()?
            .ask(
                tenant.ctx(),
                id,
                ConversationId::from_uuid(conversation_id.0),
                body.content,
            )
            .await?;
        if stream {
            return Ok(AnswerReply::stream(answer, self.state.heartbeat()));
        }
        let message = answer.collect().await?;
        Ok(AnswerReply::Json(AnswerEnvelope {
            message: message.into(),
        }))
    }
}

#[derive(ApiResponse)]
pub(crate) enum CreatedConversation {
    /// Started.
    #[oai(status = 201)]
    Created(Json<StartedConversation>),
}
