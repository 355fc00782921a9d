//! `just soak`: the real `docent-api` binary (release, the embedded default: SQLite, in-process
//! Qdrant, the local embedding model, the built-in extractive answerer) under a mixed load from 64
//! concurrent connections of this process — reads, searches, uploads and answers — for
//! `DOCENT_SOAK_SECS` (default 300). It asserts zero errors and that the server's resident memory,
//! sampled every few seconds, stays flat after the warm-up, prints p50/p99 per kind of request, and
//! writes the results into `docs/reliability.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Target, percentile, post, rss_mib, start};
use serde_json::json;

const CONNECTIONS: usize = 64;
/// Resident memory is sampled this often.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

const TEXTS: [&str; 6] = [
    "Refunds are paid within fourteen days of a return, to the card that paid.",
    "The warehouse opens at six in the morning and closes at ten at night.",
    "Employees get twenty-five days of paid leave a year, plus public holidays.",
    "The lamp's bulb is replaced after two thousand hours of use.",
    "Support answers by e-mail within one working day, by phone at once.",
    "Parcels over thirty kilograms travel by freight, not by post.",
];

/// The common organization, with [`TEXTS`] as documents.
async fn setup(base: &str) -> Target {
    let target = common::setup(base, "soak@example.com").await;
    let client = reqwest::Client::new();
    for text in TEXTS {
        post(
            &client,
            format!("{base}/v1/orgs/{}/documents/text", target.org),
            &target.token,
            json!({"title": text.split(' ').take(3).collect::<Vec<_>>().join(" "), "text": text}),
        )
        .await;
    }
    target
}

type Latencies = Arc<Mutex<BTreeMap<&'static str, Vec<Duration>>>>;

/// One connection's loop: of every ten requests, five reads, two searches, two answers and one
/// upload.
async fn connection(
    id: usize,
    target: Target,
    stop: Arc<AtomicBool>,
    latencies: Latencies,
    errors: Arc<AtomicU64>,
) {
    let client = reqwest::Client::new();
    let Target {
        base,
        token,
        org,
        chatbot,
    } = target;
    let (_, conversation) = post(
        &client,
        format!("{base}/v1/orgs/{org}/chatbots/{chatbot}/conversations"),
        &token,
        json!({}),
    )
    .await;
    let conversation = conversation["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut step = id;
    while !stop.load(Ordering::Relaxed) {
        step += 1;
        let started = Instant::now();
        let (kind, ok) = match step % 10 {
            0..=4 => {
                let path = if step.is_multiple_of(2) {
                    format!("{base}/v1/orgs/{org}/documents?limit=20")
                } else {
                    format!("{base}/v1/orgs/{org}/chatbots/{chatbot}")
                };
                let response = client.get(path).bearer_auth(&token).send().await;
                let ok = matches!(&response, Ok(r) if r.status().is_success());
                if let Ok(r) = response {
                    let _ = r.bytes().await;
                }
                ("read", ok)
            }
            5 | 6 => {
                let (status, _) = post(
                    &client,
                    format!("{base}/v1/orgs/{org}/search"),
                    &token,
                    json!({"query": TEXTS[step % TEXTS.len()]}),
                )
                .await;
                ("search", status == 200)
            }
            7 | 8 => {
                let (status, _) = post(
                    &client,
                    format!(
                        "{base}/v1/orgs/{org}/chatbots/{chatbot}/conversations/{conversation}/messages"
                    ),
                    &token,
                    json!({"content": "When are refunds paid?"}),
                )
                .await;
                ("answer", status == 200)
            }
            _ => {
                let (status, _) = post(
                    &client,
                    format!("{base}/v1/orgs/{org}/documents/text?allow_duplicate=true"),
                    &token,
                    json!({"title": format!("Note {id}-{step}"), "text": format!("{} ({id}-{step})", TEXTS[step % TEXTS.len()])}),
                )
                .await;
                ("upload", status == 202)
            }
        };
        if ok {
            latencies
                .lock()
                .unwrap()
                .entry(kind)
                .or_default()
                .push(started.elapsed());
        } else {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[tokio::main]
async fn main() {
    let binary = std::env::var("DOCENT_SOAK_BIN").expect(
        "DOCENT_SOAK_BIN: the release docent-api binary (`just soak` builds it and sets this)",
    );
    let seconds: u64 = std::env::var("DOCENT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let server = start(&binary, &[]);
    let pid = server.child.id();
    let target = setup(&server.addr).await;
    println!(
        "soak: {CONNECTIONS} connections for {seconds} s against {}",
        server.addr
    );

    let stop = Arc::new(AtomicBool::new(false));
    let latencies: Latencies = Arc::default();
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for id in 0..CONNECTIONS {
        tasks.push(tokio::spawn(connection(
            id,
            target.clone(),
            stop.clone(),
            latencies.clone(),
            errors.clone(),
        )));
    }
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(SAMPLE_EVERY).await;
        let rss = rss_mib(pid);
        samples.push((started.elapsed().as_secs(), rss));
        println!("  {:>4} s  RSS {rss:7.1} MiB", started.elapsed().as_secs());
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }

    let latencies = latencies.lock().unwrap().clone();
    let errors = errors.load(Ordering::Relaxed);
    let mut table = String::from("| request | count | p50 | p99 |\n|---|---:|---:|---:|\n");
    let mut total = 0;
    for (kind, mut times) in latencies {
        times.sort();
        total += times.len();
        table.push_str(&format!(
            "| {kind} | {} | {:.1} ms | {:.1} ms |\n",
            times.len(),
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.99).as_secs_f64() * 1000.0
        ));
    }
    // Flat after the warm-up: the last third's mean within 15 % of the middle third's.
    let third = samples.len() / 3;
    let mean = |s: &[(u64, f64)]| s.iter().map(|(_, r)| r).sum::<f64>() / s.len().max(1) as f64;
    let middle = mean(&samples[third..2 * third]);
    let last = mean(&samples[2 * third..]);
    let peak = samples.iter().map(|(_, r)| *r).fold(0.0, f64::max);
    let summary = format!(
        "{total} requests in {seconds} s ({:.0}/s) from {CONNECTIONS} connections, {errors} errors; \
         RSS after warm-up {middle:.0} MiB, at the end {last:.0} MiB (peak {peak:.0} MiB)",
        total as f64 / seconds as f64
    );
    println!("\n{table}\n{summary}");
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or_default().trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let rss: Vec<String> = samples
        .iter()
        .map(|(at, rss)| format!("{at} s: {rss:.0}"))
        .collect();
    let report = format!(
        "<!-- soak:begin -->\nLast run: {}, {cores} cores ({machine}), release build, `DOCENT_SOAK_SECS={seconds}`.\n\n{table}\n{summary}.\n\nRSS samples (MiB): {}.\n<!-- soak:end -->",
        chrono::Utc::now().format("%Y-%m-%d"),
        rss.join(", ")
    );
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reliability.md");
    if let Ok(doc) = std::fs::read_to_string(path)
        && let (Some(begin), Some(end)) = (
            doc.find("<!-- soak:begin -->"),
            doc.find("<!-- soak:end -->"),
        )
    {
        let updated = format!(
            "{}{report}{}",
            &doc[..begin],
            &doc[end + "<!-- soak:end -->".len()..]
        );
        std::fs::write(path, updated).unwrap();
        println!("written to docs/reliability.md");
    }
    assert_eq!(errors, 0, "requests failed");
    assert!(
        last <= middle * 1.15 + 16.0,
        "resident memory kept growing: {middle:.0} MiB after the warm-up, {last:.0} MiB at the end"
    );
}
