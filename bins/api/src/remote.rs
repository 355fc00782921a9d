//! A small client of docent's own HTTP API for `import` and `export`: an API key on one
//! organization, JSON in and out, cursor pages followed to the end. Uploads go through the same
//! routes, limits and audit log as any other client's.

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use serde_json::Value;

/// One organization on one docent server, reached with an API key.
#[derive(Debug, Clone)]
pub struct Remote {
    http: reqwest::Client,
    /// `{url}/v1/orgs/{org}`.
    org: String,
    key: String,
}

/// What the server said to an upload.
#[derive(Debug)]
pub enum Uploaded {
    /// Accepted: the new document.
    Queued(Value),
    /// The organization already has these bytes (`duplicate_document`).
    Duplicate,
    /// Refused, with the server's code and message.
    Refused(String),
}

/// The `{code}: {message}` of an error answer, or its status.
async fn refusal(response: reqwest::Response) -> String {
    let status = response.status();
    match response.json::<Value>().await {
        Ok(body) => format!(
            "{} {}: {}",
            status.as_u16(),
            body["code"].as_str().unwrap_or("error"),
            body["message"].as_str().unwrap_or("")
        ),
        Err(_) => status.to_string(),
    }
}

impl Remote {
    /// A client of organization `org` at `url` (the server's base URL).
    pub fn new(url: &str, org: &str, key: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            http,
            org: format!("{}/v1/orgs/{org}", url.trim_end_matches('/')),
            key,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.org))
            .bearer_auth(&self.key)
    }

    /// Sends a request, retrying on connection errors, 429 and 5xx (three attempts).
    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let retry = match build().send().await {
                Ok(response)
                    if response.status().is_server_error()
                        || response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS =>
                {
                    if attempt >= 3 {
                        return Ok(response);
                    }
                    true
                }
                Ok(response) => return Ok(response),
                Err(e) if attempt >= 3 => return Err(e.into()),
                Err(_) => true,
            };
            if retry {
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
        }
    }

    /// `GET` a JSON document of the organization.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.get_with(path, &[]).await
    }

    /// `GET` a JSON document of the organization with query parameters.
    async fn get_with(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        Ok(self.fetch(path, query).await?.json().await?)
    }

    /// `GET` raw bytes.
    pub async fn bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        Ok(self.fetch(path, &[]).await?.bytes().await?.to_vec())
    }

    /// A successful `GET` answer, or the server's refusal as the error.
    async fn fetch(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<reqwest::Response> {
        let response = self
            .send(|| self.request(reqwest::Method::GET, path).query(query))
            .await
            .with_context(|| format!("GET {path}"))?;
        if !response.status().is_success() {
            return Err(anyhow!("GET {path}: {}", refusal(response).await));
        }
        Ok(response)
    }

    /// `POST` JSON; the created object, or the server's refusal.
    pub async fn create(&self, path: &str, body: &Value) -> anyhow::Result<Result<Value, String>> {
        let response = self
            .send(|| self.request(reqwest::Method::POST, path).json(body))
            .await
            .with_context(|| format!("POST {path}"))?;
        if response.status().is_success() {
            Ok(Ok(response.json().await?))
        } else {
            Ok(Err(refusal(response).await))
        }
    }

    /// Every item of a cursor-paged list.
    pub async fn list(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                Some(cursor) => {
                    self.get_with(path, &[("limit", "200"), ("cursor", cursor)])
                        .await?
                }
                None => self.get_with(path, &[("limit", "200")]).await?,
            };
            if let Some(page_items) = page["items"].as_array() {
                items.extend(page_items.iter().cloned());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }

    /// Uploads one file with its title and tags.
    pub async fn upload(
        &self,
        file_name: &str,
        bytes: Vec<u8>,
        title: Option<&str>,
        tags: &[String],
    ) -> anyhow::Result<Uploaded> {
        let response = self
            .send(|| {
                let mut form = reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(bytes.clone()).file_name(file_name.to_owned()),
                );
                if let Some(title) = title {
                    form = form.text("title", title.to_owned());
                }
                for tag in tags {
                    form = form.text("tags", tag.clone());
                }
                self.request(reqwest::Method::POST, "/documents")
                    .multipart(form)
            })
            .await
            .with_context(|| format!("uploading {file_name}"))?;
        if response.status().is_success() {
            return Ok(Uploaded::Queued(response.json().await?));
        }
        let refused = refusal(response).await;
        if refused.contains("duplicate_document") {
            Ok(Uploaded::Duplicate)
        } else {
            Ok(Uploaded::Refused(refused))
        }
    }
}
