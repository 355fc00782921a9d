//! `./dev bench` (micro): criterion micro-benchmarks of the hot paths every request or chunk goes
//! through — session and API-key verification and the access check (on the embedded default's
//! services: SQLite, the verified-credential cache warm), chunking, prompt assembly, citation
//! filtering, BM25 encoding and the hybrid search's fusion. Criterion keeps its estimates in
//! `$CRITERION_HOME` (`scripts/bench` sets it), from where `scripts/bench-report` writes their
//! medians into docs/benchmarks.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use docent_app::access::{Credential, Need};
use docent_chat::citations::MarkerFilter;
use docent_chat::prompt::{self, Source};
use docent_chat::{ChatbotInput, CitationStyle, Message, Role, TokenUsage};
use docent_documents::chunk::Chunker;
use docent_documents::extract::{Limits, MediaType, extract_as};
use docent_infrastructure::embedder::LocalModel;
use docent_infrastructure::testing::{RankedCandidate, bm25, fuse, models_dir};
use docent_kernel::{
    ConversationId, DocumentId, ExposeSecret as _, MessageId, RequestMeta, TenantCtx,
};
use docent_keys::KeyRequest;
use docent_providers::{NewProvider, ProviderKind};

const QUESTION: &str = "How many days do customers have to return a product for a refund?";

/// A sentence of plain prose, numbered so no two are alike.
fn sentence(n: usize) -> String {
    format!(
        "Paragraph {n} explains how the returns desk handles parcel {n}: customers may send any \
         unopened product back within forty-five days, and refunds reach the original payment \
         method within five business days of the parcel's arrival. "
    )
}

/// About `chars` characters of Markdown prose in sections of ten sentences.
fn document(chars: usize) -> String {
    let mut text = String::new();
    let mut n = 0;
    while text.len() < chars {
        if n % 10 == 0 {
            text.push_str(&format!("\n## Section {}\n\n", n / 10));
        }
        text.push_str(&sentence(n));
        n += 1;
    }
    text
}

/// The services of `docent-api serve` on the embedded default, with a user, an organization, a
/// session token and an API key.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    services: docent_app::Services,
    token: String,
    key: String,
    org: docent_kernel::OrgId,
    tenant: TenantCtx,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = common::embedded_config(dir.path());
    let (services, token, key, org, tenant) = runtime.block_on(async {
        let (services, signed) = common::services_with_user(&config, "micro@example.com").await;
        let common::SignedUp {
            user,
            token,
            org,
            tenant,
        } = signed;
        let key = services
            .keys
            .create(
                &tenant,
                user.id,
                KeyRequest {
                    name: "micro".into(),
                    scopes: vec!["chatbots:read".into()],
                    ..KeyRequest::default()
                },
            )
            .await
            .unwrap();
        // The cache answers once the epoch has been read.
        tokio::time::sleep(Duration::from_millis(300)).await;
        (
            services,
            token,
            key.secret.expose_secret().to_owned(),
            org,
            tenant,
        )
    });
    Fixture {
        runtime,
        services,
        token,
        key,
        org,
        tenant,
        _dir: dir,
    }
}

fn verification(c: &mut Criterion, f: &Fixture) {
    let access = &f.services.access;
    let session = || async {
        let (caller, _) = access.caller(Credential::Bearer(&f.token)).await;
        caller.unwrap()
    };
    c.bench_function("session verification", |b| {
        b.to_async(&f.runtime)
            .iter(|| async { black_box(session().await) });
    });
    c.bench_function("API key verification", |b| {
        b.to_async(&f.runtime).iter(|| async {
            let (caller, _) = access.caller(Credential::ApiKey(&f.key)).await;
            black_box(caller.unwrap())
        });
    });
    let caller = f.runtime.block_on(session());
    c.bench_function("access check (member, chatbots:read)", |b| {
        b.to_async(&f.runtime).iter(|| async {
            black_box(
                access
                    .tenant(
                        caller.clone(),
                        f.org,
                        Need::ChatbotsRead,
                        RequestMeta::default(),
                    )
                    .await
                    .unwrap(),
            )
        });
    });
}

fn chunking(c: &mut Criterion) {
    let tokenizer = std::fs::read(LocalModel::default_in(&models_dir()).tokenizer()).unwrap();
    let chunker = Chunker::new(&tokenizer, 250, 40).unwrap();
    let text = document(25_000);
    let extracted = extract_as(MediaType::Markdown, text.as_bytes(), &Limits::default()).unwrap();
    let chunks = chunker.chunk(&extracted).len();
    c.bench_function(
        &format!("chunking 25 KB of Markdown ({chunks} chunks of ≤ 250 tokens)"),
        |b| b.iter(|| black_box(chunker.chunk(black_box(&extracted)))),
    );
}

