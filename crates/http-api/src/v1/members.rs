//! `/v1/orgs/{org_id}/members`: members and their roles.

use chrono::{DateTime, Utc};
use docent_app::Need;
use docent_kernel::UserId;
use docent_tenancy::Member;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::{ApiTags, RoleDto, page_request};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::ApiState;

/// The member endpoints.
#[derive(Debug, Clone)]
pub(crate) struct MembersApi {
    state: ApiState,
}

impl MembersApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// A member of an organization.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct MemberDto {
    /// The user's id.
    pub user_id: Uuid,
    /// The user's e-mail address.
    pub email: String,
    /// The user's display name.
    pub name: String,
    /// The role.
    pub role: RoleDto,
    /// When the user joined.
    pub joined_at: DateTime<Utc>,
}

impl From<&Member> for MemberDto {
    fn from(m: &Member) -> Self {
        Self {
            user_id: m.user_id.as_uuid(),
            email: m.email.as_str().to_owned(),
            name: m.name.clone(),
            role: m.role.into(),
            joined_at: m.joined_at,
        }
    }
}

/// A page of members.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct MemberList {
    /// The members on this page.
    pub items: Vec<MemberDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A role change.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct UpdateMemberRequest {
    /// The new role.
    pub role: RoleDto,
}

#[derive(ApiResponse)]
pub(crate) enum RemoveMemberResponse {
    /// Removed.
    #[oai(status = 204)]
    Removed,
}

#[OpenApi(tag = "ApiTags::Members")]
impl MembersApi {
    /// List members
    #[oai(
        path = "/v1/orgs/:org_id/members",
        method = "get",
        operation_id = "member_list"
    )]
    async fn list(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<MemberList>, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Members).await?;
        let access = &tenant.member()?.access;
        let page = page_request(limit.0, cursor.0.as_deref())?;
        let members = self.state.tenancy()?.list_members(access, &page).await?;
        Ok(Json(MemberList {
            items: members.items.iter().map(MemberDto::from).collect(),
            next_cursor: members.next_cursor,
        }))
    }

    /// Change a member's role
    ///
    /// Admins manage admins, members and viewers; only owners grant or revoke ownership. The
    /// last owner cannot be demoted (`last_owner`).
    #[oai(
        path = "/v1/orgs/:org_id/members/:user_id",
        method = "patch",
        operation_id = "member_update"
    )]
    async fn update(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        user_id: Path<Uuid>,
        body: Json<UpdateMemberRequest>,
    ) -> Result<Json<MemberDto>, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Members).await?;
        let access = &tenant.member()?.access;
        let member = self
            .state
            .tenancy()?
            .change_role(access, UserId::from_uuid(user_id.0), body.0.role.into())
            .await?;
        Ok(Json(MemberDto::from(&member)))
    }

    /// Remove a member
    ///
    /// Any member may remove themselves (leave); removing others needs admin, and owner to
    /// remove an owner. The last owner cannot leave (`last_owner`).
    #[oai(
        path = "/v1/orgs/:org_id/members/:user_id",
        method = "delete",
        operation_id = "member_delete"
    )]
    async fn remove(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<RemoveMemberResponse, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Members).await?;
        let access = &tenant.member()?.access;
        self.state
            .tenancy()?
            .remove_member(access, UserId::from_uuid(user_id.0))
            .await?;
        Ok(RemoveMemberResponse::Removed)
    }
}
