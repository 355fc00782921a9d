//! Enumeration resistance, token misuse, sign-in throttling and input validation.

use std::time::Instant;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use docent_infrastructure::testing::Backend;
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

const PW: &str = "correct horse battery";

on_both_backends!(
    sign_in_and_reset_do_not_reveal_accounts,
    reset_and_invitation_tokens_cannot_be_misused,
    repeated_failures_are_throttled,
    bad_input_gets_clear_errors,
);

async fn sign_in_and_reset_do_not_reveal_accounts(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.signup("known@example.com", PW).await;

    let wrong_password = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "known@example.com", "password": "wrong password 1"}),
        )
        .await
        .expect_error(401, "invalid_credentials");
    let unknown_email = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "nobody@example.com", "password": "wrong password 1"}),
        )
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(wrong_password["message"], unknown_email["message"]);

    // An unknown address costs the same argon2 verification as a wrong password. Medians over a
    // few tries keep this robust on a busy machine; without the dummy hash the unknown address
    // would answer roughly ten times faster.
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..4 {
        let started = Instant::now();
        app.post(
            "/v1/auth/login",
            None,
            json!({"email": "known@example.com", "password": format!("wrong password {i}")}),
        )
        .await
        .expect(401);
        known.push(started.elapsed());
        let started = Instant::now();
        app.post(
            "/v1/auth/login",
            None,
            json!({"email": format!("nobody{i}@example.com"), "password": "wrong password 1"}),
        )
        .await
        .expect(401);
        unknown.push(started.elapsed());
        // Stay under the per-address lockout.
        if i == 1 {
            app.login("known@example.com", PW).await;
        }
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[1], unknown[1]);
    assert!(
        unknown * 3 >= known,
        "unknown e-mail answered in {unknown:?}, wrong password in {known:?}"
    );

    // Reset requests answer identically for known, unknown and malformed addresses.
    let mut bodies = Vec::new();
    for email in ["known@example.com", "nobody@example.com", "not an email"] {
        let reply = app.request_reset(email).await;
        assert_eq!(reply.status.as_u16(), 202);
        bodies.push(reply.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    app.token_mailed_to("known@example.com", "dsr_", 0).await;
    assert!(app.mails_to("nobody@example.com").is_empty());

    // A second request within the interval sends no second mail: the endpoint cannot flood a
    // mailbox. (A third, unrelated mail proves the background work has caught up.)
    app.request_reset("known@example.com").await.expect(202);
    app.signup("later@example.com", PW).await;
    app.request_reset("later@example.com").await.expect(202);
    app.token_mailed_to("later@example.com", "dsr_", 0).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.mails_to("known@example.com").len(), 1);
}

async fn reset_and_invitation_tokens_cannot_be_misused(backend: Backend) {
    // Back-to-back reset requests are allowed here so that supersession can be observed.
    let app = TestApp::start_with(backend, |config| {
        config.auth.password_reset_interval_secs = 0;
    })
    .await;
    let (_, session) = app.signup("victim@example.com", PW).await;

    // Empty, malformed, and wrong-kind tokens never match.
    for token in [
        "",
        "dsr_",
        "dsr_short",
        session.as_str(),
        "dsr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        app.confirm_reset(token, "A totally new pass 1")
            .await
            .expect_error(400, "invalid_token");
    }
    // The session was not touched by any of that.
    app.get("/v1/users/me", Some(&session)).await.expect(200);

    // A newer request supersedes an older link; a link works once.
    app.request_reset("victim@example.com").await.expect(202);
    let first = app.token_mailed_to("victim@example.com", "dsr_", 0).await;
    app.request_reset("victim@example.com").await.expect(202);
    let second = app.token_mailed_to("victim@example.com", "dsr_", 1).await;
    app.confirm_reset(&first, "A totally new pass 1")
        .await
        .expect_error(400, "invalid_token");
    // A weak password does not use up the link.
    app.confirm_reset(&second, "weak")
        .await
        .expect_error(422, "weak_password");
    app.confirm_reset(&second, "A totally new pass 1")
        .await
        .expect(204);
    app.confirm_reset(&second, "Yet another pass 22")
        .await
        .expect_error(400, "invalid_token");
    app.login("victim@example.com", "A totally new pass 1")
        .await;

    // Invitations: only the invited address can accept, once; revoked ones are dead.
    let (_, owner) = app.signup("owner@example.com", PW).await;
    let org = app.create_org(&owner, "Tokens").await;
    app.invite(&owner, &org, "invitee@example.com", "viewer")
        .await
        .expect(201);
    let token = app.token_mailed_to("invitee@example.com", "dsi_", 0).await;
    let (_, intruder) = app.signup("intruder@example.com", PW).await;
    app.post(
        "/v1/invitations/accept",
        Some(&intruder),
        json!({"token": token}),
    )
    .await
    .expect_error(403, "invitation_email_mismatch");
    app.get(&format!("/v1/orgs/{org}"), Some(&intruder))
        .await
        .expect_error(404, "org_not_found");
    app.post(
        "/v1/invitations/accept",
        Some(&intruder),
        json!({"token": ""}),
    )
    .await
    .expect_error(400, "invalid_token");
    let (_, invitee) = app.signup("invitee@example.com", PW).await;
    app.post(
        "/v1/invitations/accept",
        Some(&invitee),
        json!({"token": token}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/invitations/accept",
        Some(&invitee),
        json!({"token": token}),
    )
    .await
    .expect_error(400, "invalid_token");
    // Inviting an existing member is a conflict.
    app.invite(&owner, &org, "INVITEE@example.com", "admin")
        .await
        .expect_error(409, "already_member");

    let invited = app
        .invite(&owner, &org, "late@example.com", "member")
        .await
        .expect(201);
    let late_token = app.token_mailed_to("late@example.com", "dsi_", 0).await;
    let invitation_id = invited["id"].as_str().unwrap();
    app.delete(
        &format!("/v1/orgs/{org}/invitations/{invitation_id}"),
        Some(&owner),
    )
    .await
    .expect(204);
    app.delete(
        &format!("/v1/orgs/{org}/invitations/{invitation_id}"),
        Some(&owner),
    )
    .await
    .expect_error(404, "invitation_not_found");
    let (_, late) = app.signup("late@example.com", PW).await;
    app.post(
        "/v1/invitations/accept",
        Some(&late),
        json!({"token": late_token}),
    )
    .await
    .expect_error(400, "invalid_token");
}

async fn repeated_failures_are_throttled(backend: Backend) {
    let app = TestApp::start_with(backend, |config| {
        config.auth.max_failures_per_email = 3;
        config.auth.max_failures_per_client = 6;
    })
    .await;
    app.signup("target@example.com", PW).await;
    for _ in 0..3 {
        app.post(
            "/v1/auth/login",
            None,
            json!({"email": "target@example.com", "password": "guess guess 1"}),
        )
        .await
        .expect_error(401, "invalid_credentials");
    }
    // Locked: even the right password is refused until the window passes.
    let reply = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "TARGET@example.com", "password": PW}),
        )
        .await;
    let retry_after: u64 = reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After header");
    assert!(retry_after > 0 && retry_after <= 15 * 60, "{retry_after}");
    reply.expect_error(429, "too_many_attempts");

    // One client spraying many addresses is locked out too.
    for i in 0..3 {
        app.post(
            "/v1/auth/login",
            None,
            json!({"email": format!("spray{i}@example.com"), "password": "guess guess 1"}),
        )
        .await
        .expect_error(401, "invalid_credentials");
    }
    app.post(
        "/v1/auth/login",
        None,
        json!({"email": "other@example.com", "password": "guess guess 1"}),
    )
    .await
    .expect_error(429, "too_many_attempts");
}

