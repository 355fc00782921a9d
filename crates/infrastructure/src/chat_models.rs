//! Model clients per provider kind. The OpenAI family (OpenAI, Azure OpenAI, OpenAI-compatible
//! servers) goes through async-openai; Anthropic's Messages API ([`anthropic`]) and Gemini's
//! `generateContent` ([`gemini`]) over HTTP. Each call is bounded by the connection's timeout; errors
//! are classified for the caller (transient, permanent, context too long).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::{AzureConfig, Config as OpenAiConfigTrait, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionStreamOptions, CreateChatCompletionRequest,
    FinishReason,
};
use async_trait::async_trait;
use docent_kernel::{ExposeSecret as _, SecretString};
use docent_providers::chat::{
    ChatChunk, ChatError, ChatMessage, ChatModel, ChatModels, ChatRequest, ChatResponse, ChatRole,
    ChatStream, ChatUsage,
};
use docent_providers::{Provider, ProviderKind};
use futures_util::StreamExt as _;

mod anthropic;
mod gemini;

/// The SSE stream decoders of the adapters docent implements itself (the OpenAI family's is
/// async-openai's), for the fuzz targets.
pub mod sse {
    pub use super::anthropic::decode_stream as anthropic;
    pub use super::gemini::decode_stream as gemini;
}

/// Builds clients for provider connections, over one HTTP client that follows no redirects and
/// (unless private base URLs are allowed) refuses host names resolving to internal addresses.
#[derive(Debug, Clone)]
pub struct ProviderClients {
    http: reqwest::Client,
}

impl ProviderClients {
    /// Clients for providers; `allow_private` as `providers.allow_private_base_urls`.
    #[must_use]
    pub fn new(allow_private: bool) -> Self {
        Self::with_proxy(allow_private, None).unwrap_or_else(|error| {
            tracing::error!(%error, "cannot build the provider HTTP client; using a plain one");
            Self {
                http: reqwest::Client::new(),
            }
        })
    }

    /// Clients that reach providers through the operator's `proxy` (none when `None`; the
    /// environment's proxy variables are never used).
    pub fn with_proxy(allow_private: bool, proxy: Option<&str>) -> Result<Self, String> {
        Ok(Self {
            http: crate::url_guard::provider_http_client(allow_private, proxy)?,
        })
    }
}

impl ChatModels for ProviderClients {
    fn connect(
        &self,
        provider: &Provider,
        api_key: Option<SecretString>,
    ) -> Result<Arc<dyn ChatModel>, ChatError> {
        crate::tls::init();
        let timeout = Duration::from_secs(u64::from(provider.timeout_secs));
        let base = provider.effective_base_url().map(str::to_owned);
        let key = api_key
            .map(|k| k.expose_secret().to_owned())
            .unwrap_or_default();
        match provider.kind {
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                let base = base.ok_or_else(|| ChatError::Permanent("no base_url".to_owned()))?;
                let config = OpenAIConfig::new().with_api_base(base).with_api_key(key);
                Ok(Arc::new(OpenAiChat {
                    client: Client::with_config(config).with_http_client(self.http.clone()),
                    timeout,
                }))
            }
            ProviderKind::AzureOpenAi => {
                let base = base.ok_or_else(|| ChatError::Permanent("no base_url".to_owned()))?;
                let mut config = AzureConfig::new().with_api_base(base).with_api_key(key);
                if let Some(model) = &provider.default_model {
                    config = config.with_deployment_id(model);
                }
                if let Some(version) = &provider.api_version {
                    config = config.with_api_version(version);
                }
                Ok(Arc::new(OpenAiChat {
                    client: Client::with_config(config).with_http_client(self.http.clone()),
                    timeout,
                }))
            }
            ProviderKind::Anthropic => {
                let base = base.ok_or_else(|| ChatError::Permanent("no base_url".to_owned()))?;
                Ok(Arc::new(anthropic::AnthropicChat {
                    http: self.http.clone(),
                    base_url: base.trim_end_matches('/').to_owned(),
                    api_key: key,
                    timeout,
                }))
            }
            ProviderKind::Gemini => {
                let base = base.ok_or_else(|| ChatError::Permanent("no base_url".to_owned()))?;
                Ok(Arc::new(gemini::GeminiChat {
                    http: self.http.clone(),
                    base_url: base.trim_end_matches('/').to_owned(),
                    api_key: key,
                    timeout,
                }))
            }
            ProviderKind::Extractive => Err(ChatError::Permanent(
                "extractive is built in: it answers from passages and calls no model".to_owned(),
            )),
        }
    }
}

