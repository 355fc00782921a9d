//! `POST /v1/chat/completions`: OpenAI's chat-completions API in front of docent's chatbots, so any
//! OpenAI SDK can talk to one. `model` is a chatbot's slug or id; the caller is an API key with the
//! `chat` scope (which fixes the organization). The last user message is the question and the
//! earlier messages are its history; the chatbot's own instructions replace `system` messages.
//! Nothing is stored but the usage. Citations travel in an extra `citations` field, which the
//! official SDKs keep as an extra attribute.

use chrono::Utc;
use docent_app::{Caller, Need};
use docent_chat::{AnswerEvent, Role};
use futures_util::StreamExt as _;
use poem::web::sse::{Event, SSE};
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{ToJSON as _, Type as _};
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::conversations::{CitationDto, wants_stream};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::ApiState;

/// The OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub(crate) struct CompletionsApi {
    state: ApiState,
}

impl CompletionsApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// One message of the exchange.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CompletionMessage {
    /// `system`, `developer`, `user`, `assistant` (others, such as `tool`, are ignored).
    #[oai(validator(max_length = 32))]
    pub role: String,
    /// The text: a string, or an array of parts whose `text` parts are joined.
    pub content: Option<serde_json::Value>,
}

/// Streaming options.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct StreamOptions {
    /// Send a last chunk with the usage.
    pub include_usage: Option<bool>,
}

/// A chat-completions request. Sampling parameters are the chatbot's; `temperature` and
/// `max_tokens` are accepted and ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CompletionRequest {
    /// The chatbot's slug or id.
    #[oai(validator(max_length = 200))]
    pub model: String,
    /// The exchange; the last `user` message is the question.
    #[oai(validator(min_items = 1, max_items = 200))]
    pub messages: Vec<CompletionMessage>,
    /// Answer as `chat.completion.chunk` Server-Sent Events.
    pub stream: Option<bool>,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// Ignored: the chatbot's temperature applies.
    pub temperature: Option<f64>,
    /// Ignored: the chatbot's `max_answer_tokens` applies.
    pub max_tokens: Option<u32>,
}

/// The answer message.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CompletionAnswer {
    /// Always `assistant`.
    pub role: String,
    /// The answer.
    pub content: String,
}

/// One choice (docent gives one).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CompletionChoice {
    /// Always 0.
    pub index: u32,
    /// The answer.
    pub message: CompletionAnswer,
    /// `stop`, or `length` when the answer hit the chatbot's token limit.
    pub finish_reason: String,
}

/// Tokens used.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CompletionUsage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Both.
    pub total_tokens: u64,
}

/// A `chat.completion`.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ChatCompletion {
    /// `chatcmpl-…`.
    pub id: String,
    /// `chat.completion`.
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    /// The chatbot's slug.
    pub model: String,
    /// The answer.
    pub choices: Vec<CompletionChoice>,
    /// Tokens used.
    pub usage: CompletionUsage,
    /// docent's extra: the passages the answer refers to.
    pub citations: Vec<CitationDto>,
}

/// The change a chunk carries.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ChunkDelta {
    /// `assistant` in the first chunk.
    pub role: Option<String>,
    /// More text.
    pub content: Option<String>,
}

/// One choice of a chunk.
// OpenAI's chunks carry `"finish_reason": null` until the last one, and SDKs expect the key:
// the one field of the API sent as `null`, declared nullable.
#[derive(Debug, Clone, Object)]
pub(crate) struct ChunkChoice {
    /// Always 0.
    pub index: u32,
    /// The change.
    pub delta: ChunkDelta,
    /// `stop` (or `length`) in the last chunk of the answer, else `null`.
    #[oai(nullable)]
    pub finish_reason: Option<String>,
}

/// A `chat.completion.chunk` Server-Sent Event (`data:` only; the stream ends with
/// `data: [DONE]`).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ChatCompletionChunk {
    /// The same for every chunk of an answer.
    pub id: String,
    /// `chat.completion.chunk`.
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    /// The chatbot's slug.
    pub model: String,
    /// The change (empty in the usage chunk).
    pub choices: Vec<ChunkChoice>,
    /// Tokens used (the last chunk, with `stream_options.include_usage`).
    pub usage: Option<CompletionUsage>,
    /// docent's extra, in the chunk with `finish_reason`: the passages the answer refers to.
    pub citations: Option<Vec<CitationDto>>,
}

/// A completion: JSON, or chunks as Server-Sent Events.
pub(crate) enum CompletionReply {
    /// The whole answer.
    Json(ChatCompletion),
    /// The answer in chunks.
    Stream(SSE),
}

impl std::fmt::Debug for CompletionReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Json(_) => "CompletionReply::Json",
            Self::Stream(_) => "CompletionReply::Stream",
        })
    }
}

impl IntoResponse for CompletionReply {
    fn into_response(self) -> Response {
        match self {
            Self::Json(body) => Json(body).into_response(),
            Self::Stream(sse) => sse.into_response(),
        }
    }
}

impl ApiResponse for CompletionReply {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "A `chat.completion`, or with `\"stream\": true` \
                              `chat.completion.chunk` Server-Sent Events ending with `data: [DONE]`",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: ChatCompletion::schema_ref(),
                    },
                    MetaMediaType {
                        content_type: "text/event-stream",
                        schema: ChatCompletionChunk::schema_ref(),
                    },
                ],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        ChatCompletion::register(registry);
        ChatCompletionChunk::register(registry);
    }
}

