//! A real `docent-worker` process is killed (SIGKILL) in the middle of a document; a second one
//! takes the job over once the first one's lease runs out, and is itself stopped with SIGTERM in
//! the middle (it hands the job back and exits cleanly); a third finishes it. The document ends
//! `ready`, with exactly one vector per chunk and no job left behind. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use docent_app::{Config, bootstrap};
use docent_documents::jobs::JobQueue;
use docent_documents::ports::{DocumentRepo, VectorIndex};
use docent_documents::{Document, DocumentStatus, Upload};
use docent_identity::NewSessionInfo;
use docent_infrastructure::db::SqlStore;
use docent_infrastructure::testing::{Backend, TestDatabase, models_dir};
use docent_infrastructure::vector::EdgeIndex;
use docent_kernel::{Actor, DocumentId, OrgId, RequestMeta, SecretString, TenantCtx};

const BIN: &str = env!("CARGO_BIN_EXE_docent-worker");

/// A long document: a few hundred distinct paragraphs, dozens of chunks.
fn long_text() -> String {
    (0..600)
        .map(|i| {
            format!(
                "Paragraph {i}: the maintenance log for machine number {i} records that its filter was replaced, its belt tension was checked, and its operator signed the inspection sheet on day {} of the quarter.",
                i % 90 + 1
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn spawn_worker(config: &Config, database_url: &str, log: &Path) -> Child {
    Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCENT_DATA_DIR", &config.data_dir)
        .env("DOCENT_DATABASE__URL", database_url)
        .env("DOCENT_MODELS__DIR", models_dir())
        .env("DOCENT_WORKER__LEASE_SECS", "3")
        .env("DOCENT_WORKER__HEARTBEAT_SECS", "1")
        .env("DOCENT_WORKER__POLL_INTERVAL_MS", "100")
        .env("DOCENT_DOCUMENTS__EMBED_BATCH", "4")
        .env("DOCENT_LOG__FORMAT", "json")
        .arg("run")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

async fn document(store: &SqlStore, org: OrgId, id: DocumentId) -> Document {
    DocumentRepo::get(store, org, id).await.unwrap().unwrap()
}

async fn wait_for(
    store: &SqlStore,
    org: OrgId,
    id: DocumentId,
    what: &str,
    log: &Path,
    done: impl Fn(&Document) -> bool,
) -> Document {
    let started = Instant::now();
    loop {
        let current = document(store, org, id).await;
        if done(&current) {
            return current;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "timed out waiting for {what}: {current:?}\nworker log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sigterm(mut child: Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("docent-worker did not stop on SIGTERM");
}

async fn a_killed_worker_s_job_is_finished_by_another(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: data_dir.path().to_path_buf(),
        ..Config::default()
    };
    config.models.dir = Some(models_dir());
    config.database.url = Some(SecretString::from(database.url.clone()));
    config.database.max_connections = 3;

    // Seed through the services, then let go of the data directory for the workers.
    let (org, id, store) = {
        let services = bootstrap(&config, true).await.unwrap();
        let (user, _) = services
            .identity
            .signup(
                "crash@example.com",
                &SecretString::from("correct horse battery"),
                "Crash Test",
                NewSessionInfo::default(),
            )
            .await
            .unwrap();
        let org = services
            .tenancy
            .create_org(user.id, "Crash", &RequestMeta::default())
            .await
            .unwrap()
            .org
            .id;
        let tenant = TenantCtx::new(org, Actor::User(user.id));
        let uploaded = services
            .documents
            .upload(
                &tenant,
                Upload {
                    bytes: long_text().into_bytes(),
                    file_name: Some("maintenance.txt".into()),
                    title: None,
                    tags: vec!["ops".into()],
                    allow_duplicate: false,
                },
            )
            .await
            .unwrap();
        (org, uploaded.id, services.store.clone())
    };

    let logs = data_dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let (first_log, second_log, third_log) = (
        logs.join("first.log"),
        logs.join("second.log"),
        logs.join("third.log"),
    );
    let mut first = spawn_worker(&config, &database.url, &first_log);
    let midway = wait_for(
        &store,
        org,
        id,
        "the first worker to get going",
        &first_log,
        |d| d.status == DocumentStatus::Processing && d.progress.chunks_done >= 8,
    )
    .await;
    assert!(
        midway.progress.chunks_done < midway.progress.chunks_total,
        "the document was too short to kill the worker mid-job: {midway:?}"
    );
    first.kill().unwrap(); // SIGKILL: no chance to release anything.
    first.wait().unwrap();
    let orphaned = document(&store, org, id).await;
    assert_eq!(orphaned.status, DocumentStatus::Processing, "{orphaned:?}");

    // The second worker takes the job over once the lease has run out; SIGTERM in the middle
    // makes it stop at the next batch, hand the job back and exit cleanly.
    let second = spawn_worker(&config, &database.url, &second_log);
    let started = Instant::now();
    while !std::fs::read_to_string(&second_log)
        .unwrap_or_default()
        .contains("job started")
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the second worker never took the job over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = sigterm(second);
    assert!(
        status.success(),
        "SIGTERM should stop the worker cleanly: {status}"
    );
    let second_log_text = std::fs::read_to_string(&second_log).unwrap();
    assert!(
        second_log_text.contains("job interrupted; handed back"),
        "{second_log_text}"
    );
    assert!(
        second_log_text.contains("worker stopped"),
        "{second_log_text}"
    );
    let handed_back = document(&store, org, id).await;
    assert_eq!(
        handed_back.status,
        DocumentStatus::Queued,
        "{handed_back:?}"
    );

    // A third worker starts on it at once (a released job has no lease to wait out).
    let third = spawn_worker(&config, &database.url, &third_log);
    let ready = wait_for(
        &store,
        org,
        id,
        "the third worker to finish",
        &third_log,
        |d| matches!(d.status, DocumentStatus::Ready | DocumentStatus::Failed),
    )
    .await;
    assert_eq!(ready.status, DocumentStatus::Ready, "{ready:?}");
    assert!(ready.chunk_count > 8);
    assert_eq!(ready.progress.chunks_done, ready.chunk_count);
    assert!(sigterm(third).success());

    // Exactly one chunk row and one vector per chunk; nothing left in the queue.
    let chunks = store.chunks(org, id, None, 10_000).await.unwrap();
    assert_eq!(chunks.len() as u32, ready.chunk_count);
    assert_eq!(JobQueue::pending(&store).await.unwrap(), 0);
    let index = EdgeIndex::open(
        &config.data_dir.join("vectors"),
        "all-MiniLM-L6-v2-qint8",
        384,
    )
    .unwrap();
    assert_eq!(
        index.count(org, id).await.unwrap(),
        u64::from(ready.chunk_count)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite() {
    a_killed_worker_s_job_is_finished_by_another(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres() {
    a_killed_worker_s_job_is_finished_by_another(Backend::Postgres).await;
}
