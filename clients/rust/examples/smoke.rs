//! The clients' smoke flow with the Rust client progenitor generates from `openapi/openapi.json`
//! (`scripts/check-clients` runs it against the live docent at `$DOCENT_URL`): sign up, create an
//! organization, upload a text document, wait until it is ready, create a chatbot, ask, read the
//! citations, stream an answer. progenitor cannot express the multipart file upload, so this
//! uploads with `document_create_text`; the answer stream is read from the client's own
//! `reqwest::Client`, since the generated method parses the JSON answer.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use docent_client::{Client, ClientInfo as _, types};

const TEXT: &str = "The Aurora espresso machine heats up in 25 seconds. \
    Descale the Aurora every 200 cups with citric acid; the descaling cycle takes 12 minutes.";

fn step(name: &str) {
    println!("rust smoke: {name}");
}

/// A client that sends `token` as the bearer credential on every request.
fn signed_in(base: &str, token: &str) -> anyhow::Result<Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse()?,
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(60))
        .build()?;
    Ok(Client::new_with_client(base, http))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let base = std::env::var("DOCENT_URL").context("DOCENT_URL")?;
    let suffix = uuid::Uuid::now_v7().simple().to_string();

    step("sign up");
    let signup = Client::new(&base)
        .auth_signup()
        .body(
            types::SignupRequest::builder()
                .email(format!("rust-{}@example.com", &suffix[20..]))
                .password(format!("Rust-client-{}", &suffix[24..]))
                .name("Rust client"),
        )
        .send()
        .await?
        .into_inner();
    let client = signed_in(&base, &signup.session.token)?;

    step("create an organization");
    let org = client
        .org_create()
        .body(types::CreateOrgRequest::builder().name("Rust smoke"))
        .send()
        .await?
        .into_inner();

    step("upload a text document");
    let mut document = client
        .document_create_text()
        .org_id(org.id)
        .body(
            types::TextUpload::builder()
                .title("Aurora manual")
                .text(TEXT),
        )
        .send()
        .await?
        .into_inner();

    step("wait until it is ready");
    let deadline = Instant::now() + Duration::from_secs(120);
    while document.status != types::DocumentStatusDto::Ready {
        ensure!(
            document.status != types::DocumentStatusDto::Failed,
            "the document failed: {:?}",
            document.error
        );
        ensure!(
            Instant::now() < deadline,
            "the document is still {}",
            document.status
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        document = client
            .document_get()
            .org_id(org.id)
            .document_id(document.id)
            .send()
            .await?
            .into_inner();
    }
    ensure!(
        document.chunk_count >= 1,
        "the ready document has no chunks"
    );

    step("create a chatbot");
    let provider = client
        .provider_create()
        .org_id(org.id)
        .body(
            types::CreateProviderRequest::builder()
                .name("Built-in")
                .kind(types::ProviderKindDto::Extractive),
        )
        .send()
        .await?
        .into_inner();
    let chatbot = client
        .chatbot_create()
        .org_id(org.id)
        .body(
            types::CreateChatbotRequest::builder()
                .name("Aurora help")
                .provider_id(provider.id),
        )
        .send()
        .await?
        .into_inner();
    let started = client
        .conversation_create()
        .org_id(org.id)
        .chatbot_id(chatbot.id)
        .body(types::CreateConversationRequest::builder())
        .send()
        .await?
        .into_inner();
    let conversation = started.conversation;

    step("ask and read the citations");
    let question = "How often should the Aurora be descaled?";
    let answer = client
        .message_create()
        .org_id(org.id)
        .chatbot_id(chatbot.id)
        .conversation_id(conversation.id)
        .body(types::AskRequest::builder().content(question))
        .send()
        .await?
        .into_inner();
    let citations = &answer.message.citations;
    let Some(first) = citations.first() else {
        bail!("the answer cites nothing: {}", answer.message.content);
    };
    ensure!(
        first.document_id == document.id,
        "the citation is not the uploaded document"
    );
    ensure!(
        first.snippet.contains("200 cups"),
        "the cited passage is {}",
        first.snippet
    );

    step("stream an answer");
    let url = format!(
        "{}/v1/orgs/{}/chatbots/{}/conversations/{}/messages",
        client.baseurl(),
        org.id,
        chatbot.id,
        conversation.id
    );
    let response = client
        .client()
        .post(url)
        .json(&serde_json::json!({"content": question, "stream": true}))
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "the stream answered {}",
        response.status()
    );
    // The whole stream, read to its end (the `done` event).
    let body = response.text().await?;
    let mut events: Vec<(String, serde_json::Value)> = Vec::new();
    let mut event = String::new();
    for line in body.lines() {
        if let Some(name) = line.strip_prefix("event:") {
            event = name.trim().to_owned();
        } else if let Some(data) = line.strip_prefix("data:") {
            events.push((event.clone(), serde_json::from_str(data)?));
        }
    }
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    ensure!(names.contains(&"delta"), "no delta event in {names:?}");
    ensure!(
        names.last() == Some(&"done"),
        "the stream did not end with done: {names:?}"
    );
    let cited = events
        .iter()
        .find(|(name, _)| name == "citations")
        .and_then(|(_, data)| data.pointer("/citations/0/document_id"))
        .and_then(serde_json::Value::as_str);
    ensure!(
        cited == Some(document.id.to_string().as_str()),
        "the streamed citations do not name the document"
    );
    println!("rust smoke: the whole flow passed");
    Ok(())
}
