//! `./dev bench` (server): the release `docent-api` binary (`DOCENT_BENCH_BIN`) on the embedded
//! default, measured from outside, each figure against a baseline taken in the same run:
//!
//! 1. Cold start: from the spawn to `/readyz` answering 200 (the median of three fresh data
//!    directories; an absolute figure).
//! 2. Authenticated reads under wrk (its own process, 2 threads): `GET /v1/users/me` with a session
//!    token against a bare poem endpoint serving the same body at 16 connections, and at 16 and 64
//!    connections `GET /v1/users/me` (session) and `GET /v1/orgs/{org}/chatbots` (API key) against
//!    the server's own `/healthz`.
//! 3. Ingestion of the corpus in `DOCENT_BENCH_CORPUS` (git's HTML manual pages, which
//!    `scripts/bench` unpacks from Debian's git-doc), upload → every document ready, against the
//!    bare embedding model on the same chunk texts in batches of the same size.
//! 4. Resident memory: idle after start-up, and the peak while ingesting (absolute figures).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Row, get, peak_rss_mib, record, rss_mib, setup, start};
use docent_documents::chunk::indexed_text;
use docent_documents::ports::Embedder as _;
use docent_infrastructure::embedder::{LocalEmbedder, LocalModel};
use docent_infrastructure::testing::models_dir;
use poem::listener::TcpAcceptor;
use poem::web::Json;
use poem::{Route, Server, get as poem_get, handler};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

/// How long each wrk run lasts.
const WRK_SECONDS: u32 = 5;
/// The batch the pipeline embeds in (`documents.embed_batch`'s default).
const EMBED_BATCH: usize = 32;

/// What wrk measured.
struct Wrk {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn millis(value: &str) -> f64 {
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().unwrap();
    match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        other => panic!("wrk printed an unknown unit {other:?}"),
    }
}

/// wrk (2 threads) on `url` with `connections` for [`WRK_SECONDS`], after a one-second warm-up.
fn wrk(url: &str, connections: usize, header: Option<&str>) -> Wrk {
    let run = |seconds: u32| {
        let mut command = Command::new("wrk");
        command.args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
        ]);
        if let Some(header) = header {
            command.args(["-H", header]);
        }
        let output = command
            .arg(url)
            .output()
            .expect("wrk (apt-get install wrk)");
        assert!(output.status.success(), "wrk failed: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    run(1);
    let printed = run(WRK_SECONDS);
    assert!(
        !printed.contains("Non-2xx"),
        "{url} answered errors:\n{printed}"
    );
    let field = |prefix: &str| {
        printed
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {prefix:?} in wrk's output:\n{printed}"))
    };
    Wrk {
        per_second: field("Requests/sec:").parse().unwrap(),
        p50_ms: millis(&field("50%")),
        p99_ms: millis(&field("99%")),
    }
}

fn reads(run: &Wrk) -> String {
    format!("{:.0} req/s, p50 {:.2} ms", run.per_second, run.p50_ms)
}

#[handler]
fn bare_me() -> Json<Value> {
    Json(json!({
        "id": "01a2175b-f111-7672-8735-5343be24ef46",
        "email": "bench@example.com",
        "name": "Bench",
        "created_at": "2026-11-26T10:17:11.185326460+00:00",
        "disabled_at": null
    }))
}

/// A bare poem server on its own two-thread runtime, as a server process would run it.
fn bare_server() -> String {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            sender
                .send(format!("http://{}/me", listener.local_addr().unwrap()))
                .unwrap();
            let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
            Server::new_with_acceptor(acceptor)
                .run(Route::new().at("/me", poem_get(bare_me)))
                .await
                .unwrap();
        });
    });
    receiver.recv().unwrap()
}

async fn cold_start(binary: &str) -> Duration {
    let client = reqwest::Client::new();
    let mut runs = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let server = start(binary, &[]);
        loop {
            if let Ok(response) = client.get(format!("{}/readyz", server.addr)).send().await
                && response.status().is_success()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        runs.push(started.elapsed());
    }
    common::median(runs)
}

