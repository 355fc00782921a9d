//! `just bench` (documents): two measurements, each printed as a ratio against a baseline measured
//! in the same run on the same machine.
//!
//! 1. Ingestion throughput: a document uploaded through the service and processed by the worker
//!    (extraction, chunking, embedding, the vector index, chunk rows in SQLite) against the bare
//!    embedder embedding the same chunks in the same batches.
//! 2. Retrieval latency at 10^5 chunks: an org-filtered search in the in-process Qdrant index over
//!    100 000 points of ten organizations, against an exact scan of that organization's vectors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use docent_app::{Config, bootstrap};
use docent_documents::ports::{DocumentRepo as _, IndexPoint, VectorIndex as _, VectorQuery};
use docent_documents::{DocumentStatus, Upload};
use docent_identity::NewSessionInfo;
use docent_infrastructure::testing::models_dir;
use docent_infrastructure::vector::EdgeIndex;
use docent_kernel::{Actor, DocumentId, OrgId, RequestMeta, SecretString, TenantCtx};
use rand::{Rng as _, SeedableRng as _};

const POINTS: usize = 100_000;
const ORGS: usize = 10;
const QUERIES: usize = 200;
const DIMENSIONS: usize = 384;

fn document_text() -> String {
    (0..400)
        .map(|i| {
            format!(
                "Section {i}. The maintenance schedule for line {} requires the operator to check the pressure valve, log the reading, and report any deviation above {} percent to the shift supervisor before the next run.",
                i % 17,
                i % 9 + 1
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

async fn ingestion() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.models.dir = Some(models_dir());
    config.log.filter = "warn".to_owned();
    config.documents.extractor_program = Some(env!("CARGO_BIN_EXE_docent-extract").into());
    config.worker.poll_interval_ms = 10;
    config.database.url = Some(SecretString::from(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    )));
    let services = bootstrap(&config, true).await.unwrap();
    let (user, _) = services
        .identity
        .signup(
            "bench@example.com",
            &SecretString::from("correct horse battery"),
            "Bench",
            NewSessionInfo::default(),
        )
        .await
        .unwrap();
    let org = services
        .tenancy
        .create_org(user.id, "Bench", &RequestMeta::default())
        .await
        .unwrap()
        .org
        .id;
    let tenant = TenantCtx::new(org, Actor::User(user.id));

    // Warm the model up once, so neither side pays for the first inference.
    services
        .embedder
        .embed(vec!["warm up".to_owned()])
        .await
        .unwrap();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(services.worker("bench").run_until(async move {
        let _ = stopped.await;
    }));
    let started = Instant::now();
    let document = services
        .documents
        .upload(
            &tenant,
            Upload {
                bytes: document_text().into_bytes(),
                file_name: Some("manual.txt".into()),
                title: None,
                tags: Vec::new(),
                allow_duplicate: false,
            },
        )
        .await
        .unwrap();
    let ready = loop {
        let current = services.store.get(org, document.id).await.unwrap().unwrap();
        if current.status == DocumentStatus::Ready {
            break current;
        }
        assert_ne!(current.status, DocumentStatus::Failed, "{current:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let docent = started.elapsed();
    let _ = stop.send(());
    worker.await.unwrap();

    // The bare embedder on the very same chunks and batches.
    let chunks = services
        .store
        .chunks(org, document.id, None, 100_000)
        .await
        .unwrap();
    let texts: Vec<String> = chunks.into_iter().map(|c| c.text).collect();
    let started = Instant::now();
    for batch in texts.chunks(config.documents.embed_batch) {
        services.embedder.embed(batch.to_vec()).await.unwrap();
    }
    let bare = started.elapsed();

    let count = ready.chunk_count as f64;
    println!(
        "ingestion of one {}-chunk document ({} tokens per chunk at most)",
        ready.chunk_count, config.documents.chunk_tokens
    );
    println!(
        "  bare embedder               {:>8.1} chunks/s   ({bare:.2?})",
        count / bare.as_secs_f64()
    );
    println!(
        "  docent upload -> ready      {:>8.1} chunks/s   ({docent:.2?})",
        count / docent.as_secs_f64()
    );
    println!(
        "  ratio docent / bare: {:.2} of the throughput",
        bare.as_secs_f64() / docent.as_secs_f64()
    );
}

fn unit(rng: &mut rand::rngs::StdRng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIMENSIONS)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

async fn retrieval() {
    let dir = tempfile::tempdir().unwrap();
    let index = EdgeIndex::open(dir.path(), "bench", DIMENSIONS).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let orgs: Vec<OrgId> = (0..ORGS).map(|_| OrgId::generate()).collect();
    let words = [
        "valve", "pressure", "report", "shift", "line", "operator", "schedule", "check",
    ];
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
                        text: (0..12)
                            .map(|_| words[rng.random_range(0..words.len())])
                            .collect::<Vec<_>>()
                            .join(" "),
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
    println!(
        "retrieval over {POINTS} chunks of {ORGS} organizations ({DIMENSIONS} dimensions; loaded in {loaded:.2?}, HNSW built in {optimized:.2?})"
    );
    println!(
        "  exact scan of one org's {} vectors   p50 {:>8.2?}   p99 {:>8.2?}",
        own.len(),
        percentile(&scanned, 0.5),
        percentile(&scanned, 0.99)
    );
    println!(
        "  docent org-filtered search (top 5)   p50 {:>8.2?}   p99 {:>8.2?}",
        percentile(&searched, 0.5),
        percentile(&searched, 0.99)
    );
    println!(
        "  ratio docent / exact scan: {:.2}x the p50 latency",
        percentile(&searched, 0.5).as_secs_f64() / percentile(&scanned, 0.5).as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    ingestion().await;
    retrieval().await;
}
