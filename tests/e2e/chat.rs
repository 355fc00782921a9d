//! Chatbots and answers end to end: chatbots over real ingested documents (real embedding model,
//! in-process Qdrant), answers with citations from the built-in extractive provider and from a
//! real model server (llama.cpp with SmolLM2), the fallback answer, streaming, cancellation,
//! conversation ownership, keys' allow-lists and quotas, and the OpenAI-compatible endpoint driven
//! by the official OpenAI Python SDK.

use std::time::{Duration, Instant};

use docent_infrastructure::testing::Backend;
use serde_json::{Value, json};

use crate::documents::settled;
use crate::on_both_backends;
use crate::support::TestApp;

const PW: &str = "correct horse battery";
const RETURNS: &str = "Customers may return any unopened product within 45 days of delivery for a full refund. Refunds are issued to the original payment method within five business days.";
const LIGHTHOUSE: &str = "The lighthouse lamp is cleaned every Tuesday. Its keeper logs the weather at dawn and at dusk, and replaces the lamp's bulb after 2000 hours of use.";
const RETURN_QUESTION: &str = "How many days do customers have to return a product?";
const UNRELATED: &str = "What is the orbital period of Neptune's largest moon?";

/// Uploads a text document and waits until it is ready; returns its id.
async fn text_document(
    app: &TestApp,
    token: &str,
    org: &str,
    title: &str,
    text: &str,
    tag: &str,
) -> String {
    let created = app
        .post(
            &format!("/v1/orgs/{org}/documents/text"),
            Some(token),
            json!({"title": title, "text": text, "tags": [tag]}),
        )
        .await
        .expect(202);
    let id = created["id"].as_str().unwrap().to_owned();
    let document = settled(app, token, org, &id).await;
    assert_eq!(document["status"], "ready", "{document}");
    id
}

/// Posts `body` to `path`, expects 201 and returns the new object's id.
async fn create(app: &TestApp, path: &str, token: &str, body: Value) -> String {
    app.post(path, Some(token), body).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Starts a conversation with the chatbot at `chatbot_path`; returns its messages path.
async fn new_conversation(app: &TestApp, chatbot_path: &str, token: &str) -> String {
    let started = app
        .post(
            &format!("{chatbot_path}/conversations"),
            Some(token),
            json!({}),
        )
        .await
        .expect(201);
    let id = started["conversation"]["id"].as_str().unwrap();
    format!("{chatbot_path}/conversations/{id}/messages")
}

/// This month's usage report by chatbot, and the row of `chatbot`.
async fn chatbot_usage(app: &TestApp, token: &str, org: &str, chatbot: &str) -> (Value, Value) {
    let usage = app
        .get(
            &format!("/v1/orgs/{org}/usage?group_by=chatbot"),
            Some(token),
        )
        .await
        .expect(200);
    let row = usage["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == chatbot)
        .unwrap()
        .clone();
    (usage, row)
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub name: String,
    pub data: String,
}

/// Parses a complete SSE body (comments skipped).
pub fn parse_sse(body: &str) -> Vec<SseEvent> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = "message".to_owned();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    value.trim().clone_into(&mut name);
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            (!data.is_empty()).then(|| SseEvent {
                name,
                data: data.join("\n"),
            })
        })
        .collect()
}

