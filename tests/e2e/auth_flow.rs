//! The main walk: sign-up → login → me → org → invite → accept → roles → logout → password reset.

use docent_infrastructure::testing::Backend;
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

const ALICE_PW: &str = "correct horse battery";
const BOB_PW: &str = "Tr0ub4dor&3 staple";

on_both_backends!(the_whole_account_and_org_flow, sessions_and_profile);

async fn the_whole_account_and_org_flow(backend: Backend) {
    let app = TestApp::start(backend).await;

    // Sign-up normalizes the address; the token works at once.
    let signup = app
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "  Alice@Example.COM ", "password": ALICE_PW, "name": "Alice"}),
        )
        .await
        .expect(201);
    assert_eq!(signup["user"]["email"], "alice@example.com");
    assert_eq!(signup["user"]["name"], "Alice");
    let alice_id = signup["user"]["id"].as_str().unwrap().to_owned();
    let alice_first = signup["session"]["token"].as_str().unwrap().to_owned();
    assert!(alice_first.starts_with("dss_"));
    assert!(signup["session"]["expires_at"].as_str().is_some());

    // The same address in other case is taken.
    app.post(
        "/v1/auth/signup",
        None,
        json!({"email": "ALICE@example.com", "password": ALICE_PW, "name": "Eve"}),
    )
    .await
    .expect_error(409, "email_taken");

    // Login gives a second session; /me answers for both.
    let alice = app.login("alice@EXAMPLE.com", ALICE_PW).await;
    assert_ne!(alice, alice_first);
    let me = app.get("/v1/users/me", Some(&alice)).await.expect(200);
    assert_eq!(me["id"], alice_id.as_str());
    app.get("/v1/users/me", Some(&alice_first))
        .await
        .expect(200);

    // Alice creates an organization and is its owner.
    let org = app
        .post("/v1/orgs", Some(&alice), json!({"name": "Acme Research"}))
        .await
        .expect(201);
    assert_eq!(org["role"], "owner");
    assert_eq!(org["slug"], "acme-research");
    let org_id = org["id"].as_str().unwrap().to_owned();

    // She invites Bob; the token arrives by mail, never in the API.
    let invitation = app
        .invite(&alice, &org_id, "bob@example.com", "member")
        .await
        .expect(201);
    assert!(invitation.get("token").is_none());
    assert_eq!(invitation["role"], "member");
    let listed = app
        .get(&format!("/v1/orgs/{org_id}/invitations"), Some(&alice))
        .await
        .expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let invite_token = app.token_mailed_to("bob@example.com", "dsi_", 0).await;

    // Bob signs up and accepts; the organization appears in his list.
    let (bob_id, bob) = app.signup("bob@example.com", BOB_PW).await;
    let joined = app
        .post(
            "/v1/invitations/accept",
            Some(&bob),
            json!({"token": invite_token}),
        )
        .await
        .expect(200);
    assert_eq!(joined["id"], org_id.as_str());
    assert_eq!(joined["role"], "member");
    let bobs_orgs = app.get("/v1/orgs", Some(&bob)).await.expect(200);
    assert_eq!(bobs_orgs["items"][0]["id"], org_id.as_str());
    assert!(bobs_orgs["next_cursor"].is_null());
    let pending = app
        .get(&format!("/v1/orgs/{org_id}/invitations"), Some(&alice))
        .await
        .expect(200);
    assert!(pending["items"].as_array().unwrap().is_empty());

    // A member cannot manage members; the owner promotes Bob to admin.
    app.patch(
        &format!("/v1/orgs/{org_id}/members/{alice_id}"),
        Some(&bob),
        json!({"role": "viewer"}),
    )
    .await
    .expect_error(403, "forbidden");
    let promoted = app
        .patch(
            &format!("/v1/orgs/{org_id}/members/{bob_id}"),
            Some(&alice),
            json!({"role": "admin"}),
        )
        .await
        .expect(200);
    assert_eq!(promoted["role"], "admin");

    // An admin still cannot touch the owner or grant ownership; the last owner cannot step down.
    app.patch(
        &format!("/v1/orgs/{org_id}/members/{alice_id}"),
        Some(&bob),
        json!({"role": "member"}),
    )
    .await
    .expect_error(403, "forbidden");
    app.patch(
        &format!("/v1/orgs/{org_id}/members/{bob_id}"),
        Some(&bob),
        json!({"role": "owner"}),
    )
    .await
    .expect_error(403, "forbidden");
    app.patch(
        &format!("/v1/orgs/{org_id}/members/{alice_id}"),
        Some(&alice),
        json!({"role": "admin"}),
    )
    .await
    .expect_error(409, "last_owner");
    app.delete(
        &format!("/v1/orgs/{org_id}/members/{alice_id}"),
        Some(&alice),
    )
    .await
    .expect_error(409, "last_owner");
    let members = app
        .get(&format!("/v1/orgs/{org_id}/members"), Some(&bob))
        .await
        .expect(200);
    let mut roles: Vec<(String, String)> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        vec![
            ("alice@example.com".to_owned(), "owner".to_owned()),
            ("bob@example.com".to_owned(), "admin".to_owned())
        ]
    );

    // The admin renames the organization; only the owner may delete it.
    let renamed = app
        .patch(
            &format!("/v1/orgs/{org_id}"),
            Some(&bob),
            json!({"name": "Acme Labs", "slug": "acme-labs"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (renamed["name"].as_str(), renamed["slug"].as_str()),
        (Some("Acme Labs"), Some("acme-labs"))
    );
    app.delete(&format!("/v1/orgs/{org_id}"), Some(&bob))
        .await
        .expect_error(403, "forbidden");

    // Logout kills that token at once, and only that one.
    app.post("/v1/auth/logout", Some(&alice), json!({}))
        .await
        .expect(204);
    app.get("/v1/users/me", Some(&alice))
        .await
        .expect_error(401, "invalid_session");
    app.get("/v1/users/me", Some(&alice_first))
        .await
        .expect(200);

    // Password reset: the link arrives by mail; confirming revokes every session.
    let accepted = app.request_reset("alice@example.com").await.expect(202);
    assert_eq!(accepted, json!({"status": "accepted"}));
    let reset_token = app.token_mailed_to("alice@example.com", "dsr_", 0).await;
    let new_password = "a brand new Passphrase";
    app.confirm_reset(&reset_token, new_password)
        .await
        .expect(204);
    app.get("/v1/users/me", Some(&alice_first))
        .await
        .expect_error(401, "invalid_session");
    app.post(
        "/v1/auth/login",
        None,
        json!({"email": "alice@example.com", "password": ALICE_PW}),
    )
    .await
    .expect_error(401, "invalid_credentials");
    let alice = app.login("alice@example.com", new_password).await;

    // The owner deletes the organization: it is gone for everyone.
    app.delete(&format!("/v1/orgs/{org_id}"), Some(&alice))
        .await
        .expect(204);
    app.get(&format!("/v1/orgs/{org_id}"), Some(&bob))
        .await
        .expect_error(404, "org_not_found");
    let bobs_orgs = app.get("/v1/orgs", Some(&bob)).await.expect(200);
    assert!(bobs_orgs["items"].as_array().unwrap().is_empty());
}

async fn sessions_and_profile(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, first) = app.signup("carol@example.com", ALICE_PW).await;
    let second = app.login("carol@example.com", ALICE_PW).await;

    let sessions = app
        .get("/v1/auth/sessions", Some(&second))
        .await
        .expect(200);
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let first_id = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another user cannot revoke Carol's session.
    let (_, dave) = app.signup("dave@example.com", BOB_PW).await;
    app.delete(&format!("/v1/auth/sessions/{first_id}"), Some(&dave))
        .await
        .expect_error(404, "session_not_found");
    app.delete(&format!("/v1/auth/sessions/{first_id}"), Some(&second))
        .await
        .expect(204);
    app.get("/v1/users/me", Some(&first))
        .await
        .expect_error(401, "invalid_session");

    // Profile updates validate the name.
    let me = app
        .patch(
            "/v1/users/me",
            Some(&second),
            json!({"name": "  Carol C  "}),
        )
        .await
        .expect(200);
    assert_eq!(me["name"], "Carol C");
    app.patch("/v1/users/me", Some(&second), json!({"name": "   "}))
        .await
        .expect_error(422, "invalid_name");

    // Changing the password needs the current one and revokes the other sessions.
    let third = app.login("carol@example.com", ALICE_PW).await;
    app.post(
        "/v1/auth/password",
        Some(&second),
        json!({"current_password": "not my password", "new_password": "Another good one 1"}),
    )
    .await
    .expect_error(403, "invalid_current_password");
    app.post(
        "/v1/auth/password",
        Some(&second),
        json!({"current_password": ALICE_PW, "new_password": "short"}),
    )
    .await
    .expect_error(422, "weak_password");
    app.post(
        "/v1/auth/password",
        Some(&second),
        json!({"current_password": ALICE_PW, "new_password": "Another good one 1"}),
    )
    .await
    .expect(204);
    app.get("/v1/users/me", Some(&second)).await.expect(200);
    app.get("/v1/users/me", Some(&third))
        .await
        .expect_error(401, "invalid_session");
    app.login("carol@example.com", "Another good one 1").await;
}
