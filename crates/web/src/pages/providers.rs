//! An organization's provider connections: the list, create and edit with the API key field
//! write-only (the page shows its last four characters, never the key), "test connection" with
//! its latency or the provider's error in words, and delete.

use docent_app::Need;
use docent_kernel::{PageRequest, ProviderId, SecretString};
use docent_providers::{NewProvider, Provider, ProviderKind, ProviderPatch, TestReport};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde::{Deserialize, Serialize};

use super::org::{Inside, enter, frame, not_found};
use super::{Posted, failure, flash, form_page, listed, posted, redirect};
use crate::Console;

#[derive(Debug, Serialize)]
struct ProviderRow {
    id: String,
    name: String,
    kind: &'static str,
    kind_label: &'static str,
    /// The stored base URL, if any.
    base_url: Option<String>,
    /// The URL used: the stored one or the kind's default.
    effective_url: Option<String>,
    /// The kind's default URL, if it has one.
    default_url: Option<&'static str>,
    default_model: Option<String>,
    api_version: Option<String>,
    key_last4: Option<String>,
    timeout_secs: u32,
}

impl From<&Provider> for ProviderRow {
    fn from(p: &Provider) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            kind: p.kind.as_str(),
            kind_label: label(p.kind),
            base_url: p.base_url.clone(),
            effective_url: p.effective_base_url().map(str::to_owned),
            default_url: p.kind.default_base_url(),
            default_model: p.default_model.clone(),
            api_version: p.api_version.clone(),
            key_last4: p.api_key_last4.clone(),
            timeout_secs: p.timeout_secs,
        }
    }
}

/// How the pages name a kind of provider.
const fn label(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::OpenAi => "OpenAI",
        ProviderKind::AzureOpenAi => "Azure OpenAI",
        ProviderKind::OpenAiCompatible => "OpenAI-compatible server (Ollama, vLLM, llama.cpp, …)",
        ProviderKind::Gemini => "Google Gemini",
        ProviderKind::Anthropic => "Anthropic",
        ProviderKind::Extractive => "Built-in extractive answerer (no model, works offline)",
    }
}

fn kinds() -> Vec<minijinja::Value> {
    ProviderKind::ALL
        .iter()
        .map(|k| minijinja::context! { id => k.as_str(), label => label(*k) })
        .collect()
}

async fn list_page(
    console: &Console,
    req: &Request,
    inside: &Inside,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let providers = listed(
        "providers",
        console
            .services
            .providers
            .list(inside.tenant(), &PageRequest::largest_first())
            .await,
    );
    let rows: Vec<ProviderRow> = providers.iter().map(ProviderRow::from).collect();
    let context = minijinja::context! {
        providers => minijinja::value::Value::from(minijinja::value::Serde(&rows)),
        kinds => kinds(),
        error,
        ..frame(console, inside, "providers").await
    };
    form_page(console, req, "providers.html", status, context)
}

/// `GET /orgs/:org/providers`.
#[handler]
pub(crate) async fn provider_list(
    req: &Request,
    Path(org): Path<String>,
    console: Data<&Console>,
) -> Response {
    match enter(&console, req, &org, Need::ProvidersRead).await {
        Ok(inside) => list_page(&console, req, &inside, StatusCode::OK, None).await,
        Err(refused) => refused,
    }
}

#[derive(Debug, Deserialize)]
struct ProviderForm {
    csrf: Option<String>,
    /// `update`, `test` or `delete` on a connection's page.
    #[serde(default)]
    action: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    base_url: String,
    /// Blank: keep the stored key.
    #[serde(default)]
    api_key: String,
    /// `on`: remove the stored key.
    #[serde(default)]
    clear_key: Option<String>,
    #[serde(default)]
    default_model: String,
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    timeout_secs: String,
    /// The model to test with (blank: the default model).
    #[serde(default)]
    test_model: String,
}

