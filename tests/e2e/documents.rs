//! Documents end to end: real files of each format uploaded over HTTP, processed by the embedded
//! worker with the real embedding model and the in-process Qdrant, found by paraphrased questions,
//! and gone from search once deleted. Plus hostile uploads, limits and access rules.

use std::time::{Duration, Instant};

use docent_documents::fixtures::{docx, pdf};
use docent_infrastructure::testing::Backend;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Reply, TestApp};

const PW: &str = "correct horse battery";

on_both_backends!(documents_are_processed_searched_and_deleted);

/// Uploads `bytes` as `name` (multipart) with optional extra query string.
pub async fn upload(
    app: &TestApp,
    token: &str,
    org: &str,
    name: &str,
    bytes: Vec<u8>,
    query: &str,
) -> Reply {
    let form = Form::new()
        .part("file", Part::bytes(bytes).file_name(name.to_owned()))
        .text("tags", "manual, hr");
    app.post_form(&format!("/v1/orgs/{org}/documents{query}"), token, form)
        .await
}

/// Waits until the document is `ready` or `failed` and returns it.
pub async fn settled(app: &TestApp, token: &str, org: &str, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let document = app
            .get(&format!("/v1/orgs/{org}/documents/{id}"), Some(token))
            .await
            .expect(200);
        if matches!(document["status"].as_str(), Some("ready" | "failed")) {
            return document;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "document stuck: {document}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn search(app: &TestApp, token: &str, org: &str, query: &str) -> Vec<Value> {
    app.post(
        &format!("/v1/orgs/{org}/search"),
        Some(token),
        json!({"query": query, "top_k": 3}),
    )
    .await
    .expect(200)["results"]
        .as_array()
        .unwrap()
        .clone()
}

const HANDBOOK: &str = "# Employee handbook\n\n## Vacation\n\nFull-time employees accrue two days of paid vacation for every month they work. Unused vacation days can be carried over into the next calendar year, up to a maximum of ten days.\n\n## Expenses\n\nTravel expenses must be submitted within thirty days, with the original receipts attached.";
const RETURNS: &str = "Customers may return any unopened product within 45 days of delivery for a full refund. Refunds are issued to the original payment method within five business days.";
const SERVER_ROOM: &str = "<!DOCTYPE html><html><head><title>Facilities</title><style>p { color: red }</style></head><body><h1>Server room</h1><p>The door code of the server room is changed on the first Monday of every quarter. Only members of the infrastructure team may enter.</p><script>alert('not text')</script></body></html>";
const OFFICES: &str =
    "city,opening_hours,phone\nLisbon,9:00-17:00,+351 555 0100\nOslo,8:00-16:00,+47 555 0100\n";

async fn documents_are_processed_searched_and_deleted(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, owner) = app.signup("docs-owner@example.com", PW).await;
    let org = app.create_org(&owner, "Docs").await;

    let uploads: Vec<(&str, Vec<u8>)> = vec![
        ("handbook.md", HANDBOOK.as_bytes().to_vec()),
        ("facilities.html", SERVER_ROOM.as_bytes().to_vec()),
        ("offices.csv", OFFICES.as_bytes().to_vec()),
        (
            "safety.pdf",
            pdf(&[
                "Safety manual. Fire extinguishers are inspected every six months by an external company.",
                "In case of an earthquake, take cover under a sturdy desk and hold on until the shaking stops.",
            ]),
        ),
        (
            "cafeteria.docx",
            docx(
                "<w:p><w:r><w:t>The cafeteria serves a vegetarian lunch menu every Wednesday.</w:t></w:r></w:p>",
                &[],
            ),
        ),
    ];
    let mut ids = Vec::new();
    for (name, bytes) in uploads {
        let accepted = upload(&app, &owner, &org, name, bytes, "")
            .await
            .expect(202);
        assert_eq!(accepted["status"], "queued", "{accepted}");
        assert_eq!(accepted["file_name"], name);
        assert_eq!(accepted["tags"], json!(["manual", "hr"]));
        ids.push(accepted["id"].as_str().unwrap().to_owned());
    }
    let returns = app
        .post(
            &format!("/v1/orgs/{org}/documents/text"),
            Some(&owner),
            json!({"title": "Returns policy", "text": RETURNS, "tags": ["support"]}),
        )
        .await
        .expect(202);
    ids.push(returns["id"].as_str().unwrap().to_owned());
    let [handbook, html, csv, safety, cafeteria, returns] = ids.clone().try_into().unwrap();

    for id in &ids {
        let document = settled(&app, &owner, &org, id).await;
        assert_eq!(document["status"], "ready", "{document}");
        assert!(document["chunk_count"].as_u64().unwrap() >= 1, "{document}");
        assert_eq!(document["progress"]["chunks_done"], document["chunk_count"]);
        assert_eq!(document["embedding_model"], "all-MiniLM-L6-v2-qint8");
        assert!(document["error"].is_null());
    }
    // Ingestion is charged to the usage ledger as embedded tokens.
    let usage = app
        .get(&format!("/v1/orgs/{org}/usage"), Some(&owner))
        .await
        .expect(200);
    let embedded: u64 = usage["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["embedded_tokens"].as_u64().unwrap())
        .sum();
    assert!(embedded > 50, "{usage}");
    let media = |id: &str| {
        let app = &app;
        let (owner, org, id) = (owner.clone(), org.clone(), id.to_owned());
        async move {
            app.get(&format!("/v1/orgs/{org}/documents/{id}"), Some(&owner))
                .await
                .expect(200)["media_type"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(media(&handbook).await, "text/markdown");
    assert_eq!(media(&html).await, "text/html");
    assert_eq!(media(&csv).await, "text/csv");
    assert_eq!(media(&safety).await, "application/pdf");
    assert!(media(&cafeteria).await.contains("wordprocessingml"));

    // Questions that paraphrase the text find the right passage.
    let questions = [
        (
            "How many paid days off do staff earn each month?",
            &handbook,
            "two days of paid vacation",
        ),
        (
            "How long do I have to send an item back to get my money back?",
            &returns,
            "45 days",
        ),
        (
            "What should I do if the ground starts shaking?",
            &safety,
            "earthquake",
        ),
        (
            "When is the entry code of the data center updated?",
            &html,
            "first Monday",
        ),
        (
            "Is there a meatless meal at the canteen?",
            &cafeteria,
            "vegetarian",
        ),
        ("What time does the Norwegian office open?", &csv, "Oslo"),
    ];
    for (question, expected, phrase) in questions {
        let results = search(&app, &owner, &org, question).await;
        let top = &results[0];
        assert_eq!(
            top["document_id"].as_str(),
            Some(expected.as_str()),
            "{question}: {results:#?}"
        );
        assert!(
            top["text"].as_str().unwrap().contains(phrase),
            "{question}: {top}"
        );
        assert!(top["score"].as_f64().unwrap() > 0.2, "{question}: {top}");
    }
    // Results carry their passage's heading path; text without headings has none.
    let vacation = search(&app, &owner, &org, "paid vacation days per month").await;
    assert_eq!(
        vacation[0]["section"], "Employee handbook › Vacation",
        "{vacation:#?}"
    );
    assert!(
        vacation[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Employee handbook\n\nVacation\n\n"),
        "{vacation:#?}"
    );
    let door = search(&app, &owner, &org, "server room door code").await;
    assert_eq!(door[0]["section"], "Server room", "{door:#?}");
    let refund = search(&app, &owner, &org, "refund within 45 days").await;
    assert_eq!(refund[0]["document_id"].as_str(), Some(returns.as_str()));
    assert!(
        refund[0].get("section").is_none_or(Value::is_null),
        "{refund:#?}"
    );
    let chunks = app
        .get(
            &format!("/v1/orgs/{org}/documents/{handbook}/chunks"),
            Some(&owner),
        )
        .await
        .expect(200);
    let sections: Vec<_> = chunks["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["section"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        sections,
        [
            "Employee handbook › Vacation",
            "Employee handbook › Expenses"
        ],
        "{chunks:#}"
    );
    // Hybrid search (semantic fused with BM25) and keyword search alone find the passage too
    // (the deprecated `"hybrid": true` still means hybrid).
    for (question, expected, phrase) in [
        (
            "paid vacation days per month",
            &handbook,
            "two days of paid vacation",
        ),
        ("server room door code", &html, "first Monday"),
    ] {
        for body in [
            json!({"query": question, "top_k": 3, "mode": "hybrid"}),
            json!({"query": question, "top_k": 3, "mode": "keyword"}),
            json!({"query": question, "top_k": 3, "hybrid": true}),
        ] {
            let results = app
                .post(
                    &format!("/v1/orgs/{org}/search"),
                    Some(&owner),
                    body.clone(),
                )
                .await
                .expect(200)["results"]
                .clone();
            let top = &results[0];
            assert_eq!(
                top["document_id"].as_str(),
                Some(expected.as_str()),
                "{body}: {results:#}"
            );
            assert!(
                top["text"].as_str().unwrap().contains(phrase),
                "{body}: {top}"
            );
        }
    }
    // Keyword search needs a word the documents share: words of none find nothing. Semantic
    // search finds meaning without the words.
    let paraphrase =
        json!({"query": "Is there a meatless option for lunch?", "top_k": 3, "mode": "dense"});
    let keyword = app
        .post(
            &format!("/v1/orgs/{org}/search"),
            Some(&owner),
            json!({"query": "zebra quasar", "top_k": 3, "mode": "keyword"}),
        )
        .await
        .expect(200);
    assert_eq!(keyword["results"], json!([]), "{keyword}");
    let dense = app
        .post(&format!("/v1/orgs/{org}/search"), Some(&owner), paraphrase)
        .await
        .expect(200);
    assert_eq!(
        dense["results"][0]["document_id"].as_str(),
        Some(cafeteria.as_str())
    );
    // `hybrid` contradicting `mode` is refused, naming the field.
    let contradiction = app
        .post(
            &format!("/v1/orgs/{org}/search"),
            Some(&owner),
            json!({"query": "refund", "mode": "keyword", "hybrid": true}),
        )
        .await
        .expect(422);
    assert_eq!(contradiction["code"], "invalid_input", "{contradiction}");
    assert!(
        contradiction["message"]
            .as_str()
            .unwrap()
            .contains("hybrid"),
        "{contradiction}"
    );
    // Scripts and styles are not text; the PDF keeps its page numbers.
    let scripts = search(&app, &owner, &org, "alert not text").await;
    assert!(
        scripts
            .iter()
            .all(|r| !r["text"].as_str().unwrap().contains("alert"))
    );
    let quake = search(&app, &owner, &org, "earthquake").await;
    assert_eq!(
        (quake[0]["document_id"].as_str(), quake[0]["page"].as_u64()),
        (Some(safety.as_str()), Some(2))
    );
    // Narrowing by tag and by document.
    let tagged = app
        .post(
            &format!("/v1/orgs/{org}/search"),
            Some(&owner),
            json!({"query": "refund", "top_k": 10, "tags": ["support"]}),
        )
        .await
        .expect(200);
    let tagged: Vec<_> = tagged["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["document_id"].clone())
        .collect();
    assert_eq!(tagged, vec![json!(returns)]);

    // Chunks, listing filters, the original bytes.
    let chunks = app
        .get(
            &format!("/v1/orgs/{org}/documents/{safety}/chunks?limit=1"),
            Some(&owner),
        )
        .await
        .expect(200);
    assert_eq!(chunks["items"][0]["ordinal"], 0);
    assert_eq!(chunks["items"][0]["page"], 1);
    let next = chunks["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/v1/orgs/{org}/documents/{safety}/chunks?cursor={next}"),
            Some(&owner),
        )
        .await
        .expect(200);
    assert_eq!(rest["items"][0]["ordinal"], 1);
    assert_eq!(rest["items"][0]["page"], 2);
    assert!(rest["next_cursor"].is_null());
    let listed = app
        .get(
            &format!("/v1/orgs/{org}/documents?status=ready&tag=support"),
            Some(&owner),
        )
        .await
        .expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let all = app
        .get(&format!("/v1/orgs/{org}/documents?limit=4"), Some(&owner))
        .await
        .expect(200);
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    assert!(all["next_cursor"].is_string());
    let content = app
        .client
        .get(format!(
            "{}/v1/orgs/{org}/documents/{handbook}/content",
            app.base
        ))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), 200);
    assert_eq!(
        content.headers()["content-disposition"],
        "attachment; filename=\"handbook.md\"; filename*=UTF-8''handbook.md"
    );
    assert_eq!(content.headers()["x-content-type-options"], "nosniff");
    assert_eq!(content.bytes().await.unwrap().as_ref(), HANDBOOK.as_bytes());

    // The same bytes again: 409 naming the original, unless duplicates are allowed.
    let duplicate = upload(
        &app,
        &owner,
        &org,
        "copy.md",
        HANDBOOK.as_bytes().to_vec(),
        "",
    )
    .await
    .expect_error(409, "duplicate_document");
    assert!(
        duplicate["message"].as_str().unwrap().contains(&handbook),
        "{duplicate}"
    );
    upload(
        &app,
        &owner,
        &org,
        "copy.md",
        HANDBOOK.as_bytes().to_vec(),
        "?allow_duplicate=true",
    )
    .await
    .expect(202);

    // Reprocessing a ready document queues it again and ends ready again.
    let again = app
        .post(
            &format!("/v1/orgs/{org}/documents/{csv}/reprocess"),
            Some(&owner),
            json!({}),
        )
        .await
        .expect(202);
    assert_eq!(again["status"], "queued");
    assert_eq!(settled(&app, &owner, &org, &csv).await["status"], "ready");

    // Deleted: gone from reads and from search.
    app.delete(&format!("/v1/orgs/{org}/documents/{safety}"), Some(&owner))
        .await
        .expect(204);
    app.get(&format!("/v1/orgs/{org}/documents/{safety}"), Some(&owner))
        .await
        .expect_error(404, "document_not_found");
    app.get(
        &format!("/v1/orgs/{org}/documents/{safety}/content"),
        Some(&owner),
    )
    .await
    .expect_error(404, "document_not_found");
    app.delete(&format!("/v1/orgs/{org}/documents/{safety}"), Some(&owner))
        .await
        .expect_error(404, "document_not_found");
    let quake = search(
        &app,
        &owner,
        &org,
        "What should I do if the ground starts shaking?",
    )
    .await;
    assert!(
        quake.iter().all(|r| r["document_id"] != json!(safety)),
        "{quake:#?}"
    );
    let events = app
        .get(&format!("/v1/orgs/{org}/audit-events"), Some(&owner))
        .await
        .expect(200);
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "document.delete" && e["target"]["id"] == json!(safety)),
        "{events}"
    );
}

#[tokio::test]
async fn hostile_uploads_end_as_clean_errors_or_failed_documents() {
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        config.documents.max_upload_bytes = 200_000;
        config.documents.max_unpacked_bytes = 10_000_000;
    })
    .await;
    let (_, owner) = app.signup("hostile@example.com", PW).await;
    let org = app.create_org(&owner, "Hostile").await;

    // Refused at the door, nothing stored.
    upload(&app, &owner, &org, "empty.txt", Vec::new(), "")
        .await
        .expect_error(422, "empty_document");
    upload(&app, &owner, &org, "blank.txt", b"  \n\t ".to_vec(), "")
        .await
        .expect_error(422, "empty_document");
    upload(
        &app,
        &owner,
        &org,
        "image.png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
        "",
    )
    .await
    .expect_error(415, "unsupported_media_type");
    upload(
        &app,
        &owner,
        &org,
        "notes.txt",
        b"MZ\x90\0binary".to_vec(),
        "",
    )
    .await
    .expect_error(415, "unsupported_media_type");
    upload(&app, &owner, &org, "big.txt", vec![b'a'; 300_000], "")
        .await
        .expect_error(413, "too_large");
    app.post(
        &format!("/v1/orgs/{org}/documents/text"),
        Some(&owner),
        json!({"title": " ", "text": "x"}),
    )
    .await
    .expect_error(422, "invalid_input");
    let listed = app
        .get(&format!("/v1/orgs/{org}/documents"), Some(&owner))
        .await
        .expect(200);
    assert!(listed["items"].as_array().unwrap().is_empty());

    // Accepted, then failed with a code (or processed), never stuck.
    let zip_bomb = docx(
        "<w:p><w:r><w:t>small</w:t></w:r></w:p>",
        &[("word/huge.xml", vec![0_u8; 50_000_000])],
    );
    assert!(
        zip_bomb.len() < 200_000,
        "the bomb must get past the upload limit"
    );
    let mut truncated = pdf(&["A page that will be cut off."]);
    truncated.truncate(truncated.len() / 2);
    let mut utf16 = vec![0xff, 0xfe];
    for unit in "Die Rückgabefrist beträgt dreißig Tage.".encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let deep_html = format!(
        "<html><body>{}deep text{}</body></html>",
        "<div>".repeat(15_000),
        "</div>".repeat(15_000)
    );
    let deep_markdown = format!("{}deep quote", "> ".repeat(20_000));
    let huge_line = "word ".repeat(30_000);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bomb.docx", zip_bomb, "failed:too_large"),
        ("broken.pdf", truncated, "failed:extract_error"),
        (
            "fake.pdf",
            b"just words, not a PDF at all".to_vec(),
            "ready",
        ),
        ("utf16.txt", utf16, "ready"),
        (
            "latin1.txt",
            b"caf\xe9 cr\xe8me br\xfbl\xe9e is on the menu".to_vec(),
            "ready",
        ),
        ("deep.html", deep_html.into_bytes(), "failed:extract_error"),
        ("deep.md", deep_markdown.into_bytes(), "ready"),
        ("line.txt", huge_line.into_bytes(), "ready"),
        (
            "../../etc/passwd",
            b"root:x:0:0 is not really here".to_vec(),
            "ready",
        ),
    ];
    for (name, bytes, expected) in cases {
        let accepted = upload(&app, &owner, &org, name, bytes, "")
            .await
            .expect(202);
        let id = accepted["id"].as_str().unwrap().to_owned();
        let document = settled(&app, &owner, &org, &id).await;
        let outcome = match document["status"].as_str().unwrap() {
            "failed" => format!("failed:{}", document["error"]["code"].as_str().unwrap()),
            other => other.to_owned(),
        };
        assert_eq!(outcome, expected, "{name}: {document}");
        if let Some(stored) = document["file_name"].as_str() {
            assert!(
                !stored.contains('/') && !stored.contains('\0'),
                "{stored:?}"
            );
        }
    }
    // A NUL byte in the part's file name breaks the multipart headers: a clean 400.
    upload(
        &app,
        &owner,
        &org,
        "nul\0name.txt",
        b"a name with a NUL".to_vec(),
        "",
    )
    .await
    .expect_error(400, "invalid_request");
    let names: Vec<_> = app
        .get(&format!("/v1/orgs/{org}/documents"), Some(&owner))
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file_name"].clone())
        .collect();
    assert!(names.contains(&json!("passwd")), "{names:?}");
    let utf16 = search(&app, &owner, &org, "Rückgabefrist dreißig Tage").await;
    assert!(
        utf16[0]["text"]
            .as_str()
            .unwrap()
            .contains("Rückgabefrist beträgt dreißig"),
        "{utf16:?}"
    );
    // The API kept answering throughout.
    app.get("/healthz", None).await.expect(200);
}

