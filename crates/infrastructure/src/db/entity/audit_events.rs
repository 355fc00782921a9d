//! The `audit_events` table (append-only).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    /// `user` or `api_key`.
    pub actor_kind: String,
    pub actor_id: Uuid,
    pub action: String,
    pub target_kind: String,
    pub target_id: Uuid,
    pub detail: Option<String>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
