//! The `chatbots` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chatbots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub slug: String,
    pub provider_id: Uuid,
    pub model: Option<String>,
    pub system_prompt: String,
    /// `template` or `custom`.
    pub tone_kind: String,
    /// The template's name, or the custom text.
    pub tone: String,
    pub temperature: f64,
    pub max_answer_tokens: i32,
    pub context_window: i32,
    pub top_k: i32,
    pub min_score: f64,
    /// `all`, `tags` or `documents`.
    pub scope_kind: String,
    /// A JSON array of tags or document ids (`[]` for `all`).
    pub scope_values: String,
    pub welcome_message: Option<String>,
    pub fallback_answer: String,
    pub citation_style: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
