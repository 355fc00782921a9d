//! What handlers hold: the services, and the one step every authenticated handler starts with —
//! resolving the caller and its access through `docent-app`'s [`Access`].

use docent_app::{Access, AccessError, Caller, Need, Services, Tenant};
use docent_chat::ChatService;
use docent_documents::DocumentService;
use docent_identity::{IdentityService, Principal};
use docent_kernel::OrgId;
use docent_keys::KeyService;
use docent_providers::ProviderService;
use docent_tenancy::TenancyService;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::middleware::{record_key_rate, request_meta};

/// Shared by every API object. The spec is generated from API objects without services (it only
/// needs their types), so the services are optional here and absent only in that case.
#[derive(Debug, Clone)]
pub(crate) struct ApiState {
    services: Option<Services>,
}

impl ApiState {
    pub(crate) fn new(services: Services) -> Self {
        Self {
            services: Some(services),
        }
    }

    /// A state for generating the spec only; every handler would answer 500.
    pub(crate) fn spec_only() -> Self {
        Self { services: None }
    }

    pub(crate) fn services(&self) -> Result<&Services, ApiError> {
        self.services
            .as_ref()
            .ok_or_else(|| ApiError::internal("an API object built for the spec served a request"))
    }

    pub(crate) fn identity(&self) -> Result<&IdentityService, ApiError> {
        Ok(&self.services()?.identity)
    }

    pub(crate) fn tenancy(&self) -> Result<&TenancyService, ApiError> {
        Ok(&self.services()?.tenancy)
    }

    pub(crate) fn keys(&self) -> Result<&KeyService, ApiError> {
        Ok(&self.services()?.keys)
    }

    pub(crate) fn documents(&self) -> Result<&DocumentService, ApiError> {
        Ok(&self.services()?.documents)
    }

    pub(crate) fn providers(&self) -> Result<&ProviderService, ApiError> {
        Ok(&self.services()?.providers)
    }

    pub(crate) fn chat(&self) -> Result<&ChatService, ApiError> {
        Ok(&self.services()?.chat)
    }

    pub(crate) fn heartbeat(&self) -> std::time::Duration {
        let secs = self
            .services
            .as_ref()
            .map_or(15, |s| s.config.chat.heartbeat_secs.max(1));
        std::time::Duration::from_secs(secs)
    }

    /// Who is calling: a signed-in user or an API key. A key's rate-limit state is recorded for
    /// the response headers.
    pub(crate) async fn caller(&self, auth: &Auth) -> Result<Caller, ApiError> {
        let (caller, rate) = self.services()?.access.caller(auth.credential()).await;
        record_key_rate(rate);
        Ok(caller?)
    }

    /// The one access call of a tenant route: the caller, admitted to `org_id` for `need`
    /// (`org_not_found` outside the organization, `forbidden` for a too-weak role,
    /// `session_required` for a key on a route for people, `insufficient_scope` for a key
    /// without the scope or whose creator may no longer do this).
    pub(crate) async fn tenant(
        &self,
        auth: &Auth,
        org_id: Uuid,
        need: Need,
    ) -> Result<Tenant, ApiError> {
        let caller = self.caller(auth).await?;
        self.admit(caller, OrgId::from_uuid(org_id), need).await
    }

    /// Admits an already resolved caller (the OpenAI-compatible route, whose organization is the
    /// key's).
    pub(crate) async fn admit(
        &self,
        caller: Caller,
        org_id: OrgId,
        need: Need,
    ) -> Result<Tenant, ApiError> {
        Ok(self
            .services()?
            .access
            .tenant(caller, org_id, need, request_meta())
            .await?)
    }

    /// The signed-in user behind the credential, for routes outside any organization. A valid
    /// API key gets 403 `session_required`: keys never manage keys, members or organizations.
    pub(crate) async fn principal(&self, auth: &Auth) -> Result<Principal, ApiError> {
        Ok(Access::person(self.caller(auth).await?)?)
    }
}

impl From<AccessError> for ApiError {
    fn from(error: AccessError) -> Self {
        match error {
            AccessError::Identity(error) => error.into(),
            AccessError::Tenancy(error) => error.into(),
            AccessError::Key(error) => error.into(),
            AccessError::SessionRequired => ApiError::new(
                poem::http::StatusCode::FORBIDDEN,
                "session_required",
                error.to_string(),
            ),
        }
    }
}
