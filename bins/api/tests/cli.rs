//! The real `docent-api` binary: two instances side by side, graceful shutdown on SIGTERM, config
//! errors that name the key, migrations and the spec command. Kept apart from the end-to-end binary
//! because only this package's tests can run its executable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_docent-api");

fn command(data_dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCENT_LOG__FORMAT", "json")
        .env("DOCENT_DATA_DIR", data_dir)
        .env(
            "DOCENT_MODELS__DIR",
            docent_infrastructure::testing::models_dir(),
        )
        .current_dir(data_dir.parent().unwrap());
    command
}

/// Starts `serve` on port 0 and returns the child and the address it reports.
fn start(data_dir: &Path) -> (Child, String) {
    start_with(data_dir, &[])
}

/// Like [`start`], with more environment variables.
fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = command(data_dir)
        .envs(env.iter().copied())
        .env("DOCENT_ADDR", "127.0.0.1:0")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (found, addr) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("docent-api listening") {
                let value: serde_json::Value = serde_json::from_str(&line).unwrap();
                let _ = found.send(value["fields"]["addr"].as_str().unwrap().to_owned());
            }
        }
    });
    let addr = addr
        .recv_timeout(Duration::from_secs(60))
        .expect("docent-api did not report its address");
    (child, addr)
}

fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: docent\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("docent-api did not stop on SIGTERM");
}

/// The environment the process `pid` runs with now (after any `exec`).
fn environment_of(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap()
        .split(|byte| *byte == 0)
        .map(|entry| String::from_utf8_lossy(entry).into_owned())
        .collect()
}

#[test]
fn two_instances_run_side_by_side_bound_their_arenas_and_stop_on_sigterm() {
    let root = tempfile::tempdir().unwrap();
    let (first, first_addr) = start(&root.path().join("one"));
    // An operator's own arena setting is kept; without one the binary bounds the arenas itself.
    let (second, second_addr) = start_with(&root.path().join("two"), &[("MALLOC_ARENA_MAX", "4")]);
    assert_ne!(first_addr, second_addr);
    let first_environment = environment_of(first.id());
    let expected = format!("MALLOC_ARENA_MAX={}", docent_app::allocator::ARENAS);
    assert!(
        first_environment.contains(&expected),
        "{first_environment:?}"
    );
    let second_environment = environment_of(second.id());
    assert!(second_environment.contains(&"MALLOC_ARENA_MAX=4".to_owned()));
    assert!(!second_environment.contains(&expected));
    for addr in [&first_addr, &second_addr] {
        let answer = get(addr, "/readyz");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    assert!(root.path().join("one/docent.db").is_file());
    assert!(root.path().join("two/docent.db").is_file());
    assert!(terminate(first).success());
    assert!(terminate(second).success());
}

#[test]
fn a_bad_setting_stops_startup_naming_the_key() {
    let root = tempfile::tempdir().unwrap();
    let output = command(&root.path().join("data"))
        .env("DOCENT_ADDR", "not-an-address")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("addr"), "{stderr}");

    let output = command(&root.path().join("data"))
        .args(["--config", "/nonexistent/docent.toml", "serve"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--config"));
}

#[test]
fn migrate_and_openapi_commands_work() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let status = command(&data)
        .arg("migrate")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let output = command(&data).args(["migrate", "status"]).output().unwrap();
    let listing = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines.len() >= 3, "{listing}");
    assert!(
        lines.iter().all(|l| l.starts_with("applied  m2026")),
        "{listing}"
    );
    assert!(lines[0].ends_with("_identity"), "{listing}");

    let output = command(&data).arg("openapi").output().unwrap();
    assert!(output.status.success());
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json"),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        committed,
        "run `just openapi`"
    );
}

