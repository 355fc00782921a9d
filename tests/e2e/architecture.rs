//! The dependency rules of DESIGN.md §2, checked from `cargo metadata`, and the rule that only
//! the services that check access build tenant contexts, checked from the sources.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// The domain crates, which must stay free of infrastructure.
const DOMAIN: &[&str] = &[
    "docent-kernel",
    "docent-identity",
    "docent-tenancy",
    "docent-keys",
    "docent-documents",
    "docent-providers",
    "docent-chat",
];

/// Crates no domain crate may depend on, directly or transitively.
const FORBIDDEN: &[&str] = &[
    "sea-orm",
    "sqlx",
    "sqlx-core",
    "poem",
    "poem-openapi",
    "qdrant-client",
    "qdrant-edge",
    "fastembed",
    "ort",
    "async-openai",
    "reqwest",
];

/// The only edges allowed between domain crates besides `kernel`.
const ALLOWED_DOMAIN_EDGES: &[(&str, &str)] = &[
    ("docent-chat", "docent-documents"),
    ("docent-chat", "docent-providers"),
];

struct Graph {
    names: BTreeMap<String, String>,
    /// Package id → ids of its normal and build dependencies (not dev-dependencies).
    edges: BTreeMap<String, Vec<String>>,
}

fn graph() -> Graph {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--manifest-path",
        ])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let edges = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            let deps = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dep| {
                    dep["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null() || k["kind"] == "build")
                })
                .map(|dep| dep["pkg"].as_str().unwrap().to_owned())
                .collect();
            (node["id"].as_str().unwrap().to_owned(), deps)
        })
        .collect();
    Graph { names, edges }
}

impl Graph {
    fn id_of(&self, name: &str) -> String {
        self.names
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("{name} is not in the workspace"))
    }

    /// Every package reachable from `root`, with the path that reaches it.
    fn reachable(&self, root: &str) -> BTreeMap<String, Vec<String>> {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut stack = vec![(self.id_of(root), vec![root.to_owned()])];
        while let Some((id, path)) = stack.pop() {
            for dep in self.edges.get(&id).into_iter().flatten() {
                let name = self.names[dep].clone();
                if seen.contains_key(&name) {
                    continue;
                }
                let mut dep_path = path.clone();
                dep_path.push(name.clone());
                seen.insert(name, dep_path.clone());
                stack.push((dep.clone(), dep_path));
            }
        }
        seen
    }

    fn direct(&self, root: &str) -> BTreeSet<String> {
        self.edges[&self.id_of(root)]
            .iter()
            .map(|dep| self.names[dep].clone())
            .collect()
    }
}

