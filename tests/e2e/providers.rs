//! Provider connections: CRUD, write-only API keys sealed at rest, validation per kind, the SSRF
//! guard on base URLs, access rules, audit events, and master-key rotation.

use base64::Engine as _;
use docent_app::bootstrap;
use docent_infrastructure::testing::Backend;
use docent_kernel::{ExposeSecret as _, ProviderId, SecretString, TenantCtx};
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

const PW: &str = "correct horse battery";
const SECRET: &str = "sk-test-0123456789abcdefWXYZ";

on_both_backends!(providers_are_managed_with_write_only_keys);

async fn providers_are_managed_with_write_only_keys(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, owner) = app.signup("prov-owner@example.com", PW).await;
    let org = app.create_org(&owner, "Providers").await;
    let base = format!("/v1/orgs/{org}/providers");

    let created = app
        .post(
            &base,
            Some(&owner),
            json!({"name": "OpenAI", "kind": "openai", "api_key": SECRET, "default_model": "gpt-4o-mini"}),
        )
        .await
        .expect(201);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["kind"], "openai");
    assert_eq!(created["api_key_last4"], "WXYZ");
    assert!(created["base_url"].is_null());
    assert_eq!(created["timeout_secs"], 60);
    assert!(!created.to_string().contains(SECRET), "{created}");
    let extractive = app
        .post(
            &base,
            Some(&owner),
            json!({"name": "Offline", "kind": "extractive"}),
        )
        .await
        .expect(201);
    assert!(extractive["api_key_last4"].is_null());

    // Listed and read without the key.
    let listed = app.get(&base, Some(&owner)).await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains(SECRET));
    let one = app
        .get(&format!("{base}/{id}"), Some(&owner))
        .await
        .expect(200);
    assert_eq!(one["default_model"], "gpt-4o-mini");

    // Changing the key shows the new last four; clearing a required key is refused.
    let updated = app
        .patch(
            &format!("{base}/{id}"),
            Some(&owner),
            json!({"api_key": "sk-new-key-9876", "name": "OpenAI prod", "timeout_secs": 30}),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            updated["api_key_last4"].as_str(),
            updated["name"].as_str(),
            updated["timeout_secs"].as_u64()
        ),
        (Some("9876"), Some("OpenAI prod"), Some(30))
    );
    app.patch(
        &format!("{base}/{id}"),
        Some(&owner),
        json!({"api_key": null}),
    )
    .await
    .expect_error(422, "invalid_input");

    // Validation per kind.
    for (body, field) in [
        (json!({"name": "x", "kind": "openai"}), "api_key"),
        (
            json!({"name": "x", "kind": "openai_compatible"}),
            "base_url",
        ),
        (
            json!({"name": "x", "kind": "extractive", "api_key": "k"}),
            "kind",
        ),
        (
            json!({"name": "x", "kind": "gemini", "api_key": "k", "api_version": "v1"}),
            "api_version",
        ),
        (json!({"name": "", "kind": "extractive"}), "name"),
        (
            json!({"name": "x", "kind": "anthropic", "api_key": "has space"}),
            "api_key",
        ),
        (
            json!({"name": "x", "kind": "openai_compatible", "base_url": "ftp://llm/v1"}),
            "base_url",
        ),
        (
            json!({"name": "x", "kind": "extractive", "timeout_secs": 0}),
            "timeout_secs",
        ),
    ] {
        let refused = app
            .post(&base, Some(&owner), body.clone())
            .await
            .expect_error(422, "invalid_input");
        assert!(
            refused["message"].as_str().unwrap().contains(field),
            "{body}: {refused}"
        );
    }
    app.post(&base, Some(&owner), json!({"name": "x", "kind": "mistral"}))
        .await
        .expect(400);

    // SSRF: internal addresses are refused (this app does not allow private base URLs).
    for url in [
        "http://127.0.0.1:8080/v1",
        "http://localhost:11434/v1",
        "http://169.254.169.254/v1",
        "http://[::1]/v1",
    ] {
        let refused = app
            .post(
                &base,
                Some(&owner),
                json!({"name": "local", "kind": "openai_compatible", "base_url": url}),
            )
            .await
            .expect_error(422, "base_url_refused");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("allow_private_base_urls"),
            "{refused}"
        );
    }
    app.patch(
        &format!("{base}/{id}"),
        Some(&owner),
        json!({"base_url": "http://10.0.0.1/v1", "api_key": "sk-other"}),
    )
    .await
    .expect_error(422, "base_url_refused");

    // Pointing a connection elsewhere needs its key again, or the stored one could be sent there.
    let refused = app
        .patch(
            &format!("{base}/{id}"),
            Some(&owner),
            json!({"base_url": "https://api.example.com/v1"}),
        )
        .await
        .expect_error(422, "invalid_input");
    assert!(
        refused["message"].as_str().unwrap().contains("api_key"),
        "{refused}"
    );

    // Access: members read, only admins and owners write; other organizations see nothing.
    let (_, member) = app
        .join(&owner, &org, "prov-member@example.com", "member", PW)
        .await;
    app.get(&base, Some(&member)).await.expect(200);
    app.post(
        &base,
        Some(&member),
        json!({"name": "m", "kind": "extractive"}),
    )
    .await
    .expect_error(403, "forbidden");
    let (_, stranger) = app.signup("prov-stranger@example.com", PW).await;
    let elsewhere = app.create_org(&stranger, "Elsewhere").await;
    app.get(&format!("{base}/{id}"), Some(&stranger))
        .await
        .expect_error(404, "org_not_found");
    app.get(
        &format!("/v1/orgs/{elsewhere}/providers/{id}"),
        Some(&stranger),
    )
    .await
    .expect_error(404, "provider_not_found");
    app.delete(
        &format!("/v1/orgs/{elsewhere}/providers/{id}"),
        Some(&stranger),
    )
    .await
    .expect_error(404, "provider_not_found");
    // Keys need the providers scopes.
    let reader = app
        .post(
            &format!("/v1/orgs/{org}/api-keys"),
            Some(&owner),
            json!({"name": "r", "scopes": ["providers:read"]}),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&base, Some(&reader)).await.expect(200);
    app.post(
        &base,
        Some(&reader),
        json!({"name": "k", "kind": "extractive"}),
    )
    .await
    .expect_error(403, "insufficient_scope");

    // Deleted, and every change audited without the key.
    app.delete(&format!("{base}/{id}"), Some(&owner))
        .await
        .expect(204);
    app.get(&format!("{base}/{id}"), Some(&owner))
        .await
        .expect_error(404, "provider_not_found");
    let events = app
        .get(&format!("/v1/orgs/{org}/audit-events"), Some(&owner))
        .await
        .expect(200);
    let actions: Vec<_> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"]["id"] == json!(id))
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    // Newest first.
    assert_eq!(
        actions,
        vec!["provider.delete", "provider.update", "provider.create"],
    );
    assert!(!events.to_string().contains("sk-new-key"));
    assert!(!events.to_string().contains(SECRET));
}

