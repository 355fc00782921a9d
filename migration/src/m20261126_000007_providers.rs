//! Provider connections, with their API keys sealed (AES-256-GCM, base64) and the id of the master
//! key that sealed them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, pk_uuid, string_len, string_len_null, text_null, timestamp_with_time_zone, uuid,
};

use crate::m20261126_000002_tenancy::Organizations;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Providers {
    Table,
    Id,
    OrgId,
    Name,
    Kind,
    BaseUrl,
    DefaultModel,
    ApiVersion,
    TimeoutSecs,
    ApiKeyLast4,
    ApiKeyKeyId,
    ApiKeySealed,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Providers::Table)
                    .col(pk_uuid(Providers::Id))
                    .col(uuid(Providers::OrgId))
                    .col(string_len(Providers::Name, 100))
                    .col(string_len(Providers::Kind, 32))
                    .col(text_null(Providers::BaseUrl))
                    .col(string_len_null(Providers::DefaultModel, 200))
                    .col(string_len_null(Providers::ApiVersion, 200))
                    .col(integer(Providers::TimeoutSecs))
                    .col(string_len_null(Providers::ApiKeyLast4, 8))
                    .col(string_len_null(Providers::ApiKeyKeyId, 32))
                    .col(text_null(Providers::ApiKeySealed))
                    .col(timestamp_with_time_zone(Providers::CreatedAt))
                    .col(timestamp_with_time_zone(Providers::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_providers_org")
                            .from(Providers::Table, Providers::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_providers_org")
                    .table(Providers::Table)
                    .col(Providers::OrgId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Providers::Table).to_owned())
            .await
    }
}