#[test]
fn domain_crates_never_reach_infrastructure() {
    let graph = graph();
    let mut violations = Vec::new();
    for domain in DOMAIN {
        for (name, path) in graph.reachable(domain) {
            if FORBIDDEN.contains(&name.as_str()) {
                violations.push(path.join(" -> "));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "forbidden dependencies:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_embedding_example_links_only_domain_crates() {
    // `examples/embedded-faq` is another service using docent-documents and docent-chat with its
    // own adapters: it reaches no adapter crate and nothing they are built on.
    let graph = graph();
    let reachable = graph.reachable("docent-example-embedded-faq");
    assert!(reachable.contains_key("docent-chat") && reachable.contains_key("docent-documents"));
    let outer = [
        "docent-infrastructure",
        "docent-app",
        "docent-http-api",
        "docent-worker",
    ];
    let violations: Vec<String> = reachable
        .iter()
        .filter(|(name, _)| FORBIDDEN.contains(&name.as_str()) || outer.contains(&name.as_str()))
        .map(|(_, path)| path.join(" -> "))
        .collect();
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn domain_crates_depend_on_each_other_only_through_declared_edges() {
    let graph = graph();
    let mut violations = Vec::new();
    for domain in DOMAIN {
        for dep in graph.direct(domain) {
            let is_domain = DOMAIN.contains(&dep.as_str());
            let allowed =
                dep == "docent-kernel" || ALLOWED_DOMAIN_EDGES.contains(&(domain, dep.as_str()));
            if is_domain && !allowed {
                violations.push(format!("{domain} -> {dep}"));
            }
            if dep.starts_with("docent-") && !is_domain {
                violations.push(format!("{domain} -> {dep} (an outer layer)"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "undeclared edges:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_sees_through_transitive_edges() {
    // Guards the checker itself: the API crate does reach poem and sea-orm.
    let graph = graph();
    let reachable = graph.reachable("docent-http-api");
    assert!(reachable.contains_key("poem"));
    assert!(reachable.contains_key("sea-orm"));
    assert!(reachable.contains_key("sqlx-core"));
}

/// The layers above the domain, and the workspace crates each may depend on directly.
const OUTER_EDGES: &[(&str, &[&str])] = &[
    // Adapters implement ports; they never reach the composition root or the worker.
    (
        "docent-infrastructure",
        &["docent-app", "docent-worker", "docent-http-api"],
    ),
    // The worker runs jobs through the documents crate's ports only.
    (
        "docent-worker",
        &["docent-infrastructure", "docent-app", "docent-http-api"],
    ),
    // The API goes through the composition root, never to the adapters directly.
    (
        "docent-http-api",
        &["docent-infrastructure", "docent-worker"],
    ),
    // The console is the API's sibling: the same composition root, never the adapters, and
    // neither depends on the other.
    (
        "docent-web",
        &["docent-infrastructure", "docent-worker", "docent-http-api"],
    ),
    ("docent-http-api", &["docent-web"]),
    // The composition root is below the API and the console.
    ("docent-app", &["docent-http-api", "docent-web"]),
];

#[test]
fn outer_layers_depend_only_downwards() {
    let graph = graph();
    let mut violations = Vec::new();
    for (crate_name, forbidden) in OUTER_EDGES {
        for dep in graph.direct(crate_name) {
            if forbidden.contains(&dep.as_str()) {
                violations.push(format!("{crate_name} -> {dep}"));
            }
        }
    }
    let api = graph.direct("docent-http-api");
    assert!(
        api.contains("docent-app"),
        "docent-http-api goes through docent-app"
    );
    assert!(
        violations.is_empty(),
        "edges against the layering:\n{}",
        violations.join("\n")
    );
}

/// The crates allowed to build a `TenantCtx`: they check access first.
const TENANT_MINTERS: &[&str] = &["kernel", "tenancy", "keys"];

/// Non-test Rust sources under `dir`.
fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("test"))
        {
            out.push(path);
        }
    }
}

#[test]
fn only_the_access_checking_services_build_tenant_contexts() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut files = Vec::new();
    for dir in ["crates", "bins"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let krate = entry.unwrap().path();
            let name = krate.file_name().unwrap().to_string_lossy().into_owned();
            if dir == "crates" && TENANT_MINTERS.contains(&name.as_str()) {
                continue;
            }
            if krate.join("src").is_dir() {
                sources(&krate.join("src"), &mut files);
            }
        }
    }
    assert!(files.len() > 50, "the scan found the sources");
    let mut violations = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit-test modules at the end of a file may build contexts for their fakes.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        if code.contains("TenantCtx::new(") {
            violations.push(file.display().to_string());
        }
    }
    assert!(
        violations.is_empty(),
        "TenantCtx::new outside docent-tenancy and docent-keys (go through docent-app's Access):\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_tenant_table_is_filtered_by_the_one_sql_helper() {
    let dir = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/infrastructure/src/db"
    ));
    let mut files = Vec::new();
    sources(dir, &mut files);
    assert!(files.iter().any(|f| f.ends_with("documents.rs")));
    let mut violations = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("scope.rs")) {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.contains("OrgId.eq(") || line.contains("OrgId.is_in(") {
                violations.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "tenant filters written by hand (use OrgScoped::of / update_of / delete_of / in_org):\n{}",
        violations.join("\n")
    );
}
