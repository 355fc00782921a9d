//! The `usage_daily` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_daily")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    /// `YYYY-MM-DD`, UTC.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: String,
    /// The nil UUID means "no chatbot".
    #[sea_orm(primary_key, auto_increment = false)]
    pub chatbot_id: Uuid,
    /// The nil UUID means "no key".
    #[sea_orm(primary_key, auto_increment = false)]
    pub api_key_id: Uuid,
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub embedded_tokens: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
