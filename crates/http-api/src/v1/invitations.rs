//! `/v1/orgs/{org_id}/invitations` and `/v1/invitations/accept`.

use chrono::{DateTime, Utc};
use docent_app::Need;
use docent_kernel::{InvitationId, SecretString};
use docent_tenancy::Invitation;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Password;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::orgs::OrgDto;
use super::{ApiTags, RoleDto, page_request};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::middleware::request_meta;
use crate::state::ApiState;

/// The invitation endpoints.
#[derive(Debug, Clone)]
pub(crate) struct InvitationsApi {
    state: ApiState,
}

impl InvitationsApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// A pending invitation. The token is never shown: it goes to the invitee by e-mail.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct InvitationDto {
    /// The id.
    pub id: Uuid,
    /// The invited address; only a user with this address can accept.
    pub email: String,
    /// The role given on acceptance.
    pub role: RoleDto,
    /// Who invited.
    pub invited_by: Uuid,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
    /// When it stops working (7 days after sending).
    pub expires_at: DateTime<Utc>,
}

impl From<&Invitation> for InvitationDto {
    fn from(i: &Invitation) -> Self {
        Self {
            id: i.id.as_uuid(),
            email: i.email.as_str().to_owned(),
            role: i.role.into(),
            invited_by: i.invited_by.as_uuid(),
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

/// A page of pending invitations.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct InvitationList {
    /// The invitations on this page.
    pub items: Vec<InvitationDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A new invitation.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CreateInvitationRequest {
    /// The address to invite. A pending invitation to the same address is replaced.
    #[oai(validator(max_length = 1024))]
    pub email: String,
    /// The role to give; only owners may invite owners.
    pub role: RoleDto,
}

/// An invitation token to accept.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct AcceptInvitationRequest {
    /// The token from the invitation e-mail.
    #[oai(validator(max_length = 1024))]
    pub token: Password,
}

#[derive(ApiResponse)]
pub(crate) enum CreateInvitationResponse {
    /// Created and mailed.
    #[oai(status = 201)]
    Created(Json<InvitationDto>),
}

#[derive(ApiResponse)]
pub(crate) enum RevokeInvitationResponse {
    /// Revoked.
    #[oai(status = 204)]
    Revoked,
}

#[OpenApi(tag = "ApiTags::Invitations")]
impl InvitationsApi {
    /// Invite someone
    ///
    /// Mails a single-use link valid for 7 days (admin or owner). Invitation mails are capped per
    /// organization per day and per client address per hour (429 `rate_limited` with
    /// `Retry-After`; the operator sets `limits.invitations_per_org_per_day` and
    /// `limits.invitations_per_client_per_hour`).
    #[oai(
        path = "/v1/orgs/:org_id/invitations",
        method = "post",
        operation_id = "invitation_create"
    )]
    async fn create(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<CreateInvitationRequest>,
    ) -> Result<CreateInvitationResponse, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::Invitations)
            .await?;
        let member = tenant.member()?;
        let (principal, access) = (&member.principal, &member.access);
        let issued = self
            .state
            .tenancy()?
            .invite(access, principal.user.id, &body.0.email, body.0.role.into())
            .await?;
        Ok(CreateInvitationResponse::Created(Json(
            InvitationDto::from(&issued.invitation),
        )))
    }

    /// List pending invitations
    #[oai(
        path = "/v1/orgs/:org_id/invitations",
        method = "get",
        operation_id = "invitation_list"
    )]
    async fn list(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<InvitationList>, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::Invitations)
            .await?;
        let access = &tenant.member()?.access;
        let page = page_request(limit.0, cursor.0.as_deref())?;
        let invitations = self
            .state
            .tenancy()?
            .list_invitations(access, &page)
            .await?;
        Ok(Json(InvitationList {
            items: invitations.items.iter().map(InvitationDto::from).collect(),
            next_cursor: invitations.next_cursor,
        }))
    }

    /// Revoke an invitation
    #[oai(
        path = "/v1/orgs/:org_id/invitations/:invitation_id",
        method = "delete",
        operation_id = "invitation_delete"
    )]
    async fn revoke(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        invitation_id: Path<Uuid>,
    ) -> Result<RevokeInvitationResponse, ApiError> {
        let tenant = self
            .state
            .tenant(&auth, org_id.0, Need::Invitations)
            .await?;
        let access = &tenant.member()?.access;
        self.state
            .tenancy()?
            .revoke_invitation(access, InvitationId::from_uuid(invitation_id.0))
            .await?;
        Ok(RevokeInvitationResponse::Revoked)
    }

    /// Accept an invitation
    ///
    /// The signed-in user joins the organization. The invitation must have been sent to the
    /// user's e-mail address.
    #[oai(
        path = "/v1/invitations/accept",
        method = "post",
        operation_id = "invitation_accept"
    )]
    async fn accept(
        &self,
        auth: Auth,
        body: Json<AcceptInvitationRequest>,
    ) -> Result<Json<OrgDto>, ApiError> {
        let principal = self.state.principal(&auth).await?;
        let token = SecretString::from(body.0.token.0);
        let org = self
            .state
            .tenancy()?
            .accept_invitation(
                principal.user.id,
                &principal.user.email,
                &token,
                &request_meta(),
            )
            .await?;
        Ok(Json(OrgDto::from(&org)))
    }
}
