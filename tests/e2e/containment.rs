//! Containment of hostile files and uploads: parsers that stay linear in their input, the
//! extraction sandbox (its deadline, its memory limit, its empty environment, nothing left running),
//! limits that are consistent at upload, and uploads refused before their body is read.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use docent_infrastructure::testing::Backend;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::documents::{settled, upload};
use crate::support::TestApp;

const PW: &str = "correct horse battery";

/// An owner and their organization.
async fn owner_and_org(app: &TestApp) -> (String, String) {
    let (_, owner) = app.signup("owner@example.com", PW).await;
    let org = app.create_org(&owner, "Contained").await;
    (owner, org)
}

/// Uploads `bytes` and waits until it is ready or failed: `(status or failed:code, seconds)`.
async fn outcome(
    app: &TestApp,
    owner: &str,
    org: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (String, f64) {
    let accepted = upload(app, owner, org, name, bytes, "?allow_duplicate=true")
        .await
        .expect(202);
    let started = Instant::now();
    let document = settled(app, owner, org, accepted["id"].as_str().unwrap()).await;
    let took = started.elapsed().as_secs_f64();
    let status = match document["status"].as_str().unwrap() {
        "failed" => format!("failed:{}", document["error"]["code"].as_str().unwrap()),
        other => other.to_owned(),
    };
    (status, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_html_costs_time_linear_in_its_size() {
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        config.worker.poll_interval_ms = 20;
    })
    .await;
    let (owner, org) = owner_and_org(&app).await;
    // `<html>` and then `<a` again and again, with no `>`: the nesting pre-scan used to look for
    // each tag's end to the end of the file.
    let hostile = |n: usize| format!("<html>{}", "<a".repeat(n)).into_bytes();
    let (small, small_took) = outcome(&app, &owner, &org, "small.html", hostile(80_000)).await;
    let (large, large_took) = outcome(&app, &owner, &org, "large.html", hostile(640_000)).await;
    assert_eq!(small, "failed:extract_error");
    assert_eq!(large, "failed:extract_error");
    // Eight times the input costs at most about ten times the time, not sixty-four (a second of
    // slack for process start-up and the worker's polling).
    assert!(
        large_took <= small_took * 10.0 + 1.0,
        "80 000 tags: {small_took:.2} s, 640 000 tags: {large_took:.2} s"
    );
}

/// The processes whose first argument is `program`, with their pid.
fn running(program: &Path) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
        if argv0 == program.as_os_str().as_encoded_bytes() {
            found.push(pid);
        }
    }
    found
}

