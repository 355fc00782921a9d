//! API keys: creation, the secret shown once, the format check, revocation and expiry at once,
//! org binding, and keys never managing keys, members or organizations.

use std::time::Duration;

use docent_infrastructure::testing::Backend;
use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::TestApp;

const PW: &str = "correct horse battery";

on_both_backends!(
    keys_are_created_shown_once_and_revoked_at_once,
    keys_stop_with_their_org_creator_or_expiry,
    keys_are_rate_limited_with_headers,
    usage_is_readable_with_the_usage_scope,
    replicas_share_key_limits_through_redis,
);

async fn create_key(app: &TestApp, session: &str, org: &str, body: Value) -> Value {
    app.post(&format!("/v1/orgs/{org}/api-keys"), Some(session), body)
        .await
        .expect(201)
}

/// A request with `X-Api-Key` instead of `Authorization`.
async fn with_x_api_key(app: &TestApp, path: &str, key: &str) -> crate::support::Reply {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    crate::support::Reply {
        status,
        headers,
        body,
    }
}

async fn keys_are_created_shown_once_and_revoked_at_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, owner) = app.signup("owner@example.com", PW).await;
    let org = app.create_org(&owner, "Keyed").await;
    let (_, other_owner) = app.signup("other@example.com", PW).await;
    let other_org = app.create_org(&other_owner, "Other").await;

    let created = create_key(
        &app,
        &owner,
        &org,
        json!({"name": "ci bot", "scopes": ["usage:read", "documents:read"], "rate_limit_per_minute": 60}),
    )
    .await;
    let secret = created["key"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("dk_live_") && secret.len() == 57,
        "{secret}"
    );
    assert_eq!(created["prefix"].as_str().unwrap(), &secret[..12]);
    assert_eq!(
        created["last4"].as_str().unwrap(),
        &secret[secret.len() - 4..]
    );
    assert_eq!(created["scopes"], json!(["documents:read", "usage:read"]));
    assert_eq!(created["rate_limit_per_minute"], 60);
    let key_id = created["id"].as_str().unwrap().to_owned();

    // The secret is never shown again.
    let listed = app
        .get(&format!("/v1/orgs/{org}/api-keys"), Some(&owner))
        .await
        .expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let fetched = app
        .get(&format!("/v1/orgs/{org}/api-keys/{key_id}"), Some(&owner))
        .await
        .expect(200);
    for body in [&listed, &fetched] {
        assert!(!body.to_string().contains(&secret[12..]), "{body}");
        assert!(body.to_string().contains(&key_id));
    }

    // Bad settings are refused with clear codes.
    for (body, code) in [
        (
            json!({"name": "x", "scopes": ["usage:read", "keys:write"]}),
            "unknown_scope",
        ),
        (json!({"name": "x", "scopes": []}), "invalid_key_settings"),
        (
            json!({"name": " ", "scopes": ["chat"]}),
            "invalid_key_settings",
        ),
        (
            json!({"name": "x", "scopes": ["chat"], "expires_at": "2020-01-01T00:00:00Z"}),
            "invalid_key_settings",
        ),
        (
            json!({"name": "x", "scopes": ["chat"], "rate_limit_per_minute": 0}),
            "invalid_key_settings",
        ),
        (
            json!({"name": "x", "scopes": ["chat"], "chatbot_ids": []}),
            "invalid_key_settings",
        ),
    ] {
        let reply = app
            .post(&format!("/v1/orgs/{org}/api-keys"), Some(&owner), body)
            .await;
        let body = reply.expect_error(422, code);
        assert!(!body.to_string().contains(&secret));
    }

    // A key never manages keys, members or organizations, even its own; another org's routes are
    // not there for it at all.
    for path in [
        format!("/v1/orgs/{org}/api-keys"),
        format!("/v1/orgs/{org}/members"),
        format!("/v1/orgs/{org}"),
    ] {
        app.get(&path, Some(&secret))
            .await
            .expect_error(403, "session_required");
        with_x_api_key(&app, &path, &secret)
            .await
            .expect_error(403, "session_required");
    }
    app.get("/v1/users/me", Some(&secret))
        .await
        .expect_error(403, "session_required");
    app.post(
        &format!("/v1/orgs/{org}/api-keys"),
        Some(&secret),
        json!({"name": "x", "scopes": ["chat"]}),
    )
    .await
    .expect_error(403, "session_required");
    app.get(&format!("/v1/orgs/{other_org}/members"), Some(&secret))
        .await
        .expect_error(404, "org_not_found");
    app.get(
        &format!("/v1/orgs/{other_org}/api-keys/{key_id}"),
        Some(&other_owner),
    )
    .await
    .expect_error(404, "api_key_not_found");

    // Typos, truncations and unknown keys all get one answer.
    let mut typo = secret.clone().into_bytes();
    typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let answers = [
        app.get("/v1/users/me", Some(&typo))
            .await
            .expect_error(401, "invalid_api_key"),
        app.get("/v1/users/me", Some(&secret[..40]))
            .await
            .expect_error(401, "invalid_api_key"),
        with_x_api_key(&app, "/v1/users/me", "dk_live_nope")
            .await
            .expect_error(401, "invalid_api_key"),
    ];
    assert!(
        answers
            .windows(2)
            .all(|w| w[0]["message"] == w[1]["message"])
    );

    // A key in a URL is refused outright.
    app.get(&format!("/v1/orgs/{org}?api_key={secret}"), None)
        .await
        .expect_error(400, "api_key_in_query");

    // Members cannot manage keys; revocation takes effect with the next request.
    app.post(
        &format!("/v1/orgs/{org}/api-keys/{key_id}/revoke"),
        Some(&secret),
        json!({}),
    )
    .await
    .expect_error(403, "session_required");
    app.call(
        Method::POST,
        &format!("/v1/orgs/{org}/api-keys/{key_id}/revoke"),
        Some(&owner),
        None,
    )
    .await
    .expect(204);
    app.get("/v1/users/me", Some(&secret))
        .await
        .expect_error(401, "invalid_api_key");
    app.call(
        Method::POST,
        &format!("/v1/orgs/{org}/api-keys/{key_id}/revoke"),
        Some(&owner),
        None,
    )
    .await
    .expect_error(404, "api_key_not_found");
    let revoked = app
        .get(&format!("/v1/orgs/{org}/api-keys/{key_id}"), Some(&owner))
        .await
        .expect(200);
    assert!(revoked["revoked_at"].is_string());
    assert!(revoked["last_used_at"].is_string(), "{revoked}");
}

