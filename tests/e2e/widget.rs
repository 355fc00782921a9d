//! The chat widget over HTTP, as a website's pages call it: publishable keys (`dk_pub_…`) made
//! for one chatbot and a list of web origins, accepted from those origins only (CORS answered
//! for them and no other), refused on every other route, with per-visitor limits; visitors'
//! conversations kept apart and visible to the organization in the console.

use reqwest::Method;
use serde_json::{Value, json};

use docent_infrastructure::testing::Backend;

use crate::support::TestApp;

const PW: &str = "correct horse battery";
const SHOP: &str = "https://shop.example";

/// A widget request from `origin` with `key`.
async fn widget(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    origin: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", app.base))
        .header("x-docent-key", key);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// The `conversation` event's id in an SSE answer.
fn conversation_of(stream: &str) -> String {
    let at = stream.find("event: conversation").expect(stream);
    stream[at..]
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_answers_only_its_origins_and_its_key_opens_nothing_else() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (_, owner) = app.signup("owner-widget@example.com", PW).await;
    let org = app.create_org(&owner, "Widget Org").await;
    let provider = app
        .post(
            &format!("/v1/orgs/{org}/providers"),
            Some(&owner),
            json!({"name": "Offline", "kind": "extractive"}),
        )
        .await
        .expect_id(201);
    let bot = app
        .post(
            &format!("/v1/orgs/{org}/chatbots"),
            Some(&owner),
            json!({"name": "Shop helper", "provider_id": provider, "welcome_message": "Hi! Ask about returns."}),
        )
        .await
        .expect_id(201);
    let document = app
        .post(
            &format!("/v1/orgs/{org}/documents/text"),
            Some(&owner),
            json!({"title": "Returns", "text": "Customers may return any unopened product within 45 days of delivery for a full refund."}),
        )
        .await
        .expect_id(202);
    crate::documents::settled(&app, &owner, &org, &document).await;

    // Publishable keys: chat on one chatbot from named origins, nothing more.
    let keys = format!("/v1/orgs/{org}/api-keys");
    for (body, field) in [
        (
            json!({"name": "w", "scopes": ["chat", "documents:read"], "chatbot_ids": [bot], "allowed_origins": [SHOP]}),
            "scopes",
        ),
        (
            json!({"name": "w", "scopes": ["chat"], "allowed_origins": [SHOP]}),
            "chatbot_ids",
        ),
        (
            json!({"name": "w", "scopes": ["chat"], "chatbot_ids": [bot], "allowed_origins": ["shop.example"]}),
            "allowed_origins",
        ),
        (
            json!({"name": "w", "scopes": ["chat"], "chatbot_ids": [bot], "allowed_origins": []}),
            "allowed_origins",
        ),
    ] {
        let refused = app.post(&keys, Some(&owner), body).await.expect(422);
        assert!(
            refused["message"].as_str().unwrap().contains(field),
            "{refused}"
        );
    }
    let created = app
        .post(
            &keys,
            Some(&owner),
            json!({"name": "Shop widget", "scopes": ["chat"], "chatbot_ids": [bot], "allowed_origins": ["HTTPS://Shop.Example/"]}),
        )
        .await
        .expect(201);
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("dk_pub_"), "{key}");
    assert_eq!(created["allowed_origins"], json!([SHOP]));
    assert_eq!(created["rate_limit_per_minute"], 60);

    // It opens no route of the API, however it is presented.
    for path in [
        format!("/v1/orgs/{org}/chatbots"),
        format!("/v1/orgs/{org}/chatbots/{bot}"),
        format!("/v1/orgs/{org}/documents"),
        "/v1/users/me".to_owned(),
    ] {
        let reply = app.get(&path, Some(&key)).await;
        assert_eq!(reply.status.as_u16(), 403, "{path}: {:?}", reply.body);
        assert_eq!(reply.body["code"], "publishable_key", "{path}");
    }
    let completions = app
        .post(
            "/v1/chat/completions",
            Some(&key),
            json!({"model": bot, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(completions.status.as_u16(), 403, "{:?}", completions.body);
    // A secret key does not work on the widget's routes.
    let secret = app
        .post(
            &keys,
            Some(&owner),
            json!({"name": "backend", "scopes": ["chat"]}),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, _) = widget(
        &app,
        Method::GET,
        "/widget/v1/config",
        &secret,
        Some(SHOP),
        None,
    )
    .await;
    assert_eq!(status, 401);

    // From its origin: configuration and CORS for that origin; from another: refused, unreadable.
    let (status, headers, body) = widget(
        &app,
        Method::GET,
        "/widget/v1/config",
        &key,
        Some(SHOP),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["access-control-allow-origin"], SHOP);
    let config: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        config,
        json!({"name": "Shop helper", "welcome": "Hi! Ask about returns."})
    );
    for origin in [
        Some("https://evil.example"),
        Some("http://shop.example"),
        None,
    ] {
        let (status, headers, body) =
            widget(&app, Method::GET, "/widget/v1/config", &key, origin, None).await;
        assert_eq!(status, 403, "{origin:?}: {body}");
        assert!(body.contains("origin_refused"), "{body}");
        assert!(headers.get("access-control-allow-origin").is_none());
    }
    let (status, headers, _) = widget(
        &app,
        Method::OPTIONS,
        "/widget/v1/chat",
        "",
        Some(SHOP),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-docent-key")
    );
    let (status, _, body) = widget(
        &app,
        Method::POST,
        "/widget/v1/chat",
        &key,
        Some("https://evil.example"),
        Some(json!({"question": "hi", "visitor": "0123456789abcdef0123"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // A visitor's question streams its answer with citations; the next continues the conversation.
    let visitor = "a1b2c3d4e5f60718293a4b5c";
    let ask = |question: &'static str, visitor: &'static str, conversation: Option<String>| {
        let app = &app;
        let key = key.clone();
        async move {
            widget(
                app,
                Method::POST,
                "/widget/v1/chat",
                &key,
                Some(SHOP),
                Some(
                    json!({"question": question, "visitor": visitor, "conversation": conversation}),
                ),
            )
            .await
        }
    };
    let (status, headers, stream) =
        ask("How long do I have to return a product?", visitor, None).await;
    assert_eq!(status, 200, "{stream}");
    assert_eq!(headers["access-control-allow-origin"], SHOP);
    for event in [
        "event: conversation",
        "event: delta",
        "event: citations",
        "event: done",
    ] {
        assert!(stream.contains(event), "{event}: {stream}");
    }
    assert!(stream.contains("45 days"), "{stream}");
    assert!(stream.contains(r#""title":"Returns""#), "{stream}");
    assert!(
        !stream.contains("/orgs/"),
        "no console links in the widget: {stream}"
    );
    let conversation = conversation_of(&stream);
    let (_, _, again) = ask("And unopened ones?", visitor, Some(conversation.clone())).await;
    assert_eq!(conversation_of(&again), conversation);
    // Another visitor holding that id gets a conversation of their own.
    let (_, _, other) = ask(
        "What about refunds?",
        "ffffeeeeddddccccbbbbaaaa",
        Some(conversation.clone()),
    )
    .await;
    assert_ne!(conversation_of(&other), conversation);
    let (status, _, body) = ask("x", "short", None).await;
    assert_eq!(status, 400, "{body}");

    // One visitor may ask ten questions a minute.
    let mut limited = None;
    for _ in 0..10 {
        let (status, _, body) = ask("Returns?", "1111222233334444", None).await;
        if status != 200 {
            limited = Some((status, body));
            break;
        }
    }
    assert!(limited.is_none(), "{limited:?}");
    let (status, _, body) = ask("Returns?", "1111222233334444", None).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("rate_limited"), "{body}");

    // The organization sees its visitors' conversations in the console.
    let mut console = crate::web::Browser::new(&app);
    assert_eq!(
        console.sign_in("owner-widget@example.com", PW).await.status,
        303
    );
    let visitors = console
        .get(&format!("/orgs/{org}/chatbots/{bot}/visitors"))
        .await
        .body;
    assert!(visitors.contains("Shop widget"), "{visitors}");
    assert!(
        visitors.contains("How long do I have to return a product?"),
        "{visitors}"
    );
    assert!(
        !visitors.contains(visitor),
        "the visitor's id stays in their browser"
    );
    let key_id = created["id"].as_str().unwrap();
    let opened = console
        .get(&format!(
            "/orgs/{org}/chatbots/{bot}/visitors?key={key_id}&conversation={conversation}"
        ))
        .await
        .body;
    assert!(opened.contains("And unopened ones?"), "{opened}");
    assert!(opened.contains("45 days"), "{opened}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_page_makes_a_publishable_key_with_its_snippet() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (_, owner) = app.signup("owner-pub@example.com", PW).await;
    let org = app.create_org(&owner, "Pub Org").await;
    let provider = app
        .post(
            &format!("/v1/orgs/{org}/providers"),
            Some(&owner),
            json!({"name": "Offline", "kind": "extractive"}),
        )
        .await
        .expect_id(201);
    let bot = app
        .post(
            &format!("/v1/orgs/{org}/chatbots"),
            Some(&owner),
            json!({"name": "Helper", "provider_id": provider}),
        )
        .await
        .expect_id(201);
    let mut console = crate::web::Browser::new(&app);
    console.sign_in("owner-pub@example.com", PW).await;
    let keys = format!("/orgs/{org}/keys");
    let csrf = crate::web::csrf_of(&console.get(&keys).await);
    let refused = console
        .post(
            &keys,
            &[
                ("csrf", &csrf),
                ("action", "create_publishable"),
                ("name", "Site"),
                ("chatbot", &bot),
                ("origins", "not an origin"),
            ],
            &[],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("is not a web origin"),
        "{}",
        refused.body
    );
    let created = console
        .post(
            &keys,
            &[
                ("csrf", &csrf),
                ("action", "create_publishable"),
                ("name", "Site"),
                ("chatbot", &bot),
                (
                    "origins",
                    "https://www.example.com\nhttps://help.example.com",
                ),
            ],
            &[],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.body.contains("dk_pub_"), "{}", created.body);
    assert!(
        created.body.contains(r#"id="new-embed""#),
        "{}",
        created.body
    );
    assert!(
        created.body.contains(&format!(
            "widget.js&quot; data-chatbot=&quot;{bot}&quot; data-key=&quot;dk_pub_"
        )),
        "{}",
        created.body
    );
    let listed = console.get(&keys).await;
    assert!(
        listed.body.contains(
            "widget on https:&#x2f;&#x2f;www.example.com, https:&#x2f;&#x2f;help.example.com"
        ),
        "{}",
        listed.body
    );
}
