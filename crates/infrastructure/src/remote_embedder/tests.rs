//! The OpenAI-compatible embedder against a local server that speaks the `/v1/embeddings` wire
//! format and answers with the real local model's vectors (or with the errors providers send).

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{EndpointExt as _, Request, Response, Route, Server, handler, post};
use serde_json::{Value, json};

use super::*;
use crate::embedder::LocalEmbedder;
use crate::testing::models_dir;

fn error(status: StatusCode, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(
            json!({"error": {"message": message, "type": "test", "param": null, "code": null}})
                .to_string(),
        )
}

#[handler]
async fn embeddings(
    request: &Request,
    body: Json<Value>,
    model: Data<&Arc<LocalEmbedder>>,
) -> Response {
    if request.header("authorization") != Some("Bearer sk-test") {
        return error(StatusCode::UNAUTHORIZED, "invalid api key");
    }
    match body["model"].as_str() {
        Some("overloaded") => return error(StatusCode::TOO_MANY_REQUESTS, "slow down"),
        Some("broken") => return error(StatusCode::INTERNAL_SERVER_ERROR, "oops"),
        Some("unknown") => return error(StatusCode::NOT_FOUND, "no such model"),
        _ => {}
    }
    let texts: Vec<String> = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    let vectors = model.embed(texts).await.unwrap();
    // Out of order on purpose: clients must sort by index.
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .rev()
        .map(|(i, v)| json!({"index": i, "object": "embedding", "embedding": v}))
        .collect();
    Response::builder().content_type("application/json").body(
        json!({"object": "list", "model": body["model"], "data": data,
               "usage": {"prompt_tokens": 3, "total_tokens": 3}})
        .to_string(),
    )
}

async fn server() -> String {
    let local = LocalEmbedder::shared(&models_dir()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Route::new()
        .at("/v1/embeddings", post(embeddings))
        .data(local);
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    format!("http://{addr}/v1")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn embeddings_come_back_in_order_and_normalized() {
    let base = server().await;
    let key = SecretString::from("sk-test");
    let remote = OpenAiEmbedder::new(&base, Some(&key), "all-minilm", 384);
    assert_eq!(remote.model_id(), "openai-compatible:all-minilm");
    let texts = vec![
        "How long do I have to send an item back for a refund?".to_owned(),
        "Items may be returned within 30 days of delivery for a full refund.".to_owned(),
        "The volcano erupted and covered the village in ash.".to_owned(),
    ];
    let vectors = remote.embed(texts.clone()).await.unwrap();
    let local = LocalEmbedder::shared(&models_dir())
        .unwrap()
        .embed(texts)
        .await
        .unwrap();
    for (r, l) in vectors.iter().zip(&local) {
        assert!((cosine(r, r) - 1.0).abs() < 1e-3);
        assert!(cosine(r, l) > 0.999, "the order was kept");
    }
    assert!(cosine(&vectors[0], &vectors[1]) > cosine(&vectors[0], &vectors[2]) + 0.25);
    assert!(remote.embed(Vec::new()).await.unwrap().is_empty());
}

#[tokio::test]
async fn provider_errors_are_classified() {
    let base = server().await;
    let key = SecretString::from("sk-test");
    let embed = |model: &str, key: Option<&SecretString>, dims| {
        let embedder = OpenAiEmbedder::new(&base, key, model, dims);
        async move { embedder.embed(vec!["hello".to_owned()]).await }
    };
    assert!(
        matches!(embed("overloaded", Some(&key), 384).await, Err(EmbedError::Transient(m)) if m.contains("429"))
    );
    assert!(
        matches!(embed("broken", Some(&key), 384).await, Err(EmbedError::Transient(m)) if m.contains("500"))
    );
    assert!(
        matches!(embed("unknown", Some(&key), 384).await, Err(EmbedError::Permanent(m)) if m.contains("404"))
    );
    let wrong_key = SecretString::from("sk-wrong");
    assert!(
        matches!(embed("all-minilm", Some(&wrong_key), 384).await, Err(EmbedError::Permanent(m)) if m.contains("401"))
    );
    assert!(matches!(
        embed("all-minilm", None, 384).await,
        Err(EmbedError::Permanent(_))
    ));
    assert!(
        matches!(embed("all-minilm", Some(&key), 768).await, Err(EmbedError::Permanent(m)) if m.contains("384 dimensions"))
    );
    // Nobody listening: transient.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = OpenAiEmbedder::new(&gone, Some(&key), "all-minilm", 384);
    assert!(matches!(
        unreachable.embed(vec!["x".into()]).await,
        Err(EmbedError::Transient(_))
    ));
}
