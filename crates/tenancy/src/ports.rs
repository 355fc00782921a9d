//! What the tenancy service needs from storage. Every method that reads an organization's data takes
//! the organization's id; implementations apply it in one filter helper.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_kernel::{Email, InvitationId, OrgId, PageRequest, StoreError, TokenHash, UserId};

use crate::model::{Invitation, Member, OrgWithRole, Organization, Role};

/// Stores organizations.
#[async_trait]
pub trait OrgRepo: Send + Sync + std::fmt::Debug {
    /// Creates the organization and makes `owner` its owner, atomically. Returns
    /// `Conflict("organizations_slug")` when the slug is taken.
    async fn create(
        &self,
        org: &Organization,
        owner: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The organization, if it exists (not deleted) and `user` is a member, with the user's role.
    /// This is the access check every organization-scoped request goes through.
    async fn find_for_member(
        &self,
        org: OrgId,
        user: UserId,
    ) -> Result<Option<OrgWithRole>, StoreError>;

    /// The organizations `user` belongs to, by id, fetching `page.fetch_limit()` rows.
    async fn list_for_member(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Vec<OrgWithRole>, StoreError>;

    /// Saves the name and slug. Returns `Conflict("organizations_slug")` when the slug is taken.
    async fn update(&self, org: &Organization) -> Result<(), StoreError>;

    /// Marks the organization deleted — it disappears for everyone at once, with its pending
    /// invitations and keys — cancels its pending background work and schedules the purge of
    /// everything it owns, in one transaction (the outbox: no deletion without its purge).
    async fn delete(&self, org: OrgId, now: DateTime<Utc>) -> Result<(), StoreError>;
}

/// Stores memberships.
#[async_trait]
pub trait MemberRepo: Send + Sync + std::fmt::Debug {
    /// The members of `org`, by user id, fetching `page.fetch_limit()` rows.
    async fn list(&self, org: OrgId, page: &PageRequest) -> Result<Vec<Member>, StoreError>;

    /// One member of `org`.
    async fn get(&self, org: OrgId, user: UserId) -> Result<Option<Member>, StoreError>;

    /// Whether a user with this address is a member of `org`.
    async fn has_member_with_email(&self, org: OrgId, email: &Email) -> Result<bool, StoreError>;

    /// Changes a member's role. Atomic with the owner count: returns `Conflict("last_owner")` when
    /// the change would leave `org` without an owner, `NotFound` when `user` is not a member.
    async fn set_role(&self, org: OrgId, user: UserId, role: Role) -> Result<(), StoreError>;

    /// Removes a member, with the same `Conflict("last_owner")` and `NotFound` rules as `set_role`.
    async fn remove(&self, org: OrgId, user: UserId) -> Result<(), StoreError>;
}

/// Stores invitations by the hash of their token.
#[async_trait]
pub trait InvitationRepo: Send + Sync + std::fmt::Debug {
    /// Stores a new invitation and revokes pending ones for the same organization and address,
    /// atomically.
    async fn create(
        &self,
        invitation: &Invitation,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The pending (not accepted, revoked or expired) invitations of `org`, by id.
    async fn list_pending(
        &self,
        org: OrgId,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Vec<Invitation>, StoreError>;

    /// Revokes a pending invitation of `org`; `false` when there is none with this id.
    async fn revoke(
        &self,
        org: OrgId,
        id: InvitationId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The pending invitation with this token hash, of an organization that still exists.
    async fn find_pending(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Invitation>, StoreError>;

    /// Marks the invitation accepted by `user` and adds the membership, atomically. Returns `false`
    /// when it is no longer pending, `Conflict("memberships_pkey")` when `user` is already a member.
    async fn accept(
        &self,
        invitation: &Invitation,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
