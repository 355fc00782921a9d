//! What handlers hold: the services, and the two steps every authenticated handler starts with —
//! resolving the caller, and resolving the caller's access to an organization.

use std::sync::Arc;

use docent_identity::{IdentityService, Principal};
use docent_infrastructure::Services;
use docent_kernel::OrgId;
use docent_tenancy::{OrgAccess, Permission, TenancyService};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::auth::BearerAuth;
use crate::error::ApiError;

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

    /// The signed-in user behind the bearer token.
    pub(crate) async fn principal(&self, auth: &BearerAuth) -> Result<Principal, ApiError> {
        Ok(self.identity()?.authenticate(&auth.0.token).await?)
    }

    /// The signed-in user and their access to `org_id` for `permission`: `org_not_found` for
    /// non-members, `forbidden` for members whose role is too weak.
    pub(crate) async fn org_access(
        &self,
        auth: &BearerAuth,
        org_id: Uuid,
        permission: Permission,
    ) -> Result<(Principal, OrgAccess), ApiError> {
        let principal = self.principal(auth).await?;
        let access = self
            .tenancy()?
            .authorize(principal.user.id, OrgId::from_uuid(org_id), permission)
            .await?;
        Ok((principal, access))
    }
}