#[tokio::test]
async fn documents_follow_roles_scopes_and_org_boundaries() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (_, owner) = app.signup("doc-access@example.com", PW).await;
    let org = app.create_org(&owner, "Access").await;
    let (_, intruder) = app.signup("doc-intruder@example.com", PW).await;
    let other_org = app.create_org(&intruder, "Elsewhere").await;
    let (_, viewer) = app
        .join(&owner, &org, "doc-viewer@example.com", "viewer", PW)
        .await;

    let document = app
        .post(
            &format!("/v1/orgs/{org}/documents/text"),
            Some(&owner),
            json!({"title": "Plan", "text": "The launch is planned for March."}),
        )
        .await
        .expect(202);
    let id = document["id"].as_str().unwrap().to_owned();
    settled(&app, &owner, &org, &id).await;
    let foreign = app
        .post(
            &format!("/v1/orgs/{other_org}/documents/text"),
            Some(&intruder),
            json!({"title": "Theirs", "text": "The launch is secret."}),
        )
        .await
        .expect(202);
    let foreign_id = foreign["id"].as_str().unwrap().to_owned();
    settled(&app, &intruder, &other_org, &foreign_id).await;

    // Viewers read and search but do not write.
    app.get(&format!("/v1/orgs/{org}/documents/{id}"), Some(&viewer))
        .await
        .expect(200);
    assert_eq!(
        search(&app, &viewer, &org, "When is the launch?")
            .await
            .len(),
        1
    );
    app.post(
        &format!("/v1/orgs/{org}/documents/text"),
        Some(&viewer),
        json!({"title": "x", "text": "y"}),
    )
    .await
    .expect_error(403, "forbidden");
    app.delete(&format!("/v1/orgs/{org}/documents/{id}"), Some(&viewer))
        .await
        .expect_error(403, "forbidden");

    // Another organization's members see nothing, and ids in bodies are checked like path ids.
    app.get(&format!("/v1/orgs/{org}/documents/{id}"), Some(&intruder))
        .await
        .expect_error(404, "org_not_found");
    app.get(
        &format!("/v1/orgs/{other_org}/documents/{id}"),
        Some(&intruder),
    )
    .await
    .expect_error(404, "document_not_found");
    app.post(
        &format!("/v1/orgs/{org}/search"),
        Some(&owner),
        json!({"query": "launch", "document_ids": [foreign_id]}),
    )
    .await
    .expect_error(404, "document_not_found");
    let ours = search(&app, &owner, &org, "launch").await;
    assert!(
        ours.iter().all(|r| r["document_id"] == json!(id)),
        "{ours:?}"
    );

    // Keys: `documents:read` reads and searches, writing needs `documents:write`.
    let key = app
        .post(
            &format!("/v1/orgs/{org}/api-keys"),
            Some(&owner),
            json!({"name": "reader", "scopes": ["documents:read"]}),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(search(&app, &key, &org, "launch date").await.len(), 1);
    app.get(&format!("/v1/orgs/{org}/documents"), Some(&key))
        .await
        .expect(200);
    let refused = app
        .post(
            &format!("/v1/orgs/{org}/documents/text"),
            Some(&key),
            json!({"title": "x", "text": "y"}),
        )
        .await
        .expect_error(403, "insufficient_scope");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("documents:write")
    );
    app.get(&format!("/v1/orgs/{other_org}/documents"), Some(&key))
        .await
        .expect_error(404, "org_not_found");
    // Bad search input.
    app.post(
        &format!("/v1/orgs/{org}/search"),
        Some(&owner),
        json!({"query": "", "top_k": 3}),
    )
    .await
    .expect_error(422, "invalid_input");
    app.post(
        &format!("/v1/orgs/{org}/search"),
        Some(&owner),
        json!({"query": "x", "top_k": 500}),
    )
    .await
    .expect_error(422, "invalid_input");
}

