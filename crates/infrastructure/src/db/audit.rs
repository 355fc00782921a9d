//! The audit-log port over sea-orm: inserts only, never updates or deletes.

use async_trait::async_trait;
use docent_kernel::{
    Actor, ApiKeyId, AuditEvent, AuditFilter, AuditLog, OrgId, PageRequest, StoreError,
    StoredAuditEvent, UserId,
};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    Set,
};

use super::entity::audit_events;
use super::scope::OrgScoped as _;
use super::{SqlStore, corrupt, store_error};

fn actor_from(kind: &str, id: uuid::Uuid) -> Result<Actor, StoreError> {
    match kind {
        "user" => Ok(Actor::User(UserId::from_uuid(id))),
        "api_key" => Ok(Actor::ApiKey(ApiKeyId::from_uuid(id))),
        other => Err(corrupt("audit_events.actor_kind", other)),
    }
}

#[async_trait]
impl AuditLog for SqlStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let (actor_kind, actor_id) = match event.actor {
            Actor::User(id) => ("user", id.as_uuid()),
            Actor::ApiKey(id) => ("api_key", id.as_uuid()),
        };
        audit_events::ActiveModel {
            id: Set(event.id),
            org_id: Set(event.org_id.as_uuid()),
            actor_kind: Set(actor_kind.to_owned()),
            actor_id: Set(actor_id),
            action: Set(event.action.to_owned()),
            target_kind: Set(event.target.0.to_owned()),
            target_id: Set(event.target.1),
            detail: Set(event.detail.as_ref().map(|d| d.chars().take(512).collect())),
            request_id: Set(event.request_id.clone()),
            client_addr: Set(event.client_addr.clone()),
            at: Set(event.at),
        }
        .insert(&self.db)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn list(
        &self,
        org: OrgId,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let mut query = audit_events::Entity::of(org);
        if let Some(actor) = filter.actor_id {
            query = query.filter(audit_events::Column::ActorId.eq(actor));
        }
        if let Some(action) = &filter.action {
            query = query.filter(audit_events::Column::Action.eq(action.as_str()));
        }
        if let Some(before) = page.after() {
            query = query.filter(audit_events::Column::Id.lt(before));
        }
        query
            .order_by_desc(audit_events::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|m| {
                Ok(StoredAuditEvent {
                    id: m.id,
                    actor: actor_from(&m.actor_kind, m.actor_id)?,
                    action: m.action,
                    target_kind: m.target_kind,
                    target_id: m.target_id,
                    detail: m.detail,
                    request_id: m.request_id,
                    client_addr: m.client_addr,
                    at: m.at,
                })
            })
            .collect()
    }
}
