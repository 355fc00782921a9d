//! The `jobs` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub kind: String,
    pub document_id: Uuid,
    /// `pending`, `done` or `dead`.
    pub state: String,
    pub attempts: i32,
    pub run_at: DateTimeUtc,
    pub lease_token: Option<Uuid>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub claimed_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
