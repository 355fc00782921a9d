//! The append-only audit log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    pk_uuid, string_len, string_len_null, timestamp_with_time_zone, uuid,
};

use crate::m20261126_000002_tenancy::Organizations;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OrgId,
    ActorKind,
    ActorId,
    Action,
    TargetKind,
    TargetId,
    Detail,
    RequestId,
    ClientAddr,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(pk_uuid(AuditEvents::Id))
                    .col(uuid(AuditEvents::OrgId))
                    .col(string_len(AuditEvents::ActorKind, 16))
                    .col(uuid(AuditEvents::ActorId))
                    .col(string_len(AuditEvents::Action, 64))
                    .col(string_len(AuditEvents::TargetKind, 32))
                    .col(uuid(AuditEvents::TargetId))
                    .col(string_len_null(AuditEvents::Detail, 512))
                    .col(string_len_null(AuditEvents::RequestId, 64))
                    .col(string_len_null(AuditEvents::ClientAddr, 64))
                    .col(timestamp_with_time_zone(AuditEvents::At))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_audit_events_org")
                            .from(AuditEvents::Table, AuditEvents::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_org_id")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::OrgId)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}
