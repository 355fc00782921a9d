//! The `documents` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub title: String,
    pub file_name: Option<String>,
    pub media_type: String,
    pub size_bytes: i64,
    pub checksum: String,
    /// ` tag1 tag2 `: separated and surrounded by single spaces.
    pub tags: String,
    pub status: String,
    pub chunks_done: i32,
    pub chunks_total: i32,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub chunk_count: i32,
    pub embedding_model: Option<String>,
    /// `user` or `api_key`.
    pub created_by_kind: String,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