#[tokio::test]
async fn private_base_urls_work_when_the_operator_allows_them() {
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        config.providers.allow_private_base_urls = true;
    })
    .await;
    let (_, owner) = app.signup("prov-private@example.com", PW).await;
    let org = app.create_org(&owner, "Private").await;
    let created = app
        .post(
            &format!("/v1/orgs/{org}/providers"),
            Some(&owner),
            json!({"name": "llama.cpp", "kind": "openai_compatible", "base_url": "http://127.0.0.1:8080/v1/"}),
        )
        .await
        .expect(201);
    assert_eq!(created["base_url"], "http://127.0.0.1:8080/v1");
    assert!(created["api_key_last4"].is_null());
}

#[tokio::test]
async fn a_new_master_key_re_seals_every_provider_key() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (_, owner) = app.signup("prov-rotate@example.com", PW).await;
    let org = app.create_org(&owner, "Rotate").await;
    let created = app
        .post(
            &format!("/v1/orgs/{org}/providers"),
            Some(&owner),
            json!({"name": "Anthropic", "kind": "anthropic", "api_key": SECRET}),
        )
        .await
        .expect(201);
    let provider_id = ProviderId::from_uuid(created["id"].as_str().unwrap().parse().unwrap());
    let org_id: docent_kernel::OrgId = org.parse().unwrap();

    // The embedded default generated a private key file in the data directory.
    let key_file = app.config().master_key_file();
    assert!(key_file.is_file());
    let new_key = SecretString::from(base64::engine::general_purpose::STANDARD.encode([7_u8; 32]));
    let mut rotated = app.config().clone();
    rotated.secrets.master_key = Some(new_key.clone());
    assert_eq!(bootstrap::rotate_master_key(&rotated).await.unwrap(), 1);
    assert_eq!(
        bootstrap::rotate_master_key(&rotated).await.unwrap(),
        0,
        "idempotent"
    );

    // With the old key file gone, the new key alone opens it.
    std::fs::remove_file(&key_file).unwrap();
    // (The test app holds the in-process vector index, so the provider service is built directly.)
    let store = std::sync::Arc::new(docent_infrastructure::db::SqlStore::new(
        docent_infrastructure::db::connect(&rotated.database_url(), 2)
            .await
            .unwrap(),
    ));
    let secrets = docent_infrastructure::secrets::AesGcmBox::new(&new_key, &[]).unwrap();
    let providers = docent_providers::ProviderService::new(docent_providers::ProviderPorts {
        repo: store.clone(),
        secrets: std::sync::Arc::new(secrets),
        guard: std::sync::Arc::new(docent_infrastructure::url_guard::NetworkGuard::new(false)),
        models: std::sync::Arc::new(docent_infrastructure::chat_models::ProviderClients::new(
            false,
        )),
        audit: store,
        clock: std::sync::Arc::new(docent_kernel::SystemClock),
    });
    let tenant = TenantCtx::new(
        org_id,
        docent_kernel::Actor::User(docent_kernel::UserId::generate()),
    );
    let provider = providers.get(&tenant, provider_id).await.unwrap();
    let key = providers.api_key(&provider).await.unwrap().unwrap();
    assert_eq!(key.expose_secret(), SECRET);
}

