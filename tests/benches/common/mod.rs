//! What the benchmarks share: starting the real `docent-api` binary on a fresh data directory,
//! reading its memory and the API calls that set an organization up; the embedded default's
//! services in process with a signed-up user, for the benches that call them directly; and the rows
//! of `./dev bench`'s table.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use docent_app::{Config, Services, bootstrap};
use docent_identity::NewSessionInfo;
use docent_infrastructure::testing::models_dir;
use docent_kernel::{Actor, ExposeSecret as _, OrgId, RequestMeta, SecretString, TenantCtx};
use serde_json::{Value, json};

/// The configuration of `docent-api serve` on the embedded default in `dir` (SQLite, the in-process
/// index, the local model), logging warnings only, with the bench's extraction child.
pub fn embedded_config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.models.dir = Some(models_dir());
    config.log.filter = "warn".to_owned();
    config.documents.extractor_program = Some(env!("CARGO_BIN_EXE_docent-extract").into());
    config.database.url = Some(SecretString::from(format!(
        "sqlite://{}?mode=rwc",
        dir.join("bench.db").display()
    )));
    config
}

/// A user signed up on in-process services, with an organization of their own.
pub struct SignedUp {
    pub user: docent_identity::User,
    /// The session's bearer token.
    pub token: String,
    pub org: OrgId,
    /// The user acting in the organization.
    pub tenant: TenantCtx,
}

/// The services of `config`, and `email` signed up on them with an organization.
pub async fn services_with_user(config: &Config, email: &str) -> (Services, SignedUp) {
    let services = bootstrap(config, true).await.unwrap();
    let (user, session) = services
        .identity
        .signup(
            email,
            &SecretString::from("correct horse battery"),
            "Bench",
            NewSessionInfo::default(),
        )
        .await
        .unwrap();
    let org = services
        .tenancy
        .create_org(user.id, "Bench", &RequestMeta::default())
        .await
        .unwrap()
        .org
        .id;
    let signed = SignedUp {
        tenant: TenantCtx::new(org, Actor::User(user.id)),
        token: session.token.expose_secret().to_owned(),
        user,
        org,
    };
    (services, signed)
}

/// The server, stopped when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// From the spawn to the "listening" line.
    pub listening_after: Duration,
    _data: tempfile::TempDir,
}

impl Server {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `binary serve` on a fresh data directory with `env` on top of the bench's settings,
/// and waits for it to listen.
pub fn start(binary: &str, env: &[(&str, &str)]) -> Server {
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .env("DOCENT_ADDR", "127.0.0.1:0")
        .env("DOCENT_DATA_DIR", data.path())
        .env("DOCENT_LOG__FORMAT", "json")
        .env("DOCENT_LOG__FILTER", "warn,docent_api=info")
        // One client address drives everything: lift the per-client limits.
        .env("DOCENT_AUTH__MAX_FAILURES_PER_CLIENT", "100000")
        .env("DOCENT_LIMITS__SIGNUPS_PER_CLIENT_PER_HOUR", "100000");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (found, addr) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("docent-api listening") {
                let value: Value = serde_json::from_str(&line).unwrap();
                let _ = found.send(value["fields"]["addr"].as_str().unwrap().to_owned());
            }
        }
    });
    let addr = addr.recv_timeout(Duration::from_secs(120)).unwrap();
    Server {
        child,
        addr: format!("http://{addr}"),
        listening_after: started.elapsed(),
        _data: data,
    }
}

/// A line of `/proc/<pid>/status` in MiB (`VmRSS`, `VmHWM`).
fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The process's resident memory in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmRSS:")
}

/// The process's peak resident memory so far in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmHWM:")
}

/// Posts JSON with a bearer token (none when empty); the status and the body.
pub async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> (u16, Value) {
    let mut request = client.post(url).json(&body);
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Gets JSON with a bearer token.
pub async fn get(client: &reqwest::Client, url: String, token: &str) -> Value {
    let response = client.get(url).bearer_auth(token).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

/// A signed-up user with an organization, an extractive provider and one chatbot.
#[derive(Clone)]
pub struct Target {
    pub base: String,
    pub token: String,
    pub org: String,
    pub chatbot: String,
}

/// Signs `email` up and sets its organization up.
pub async fn setup(base: &str, email: &str) -> Target {
    let client = reqwest::Client::new();
    let (_, signed) = post(
        &client,
        format!("{base}/v1/auth/signup"),
        "",
        json!({"email": email, "password": "correct horse battery", "name": "Bench"}),
    )
    .await;
    let token = signed["session"]["token"].as_str().unwrap().to_owned();
    let (_, org) = post(
        &client,
        format!("{base}/v1/orgs"),
        &token,
        json!({"name": "Bench"}),
    )
    .await;
    let org = org["id"].as_str().unwrap().to_owned();
    let (_, provider) = post(
        &client,
        format!("{base}/v1/orgs/{org}/providers"),
        &token,
        json!({"name": "Offline", "kind": "extractive"}),
    )
    .await;
    let (_, bot) = post(
        &client,
        format!("{base}/v1/orgs/{org}/chatbots"),
        &token,
        json!({"name": "Helper", "provider_id": provider["id"]}),
    )
    .await;
    Target {
        base: base.to_owned(),
        token,
        org,
        chatbot: bot["id"].as_str().unwrap().to_owned(),
    }
}

/// The `p`-quantile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// The median of durations.
pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// One row of `./dev bench`'s table: printed, and appended as a JSON line to the file
/// `DOCENT_BENCH_RESULTS` names (when set), which `scripts/bench-report` turns into
/// `docs/benchmarks.md`.
pub struct Row<'a> {
    /// What is measured.
    pub figure: &'a str,
    /// docent's figure, in words with its unit.
    pub measured: String,
    /// The baseline's figure in the same run ("—" where there is none).
    pub baseline: String,
    /// The ratio or difference against the baseline, or the absolute figure, in words.
    pub result: String,
    /// The target, in words.
    pub target: &'a str,
    /// Whether the target is met.
    pub met: bool,
}

pub fn record(row: &Row<'_>) {
    println!(
        "  {:<60} {:>24} {:>24}  {:>14}  target {:<12} {}",
        row.figure,
        row.measured,
        row.baseline,
        row.result,
        row.target,
        if row.met { "met" } else { "NOT MET" }
    );
    if let Ok(path) = std::env::var("DOCENT_BENCH_RESULTS") {
        use std::io::Write as _;
        let line = json!({
            "figure": row.figure,
            "measured": row.measured,
            "baseline": row.baseline,
            "result": row.result,
            "target": row.target,
            "met": row.met,
        });
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(file, "{line}").unwrap();
    }
}
