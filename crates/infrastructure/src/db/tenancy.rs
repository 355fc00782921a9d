//! The tenancy ports over sea-orm.
//!
//! Organization access goes through [`member_orgs`], the one place that joins memberships to
//! organizations and hides deleted ones; member and invitation queries start from the tenant
//! filter ([`OrgScoped`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use docent_kernel::{Email, InvitationId, OrgId, PageRequest, StoreError, TokenHash, UserId};
use docent_tenancy::{
    Invitation, InvitationRepo, Member, MemberRepo, OrgName, OrgRepo, OrgWithRole, Organization,
    Role, Slug,
};
use sea_orm::sea_query::{Expr, ExprTrait as _, IntoCondition};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DatabaseTransaction,
    EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    Set,
};

use super::entity::{invitations, memberships, organizations, users};
use super::scope::OrgScoped as _;
use super::{SqlStore, corrupt, store_error, write_transaction};

/// Memberships of `user` in organizations that are not deleted, with the organization.
fn member_orgs(user: UserId) -> sea_orm::SelectTwo<memberships::Entity, organizations::Entity> {
    memberships::Entity::find()
        .find_also_related(organizations::Entity)
        .filter(memberships::Column::UserId.eq(user.as_uuid()))
        .filter(organizations::Column::DeletedAt.is_null())
}

fn role_from(stored: &str) -> Result<Role, StoreError> {
    stored.parse().map_err(|e| corrupt("role", e))
}

fn org_from_model(model: organizations::Model) -> Result<Organization, StoreError> {
    Ok(Organization {
        id: OrgId::from_uuid(model.id),
        name: OrgName::parse(&model.name).map_err(|e| corrupt("organizations.name", e))?,
        slug: Slug::parse(&model.slug).map_err(|e| corrupt("organizations.slug", e))?,
        created_at: model.created_at,
    })
}

fn org_with_role(
    row: (memberships::Model, Option<organizations::Model>),
) -> Result<Option<OrgWithRole>, StoreError> {
    let (membership, Some(org)) = row else {
        return Ok(None);
    };
    Ok(Some(OrgWithRole {
        org: org_from_model(org)?,
        role: role_from(&membership.role)?,
    }))
}

fn member_from(row: (memberships::Model, Option<users::Model>)) -> Result<Member, StoreError> {
    let (membership, Some(user)) = row else {
        return Err(corrupt("memberships", "membership without a user"));
    };
    Ok(Member {
        user_id: UserId::from_uuid(user.id),
        email: Email::parse(&user.email).map_err(|e| corrupt("users.email", e))?,
        name: user.name,
        role: role_from(&membership.role)?,
        joined_at: membership.created_at,
    })
}

fn invitation_from(model: invitations::Model) -> Result<Invitation, StoreError> {
    Ok(Invitation {
        id: InvitationId::from_uuid(model.id),
        org_id: OrgId::from_uuid(model.org_id),
        email: Email::parse(&model.email).map_err(|e| corrupt("invitations.email", e))?,
        role: role_from(&model.role)?,
        invited_by: UserId::from_uuid(model.invited_by),
        created_at: model.created_at,
        expires_at: model.expires_at,
    })
}

/// Serializes membership changes of one organization. PostgreSQL locks the organization's row;
/// SQLite ignores row locks, but it has a single writer, and the owner check and the change run
/// in one transaction.
async fn lock_org(txn: &DatabaseTransaction, org: OrgId) -> Result<bool, StoreError> {
    Ok(organizations::Entity::find_by_id(org.as_uuid())
        .filter(organizations::Column::DeletedAt.is_null())
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(store_error)?
        .is_some())
}

async fn owner_count<C: ConnectionTrait>(conn: &C, org: OrgId) -> Result<u64, StoreError> {
    memberships::Entity::of(org)
        .filter(memberships::Column::Role.eq(Role::Owner.as_str()))
        .count(conn)
        .await
        .map_err(store_error)
}

async fn current_role<C: ConnectionTrait>(
    conn: &C,
    org: OrgId,
    user: UserId,
) -> Result<Option<Role>, StoreError> {
    memberships::Entity::of(org)
        .filter(memberships::Column::UserId.eq(user.as_uuid()))
        .one(conn)
        .await
        .map_err(store_error)?
        .map(|m| role_from(&m.role))
        .transpose()
}