async fn keys_stop_with_their_org_creator_or_expiry(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, owner) = app.signup("owner@example.com", PW).await;
    let org = app.create_org(&owner, "Lifecycle").await;

    // An admin's key stops working when the admin leaves the organization.
    let (admin_id, admin) = app
        .join(&owner, &org, "admin@example.com", "admin", PW)
        .await;
    let admins = create_key(
        &app,
        &admin,
        &org,
        json!({"name": "admin's", "scopes": ["chat"]}),
    )
    .await;
    let admins = admins["key"].as_str().unwrap().to_owned();
    app.get("/v1/users/me", Some(&admins))
        .await
        .expect_error(403, "session_required");
    app.delete(&format!("/v1/orgs/{org}/members/{admin_id}"), Some(&owner))
        .await
        .expect(204);
    app.get("/v1/users/me", Some(&admins))
        .await
        .expect_error(401, "invalid_api_key");

    // A key stops working when it expires.
    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let expiring = create_key(
        &app,
        &owner,
        &org,
        json!({"name": "short-lived", "scopes": ["chat"], "expires_at": soon.to_rfc3339()}),
    )
    .await;
    let expiring = expiring["key"].as_str().unwrap().to_owned();
    app.get("/v1/users/me", Some(&expiring))
        .await
        .expect_error(403, "session_required");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.get("/v1/users/me", Some(&expiring))
        .await
        .expect_error(401, "invalid_api_key");

    // Every key of a deleted organization stops working.
    let lasting = create_key(
        &app,
        &owner,
        &org,
        json!({"name": "lasting", "scopes": ["chat"]}),
    )
    .await;
    let lasting = lasting["key"].as_str().unwrap().to_owned();
    app.delete(&format!("/v1/orgs/{org}"), Some(&owner))
        .await
        .expect(204);
    app.get("/v1/users/me", Some(&lasting))
        .await
        .expect_error(401, "invalid_api_key");
}

