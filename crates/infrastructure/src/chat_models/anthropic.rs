//! Anthropic's Messages API (`POST {base}/v1/messages`, and its SSE stream) over HTTP: system
//! messages go into `system`, the rest alternate user and assistant. Rate limits and server errors
//! are transient and carry the provider's `Retry-After`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use docent_providers::chat::{
    ChatChunk, ChatError, ChatModel, ChatRequest, ChatResponse, ChatRole, ChatStream, ChatUsage,
};
use eventsource_stream::Eventsource as _;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

/// The API version docent speaks.
const VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; this is used when the caller gives none.
const DEFAULT_MAX_TOKENS: u32 = 1024;

/// A Messages API endpoint.
pub(super) struct AnthropicChat {
    pub(super) http: reqwest::Client,
    /// e.g. `https://api.anthropic.com`, without `/v1`.
    pub(super) base_url: String,
    pub(super) api_key: String,
    pub(super) timeout: Duration,
}

impl std::fmt::Debug for AnthropicChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicChat")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn body(request: ChatRequest, stream: bool) -> Value {
    let system: Vec<String> = request
        .messages
        .iter()
        .filter(|m| m.role == ChatRole::System)
        .map(|m| m.content.clone())
        .collect();
    let messages: Vec<Value> = request
        .messages
        .into_iter()
        .filter(|m| m.role != ChatRole::System)
        .map(|m| {
            let role = if m.role == ChatRole::Assistant {
                "assistant"
            } else {
                "user"
            };
            json!({"role": role, "content": m.content})
        })
        .collect();
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "stream": stream,
    });
    if !system.is_empty() {
        body["system"] = Value::from(system.join("\n\n"));
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = Value::from(temperature);
    }
    body
}

/// Anthropic's errors: `{"type": "error", "error": {"type", "message"}}`.
fn failure(status: u16, wait: Option<Duration>, message: String, kind: &str) -> ChatError {
    if kind.contains("context") {
        return ChatError::ContextTooLong(message);
    }
    ChatError::from_status(status, message, wait)
}

fn usage_of(value: &Value, previous: ChatUsage) -> ChatUsage {
    let count = |key: &str| value.get(key).and_then(Value::as_u64);
    ChatUsage {
        prompt_tokens: count("input_tokens").unwrap_or(previous.prompt_tokens),
        completion_tokens: count("output_tokens").unwrap_or(previous.completion_tokens),
    }
}

impl AnthropicChat {
    async fn send(
        &self,
        request: ChatRequest,
        stream: bool,
    ) -> Result<reqwest::Response, ChatError> {
        super::post_json(
            &self.http,
            format!("{}/v1/messages", self.base_url),
            &[("x-api-key", &self.api_key), ("anthropic-version", VERSION)],
            &body(request, stream),
            self.timeout,
            failure,
        )
        .await
    }
}

#[async_trait]
impl ChatModel for AnthropicChat {
    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ChatError> {
        let response = self.send(request, false).await?;
        let value = super::read_json(response, self.timeout).await?;
        let content = value
            .get("content")
            .and_then(Value::as_array)
            .map(|blocks| {
                blocks
                    .iter()
                    .filter_map(|b| b.get("text").and_then(Value::as_str))
                    .collect::<String>()
            })
            .unwrap_or_default();
        Ok(ChatResponse {
            content,
            usage: value
                .get("usage")
                .map_or_else(ChatUsage::default, |u| usage_of(u, ChatUsage::default())),
            truncated: value.get("stop_reason").and_then(Value::as_str) == Some("max_tokens"),
        })
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, ChatError> {
        let response = self.send(request, true).await?;
        Ok(decode_stream(response.bytes_stream()))
    }
}

/// The Messages API's SSE stream as answer chunks: text deltas, truncation, usage, and a transient
/// error for an `error` event or a stream that ends without `message_stop`. Public for the fuzz
/// targets.
pub fn decode_stream<S, B, E>(bytes: S) -> ChatStream
where
    S: futures_util::Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let mut usage = ChatUsage::default();
    // Set by `message_stop` or an `error` event: a stream that ends without either was cut.
    let ended = Arc::new(AtomicBool::new(false));
    let seen = ended.clone();
    let events = bytes.eventsource().filter_map(move |event| {
        let chunk = match event {
            Err(error) => Some(Err(ChatError::Transient {
                message: format!("the stream broke: {error}"),
                retry_after: None,
            })),
            Ok(event) => {
                let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                match data
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or(&event.event)
                {
                    "content_block_delta" => data
                        .pointer("/delta/text")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .map(|t| Ok(ChatChunk::Delta(t.to_owned()))),
                    "message_start" => {
                        if let Some(u) = data.pointer("/message/usage") {
                            usage = usage_of(u, usage);
                        }
                        None
                    }
                    "message_delta" => {
                        if let Some(u) = data.get("usage") {
                            usage = usage_of(u, usage);
                        }
                        (data.pointer("/delta/stop_reason").and_then(Value::as_str)
                            == Some("max_tokens"))
                        .then_some(Ok(ChatChunk::Truncated))
                    }
                    "message_stop" => {
                        seen.store(true, Ordering::Relaxed);
                        Some(Ok(ChatChunk::Usage(usage)))
                    }
                    "error" => {
                        seen.store(true, Ordering::Relaxed);
                        let message = data
                            .pointer("/error/message")
                            .and_then(Value::as_str)
                            .unwrap_or("the provider reported an error")
                            .to_owned();
                        Some(Err(ChatError::Transient {
                            message,
                            retry_after: None,
                        }))
                    }
                    _ => None,
                }
            }
        };
        std::future::ready(chunk)
    });
    Box::pin(events.chain(super::cut_short(ended)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use docent_providers::chat::ChatMessage;

    #[test]
    fn system_messages_go_into_system_and_the_rest_alternate() {
        let request = ChatRequest {
            model: "claude".into(),
            messages: vec![
                ChatMessage {
                    role: ChatRole::System,
                    content: "Be brief.".into(),
                },
                ChatMessage {
                    role: ChatRole::User,
                    content: "Hi".into(),
                },
                ChatMessage {
                    role: ChatRole::Assistant,
                    content: "Hello".into(),
                },
                ChatMessage {
                    role: ChatRole::User,
                    content: "Bye".into(),
                },
            ],
            temperature: Some(0.2),
            max_tokens: None,
        };
        let body = body(request, true);
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["stream"], true);
        let roles: Vec<_> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].clone())
            .collect();
        assert_eq!(
            roles,
            vec![json!("user"), json!("assistant"), json!("user")]
        );
    }
}