/// Posts `body` and returns the status, headers and raw text.
async fn post_raw(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
    accept: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .json(&body);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// Asks a streamed question and checks the event order: deltas, then citations, usage, done.
/// Returns the streamed text, the citations and the done event.
async fn ask_streamed(
    app: &TestApp,
    path: &str,
    token: &str,
    question: &str,
    accept_header: bool,
) -> (String, Value, Value) {
    let (status, headers, body) = if accept_header {
        post_raw(
            app,
            path,
            token,
            json!({"content": question}),
            Some("text/event-stream"),
        )
        .await
    } else {
        post_raw(
            app,
            path,
            token,
            json!({"content": question, "stream": true}),
            None,
        )
        .await
    };
    assert_eq!(status, 200, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    let events = parse_sse(&body);
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    let deltas = names.iter().take_while(|n| **n == "delta").count();
    assert!(deltas >= 1, "{names:?}");
    assert_eq!(&names[deltas..], ["citations", "usage", "done"], "{body}");
    let text: String = events[..deltas]
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(&e.data).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let citations: Value = serde_json::from_str(&events[deltas].data).unwrap();
    let done: Value = serde_json::from_str(&events[deltas + 2].data).unwrap();
    (text, citations["citations"].clone(), done)
}

on_both_backends!(chatbots_answer_from_documents_with_citations);

async fn chatbots_answer_from_documents_with_citations(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, owner) = app.signup("chat-owner@example.com", PW).await;
    let org = app.create_org(&owner, "Chat").await;
    let returns = text_document(&app, &owner, &org, "Returns policy", RETURNS, "support").await;
    // A Markdown file with headings, so its citations carry a section.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                format!("# Keeping the light\n\n## The lamp\n\n{LIGHTHOUSE}\n").into_bytes(),
            )
            .file_name("duties.md"),
        )
        .text("title", "Lighthouse duties")
        .text("tags", "lighthouse");
    let uploaded = app
        .post_form(&format!("/v1/orgs/{org}/documents"), &owner, form)
        .await
        .expect(202);
    let lighthouse = uploaded["id"].as_str().unwrap().to_owned();
    let document = settled(&app, &owner, &org, &lighthouse).await;
    assert_eq!(document["status"], "ready", "{document}");
    let provider = create(
        &app,
        &format!("/v1/orgs/{org}/providers"),
        &owner,
        json!({"name": "Offline", "kind": "extractive"}),
    )
    .await;
    let bots = format!("/v1/orgs/{org}/chatbots");

    // The built-in tones are listed.
    let templates = app
        .get("/v1/prompt-templates", Some(&owner))
        .await
        .expect(200);
    let names: Vec<&str> = templates["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["professional", "friendly", "concise", "technical"]);
    app.get("/v1/prompt-templates", None)
        .await
        .expect_error(401, "unauthenticated");

    // A chatbot with defaults; the slug comes from the name.
    let bot = app
        .post(
            &bots,
            Some(&owner),
            json!({"name": "Support Desk", "provider_id": provider, "welcome_message": "Hi! Ask me about returns."}),
        )
        .await
        .expect(201);
    let bot_id = bot["id"].as_str().unwrap().to_owned();
    assert_eq!(bot["slug"], "support-desk");
    assert_eq!(bot["tone"], "professional");
    assert_eq!(bot["citation_style"], "inline");
    assert_eq!(bot["knowledge"]["kind"], "all");
    assert_eq!(bot["retrieval"]["top_k"], 5);
    // Decimal settings come back as written, without the noise of a widened f32.
    let raw = app
        .client
        .get(format!("{}{bots}/{bot_id}", app.base))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains("\"temperature\":0.2"), "{raw}");
    assert!(raw.contains("\"min_score\":0.3"), "{raw}");
    assert!(!raw.contains("0000"), "{raw}");

    // Bad settings are refused with clear codes, and nothing is stored.
    let other_org = app.create_org(&owner, "Elsewhere").await;
    let foreign_provider = create(
        &app,
        &format!("/v1/orgs/{other_org}/providers"),
        &owner,
        json!({"name": "X", "kind": "extractive"}),
    )
    .await;
    let foreign_doc = text_document(&app, &owner, &other_org, "Foreign", RETURNS, "x").await;
    let remote = create(
        &app,
        &format!("/v1/orgs/{org}/providers"),
        &owner,
        json!({"name": "Remote", "kind": "openai", "api_key": "sk-test-abcdefgh1234"}),
    )
    .await;
    for (body, status, code) in [
        (
            json!({"name": "A", "provider_id": foreign_provider}),
            404,
            "provider_not_found",
        ),
        (
            json!({"name": "A", "provider_id": provider, "tone": "pirate"}),
            422,
            "invalid_input",
        ),
        (
            json!({"name": "A", "provider_id": provider, "tone": "custom"}),
            422,
            "invalid_input",
        ),
        (
            json!({"name": "A", "provider_id": provider, "slug": "Not A Slug"}),
            422,
            "invalid_input",
        ),
        (
            json!({"name": "A", "provider_id": provider, "slug": "support-desk"}),
            409,
            "slug_taken",
        ),
        (
            json!({"name": "A", "provider_id": provider, "temperature": 3.0}),
            422,
            "invalid_input",
        ),
        (
            json!({"name": "A", "provider_id": provider, "retrieval": {"top_k": 0}}),
            422,
            "invalid_input",
        ),
        (
            json!({"name": "A", "provider_id": provider, "knowledge": {"document_ids": [foreign_doc]}}),
            404,
            "document_not_found",
        ),
        (
            json!({"name": "A", "provider_id": provider, "knowledge": {"tags": ["a"], "document_ids": [returns]}}),
            422,
            "invalid_input",
        ),
        (
            json!({"name": "A", "provider_id": remote}),
            422,
            "invalid_input",
        ),
        (
            json!({"name": "", "provider_id": provider}),
            422,
            "invalid_input",
        ),
    ] {
        app.post(&bots, Some(&owner), body.clone())
            .await
            .expect_error(status, code);
    }
    assert_eq!(
        app.get(&bots, Some(&owner)).await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A conversation starts with the welcome message.
    let conversations = format!("{bots}/{bot_id}/conversations");
    let started = app
        .post(&conversations, Some(&owner), json!({}))
        .await
        .expect(201);
    assert_eq!(started["welcome_message"], "Hi! Ask me about returns.");
    let conversation = started["conversation"]["id"].as_str().unwrap().to_owned();
    let messages = format!("{conversations}/{conversation}/messages");

    // The answer quotes and cites the returns policy.
    let answer = app
        .post(&messages, Some(&owner), json!({"content": RETURN_QUESTION}))
        .await
        .expect(200)["message"]
        .clone();
    assert_eq!(answer["role"], "assistant");
    let content = answer["content"].as_str().unwrap();
    assert!(content.contains("within 45 days of delivery"), "{content}");
    assert!(content.contains("[1]"), "{content}");
    let citations = answer["citations"].as_array().unwrap();
    assert_eq!(citations[0]["document_id"], returns.as_str(), "{answer}");
    assert_eq!(citations[0]["n"], 1);
    assert_eq!(citations[0]["title"], "Returns policy");
    assert!(
        citations[0]["snippet"]
            .as_str()
            .unwrap()
            .starts_with("Customers may return")
    );
    assert!(citations[0]["score"].as_f64().unwrap() >= 0.3);
    for citation in citations {
        let n = citation["n"].as_u64().unwrap();
        assert!(content.contains(&format!("[{n}]")), "{answer}");
    }
    assert_eq!(answer["incomplete"], false);
    assert_eq!(
        answer["usage"]["prompt_tokens"], 0,
        "the extractive provider calls no model"
    );

    // Nothing relevant: the fallback answer, no citations, no model.
    let fallback = app
        .post(&messages, Some(&owner), json!({"content": UNRELATED}))
        .await
        .expect(200)["message"]
        .clone();
    assert!(
        fallback["content"]
            .as_str()
            .unwrap()
            .starts_with("I could not find anything"),
        "{fallback}"
    );
    assert_eq!(fallback["citations"], json!([]));

    // Streamed, by flag and by Accept header: deltas, citations, usage, done — the same text as
    // stored.
    for accept in [false, true] {
        let (text, streamed_citations, done) =
            ask_streamed(&app, &messages, &owner, RETURN_QUESTION, accept).await;
        assert!(text.contains("within 45 days"), "{text}");
        assert_eq!(streamed_citations[0]["document_id"], returns.as_str());
        let stored = app.get(&messages, Some(&owner)).await.expect(200);
        let last = stored["items"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["id"], done["message_id"]);
        assert_eq!(last["content"].as_str().unwrap(), text);
    }

    // The history: questions and answers in order, titled by the first question.
    let stored = app.get(&messages, Some(&owner)).await.expect(200);
    let roles: Vec<&str> = stored["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant"
        ]
    );
    assert!(stored["items"][0]["usage"].is_null());
    let listed = app.get(&conversations, Some(&owner)).await.expect(200);
    assert_eq!(listed["items"][0]["title"], RETURN_QUESTION);

    // Two questions at once in one conversation: each answer stays next to its question.
    let (first, second) = tokio::join!(
        app.post(&messages, Some(&owner), json!({"content": RETURN_QUESTION})),
        app.post(&messages, Some(&owner), json!({"content": UNRELATED})),
    );
    first.expect(200);
    second.expect(200);
    let stored = app.get(&messages, Some(&owner)).await.expect(200);
    let items = stored["items"].as_array().unwrap();
    assert_eq!(items.len(), 12);
    for pair in items[8..].chunks(2) {
        assert_eq!(
            (pair[0]["role"].as_str(), pair[1]["role"].as_str()),
            (Some("user"), Some("assistant"))
        );
        let fallback = pair[1]["content"]
            .as_str()
            .unwrap()
            .starts_with("I could not find");
        assert_eq!(pair[0]["content"] == UNRELATED, fallback, "{pair:?}");
    }

    // Invalid questions.
    for content in ["", "   ", &"x".repeat(4001)] {
        app.post(&messages, Some(&owner), json!({"content": content}))
            .await
            .expect_error(422, "invalid_input");
    }

    // Another member of the organization cannot read or continue the conversation.
    let (_, member) = app
        .join(&owner, &org, "chat-member@example.com", "member", PW)
        .await;
    app.get(&messages, Some(&member))
        .await
        .expect_error(404, "conversation_not_found");
    app.post(
        &messages,
        Some(&member),
        json!({"content": RETURN_QUESTION}),
    )
    .await
    .expect_error(404, "conversation_not_found");
    assert_eq!(
        app.get(&conversations, Some(&member)).await.expect(200)["items"],
        json!([])
    );
    // A stranger sees no chatbot at all.
    let (_, stranger) = app.signup("chat-stranger@example.com", PW).await;
    app.post(&messages, Some(&stranger), json!({"content": "hi"}))
        .await
        .expect_error(404, "org_not_found");

    // A knowledge scope limits what is found: the lighthouse bot does not know about returns.
    let scoped = app
        .post(
            &bots,
            Some(&member),
            json!({"name": "Keeper", "provider_id": provider, "knowledge": {"tags": ["lighthouse"]}, "fallback_answer": "Only lighthouse questions, please.", "citation_style": "footnotes", "tone": "concise"}),
        )
        .await
        .expect(201);
    let scoped_id = scoped["id"].as_str().unwrap();
    let keeper = app
        .post(
            &format!("{bots}/{scoped_id}/conversations"),
            Some(&member),
            json!({"title": "Lamp"}),
        )
        .await
        .expect(201);
    let keeper_messages = format!(
        "{bots}/{scoped_id}/conversations/{}/messages",
        keeper["conversation"]["id"].as_str().unwrap()
    );
    let refused = app
        .post(
            &keeper_messages,
            Some(&member),
            json!({"content": RETURN_QUESTION}),
        )
        .await
        .expect(200);
    assert_eq!(
        refused["message"]["content"],
        "Only lighthouse questions, please."
    );
    let known = app
        .post(
            &keeper_messages,
            Some(&member),
            json!({"content": "How often is the lighthouse lamp cleaned?"}),
        )
        .await
        .expect(200)["message"]
        .clone();
    let text = known["content"].as_str().unwrap();
    assert!(
        text.contains("> The lighthouse lamp is cleaned every Tuesday. [1]"),
        "{text}"
    );
    assert!(
        text.ends_with("\n\nSources:\n[1] Lighthouse duties"),
        "{text}"
    );
    assert_eq!(known["citations"][0]["document_id"], lighthouse.as_str());
    assert_eq!(
        known["citations"][0]["section"], "Keeping the light › The lamp",
        "{known}"
    );
    // A document-id scope works the same way.
    let patched = app
        .patch(
            &format!("{bots}/{scoped_id}"),
            Some(&member),
            json!({"knowledge": {"document_ids": [returns]}, "welcome_message": null}),
        )
        .await
        .expect(200);
    assert_eq!(patched["knowledge"]["kind"], "documents");
    let now_returns = app
        .post(
            &keeper_messages,
            Some(&member),
            json!({"content": RETURN_QUESTION}),
        )
        .await
        .expect(200);
    assert_eq!(
        now_returns["message"]["citations"][0]["document_id"],
        returns.as_str()
    );

    // Viewers may talk to chatbots but not change them.
    let (_, viewer) = app
        .join(&owner, &org, "chat-viewer@example.com", "viewer", PW)
        .await;
    app.patch(
        &format!("{bots}/{bot_id}"),
        Some(&viewer),
        json!({"name": "x"}),
    )
    .await
    .expect_error(403, "forbidden");
    app.post(&conversations, Some(&viewer), json!({}))
        .await
        .expect(201);

    // Usage: one request per answer on the chatbots.
    let (usage, row) = chatbot_usage(&app, &owner, &org, &bot_id).await;
    assert_eq!(row["requests"], 6, "{usage}");

    // A provider in use cannot be deleted; deleting the chatbot deletes its conversations.
    app.delete(
        &format!("/v1/orgs/{org}/providers/{provider}"),
        Some(&owner),
    )
    .await
    .expect_error(409, "provider_in_use");
    app.delete(&format!("{bots}/{bot_id}"), Some(&owner))
        .await
        .expect(204);
    app.get(&messages, Some(&owner))
        .await
        .expect_error(404, "chatbot_not_found");
    app.get(&format!("{bots}/{bot_id}"), Some(&owner))
        .await
        .expect_error(404, "chatbot_not_found");

    // Chatbot changes are audited.
    let audit = app
        .get(&format!("/v1/orgs/{org}/audit-events"), Some(&owner))
        .await
        .expect(200);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["chatbot.create", "chatbot.update", "chatbot.delete"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
}

