//! `/v1/orgs`: organizations.

use chrono::{DateTime, Utc};
use docent_app::Need;
use docent_tenancy::{OrgUpdate, OrgWithRole, Organization};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::{ApiTags, RoleDto, page_request};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::middleware::request_meta;
use crate::state::ApiState;

/// The organization endpoints.
#[derive(Debug, Clone)]
pub(crate) struct OrgsApi {
    state: ApiState,
}

impl OrgsApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// An organization and the caller's role in it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct OrgDto {
    /// The id.
    pub id: Uuid,
    /// The display name.
    pub name: String,
    /// The unique URL-safe handle.
    pub slug: String,
    /// The caller's role.
    pub role: RoleDto,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl OrgDto {
    pub(crate) fn new(org: &Organization, role: docent_tenancy::Role) -> Self {
        Self {
            id: org.id.as_uuid(),
            name: org.name.as_str().to_owned(),
            slug: org.slug.as_str().to_owned(),
            role: role.into(),
            created_at: org.created_at,
        }
    }
}

impl From<&OrgWithRole> for OrgDto {
    fn from(o: &OrgWithRole) -> Self {
        Self::new(&o.org, o.role)
    }
}

/// A page of organizations.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct OrgList {
    /// The organizations on this page.
    pub items: Vec<OrgDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A new organization.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct CreateOrgRequest {
    /// The display name (1–100 characters); the slug is derived from it.
    #[oai(validator(max_length = 400))]
    pub name: String,
}

/// Changes to an organization; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct UpdateOrgRequest {
    /// A new display name.
    #[oai(validator(max_length = 400))]
    pub name: Option<String>,
    /// A new slug: 2–48 of a-z, 0-9 and single inner dashes.
    #[oai(validator(max_length = 100))]
    pub slug: Option<String>,
}

#[derive(ApiResponse)]
pub(crate) enum CreateOrgResponse {
    /// Created; the caller is its owner.
    #[oai(status = 201)]
    Created(Json<OrgDto>),
}

#[derive(ApiResponse)]
pub(crate) enum DeleteOrgResponse {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(prefix_path = "/v1/orgs", tag = "ApiTags::Orgs")]
impl OrgsApi {
    /// Create an organization
    #[oai(path = "/", method = "post", operation_id = "org_create")]
    async fn create(
        &self,
        auth: Auth,
        body: Json<CreateOrgRequest>,
    ) -> Result<CreateOrgResponse, ApiError> {
        let principal = self.state.principal(&auth).await?;
        let org = self
            .state
            .tenancy()?
            .create_org(principal.user.id, &body.0.name, &request_meta())
            .await?;
        Ok(CreateOrgResponse::Created(Json(OrgDto::from(&org))))
    }

    /// List my organizations
    ///
    /// The organizations the caller belongs to, oldest first.
    #[oai(path = "/", method = "get", operation_id = "org_list")]
    async fn list(
        &self,
        auth: Auth,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<OrgList>, ApiError> {
        let principal = self.state.principal(&auth).await?;
        let page = page_request(limit.0, cursor.0.as_deref())?;
        let orgs = self
            .state
            .tenancy()?
            .list_orgs(principal.user.id, &page)
            .await?;
        Ok(Json(OrgList {
            items: orgs.items.iter().map(OrgDto::from).collect(),
            next_cursor: orgs.next_cursor,
        }))
    }

    /// Get an organization
    #[oai(path = "/:org_id", method = "get", operation_id = "org_get")]
    async fn get(&self, auth: Auth, org_id: Path<Uuid>) -> Result<Json<OrgDto>, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::OrgRead).await?;
        let access = &tenant.member()?.access;
        Ok(Json(OrgDto::new(&access.org, access.role)))
    }

    /// Update an organization
    ///
    /// Renames it or changes its slug (admin or owner).
    #[oai(path = "/:org_id", method = "patch", operation_id = "org_update")]
    async fn update(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<UpdateOrgRequest>,
    ) -> Result<Json<OrgDto>, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::OrgUpdate).await?;
        let access = &tenant.member()?.access;
        let update = OrgUpdate {
            name: body.0.name.as_deref(),
            slug: body.0.slug.as_deref(),
        };
        let org = self.state.tenancy()?.update_org(access, update).await?;
        Ok(Json(OrgDto::new(&org, access.role)))
    }

    /// Delete an organization
    ///
    /// Owner only. The organization disappears for every member at once.
    #[oai(path = "/:org_id", method = "delete", operation_id = "org_delete")]
    async fn delete(&self, auth: Auth, org_id: Path<Uuid>) -> Result<DeleteOrgResponse, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::OrgDelete).await?;
        let access = &tenant.member()?.access;
        self.state.tenancy()?.delete_org(access).await?;
        Ok(DeleteOrgResponse::Deleted)
    }
}
