//! Secrets never reach the logs: every log line of the test process is captured while keys,
//! sessions and passwords are used in the ways most likely to leak them.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use docent_infrastructure::testing::Backend;
use serde_json::json;

use crate::support::TestApp;

/// Everything logged by this test binary, from the moment the capture was installed.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let installed = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    "debug,sqlx=warn,hyper=info,hyper_util=info,reqwest=info",
                ))
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .try_init();
            assert!(
                installed.is_ok(),
                "another test installed a global subscriber first"
            );
            captured
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_tokens_and_passwords_never_reach_the_logs() {
    let captured = capture();
    let app = TestApp::start(Backend::Sqlite).await;
    let password = "a very secret passphrase 7";
    let (_, session) = app.signup("logged@example.com", password).await;
    let org = app.create_org(&session, "Logged").await;
    let created = app
        .post(
            &format!("/v1/orgs/{org}/api-keys"),
            Some(&session),
            json!({"name": "leaky?", "scopes": ["usage:read"], "rate_limit_per_minute": 2}),
        )
        .await
        .expect(201);
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();

    // Use it, over-use it, mistype it, put it in a URL, revoke it, use it again.
    for _ in 0..3 {
        app.get(&format!("/v1/orgs/{org}/usage"), Some(&key)).await;
    }
    let mut typo = key.clone().into_bytes();
    typo[30] = if typo[30] == b'x' { b'y' } else { b'x' };
    app.get("/v1/users/me", Some(&String::from_utf8(typo).unwrap()))
        .await;
    app.get(&format!("/v1/orgs/{org}?key={key}"), None).await;
    app.call(
        reqwest::Method::POST,
        &format!("/v1/orgs/{org}/api-keys/{key_id}/revoke"),
        Some(&session),
        None,
    )
    .await
    .expect(204);
    app.get(&format!("/v1/orgs/{org}/usage"), Some(&key)).await;
    app.post(
        "/v1/auth/login",
        None,
        json!({"email": "logged@example.com", "password": "wrong one 123"}),
    )
    .await;
    app.post("/v1/auth/logout", Some(&session), json!({})).await;
    app.get("/v1/users/me", Some(&session)).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("request"),
        "the capture saw no request logs at all"
    );
    for secret in [&key[8..], &session[4..], password] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
