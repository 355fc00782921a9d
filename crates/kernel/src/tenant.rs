//! The tenant context: which organization a request acts in, and who is acting.

use crate::id::{ApiKeyId, OrgId, UserId};

/// Who performs an action inside an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user.
    User(UserId),
    /// An API key of the organization.
    ApiKey(ApiKeyId),
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The request id (`X-Request-Id`).
    pub request_id: Option<String>,
    /// The client address.
    pub client_addr: Option<String>,
}

/// The organization a request acts in and the actor, produced only after the actor's access to the
/// organization was checked (by `docent-tenancy`'s policy). Every tenant-scoped service method takes
/// one as its first parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCtx {
    org_id: OrgId,
    actor: Actor,
    request: RequestMeta,
}

impl TenantCtx {
    /// A context for `actor` in `org_id`; call only after authorizing the actor.
    #[must_use]
    pub fn new(org_id: OrgId, actor: Actor) -> Self {
        Self {
            org_id,
            actor,
            request: RequestMeta::default(),
        }
    }

    /// The same context, with where the request came from.
    #[must_use]
    pub fn with_request(mut self, request: RequestMeta) -> Self {
        self.request = request;
        self
    }

    /// Where the request came from.
    #[must_use]
    pub fn request(&self) -> &RequestMeta {
        &self.request
    }

    /// The organization.
    #[must_use]
    pub const fn org_id(&self) -> OrgId {
        self.org_id
    }

    /// The actor.
    #[must_use]
    pub const fn actor(&self) -> Actor {
        self.actor
    }
}
