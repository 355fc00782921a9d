//! The `api_keys` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub created_by: Uuid,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    #[sea_orm(unique)]
    pub token_hash: String,
    /// Scope names separated by spaces.
    pub scopes: String,
    /// Chatbot ids separated by spaces; `NULL` means every chatbot.
    pub chatbot_ids: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    pub rate_limit_per_minute: Option<i32>,
    pub monthly_message_quota: Option<i64>,
    pub monthly_token_quota: Option<i64>,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    /// A publishable key's allowed web origins, separated by spaces; `NULL` for a secret key.
    pub allowed_origins: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::organizations::Entity",
        from = "Column::OrgId",
        to = "super::organizations::Column::Id"
    )]
    Organization,
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::CreatedBy",
        to = "super::users::Column::Id"
    )]
    Creator,
    #[sea_orm(
        belongs_to = "super::memberships::Entity",
        from = "(Column::OrgId, Column::CreatedBy)",
        to = "(super::memberships::Column::OrgId, super::memberships::Column::UserId)"
    )]
    CreatorMembership,
}

impl ActiveModelBehavior for ActiveModel {}