fn header(reply: &crate::support::Reply, name: &str) -> Option<u64> {
    reply.headers.get(name)?.to_str().ok()?.parse().ok()
}

async fn keys_are_rate_limited_with_headers(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, owner) = app.signup("owner@example.com", PW).await;
    let org = app.create_org(&owner, "Limited").await;
    let limited = create_key(
        &app,
        &owner,
        &org,
        json!({"name": "limited", "scopes": ["chat"], "rate_limit_per_minute": 3}),
    )
    .await;
    let limited = limited["key"].as_str().unwrap().to_owned();
    for remaining in [2, 1, 0] {
        let reply = app.get("/v1/users/me", Some(&limited)).await;
        assert_eq!(header(&reply, "x-ratelimit-limit"), Some(3));
        assert_eq!(header(&reply, "x-ratelimit-remaining"), Some(remaining));
        assert!(header(&reply, "x-ratelimit-reset").is_some_and(|s| s <= 60));
        reply.expect_error(403, "session_required");
    }
    let refused = app.get("/v1/users/me", Some(&limited)).await;
    let retry_after = header(&refused, "retry-after").expect("Retry-After");
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&refused, "x-ratelimit-remaining"), Some(0));
    assert_eq!(header(&refused, "x-ratelimit-limit"), Some(3));
    refused.expect_error(429, "rate_limited");

    // Each key has its own allowance; a key without a limit gets no rate headers.
    let unlimited = create_key(
        &app,
        &owner,
        &org,
        json!({"name": "free", "scopes": ["chat"]}),
    )
    .await;
    let unlimited = unlimited["key"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        let reply = app.get("/v1/users/me", Some(&unlimited)).await;
        assert!(reply.headers.get("x-ratelimit-limit").is_none());
        reply.expect_error(403, "session_required");
    }
    // Sessions are not rate limited per key.
    let reply = app.get("/v1/users/me", Some(&owner)).await;
    assert!(reply.headers.get("x-ratelimit-limit").is_none());
    reply.expect(200);
}

