//! `/v1/orgs/{org_id}/providers`: an organization's model connections. Owners and admins (or keys
//! with `providers:write`) manage them; any member (or `providers:read`) reads them. API keys of
//! connections are write-only: responses show their last four characters.

use chrono::{DateTime, Utc};
use docent_app::Need;
use docent_kernel::{ProviderId, SecretString};
use docent_providers::{NewProvider, Provider, ProviderKind, ProviderPatch};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::{ApiTags, page_request};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::ApiState;

/// The provider endpoints.
#[derive(Debug, Clone)]
pub(crate) struct ProvidersApi {
    state: ApiState,
}

impl ProvidersApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// The kind of a provider connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ProviderKindDto {
    /// OpenAI's API (`api_key` required).
    Openai,
    /// Azure OpenAI (`base_url` and `api_key` required).
    AzureOpenai,
    /// Any server speaking OpenAI's chat-completions API: Ollama, vLLM, llama.cpp, LiteLLM, …
    /// (`base_url` required).
    OpenaiCompatible,
    /// Google Gemini (`api_key` required).
    Gemini,
    /// Anthropic's Messages API (`api_key` required).
    Anthropic,
    /// Built in: answers with the best passages, quoted and cited; no key, works offline.
    Extractive,
}

impl From<ProviderKind> for ProviderKindDto {
    fn from(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::OpenAi => Self::Openai,
            ProviderKind::AzureOpenAi => Self::AzureOpenai,
            ProviderKind::OpenAiCompatible => Self::OpenaiCompatible,
            ProviderKind::Gemini => Self::Gemini,
            ProviderKind::Anthropic => Self::Anthropic,
            ProviderKind::Extractive => Self::Extractive,
        }
    }
}

impl From<ProviderKindDto> for ProviderKind {
    fn from(kind: ProviderKindDto) -> Self {
        match kind {
            ProviderKindDto::Openai => Self::OpenAi,
            ProviderKindDto::AzureOpenai => Self::AzureOpenAi,
            ProviderKindDto::OpenaiCompatible => Self::OpenAiCompatible,
            ProviderKindDto::Gemini => Self::Gemini,
            ProviderKindDto::Anthropic => Self::Anthropic,
            ProviderKindDto::Extractive => Self::Extractive,
        }
    }
}

/// A provider connection (never its API key).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ProviderDto {
    /// The id.
    pub id: Uuid,
    /// A label.
    pub name: String,
    /// The kind.
    pub kind: ProviderKindDto,
    /// Where the API is; `null` uses the kind's default.
    pub base_url: Option<String>,
    /// The model chatbots use unless they name one.
    pub default_model: Option<String>,
    /// The API version (Azure OpenAI).
    pub api_version: Option<String>,
    /// The last four characters of the API key; `null` when there is none.
    pub api_key_last4: Option<String>,
    /// Seconds one call may take.
    pub timeout_secs: u32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Provider> for ProviderDto {
    fn from(provider: Provider) -> Self {
        Self {
            id: provider.id.as_uuid(),
            name: provider.name,
            kind: provider.kind.into(),
            base_url: provider.base_url,
            default_model: provider.default_model,
            api_version: provider.api_version,
            api_key_last4: provider.api_key_last4,
            timeout_secs: provider.timeout_secs,
            created_at: provider.created_at,
            updated_at: provider.updated_at,
        }
    }
}

// No `Debug`: it carries an API key.
/// A new provider connection.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CreateProviderRequest {
    /// A label (1–100 characters).
    #[oai(validator(max_length = 400))]
    pub name: String,
    /// The kind.
    pub kind: ProviderKindDto,
    /// Where the API is (http or https); required for `azure_openai` and `openai_compatible`.
    /// Internal addresses are refused unless the operator allows them.
    #[oai(validator(max_length = 2048))]
    pub base_url: Option<String>,
    /// The API key; write-only. Required for `openai`, `azure_openai`, `gemini` and `anthropic`.
    #[oai(validator(max_length = 4000))]
    pub api_key: Option<String>,
    /// The model chatbots use unless they name one.
    #[oai(validator(max_length = 800))]
    pub default_model: Option<String>,
    /// The API version (`azure_openai` only; default `2024-10-21`).
    #[oai(validator(max_length = 800))]
    pub api_version: Option<String>,
    /// Seconds one call may take (1–600, default 60).
    pub timeout_secs: Option<u32>,
}

// No `Debug`: it may carry an API key.
/// Changes to a provider connection: absent fields stay, `null` clears an optional one.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct UpdateProviderRequest {
    /// A new label.
    #[oai(validator(max_length = 400))]
    pub name: Option<String>,
    /// A new base URL, or `null` for the kind's default.
    #[oai(nullable, validator(max_length = 2048))]
    pub base_url: MaybeUndefined<String>,
    /// A new API key, or `null` to remove it.
    #[oai(nullable, validator(max_length = 4000))]
    pub api_key: MaybeUndefined<String>,
    /// A new default model, or `null`.
    #[oai(nullable, validator(max_length = 800))]
    pub default_model: MaybeUndefined<String>,
    /// A new API version, or `null`.
    #[oai(nullable, validator(max_length = 800))]
    pub api_version: MaybeUndefined<String>,
    /// A new timeout in seconds (1–600).
    pub timeout_secs: Option<u32>,
}