#[test]
fn rotate_master_key_re_seals_under_the_configured_key() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    assert!(
        command(&data)
            .arg("migrate")
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    // The embedded default: a key file is generated, and there is nothing to re-seal yet.
    let output = command(&data).arg("rotate-master-key").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "re-sealed 0 provider API keys\n"
    );
    let key_file = data.join("master.key");
    assert!(key_file.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // A malformed key stops it with a message naming the setting, and never echoes the key.
    let output = command(&data)
        .env("DOCENT_SECRETS__MASTER_KEY", "not-a-real-key-material")
        .arg("rotate-master-key")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("master_key"), "{stderr}");
    assert!(!stderr.contains("not-a-real-key-material"), "{stderr}");
}

/// Sends a JSON request and returns the status and the JSON body.
fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let body = body.to_string();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: docent\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let json = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}

#[test]
fn the_real_binary_sandboxes_itself_and_ignores_proxy_variables() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    // A proxy that is not there: a provider call that used it would fail to connect.
    let dead_proxy = "http://127.0.0.1:9";
    let (child, addr) = start_with(
        &data,
        &[
            ("DOCENT_PROVIDERS__ALLOW_PRIVATE_BASE_URLS", "true"),
            ("HTTP_PROXY", dead_proxy),
            ("HTTPS_PROXY", dead_proxy),
            ("ALL_PROXY", dead_proxy),
            ("http_proxy", dead_proxy),
        ],
    );
    let (status, signed_up) = call(
        &addr,
        "POST",
        "/v1/auth/signup",
        None,
        &serde_json::json!({"email": "cli@example.com", "password": "correct horse battery", "name": "Cli"}),
    );
    assert_eq!(status, 201, "{signed_up}");
    let token = signed_up["session"]["token"].as_str().unwrap().to_owned();
    let (_, org) = call(
        &addr,
        "POST",
        "/v1/orgs",
        Some(&token),
        &serde_json::json!({"name": "Cli"}),
    );
    let org = org["id"].as_str().unwrap().to_owned();

    // The embedded worker extracts in a child of this very binary (its hidden sandbox argument).
    let (status, document) = call(
        &addr,
        "POST",
        &format!("/v1/orgs/{org}/documents/text"),
        Some(&token),
        &serde_json::json!({"title": "Hours", "text": "The depot opens at seven in the morning."}),
    );
    assert_eq!(status, 202, "{document}");
    let id = document["id"].as_str().unwrap();
    let ready = settled(&addr, &token, &org, id);
    assert_eq!(ready["status"], "ready", "{ready}");

    // A provider call goes straight to the model server, whatever the proxy variables say.
    if let Ok(url) = std::env::var("DOCENT_TEST_LLM_URL") {
        let (status, provider) = call(
            &addr,
            "POST",
            &format!("/v1/orgs/{org}/providers"),
            Some(&token),
            &serde_json::json!({"name": "llama.cpp", "kind": "openai_compatible", "base_url": url, "default_model": "smollm2"}),
        );
        assert_eq!(status, 201, "{provider}");
        let (status, report) = call(
            &addr,
            "POST",
            &format!(
                "/v1/orgs/{org}/providers/{}/test",
                provider["id"].as_str().unwrap()
            ),
            Some(&token),
            &serde_json::json!({}),
        );
        assert_eq!(status, 200);
        assert_eq!(report["ok"], true, "{report}");
    } else {
        eprintln!(
            "skipped the provider half: set DOCENT_TEST_LLM_URL (`./dev test` starts llama.cpp's server with scripts/with-llm)"
        );
    }
    assert!(terminate(child).success());
}

