//! The daily usage ledger.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string_len, uuid};

use crate::m20261126_000002_tenancy::Organizations;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageDaily {
    Table,
    OrgId,
    Day,
    ChatbotId,
    ApiKeyId,
    Requests,
    PromptTokens,
    CompletionTokens,
    EmbeddedTokens,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UsageDaily::Table)
                    .col(uuid(UsageDaily::OrgId))
                    // `YYYY-MM-DD` (UTC): sorts like a date on every backend.
                    .col(string_len(UsageDaily::Day, 10))
                    // The nil UUID stands for "no chatbot" / "no key", so the primary key can cover
                    // them (NULLs are never equal in a key).
                    .col(uuid(UsageDaily::ChatbotId))
                    .col(uuid(UsageDaily::ApiKeyId))
                    .col(big_integer(UsageDaily::Requests))
                    .col(big_integer(UsageDaily::PromptTokens))
                    .col(big_integer(UsageDaily::CompletionTokens))
                    .col(big_integer(UsageDaily::EmbeddedTokens))
                    .primary_key(
                        Index::create()
                            .name("pk_usage_daily")
                            .col(UsageDaily::OrgId)
                            .col(UsageDaily::Day)
                            .col(UsageDaily::ChatbotId)
                            .col(UsageDaily::ApiKeyId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_usage_daily_org")
                            .from(UsageDaily::Table, UsageDaily::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_usage_daily_key")
                    .table(UsageDaily::Table)
                    .col(UsageDaily::ApiKeyId)
                    .col(UsageDaily::Day)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UsageDaily::Table).to_owned())
            .await
    }
}
