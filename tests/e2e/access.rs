//! The authorization matrix: every route × anonymous / bad token / outsider / too-weak role.

use docent_infrastructure::testing::Backend;
use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::TestApp;

const PW: &str = "correct horse battery";

on_both_backends!(every_route_refuses_the_wrong_caller);

/// The least role a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Needs {
    Viewer,
    Member,
    Admin,
    Owner,
}

async fn every_route_refuses_the_wrong_caller(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner_id, owner) = app.signup("owner@example.com", PW).await;
    let org = app.create_org(&owner, "Matrix").await;
    let (_, viewer) = app
        .join(&owner, &org, "viewer@example.com", "viewer", PW)
        .await;
    let (_, member) = app
        .join(&owner, &org, "member@example.com", "member", PW)
        .await;
    let (_, outsider) = app.signup("outsider@example.com", PW).await;
    let outsider_org = app.create_org(&outsider, "Elsewhere").await;
    let missing = uuid::Uuid::now_v7();

    let routes: Vec<(Method, String, Option<Value>, Needs)> = vec![
        (Method::GET, format!("/v1/orgs/{org}"), None, Needs::Viewer),
        (
            Method::PATCH,
            format!("/v1/orgs/{org}"),
            Some(json!({"name": "X"})),
            Needs::Admin,
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{org}"),
            None,
            Needs::Owner,
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/members"),
            None,
            Needs::Viewer,
        ),
        (
            Method::PATCH,
            format!("/v1/orgs/{org}/members/{owner_id}"),
            Some(json!({"role": "viewer"})),
            Needs::Admin,
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{org}/members/{owner_id}"),
            None,
            Needs::Admin,
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/invitations"),
            Some(json!({"email": "new@example.com", "role": "member"})),
            Needs::Admin,
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/invitations"),
            None,
            Needs::Admin,
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{org}/invitations/{missing}"),
            None,
            Needs::Admin,
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/api-keys"),
            Some(json!({"name": "k", "scopes": ["chat"]})),
            Needs::Admin,
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/api-keys"),
            None,
            Needs::Admin,
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/api-keys/{missing}"),
            None,
            Needs::Admin,
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/api-keys/{missing}/revoke"),
            None,
            Needs::Admin,
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/audit-events"),
            None,
            Needs::Admin,
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/usage"),
            None,
            Needs::Viewer,
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/api-keys/{missing}/usage"),
            None,
            Needs::Admin,
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/chatbots"),
            None,
            Needs::Viewer,
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/chatbots"),
            Some(json!({"name": "x", "provider_id": missing})),
            Needs::Member,
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/chatbots/{missing}"),
            None,
            Needs::Viewer,
        ),
        (
            Method::PATCH,
            format!("/v1/orgs/{org}/chatbots/{missing}"),
            Some(json!({"name": "x"})),
            Needs::Member,
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{org}/chatbots/{missing}"),
            None,
            Needs::Member,
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/chatbots/{missing}/conversations"),
            Some(json!({})),
            Needs::Viewer,
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/chatbots/{missing}/conversations"),
            None,
            Needs::Viewer,
        ),
        (
            Method::GET,
            format!("/v1/orgs/{org}/chatbots/{missing}/conversations/{missing}/messages"),
            None,
            Needs::Viewer,
        ),
        (
            Method::POST,
            format!("/v1/orgs/{org}/chatbots/{missing}/conversations/{missing}/messages"),
            Some(json!({"content": "hi"})),
            Needs::Viewer,
        ),
    ];

    for (method, path, body, needs) in &routes {
        app.call(method.clone(), path, None, body.clone())
            .await
            .expect_error(401, "unauthenticated");
        app.call(
            method.clone(),
            path,
            Some("dss_not-a-real-token"),
            body.clone(),
        )
        .await
        .expect_error(401, "invalid_session");
        app.call(method.clone(), path, Some(&outsider), body.clone())
            .await
            .expect_error(404, "org_not_found");
        // A made-up organization looks exactly like someone else's.
        let unknown = path.replace(&org, &missing.to_string());
        app.call(method.clone(), &unknown, Some(&owner), body.clone())
            .await
            .expect_error(404, "org_not_found");
        if *needs > Needs::Viewer {
            app.call(method.clone(), path, Some(&viewer), body.clone())
                .await
                .expect_error(403, "forbidden");
        }
        if *needs > Needs::Member {
            app.call(method.clone(), path, Some(&member), body.clone())
                .await
                .expect_error(403, "forbidden");
        }
    }

    // The owner of another organization gets nothing here either, and vice versa.
    app.get(&format!("/v1/orgs/{outsider_org}/members"), Some(&owner))
        .await
        .expect_error(404, "org_not_found");

    // Routes outside organizations still need a session.
    for (method, path) in [
        (Method::GET, "/v1/users/me"),
        (Method::PATCH, "/v1/users/me"),
        (Method::GET, "/v1/orgs"),
        (Method::POST, "/v1/orgs"),
        (Method::POST, "/v1/auth/logout"),
        (Method::POST, "/v1/auth/password"),
        (Method::GET, "/v1/auth/sessions"),
        (Method::POST, "/v1/invitations/accept"),
        (Method::GET, "/v1/prompt-templates"),
        (Method::POST, "/v1/chat/completions"),
    ] {
        let body = (method != Method::GET).then(|| json!({}));
        app.call(method, path, None, body)
            .await
            .expect_error(401, "unauthenticated");
    }

    // A malformed id is a bad request, not a server error.
    app.get("/v1/orgs/not-a-uuid", Some(&owner))
        .await
        .expect_error(400, "invalid_request");
}
