//! What handlers hold: the services, and the two steps every authenticated handler starts with —
//! resolving the caller, and resolving the caller's access to an organization.

use std::sync::Arc;

use docent_chat::ChatService;
use docent_documents::DocumentService;
use docent_identity::{IdentityService, Principal};
use docent_infrastructure::Services;
use docent_kernel::TenantCtx;
use docent_kernel::{ChatbotId, OrgId};
use docent_keys::{KeyError, KeyPrincipal, KeyService, Scope, require_scope};
use docent_providers::ProviderService;
use docent_tenancy::{OrgAccess, Permission, TenancyError, TenancyService};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::middleware::{record_key_rate, request_meta};

/// Shared by every API object. The spec is generated from API objects without services (it only
/// needs their types), so the services are optional here and absent only in that case.
#[derive(Debug, Clone)]
pub(crate) struct ApiState {
    services: Option<Services>,
    /// Bounds detached background work started by requests (password-reset mails).
    background: Arc<Semaphore>,
}

/// How many detached request tasks may run at once.
const BACKGROUND_TASKS: usize = 64;

impl ApiState {
    pub(crate) fn new(services: Services) -> Self {
        Self {
            services: Some(services),
            background: Arc::new(Semaphore::new(BACKGROUND_TASKS)),
        }
    }

    /// A slot for detached work, or `None` when too much is already running.
    pub(crate) fn background_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.background.clone().try_acquire_owned().ok()
    }

    /// A state for generating the spec only; every handler would answer 500.
    pub(crate) fn spec_only() -> Self {
        Self {
            services: None,
            background: Arc::new(Semaphore::new(0)),
        }
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

    /// Who is calling: a signed-in user or an API key.
    pub(crate) async fn caller(&self, auth: &Auth) -> Result<Caller, ApiError> {
        if auth.is_api_key() {
            let authenticated = self.keys()?.authenticate(auth.credential()).await;
            record_key_rate(match &authenticated {
                Ok(key) => key.rate,
                Err(KeyError::RateLimited(decision)) => Some(*decision),
                Err(_) => None,
            });
            Ok(Caller::Key(authenticated?))
        } else {
            Ok(Caller::User(
                self.identity()?.authenticate(auth.credential()).await?,
            ))
        }
    }

    /// The tenant context for a route that API keys may use: a member whose role allows
    /// `permission`, or a key of this organization that carries `scope` (`org_not_found` for any
    /// other organization, `insufficient_scope` without the scope).
    pub(crate) async fn tenant_access(
        &self,
        auth: &Auth,
        org_id: Uuid,
        permission: Permission,
        scope: Scope,
    ) -> Result<TenantCtx, ApiError> {
        Ok(self
            .chatbot_access(auth, org_id, permission, scope)
            .await?
            .tenant)
    }

    /// Like [`Self::tenant_access`], also returning which chatbots the caller may use (a key's
    /// allow-list).
    pub(crate) async fn chatbot_access(
        &self,
        auth: &Auth,
        org_id: Uuid,
        permission: Permission,
        scope: Scope,
    ) -> Result<ChatbotAccess, ApiError> {
        match self.caller(auth).await? {
            Caller::User(principal) => {
                let tenant = self
                    .tenancy()?
                    .authorize(principal.user.id, OrgId::from_uuid(org_id), permission)
                    .await?
                    .tenant;
                Ok(ChatbotAccess {
                    tenant: tenant.with_request(request_meta()),
                    allowed: None,
                })
            }
            Caller::Key(key) if key.key.org_id.as_uuid() == org_id => {
                ChatbotAccess::of_key(&key, scope)
            }
            Caller::Key(_) => Err(TenancyError::OrgNotFound.into()),
        }
    }

    /// The signed-in user behind the credential. A valid API key gets 403 `session_required`:
    /// keys never manage keys, members or organizations.
    pub(crate) async fn principal(&self, auth: &Auth) -> Result<Principal, ApiError> {
        match self.caller(auth).await? {
            Caller::User(principal) => Ok(principal),
            Caller::Key(_) => Err(session_required()),
        }
    }

    /// The signed-in user and their access to `org_id` for `permission`: `org_not_found` for
    /// non-members, `forbidden` for members whose role is too weak. An API key gets
    /// `org_not_found` for another organization's routes and `session_required` for its own.
    pub(crate) async fn org_access(
        &self,
        auth: &Auth,
        org_id: Uuid,
        permission: Permission,
    ) -> Result<(Principal, OrgAccess), ApiError> {
        let principal = match self.caller(auth).await? {
            Caller::User(principal) => principal,
            Caller::Key(key) if key.key.org_id.as_uuid() == org_id => {
                return Err(session_required());
            }
            Caller::Key(_) => return Err(TenancyError::OrgNotFound.into()),
        };
        let mut access = self
            .tenancy()?
            .authorize(principal.user.id, OrgId::from_uuid(org_id), permission)
            .await?;
        access.tenant = access.tenant.with_request(request_meta());
        Ok((principal, access))
    }
}

/// A caller's access to an organization's chatbots.
#[derive(Debug)]
pub(crate) struct ChatbotAccess {
    /// The tenant context.
    pub tenant: TenantCtx,
    /// A key's chatbot allow-list; `None` for all chatbots.
    pub allowed: Option<Vec<ChatbotId>>,
}

impl ChatbotAccess {
    /// A key's access in its own organization, if it carries `scope`.
    pub(crate) fn of_key(key: &KeyPrincipal, scope: Scope) -> Result<Self, ApiError> {
        require_scope(key, scope)?;
        Ok(Self {
            tenant: key.tenant().with_request(request_meta()),
            allowed: key.key.settings.chatbot_ids.clone(),
        })
    }

    /// `chatbot_not_found` unless the caller may use `chatbot`: to a key, chatbots outside its
    /// allow-list do not exist.
    pub(crate) fn check(&self, chatbot: ChatbotId) -> Result<(), ApiError> {
        match &self.allowed {
            Some(ids) if !ids.contains(&chatbot) => {
                Err(docent_chat::ChatError::ChatbotNotFound.into())
            }
            Some(_) | None => Ok(()),
        }
    }
}

/// An authenticated caller.
#[derive(Debug)]
pub(crate) enum Caller {
    /// A signed-in user.
    User(Principal),
    /// An API key.
    Key(KeyPrincipal),
}

fn session_required() -> ApiError {
    ApiError::new(
        poem::http::StatusCode::FORBIDDEN,
        "session_required",
        "this operation needs a signed-in user; API keys cannot manage keys, members or organizations",
    )
}
