//! Data that goes when its owner goes: deleting an organization purges its documents, chunks,
//! vectors, blobs, providers, chatbots, conversations, keys and invitations through the job
//! queue, and forgets its audit log and usage ledger when the retention ends.

use std::time::Duration;

use docent_infrastructure::testing::Backend;
use docent_kernel::OrgId;
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

const PW: &str = "correct horse battery";

on_both_backends!(
    a_deleted_organization_leaves_nothing_behind,
    audit_and_usage_outlive_the_purge_until_the_retention_ends,
);

/// Fills an organization with one of everything: a ready document (chunks, vectors, blob), a
/// provider, a chatbot with a conversation and an answer, a key, a pending invitation.
async fn populated(app: &TestApp, owner: &str, name: &str) -> (String, String) {
    let org = app.create_org(owner, name).await;
    let document = app
        .post(
            &format!("/v1/orgs/{org}/documents/text"),
            Some(owner),
            json!({"title": "Policy", "text": "Refunds are paid within fourteen days of a return. ".repeat(60)}),
        )
        .await
        .expect(202);
    let id = document["id"].as_str().unwrap();
    crate::documents::settled(app, owner, &org, id).await;
    let provider = app
        .post(
            &format!("/v1/orgs/{org}/providers"),
            Some(owner),
            json!({"name": "Offline", "kind": "extractive"}),
        )
        .await
        .expect(201);
    let bot = app
        .post(
            &format!("/v1/orgs/{org}/chatbots"),
            Some(owner),
            json!({"name": "Helper", "provider_id": provider["id"]}),
        )
        .await
        .expect(201);
    let bot = bot["id"].as_str().unwrap();
    let conversation = app
        .post(
            &format!("/v1/orgs/{org}/chatbots/{bot}/conversations"),
            Some(owner),
            json!({}),
        )
        .await
        .expect(201);
    let conversation = conversation["conversation"]["id"].as_str().unwrap();
    app.post(
        &format!("/v1/orgs/{org}/chatbots/{bot}/conversations/{conversation}/messages"),
        Some(owner),
        json!({"content": "How fast are refunds paid?"}),
    )
    .await
    .expect(200);
    let key = app
        .post(
            &format!("/v1/orgs/{org}/api-keys"),
            Some(owner),
            json!({"name": "k", "scopes": ["documents:read"]}),
        )
        .await
        .expect(201);
    app.invite(owner, &org, "later@example.com", "member")
        .await
        .expect(201);
    (org, key["key"].as_str().unwrap().to_owned())
}

/// Waits until no job of `org` is left (the purge and, with no retention, the forgetting).
async fn jobs_done(app: &TestApp, org: OrgId, until_zero: &[&str]) {
    for _ in 0..400 {
        let rows = app.services.store.org_rows(org).await.unwrap();
        if rows
            .iter()
            .filter(|(table, _)| until_zero.contains(table))
            .all(|(_, n)| *n == 0)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the purge did not finish: {:?}",
        app.services.store.org_rows(org).await.unwrap()
    );
}

