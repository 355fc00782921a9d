//! `docent-api import` and `export`: an organization's documents (the original files) and its
//! chatbot and provider settings, to and from a directory, over the HTTP API with an API key.
//!
//! An export is `docent-export.json` (titles, tags, checksums, settings; never a secret) beside
//! `documents/` with the originals; `import` reads such a directory back, or any directory of
//! files. Import is resumable: files whose checksum the organization already has are skipped.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::remote::{Remote, Uploaded};

/// The file of an export that describes it.
pub const MANIFEST: &str = "docent-export.json";

/// The extensions `import` takes by default: every format docent reads.
pub const DEFAULT_TYPES: &str = "txt,md,markdown,html,htm,csv,pdf,docx";

/// One file to import.
#[derive(Debug, Clone)]
struct Source {
    path: PathBuf,
    /// The name the upload carries.
    name: String,
    title: Option<String>,
    tags: Vec<String>,
}

/// The files under `dir` with one of `types`' extensions (hidden files and folders left out),
/// in a stable order.
fn walk(dir: &Path, types: &BTreeSet<String>) -> Vec<Source> {
    let mut files: Vec<Source> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            e.path()
                .extension()
                .is_some_and(|x| types.contains(&x.to_string_lossy().to_lowercase()))
        })
        .map(|e| Source {
            name: e.file_name().to_string_lossy().into_owned(),
            path: e.path().to_path_buf(),
            title: None,
            tags: Vec::new(),
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The documents an export lists, with their titles and tags.
fn from_manifest(dir: &Path, manifest: &Value) -> anyhow::Result<Vec<Source>> {
    let mut files = Vec::new();
    for document in manifest["documents"].as_array().into_iter().flatten() {
        let relative = document["path"]
            .as_str()
            .ok_or_else(|| anyhow!("{MANIFEST}: a document without a path"))?;
        let path = dir.join(relative);
        if !path.starts_with(dir) || relative.contains("..") {
            return Err(anyhow!("{MANIFEST}: `{relative}` is outside the export"));
        }
        files.push(Source {
            name: document["file_name"]
                .as_str()
                .map_or_else(|| relative.to_owned(), str::to_owned),
            path,
            title: document["title"].as_str().map(str::to_owned),
            tags: document["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
        });
    }
    Ok(files)
}

/// A failed document's error, as `code: message`.
fn failure(document: &Value) -> String {
    let error = &document["error"];
    format!(
        "{}: {}",
        error["code"].as_str().unwrap_or("failed"),
        error["message"].as_str().unwrap_or("")
    )
}

fn bar(multi: &MultiProgress, len: u64, template: &str) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(len));
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// What an import did, for its summary.
#[derive(Debug, Default)]
struct Tally {
    found: usize,
    already: usize,
    uploaded: usize,
    ready: usize,
    failed: Vec<(String, String)>,
    settings: Vec<String>,
}

/// Runs `docent-api import`.
pub async fn import(
    remote: &Remote,
    dir: &Path,
    types: &str,
    extra_tags: &[String],
    wait: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest_path = dir.join(MANIFEST);
    let manifest: Option<Value> = if manifest_path.is_file() {
        let text = std::fs::read_to_string(&manifest_path)?;
        Some(serde_json::from_str(&text).with_context(|| format!("reading {MANIFEST}"))?)
    } else {
        None
    };
    let mut files = match &manifest {
        Some(manifest) => from_manifest(dir, manifest)?,
        None => {
            let types: BTreeSet<String> = types
                .split(',')
                .map(|t| t.trim().trim_start_matches('.').to_lowercase())
                .filter(|t| !t.is_empty())
                .collect();
            walk(dir, &types)
        }
    };
    for file in &mut files {
        file.tags.extend(extra_tags.iter().cloned());
    }
    let mut tally = Tally {
        found: files.len(),
        ..Tally::default()
    };
    // The organization's documents by checksum, to skip what an earlier run (or anyone) already
    // uploaded; one that failed is reported again, one still in processing is waited for.
    let existing: HashMap<String, Value> = remote
        .list("/documents")
        .await?
        .into_iter()
        .filter_map(|d| Some((d["checksum"].as_str()?.to_owned(), d)))
        .collect();
    let mut by_checksum: HashMap<String, String> = existing
        .iter()
        .filter_map(|(checksum, d)| Some((checksum.clone(), d["id"].as_str()?.to_owned())))
        .collect();

    let multi = MultiProgress::new();
    let queued = bar(
        &multi,
        files.len() as u64,
        "queued    [{bar:40}] {pos}/{len} {msg}",
    );
    let processed = bar(&multi, 0, "processed [{bar:40}] {pos}/{len} {msg}");
    let failed_bar = bar(&multi, 0, "failed    {pos}");
    let mut pending: Vec<(String, String)> = Vec::new();
    for file in &files {
        queued.set_message(file.name.clone());
        let bytes = match std::fs::read(&file.path) {
            Ok(bytes) => bytes,
            Err(e) => {
                tally
                    .failed
                    .push((file.path.display().to_string(), e.to_string()));
                failed_bar.inc(1);
                queued.inc(1);
                continue;
            }
        };
        let checksum = hex::encode(Sha256::digest(&bytes));
        if let Some(document) = existing.get(&checksum) {
            tally.already += 1;
            queued.inc(1);
            let path = file.path.display().to_string();
            match document["status"].as_str() {
                Some("failed") => {
                    let why = format!(
                        "in the organization already, and failed: {}",
                        failure(document)
                    );
                    tally.failed.push((path, why));
                    failed_bar.inc(1);
                }
                Some("ready") => {}
                _ => {
                    let id = document["id"].as_str().unwrap_or_default().to_owned();
                    pending.push((id, path));
                    processed.inc_length(1);
                }
            }
            continue;
        }
        match remote
            .upload(&file.name, bytes, file.title.as_deref(), &file.tags)
            .await?
        {
            Uploaded::Queued(document) => {
                tally.uploaded += 1;
                let id = document["id"].as_str().unwrap_or_default().to_owned();
                by_checksum.insert(checksum, id.clone());
                pending.push((id, file.path.display().to_string()));
                processed.inc_length(1);
            }
            Uploaded::Duplicate => tally.already += 1,
            Uploaded::Refused(why) => {
                tally.failed.push((file.path.display().to_string(), why));
                failed_bar.inc(1);
            }
        }
        queued.inc(1);
    }
    queued.finish_with_message("");

    // Wait until every uploaded document is ready or failed.
    while wait && !pending.is_empty() {
        let mut still = Vec::new();
        for (id, path) in pending {
            let document = remote.get(&format!("/documents/{id}")).await?;
            match document["status"].as_str() {
                Some("ready") => {
                    tally.ready += 1;
                    processed.inc(1);
                }
                Some("failed") => {
                    tally.failed.push((path, failure(&document)));
                    processed.inc(1);
                    failed_bar.inc(1);
                }
                _ => still.push((id, path)),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    processed.finish();
    failed_bar.finish();

    if let Some(manifest) = &manifest {
        import_settings(remote, manifest, &by_checksum, &mut tally).await?;
    }

    writeln!(
        out,
        "{} files: {} uploaded, {} already in the organization, {} ready, {} failed",
        tally.found,
        tally.uploaded,
        tally.already,
        tally.ready,
        tally.failed.len()
    )?;
    if !wait {
        writeln!(out, "(not waiting for processing: --no-wait)")?;
    }
    for line in &tally.settings {
        writeln!(out, "{line}")?;
    }
    for (path, why) in &tally.failed {
        writeln!(out, "failed: {path}: {why}")?;
    }
    Ok(if tally.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Creates an export's providers and chatbots that the organization does not have yet (by name
/// and by slug): providers without API keys (set them afterwards), chatbots on the provider of the
/// same name and scoped to the same documents (found by checksum).
async fn import_settings(
    remote: &Remote,
    manifest: &Value,
    by_checksum: &HashMap<String, String>,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let mut providers: HashMap<String, String> = remote
        .list("/providers")
        .await?
        .into_iter()
        .filter_map(|p| Some((p["name"].as_str()?.to_owned(), p["id"].as_str()?.to_owned())))
        .collect();
    for provider in manifest["providers"].as_array().into_iter().flatten() {
        let Some(name) = provider["name"].as_str() else {
            continue;
        };
        if providers.contains_key(name) {
            continue;
        }
        let mut body = json!({ "name": name, "kind": provider["kind"] });
        for field in ["base_url", "default_model", "api_version", "timeout_secs"] {
            if !provider[field].is_null() {
                body[field] = provider[field].clone();
            }
        }
        match remote.create("/providers", &body).await? {
            Ok(created) => {
                let id = created["id"].as_str().unwrap_or_default().to_owned();
                tally.settings.push(format!(
                    "created provider `{name}` ({id}); set its API key if it needs one"
                ));
                providers.insert(name.to_owned(), id);
            }
            Err(why) => tally.failed.push((format!("provider `{name}`"), why)),
        }
    }
    let slugs: BTreeSet<String> = remote
        .list("/chatbots")
        .await?
        .into_iter()
        .filter_map(|c| c["slug"].as_str().map(str::to_owned))
        .collect();
    for chatbot in manifest["chatbots"].as_array().into_iter().flatten() {
        let slug = chatbot["slug"].as_str().unwrap_or_default();
        if slugs.contains(slug) {
            continue;
        }
        let name = chatbot["name"].as_str().unwrap_or(slug);
        let Some(provider_id) = chatbot["provider_name"]
            .as_str()
            .and_then(|p| providers.get(p))
        else {
            tally.failed.push((
                format!("chatbot `{name}`"),
                "its provider is not in the export or the organization".to_owned(),
            ));
            continue;
        };
        let mut body = json!({ "name": name, "slug": slug, "provider_id": provider_id });
        for field in [
            "model",
            "system_prompt",
            "tone",
            "custom_tone",
            "temperature",
            "max_answer_tokens",
            "context_window",
            "retrieval",
            "welcome_message",
            "fallback_answer",
            "citation_style",
        ] {
            if !chatbot[field].is_null() {
                body[field] = chatbot[field].clone();
            }
        }
        let knowledge = &chatbot["knowledge"];
        body["knowledge"] = match knowledge["kind"].as_str() {
            Some("tags") => json!({ "tags": knowledge["tags"] }),
            Some("documents") => {
                let ids: Vec<&String> = chatbot["knowledge_checksums"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| by_checksum.get(c.as_str()?))
                    .collect();
                json!({ "document_ids": ids })
            }
            _ => json!({}),
        };
        match remote.create("/chatbots", &body).await? {
            Ok(created) => tally.settings.push(format!(
                "created chatbot `{name}` ({})",
                created["id"].as_str().unwrap_or_default()
            )),
            Err(why) => tally.failed.push((format!("chatbot `{name}`"), why)),
        }
    }
    Ok(())
}

/// A file name safe to write in the export (no directories, no hidden files).
fn safe_name(raw: &str, id: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').trim();
    if cleaned.is_empty() {
        id.to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// Runs `docent-api export`.
pub async fn export(remote: &Remote, dir: &Path, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(anyhow!(
            "{} is not empty: an export goes into a new directory",
            dir.display()
        ));
    }
    let documents_dir = dir.join("documents");
    std::fs::create_dir_all(&documents_dir)?;
    let documents = remote.list("/documents").await?;
    let progress = ProgressBar::new(documents.len() as u64);
    let mut written = Vec::new();
    let mut checksums: HashMap<String, String> = HashMap::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for document in &documents {
        let id = document["id"].as_str().unwrap_or_default();
        let original = document["file_name"]
            .as_str()
            .or_else(|| document["title"].as_str())
            .unwrap_or(id);
        let mut name = safe_name(original, id);
        if !used.insert(name.clone()) {
            name = format!("{}-{name}", &id[..id.len().min(8)]);
            used.insert(name.clone());
        }
        let bytes = remote.bytes(&format!("/documents/{id}/content")).await?;
        std::fs::write(documents_dir.join(&name), &bytes)?;
        checksums.insert(
            id.to_owned(),
            document["checksum"].as_str().unwrap_or_default().to_owned(),
        );
        written.push(json!({
            "path": format!("documents/{name}"),
            "file_name": document["file_name"].as_str().unwrap_or(&name),
            "title": document["title"],
            "tags": document["tags"],
            "media_type": document["media_type"],
            "checksum": document["checksum"],
        }));
        progress.inc(1);
    }
    progress.finish_and_clear();
    let providers = remote.list("/providers").await?;
    let provider_names: HashMap<String, String> = providers
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?.to_owned(), p["name"].as_str()?.to_owned())))
        .collect();
    let providers: Vec<Value> = providers
        .into_iter()
        .map(|p| {
            json!({
                "name": p["name"],
                "kind": p["kind"],
                "base_url": p["base_url"],
                "default_model": p["default_model"],
                "api_version": p["api_version"],
                "timeout_secs": p["timeout_secs"],
            })
        })
        .collect();
    let chatbots: Vec<Value> = remote
        .list("/chatbots")
        .await?
        .into_iter()
        .map(|mut c| {
            let provider = c["provider_id"]
                .as_str()
                .and_then(|p| provider_names.get(p))
                .cloned();
            c["provider_name"] = json!(provider);
            let scoped: Vec<&String> = c["knowledge"]["document_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|id| checksums.get(id.as_str()?))
                .collect();
            c["knowledge_checksums"] = json!(scoped);
            if let Some(object) = c.as_object_mut() {
                for field in ["id", "provider_id", "created_at", "updated_at"] {
                    object.remove(field);
                }
            }
            c
        })
        .collect();
    let manifest = json!({
        "format": 1,
        "exported_at": chrono::Utc::now().to_rfc3339(),
        "documents": written,
        "providers": providers,
        "chatbots": chatbots,
    });
    std::fs::write(dir.join(MANIFEST), serde_json::to_string_pretty(&manifest)?)?;
    writeln!(
        out,
        "exported {} documents, {} providers (without their API keys) and {} chatbots into {}",
        documents.len(),
        manifest["providers"].as_array().map_or(0, Vec::len),
        manifest["chatbots"].as_array().map_or(0, Vec::len),
        dir.display()
    )?;
    Ok(ExitCode::SUCCESS)
}