/// The OpenAI chat-completions API (and servers that speak it).
struct OpenAiChat<C: OpenAiConfigTrait> {
    client: Client<C>,
    timeout: Duration,
}

impl<C: OpenAiConfigTrait> std::fmt::Debug for OpenAiChat<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiChat")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn classify(error: OpenAIError) -> ChatError {
    match error {
        OpenAIError::ApiError(response) => ChatError::from_status(
            response.status_code.as_u16(),
            response.api_error.to_string(),
            None,
        ),
        OpenAIError::Reqwest(error) => ChatError::Transient {
            message: format!("cannot reach the provider: {error}"),
            retry_after: None,
        },
        OpenAIError::StreamError(error) => ChatError::Transient {
            message: format!("the stream broke: {error}"),
            retry_after: None,
        },
        // Some servers (llama.cpp's among them) send errors whose `code` is a number, which
        // async-openai cannot read as OpenAI's error object: read the body here.
        OpenAIError::JSONDeserialize(error, body) => classify_body(&body)
            .unwrap_or_else(|| ChatError::Permanent(format!("an unreadable answer: {error}"))),
        other @ (OpenAIError::FileSaveError(_)
        | OpenAIError::FileReadError(_)
        | OpenAIError::InvalidArgument(_)) => ChatError::Permanent(other.to_string()),
    }
}

/// An error body `{"error": {"code", "message", "type"}}` with a numeric `code` (the HTTP status).
fn classify_body(body: &str) -> Option<ChatError> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let error = value.get("error")?;
    let message = error.get("message")?.as_str()?.to_owned();
    let kind = error
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    if kind.contains("context") {
        return Some(ChatError::ContextTooLong(message));
    }
    let status = error
        .get("code")
        .and_then(serde_json::Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(400);
    Some(ChatError::from_status(status, message, None))
}

/// The provider's `Retry-After`, in seconds.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Posts a JSON body with the given headers within `timeout`. A non-2xx answer becomes an error
/// through `failure` (status, `Retry-After`, the error message and type from the body).
async fn post_json(
    http: &reqwest::Client,
    url: String,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
    timeout: Duration,
    failure: fn(u16, Option<Duration>, String, &str) -> ChatError,
) -> Result<reqwest::Response, ChatError> {
    let mut request = http.post(url).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    // A pooled connection the server has closed fails before anything was sent: try once more
    // on a fresh one.
    let retry = request.try_clone();
    let mut sent = tokio::time::timeout(timeout, request.send())
        .await
        .map_err(|_| timed_out(timeout))?;
    if let (Err(error), Some(retry)) = (&sent, retry)
        && error.is_request()
        && !error.is_timeout()
    {
        tracing::debug!(%error, "sending to the provider failed; retrying once");
        sent = tokio::time::timeout(timeout, retry.send())
            .await
            .map_err(|_| timed_out(timeout))?;
    }
    let response = sent.map_err(|e| ChatError::Transient {
        message: format!("cannot reach the provider: {e}"),
        retry_after: None,
    })?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let wait = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    let parsed: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(serde_json::Value::as_str)
        .map_or_else(|| text.chars().take(300).collect(), str::to_owned);
    let kind = error
        .and_then(|e| e.get("type").or_else(|| e.get("status")))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    Err(failure(status, wait, message, kind))
}

/// Reads a JSON answer within `timeout`.
async fn read_json(
    response: reqwest::Response,
    timeout: Duration,
) -> Result<serde_json::Value, ChatError> {
    tokio::time::timeout(timeout, response.json())
        .await
        .map_err(|_| timed_out(timeout))?
        .map_err(|e| ChatError::Permanent(format!("an unreadable answer: {e}")))
}

fn timed_out(timeout: Duration) -> ChatError {
    ChatError::Transient {
        message: format!("no answer within {timeout:?}"),
        retry_after: None,
    }
}

