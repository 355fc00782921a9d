//! API keys.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer_null, integer_null, pk_uuid, string_len, string_len_uniq, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

use crate::m20261126_000001_identity::Users;
use crate::m20261126_000002_tenancy::Organizations;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    OrgId,
    CreatedBy,
    Name,
    Prefix,
    Last4,
    TokenHash,
    Scopes,
    ChatbotIds,
    ExpiresAt,
    RateLimitPerMinute,
    MonthlyMessageQuota,
    MonthlyTokenQuota,
    CreatedAt,
    RevokedAt,
    LastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(pk_uuid(ApiKeys::Id))
                    .col(uuid(ApiKeys::OrgId))
                    .col(uuid(ApiKeys::CreatedBy))
                    .col(string_len(ApiKeys::Name, 100))
                    .col(string_len(ApiKeys::Prefix, 16))
                    .col(string_len(ApiKeys::Last4, 4))
                    .col(string_len_uniq(ApiKeys::TokenHash, 64))
                    .col(text(ApiKeys::Scopes))
                    .col(text_null(ApiKeys::ChatbotIds))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(integer_null(ApiKeys::RateLimitPerMinute))
                    .col(big_integer_null(ApiKeys::MonthlyMessageQuota))
                    .col(big_integer_null(ApiKeys::MonthlyTokenQuota))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_org")
                            .from(ApiKeys::Table, ApiKeys::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_creator")
                            .from(ApiKeys::Table, ApiKeys::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_org")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::OrgId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await
    }
}
