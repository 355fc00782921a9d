//! `just bench` (chat): the time to first token docent adds over the provider's own. A streamed
//! answer through the chat service (retrieval with the real embedding model and the in-process
//! index, prompt assembly, quota reservation, SQLite, the answer task) against the same prompt sent
//! straight to the same model server, alternating, medians printed with their ratio. The model
//! server is llama.cpp with SmolLM2-135M, which `scripts/with-llm` starts (`DOCENT_TEST_LLM_URL`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Row, median, record};

use docent_chat::prompt::{self, Source};
use docent_chat::{AnswerEvent, ChatbotInput, RetrievalSettings};
use docent_documents::ports::DocumentRepo as _;
use docent_documents::{DocumentStatus, SearchRequest, Upload};
use docent_infrastructure::chat_models::ProviderClients;
use docent_providers::chat::{ChatChunk, ChatRequest};
use docent_providers::{ChatModels as _, NewProvider, ProviderKind};
use futures_util::StreamExt as _;

const RUNS: usize = 15;
const QUESTION: &str = "How many days do customers have to return a product?";
const RETURNS: &str = "Customers may return any unopened product within 45 days of delivery for a full refund. Refunds are issued to the original payment method within five business days.";

#[tokio::main]
async fn main() {
    let Ok(url) = std::env::var("DOCENT_TEST_LLM_URL") else {
        println!(
            "chat bench skipped: set DOCENT_TEST_LLM_URL (`just bench` starts llama.cpp's server with scripts/with-llm)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::embedded_config(dir.path());
    config.worker.poll_interval_ms = 10;
    config.providers.allow_private_base_urls = true;
    let (services, signed) = common::services_with_user(&config, "bench@example.com").await;
    let common::SignedUp { org, tenant, .. } = signed;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(services.worker("bench").run_until(async move {
        let _ = stopped.await;
    }));
    let document = services
        .documents
        .upload(
            &tenant,
            Upload {
                bytes: RETURNS.as_bytes().to_vec(),
                file_name: Some("returns.txt".into()),
                title: Some("Returns policy".into()),
                tags: Vec::new(),
                allow_duplicate: false,
            },
        )
        .await
        .unwrap();
    loop {
        let current = services.store.get(org, document.id).await.unwrap().unwrap();
        if current.status == DocumentStatus::Ready {
            break;
        }
        assert_ne!(current.status, DocumentStatus::Failed, "{current:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = stop.send(());
    worker.await.unwrap();

    let provider = services
        .providers
        .create(
            &tenant,
            NewProvider {
                name: "llama.cpp".into(),
                kind: ProviderKind::OpenAiCompatible,
                base_url: Some(url),
                api_key: None,
                default_model: Some("smollm2".into()),
                api_version: None,
                timeout_secs: None,
            },
        )
        .await
        .unwrap();
    let bot = services
        .chat
        .create_chatbot(
            &tenant,
            ChatbotInput {
                name: Some("Bench".into()),
                provider_id: Some(provider.id),
                max_answer_tokens: Some(8),
                temperature: Some(0.0),
                context_window: Some(1024),
                top_k: Some(RetrievalSettings::default().top_k),
                ..ChatbotInput::default()
            },
        )
        .await
        .unwrap();

    // The prompt docent builds, sent straight to the model.
    let hits = services
        .documents
        .retrieve(
            &tenant,
            SearchRequest {
                query: QUESTION.into(),
                top_k: bot.retrieval.top_k,
                tags: None,
                document_ids: None,
                mode: docent_documents::SearchMode::Hybrid,
            },
        )
        .await
        .unwrap();
    let sources: Vec<Source> = (1_u32..)
        .zip(
            hits.into_iter()
                .filter(|h| h.score >= bot.retrieval.min_score),
        )
        .map(|(n, hit)| Source {
            n,
            title: hit.title,
            page: hit.chunk.page,
            section: hit.chunk.section,
            text: hit.chunk.text,
        })
        .collect();
    assert!(!sources.is_empty(), "the question must find the passage");
    let built = prompt::build(&bot, &sources, &[], QUESTION, true).unwrap();
    let model = ProviderClients::new(true).connect(&provider, None).unwrap();
    let request = ChatRequest {
        model: "smollm2".into(),
        messages: built.messages,
        temperature: Some(bot.temperature),
        max_tokens: Some(bot.max_answer_tokens),
    };

    let mut direct = Vec::with_capacity(RUNS);
    let mut through = Vec::with_capacity(RUNS);
    // One untimed round each warms the model server's prompt cache and the embedder.
    for round in 0..=RUNS {
        let started = Instant::now();
        let mut stream = model.stream(request.clone()).await.unwrap();
        loop {
            match stream.next().await {
                Some(Ok(ChatChunk::Delta(text))) if !text.is_empty() => break,
                Some(Ok(_)) => {}
                other => panic!("no first token from the model: {other:?}"),
            }
        }
        let provider_ttft = started.elapsed();
        drop(stream);

        let (conversation, _) = services
            .chat
            .start_conversation(&tenant, bot.id, None)
            .await
            .unwrap();
        let started = Instant::now();
        let mut answer = services
            .chat
            .ask(&tenant, bot.id, conversation.id, QUESTION.into())
            .await
            .unwrap();
        loop {
            match answer.next().await {
                Some(AnswerEvent::Delta(_)) => break,
                Some(AnswerEvent::Error(error)) => panic!("{error}"),
                Some(_) => {}
                None => panic!("the answer ended without text"),
            }
        }
        let docent_ttft = started.elapsed();
        // Let the answer finish so the next round starts on an idle server.
        while answer.next().await.is_some() {}
        if round > 0 {
            direct.push(provider_ttft);
            through.push(docent_ttft);
        }
    }
    let direct = median(direct);
    let through = median(through);
    let added = through.as_secs_f64() * 1000.0 - direct.as_secs_f64() * 1000.0;
    println!(
        "  (median of {RUNS}, {} prompt tokens estimated)",
        built.estimated_tokens
    );
    record(&Row {
        figure: "time to first token through a chatbot vs llama.cpp directly (same prompt)",
        measured: format!("{:.1} ms", through.as_secs_f64() * 1000.0),
        baseline: format!("{:.1} ms", direct.as_secs_f64() * 1000.0),
        result: format!("{added:+.1} ms"),
        target: "≤ +15 ms p50",
        met: added <= 15.0,
    });
}