impl Posted for ProviderForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// A form field's value, `None` when left blank.
fn filled(raw: &str) -> Option<String> {
    Some(raw.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The timeout field, or the error the form shows.
fn timeout(raw: &str) -> Result<Option<u32>, docent_providers::ProviderError> {
    filled(raw)
        .map(|t| {
            t.parse()
                .map_err(|_| docent_providers::ProviderError::Invalid {
                    field: "timeout_secs",
                    reason: "must be a whole number of seconds".to_owned(),
                })
        })
        .transpose()
}

/// `POST /orgs/:org/providers`: creates a connection.
#[handler]
pub(crate) async fn create_provider(
    req: &Request,
    Path(org): Path<String>,
    body: Body,
    console: Data<&Console>,
) -> Response {
    let posted = match posted::<ProviderForm>(&console, req, body).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    let inside = match enter(&console, req, &org, Need::ProvidersWrite).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let Some(kind) = ProviderKind::parse(&posted.kind) else {
        return list_page(
            &console,
            req,
            &inside,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Choose the kind of provider.".to_owned()),
        )
        .await;
    };
    let created = match timeout(&posted.timeout_secs) {
        Ok(timeout_secs) => {
            console
                .services
                .providers
                .create(
                    inside.tenant(),
                    NewProvider {
                        name: posted.name.trim().to_owned(),
                        kind,
                        base_url: filled(&posted.base_url),
                        api_key: filled(&posted.api_key).map(SecretString::from),
                        default_model: filled(&posted.default_model),
                        api_version: filled(&posted.api_version),
                        timeout_secs,
                    },
                )
                .await
        }
        Err(error) => Err(error),
    };
    match created {
        Ok(provider) => redirect(
            &format!("/orgs/{}/providers/{}", inside.org_id(), provider.id),
            vec![flash(
                &console,
                &format!(
                    "{} is connected. Test the connection to check it answers.",
                    provider.name
                ),
            )],
        ),
        Err(error) => {
            let (status, message) = failure(error.kind(), &error);
            list_page(&console, req, &inside, status, Some(message)).await
        }
    }
}

fn provider_id(raw: &str) -> Option<ProviderId> {
    raw.parse::<uuid::Uuid>().ok().map(ProviderId::from_uuid)
}

async fn detail_page(
    console: &Console,
    req: &Request,
    inside: &Inside,
    id: ProviderId,
    outcome: (StatusCode, Option<String>, Option<TestReport>),
) -> Response {
    let (status, error, report) = outcome;
    let provider = match console.services.providers.get(inside.tenant(), id).await {
        Ok(provider) => provider,
        Err(docent_providers::ProviderError::NotFound) => return not_found(console),
        Err(error) => {
            let (status, message) = failure(error.kind(), &error);
            return super::error_page(
                console,
                status,
                "This connection is not available",
                &message,
            );
        }
    };
    let report = report.map(|r| {
        minijinja::context! {
            ok => r.ok,
            latency_ms => r.latency_ms,
            model => r.model,
            remote => provider.kind.is_remote(),
            error => r.error.map(|(_, message)| message),
        }
    });
    let context = minijinja::context! {
        provider => minijinja::value::Value::from(minijinja::value::Serde(ProviderRow::from(&provider))),
        needs_key => provider.kind.needs_api_key(),
        report,
        error,
        ..frame(console, inside, "providers").await
    };
    form_page(console, req, "provider.html", status, context)
}

/// `GET /orgs/:org/providers/:provider`.
#[handler]
pub(crate) async fn provider_page(
    req: &Request,
    Path((org, provider)): Path<(String, String)>,
    console: Data<&Console>,
) -> Response {
    let inside = match enter(&console, req, &org, Need::ProvidersRead).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    match provider_id(&provider) {
        Some(id) => detail_page(&console, req, &inside, id, (StatusCode::OK, None, None)).await,
        None => not_found(&console),
    }
}

/// `POST /orgs/:org/providers/:provider`: changes, tests or deletes the connection.
#[handler]
pub(crate) async fn update_provider(
    req: &Request,
    Path((org, provider)): Path<(String, String)>,
    body: Body,
    console: Data<&Console>,
) -> Response {
    let posted = match posted::<ProviderForm>(&console, req, body).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    // Testing makes a real call with the stored key: a change of the connection's kind, which
    // only those who may change it may do.
    let inside = match enter(&console, req, &org, Need::ProvidersWrite).await {
        Ok(inside) => inside,
        Err(refused) => return refused,
    };
    let Some(id) = provider_id(&provider) else {
        return not_found(&console);
    };
    let providers = &console.services.providers;
    let here = format!("/orgs/{}/providers/{id}", inside.org_id());
    let outcome = match posted.action.as_str() {
        "test" => {
            return match providers
                .test(inside.tenant(), id, filled(&posted.test_model))
                .await
            {
                Ok(report) => {
                    detail_page(
                        &console,
                        req,
                        &inside,
                        id,
                        (StatusCode::OK, None, Some(report)),
                    )
                    .await
                }
                Err(error) => {
                    let (status, message) = failure(error.kind(), &error);
                    detail_page(&console, req, &inside, id, (status, Some(message), None)).await
                }
            };
        }
        "delete" => providers.delete(inside.tenant(), id).await.map(|()| {
            (
                format!("/orgs/{}/providers", inside.org_id()),
                "The connection is deleted.".to_owned(),
            )
        }),
        "update" => match (
            timeout(&posted.timeout_secs),
            providers.get(inside.tenant(), id).await,
        ) {
            (Ok(timeout_secs), Ok(current)) => {
                // Only a changed address is a change (a new address needs the key again).
                let base_url = filled(&posted.base_url);
                let moved = base_url != current.base_url;
                let api_key = if posted.clear_key.as_deref() == Some("on") {
                    Some(None)
                } else {
                    filled(&posted.api_key).map(|key| Some(SecretString::from(key)))
                };
                providers
                    .update(
                        inside.tenant(),
                        id,
                        ProviderPatch {
                            name: Some(posted.name.trim().to_owned()),
                            base_url: moved.then_some(base_url),
                            api_key,
                            default_model: Some(filled(&posted.default_model)),
                            api_version: Some(filled(&posted.api_version)),
                            timeout_secs,
                        },
                    )
                    .await
                    .map(|p| (here.clone(), format!("{} is saved.", p.name)))
                    .map_err(|error| {
                        let rekey = matches!(
                            error,
                            docent_providers::ProviderError::Invalid { field: "api_key", .. }
                        );
                        if moved && rekey {
                            docent_providers::ProviderError::Invalid {
                                field: "api_key",
                                reason: "a new address needs the API key again: enter it, or remove the stored key".to_owned(),
                            }
                        } else {
                            error
                        }
                    })
            }
            (Err(error), _) | (_, Err(error)) => Err(error),
        },
        _ => return super::forbidden(&console),
    };
    match outcome {
        Ok((to, done)) => redirect(&to, vec![flash(&console, &done)]),
        Err(docent_providers::ProviderError::NotFound) => not_found(&console),
        Err(error) => {
            let (status, message) = failure(error.kind(), &error);
            detail_page(&console, req, &inside, id, (status, Some(message), None)).await
        }
    }
}