on_both_backends!(keys_use_chatbots_within_allow_lists_and_quotas);

async fn keys_use_chatbots_within_allow_lists_and_quotas(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, owner) = app.signup("chat-keys@example.com", PW).await;
    let org = app.create_org(&owner, "Keyed chat").await;
    text_document(&app, &owner, &org, "Returns policy", RETURNS, "support").await;
    let provider = create(
        &app,
        &format!("/v1/orgs/{org}/providers"),
        &owner,
        json!({"name": "Offline", "kind": "extractive"}),
    )
    .await;
    let bots = format!("/v1/orgs/{org}/chatbots");
    let bot = |name: &'static str| {
        let app = &app;
        let owner = owner.clone();
        let provider = provider.clone();
        let bots = bots.clone();
        async move {
            create(
                app,
                &bots,
                &owner,
                json!({"name": name, "provider_id": provider}),
            )
            .await
        }
    };
    let allowed = bot("Allowed").await;
    let hidden = bot("Hidden").await;

    // An allow-list names the organization's chatbots only.
    app.post(
        &format!("/v1/orgs/{org}/api-keys"),
        Some(&owner),
        json!({"name": "k", "scopes": ["chat"], "chatbot_ids": [uuid::Uuid::now_v7()]}),
    )
    .await
    .expect_error(404, "chatbot_not_found");
    let key = app
        .post(
            &format!("/v1/orgs/{org}/api-keys"),
            Some(&owner),
            json!({"name": "widget", "scopes": ["chat", "chatbots:read"], "chatbot_ids": [allowed], "monthly_message_quota": 2}),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // The key sees only its chatbot.
    let listed = app.get(&bots, Some(&key)).await.expect(200);
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [allowed.as_str()]);
    app.get(&format!("{bots}/{hidden}"), Some(&key))
        .await
        .expect_error(404, "chatbot_not_found");
    app.post(
        &format!("{bots}/{hidden}/conversations"),
        Some(&key),
        json!({}),
    )
    .await
    .expect_error(404, "chatbot_not_found");
    // Changing chatbots needs chatbots:write.
    app.patch(
        &format!("{bots}/{allowed}"),
        Some(&key),
        json!({"name": "x"}),
    )
    .await
    .expect_error(403, "insufficient_scope");

    // Two messages fit the quota; the third is refused before any answer is produced.
    let messages = new_conversation(&app, &format!("{bots}/{allowed}"), &key).await;
    for _ in 0..2 {
        app.post(&messages, Some(&key), json!({"content": RETURN_QUESTION}))
            .await
            .expect(200);
    }
    let refused = app
        .post(&messages, Some(&key), json!({"content": RETURN_QUESTION}))
        .await;
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 31 * 86_400);
    refused.expect_error(429, "quota_exceeded");
    // The operator sees the rejection in the metrics.
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"docent_quota_rejections_total{holder="API key",quota="message"} 1"#),
        "{metrics}"
    );
    let stored = app.get(&messages, Some(&key)).await.expect(200);
    assert_eq!(
        stored["items"].as_array().unwrap().len(),
        4,
        "the refused question is not stored"
    );
    // The key's conversation is the key's: the owner does not see it.
    app.get(&messages, Some(&owner))
        .await
        .expect_error(404, "conversation_not_found");
    // The ledger holds the key's two messages.
    let usage = app
        .get(
            &format!("/v1/orgs/{org}/usage?group_by=api_key"),
            Some(&owner),
        )
        .await
        .expect(200);
    let keyed: u64 = usage["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["group"].is_null())
        .map(|r| r["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(keyed, 2, "{usage}");

    // A key without the chat scope cannot talk.
    let reader = app
        .post(
            &format!("/v1/orgs/{org}/api-keys"),
            Some(&owner),
            json!({"name": "reader", "scopes": ["chatbots:read"]}),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("{bots}/{allowed}/conversations"),
        Some(&reader),
        json!({}),
    )
    .await
    .expect_error(403, "insufficient_scope");

    // The OpenAI-compatible endpoint: a key with `chat`, the chatbot's slug as model.
    let chat_key = app
        .post(
            &format!("/v1/orgs/{org}/api-keys"),
            Some(&owner),
            json!({"name": "sdk", "scopes": ["chat"]}),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let completion = app
        .post(
            "/v1/chat/completions",
            Some(&chat_key),
            json!({"model": "allowed", "messages": [{"role": "system", "content": "ignored"}, {"role": "user", "content": RETURN_QUESTION}]}),
        )
        .await
        .expect(200);
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["model"], "allowed");
    assert_eq!(completion["choices"][0]["message"]["role"], "assistant");
    assert!(
        completion["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("45 days")
    );
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    assert!(completion["citations"][0]["document_id"].is_string());
    // By id too; an unknown model, a session token, a missing question are refused.
    app.post(
        "/v1/chat/completions",
        Some(&chat_key),
        json!({"model": hidden, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .expect(200);
    let hi = json!([{"role": "user", "content": "hi"}]);
    for (token, model, messages, status, code) in [
        (&chat_key, "nope", hi.clone(), 404, "chatbot_not_found"),
        (&key, "hidden", hi.clone(), 404, "chatbot_not_found"),
        (&owner, "allowed", hi.clone(), 403, "api_key_required"),
        (&reader, "allowed", hi.clone(), 403, "insufficient_scope"),
        (
            &chat_key,
            "allowed",
            json!([{"role": "assistant", "content": "hi"}]),
            422,
            "invalid_input",
        ),
    ] {
        app.post(
            "/v1/chat/completions",
            Some(token),
            json!({"model": model, "messages": messages}),
        )
        .await
        .expect_error(status, code);
    }
    // Streamed: a role chunk, content chunks, a stop chunk with citations, a usage chunk, [DONE].
    let (status, _, body) = post_raw(
        &app,
        "/v1/chat/completions",
        &chat_key,
        json!({"model": "allowed", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": RETURN_QUESTION}]}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let events = parse_sse(&body);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"])
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(text.contains("45 days"), "{text}");
    let stop = chunks
        .iter()
        .find(|c| c["choices"][0]["finish_reason"] == "stop")
        .unwrap();
    assert!(stop["citations"][0]["document_id"].is_string());
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["total_tokens"].is_u64());
}

on_both_backends!(a_real_model_answers_streams_and_is_cancelled);

async fn a_real_model_answers_streams_and_is_cancelled(backend: Backend) {
    let Ok(url) = std::env::var("DOCENT_TEST_LLM_URL") else {
        eprintln!(
            "skipped: set DOCENT_TEST_LLM_URL (`./dev test` starts llama.cpp's server with scripts/with-llm)"
        );
        return;
    };
    let app = TestApp::start_with(backend, |config| {
        config.providers.allow_private_base_urls = true;
        config.chat.heartbeat_secs = 1;
    })
    .await;
    let (_, owner) = app.signup("chat-llm@example.com", PW).await;
    let org = app.create_org(&owner, "Model").await;
    let returns = text_document(&app, &owner, &org, "Returns policy", RETURNS, "support").await;
    let provider = create(&app, &format!("/v1/orgs/{org}/providers"), &owner, json!({"name": "llama.cpp", "kind": "openai_compatible", "base_url": url, "default_model": "smollm2"})).await;
    let bots = format!("/v1/orgs/{org}/chatbots");
    let bot = create(&app, &bots, &owner, json!({"name": "Model bot", "provider_id": provider, "max_answer_tokens": 48, "context_window": 1024, "temperature": 0.0, "retrieval": {"top_k": 2}})).await;
    let messages = new_conversation(&app, &format!("{bots}/{bot}"), &owner).await;

    // A complete answer with the provider's usage, and citations only of retrieved passages.
    let answer = app
        .post(&messages, Some(&owner), json!({"content": RETURN_QUESTION}))
        .await
        .expect(200)["message"]
        .clone();
    assert!(
        !answer["content"].as_str().unwrap().trim().is_empty(),
        "{answer}"
    );
    assert!(
        answer["usage"]["prompt_tokens"].as_u64().unwrap() > 50,
        "{answer}"
    );
    assert!(
        answer["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{answer}"
    );
    assert!(answer["latency_ms"].as_u64().unwrap() > 0);
    let citations = answer["citations"].as_array().unwrap();
    assert!(
        !citations.is_empty()
            && citations
                .iter()
                .all(|c| c["document_id"] == returns.as_str()),
        "{answer}"
    );

    // Streamed, with history from the first exchange.
    let (text, _, done) =
        ask_streamed(&app, &messages, &owner, "And how are refunds paid?", false).await;
    assert!(!text.trim().is_empty());
    let stored = app.get(&messages, Some(&owner)).await.expect(200);
    let last = stored["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["id"].clone(), last["content"].as_str().unwrap()),
        (done["message_id"].clone(), text.as_str())
    );
    assert!(last["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    // The ledger has the provider's token counts.
    let (usage, row) = chatbot_usage(&app, &owner, &org, &bot).await;
    assert_eq!(row["requests"], 2, "{usage}");
    assert!(row["prompt_tokens"].as_u64().unwrap() > 100, "{usage}");
    // So do the metrics, with the provider's latency by call and the ingestion's work.
    let metrics = app.metrics().await;
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {metrics}"))
    };
    let streams =
        r#"docent_provider_request_duration_seconds_count{kind="openai_compatible",call="stream"}"#;
    assert!(value(streams) >= 2.0);
    assert!(value(r#"docent_tokens_total{kind="prompt"}"#) > 100.0);
    assert!(value(r#"docent_tokens_total{kind="completion"}"#) > 0.0);
    assert!(value(r#"docent_tokens_total{kind="embedded"}"#) > 0.0);
    assert!(value(r#"docent_embedding_duration_seconds_count{purpose="query"}"#) >= 2.0);
    assert!(value("docent_ingested_chunks_total") >= 1.0);
    assert_eq!(value(r#"docent_jobs{kind="ingest",state="queued"}"#), 0.0);

    // A prompt the model's context cannot hold is retried once without history: a chatbot that
    // believes in 8192 tokens talks to a server with far fewer. Each question is ~600 tokens, so
    // by the third the history overflows the server; the answer still comes, from a shorter
    // prompt (a budget this large never trims history itself).
    let roomy = create(&app, &bots, &owner, json!({"name": "Roomy", "provider_id": provider, "max_answer_tokens": 16, "context_window": 8192, "temperature": 0.0, "retrieval": {"top_k": 1, "min_score": -1.0}})).await;
    let roomy_messages = new_conversation(&app, &format!("{bots}/{roomy}"), &owner).await;
    let long_question = format!(
        "{RETURN_QUESTION} {}",
        "Please answer precisely and briefly. ".repeat(65)
    );
    let mut prompts = Vec::new();
    let mut truncated = false;
    for _ in 0..5 {
        let answer = app
            .post(
                &roomy_messages,
                Some(&owner),
                json!({"content": long_question}),
            )
            .await
            .expect(200)["message"]
            .clone();
        prompts.push(answer["usage"]["prompt_tokens"].as_u64().unwrap());
        truncated |= answer["incomplete"] == true;
    }
    eprintln!("prompt tokens per turn: {prompts:?}");
    assert!(truncated, "16 tokens never cut an answer short");
    assert!(
        prompts.windows(2).any(|w| w[1] < w[0]),
        "no prompt was ever trimmed: {prompts:?}"
    );

    // A client that goes away mid-answer cancels it; the partial answer is stored as incomplete.
    app.patch(
        &format!("{bots}/{bot}"),
        Some(&owner),
        json!({"max_answer_tokens": 400}),
    )
    .await
    .expect(200);
    let long_answer = json!({"content": "Explain in great detail, with many examples, how customers return a product and how the refunds are issued.", "stream": true});

    // A long streamed answer carries heartbeat comments (every second here, 15 s by default).
    let other = new_conversation(&app, &format!("{bots}/{bot}"), &owner).await;
    let started = Instant::now();
    let (status, _, body) = post_raw(&app, &other, &owner, long_answer.clone(), None).await;
    assert_eq!(status, 200);
    assert!(body.contains("event: done"), "{body}");
    if started.elapsed() > Duration::from_millis(1500) {
        assert!(
            body.starts_with(":\n\n") || body.contains("\n\n:\n\n"),
            "no heartbeat in a {:?} stream",
            started.elapsed()
        );
    } else {
        eprintln!("the answer took under 1.5 s; no heartbeat was due");
    }

    let before = stored["items"].as_array().unwrap().len();
    let mut response = app
        .client
        .post(format!("{}{messages}", app.base))
        .bearer_auth(&owner)
        .json(&long_answer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut seen = String::new();
    while !seen.contains("event: delta") {
        let chunk = response
            .chunk()
            .await
            .unwrap()
            .expect("the stream ended before any text");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(response);
    let started = Instant::now();
    let cancelled = loop {
        let stored = app.get(&messages, Some(&owner)).await.expect(200);
        let items = stored["items"].as_array().unwrap().clone();
        if items.len() == before + 2 {
            break items.last().unwrap().clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the cancelled answer was not stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(cancelled["incomplete"], true, "{cancelled}");
    assert!(!cancelled["content"].as_str().unwrap().is_empty());
    assert!(cancelled["usage"]["completion_tokens"].as_u64().unwrap() < 400);
}

#[tokio::test]
async fn the_openai_python_sdk_talks_to_chat_completions() {
    let Ok(sdk) = std::env::var("DOCENT_TEST_OPENAI_SDK") else {
        eprintln!(
            "skipped: set DOCENT_TEST_OPENAI_SDK to a directory with the `openai` package (`./dev test` installs it with scripts/with-llm)"
        );
        return;
    };
    let app = TestApp::start(Backend::Sqlite).await;
    let (_, owner) = app.signup("chat-sdk@example.com", PW).await;
    let org = app.create_org(&owner, "SDK").await;
    let returns = text_document(&app, &owner, &org, "Returns policy", RETURNS, "support").await;
    let provider = create(
        &app,
        &format!("/v1/orgs/{org}/providers"),
        &owner,
        json!({"name": "Offline", "kind": "extractive"}),
    )
    .await;
    app.post(
        &format!("/v1/orgs/{org}/chatbots"),
        Some(&owner),
        json!({"name": "Helpdesk", "provider_id": provider}),
    )
    .await
    .expect(201);
    let key = app
        .post(
            &format!("/v1/orgs/{org}/api-keys"),
            Some(&owner),
            json!({"name": "sdk", "scopes": ["chat"]}),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/openai-sdk-check.py"
    );
    let base = format!("{}/v1", app.base);
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .args([base.as_str(), key.as_str(), "helpdesk", RETURN_QUESTION])
        .env("PYTHONPATH", &sdk)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(
        report["content"].as_str().unwrap().contains("45 days"),
        "{report}"
    );
    assert_eq!(report["finish"], "stop");
    assert_eq!(
        report["citations"][0]["document_id"],
        returns.as_str(),
        "{report}"
    );
    assert!(
        report["stream_text"].as_str().unwrap().contains("45 days"),
        "{report}"
    );
    assert_eq!(report["stream_text"], report["content"]);
    assert_eq!(report["stream_finish"], "stop");
    assert!(report["stream_usage"]["total_tokens"].is_u64(), "{report}");
    assert_eq!(
        report["stream_citations"][0]["document_id"],
        returns.as_str(),
        "{report}"
    );
    assert_eq!(report["not_found"], 404, "{report}");
}

/// An OpenAI-compatible model that never stops talking; `dropped` turns true when the caller
/// hung up on it.
async fn endless_model() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use poem::web::sse::{Event, SSE};
    use poem::{EndpointExt as _, Route, handler, post};

    /// Marks the stream dropped.
    struct Hangup(Arc<AtomicBool>);
    impl Drop for Hangup {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[handler]
    fn completions(dropped: poem::web::Data<&Arc<AtomicBool>>) -> SSE {
        let guard = Hangup((*dropped).clone());
        let delta = json!({
            "id": "chatcmpl-endless", "object": "chat.completion.chunk", "created": 0,
            "model": "endless",
            "choices": [{"index": 0, "delta": {"content": "and so on ".repeat(100)}, "finish_reason": null}]
        })
        .to_string();
        let events = futures_util::stream::unfold(guard, move |guard| {
            let delta = delta.clone();
            async move {
                tokio::task::yield_now().await;
                Some((Event::message(delta), guard))
            }
        });
        SSE::new(events)
    }

    let dropped = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let app = Route::new()
        .at("/v1/chat/completions", post(completions))
        .data(dropped.clone());
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (url, dropped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_ends_its_answer() {
    use std::sync::atomic::Ordering;

    let (url, dropped) = endless_model().await;
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        config.providers.allow_private_base_urls = true;
        config.chat.send_timeout_secs = 2;
    })
    .await;
    let (_, owner) = app.signup("reader@example.com", PW).await;
    let org = app.create_org(&owner, "Stalled").await;
    text_document(&app, &owner, &org, "Returns policy", RETURNS, "support").await;
    let provider = create(
        &app,
        &format!("/v1/orgs/{org}/providers"),
        &owner,
        json!({"name": "Endless", "kind": "openai_compatible", "base_url": url, "default_model": "endless"}),
    )
    .await;
    let bot = create(
        &app,
        &format!("/v1/orgs/{org}/chatbots"),
        &owner,
        json!({"name": "Talker", "provider_id": provider, "max_answer_tokens": 32768, "context_window": 200000}),
    )
    .await;
    let messages = new_conversation(&app, &format!("/v1/orgs/{org}/chatbots/{bot}"), &owner).await;

    // Ask for a stream, then read nothing: a small receive window fills at once.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let body = json!({"content": RETURN_QUESTION, "stream": true}).to_string();
    let request = format!(
        "POST {messages} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {owner}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();

    // The answer ends on its own: the provider's stream is dropped and the answer is stored,
    // marked incomplete, with its usage settled — while the client still holds the connection.
    let started = Instant::now();
    while !dropped.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the provider stream was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut stored = Value::Null;
    for _ in 0..100 {
        stored = app.get(&messages, Some(&owner)).await.expect(200);
        if stored["items"].as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let items = stored["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{stored}");
    assert_eq!(items[1]["role"], "assistant");
    assert_eq!(items[1]["incomplete"], true, "{}", items[1]);
    let (_, row) = chatbot_usage(&app, &owner, &org, &bot).await;
    assert_eq!(row["requests"], 1, "{row}");
    drop(stream);
}
