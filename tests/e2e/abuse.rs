//! Abuse of shared resources by strangers: concurrent password guessing, floods of sign-ups,
//! reset mails and invitations, made-up HTTP methods against the metrics, and API keys that would
//! outlive their creator's role.

use docent_infrastructure::testing::Backend;
use futures_util::future::join_all;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::on_both_backends;
use crate::support::TestApp;

const PW: &str = "correct horse battery";

on_both_backends!(a_key_never_carries_more_than_its_creator_may_do);

/// Counts the statuses of `replies`.
fn tally(statuses: impl IntoIterator<Item = u16>) -> std::collections::BTreeMap<u16, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for status in statuses {
        *counts.entry(status).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_never_outrun_the_throttle() {
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        config.auth.max_failures_per_email = 5;
        config.auth.max_failures_per_client = 20;
    })
    .await;
    app.signup("target@example.com", PW).await;

    // 50 guesses for one account at once: the attempt is counted before the password is
    // verified, so only the limit's worth get an answer from argon2.
    let guesses = (0..50).map(|i| {
        app.post(
            "/v1/auth/login",
            None,
            json!({"email": "target@example.com", "password": format!("wrong guess {i}")}),
        )
    });
    let statuses = tally(join_all(guesses).await.iter().map(|r| r.status.as_u16()));
    assert_eq!(statuses.get(&401), Some(&5), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&45), "{statuses:?}");

    // 50 guesses for 50 accounts from one client: the per-client limit holds the same way (five
    // failures of this client are counted already).
    let sprayed = (0..50).map(|i| {
        app.post(
            "/v1/auth/login",
            None,
            json!({"email": format!("spray{i}@example.com"), "password": "wrong guess"}),
        )
    });
    let statuses = tally(join_all(sprayed).await.iter().map(|r| r.status.as_u16()));
    assert_eq!(statuses.get(&401), Some(&15), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&35), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_reset_mails_and_invitations_are_limited() {
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        config.limits.signups_per_client_per_hour = 3;
        config.limits.password_resets_per_client_per_hour = 2;
        config.limits.invitations_per_org_per_day = 2;
    })
    .await;
    let (_, owner) = app.signup("owner@example.com", PW).await;
    app.signup("second@example.com", PW).await;
    app.signup("third@example.com", PW).await;
    let refused = app
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "fourth@example.com", "password": PW, "name": "Four"}),
        )
        .await;
    let retry_after: u64 = refused
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry_after > 3000 && retry_after <= 3600, "{retry_after}");
    refused.expect_error(429, "rate_limited");

    // Reset mails: the same answer for known and unknown addresses, until the client's limit.
    app.request_reset("owner@example.com").await.expect(202);
    app.request_reset("nobody@example.com").await.expect(202);
    app.request_reset("owner@example.com")
        .await
        .expect_error(429, "rate_limited");

    // Invitations: a daily cap per organization.
    let org = app.create_org(&owner, "Capped").await;
    app.invite(&owner, &org, "a@example.com", "member")
        .await
        .expect(201);
    app.invite(&owner, &org, "b@example.com", "member")
        .await
        .expect(201);
    app.invite(&owner, &org, "c@example.com", "member")
        .await
        .expect_error(429, "rate_limited");
    // Another organization has its own cap.
    let other = app.create_org(&owner, "Other").await;
    app.invite(&owner, &other, "c@example.com", "member")
        .await
        .expect(201);
}

/// Sends one request with a made-up method and reads the answer.
async fn made_up_method(addr: &str, method: &str) -> String {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("{method} /v1/users/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = socket.read_to_string(&mut answer).await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = TestApp::start(Backend::Sqlite).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // One made-up method first, so its `other` label set exists.
    let first = made_up_method(&addr, "BREW").await;
    assert!(first.starts_with("HTTP/1.1 4"), "{first}");
    let metrics = || async {
        app.get("/metrics", None)
            .await
            .body
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Read twice, so the series of the `/metrics` reads themselves exist too.
    metrics().await;
    let before = metrics().await;
    for i in 0..500 {
        made_up_method(&addr, &format!("X{i:04}Y{}", i * 7919)).await;
    }
    let after = metrics().await;
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.contains("method="))
            .map(|l| {
                l.rsplit_once(' ')
                    .map_or(l, |(series, _)| series)
                    .to_owned()
            })
            .collect::<std::collections::BTreeSet<_>>()
    };
    // The same series as before: only their counts moved.
    assert_eq!(series(&before), series(&after));
    assert!(
        after.len() < before.len() + 2_000,
        "{} -> {} bytes",
        before.len(),
        after.len()
    );
    assert!(!after.contains("X0001Y"), "a raw method became a label");
    assert!(after.contains("method=\"other\""), "{after}");
}

async fn a_key_never_carries_more_than_its_creator_may_do(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, owner) = app.signup("owner@example.com", PW).await;
    let org = app.create_org(&owner, "Demotions").await;
    let (admin_id, admin) = app
        .join(&owner, &org, "admin@example.com", "admin", PW)
        .await;
    let created = app
        .post(
            &format!("/v1/orgs/{org}/api-keys"),
            Some(&admin),
            json!({"name": "ops", "scopes": ["providers:write", "providers:read"]}),
        )
        .await
        .expect(201);
    let key = created["key"].as_str().unwrap().to_owned();
    let providers = format!("/v1/orgs/{org}/providers");
    let create = |name: &str| json!({"name": name, "kind": "extractive"});
    app.post(&providers, Some(&key), create("While admin"))
        .await
        .expect(201);

    // The admin becomes a viewer: the key's write scope is beyond the creator now; reading, which
    // a viewer may do, still works.
    app.patch(
        &format!("/v1/orgs/{org}/members/{admin_id}"),
        Some(&owner),
        json!({"role": "viewer"}),
    )
    .await
    .expect(200);
    let refused = app
        .post(&providers, Some(&key), create("While viewer"))
        .await
        .expect_error(403, "insufficient_scope");
    assert!(
        refused["message"].as_str().unwrap().contains("created it"),
        "{refused}"
    );
    let listed = app.get(&providers, Some(&key)).await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");

    // Promoted again, the key works again: its scopes never changed, only what they may reach.
    app.patch(
        &format!("/v1/orgs/{org}/members/{admin_id}"),
        Some(&owner),
        json!({"role": "admin"}),
    )
    .await
    .expect(200);
    app.post(&providers, Some(&key), create("Admin again"))
        .await
        .expect(201);
}
