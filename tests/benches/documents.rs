//! `./dev bench` (documents): retrieval at 10^5 chunks, each figure against a baseline measured
//! in the same run on the same machine.
//!
//! 1. The whole search request: `POST /v1/orgs/{org}/search` (hybrid, top 5) over HTTP with a
//!    session, on the embedded default with 10^5 chunks of ten organizations in the in-process
//!    Qdrant index (the searching organization's 10^4 also in SQLite), against the bare parts the
//!    request cannot do without: embedding the query with the same model, and the same hybrid
//!    search in the same index, called directly. Alternating, medians.
//! 2. The index alone: an org-filtered dense search once the HNSW graph is built, against an
//!    exact scan of that organization's vectors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Row, percentile, record};
use docent_documents::ports::{DocumentRepo as _, IndexPoint, VectorIndex as _, VectorQuery};
use docent_documents::{SearchMode, StoredChunk, Upload};
use docent_infrastructure::testing::models_dir;
use docent_infrastructure::vector::EdgeIndex;
use docent_kernel::{DocumentId, OrgId};
use rand::{Rng as _, SeedableRng as _};
use serde_json::json;

const POINTS: usize = 100_000;
const ORGS: usize = 10;
const QUERIES: usize = 200;
const DIMENSIONS: usize = 384;
const PER_DOCUMENT: usize = 1000;
const WORDS: [&str; 16] = [
    "valve",
    "pressure",
    "report",
    "shift",
    "line",
    "operator",
    "schedule",
    "check",
    "pump",
    "filter",
    "supervisor",
    "reading",
    "deviation",
    "maintenance",
    "log",
    "run",
];

fn sentence(rng: &mut rand::rngs::StdRng, words: usize) -> String {
    (0..words)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole search request against its bare parts.
async fn whole_request() {
    let dir = tempfile::tempdir().unwrap();
    let (services, signed) =
        common::services_with_user(&common::embedded_config(dir.path()), "bench@example.com").await;
    let common::SignedUp {
        token, org, tenant, ..
    } = signed;

    // The organization's documents, made ready by hand (no worker runs): chunk rows in SQLite and
    // points in the index. Nine other organizations' points fill the index to 10^5.
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let started = Instant::now();
    let now = chrono::Utc::now();
    for o in 0..ORGS {
        let owner = if o == 0 { org } else { OrgId::generate() };
        for d in 0..(POINTS / ORGS / PER_DOCUMENT) {
            let document = if o == 0 {
                let id = services
                    .documents
                    .upload(
                        &tenant,
                        Upload {
                            bytes: format!("document {d}").into_bytes(),
                            file_name: Some(format!("manual-{d}.txt")),
                            title: None,
                            tags: Vec::new(),
                            allow_duplicate: true,
                        },
                    )
                    .await
                    .unwrap()
                    .id;
                services.store.start_processing(org, id, now).await.unwrap();
                id
            } else {
                DocumentId::generate()
            };
            let texts: Vec<String> = (0..PER_DOCUMENT).map(|_| sentence(&mut rng, 24)).collect();
            let points: Vec<IndexPoint> = texts
                .iter()
                .enumerate()
                .map(|(ordinal, text)| IndexPoint {
                    document_id: document,
                    ordinal: u32::try_from(ordinal).unwrap(),
                    tags: Vec::new(),
                    vector: unit(&mut rng),
                    text: text.clone(),
                })
                .collect();
            services.index.upsert(owner, points).await.unwrap();
            if o == 0 {
                let chunks: Vec<StoredChunk> = texts
                    .into_iter()
                    .enumerate()
                    .map(|(ordinal, text)| StoredChunk {
                        document_id: document,
                        ordinal: u32::try_from(ordinal).unwrap(),
                        char_start: 0,
                        char_end: text.len() as u64,
                        text,
                        page: None,
                        section: None,
                        token_count: 30,
                    })
                    .collect();
                services
                    .store
                    .store_chunks(org, document, &chunks)
                    .await
                    .unwrap();
                let model = services.embedder.model_id().to_owned();
                let total = u32::try_from(PER_DOCUMENT).unwrap();
                assert!(
                    services
                        .store
                        .finish(org, document, total, &model, now)
                        .await
                        .unwrap()
                );
            }
        }
    }
    let loaded = started.elapsed();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(docent_http_api::serve(
        services.clone(),
        listener,
        std::future::pending::<()>(),
    ));
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/orgs/{org}/search");
    let queries: Vec<String> = (0..QUERIES).map(|_| sentence(&mut rng, 6)).collect();
    let (mut whole, mut bare) = (Vec::new(), Vec::new());
    // One warm-up of each, then alternating.
    for (i, query) in std::iter::once(&queries[0]).chain(&queries).enumerate() {
        let started = Instant::now();
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"query": query, "top_k": 5}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["items"].as_array().map(Vec::len), Some(5), "{body}");
        let took = started.elapsed();

        let started = Instant::now();
        let vector = services
            .embedder
            .embed(vec![query.clone()])
            .await
            .unwrap()
            .remove(0);
        let hits = services
            .index
            .search(
                org,
                VectorQuery {
                    vector,
                    text: query.clone(),
                    limit: 5,
                    tags: None,
                    document_ids: None,
                    mode: SearchMode::Hybrid,
                },
            )
            .await
            .unwrap();
        assert_eq!(hits.len(), 5);
        if i > 0 {
            bare.push(started.elapsed());
            whole.push(took);
        }
    }
    whole.sort();
    bare.sort();
    let (whole50, bare50) = (percentile(&whole, 0.5), percentile(&bare, 0.5));
    let ratio = whole50.as_secs_f64() / bare50.as_secs_f64();
    println!("  ({POINTS} chunks of {ORGS} organizations loaded in {loaded:.1?})");
    record(&Row {
        figure: "POST …/search p50 at 10^5 chunks, whole request vs bare query embedding + index search",
        measured: format!(
            "p50 {:.2} ms, p99 {:.2} ms",
            ms(whole50),
            ms(percentile(&whole, 0.99))
        ),
        baseline: format!("p50 {:.2} ms", ms(bare50)),
        result: format!("{ratio:.2}×"),
        target: "≤ 1.25×",
        met: ratio <= 1.25,
    });
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn unit(rng: &mut rand::rngs::StdRng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIMENSIONS)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

