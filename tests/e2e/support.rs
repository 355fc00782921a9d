//! Booting the API for a test and talking to it.

use std::path::PathBuf;
use std::time::Duration;

use docent_app::{Config, Services, bootstrap};
use docent_infrastructure::config::MailTransport;
use docent_infrastructure::testing::{Backend, TestDatabase};
use docent_kernel::SecretString;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A running API with its own database and data directory.
pub struct TestApp {
    pub base: String,
    /// The services the API runs on, to look behind it (the vector index, the blob store).
    pub services: Services,
    pub client: reqwest::Client,
    config: Config,
    data_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// Kept for the app's life (dropping it drops the database); taken over by a restart.
    database: Option<TestDatabase>,
}

/// A response: status, headers and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts the status and returns the body's `id` (of what was just created).
    #[track_caller]
    pub fn expect_id(self, status: u16) -> String {
        self.expect(status)["id"]
            .as_str()
            .expect("the body has an id")
            .to_owned()
    }

    /// Asserts an error status and code, and the error body's shape.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Value {
        let request_id = self
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = self.expect(status);
        assert_eq!(body["code"], code, "unexpected code; body: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert_eq!(body["request_id"].as_str(), request_id.as_deref(), "{body}");
        body
    }
}

impl TestApp {
    /// Boots the API on `backend` with the file mail transport.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Boots the API after letting the test adjust the configuration.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let database = TestDatabase::create(backend).await;
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: data_dir.path().to_path_buf(),
            ..Config::default()
        };
        config.database.url = Some(SecretString::from(database.url.clone()));
        config.database.max_connections = 5;
        config.mail.transport = MailTransport::File;
        // The API runs in this process, whose binary is the test harness: the sandbox is the
        // tests' own child binary.
        config.documents.extractor_program =
            Some(PathBuf::from(env!("CARGO_BIN_EXE_docent-extract")));
        // Tests sign in, sign up and invite often from one address; the per-client limits are
        // exercised explicitly.
        config.auth.max_failures_per_client = 1000;
        config.limits.signups_per_client_per_hour = 100_000;
        config.limits.password_resets_per_client_per_hour = 100_000;
        config.limits.invitations_per_client_per_hour = 100_000;
        adjust(&mut config);
        Self::boot(config, data_dir, Some(database)).await
    }

    /// Serves `config` (with the embedded worker) on its data directory and database.
    async fn boot(
        config: Config,
        data_dir: tempfile::TempDir,
        database: Option<TestDatabase>,
    ) -> Self {
        let (base, stop, server, services) = serve(&config, true).await;
        Self {
            base,
            services,
            client: reqwest::Client::new(),
            config,
            data_dir,
            stop: Some(stop),
            server: Some(server),
            database,
        }
    }

    /// The same app after a restart: the API and its worker stop (everything they hold is
    /// released, the in-process vector index's lock too), the configuration is adjusted, and they
    /// start again on the same database and data directory, as after an operator's change.
    pub async fn restarted(mut self, adjust: impl FnOnce(&mut Config)) -> Self {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        let database = self.database.take();
        let data_dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap());
        let mut config = self.config.clone();
        drop(self);
        adjust(&mut config);
        Self::boot(config, data_dir, database).await
    }

    /// A second API replica on the same database and configuration; it stops with the returned
    /// guard.
    pub async fn replica(&self) -> Replica {
        // The in-process vector index belongs to one process: a replica gets its own data
        // directory (the database, where everything these tests share lives, is the same).
        let data_dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: data_dir.path().to_path_buf(),
            ..self.config.clone()
        };
        let (base, stop, server, _) = serve(&config, false).await;
        Replica {
            base,
            _stop: stop,
            server,
            _data_dir: data_dir,
        }
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.text().await.unwrap()
    }

    /// The configuration the app runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Posts a multipart form with a bearer token.
    pub async fn post_form(
        &self,
        path: &str,
        token: &str,
        form: reqwest::multipart::Form,
    ) -> Reply {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    /// Signs up and returns `(user id, session token)`.
    pub async fn signup(&self, email: &str, password: &str) -> (String, String) {
        let body = self
            .post(
                "/v1/auth/signup",
                None,
                json!({"email": email, "password": password, "name": "Test User"}),
            )
            .await
            .expect(201);
        (
            body["user"]["id"].as_str().unwrap().to_owned(),
            body["session"]["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Signs in and returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let body = self
            .post(
                "/v1/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await
            .expect(200);
        body["session"]["token"].as_str().unwrap().to_owned()
    }

    /// Asks for a password-reset mail.
    pub async fn request_reset(&self, email: &str) -> Reply {
        self.post("/v1/auth/password-reset", None, json!({"email": email}))
            .await
    }

    /// Sets a new password with a reset token.
    pub async fn confirm_reset(&self, token: &str, password: &str) -> Reply {
        self.post(
            "/v1/auth/password-reset/confirm",
            None,
            json!({"token": token, "password": password}),
        )
        .await
    }

    /// Invites `email` into `org` as `role`.
    pub async fn invite(&self, token: &str, org: &str, email: &str, role: &str) -> Reply {
        self.post(
            &format!("/v1/orgs/{org}/invitations"),
            Some(token),
            json!({"email": email, "role": role}),
        )
        .await
    }

    /// Invites `email` into `org` as `role`; the invitee signs up with `password` and accepts.
    /// Returns the invitee's `(user id, session token)`.
    pub async fn join(
        &self,
        owner: &str,
        org: &str,
        email: &str,
        role: &str,
        password: &str,
    ) -> (String, String) {
        self.invite(owner, org, email, role).await.expect(201);
        let token = self.token_mailed_to(email, "dsi_", 0).await;
        let (user_id, session) = self.signup(email, password).await;
        self.post(
            "/v1/invitations/accept",
            Some(&session),
            json!({"token": token}),
        )
        .await
        .expect(200);
        (user_id, session)
    }

    /// Creates an organization and returns its id.
    pub async fn create_org(&self, token: &str, name: &str) -> String {
        let body = self
            .post("/v1/orgs", Some(token), json!({"name": name}))
            .await
            .expect(201);
        body["id"].as_str().unwrap().to_owned()
    }

    fn outbox(&self) -> PathBuf {
        self.data_dir.path().join("outbox")
    }

    /// The mails delivered to `to` so far, decoded, oldest first.
    pub fn mails_to(&self, to: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.outbox()) else {
            return Vec::new();
        };
        let mut mails: Vec<(std::time::SystemTime, String)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| {
                let modified = e.metadata().ok()?.modified().ok()?;
                let raw = std::fs::read_to_string(e.path()).ok()?;
                Some((modified, decode_mail(&raw)))
            })
            .filter(|(_, mail)| {
                mail.lines()
                    .any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to))
            })
            .collect();
        mails.sort_by_key(|(t, _)| *t);
        mails.into_iter().map(|(_, m)| m).collect()
    }

    /// Waits for a mail to `to` carrying a token with `prefix`, and returns the token.
    pub async fn token_mailed_to(&self, to: &str, prefix: &str, nth: usize) -> String {
        let pattern = regex::Regex::new(&format!("{prefix}[A-Za-z0-9_-]{{43}}")).unwrap();
        for _ in 0..100 {
            let mails = self.mails_to(to);
            if let Some(mail) = mails.get(nth) {
                let token = pattern.find(mail).map(|m| m.as_str().to_owned());
                return token.unwrap_or_else(|| panic!("no {prefix} token in mail: {mail}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no mail #{nth} to {to} arrived");
    }
}

type Server = tokio::task::JoinHandle<std::io::Result<()>>;

/// Serves the API; the primary (`migrate`) also runs the embedded worker, as `docent-api serve`
/// does.
async fn serve(config: &Config, migrate: bool) -> (String, oneshot::Sender<()>, Server, Services) {
    let services = bootstrap(config, migrate).await.unwrap();
    let kept = services.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let (stop_all, stopping) = tokio::sync::watch::channel(false);
    let until = |mut stopping: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    let worker = (migrate && config.worker.embedded)
        .then(|| tokio::spawn(services.worker("e2e").run_until(until(stopping.clone()))));
    let server = tokio::spawn(async move {
        let console = docent_web::mount(services.clone());
        let http = docent_http_api::serve_with(services, listener, until(stopping), console);
        let signal = async move {
            drop(stopped.await);
            let _ = stop_all.send(true);
        };
        let (served, ()) = tokio::join!(http, signal);
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        served
    });
    (base, stop, server, kept)
}

/// Another API process's stand-in: its own services and port, the same database.
pub struct Replica {
    pub base: String,
    _stop: oneshot::Sender<()>,
    server: Server,
    _data_dir: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Undoes quoted-printable soft line breaks and escapes, enough to find tokens and links.
fn decode_mail(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut out = String::with_capacity(joined.len());
    let mut chars = joined.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '=' {
            let hex: String = chars.clone().take(2).collect();
            if let Ok(byte) = u8::from_str_radix(&hex, 16) {
                out.push(char::from(byte));
                chars.next();
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    out
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Runs `scenario` on both backends as two tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario(docent_infrastructure::testing::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario(docent_infrastructure::testing::Backend::Postgres).await;
                }
            }
        )*
    };
}