/// A page of provider connections.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ProviderList {
    /// The connections on this page.
    pub items: Vec<ProviderDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub(crate) enum CreatedProvider {
    /// Created.
    #[oai(status = 201)]
    Created(Json<ProviderDto>),
}

/// What to test.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct TestProviderRequest {
    /// The model to call; the connection's `default_model` when absent.
    #[oai(validator(max_length = 800))]
    pub model: Option<String>,
}

/// The provider's error in a connectivity test.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ProviderTestError {
    /// `unavailable` (rate limit, server error, timeout, unreachable: retrying later may help),
    /// `refused` (bad key, unknown model, refused request) or `context_too_long`.
    pub code: String,
    /// What the provider said.
    pub message: String,
}

/// The outcome of a connectivity test.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ProviderTestResult {
    /// Whether the provider answered.
    pub ok: bool,
    /// How long the call took, in milliseconds.
    pub latency_ms: u64,
    /// The model called (`null` for `extractive`, which calls none).
    pub model: Option<String>,
    /// The provider's error, when it did not answer.
    pub error: Option<ProviderTestError>,
}

#[derive(ApiResponse)]
pub(crate) enum DeletedProvider {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}

fn maybe<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(Some(value)),
    }
}

#[OpenApi(tag = "ApiTags::Providers")]
impl ProvidersApi {
    /// Create a provider connection
    #[oai(
        path = "/v1/orgs/:org_id/providers",
        method = "post",
        operation_id = "provider_create"
    )]
    async fn create(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<CreateProviderRequest>,
    ) -> Result<CreatedProvider, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::ProvidersWrite)
            .await?;
        let Json(body) = body;
        let provider = self
            .state
            .providers()?
            .create(
                tenant.ctx(),
                NewProvider {
                    name: body.name,
                    kind: body.kind.into(),
                    base_url: body.base_url,
                    api_key: body.api_key.map(SecretString::from),
                    default_model: body.default_model,
                    api_version: body.api_version,
                    timeout_secs: body.timeout_secs,
                },
            )
            .await?;
        Ok(CreatedProvider::Created(Json(provider.into())))
    }

    /// List provider connections
    #[oai(
        path = "/v1/orgs/:org_id/providers",
        method = "get",
        operation_id = "provider_list"
    )]
    async fn list(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ProviderList>, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::ProvidersRead)
            .await?;
        let page = page_request(limit.0, cursor.0.as_deref())?;
        let providers = self.state.providers()?.list(tenant.ctx(), &page).await?;
        Ok(Json(ProviderList {
            items: providers.items.into_iter().map(Into::into).collect(),
            next_cursor: providers.next_cursor,
        }))
    }

    /// Get a provider connection
    #[oai(
        path = "/v1/orgs/:org_id/providers/:provider_id",
        method = "get",
        operation_id = "provider_get"
    )]
    async fn get(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        provider_id: Path<Uuid>,
    ) -> Result<Json<ProviderDto>, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::ProvidersRead)
            .await?;
        let provider = self
            .state
            .providers()?
            .get(tenant.ctx(), ProviderId::from_uuid(provider_id.0))
            .await?;
        Ok(Json(provider.into()))
    }

    /// Change a provider connection
    #[oai(
        path = "/v1/orgs/:org_id/providers/:provider_id",
        method = "patch",
        operation_id = "provider_update"
    )]
    async fn update(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        provider_id: Path<Uuid>,
        body: Json<UpdateProviderRequest>,
    ) -> Result<Json<ProviderDto>, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::ProvidersWrite)
            .await?;
        let Json(body) = body;
        let provider = self
            .state
            .providers()?
            .update(
                tenant.ctx(),
                ProviderId::from_uuid(provider_id.0),
                ProviderPatch {
                    name: body.name,
                    base_url: maybe(body.base_url),
                    api_key: maybe(body.api_key).map(|key| key.map(SecretString::from)),
                    default_model: maybe(body.default_model),
                    api_version: maybe(body.api_version),
                    timeout_secs: body.timeout_secs,
                },
            )
            .await?;
        Ok(Json(provider.into()))
    }

    /// Test a provider connection
    ///
    /// Makes one tiny real call (a few tokens) and reports the latency, or the provider's error.
    /// The answer is 200 either way; `ok` tells which.
    #[oai(
        path = "/v1/orgs/:org_id/providers/:provider_id/test",
        method = "post",
        operation_id = "provider_test"
    )]
    async fn test(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        provider_id: Path<Uuid>,
        body: Json<TestProviderRequest>,
    ) -> Result<Json<ProviderTestResult>, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::ProvidersWrite)
            .await?;
        let report = self
            .state
            .providers()?
            .test(
                tenant.ctx(),
                ProviderId::from_uuid(provider_id.0),
                body.0.model,
            )
            .await?;
        Ok(Json(ProviderTestResult {
            ok: report.ok,
            latency_ms: report.latency_ms,
            model: report.model,
            error: report.error.map(|(code, message)| ProviderTestError {
                code: code.to_owned(),
                message,
            }),
        }))
    }

    /// Delete a provider connection
    #[oai(
        path = "/v1/orgs/:org_id/providers/:provider_id",
        method = "delete",
        operation_id = "provider_delete"
    )]
    async fn delete(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        provider_id: Path<Uuid>,
    ) -> Result<DeletedProvider, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::ProvidersWrite)
            .await?;
        self.state
            .providers()?
            .delete(tenant.ctx(), ProviderId::from_uuid(provider_id.0))
            .await?;
        Ok(DeletedProvider::Deleted)
    }
}
