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

/// The organization a request acts in and the actor, produced only after the actor's access to the
/// organization was checked (by `docent-tenancy`'s policy). Every tenant-scoped service method takes
/// one as its first parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantCtx {
    org_id: OrgId,
    actor: Actor,
}

impl TenantCtx {
    /// A context for `actor` in `org_id`; call only after authorizing the actor.
    #[must_use]
    pub const fn new(org_id: OrgId, actor: Actor) -> Self {
        Self { org_id, actor }
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