async fn usage_is_readable_with_the_usage_scope(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, owner) = app.signup("owner@example.com", PW).await;
    let org = app.create_org(&owner, "Metered").await;
    let (_, other_owner) = app.signup("other@example.com", PW).await;
    let other_org = app.create_org(&other_owner, "Elsewhere").await;
    let reader = create_key(
        &app,
        &owner,
        &org,
        json!({"name": "reader", "scopes": ["usage:read"]}),
    )
    .await;
    let reader_id = reader["id"].as_str().unwrap().to_owned();
    let reader = reader["key"].as_str().unwrap().to_owned();
    let chatter = create_key(
        &app,
        &owner,
        &org,
        json!({"name": "chatter", "scopes": ["chat"]}),
    )
    .await;
    let chatter = chatter["key"].as_str().unwrap().to_owned();

    // Within scope: the key reads its organization's usage (this month by default).
    let report = app
        .get(&format!("/v1/orgs/{org}/usage"), Some(&reader))
        .await
        .expect(200);
    assert_eq!(report["group_by"], "day");
    assert!(report["items"].as_array().unwrap().is_empty());
    let today = chrono::Utc::now().date_naive();
    assert_eq!(report["to"], today.to_string());
    let ranged = with_x_api_key(
        &app,
        &format!("/v1/orgs/{org}/usage?from=2026-01-01&to=2026-01-31&group_by=api_key"),
        &reader,
    )
    .await
    .expect(200);
    assert_eq!(
        (ranged["from"].as_str(), ranged["group_by"].as_str()),
        (Some("2026-01-01"), Some("api_key"))
    );

    // Out of scope, or another organization's.
    let refused = app
        .get(&format!("/v1/orgs/{org}/usage"), Some(&chatter))
        .await
        .expect_error(403, "insufficient_scope");
    assert!(refused["message"].as_str().unwrap().contains("usage:read"));
    app.get(&format!("/v1/orgs/{other_org}/usage"), Some(&reader))
        .await
        .expect_error(404, "org_not_found");

    // Ranges are checked.
    for query in [
        "from=2026-02-01",
        "from=2026-02-01&to=2026-01-01",
        "from=2024-01-01&to=2026-01-01",
    ] {
        app.get(&format!("/v1/orgs/{org}/usage?{query}"), Some(&owner))
            .await
            .expect_error(422, "invalid_range");
    }
    app.get(
        &format!("/v1/orgs/{org}/usage?group_by=planet"),
        Some(&owner),
    )
    .await
    .expect_error(400, "invalid_request");

    // A key's own usage is for owners and admins, and only for keys of their organization.
    app.get(
        &format!("/v1/orgs/{org}/api-keys/{reader_id}/usage"),
        Some(&owner),
    )
    .await
    .expect(200);
    app.get(
        &format!("/v1/orgs/{org}/api-keys/{reader_id}/usage"),
        Some(&reader),
    )
    .await
    .expect_error(403, "session_required");
    app.get(
        &format!("/v1/orgs/{other_org}/api-keys/{reader_id}/usage"),
        Some(&other_owner),
    )
    .await
    .expect_error(404, "api_key_not_found");
}

async fn replicas_share_key_limits_through_redis(backend: Backend) {
    let redis = std::env::var("DOCENT_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let app = TestApp::start_with(backend, |config| {
        config.redis.url = Some(docent_kernel::SecretString::from(redis));
    })
    .await;
    let replica = app.replica().await;
    let (_, owner) = app.signup("owner@example.com", PW).await;
    let org = app.create_org(&owner, "Replicated").await;
    let key = create_key(
        &app,
        &owner,
        &org,
        json!({"name": "shared", "scopes": ["usage:read"], "rate_limit_per_minute": 3}),
    )
    .await;
    let key = key["key"].as_str().unwrap().to_owned();
    let usage = format!("/v1/orgs/{org}/usage");
    let on = |base: &str| format!("{base}{usage}");
    let mut remaining = Vec::new();
    for base in [&app.base, &replica.base, &app.base] {
        let response = app
            .client
            .get(on(base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        remaining.push(
            response.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let refused = app
        .client
        .get(on(&replica.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // Revocation through one replica: then every request with the key is refused on both.
    let keys = app
        .get(&format!("/v1/orgs/{org}/api-keys"), Some(&owner))
        .await
        .expect(200);
    let key_id = keys["items"][0]["id"].as_str().unwrap();
    app.call(
        Method::POST,
        &format!("/v1/orgs/{org}/api-keys/{key_id}/revoke"),
        Some(&owner),
        None,
    )
    .await
    .expect(204);
    // The revoking replica forgets the key at once; the other within the cross-process bound
    // of ADR 0008 (its 100 ms poll of the auth epoch, 500 ms at worst), polled here up to 2 s.
    let status = |base: String| {
        let request = app.client.get(base).bearer_auth(&key);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(on(&app.base)).await, 401);
    let started = std::time::Instant::now();
    let mut last = status(on(&replica.base)).await;
    while last != 401 && started.elapsed() < std::time::Duration::from_secs(2) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        last = status(on(&replica.base)).await;
    }
    assert_eq!(
        last,
        401,
        "the replica still accepted the key after {:?}",
        started.elapsed()
    );
}
