//! The real `docent-api` binary: two instances side by side, graceful shutdown on SIGTERM, config
//! errors that name the key, migrations and the spec command. Kept apart from the end-to-end binary
//! because only this package's tests can run its executable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_docent-api");

fn command(data_dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCENT_LOG__FORMAT", "json")
        .env("DOCENT_DATA_DIR", data_dir)
        .env(
            "DOCENT_MODELS_DIR",
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

#[test]
fn two_instances_run_side_by_side_and_stop_on_sigterm() {
    let root = tempfile::tempdir().unwrap();
    let (first, first_addr) = start(&root.path().join("one"));
    let (second, second_addr) = start(&root.path().join("two"));
    assert_ne!(first_addr, second_addr);
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
        .env("DOCENT_MASTER_KEY", "not-a-real-key-material")
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
    let mut ready = serde_json::Value::Null;
    for _ in 0..300 {
        let (_, current) = call(
            &addr,
            "GET",
            &format!("/v1/orgs/{org}/documents/{id}"),
            Some(&token),
            &serde_json::Value::Null,
        );
        if matches!(current["status"].as_str(), Some("ready" | "failed")) {
            ready = current;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
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