fn answers(c: &mut Criterion, f: &Fixture) {
    let bot = f.runtime.block_on(async {
        let provider = f
            .services
            .providers
            .create(
                &f.tenant,
                NewProvider {
                    name: "Extractive".into(),
                    kind: ProviderKind::Extractive,
                    base_url: None,
                    api_key: None,
                    default_model: None,
                    api_version: None,
                    timeout_secs: None,
                },
            )
            .await
            .unwrap();
        f.services
            .chat
            .create_chatbot(
                &f.tenant,
                ChatbotInput {
                    name: Some("Micro".into()),
                    provider_id: Some(provider.id),
                    ..ChatbotInput::default()
                },
            )
            .await
            .unwrap()
    });
    // Five sources of about a chunk each, and two earlier exchanges.
    let sources: Vec<Source> = (1_u32..=5)
        .map(|n| Source {
            n,
            title: format!("Returns policy, part {n}"),
            page: Some(n),
            section: Some(format!("Section {n}")),
            text: (0..5).map(|i| sentence(i + n as usize * 5)).collect(),
        })
        .collect();
    let conversation = ConversationId::generate();
    let history: Vec<Message> = (0..4)
        .map(|i| Message {
            id: MessageId::generate(),
            conversation_id: conversation,
            role: if i % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            },
            content: sentence(i),
            citations: Vec::new(),
            usage: TokenUsage::default(),
            latency_ms: 0,
            incomplete: false,
            created_at: chrono::Utc::now(),
        })
        .collect();
    c.bench_function("prompt assembly (5 sources, 4 messages of history)", |b| {
        b.iter(|| {
            black_box(prompt::build(&bot, black_box(&sources), &history, QUESTION, true).unwrap())
        });
    });

    // An answer of about 800 characters with markers, streamed in deltas of four characters.
    let answer: String = (0..4)
        .map(|i| format!("{} [{}] ", sentence(i).trim_end(), i % 6 + 1))
        .collect();
    let deltas: Vec<String> = answer
        .chars()
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|c| c.iter().collect())
        .collect();
    c.bench_function(
        &format!(
            "citation filtering ({} characters in {} deltas)",
            answer.len(),
            deltas.len()
        ),
        |b| {
            b.iter(|| {
                let mut filter = MarkerFilter::new(5, CitationStyle::Inline);
                let mut shown = 0;
                for delta in &deltas {
                    shown += filter.push(black_box(delta)).len();
                }
                shown += filter.finish().len();
                black_box(shown)
            });
        },
    );
}

fn index(c: &mut Criterion) {
    let encoder = bm25().unwrap();
    let chunk: String = (0..6).map(sentence).collect();
    c.bench_function(
        &format!("BM25 encoding of a chunk ({} characters)", chunk.len()),
        |b| b.iter(|| black_box(encoder.embed_document(black_box(&chunk)))),
    );
    c.bench_function("BM25 encoding of a question", |b| {
        b.iter(|| black_box(encoder.embed_query(black_box(QUESTION))));
    });

    // Top 10 of two rankings of 40 (four candidates per hit), half of them on both sides.
    let documents: Vec<DocumentId> = (0..8).map(|_| DocumentId::generate()).collect();
    let query: Vec<f32> = (0..384).map(|i| ((i * 7) % 13) as f32 / 13.0).collect();
    let candidate = |i: usize, vector: bool| -> RankedCandidate {
        (
            documents[i % documents.len()],
            u32::try_from(i).unwrap(),
            (!vector).then_some(1.0 - i as f32 / 100.0),
            vector.then(|| query.iter().map(|x| x * 0.9).collect()),
        )
    };
    let dense: Vec<RankedCandidate> = (0..40).map(|i| candidate(i, false)).collect();
    let sparse: Vec<RankedCandidate> = (20..60).map(|i| candidate(i, true)).collect();
    c.bench_function("fusion (two rankings of 40, top 10)", |b| {
        b.iter_batched(
            || (dense.clone(), sparse.clone()),
            |(dense, sparse)| black_box(fuse(dense, sparse, &query, 10)),
            BatchSize::SmallInput,
        );
    });
}

fn benches(c: &mut Criterion) {
    let fixture = fixture();
    verification(c, &fixture);
    chunking(c);
    answers(c, &fixture);
    index(c);
}

criterion_group! {
    name = micro;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = benches
}
criterion_main!(micro);