fn pending_invitations(now: DateTime<Utc>) -> impl IntoCondition {
    invitations::Column::AcceptedAt
        .is_null()
        .and(invitations::Column::RevokedAt.is_null())
        .and(invitations::Column::ExpiresAt.gt(now))
}

#[async_trait]
impl OrgRepo for SqlStore {
    async fn create(
        &self,
        org: &Organization,
        owner: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = write_transaction(&self.db).await?;
        organizations::ActiveModel {
            id: Set(org.id.as_uuid()),
            name: Set(org.name.as_str().to_owned()),
            slug: Set(org.slug.as_str().to_owned()),
            created_at: Set(org.created_at),
            updated_at: Set(now),
            deleted_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(store_error)?;
        memberships::ActiveModel {
            org_id: Set(org.id.as_uuid()),
            user_id: Set(owner.as_uuid()),
            role: Set(Role::Owner.as_str().to_owned()),
            created_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(store_error)?;
        txn.commit().await.map_err(store_error)
    }

    async fn find_for_member(
        &self,
        org: OrgId,
        user: UserId,
    ) -> Result<Option<OrgWithRole>, StoreError> {
        if let Some(found) = self.auth.member(org, user) {
            return Ok(Some(found));
        }
        let generation = self.auth.generation();
        let row = member_orgs(user)
            .filter(memberships::Entity::in_org(org))
            .one(&self.db)
            .await
            .map_err(store_error)?;
        let found = row.map(org_with_role).transpose()?.flatten();
        if let (Some(generation), Some(found)) = (generation, &found) {
            self.auth.put_member(generation, user, found.clone());
        }
        Ok(found)
    }

    async fn list_for_member(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Vec<OrgWithRole>, StoreError> {
        let mut query = member_orgs(user);
        if let Some(after) = page.after() {
            query = query.filter(memberships::Column::OrgId.gt(after));
        }
        let rows = query
            .order_by_asc(memberships::Column::OrgId)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await
            .map_err(store_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(org) = org_with_role(row)? {
                out.push(org);
            }
        }
        Ok(out)
    }

    async fn update(&self, org: &Organization) -> Result<(), StoreError> {
        // The organization travels with a verified membership: renaming invalidates it.
        let txn = write_transaction(&self.db).await?;
        let result = organizations::Entity::update_many()
            .col_expr(organizations::Column::Name, Expr::value(org.name.as_str()))
            .col_expr(organizations::Column::Slug, Expr::value(org.slug.as_str()))
            .col_expr(organizations::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(organizations::Column::Id.eq(org.id.as_uuid()))
            .filter(organizations::Column::DeletedAt.is_null())
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if result.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        self.commit_auth_change(txn).await
    }

    async fn delete(&self, org: OrgId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let txn = write_transaction(&self.db).await?;
        let result = organizations::Entity::update_many()
            .col_expr(organizations::Column::DeletedAt, Expr::value(now))
            .filter(organizations::Column::Id.eq(org.as_uuid()))
            .filter(organizations::Column::DeletedAt.is_null())
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if result.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        invitations::Entity::update_of(org)
            .col_expr(invitations::Column::RevokedAt, Expr::value(now))
            .filter(pending_invitations(now))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        super::purge::schedule_purge(&txn, org, now).await?;
        self.commit_auth_change(txn).await
    }
}

#[async_trait]
impl MemberRepo for SqlStore {
    async fn list(&self, org: OrgId, page: &PageRequest) -> Result<Vec<Member>, StoreError> {
        let mut query = memberships::Entity::of(org);
        if let Some(after) = page.after() {
            query = query.filter(memberships::Column::UserId.gt(after));
        }
        query
            .find_also_related(users::Entity)
            .order_by_asc(memberships::Column::UserId)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(member_from)
            .collect()
    }

    async fn get(&self, org: OrgId, user: UserId) -> Result<Option<Member>, StoreError> {
        memberships::Entity::of(org)
            .filter(memberships::Column::UserId.eq(user.as_uuid()))
            .find_also_related(users::Entity)
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(member_from)
            .transpose()
    }

    async fn has_member_with_email(&self, org: OrgId, email: &Email) -> Result<bool, StoreError> {
        let count = memberships::Entity::of(org)
            .inner_join(users::Entity)
            .filter(users::Column::Email.eq(email.as_str()))
            .count(&self.db)
            .await
            .map_err(store_error)?;
        Ok(count > 0)
    }

    async fn set_role(&self, org: OrgId, user: UserId, role: Role) -> Result<(), StoreError> {
        let txn = write_transaction(&self.db).await?;
        if !lock_org(&txn, org).await? {
            return Err(StoreError::NotFound);
        }
        let current = current_role(&txn, org, user)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current == Role::Owner && role != Role::Owner && owner_count(&txn, org).await? <= 1 {
            return Err(StoreError::Conflict("last_owner"));
        }
        memberships::Entity::update_of(org)
            .col_expr(memberships::Column::Role, Expr::value(role.as_str()))
            .filter(memberships::Column::UserId.eq(user.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        self.commit_auth_change(txn).await
    }

    async fn remove(&self, org: OrgId, user: UserId) -> Result<(), StoreError> {
        let txn = write_transaction(&self.db).await?;
        if !lock_org(&txn, org).await? {
            return Err(StoreError::NotFound);
        }
        let current = current_role(&txn, org, user)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current == Role::Owner && owner_count(&txn, org).await? <= 1 {
            return Err(StoreError::Conflict("last_owner"));
        }
        memberships::Entity::delete_of(org)
            .filter(memberships::Column::UserId.eq(user.as_uuid()))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        self.commit_auth_change(txn).await
    }
}

#[async_trait]
impl InvitationRepo for SqlStore {
    async fn create(
        &self,
        invitation: &Invitation,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = write_transaction(&self.db).await?;
        invitations::Entity::update_of(invitation.org_id)
            .col_expr(invitations::Column::RevokedAt, Expr::value(now))
            .filter(invitations::Column::Email.eq(invitation.email.as_str()))
            .filter(pending_invitations(now))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        invitations::ActiveModel {
            id: Set(invitation.id.as_uuid()),
            org_id: Set(invitation.org_id.as_uuid()),
            email: Set(invitation.email.as_str().to_owned()),
            role: Set(invitation.role.as_str().to_owned()),
            token_hash: Set(token.to_hex()),
            invited_by: Set(invitation.invited_by.as_uuid()),
            created_at: Set(invitation.created_at),
            expires_at: Set(invitation.expires_at),
            accepted_at: Set(None),
            accepted_by: Set(None),
            revoked_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(store_error)?;
        txn.commit().await.map_err(store_error)
    }

    async fn list_pending(
        &self,
        org: OrgId,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Vec<Invitation>, StoreError> {
        let mut query = invitations::Entity::of(org).filter(pending_invitations(now));
        if let Some(after) = page.after() {
            query = query.filter(invitations::Column::Id.gt(after));
        }
        query
            .order_by_asc(invitations::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(invitation_from)
            .collect()
    }

    async fn revoke(
        &self,
        org: OrgId,
        id: InvitationId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = invitations::Entity::update_of(org)
            .col_expr(invitations::Column::RevokedAt, Expr::value(now))
            .filter(invitations::Column::Id.eq(id.as_uuid()))
            .filter(pending_invitations(now))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn find_pending(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Invitation>, StoreError> {
        let found = invitations::Entity::find()
            .inner_join(organizations::Entity)
            .filter(organizations::Column::DeletedAt.is_null())
            .filter(invitations::Column::TokenHash.eq(token.to_hex()))
            .filter(pending_invitations(now))
            .one(&self.db)
            .await
            .map_err(store_error)?;
        found.map(invitation_from).transpose()
    }

    async fn accept(
        &self,
        invitation: &Invitation,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = write_transaction(&self.db).await?;
        let claimed = invitations::Entity::update_many()
            .col_expr(invitations::Column::AcceptedAt, Expr::value(now))
            .col_expr(invitations::Column::AcceptedBy, Expr::value(user.as_uuid()))
            .filter(invitations::Column::Id.eq(invitation.id.as_uuid()))
            .filter(pending_invitations(now))
            .exec(&txn)
            .await
            .map_err(store_error)?;
        if claimed.rows_affected != 1 {
            txn.rollback().await.map_err(store_error)?;
            return Ok(false);
        }
        if current_role(&txn, invitation.org_id, user).await?.is_some() {
            txn.rollback().await.map_err(store_error)?;
            return Err(StoreError::Conflict("memberships_pkey"));
        }
        memberships::ActiveModel {
            org_id: Set(invitation.org_id.as_uuid()),
            user_id: Set(user.as_uuid()),
            role: Set(invitation.role.as_str().to_owned()),
            created_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(store_error)?;
        txn.commit().await.map_err(store_error)?;
        Ok(true)
    }
}
