//! The audit log: every audited change, with actor, target, request id and client address.

use docent_infrastructure::testing::Backend;
use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::TestApp;

const PW: &str = "correct horse battery";

on_both_backends!(changes_are_audited_with_their_request);

async fn changes_are_audited_with_their_request(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (owner_id, owner) = app.signup("owner@example.com", PW).await;
    let org = app.create_org(&owner, "Audited").await;
    let (viewer_id, viewer) = app
        .join(&owner, &org, "viewer@example.com", "viewer", PW)
        .await;
    app.patch(
        &format!("/v1/orgs/{org}/members/{viewer_id}"),
        Some(&owner),
        json!({"role": "member"}),
    )
    .await
    .expect(200);
    let created = app
        .post(
            &format!("/v1/orgs/{org}/api-keys"),
            Some(&owner),
            json!({"name": "audited key", "scopes": ["chat"]}),
        )
        .await;
    let create_request_id = created.headers["x-request-id"].to_str().unwrap().to_owned();
    let created = created.expect(201);
    let secret = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    app.call(
        Method::POST,
        &format!("/v1/orgs/{org}/api-keys/{key_id}/revoke"),
        Some(&owner),
        None,
    )
    .await
    .expect(204);
    app.patch(
        &format!("/v1/orgs/{org}"),
        Some(&owner),
        json!({"name": "Audited Inc"}),
    )
    .await
    .expect(200);
    let invitation = app
        .invite(&owner, &org, "late@example.com", "viewer")
        .await
        .expect(201);
    let invitation_id = invitation["id"].as_str().unwrap();
    app.delete(
        &format!("/v1/orgs/{org}/invitations/{invitation_id}"),
        Some(&owner),
    )
    .await
    .expect(204);
    // A refused change leaves no trace.
    app.patch(
        &format!("/v1/orgs/{org}/members/{owner_id}"),
        Some(&owner),
        json!({"role": "viewer"}),
    )
    .await
    .expect_error(409, "last_owner");

    let log = app
        .get(&format!("/v1/orgs/{org}/audit-events"), Some(&owner))
        .await
        .expect(200);
    let items = log["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "invitation.revoke",
            "invitation.create",
            "org.update",
            "api_key.revoke",
            "api_key.create",
            "member.role_change",
            "invitation.accept",
            "invitation.create",
            "org.create",
        ]
    );
    for event in items {
        assert_eq!(event["client_addr"], "127.0.0.1", "{event}");
        assert!(
            event["request_id"].as_str().is_some_and(|r| !r.is_empty()),
            "{event}"
        );
        assert_eq!(event["actor"]["kind"], "user", "{event}");
    }
    let by_action =
        |action: &str| -> &Value { items.iter().find(|e| e["action"] == action).unwrap() };
    let key_created = by_action("api_key.create");
    assert_eq!(key_created["request_id"], create_request_id.as_str());
    assert_eq!(
        key_created["target"],
        json!({"kind": "api_key", "id": key_id})
    );
    assert_eq!(
        by_action("member.role_change")["detail"],
        "viewer -> member"
    );
    assert_eq!(
        by_action("invitation.accept")["actor"]["id"],
        viewer_id.as_str()
    );
    assert!(
        !log.to_string().contains(&secret[12..]),
        "the secret leaked into the audit log"
    );

    // Pages go from newest to oldest.
    let mut paged: Vec<Value> = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(
                &format!("/v1/orgs/{org}/audit-events?limit=4&cursor={cursor}"),
                Some(&owner),
            )
            .await
            .expect(200);
        paged.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(paged.len(), items.len());
    assert!(paged.iter().zip(items).all(|(a, b)| a["id"] == b["id"]));

    // Filtered by action, and by actor.
    let filtered = app
        .get(
            &format!("/v1/orgs/{org}/audit-events?action=invitation.create"),
            Some(&owner),
        )
        .await
        .expect(200);
    let filtered = filtered["items"].as_array().unwrap();
    assert_eq!(filtered.len(), 2);
    assert!(filtered.iter().all(|e| e["action"] == "invitation.create"));
    let by_viewer = app
        .get(
            &format!("/v1/orgs/{org}/audit-events?actor={viewer_id}"),
            Some(&owner),
        )
        .await
        .expect(200);
    let by_viewer: Vec<&str> = by_viewer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(by_viewer, ["invitation.accept"]);

    // Members cannot read the log.
    app.get(&format!("/v1/orgs/{org}/audit-events"), Some(&viewer))
        .await
        .expect_error(403, "forbidden");
}
