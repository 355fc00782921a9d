//! The Gemini client against a local server that answers with the wire format of Gemini's
//! documented responses (`generateContent`, `streamGenerateContent?alt=sse`, error bodies), and
//! with the faults a real one produces: 429 with `Retry-After`, 500, a refused key, a context
//! overflow, and a stream cut off mid-way.

use docent_providers::chat::{ChatMessage, ChatModels as _};
use docent_providers::{Provider, ProviderKind};
use poem::http::StatusCode;
use poem::web::{Json, Path};
use poem::{Request, Response, Route, Server, handler, post};
use serde_json::json;

use super::*;
use crate::chat_models::ProviderClients;

fn error(status: StatusCode, message: &str, code: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(
            json!({"error": {"code": status.as_u16(), "message": message, "status": code}})
                .to_string(),
        )
}

fn candidate(text: &str, finish: Option<&str>, usage: bool) -> Value {
    let mut value = json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}],
        "modelVersion": "gemini-2.0-flash"
    });
    if let Some(finish) = finish {
        value["candidates"][0]["finishReason"] = json!(finish);
    }
    if usage {
        value["usageMetadata"] =
            json!({"promptTokenCount": 12, "candidatesTokenCount": 5, "totalTokenCount": 17});
    }
    value
}

#[handler]
fn models(request: &Request, Path(action): Path<String>, body: Json<Value>) -> Response {
    if request.header("x-goog-api-key") != Some("g-key") {
        return error(
            StatusCode::FORBIDDEN,
            "API key not valid. Please pass a valid API key.",
            "PERMISSION_DENIED",
        );
    }
    // The request shape the API documents.
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert_eq!(body["contents"][0]["role"], "user");
    assert_eq!(body["contents"][1]["role"], "model");
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 5);
    let (model, method) = action.split_once(':').unwrap();
    match (model, method) {
        ("limited", _) => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("retry-after", "5")
            .content_type("application/json")
            .body(json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}).to_string()),
        ("broken", _) => error(StatusCode::INTERNAL_SERVER_ERROR, "An internal error has occurred.", "INTERNAL"),
        ("long", _) => error(
            StatusCode::BAD_REQUEST,
            "The input token count (40000) exceeds the maximum number of tokens allowed (32768).",
            "INVALID_ARGUMENT",
        ),
        ("ok", "generateContent") => Response::builder()
            .content_type("application/json")
            .body(candidate("Paris is the capital.", Some("MAX_TOKENS"), true).to_string()),
        (model, "streamGenerateContent") => {
            let mut events = vec![candidate("Paris ", None, false), candidate("is the ", None, false)];
            if model == "ok" {
                events.push(candidate("capital.", Some("STOP"), true));
            }
            let body: String = events.iter().map(|e| format!("data: {e}\r\n\r\n")).collect();
            Response::builder().content_type("text/event-stream").body(body)
        }
        _ => error(StatusCode::NOT_FOUND, "models/unknown is not found", "NOT_FOUND"),
    }
}

async fn fixture() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Route::new().at("/v1beta/models/:action", post(models));
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    base
}

fn connect(base: &str, key: &str) -> std::sync::Arc<dyn ChatModel> {
    let provider = Provider {
        id: docent_kernel::ProviderId::generate(),
        org_id: docent_kernel::OrgId::generate(),
        name: "Gemini".into(),
        kind: ProviderKind::Gemini,
        base_url: Some(base.to_owned()),
        default_model: None,
        api_version: None,
        api_key_last4: None,
        timeout_secs: 10,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    };
    ProviderClients::new(true)
        .connect(
            &provider,
            Some(docent_kernel::SecretString::from(key.to_owned())),
        )
        .unwrap()
}

fn ask(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![
            ChatMessage {
                role: ChatRole::System,
                content: "Be brief.".into(),
            },
            ChatMessage {
                role: ChatRole::User,
                content: "Hello".into(),
            },
            ChatMessage {
                role: ChatRole::Assistant,
                content: "Hi!".into(),
            },
            ChatMessage {
                role: ChatRole::User,
                content: "Capital of France?".into(),
            },
        ],
        temperature: Some(0.0),
        max_tokens: Some(5),
    }
}

#[tokio::test]
async fn answers_complete_and_streamed_with_usage() {
    let base = fixture().await;
    let model = connect(&base, "g-key");
    let answer = model.complete(ask("ok")).await.unwrap();
    assert_eq!(answer.content, "Paris is the capital.");
    assert_eq!(
        (answer.usage.prompt_tokens, answer.usage.completion_tokens),
        (12, 5)
    );
    assert!(answer.truncated);

    let mut stream = model.stream(ask("ok")).await.unwrap();
    let mut seen = Vec::new();
    while let Some(chunk) = stream.next().await {
        seen.push(chunk.unwrap());
    }
    assert_eq!(
        seen,
        vec![
            ChatChunk::Delta("Paris ".into()),
            ChatChunk::Delta("is the ".into()),
            ChatChunk::Delta("capital.".into()),
            ChatChunk::Usage(ChatUsage {
                prompt_tokens: 12,
                completion_tokens: 5
            }),
        ]
    );
}

#[tokio::test]
async fn faults_are_classified() {
    let base = fixture().await;
    let model = connect(&base, "g-key");
    match model.complete(ask("limited")).await {
        Err(ChatError::Transient {
            retry_after,
            message,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(5)));
            assert!(message.contains("exhausted"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        model.complete(ask("broken")).await,
        Err(ChatError::Transient { .. })
    ));
    assert!(matches!(
        model.complete(ask("long")).await,
        Err(ChatError::ContextTooLong(_))
    ));
    assert!(
        matches!(model.complete(ask("unknown")).await, Err(ChatError::Permanent(m)) if m.contains("404"))
    );
    assert!(matches!(
        connect(&base, "wrong").complete(ask("ok")).await,
        Err(ChatError::Permanent(m)) if m.contains("API key not valid")
    ));

    // Cut off mid-way: the text so far, then an error instead of a silent end.
    let mut stream = model.stream(ask("cut")).await.unwrap();
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item);
    }
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0], Ok(ChatChunk::Delta("Paris ".into())));
    assert!(
        matches!(&items[2], Err(ChatError::Transient { message, .. }) if message.contains("ended before"))
    );
}