/// Runs the binary with `args` on `data_dir`; returns whether it succeeded, stdout and stderr.
fn run(data_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let output = command(data_dir)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn config_prints_its_defaults_and_checks_a_file() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let (ok, defaults, _) = run(&data, &[], &["config", "defaults"]);
    assert!(ok);
    assert!(defaults.contains("[qdrant]") && defaults.contains("chunk_tokens = 250"));
    let file = root.path().join("docent.toml");
    std::fs::write(
        &file,
        "qdrant_url = \"http://qdrant:6334\"\n[database]\nurl = \"postgres://docent:hunter2@db/docent\"\nmax_conections = 4\n",
    )
    .unwrap();
    let (ok, effective, warnings) = run(
        &data,
        &[("DOCENT_SECRETS__MASTER_KEY", "a-secret-master-key")],
        &["--config", file.to_str().unwrap(), "config", "check"],
    );
    assert!(ok, "{warnings}");
    assert!(
        warnings.contains("`qdrant_url`") && warnings.contains("use `qdrant.url`"),
        "{warnings}"
    );
    assert!(warnings.contains("`database.max_conections`"), "{warnings}");
    // The effective configuration, as TOML, with secrets redacted and derived defaults filled.
    let parsed: toml::Table = effective.parse().unwrap();
    assert_eq!(
        parsed["qdrant"]["url"].as_str(),
        Some("http://qdrant:6334/")
    );
    assert_eq!(parsed["secrets"]["master_key"].as_str(), Some("<redacted>"));
    assert!(!effective.contains("hunter2") && !effective.contains("a-secret-master-key"));
    assert!(parsed["models"]["dir"].as_str().is_some());
    // An invalid file fails, naming the key.
    std::fs::write(&file, "[worker]\nlease_secs = 1\n").unwrap();
    let (ok, _, error) = run(
        &data,
        &[],
        &["--config", file.to_str().unwrap(), "config", "check"],
    );
    assert!(!ok);
    assert!(error.contains("worker.lease_secs"), "{error}");
}