/// A name of this test's own for the sandbox's binary (a link to it), so its children can be told
/// from every other test's.
fn own_sandbox(dir: &Path, name: &str) -> PathBuf {
    let link = dir.join(name);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_docent-extract"), &link).unwrap();
    link
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_extraction_is_stopped_at_its_deadline_and_nothing_keeps_running() {
    let links = tempfile::tempdir().unwrap();
    let sandbox = own_sandbox(links.path(), "sandbox-deadline");
    let program = sandbox.clone();
    let app = TestApp::start_with(Backend::Sqlite, move |config| {
        config.documents.extractor_program = Some(program);
        config.documents.extract_timeout_secs = 1;
        config.worker.poll_interval_ms = 20;
    })
    .await;
    let (owner, org) = owner_and_org(&app).await;
    // Eight megabytes of prose take the chunker (which tokenizes every piece) well over a second.
    let long: Vec<u8> =
        "The warehouse opens at six and closes at ten; deliveries come by the north gate. "
            .repeat(100_000)
            .into_bytes();
    let accepted = upload(&app, &owner, &org, "long.txt", long, "")
        .await
        .expect(202);
    let id = accepted["id"].as_str().unwrap().to_owned();

    // While it runs, the child has an environment of its own (none of the parent's, so no
    // secrets) and its CPU time and address space are limited.
    let mut seen = None;
    for _ in 0..200 {
        if let Some(pid) = running(&sandbox).first() {
            seen = Some(*pid);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = seen.expect("the sandbox ran");
    if let (Ok(environ), Ok(limits)) = (
        std::fs::read(format!("/proc/{pid}/environ")),
        std::fs::read_to_string(format!("/proc/{pid}/limits")),
    ) {
        let environ = String::from_utf8_lossy(&environ);
        assert!(
            !environ.contains("PATH=") && !environ.contains("HOME="),
            "the child inherited the environment: {environ}"
        );
        let limit = |name: &str| {
            limits
                .lines()
                .find(|l| l.starts_with(name))
                .map(|l| l.split_whitespace().nth(3).unwrap_or_default().to_owned())
                .unwrap_or_default()
        };
        // The limits are set by the child itself right after it read its job; it may not have
        // got that far yet.
        let cpu = limit("Max cpu time");
        assert!(cpu == "1" || cpu == "unlimited", "{limits}");
    }

    let document = settled(&app, &owner, &org, &id).await;
    assert_eq!(document["status"], "failed", "{document}");
    assert_eq!(document["error"]["code"], "extract_timeout", "{document}");
    // Nothing of it keeps running.
    for _ in 0..100 {
        if running(&sandbox).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(running(&sandbox).is_empty(), "the sandbox is still running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extraction_out_of_memory_fails_the_document_with_its_own_code() {
    let links = tempfile::tempdir().unwrap();
    let sandbox = own_sandbox(links.path(), "sandbox-memory");
    let program = sandbox.clone();
    let app = TestApp::start_with(Backend::Sqlite, move |config| {
        config.documents.extractor_program = Some(program);
        // Less than the sandbox needs to hold the document: its allocations fail.
        config.documents.extract_memory_mb = 1;
        config.worker.poll_interval_ms = 20;
    })
    .await;
    let (owner, org) = owner_and_org(&app).await;
    let (status, _) = outcome(
        &app,
        &owner,
        &org,
        "notes.txt",
        "A page of notes. ".repeat(200_000).into_bytes(),
    )
    .await;
    assert_eq!(status, "failed:extract_memory");
    assert!(running(&sandbox).is_empty(), "the sandbox is still running");
    // The worker itself is fine: the next document (with memory to spare) works.
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_that_ingestion_would_refuse_is_refused_at_upload() {
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        config.documents.max_chars = 1_000;
    })
    .await;
    let (owner, org) = owner_and_org(&app).await;
    let refused = upload(&app, &owner, &org, "long.txt", vec![b'a'; 2_000], "")
        .await
        .expect_error(413, "too_large");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("documents.max_chars"),
        "{refused}"
    );
    app.post(
        &format!("/v1/orgs/{org}/documents/text"),
        Some(&owner),
        json!({"title": "Long", "text": "b".repeat(2_000)}),
    )
    .await
    .expect_error(413, "too_large");
    // Nothing was kept of either.
    let listed = app
        .get(&format!("/v1/orgs/{org}/documents"), Some(&owner))
        .await
        .expect(200);
    assert_eq!(listed["items"], json!([]));
    let org_id = docent_kernel::OrgId::from_uuid(org.parse().unwrap());
    for _ in 0..50 {
        if app.services.blobs.count_org(org_id).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.services.blobs.count_org(org_id).await.unwrap(), 0);
    // Within the limit it is accepted.
    upload(&app, &owner, &org, "short.txt", vec![b'a'; 900], "")
        .await
        .expect(202);
    // The defaults are consistent: any text the upload limit accepts fits the character limit.
    let defaults = docent_app::Config::default();
    assert!(defaults.documents.max_chars as u64 >= defaults.documents.max_upload_bytes);
}

/// Sends the head of a `multipart/form-data` upload that declares `length` bytes, and a little of
/// the body; returns the answer's status line and how long it took, without sending the rest.
async fn declared_upload(app: &TestApp, token: &str, org: &str, length: u64) -> (String, Duration) {
    let addr = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/orgs/{org}/documents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: {length}\r\n\r\n\
         --XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\n\r\n"
    );
    let started = Instant::now();
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&[b'x'; 4096]).await.unwrap();
    let mut answer = vec![0_u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut answer))
        .await
        .expect("an answer before the body was sent")
        .unwrap();
    let line = String::from_utf8_lossy(&answer[..read])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    (line, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_authorized_before_their_body_is_read() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (owner, org) = owner_and_org(&app).await;
    let (_, viewer) = app
        .join(&owner, &org, "viewer@example.com", "viewer", PW)
        .await;
    let fifty_megabytes = 50 * 1024 * 1024;
    for (token, status) in [
        ("dss_not-a-real-session-token-at-all-000000000000000", "401"),
        (viewer.as_str(), "403"),
    ] {
        let (line, took) = declared_upload(&app, token, &org, fifty_megabytes).await;
        assert!(line.contains(status), "{line}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    // Another organization's member gets 404, also before the body.
    let (_, stranger) = app.signup("stranger@example.com", PW).await;
    let (line, _) = declared_upload(&app, &stranger, &org, fifty_megabytes).await;
    assert!(line.contains("404"), "{line}");

    // Small form fields are bounded.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"short text".to_vec()).file_name("a.txt"),
        )
        .text("title", "t".repeat(100_000));
    app.post_form(&format!("/v1/orgs/{org}/documents"), &owner, form)
        .await
        .expect_error(400, "invalid_request");
}
