//! `/v1/orgs/{org_id}/api-keys`: API keys (owners and admins, with a user session).

use chrono::{DateTime, Utc};
use docent_app::Need;
use docent_kernel::{ApiKeyId, ChatbotId, ExposeSecret as _};
use docent_keys::{ApiKey, KeyRequest};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::{ApiTags, page_request};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::ApiState;

/// The API-key endpoints.
#[derive(Debug, Clone)]
pub(crate) struct KeysApi {
    state: ApiState,
}

impl KeysApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// An API key as listed: never the secret.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ApiKeyDto {
    /// The id.
    pub id: Uuid,
    /// A label.
    pub name: String,
    /// `dk_live_` and the next four characters, to tell keys apart.
    pub prefix: String,
    /// The last four characters.
    pub last4: String,
    /// What the key may do.
    pub scopes: Vec<String>,
    /// The chatbots the key may use; `null` means all of the organization's.
    pub chatbot_ids: Option<Vec<Uuid>>,
    /// When the key stops working; `null` means never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Requests per minute; `null` means unlimited.
    pub rate_limit_per_minute: Option<u32>,
    /// Chat messages per calendar month (UTC); `null` means unlimited.
    pub monthly_message_quota: Option<u64>,
    /// Model tokens per calendar month (UTC); `null` means unlimited.
    pub monthly_token_quota: Option<u64>,
    /// A publishable key's (`dk_pub_…`) web origins; absent for a secret key.
    pub allowed_origins: Option<Vec<String>>,
    /// Who created the key.
    pub created_by: Uuid,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last used (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&ApiKey> for ApiKeyDto {
    fn from(key: &ApiKey) -> Self {
        let settings = &key.settings;
        Self {
            id: key.id.as_uuid(),
            name: settings.name.clone(),
            prefix: key.prefix.clone(),
            last4: key.last4.clone(),
            scopes: settings
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            chatbot_ids: settings
                .chatbot_ids
                .as_ref()
                .map(|ids| ids.iter().map(ChatbotId::as_uuid).collect()),
            expires_at: settings.expires_at,
            rate_limit_per_minute: settings.rate_limit_per_minute,
            monthly_message_quota: settings.monthly_message_quota,
            monthly_token_quota: settings.monthly_token_quota,
            allowed_origins: settings.allowed_origins.clone(),
            created_by: key.created_by.as_uuid(),
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A key just created: the only time its secret is shown.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CreatedApiKeyDto {
    /// The secret (`dk_live_…`, or `dk_pub_…` for a publishable key). Store it now: it is never
    /// shown again.
    pub key: String,
    /// The key's details.
    #[oai(flatten)]
    pub details: ApiKeyDto,
}

/// A new key.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CreateApiKeyRequest {
    /// A label (1–100 characters).
    #[oai(validator(max_length = 400))]
    pub name: String,
    /// At least one of `documents:read`, `documents:write`, `chatbots:read`, `chatbots:write`,
    /// `chat`, `providers:read`, `providers:write`, `usage:read`; an unknown scope answers 422.
    #[oai(validator(max_items = 16))]
    pub scopes: Vec<String>,
    /// The chatbots the key may use (checked against the organization); absent for all.
    #[oai(validator(max_items = 1000))]
    pub chatbot_ids: Option<Vec<Uuid>>,
    /// When the key stops working (must be in the future); absent for never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Requests per minute (1–1000000); absent for unlimited.
    pub rate_limit_per_minute: Option<u32>,
    /// Chat messages per calendar month; absent for unlimited.
    pub monthly_message_quota: Option<u64>,
    /// Model tokens per calendar month; absent for unlimited.
    pub monthly_token_quota: Option<u64>,
    /// Makes a publishable key (`dk_pub_…`) for the chat widget: the web origins it is accepted
    /// from (`https://example.com`, 1–20). It must have exactly the `chat` scope and one chatbot,
    /// works only on the widget's routes, and gets a rate limit of 60 a minute unless one is set.
    #[oai(validator(max_items = 20))]
    pub allowed_origins: Option<Vec<String>>,
}

/// A page of keys.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct ApiKeyList {
    /// The keys on this page.
    pub items: Vec<ApiKeyDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub(crate) enum CreateApiKeyResponse {
    /// Created; the secret is in `key`.
    #[oai(status = 201)]
    Created(Json<CreatedApiKeyDto>),
}

#[derive(ApiResponse)]
pub(crate) enum RevokeApiKeyResponse {
    /// Revoked: the key stops working with the next request.
    #[oai(status = 204)]
    Revoked,
}

#[OpenApi(tag = "ApiTags::ApiKeys")]
impl KeysApi {
    /// Create an API key
    ///
    /// Owners and admins only, with a user session (keys never manage keys). The secret is in the
    /// response and nowhere else, ever.
    #[oai(
        path = "/v1/orgs/:org_id/api-keys",
        method = "post",
        operation_id = "api_key_create"
    )]
    async fn create(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<CreateApiKeyRequest>,
    ) -> Result<CreateApiKeyResponse, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Keys).await?;
        let member = tenant.member()?;
        let (principal, access) = (&member.principal, &member.access);
        let Json(body) = body;
        let request = KeyRequest {
            name: body.name,
            scopes: body.scopes,
            chatbot_ids: body
                .chatbot_ids
                .map(|ids| ids.into_iter().map(ChatbotId::from_uuid).collect()),
            expires_at: body.expires_at,
            rate_limit_per_minute: body.rate_limit_per_minute,
            monthly_message_quota: body.monthly_message_quota,
            monthly_token_quota: body.monthly_token_quota,
            allowed_origins: body.allowed_origins,
        };
        let issued = self
            .state
            .keys()?
            .create(&access.tenant, principal.user.id, request)
            .await?;
        Ok(CreateApiKeyResponse::Created(Json(CreatedApiKeyDto {
            key: issued.secret.expose_secret().to_owned(),
            details: ApiKeyDto::from(&issued.key),
        })))
    }

    /// List API keys
    #[oai(
        path = "/v1/orgs/:org_id/api-keys",
        method = "get",
        operation_id = "api_key_list"
    )]
    async fn list(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ApiKeyList>, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Keys).await?;
        let access = &tenant.member()?.access;
        let page = page_request(limit.0, cursor.0.as_deref())?;
        let keys = self.state.keys()?.list(&access.tenant, &page).await?;
        Ok(Json(ApiKeyList {
            items: keys.items.iter().map(ApiKeyDto::from).collect(),
            next_cursor: keys.next_cursor,
        }))
    }

    /// Get an API key
    #[oai(
        path = "/v1/orgs/:org_id/api-keys/:key_id",
        method = "get",
        operation_id = "api_key_get"
    )]
    async fn get(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        key_id: Path<Uuid>,
    ) -> Result<Json<ApiKeyDto>, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Keys).await?;
        let access = &tenant.member()?.access;
        let key = self
            .state
            .keys()?
            .get(&access.tenant, ApiKeyId::from_uuid(key_id.0))
            .await?;
        Ok(Json(ApiKeyDto::from(&key)))
    }

    /// Revoke an API key
    ///
    /// Effective with the next request on every replica: keys are never cached.
    #[oai(
        path = "/v1/orgs/:org_id/api-keys/:key_id/revoke",
        method = "post",
        operation_id = "api_key_revoke"
    )]
    async fn revoke(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        key_id: Path<Uuid>,
    ) -> Result<RevokeApiKeyResponse, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Keys).await?;
        let access = &tenant.member()?.access;
        self.state
            .keys()?
            .revoke(&access.tenant, ApiKeyId::from_uuid(key_id.0))
            .await?;
        Ok(RevokeApiKeyResponse::Revoked)
    }
}
