//! `just bench`: authenticated request throughput of the real API against a bare poem endpoint
//! serving a JSON body of the same shape, measured in the same run on the same machine, printed as
//! a ratio. The API path is `GET /v1/users/me` with a session token: request middleware, token
//! parsing and hashing, the session-and-user lookup in SQLite, and JSON rendering.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use docent_app::{Config, bootstrap};
use docent_infrastructure::config::MailTransport;
use docent_kernel::SecretString;
use poem::listener::TcpAcceptor;
use poem::web::Json;
use poem::{Route, Server, get, handler};
use serde_json::{Value, json};

const CONCURRENCY: usize = 16;
const WARM_UP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);

struct Run {
    requests: usize,
    p50: Duration,
    p99: Duration,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.requests as f64 / MEASURE.as_secs_f64()
    }
}

/// Hammers `url` from `CONCURRENCY` keep-alive connections for `MEASURE` after a warm-up.
async fn load(url: String, token: Option<String>) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        let (measuring, stop) = (measuring.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let mut request = client.get(&url);
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.unwrap();
                if measuring.load(Ordering::Relaxed) {
                    latencies.push(started.elapsed());
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(WARM_UP).await;
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(MEASURE).await;
    measuring.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Run {
        requests: latencies.len(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

#[handler]
fn bare_me() -> Json<Value> {
    Json(json!({
        "id": "01a2175b-f111-7672-8735-5343be24ef46",
        "email": "bench@example.com",
        "name": "Bench",
        "created_at": "2026-11-26T10:17:11.185326460+00:00"
    }))
}

#[tokio::main]
async fn main() {
    // The bare endpoint.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}/me", listener.local_addr().unwrap());
    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(Route::new().at("/me", get(bare_me))));

    // The real API on the embedded default.
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.mail.transport = MailTransport::File;
    config.log.filter = "warn".to_owned();
    config.documents.extractor_program = Some(env!("CARGO_BIN_EXE_docent-extract").into());
    config.database.url = Some(SecretString::from(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    )));
    let services = bootstrap(&config, true).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(docent_http_api::serve(
        services,
        listener,
        std::future::pending::<()>(),
    ));
    let signup: Value = reqwest::Client::new()
        .post(format!("{base}/v1/auth/signup"))
        .json(&json!({"email": "bench@example.com", "password": "correct horse battery", "name": "Bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["session"]["token"].as_str().unwrap().to_owned();

    println!("authenticated request throughput, {CONCURRENCY} connections, {MEASURE:?} each");
    let bare = load(bare_url, None).await;
    let docent = load(format!("{base}/v1/users/me"), Some(token)).await;
    for (name, run) in [
        ("bare poem endpoint", &bare),
        ("docent GET /v1/users/me", &docent),
    ] {
        println!(
            "  {name:<26} {:>9.0} req/s   p50 {:>7.2?}   p99 {:>7.2?}",
            run.per_second(),
            run.p50,
            run.p99
        );
    }
    println!(
        "  ratio docent / bare: {:.2} of the throughput, {:.2}x the p50 latency",
        docent.per_second() / bare.per_second(),
        docent.p50.as_secs_f64() / bare.p50.as_secs_f64()
    );
}
