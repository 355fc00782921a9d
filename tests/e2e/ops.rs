//! Operations endpoints, request ids, and the committed spec.

use docent_infrastructure::testing::Backend;

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_metrics_spec_and_docs_answer() {
    let app = TestApp::start(Backend::Sqlite).await;
    let health = app.get("/healthz", None).await.expect(200);
    assert_eq!(health["status"], "ok");
    let ready = app.get("/readyz", None).await.expect(200);
    assert_eq!(ready["checks"]["database"], "ok");
    assert_eq!(ready["checks"]["vector_index"], "ok");
    assert_eq!(ready["checks"]["embedder"], "ok");

    let spec = app.get("/openapi.json", None).await.expect(200);
    assert_eq!(spec["info"]["title"], "docent");
    // The served document is the committed one.
    let committed: serde_json::Value =
        serde_json::from_str(&docent_http_api::openapi_json()).unwrap();
    assert_eq!(spec, committed);
    let docs = app
        .client
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status().as_u16(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));

    app.get("/v1/users/me", None).await.expect(401);
    // A method a path does not take answers 405 with the methods it does.
    for (path, allowed) in [
        ("/v1/orgs", "GET, POST"),
        (
            "/v1/orgs/00000000-0000-0000-0000-000000000000/documents/text",
            "POST",
        ),
    ] {
        let refused = app
            .client
            .put(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), 405, "{path}");
        assert_eq!(
            refused.headers()["allow"].to_str().unwrap(),
            allowed,
            "{path}"
        );
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["code"], "method_not_allowed");
    }
    // A malformed id in a path is named by its parameter.
    let (_, token) = app
        .signup("ops-ids@example.com", "correct horse battery")
        .await;
    let id = "00000000-0000-0000-0000-000000000000";
    for (path, name) in [
        ("/v1/orgs/not-an-id/documents".to_owned(), "org_id"),
        (format!("/v1/orgs/{id}/documents/nope"), "document_id"),
    ] {
        let refused = app
            .get(&path, Some(&token))
            .await
            .expect_error(400, "invalid_request");
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("`{name}` is not a valid id")),
            "{path}: {message}"
        );
    }
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status().as_u16(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("docent_http_requests_total"), "{text}");
    assert!(text.contains("operation=\"user_me_get\""), "{text}");
    assert!(text.contains("operation=\"ops_ready\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_a_request_id() {
    let app = TestApp::start(Backend::Sqlite).await;
    let ok = app.get("/healthz", None).await;
    let id = ok
        .headers
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    // A caller's own plain request id is kept; a hostile one is replaced.
    let kept = app
        .client
        .get(format!("{}/v1/users/me", app.base))
        .header("x-request-id", "trace-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace-abc.123");
    let body: serde_json::Value = kept.json().await.unwrap();
    assert_eq!(body["request_id"], "trace-abc.123");
    let replaced = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "x".repeat(500).as_str());
}

#[test]
fn the_committed_spec_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = docent_http_api::openapi_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `just openapi` (or `./dev openapi`) and commit the result"
    );
}

/// openapi-python-client drops every schema with an `allOf` over a non-object, and every
/// operation using it ("Cannot take allOf a non-object").
#[test]
fn no_field_wraps_an_enum_in_all_of() {
    let spec: serde_json::Value = serde_json::from_str(&docent_http_api::openapi_json()).unwrap();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let mut enum_fields = 0;
    for (name, schema) in schemas {
        let Some(properties) = schema["properties"].as_object() else {
            continue;
        };
        for (field, property) in properties {
            for part in property["allOf"].as_array().into_iter().flatten() {
                let target = part["$ref"].as_str().and_then(|r| r.rsplit('/').next());
                if let Some(target) = target {
                    assert_eq!(
                        schemas[target]["type"], "object",
                        "{name}.{field}: allOf over {target}"
                    );
                }
            }
            let direct = property["$ref"].as_str().and_then(|r| r.rsplit('/').next());
            if direct.is_some_and(|target| schemas[target]["enum"].is_array()) {
                enum_fields += 1;
                assert!(property["description"].is_string(), "{name}.{field}");
            }
        }
    }
    assert!(enum_fields >= 10, "only {enum_fields} enum fields");
}

#[test]
fn every_operation_has_an_id_a_summary_a_tag_and_error_responses() {
    let spec: serde_json::Value = serde_json::from_str(&docent_http_api::openapi_json()).unwrap();
    let mut ids = std::collections::HashSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            assert!(
                id.contains('_') && id == id.to_lowercase(),
                "{id} is not noun_verb"
            );
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(
                operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{id} has no summary"
            );
            assert!(
                operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{id} has no tag"
            );
            let responses = operation["responses"].as_object().unwrap();
            if !path.starts_with("/healthz") && !path.starts_with("/readyz") {
                for status in ["400", "401", "404", "500"] {
                    assert!(
                        responses.contains_key(status),
                        "{id} does not document {status}"
                    );
                }
            }
        }
    }
    assert!(ids.len() >= 20, "only {} operations", ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_while_the_embedder_is_unreachable() {
    // An embeddings API nobody listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        use docent_infrastructure::config::EmbeddingProvider;
        config.embedding.provider = EmbeddingProvider::OpenaiCompatible;
        config.embedding.base_url = Some(gone);
        config.embedding.model = Some("all-minilm".into());
        config.embedding.dimensions = Some(384);
    })
    .await;
    app.get("/healthz", None).await.expect(200);
    let ready = app.get("/readyz", None).await.expect(503);
    assert_eq!(ready["status"], "unavailable");
    assert_eq!(ready["checks"]["database"], "ok");
    assert_eq!(ready["checks"]["vector_index"], "ok");
    assert_eq!(ready["checks"]["embedder"], "unavailable");
}
