//! `/v1/orgs/{org_id}/audit-events`: the organization's append-only audit log.

use chrono::{DateTime, Utc};
use docent_app::Need;
use docent_kernel::{Actor, AuditFilter, StoredAuditEvent};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::{ApiTags, page_request};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::ApiState;

/// The audit endpoints.
#[derive(Debug, Clone)]
pub(crate) struct AuditApi {
    state: ApiState,
}

impl AuditApi {
    pub(crate) fn new(state: ApiState) -> Self {
        Self { state }
    }
}

/// Who or what an event is about.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct AuditRef {
    /// `user`, `api_key`, `org` or `invitation`.
    pub kind: String,
    /// Its id.
    pub id: Uuid,
}

/// One audited change.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct AuditEventDto {
    /// The event's id.
    pub id: Uuid,
    /// Who did it: a user or an API key.
    pub actor: AuditRef,
    /// What was done: `org.create`, `org.update`, `org.delete`, `member.role_change`,
    /// `member.remove`, `invitation.create`, `invitation.revoke`, `invitation.accept`,
    /// `api_key.create`, `api_key.revoke`.
    pub action: String,
    /// What it was done to.
    pub target: AuditRef,
    /// A short detail, e.g. `viewer -> admin`; never a secret.
    pub detail: Option<String>,
    /// The request that did it.
    pub request_id: Option<String>,
    /// The client address of that request.
    pub client_addr: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<&StoredAuditEvent> for AuditEventDto {
    fn from(e: &StoredAuditEvent) -> Self {
        let actor = match e.actor {
            Actor::User(id) => AuditRef {
                kind: "user".to_owned(),
                id: id.as_uuid(),
            },
            Actor::ApiKey(id) => AuditRef {
                kind: "api_key".to_owned(),
                id: id.as_uuid(),
            },
        };
        Self {
            id: e.id,
            actor,
            action: e.action.clone(),
            target: AuditRef {
                kind: e.target_kind.clone(),
                id: e.target_id,
            },
            detail: e.detail.clone(),
            request_id: e.request_id.clone(),
            client_addr: e.client_addr.clone(),
            at: e.at,
        }
    }
}

/// A page of audit events, newest first.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct AuditEventList {
    /// The events on this page.
    pub items: Vec<AuditEventDto>,
    /// Pass as `cursor` to get older events; absent on the last page.
    pub next_cursor: Option<String>,
}

#[OpenApi(tag = "ApiTags::Audit")]
impl AuditApi {
    /// List audit events
    ///
    /// Owners and admins, with a user session. Newest first.
    #[oai(
        path = "/v1/orgs/:org_id/audit-events",
        method = "get",
        operation_id = "audit_event_list"
    )]
    async fn list(
        &self,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Only the events of this actor: a user's or an API key's id.
        actor: Query<Option<Uuid>>,
        /// Only the events with this action, e.g. `api_key.create`.
        #[oai(validator(max_length = 100))]
        action: Query<Option<String>>,
    ) -> Result<Json<AuditEventList>, ApiError> {
        let tenant = self.state.tenant(&auth, org_id.0, Need::Audit).await?;
        let access = &tenant.member()?.access;
        let page = page_request(limit.0, cursor.0.as_deref())?;
        let filter = AuditFilter {
            actor_id: actor.0,
            action: action.0.filter(|a| !a.is_empty()),
        };
        let events = self
            .state
            .tenancy()?
            .audit_events(access, &filter, &page)
            .await?;
        Ok(Json(AuditEventList {
            items: events.items.iter().map(AuditEventDto::from).collect(),
            next_cursor: events.next_cursor,
        }))
    }
}