fn text_of(content: Option<serde_json::Value>) -> String {
    match content {
        Some(serde_json::Value::String(text)) => text,
        Some(serde_json::Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(serde_json::Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        Some(_) | None => String::new(),
    }
}

fn invalid(reason: &str) -> ApiError {
    docent_chat::ChatError::Invalid {
        field: "messages",
        reason: reason.to_owned(),
    }
    .into()
}

/// The question and its history from the client's messages.
fn exchange(messages: Vec<CompletionMessage>) -> Result<(String, Vec<(Role, String)>), ApiError> {
    let mut turns: Vec<(Role, String)> = messages
        .into_iter()
        .filter_map(|m| {
            let role = match m.role.as_str() {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                _ => return None,
            };
            Some((role, text_of(m.content)))
        })
        .filter(|(_, text)| !text.trim().is_empty())
        .collect();
    match turns.pop() {
        Some((Role::User, question)) => Ok((question, turns)),
        Some((Role::Assistant, _)) | None => {
            Err(invalid("the last message must be a user message"))
        }
    }
}

/// `length` for an answer cut short at its token limit, else `stop`.
fn finish_reason(message: &docent_chat::Message) -> &'static str {
    if message.incomplete { "length" } else { "stop" }
}

fn usage_of(usage: docent_chat::TokenUsage) -> CompletionUsage {
    CompletionUsage {
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        total_tokens: usage.prompt_tokens + usage.completion_tokens,
    }
}

fn chunk(
    id: &str,
    created: i64,
    model: &str,
    delta: ChunkDelta,
    finish: Option<&str>,
) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: id.to_owned(),
        object: "chat.completion.chunk".to_owned(),
        created,
        model: model.to_owned(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish.map(str::to_owned),
        }],
        usage: None,
        citations: None,
    }
}

#[OpenApi(tag = "ApiTags::Chat")]
impl CompletionsApi {
    /// Chat completions (OpenAI-compatible)
    ///
    /// Talk to a chatbot with any OpenAI SDK: `base_url` = docent's `/v1`, `api_key` = a docent
    /// key with the `chat` scope, `model` = the chatbot's slug or id. Counts against the
    /// key's and the organization's monthly quotas.
    #[oai(
        path = "/v1/chat/completions",
        method = "post",
        operation_id = "chat_completion_create"
    )]
    async fn create(
        &self,
        request: &poem::Request,
        auth: Auth,
        body: Json<CompletionRequest>,
    ) -> Result<CompletionReply, ApiError> {
        let caller = self.state.caller(&auth).await?;
        let org = match &caller {
            Caller::Key(key) => key.key.org_id,
            Caller::User(_) => {
                return Err(ApiError::new(
                    poem::http::StatusCode::FORBIDDEN,
                    "api_key_required",
                    "this endpoint takes an API key with the `chat` scope",
                ));
            }
        };
        let tenant = self.state.admit(caller, org, Need::Chat).await?;
        let Json(body) = body;
        let chat = self.state.chat()?;
        let bot = chat.find_chatbot(tenant.ctx(), body.model.trim()).await?;
        let stream = wants_stream(request, body.stream);
        let include_usage = body
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        let (question, history) = exchange(body.messages)?;
        let answer = chat
            .answer_stateless(tenant.ctx(), &bot, question, history)
            .await?;
        let id = format!("chatcmpl-{}", Uuid::now_v7().simple());
        let created = Utc::now().timestamp();
        let model = bot.slug.to_string();
        if !stream {
            let message = answer.collect().await?;
            let finish = finish_reason(&message);
            return Ok(CompletionReply::Json(ChatCompletion {
                id,
                object: "chat.completion".to_owned(),
                created,
                model,
                choices: vec![CompletionChoice {
                    index: 0,
                    message: CompletionAnswer {
                        role: "assistant".to_owned(),
                        content: message.content,
                    },
                    finish_reason: finish.to_owned(),
                }],
                usage: usage_of(message.usage),
                citations: message.citations.into_iter().map(Into::into).collect(),
            }));
        }
        let first = chunk(
            &id,
            created,
            &model,
            ChunkDelta {
                role: Some("assistant".to_owned()),
                content: Some(String::new()),
            },
            None,
        );
        let empty = || ChunkDelta {
            role: None,
            content: None,
        };
        let events = answer.filter_map(move |event| {
            let out: Option<Vec<String>> = match event {
                AnswerEvent::Delta(text) => Some(vec![
                    chunk(
                        &id,
                        created,
                        &model,
                        ChunkDelta {
                            role: None,
                            content: Some(text),
                        },
                        None,
                    )
                    .to_json_string(),
                ]),
                // The complete answer carries both.
                AnswerEvent::Citations(_) | AnswerEvent::Usage(_) => None,
                AnswerEvent::Done(message) => {
                    let mut last =
                        chunk(&id, created, &model, empty(), Some(finish_reason(&message)));
                    last.citations = Some(message.citations.into_iter().map(Into::into).collect());
                    let mut out = vec![last.to_json_string()];
                    if include_usage {
                        out.push(
                            ChatCompletionChunk {
                                choices: Vec::new(),
                                usage: Some(usage_of(message.usage)),
                                ..chunk(&id, created, &model, empty(), None)
                            }
                            .to_json_string(),
                        );
                    }
                    out.push("[DONE]".to_owned());
                    Some(out)
                }
                AnswerEvent::Error(error) => {
                    let error = ApiError::from(error);
                    Some(vec![
                        serde_json::json!({"error": {"code": error.code, "message": error.message}})
                            .to_string(),
                    ])
                }
            };
            std::future::ready(out)
        });
        let events = futures_util::stream::once(std::future::ready(vec![first.to_json_string()]))
            .chain(events)
            .flat_map(futures_util::stream::iter)
            .map(Event::message);
        Ok(CompletionReply::Stream(
            SSE::new(events).keep_alive(self.state.heartbeat()),
        ))
    }
}
