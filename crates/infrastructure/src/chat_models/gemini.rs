//! Google Gemini over HTTP: `POST {base}/v1beta/models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse` for streaming, with the key in `x-goog-api-key`. System messages
//! become `systemInstruction`; assistant turns are the `model` role. A stream that ends without a
//! finish reason was cut off, and says so.

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use docent_providers::chat::{
    ChatChunk, ChatError, ChatModel, ChatRequest, ChatResponse, ChatRole, ChatStream, ChatUsage,
};
use eventsource_stream::Eventsource as _;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

/// A Gemini API endpoint.
pub(super) struct GeminiChat {
    pub(super) http: reqwest::Client,
    /// e.g. `https://generativelanguage.googleapis.com`.
    pub(super) base_url: String,
    pub(super) api_key: String,
    pub(super) timeout: Duration,
}

impl std::fmt::Debug for GeminiChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiChat")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn body(request: &ChatRequest) -> Value {
    let system: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role == ChatRole::System)
        .map(|m| json!({"text": m.content}))
        .collect();
    let contents: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role != ChatRole::System)
        .map(|m| {
            let role = if m.role == ChatRole::Assistant {
                "model"
            } else {
                "user"
            };
            json!({"role": role, "parts": [{"text": m.content}]})
        })
        .collect();
    let mut config = serde_json::Map::new();
    if let Some(temperature) = request.temperature {
        config.insert("temperature".into(), Value::from(temperature));
    }
    if let Some(max) = request.max_tokens {
        config.insert("maxOutputTokens".into(), Value::from(max));
    }
    let mut body = json!({"contents": contents, "generationConfig": config});
    if !system.is_empty() {
        body["systemInstruction"] = json!({"parts": system});
    }
    body
}

/// Gemini's errors: `{"error": {"code", "message", "status"}}`.
fn failure(status: u16, wait: Option<Duration>, message: String, _kind: &str) -> ChatError {
    let lower = message.to_ascii_lowercase();
    if status == 400
        && lower.contains("token")
        && (lower.contains("exceed") || lower.contains("too long"))
    {
        return ChatError::ContextTooLong(message);
    }
    ChatError::from_status(status, message, wait)
}

/// The text, usage and finish reason of one response (or stream chunk).
fn parts(value: &Value) -> (String, Option<ChatUsage>, Option<String>) {
    let candidate = value.pointer("/candidates/0");
    let text = candidate
        .and_then(|c| c.pointer("/content/parts"))
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<String>()
        })
        .unwrap_or_default();
    let usage = value.get("usageMetadata").map(|u| ChatUsage {
        prompt_tokens: u
            .get("promptTokenCount")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        completion_tokens: u
            .get("candidatesTokenCount")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    });
    let finish = candidate
        .and_then(|c| c.get("finishReason"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    (text, usage, finish)
}

impl GeminiChat {
    async fn send(
        &self,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<reqwest::Response, ChatError> {
        let url = if stream {
            format!(
                "{}/v1beta/models/{}:streamGenerateContent?alt=sse",
                self.base_url, request.model
            )
        } else {
            format!(
                "{}/v1beta/models/{}:generateContent",
                self.base_url, request.model
            )
        };
        super::post_json(
            &self.http,
            url,
            &[("x-goog-api-key", &self.api_key)],
            &body(request),
            self.timeout,
            failure,
        )
        .await
    }
}

#[async_trait]
impl ChatModel for GeminiChat {
    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ChatError> {
        let response = self.send(&request, false).await?;
        let value = super::read_json(response, self.timeout).await?;
        let (content, usage, finish) = parts(&value);
        Ok(ChatResponse {
            content,
            usage: usage.unwrap_or_default(),
            truncated: finish.as_deref() == Some("MAX_TOKENS"),
        })
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, ChatError> {
        let response = self.send(&request, true).await?;
        Ok(decode_stream(response.bytes_stream()))
    }
}

/// `streamGenerateContent`'s SSE stream as answer chunks: text, truncation, usage, and a transient
/// error for an error object, a broken stream or a stream that ends without a finish reason. Public
/// for the fuzz targets.
pub fn decode_stream<S, B, E>(bytes: S) -> ChatStream
where
    S: futures_util::Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let events = Box::pin(bytes.eventsource());
    let state = (events, ChatUsage::default(), false, VecDeque::new());
    let chunks = futures_util::stream::unfold(
        state,
        |(mut events, mut usage, mut finished, mut queue)| async move {
            loop {
                if let Some(item) = queue.pop_front() {
                    return Some((item, (events, usage, finished, queue)));
                }
                if finished {
                    return None;
                }
                match events.next().await {
                    // A stream that ends before a finish reason was cut off.
                    None => {
                        finished = true;
                        queue.push_back(Err(transient(
                            "the stream ended before the model finished",
                        )));
                    }
                    Some(Err(error)) => {
                        finished = true;
                        queue.push_back(Err(transient(&format!("the stream broke: {error}"))));
                    }
                    Some(Ok(event)) => {
                        let value: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                        if let Some(message) =
                            value.pointer("/error/message").and_then(Value::as_str)
                        {
                            finished = true;
                            queue.push_back(Err(transient(message)));
                            continue;
                        }
                        let (text, chunk_usage, finish) = parts(&value);
                        if !text.is_empty() {
                            queue.push_back(Ok(ChatChunk::Delta(text)));
                        }
                        if let Some(chunk_usage) = chunk_usage {
                            usage = chunk_usage;
                        }
                        if finish.is_some() {
                            finished = true;
                            if finish.as_deref() == Some("MAX_TOKENS") {
                                queue.push_back(Ok(ChatChunk::Truncated));
                            }
                            queue.push_back(Ok(ChatChunk::Usage(usage)));
                        }
                    }
                }
            }
        },
    );
    Box::pin(chunks)
}

fn transient(message: &str) -> ChatError {
    ChatError::Transient {
        message: message.to_owned(),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests;