/// Waits until the document is ready or failed; returns it.
fn settled(addr: &str, token: &str, org: &str, id: &str) -> serde_json::Value {
    for _ in 0..600 {
        let (_, current) = call(
            addr,
            "GET",
            &format!("/v1/orgs/{org}/documents/{id}"),
            Some(token),
            &serde_json::Value::Null,
        );
        if matches!(current["status"].as_str(), Some("ready" | "failed")) {
            return current;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("document {id} never settled");
}

/// Signs in (or up) and returns a session token.
fn login(addr: &str, email: &str) -> (u16, String) {
    let (status, body) = call(
        addr,
        "POST",
        "/v1/auth/login",
        None,
        &serde_json::json!({"email": email, "password": "correct horse battery"}),
    );
    (
        status,
        body["session"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// An organization with an API key for import and export.
fn org_with_key(addr: &str, token: &str, name: &str) -> (String, String) {
    let (_, org) = call(
        addr,
        "POST",
        "/v1/orgs",
        Some(token),
        &serde_json::json!({"name": name}),
    );
    let org = org["id"].as_str().unwrap().to_owned();
    let (status, key) = call(
        addr,
        "POST",
        &format!("/v1/orgs/{org}/api-keys"),
        Some(token),
        &serde_json::json!({"name": "operator", "scopes": [
            "documents:read", "documents:write", "chatbots:read", "chatbots:write",
            "providers:read", "providers:write"]}),
    );
    assert_eq!(status, 201, "{key}");
    (org, key["key"].as_str().unwrap().to_owned())
}

/// Asks the chatbot one question; returns the answer's text and its cited documents.
fn ask(addr: &str, token: &str, org: &str, chatbot: &str, question: &str) -> (String, Vec<String>) {
    let base = format!("/v1/orgs/{org}/chatbots/{chatbot}/conversations");
    let (status, started) = call(addr, "POST", &base, Some(token), &serde_json::json!({}));
    assert_eq!(status, 201, "{started}");
    let conversation = started["conversation"]["id"].as_str().unwrap();
    let (status, answer) = call(
        addr,
        "POST",
        &format!("{base}/{conversation}/messages"),
        Some(token),
        &serde_json::json!({"content": question, "stream": false}),
    );
    assert_eq!(status, 200, "{answer}");
    let message = &answer["message"];
    let cited = message["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {}", c["title"], c["snippet"]))
        .collect();
    (message["content"].as_str().unwrap().to_owned(), cited)
}

/// Every chunk of the organization's documents as `(title, ordinal, text)`, sorted.
fn chunks(addr: &str, token: &str, org: &str) -> Vec<(String, u64, String)> {
    let (_, list) = call(
        addr,
        "GET",
        &format!("/v1/orgs/{org}/documents?limit=200"),
        Some(token),
        &serde_json::Value::Null,
    );
    let mut rows = Vec::new();
    for document in list["items"].as_array().unwrap() {
        let id = document["id"].as_str().unwrap();
        let (_, chunks) = call(
            addr,
            "GET",
            &format!("/v1/orgs/{org}/documents/{id}/chunks?limit=200"),
            Some(token),
            &serde_json::Value::Null,
        );
        for chunk in chunks["items"].as_array().unwrap() {
            rows.push((
                document["title"].as_str().unwrap().to_owned(),
                chunk["ordinal"].as_u64().unwrap(),
                chunk["text"].as_str().unwrap().to_owned(),
            ));
        }
    }
    rows.sort();
    rows
}

/// The organization's documents as `(title, status, chunk_count)`, sorted.
fn documents(addr: &str, token: &str, org: &str) -> Vec<(String, String, u64)> {
    let (_, list) = call(
        addr,
        "GET",
        &format!("/v1/orgs/{org}/documents?limit=200"),
        Some(token),
        &serde_json::Value::Null,
    );
    let mut rows: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["title"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
                d["chunk_count"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn the_operators_tools_import_administer_back_up_restore_and_export() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let (child, addr) = start(&data);
    let url = format!("http://{addr}");
    let email = "operator@example.com";
    let (status, signed_up) = call(
        &addr,
        "POST",
        "/v1/auth/signup",
        None,
        &serde_json::json!({"email": email, "password": "correct horse battery", "name": "Op"}),
    );
    assert_eq!(status, 201, "{signed_up}");
    let token = signed_up["session"]["token"].as_str().unwrap().to_owned();
    let (org, key) = org_with_key(&addr, &token, "Depot");

    // A directory to import: two documents in nested folders, a file of a type left out, a
    // hidden file, and a PDF that is not one (it fails in processing).
    let docs = root.path().join("docs");
    std::fs::create_dir_all(docs.join("sub/.hidden")).unwrap();
    std::fs::write(
        docs.join("hours.md"),
        "# Opening hours\n\nThe depot opens at seven in the morning and closes at six.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("sub/returns.txt"),
        "Returns are accepted within thirty days with a receipt.\n",
    )
    .unwrap();
    std::fs::write(docs.join("sub/image.bin"), [0_u8, 1, 2, 3]).unwrap();
    std::fs::write(docs.join("sub/.hidden/secret.txt"), "not for import").unwrap();
    let import = |dir: &Path, org: &str, key: &str| {
        run(
            &data,
            &[("DOCENT_API_KEY", key)],
            &[
                "import",
                dir.to_str().unwrap(),
                "--org",
                org,
                "--url",
                &url,
                "--tag",
                "imported",
            ],
        )
    };
    let (ok, summary, stderr) = import(&docs, &org, &key);
    assert!(ok, "{summary}{stderr}");
    assert!(
        summary.contains("2 files: 2 uploaded, 0 already in the organization, 2 ready, 0 failed"),
        "{summary}"
    );
    // Resumable: a second run finds both by checksum.
    let (ok, summary, _) = import(&docs, &org, &key);
    assert!(ok);
    assert!(
        summary.contains("2 files: 0 uploaded, 2 already in the organization"),
        "{summary}"
    );
    // A file that fails makes the run fail, and says why.
    std::fs::write(
        docs.join("broken.pdf"),
        b"%PDF-1.7\nthis is not really a pdf",
    )
    .unwrap();
    let (ok, summary, _) = import(&docs, &org, &key);
    assert!(!ok, "{summary}");
    assert!(
        summary.contains("1 failed")
            && summary.contains("failed: ")
            && summary.contains("broken.pdf"),
        "{summary}"
    );

    // Run again, the failed document is still reported, and still fails the run.
    let (ok, summary, _) = import(&docs, &org, &key);
    assert!(!ok, "{summary}");
    assert!(
        summary.contains("0 uploaded, 3 already in the organization")
            && summary.contains("in the organization already, and failed"),
        "{summary}"
    );

    // admin: accounts, organizations, the queue, failed documents and their retry.
    let (ok, users, _) = run(&data, &[], &["admin", "users"]);
    assert!(
        ok && users.contains(email) && users.contains("active"),
        "{users}"
    );
    let (ok, orgs, _) = run(&data, &[], &["admin", "orgs"]);
    assert!(ok && orgs.contains("Depot"), "{orgs}");
    let (ok, queue, _) = run(&data, &[], &["admin", "queue"]);
    assert!(ok && queue.contains("KIND"), "{queue}");
    let (ok, failed, _) = run(&data, &[], &["admin", "failed"]);
    assert!(ok && failed.contains("broken.pdf"), "{failed}");
    let (ok, retried, _) = run(&data, &[], &["admin", "retry-failed", "--org", &org]);
    assert!(
        ok && retried.contains("queued 1 failed documents"),
        "{retried}"
    );
    let (_, list) = call(
        &addr,
        "GET",
        &format!("/v1/orgs/{org}/documents?status=failed"),
        Some(&token),
        &serde_json::Value::Null,
    );
    let mut broken = list["items"][0]["id"].as_str().map(str::to_owned);
    if broken.is_none() {
        // Still queued or processing again: it fails again in a moment.
        let (_, all) = call(
            &addr,
            "GET",
            &format!("/v1/orgs/{org}/documents"),
            Some(&token),
            &serde_json::Value::Null,
        );
        broken = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["title"] == "broken.pdf")
            .and_then(|d| d["id"].as_str())
            .map(str::to_owned);
    }
    let broken = broken.unwrap();
    assert_eq!(settled(&addr, &token, &org, &broken)["status"], "failed");
    let (status, _) = call(
        &addr,
        "DELETE",
        &format!("/v1/orgs/{org}/documents/{broken}"),
        Some(&token),
        &serde_json::Value::Null,
    );
    assert_eq!(status, 204);
    // Sessions ended by another process (the CLI) stop working within the cache's documented
    // cross-process bound (ADR 0008: 500 ms at worst); a disabled account cannot sign in until
    // enabled again.
    let (ok, ended, _) = run(&data, &[], &["admin", "reset-sessions", email]);
    let ended_at = Instant::now();
    assert!(ok && ended.contains("ended 1 sessions"), "{ended}");
    let status = loop {
        let (status, _) = call(
            &addr,
            "GET",
            "/v1/users/me",
            Some(&token),
            &serde_json::Value::Null,
        );
        if status != 200 || ended_at.elapsed() > Duration::from_secs(2) {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status,
        401,
        "still signed in {:?} after the reset",
        ended_at.elapsed()
    );
    let (ok, _, _) = run(&data, &[], &["admin", "disable-user", email]);
    assert!(ok);
    assert_eq!(login(&addr, email).0, 401);
    let (ok, _, _) = run(&data, &[], &["admin", "enable-user", email]);
    assert!(ok);
    let (status, token) = login(&addr, email);
    assert_eq!(status, 200);
    let (ok, _, missing) = run(&data, &[], &["admin", "disable-user", "nobody@example.com"]);
    assert!(
        !ok && missing.contains("no account has the address nobody@example.com"),
        "{missing}"
    );

    // A chatbot on the built-in extractive answerer, and its answer before the backup.
    let (status, provider) = call(
        &addr,
        "POST",
        &format!("/v1/orgs/{org}/providers"),
        Some(&token),
        &serde_json::json!({"name": "Built-in", "kind": "extractive"}),
    );
    assert_eq!(status, 201, "{provider}");
    let (status, chatbot) = call(
        &addr,
        "POST",
        &format!("/v1/orgs/{org}/chatbots"),
        Some(&token),
        &serde_json::json!({"name": "Depot help", "provider_id": provider["id"], "knowledge": {"tags": ["imported"]}}),
    );
    assert_eq!(status, 201, "{chatbot}");
    let chatbot = chatbot["id"].as_str().unwrap().to_owned();
    let question = "When does the depot open?";
    let before = ask(&addr, &token, &org, &chatbot, question);
    assert!(before.0.contains("seven"), "{before:?}");
    assert!(!before.1.is_empty());
    let listed = documents(&addr, &token, &org);
    let chunked = chunks(&addr, &token, &org);
    assert!(!chunked.is_empty());

    // Backup while it runs; export over the API.
    let backup = root.path().join("backup");
    let (ok, said, stderr) = run(&data, &[], &["backup", backup.to_str().unwrap()]);
    assert!(ok, "{said}{stderr}");
    assert!(backup.join("backup.json").is_file() && backup.join("docent.db").is_file());
    let (ok, _, refused) = run(&data, &[], &["backup", backup.to_str().unwrap()]);
    assert!(!ok && refused.contains("not empty"), "{refused}");
    let export = root.path().join("export");
    let (ok, said, stderr) = run(
        &data,
        &[("DOCENT_API_KEY", &key)],
        &[
            "export",
            export.to_str().unwrap(),
            "--org",
            &org,
            "--url",
            &url,
        ],
    );
    assert!(ok, "{said}{stderr}");
    assert!(
        said.contains("exported 2 documents, 1 providers (without their API keys) and 1 chatbots"),
        "{said}"
    );
    let manifest = std::fs::read_to_string(export.join("docent-export.json")).unwrap();
    assert!(manifest.contains("Depot help") && !manifest.contains("api_key_last4"));
    assert!(terminate(child).success());

    // Restore into a new data directory and serve it: the same documents, chunks and answer.
    let restored = root.path().join("restored");
    let (ok, said, stderr) = run(&restored, &[], &["restore", backup.to_str().unwrap()]);
    assert!(ok, "{said}{stderr}");
    let (ok, _, refused) = run(&restored, &[], &["restore", backup.to_str().unwrap()]);
    assert!(!ok && refused.contains("already holds data"), "{refused}");
    let (child, addr) = start(&restored);
    let url = format!("http://{addr}");
    let (status, token) = login(&addr, email);
    assert_eq!(status, 200);
    assert_eq!(documents(&addr, &token, &org), listed);
    assert_eq!(chunks(&addr, &token, &org), chunked);
    assert_eq!(ask(&addr, &token, &org, &chatbot, question), before);

    // The export reads back into another organization: documents, the provider and the chatbot.
    // Against the local instance no API key is needed: a temporary one is made and revoked.
    let (copy, _) = org_with_key(&addr, &token, "Depot copy");
    let export_dir = export.to_str().unwrap();
    let (ok, _, refused) = run(
        &restored,
        &[],
        &["import", export_dir, "--org", &copy, "--url", &url],
    );
    assert!(!ok && refused.contains("needs an API key"), "{refused}");
    let (ok, summary, stderr) = run(
        &restored,
        &[("DOCENT_ADDR", &addr)],
        &["import", export_dir, "--org", &copy],
    );
    assert!(ok, "{summary}{stderr}");
    assert!(
        summary.contains("2 files: 2 uploaded, 0 already in the organization, 2 ready, 0 failed"),
        "{summary}"
    );
    assert!(
        summary.contains("created provider `Built-in`")
            && summary.contains("created chatbot `Depot help`"),
        "{summary}"
    );
    assert_eq!(documents(&addr, &token, &copy), listed);
    let (_, chatbots) = call(
        &addr,
        "GET",
        &format!("/v1/orgs/{copy}/chatbots"),
        Some(&token),
        &serde_json::Value::Null,
    );
    let copied = chatbots["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(ask(&addr, &token, &copy, &copied, question).0, before.0);
    let (_, keys) = call(
        &addr,
        "GET",
        &format!("/v1/orgs/{copy}/api-keys"),
        Some(&token),
        &serde_json::Value::Null,
    );
    let temporary: Vec<_> = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["name"] == "docent-api import (temporary)")
        .collect();
    assert_eq!(temporary.len(), 1, "{keys}");
    assert!(temporary[0]["revoked_at"].is_string(), "{keys}");
    assert!(terminate(child).success());
}