#[tokio::test]
async fn queued_documents_cannot_be_reprocessed_until_they_settle() {
    // No worker: documents stay queued.
    let app = TestApp::start_with(Backend::Sqlite, |config| config.worker.embedded = false).await;
    let (_, owner) = app.signup("doc-busy@example.com", PW).await;
    let org = app.create_org(&owner, "Busy").await;
    let document = app
        .post(
            &format!("/v1/orgs/{org}/documents/text"),
            Some(&owner),
            json!({"title": "Plan", "text": "Soon."}),
        )
        .await
        .expect(202);
    let id = document["id"].as_str().unwrap();
    app.post(
        &format!("/v1/orgs/{org}/documents/{id}/reprocess"),
        Some(&owner),
        json!({}),
    )
    .await
    .expect_error(409, "document_busy");
    app.post(
        &format!(
            "/v1/orgs/{org}/documents/{}/reprocess",
            uuid::Uuid::now_v7()
        ),
        Some(&owner),
        json!({}),
    )
    .await
    .expect_error(404, "document_not_found");
    let status = app
        .get(&format!("/v1/orgs/{org}/documents/{id}"), Some(&owner))
        .await
        .expect(200);
    assert_eq!(status["status"], "queued");
}

#[tokio::test]
async fn latex_pdfs_keep_every_word_and_lose_their_running_headers() {
    // Through the real sandbox and PDFium (`scripts/fetch-models` puts it in the models
    // directory): a pdfTeX file whose ligatures only its fonts' programs name.
    let app = TestApp::start(Backend::Sqlite).await;
    let (_, owner) = app.signup("latex@example.com", PW).await;
    let org = app.create_org(&owner, "LaTeX").await;
    let accepted = upload(
        &app,
        &owner,
        &org,
        "guide.pdf",
        docent_documents::fixtures::LATEX_PDF.to_vec(),
        "",
    )
    .await
    .expect(202);
    let id = accepted["id"].as_str().unwrap();
    let document = settled(&app, &owner, &org, id).await;
    assert_eq!(document["status"], "ready", "{document}");
    let chunks = app
        .get(
            &format!("/v1/orgs/{org}/documents/{id}/chunks?limit=200"),
            Some(&owner),
        )
        .await
        .expect(200);
    let text = chunks["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap().to_lowercase())
        .collect::<Vec<_>>()
        .join("\n");
    let missing = docent_documents::fixtures::latex_pdf_words_missing_from(&text);
    assert!(missing.is_empty(), "lost {missing:?} of\n{text}");
    assert!(!text.contains("docent field guide"), "{text}");
    // And keyword search finds the sentence by its ligature words.
    let hits = app
        .post(
            &format!("/v1/orgs/{org}/search"),
            Some(&owner),
            json!({"query": "find optional argument", "mode": "keyword", "top_k": 3}),
        )
        .await
        .expect(200)["results"]
        .clone();
    assert!(
        hits[0]["text"]
            .as_str()
            .unwrap()
            .contains("will find an optional argument"),
        "{hits:#?}"
    );
}

on_both_backends!(a_new_embedding_model_is_built_in_the_background_and_searches_switch_when_done);

/// The ids of the organization's documents and the model each one's vectors are from.
async fn models_of(app: &TestApp, token: &str, org: &str) -> Vec<(String, String)> {
    app.get(&format!("/v1/orgs/{org}/documents"), Some(token))
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_owned(),
                d["embedding_model"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn a_new_embedding_model_is_built_in_the_background_and_searches_switch_when_done(
    backend: Backend,
) {
    const OLD: &str = "all-MiniLM-L6-v2-qint8";
    // The same network pooled by its [CLS] token: other vectors, so another model and collection.
    const NEW: &str = "all-MiniLM-L6-v2-qint8-cls";
    let app = TestApp::start(backend).await;
    let (_, owner) = app.signup("models-owner@example.com", PW).await;
    let org = app.create_org(&owner, "Models").await;
    let mut ids = Vec::new();
    for (name, bytes) in [
        ("handbook.md", HANDBOOK.as_bytes().to_vec()),
        ("facilities.html", SERVER_ROOM.as_bytes().to_vec()),
    ] {
        let accepted = upload(&app, &owner, &org, name, bytes, "")
            .await
            .expect(202);
        ids.push(accepted["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        assert_eq!(settled(&app, &owner, &org, id).await["status"], "ready");
    }
    let handbook = ids[0].clone();
    let found = |results: &[Value]| {
        results
            .first()
            .and_then(|r| r["document_id"].as_str())
            .map(str::to_owned)
    };
    let question = "How many paid days off do staff earn each month?";
    assert_eq!(
        found(&search(&app, &owner, &org, question).await),
        Some(handbook.clone())
    );

    // The operator changes the model. Without the previous one configured, and before the worker
    // re-embedded anything, searches find nothing: what `[embedding.previous]` is for.
    let new_model = |config: &mut docent_app::Config| {
        config.embedding.pooling = Some(docent_infrastructure::embedder::LocalPooling::Cls);
    };
    let app = app
        .restarted(|config| {
            new_model(config);
            config.worker.embedded = false;
        })
        .await;
    assert_eq!(app.services.embedder.model_id(), NEW);
    assert_eq!(
        app.services.jobs.pending().await.unwrap(),
        2,
        "a re-embedding job each"
    );
    assert_eq!(
        search(&app, &owner, &org, question).await,
        Vec::<Value>::new()
    );

    // With it, searches keep using the previous model's complete collection meanwhile.
    let keep_previous = |config: &mut docent_app::Config| {
        config.embedding.previous = Some(Box::new(
            docent_infrastructure::config::EmbeddingConfig::default(),
        ));
    };
    let app = app
        .restarted(|config| {
            keep_previous(config);
            config.worker.embedded = false;
        })
        .await;
    // Restarting queued nothing twice.
    assert_eq!(app.services.jobs.pending().await.unwrap(), 2);
    assert_eq!(
        found(&search(&app, &owner, &org, question).await),
        Some(handbook.clone())
    );
    assert!(
        models_of(&app, &owner, &org)
            .await
            .iter()
            .all(|(_, m)| m == OLD)
    );

    // With the worker back, the documents are re-embedded; what is uploaded meanwhile is found
    // as well; every document ends on the new model.
    let app = app.restarted(|config| config.worker.embedded = true).await;
    let returns = app
        .post(
            &format!("/v1/orgs/{org}/documents/text"),
            Some(&owner),
            json!({"title": "Returns policy", "text": RETURNS}),
        )
        .await
        .expect(202)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    loop {
        let models = models_of(&app, &owner, &org).await;
        if models.len() == 3 && models.iter().all(|(_, m)| m == NEW) {
            break;
        }
        // Every search in between finds the passage.
        assert_eq!(
            found(&search(&app, &owner, &org, question).await),
            Some(handbook.clone()),
            "{models:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "{models:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The last job is completed just after its document is recorded as re-embedded.
    while app.services.jobs.pending().await.unwrap() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "a job stays pending"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Once done, the new collection alone answers: the previous model can go.
    let app = app
        .restarted(|config| config.embedding.previous = None)
        .await;
    assert_eq!(
        found(&search(&app, &owner, &org, question).await),
        Some(handbook.clone())
    );
    assert_eq!(
        found(
            &search(
                &app,
                &owner,
                &org,
                "How long do I have to send an item back?"
            )
            .await
        ),
        Some(returns)
    );
    assert_eq!(app.services.jobs.pending().await.unwrap(), 0);
}