fn request(chat: ChatRequest, stream: bool) -> CreateChatCompletionRequest {
    let messages = chat
        .messages
        .into_iter()
        .map(|ChatMessage { role, content }| match role {
            ChatRole::System => ChatCompletionRequestMessage::System(content.into()),
            ChatRole::User => ChatCompletionRequestMessage::User(content.into()),
            ChatRole::Assistant => ChatCompletionRequestMessage::Assistant(content.into()),
        })
        .collect();
    #[allow(deprecated)]
    CreateChatCompletionRequest {
        model: chat.model,
        messages,
        temperature: chat.temperature,
        // `max_tokens` is what OpenAI-compatible servers understand; OpenAI still accepts it for
        // chat models.
        max_tokens: chat.max_tokens,
        stream: stream.then_some(true),
        stream_options: stream.then_some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            ..ChatCompletionStreamOptions::default()
        }),
        ..CreateChatCompletionRequest::default()
    }
}

fn usage(usage: Option<&async_openai::types::chat::CompletionUsage>) -> ChatUsage {
    usage.map_or_else(ChatUsage::default, |u| ChatUsage {
        prompt_tokens: u64::from(u.prompt_tokens),
        completion_tokens: u64::from(u.completion_tokens),
    })
}

#[async_trait]
impl<C: OpenAiConfigTrait + Send + Sync + 'static> ChatModel for OpenAiChat<C> {
    async fn complete(&self, chat: ChatRequest) -> Result<ChatResponse, ChatError> {
        let chat_api = self.client.chat();
        let call = chat_api.create(request(chat, false));
        let response = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| timed_out(self.timeout))?
            .map_err(classify)?;
        let choice = response.choices.first();
        Ok(ChatResponse {
            content: choice
                .and_then(|c| c.message.content.clone())
                .unwrap_or_default(),
            usage: usage(response.usage.as_ref()),
            truncated: choice.is_some_and(|c| c.finish_reason == Some(FinishReason::Length)),
        })
    }

    async fn stream(&self, chat: ChatRequest) -> Result<ChatStream, ChatError> {
        let chat_api = self.client.chat();
        let call = chat_api.create_stream(request(chat, true));
        let stream = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| timed_out(self.timeout))?
            .map_err(classify)?;
        // Set when a choice finishes: async-openai ends a stream that was cut (no finish reason,
        // no `[DONE]`) quietly, which must not pass for a complete answer.
        let finished = Arc::new(AtomicBool::new(false));
        let seen = finished.clone();
        let chunks = stream.flat_map(move |item| {
            let out: Vec<Result<ChatChunk, ChatError>> = match item {
                Err(error) => vec![Err(classify(error))],
                Ok(chunk) => {
                    let mut out = Vec::new();
                    for choice in &chunk.choices {
                        if let Some(text) = &choice.delta.content
                            && !text.is_empty()
                        {
                            out.push(Ok(ChatChunk::Delta(text.clone())));
                        }
                        if choice.finish_reason == Some(FinishReason::Length) {
                            out.push(Ok(ChatChunk::Truncated));
                        }
                        if choice.finish_reason.is_some() {
                            seen.store(true, Ordering::Relaxed);
                        }
                    }
                    if chunk.usage.is_some() {
                        out.push(Ok(ChatChunk::Usage(usage(chunk.usage.as_ref()))));
                    }
                    out
                }
            };
            futures_util::stream::iter(out)
        });
        Ok(Box::pin(chunks.chain(cut_short(finished))))
    }
}

/// What follows an answer stream: a transient error when the provider's stream ended before
/// `finished` was set by its last event (the connection was cut), nothing otherwise.
fn cut_short(
    finished: Arc<AtomicBool>,
) -> impl futures_util::Stream<Item = Result<ChatChunk, ChatError>> + Send {
    futures_util::stream::once(async move {
        (!finished.load(Ordering::Relaxed)).then(|| {
            Err(ChatError::Transient {
                message: "the stream ended before the model finished".to_owned(),
                retry_after: None,
            })
        })
    })
    .filter_map(std::future::ready)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod body_tests {
    use super::*;

    #[test]
    fn error_bodies_with_numeric_codes_are_classified() {
        let overflow = r#"{"error":{"code":400,"message":"request (30020 tokens) exceeds the available context size (1024 tokens)","type":"exceed_context_size_error"}}"#;
        assert!(matches!(
            classify_body(overflow),
            Some(ChatError::ContextTooLong(_))
        ));
        let busy = r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#;
        assert!(matches!(
            classify_body(busy),
            Some(ChatError::Transient { .. })
        ));
        let denied =
            r#"{"error":{"code":401,"message":"Invalid API Key","type":"authentication_error"}}"#;
        assert!(matches!(
            classify_body(denied),
            Some(ChatError::Permanent(_))
        ));
        assert_eq!(classify_body("<html>bad gateway</html>"), None);
    }
}