#[tokio::test]
async fn a_connection_test_calls_the_real_model() {
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        config.providers.allow_private_base_urls = true;
    })
    .await;
    let (_, owner) = app.signup("prov-test@example.com", PW).await;
    let org = app.create_org(&owner, "Testing").await;
    let base = format!("/v1/orgs/{org}/providers");
    let create = |body: serde_json::Value| {
        let (app, owner, base) = (&app, owner.clone(), base.clone());
        async move {
            app.post(&base, Some(&owner), body).await.expect(201)["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };

    // The built-in answerer needs no call.
    let offline = create(json!({"name": "Offline", "kind": "extractive"})).await;
    let report = app
        .post(&format!("{base}/{offline}/test"), Some(&owner), json!({}))
        .await
        .expect(200);
    assert_eq!(
        (report["ok"].as_bool(), report["model"].is_null()),
        (Some(true), true)
    );

    // A server nobody listens on: reported, not thrown.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let dead = create(
        json!({"name": "Dead", "kind": "openai_compatible", "base_url": gone, "timeout_secs": 5}),
    )
    .await;
    let report = app
        .post(
            &format!("{base}/{dead}/test"),
            Some(&owner),
            json!({"model": "any"}),
        )
        .await
        .expect(200);
    assert_eq!(report["ok"], false);
    assert_eq!(report["error"]["code"], "unavailable");
    // Without a model to call, the test is refused.
    app.post(&format!("{base}/{dead}/test"), Some(&owner), json!({}))
        .await
        .expect_error(422, "invalid_input");

    let Ok(url) = std::env::var("DOCENT_TEST_LLM_URL") else {
        eprintln!(
            "skipped the real-model half: set DOCENT_TEST_LLM_URL (`./dev test` starts llama.cpp's server with scripts/with-llm)"
        );
        return;
    };
    let live = create(json!({"name": "llama.cpp", "kind": "openai_compatible", "base_url": url, "default_model": "smollm2"})).await;
    let report = app
        .post(&format!("{base}/{live}/test"), Some(&owner), json!({}))
        .await
        .expect(200);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["model"], "smollm2");
    assert!(report["latency_ms"].as_u64().unwrap() > 0);
    assert!(report["error"].is_null());
}