async fn retrieval() {
    let dir = tempfile::tempdir().unwrap();
    let index = EdgeIndex::open(dir.path(), "bench", DIMENSIONS).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let orgs: Vec<OrgId> = (0..ORGS).map(|_| OrgId::generate()).collect();
    let mut own: Vec<Vec<f32>> = Vec::new();
    let started = Instant::now();
    for (o, org) in orgs.iter().enumerate() {
        for batch in 0..(POINTS / ORGS / 1000) {
            let document = DocumentId::generate();
            let points: Vec<IndexPoint> = (0..1000)
                .map(|ordinal| {
                    let vector = unit(&mut rng);
                    if o == 0 {
                        own.push(vector.clone());
                    }
                    IndexPoint {
                        document_id: document,
                        ordinal,
                        tags: vec![format!("t{}", batch % 3)],
                        vector,
                        text: sentence(&mut rng, 12),
                    }
                })
                .collect();
            index.upsert(*org, points).await.unwrap();
        }
    }
    let loaded = started.elapsed();
    let started = Instant::now();
    index.optimize().await.unwrap();
    let optimized = started.elapsed();

    let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| unit(&mut rng)).collect();
    let mut searched = Vec::with_capacity(QUERIES);
    for query in &queries {
        let started = Instant::now();
        let hits = index
            .search(
                orgs[0],
                VectorQuery {
                    vector: query.clone(),
                    text: String::new(),
                    limit: 5,
                    tags: None,
                    document_ids: None,
                    mode: docent_documents::SearchMode::Dense,
                },
            )
            .await
            .unwrap();
        searched.push(started.elapsed());
        assert_eq!(hits.len(), 5);
    }
    let mut scanned = Vec::with_capacity(QUERIES);
    for query in &queries {
        let started = Instant::now();
        let mut scores: Vec<f32> = own
            .iter()
            .map(|v| v.iter().zip(query).map(|(a, b)| a * b).sum())
            .collect();
        scores.sort_by(|a, b| b.total_cmp(a));
        std::hint::black_box(&scores[..5]);
        scanned.push(started.elapsed());
    }
    searched.sort();
    scanned.sort();
    let (index50, scan50) = (percentile(&searched, 0.5), percentile(&scanned, 0.5));
    println!("  (loaded in {loaded:.1?}, HNSW built in {optimized:.1?})");
    record(&Row {
        figure: "the index alone: org-filtered dense top 5 at 10^5 chunks (HNSW) vs an exact scan",
        measured: format!(
            "p50 {:.2} ms, p99 {:.2} ms",
            ms(index50),
            ms(percentile(&searched, 0.99))
        ),
        baseline: format!("p50 {:.2} ms ({} vectors)", ms(scan50), own.len()),
        result: format!("{:.2}×", index50.as_secs_f64() / scan50.as_secs_f64()),
        target: "< 1×",
        met: index50 < scan50,
    });
}

