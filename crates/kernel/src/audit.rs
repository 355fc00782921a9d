//! The audit log port: an append-only record of who changed what in an organization.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::StoreError;
use crate::id::OrgId;
use crate::paging::PageRequest;
use crate::tenant::{Actor, TenantCtx};

/// One audited change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The event's id (UUIDv7, so ids sort by time).
    pub id: Uuid,
    /// The organization.
    pub org_id: OrgId,
    /// Who did it.
    pub actor: Actor,
    /// What was done, as `noun.verb` (`api_key.create`, `member.role_change`, …).
    pub action: &'static str,
    /// What it was done to: a kind and an id (`api_key`, `user`, `invitation`, `org`).
    pub target: (&'static str, Uuid),
    /// A short, secret-free detail, e.g. `viewer -> admin`.
    pub detail: Option<String>,
    /// The request that did it.
    pub request_id: Option<String>,
    /// The client address of that request.
    pub client_addr: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl AuditEvent {
    /// An event by the tenant's actor, with the tenant's request details.
    #[must_use]
    pub fn new(
        tenant: &TenantCtx,
        action: &'static str,
        target: (&'static str, Uuid),
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            org_id: tenant.org_id(),
            actor: tenant.actor(),
            action,
            target,
            detail: None,
            request_id: tenant.request().request_id.clone(),
            client_addr: tenant.request().client_addr.clone(),
            at,
        }
    }

    /// The same event with a detail.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// An audit event as read back (actions and target kinds as stored strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEvent {
    /// The event's id.
    pub id: Uuid,
    /// Who did it.
    pub actor: Actor,
    /// What was done.
    pub action: String,
    /// The target's kind.
    pub target_kind: String,
    /// The target's id.
    pub target_id: Uuid,
    /// A short detail.
    pub detail: Option<String>,
    /// The request that did it.
    pub request_id: Option<String>,
    /// Its client address.
    pub client_addr: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Which audit events to read: all of them, or those of one actor and/or one action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events by this user or API key (its id).
    pub actor_id: Option<Uuid>,
    /// Only events with this action (`api_key.create`, …).
    pub action: Option<String>,
}

/// Appends and reads audit events.
#[async_trait]
pub trait AuditLog: Send + Sync + std::fmt::Debug {
    /// Appends one event.
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// The organization's events that pass `filter`, newest first, fetching
    /// `page.fetch_limit()` rows; the cursor points at the oldest event of the previous page.
    async fn list(
        &self,
        org: OrgId,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Vec<StoredAuditEvent>, StoreError>;
}

/// Records an event, logging rather than failing when the log cannot be written: the audited
/// change has already happened and must not be reported as failed.
pub async fn record_or_log(log: &dyn AuditLog, event: AuditEvent) {
    if let Err(error) = log.record(&event).await {
        tracing::error!(%error, action = event.action, org_id = %event.org_id, "could not write an audit event");
    }
}
