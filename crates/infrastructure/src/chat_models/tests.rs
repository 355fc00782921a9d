//! The OpenAI-family client against a real OpenAI-compatible server: llama.cpp's server with a
//! small real model (SmolLM2-135M), which `scripts/with-llm` starts and names in
//! `DOCENT_TEST_LLM_URL`. Skipped, with the reason printed, when that is not set.

use chrono::Utc;
use docent_kernel::{OrgId, ProviderId};
use futures_util::StreamExt as _;

use super::*;

fn provider(base_url: &str, timeout_secs: u32) -> Provider {
    Provider {
        id: ProviderId::generate(),
        org_id: OrgId::generate(),
        name: "llama.cpp".into(),
        kind: ProviderKind::OpenAiCompatible,
        base_url: Some(base_url.to_owned()),
        default_model: Some("smollm2".into()),
        api_version: None,
        api_key_last4: None,
        timeout_secs,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn ask(question: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        model: "smollm2".into(),
        messages: vec![
            ChatMessage {
                role: ChatRole::System,
                content: "You answer briefly.".into(),
            },
            ChatMessage {
                role: ChatRole::User,
                content: question.into(),
            },
        ],
        temperature: Some(0.0),
        max_tokens: Some(max_tokens),
    }
}

/// The text, usage and truncation of a stream, which must not fail.
async fn collect(
    mut stream: docent_providers::chat::ChatStream,
) -> (String, Option<ChatUsage>, bool) {
    let (mut text, mut usage, mut truncated) = (String::new(), None, false);
    while let Some(chunk) = stream.next().await {
        match chunk.unwrap() {
            ChatChunk::Delta(delta) => text.push_str(&delta),
            ChatChunk::Usage(u) => usage = Some(u),
            ChatChunk::Truncated => truncated = true,
        }
    }
    (text, usage, truncated)
}

fn llm_url() -> Option<String> {
    let url = std::env::var("DOCENT_TEST_LLM_URL").ok();
    if url.is_none() {
        eprintln!(
            "skipped: set DOCENT_TEST_LLM_URL (an OpenAI-compatible server's /v1 URL; `./dev test` starts llama.cpp's server with scripts/with-llm) to run the model client tests"
        );
    }
    url
}

#[tokio::test]
async fn a_real_model_answers_complete_and_streamed_with_usage() {
    let Some(url) = llm_url() else { return };
    let model = ProviderClients::new(true)
        .connect(&provider(&url, 120), None)
        .unwrap();
    let answer = model
        .complete(ask("What is the capital of France?", 8))
        .await
        .unwrap();
    assert!(!answer.content.trim().is_empty(), "{answer:?}");
    assert!(
        answer.usage.prompt_tokens > 0 && answer.usage.completion_tokens > 0,
        "{answer:?}"
    );

    let (text, usage, _) = collect(
        model
            .stream(ask("Count from one to five.", 8))
            .await
            .unwrap(),
    )
    .await;
    assert!(!text.trim().is_empty());
    let usage = usage.expect("the server reports usage at the end of the stream");
    assert!(
        usage.completion_tokens > 0 && usage.completion_tokens <= 8,
        "{usage:?}"
    );
}

#[tokio::test]
async fn errors_are_classified_for_the_caller() {
    // Nobody listening: transient.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let model = ProviderClients::new(true)
        .connect(&provider(&gone, 5), None)
        .unwrap();
    assert!(matches!(
        model.complete(ask("hello", 4)).await,
        Err(ChatError::Transient { .. })
    ));
    // Kinds without a remote model are refused up front.
    let mut extractive = provider(&gone, 5);
    extractive.kind = ProviderKind::Extractive;
    assert!(matches!(
        ProviderClients::new(true).connect(&extractive, None),
        Err(ChatError::Permanent(_))
    ));

    let Some(url) = llm_url() else { return };
    // More than the server's context (2048 tokens over two slots), but small enough that the
    // server's early refusal cannot cut the upload of the body short.
    let long = "lorem ipsum dolor sit amet ".repeat(500);
    let model = ProviderClients::new(true)
        .connect(&provider(&url, 120), None)
        .unwrap();
    let error = model.complete(ask(&long, 4)).await.unwrap_err();
    assert!(matches!(error, ChatError::ContextTooLong(_)), "{error:?}");
}

#[tokio::test]
async fn anthropic_messages_answer_complete_and_streamed() {
    let Some(url) = llm_url() else { return };
    // llama.cpp's server speaks the Messages API at /v1/messages; the connection names its root.
    let mut anthropic = provider(url.trim_end_matches("/v1"), 120);
    anthropic.kind = ProviderKind::Anthropic;
    let model = ProviderClients::new(true)
        .connect(
            &anthropic,
            Some(docent_kernel::SecretString::from("test-key")),
        )
        .unwrap();
    let answer = model
        .complete(ask("What is the capital of France?", 6))
        .await
        .unwrap();
    assert!(!answer.content.trim().is_empty(), "{answer:?}");
    assert!(answer.usage.prompt_tokens > 0 && answer.usage.completion_tokens > 0);
    assert!(
        answer.truncated,
        "6 tokens cannot finish an answer: {answer:?}"
    );

    let (text, usage, truncated) = collect(
        model
            .stream(ask("Write a long story about a lighthouse keeper.", 6))
            .await
            .unwrap(),
    )
    .await;
    assert!(!text.is_empty());
    assert!(truncated, "6 tokens cannot finish a long story: {text}");
    let usage = usage.expect("usage at message_stop");
    assert!(
        usage.prompt_tokens > 0 && usage.completion_tokens > 0,
        "{usage:?}"
    );

    let long = "lorem ipsum dolor sit amet ".repeat(500);
    let overflow = model.complete(ask(&long, 4)).await;
    assert!(
        matches!(overflow, Err(ChatError::ContextTooLong(_))),
        "{overflow:?}"
    );
}

#[tokio::test]
async fn anthropic_faults_are_classified_and_cut_streams_reported() {
    use poem::http::StatusCode;
    use poem::{Response, Route, Server, handler, post};

    #[handler]
    fn limited() -> Response {
        Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("retry-after", "7")
            .content_type("application/json")
            .body(r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#)
    }
    #[handler]
    fn overloaded() -> Response {
        Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .content_type("application/json")
            .body(r#"{"type":"error","error":{"type":"api_error","message":"internal"}}"#)
    }
    #[handler]
    fn cut() -> Response {
        // A stream that stops after its first text, without `message_delta` or `message_stop`.
        Response::builder()
            .content_type("text/event-stream")
            .body(concat!(
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Half an\"}}\n\n",
            ))
    }
    #[handler]
    fn denied() -> Response {
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .content_type("application/json")
            .body(r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#)
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Route::new()
        .at("/limited/v1/messages", post(limited))
        .at("/overloaded/v1/messages", post(overloaded))
        .at("/cut/v1/messages", post(cut))
        .at("/denied/v1/messages", post(denied));
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));

    let connect = |path: &str| {
        let mut anthropic = provider(&format!("{base}/{path}"), 5);
        anthropic.kind = ProviderKind::Anthropic;
        ProviderClients::new(true)
            .connect(&anthropic, Some(docent_kernel::SecretString::from("k")))
            .unwrap()
    };
    match connect("limited").complete(ask("hi", 4)).await {
        Err(ChatError::Transient {
            retry_after,
            message,
        }) => {
            assert_eq!(retry_after, Some(std::time::Duration::from_secs(7)));
            assert!(message.contains("slow down"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        connect("denied").complete(ask("hi", 4)).await,
        Err(ChatError::Permanent(m)) if m.contains("invalid x-api-key")
    ));
    assert!(matches!(
        connect("overloaded").complete(ask("hi", 4)).await,
        Err(ChatError::Transient { .. })
    ));
    // A stream cut mid-way reports it after the text that came, instead of ending quietly.
    let mut stream = connect("cut").stream(ask("hi", 4)).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        ChatChunk::Delta("Half an".into())
    );
    assert!(matches!(
        stream.next().await,
        Some(Err(ChatError::Transient { message, .. })) if message.contains("ended before")
    ));
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn an_openai_compatible_stream_cut_mid_way_is_reported() {
    use poem::{Response, Route, Server, handler, post};

    #[handler]
    fn cut() -> Response {
        // The first chunk of an answer, then the connection closes without `data: [DONE]`.
        Response::builder()
            .content_type("text/event-stream")
            .body(concat!(
                "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",",
                "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Half an\"},\"finish_reason\":null}]}\n\n",
            ))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Route::new().at("/v1/chat/completions", post(cut));
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));

    let model = ProviderClients::new(true)
        .connect(&provider(&format!("{base}/v1"), 5), None)
        .unwrap();
    let mut stream = model.stream(ask("hi", 4)).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        ChatChunk::Delta("Half an".into())
    );
    let end = stream.next().await;
    assert!(
        matches!(end, Some(Err(ChatError::Transient { .. }))),
        "{end:?}"
    );
}