/// The machine's estimated peak in fp32 FLOP/s: its cores × its clock × 32 FLOP per cycle (two
/// 256-bit fused multiply-add units, 8 lanes × 2 operations each, as on every x86-64 core with
/// AVX2 and FMA since Haswell and Zen 2; AVX-512 on Zen 4 runs on the same two 256-bit units).
fn peak_flops() -> (f64, String) {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mhz = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("cpu MHz"))
                .and_then(|l| l.split(':').nth(1))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(2000.0);
    let peak = cores as f64 * mhz * 1e6 * 32.0;
    (
        peak,
        format!("{cores} cores × {mhz:.0} MHz × 32 FLOP/cycle"),
    )
}

/// all-MiniLM-L6-v2's FLOPs for one token of a sequence of `length` tokens: per layer (6, width
/// 384, feed-forward 1 536) 2 × (4 × 384² + 2 × 384 × 1 536) for the projections and the
/// feed-forward, and 2 × 2 × `length` × 384 for attention's scores and weighted sum.
fn flops_per_token(length: f64) -> f64 {
    let (layers, width, inner) = (6.0, 384.0, 1536.0);
    layers * (2.0 * (4.0 * width * width + 2.0 * width * inner) + 4.0 * length * width)
}

/// Tokens per second of the bare model on chunks of about `max_tokens`, against the peak.
async fn embedder_efficiency() {
    use docent_documents::chunk::Chunker;
    use docent_documents::extract::{Limits, MediaType, extract_as};
    use docent_documents::ports::Embedder as _;
    use docent_infrastructure::embedder::{LocalEmbedder, LocalModel};

    let model = LocalModel::default_in(&models_dir());
    let embedder = LocalEmbedder::load(&model).unwrap();
    let tokenizer = std::fs::read(model.tokenizer()).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let text: String = (0..3000)
        .map(|_| format!("{}. ", sentence(&mut rng, 14)))
        .collect();
    let extracted = extract_as(MediaType::Text, text.as_bytes(), &Limits::default()).unwrap();
    let (peak, described) = peak_flops();
    embedder.embed(vec!["warm up".to_owned()]).await.unwrap();
    for (label, max_tokens) in [("short", 32), ("long", 250)] {
        let chunks = Chunker::new(&tokenizer, max_tokens, 0)
            .unwrap()
            .chunk(&extracted);
        let chunks = &chunks[..chunks.len().min(1024)];
        // Each text also carries the two special tokens.
        let tokens: usize = chunks.iter().map(|c| c.token_count + 2).sum();
        let length = tokens as f64 / chunks.len() as f64;
        let texts: Vec<String> = chunks.iter().map(|c| c.text.clone()).collect();
        let started = Instant::now();
        for batch in texts.chunks(256) {
            embedder.embed(batch.to_vec()).await.unwrap();
        }
        let per_second = tokens as f64 / started.elapsed().as_secs_f64();
        let share = per_second * flops_per_token(length) / peak;
        record(&Row {
            figure: &format!(
                "embedder efficiency, {label} chunks ({} of {length:.0} tokens on average)",
                chunks.len()
            ),
            measured: format!(
                "{per_second:.0} tokens/s ({:.1} GFLOP/s)",
                per_second * flops_per_token(length) / 1e9
            ),
            baseline: format!("peak {:.0} GFLOP/s ({described})", peak / 1e9),
            result: format!("{:.1} % of peak", share * 100.0),
            target: "reported",
            met: true,
        });
    }
}

#[tokio::main]
async fn main() {
    whole_request().await;
    retrieval().await;
    embedder_efficiency().await;
}