async fn bad_input_gets_clear_errors(backend: Backend) {
    let app = TestApp::start(backend).await;
    let signup = |email: &'static str, password: &'static str| json!({"email": email, "password": password, "name": "X"});
    app.post("/v1/auth/signup", None, signup("not-an-email", PW))
        .await
        .expect_error(422, "invalid_email");
    for weak in ["short", "alllowercaseletters", "Password123", "xxalice99XX"] {
        app.post(
            "/v1/auth/signup",
            None,
            json!({"email": "alice99@example.com", "password": weak, "name": "X"}),
        )
        .await
        .expect_error(422, "weak_password");
    }
    app.post("/v1/auth/signup", None, json!({"email": "a@example.com"}))
        .await
        .expect_error(400, "invalid_request");
    let raw = app
        .client
        .post(format!("{}/v1/auth/signup", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    // A body declared larger than the limit is refused before it is read. (A raw connection: an
    // HTTP client sending the body would race the early answer and see a broken pipe.)
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /v1/auth/signup HTTP/1.1\r\nHost: docent\r\n\
              Content-Type: application/json\r\nContent-Length: 2097152\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = vec![0_u8; 4096];
    let read = stream.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"too_large\""), "{answer}");

    let (_, token) = app.signup("valid@example.com", PW).await;
    app.post("/v1/orgs", Some(&token), json!({"name": "   "}))
        .await
        .expect_error(422, "invalid_name");
    let org = app.create_org(&token, "Valid").await;
    app.patch(
        &format!("/v1/orgs/{org}"),
        Some(&token),
        json!({"slug": "Bad Slug!"}),
    )
    .await
    .expect_error(422, "invalid_slug");
    let other = app.create_org(&token, "Other").await;
    app.patch(
        &format!("/v1/orgs/{other}"),
        Some(&token),
        json!({"slug": "valid"}),
    )
    .await
    .expect_error(409, "slug_taken");
    app.invite(&token, &org, "x@example.com", "emperor")
        .await
        .expect_error(400, "invalid_request");
    app.get("/v1/orgs?limit=0", Some(&token))
        .await
        .expect_error(400, "invalid_limit");
    app.get("/v1/orgs?cursor=garbage!", Some(&token))
        .await
        .expect_error(400, "invalid_cursor");
    app.get("/v1/nope", Some(&token))
        .await
        .expect_error(404, "not_found");
    // Nothing was lost along the way.
    let orgs = app.get("/v1/orgs?limit=1", Some(&token)).await.expect(200);
    assert_eq!(orgs["items"].as_array().unwrap().len(), 1);
    let cursor = orgs["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/v1/orgs?limit=1&cursor={cursor}"), Some(&token))
        .await
        .expect(200);
    assert_eq!(rest["items"][0]["id"], other.as_str());
    assert!(rest["next_cursor"].is_null());
}