async fn http_reads(base: &str, token: &str, org: &str) {
    let client = reqwest::Client::new();
    let (status, key) = common::post(
        &client,
        format!("{base}/v1/orgs/{org}/api-keys"),
        token,
        json!({"name": "bench", "scopes": ["chatbots:read"]}),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().unwrap().to_owned();
    let session = format!("Authorization: Bearer {token}");
    let keyed = format!("X-Api-Key: {key}");
    let me = format!("{base}/v1/users/me");
    let chatbots = format!("{base}/v1/orgs/{org}/chatbots");
    let healthz = format!("{base}/healthz");
    let bare_url = bare_server();

    let bare = wrk(&bare_url, 16, None);
    let docent = wrk(&me, 16, Some(&session));
    let ratio = docent.per_second / bare.per_second;
    record(&Row {
        figure: "GET /v1/users/me (session) vs a bare poem endpoint, 16 connections",
        measured: reads(&docent),
        baseline: reads(&bare),
        result: format!("{ratio:.2}×"),
        target: "≥ 0.5×",
        met: ratio >= 0.5,
    });
    for connections in [16, 64] {
        let health = wrk(&healthz, connections, None);
        for (figure, url, header) in [
            ("GET /v1/users/me (session) vs /healthz", &me, &session),
            ("GET …/chatbots (API key) vs /healthz", &chatbots, &keyed),
        ] {
            let run = wrk(url, connections, Some(header));
            let ratio = run.per_second / health.per_second;
            record(&Row {
                figure: &format!("{figure}, {connections} connections"),
                measured: reads(&run),
                baseline: reads(&health),
                result: format!("{ratio:.2}× (p99 {:.2} ms)", run.p99_ms),
                target: "≥ 0.5×",
                met: ratio >= 0.5,
            });
        }
    }
}

/// Every item of a paged listing at `url` (which has a query string already), page after page.
async fn all_pages(client: &reqwest::Client, url: &str, token: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_url = match &cursor {
            Some(cursor) => format!("{url}&cursor={cursor}"),
            None => url.to_owned(),
        };
        let page = get(client, page_url, token).await;
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

/// Every document of `org`.
async fn documents(client: &reqwest::Client, base: &str, token: &str, org: &str) -> Vec<Value> {
    all_pages(
        client,
        &format!("{base}/v1/orgs/{org}/documents?limit=100"),
        token,
    )
    .await
}

/// The texts the pipeline embedded for a document: its chunks with its title and section.
async fn indexed_texts(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    org: &str,
    document: &Value,
) -> Vec<String> {
    let id = document["id"].as_str().unwrap();
    let title = document["title"].as_str().unwrap();
    let url = format!("{base}/v1/orgs/{org}/documents/{id}/chunks?limit=100");
    all_pages(client, &url, token)
        .await
        .iter()
        .map(|chunk| {
            indexed_text(
                Some(title),
                chunk["section"].as_str(),
                chunk["text"].as_str().unwrap(),
            )
        })
        .collect()
}

async fn ingestion(base: &str, token: &str, org: &str, pid: u32, corpus: &[PathBuf]) {
    let client = reqwest::Client::new();
    // Resident memory is sampled while the corpus goes in (VmHWM catches what falls between).
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0.0_f64;
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib(pid));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };
    let started = Instant::now();
    for path in corpus {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let form = Form::new().part(
            "file",
            Part::bytes(std::fs::read(path).unwrap())
                .file_name(name)
                .mime_str("text/html")
                .unwrap(),
        );
        let response = client
            .post(format!("{base}/v1/orgs/{org}/documents"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            202,
            "{}",
            response.text().await.unwrap()
        );
    }
    let listed = loop {
        let listed = documents(&client, base, token, org).await;
        let pending = listed
            .iter()
            .filter(|d| matches!(d["status"].as_str(), Some("queued" | "processing")))
            .count();
        if pending == 0 {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let sampled_peak = sampler.join().unwrap();
    let peak = peak_rss_mib(pid).max(sampled_peak);
    let failed: Vec<&Value> = listed
        .iter()
        .filter(|d| d["status"].as_str() != Some("ready"))
        .collect();
    assert!(failed.is_empty(), "documents failed: {failed:?}");
    let chunks: u64 = listed
        .iter()
        .map(|d| d["chunk_count"].as_u64().unwrap())
        .sum();
    let docent = chunks as f64 / took.as_secs_f64();

    // The bare model on the same texts, in the pipeline's batches, after a warm-up.
    let mut texts = Vec::new();
    for document in &listed {
        texts.push(indexed_texts(&client, base, token, org, document).await);
    }
    let embedder = LocalEmbedder::load(&LocalModel::default_in(&models_dir())).unwrap();
    embedder.embed(vec!["warm up".to_owned()]).await.unwrap();
    let started = Instant::now();
    for document in &texts {
        for batch in document.chunks(EMBED_BATCH) {
            embedder.embed(batch.to_vec()).await.unwrap();
        }
    }
    let bare = chunks as f64 / started.elapsed().as_secs_f64();
    let ratio = docent / bare;
    record(&Row {
        figure: &format!(
            "ingestion upload → ready ({} HTML pages, {chunks} chunks) vs the bare embedder",
            listed.len()
        ),
        measured: format!("{docent:.1} chunks/s ({:.1} s)", took.as_secs_f64()),
        baseline: format!("{bare:.1} chunks/s"),
        result: format!("{ratio:.2}×"),
        target: "≥ 0.90×",
        met: ratio >= 0.9,
    });
    record(&Row {
        figure: "resident memory, peak while ingesting the HTML pages",
        measured: format!("{peak:.0} MiB"),
        baseline: "—".to_owned(),
        result: format!("{peak:.0} MiB"),
        target: "≤ 500 MB",
        met: peak * 1.048_576 <= 500.0,
    });
}

/// The corpus: every `.html` file of `DOCENT_BENCH_CORPUS`, by name.
fn corpus() -> Vec<PathBuf> {
    let dir = std::env::var("DOCENT_BENCH_CORPUS")
        .expect("DOCENT_BENCH_CORPUS: a directory of HTML pages (`scripts/bench` unpacks git-doc)");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no HTML pages in {dir}");
    files
}

#[tokio::main]
async fn main() {
    let binary = std::env::var("DOCENT_BENCH_BIN")
        .expect("DOCENT_BENCH_BIN: the release docent-api binary (`scripts/bench` sets it)");
    let corpus = corpus();
    println!("docent-api from outside ({binary})");

    let cold = cold_start(&binary).await;
    record(&Row {
        figure: "cold start to /readyz 200 (embedded default, model load included)",
        measured: format!("{:.2} s", cold.as_secs_f64()),
        baseline: "—".to_owned(),
        result: format!("{:.2} s", cold.as_secs_f64()),
        target: "≤ 0.8 s",
        met: cold <= Duration::from_millis(800),
    });

    let server = start(&binary, &[]);
    let target = setup(&server.addr, "bench@example.com").await;
    // Idle: started, one organization set up, a moment's rest.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_mib(server.pid());
    record(&Row {
        figure: "resident memory, idle after start-up",
        measured: format!("{idle:.0} MiB"),
        baseline: "—".to_owned(),
        result: format!("{idle:.0} MiB"),
        target: "≤ 150 MB",
        met: idle * 1.048_576 <= 150.0,
    });
    http_reads(&server.addr, &target.token, &target.org).await;
    ingestion(
        &server.addr,
        &target.token,
        &target.org,
        server.pid(),
        &corpus,
    )
    .await;
}