async fn a_deleted_organization_leaves_nothing_behind(backend: Backend) {
    let app = TestApp::start_with(backend, |config| {
        config.retention.deleted_org_days = 0;
    })
    .await;
    let (_, owner) = app.signup("owner@example.com", PW).await;
    let (org, key) = populated(&app, &owner, "Leaving").await;
    let (kept, _) = populated(&app, &owner, "Staying").await;
    let org_id = OrgId::from_uuid(org.parse().unwrap());
    let kept_id = OrgId::from_uuid(kept.parse().unwrap());
    let before = app.services.store.org_rows(org_id).await.unwrap();
    let kept_before = app.services.store.org_rows(kept_id).await.unwrap();
    for table in [
        "documents",
        "document_chunks",
        "providers",
        "chatbots",
        "conversations",
        "chat_messages",
        "api_keys",
        "invitations",
        "memberships",
        "audit_events",
        "usage_daily",
    ] {
        let n = before.iter().find(|(t, _)| *t == table).unwrap().1;
        assert!(n > 0, "the fixture has {table}: {before:?}");
    }
    assert!(app.services.index.count_org(org_id).await.unwrap() > 0);
    assert!(app.services.blobs.count_org(org_id).await.unwrap() > 0);

    app.delete(&format!("/v1/orgs/{org}"), Some(&owner))
        .await
        .expect(204);
    // Gone for its key at once, and from the database, the vector index and the blob store once
    // the purge ran.
    app.get(&format!("/v1/orgs/{org}/documents"), Some(&key))
        .await
        .expect_error(401, "invalid_api_key");
    let every_table = [
        "organizations",
        "memberships",
        "invitations",
        "api_keys",
        "audit_events",
        "usage_daily",
        "documents",
        "document_chunks",
        "jobs",
        "providers",
        "chatbots",
        "conversations",
        "chat_messages",
    ];
    jobs_done(&app, org_id, &every_table).await;
    let after = app.services.store.org_rows(org_id).await.unwrap();
    assert!(after.iter().all(|(_, n)| *n == 0), "{after:?}");
    assert_eq!(app.services.index.count_org(org_id).await.unwrap(), 0);
    assert_eq!(app.services.blobs.count_org(org_id).await.unwrap(), 0);
    let blob_dir = app.config().blobs_dir().join(format!("orgs/{org}"));
    assert!(!blob_dir.exists(), "{}", blob_dir.display());

    // The other organization lost nothing.
    assert_eq!(
        app.services.store.org_rows(kept_id).await.unwrap(),
        kept_before,
        "the kept organization changed"
    );
    assert!(app.services.index.count_org(kept_id).await.unwrap() > 0);
    let results = app
        .post(
            &format!("/v1/orgs/{kept}/search"),
            Some(&owner),
            json!({"query": "refunds"}),
        )
        .await
        .expect(200);
    assert!(!results["results"].as_array().unwrap().is_empty());
}

async fn audit_and_usage_outlive_the_purge_until_the_retention_ends(backend: Backend) {
    let app = TestApp::start(backend).await;
    assert_eq!(app.config().retention.deleted_org_days, 30, "the default");
    let (_, owner) = app.signup("owner@example.com", PW).await;
    let (org, _) = populated(&app, &owner, "Audited").await;
    let org_id = OrgId::from_uuid(org.parse().unwrap());
    app.delete(&format!("/v1/orgs/{org}"), Some(&owner))
        .await
        .expect(204);
    jobs_done(
        &app,
        org_id,
        &["documents", "providers", "api_keys", "memberships"],
    )
    .await;
    // The purge job's own row goes when it completes, just after the data it removed.
    let mut rows = app.services.store.org_rows(org_id).await.unwrap();
    for _ in 0..400 {
        if rows.iter().any(|(t, n)| *t == "jobs" && *n <= 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        rows = app.services.store.org_rows(org_id).await.unwrap();
    }
    let count = |table: &str| rows.iter().find(|(t, _)| *t == table).unwrap().1;
    for table in [
        "documents",
        "document_chunks",
        "providers",
        "chatbots",
        "conversations",
        "chat_messages",
        "api_keys",
        "invitations",
        "memberships",
    ] {
        assert_eq!(count(table), 0, "{table}: {rows:?}");
    }
    // Kept for the retention: the audit log (with the deletion itself), the usage ledger, the
    // organization's row, and the job that forgets them when the retention ends.
    assert!(count("audit_events") > 0, "{rows:?}");
    assert!(count("usage_daily") > 0, "{rows:?}");
    assert_eq!(count("organizations"), 1);
    assert_eq!(count("jobs"), 1, "only the forget job waits: {rows:?}");
    assert_eq!(app.services.index.count_org(org_id).await.unwrap(), 0);
    assert_eq!(app.services.blobs.count_org(org_id).await.unwrap(), 0);
}
