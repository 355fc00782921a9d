//! Documents, their chunks, and the job queue (the transactional outbox of ingestion and purges).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, integer, integer_null, pk_uuid, string_len, string_len_null, text, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::m20261126_000002_tenancy::Organizations;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Documents {
    Table,
    Id,
    OrgId,
    Title,
    FileName,
    MediaType,
    SizeBytes,
    Checksum,
    Tags,
    Status,
    ChunksDone,
    ChunksTotal,
    ErrorCode,
    ErrorMessage,
    ChunkCount,
    EmbeddingModel,
    CreatedByKind,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DocumentChunks {
    Table,
    DocumentId,
    Ordinal,
    OrgId,
    Text,
    CharStart,
    CharEnd,
    Page,
    TokenCount,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    OrgId,
    Kind,
    DocumentId,
    State,
    Attempts,
    RunAt,
    LeaseToken,
    LeaseOwner,
    LeaseUntil,
    ClaimedAt,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Documents::Table)
                    .col(pk_uuid(Documents::Id))
                    .col(uuid(Documents::OrgId))
                    .col(string_len(Documents::Title, 300))
                    .col(text_null(Documents::FileName))
                    .col(string_len(Documents::MediaType, 100))
                    .col(big_integer(Documents::SizeBytes))
                    .col(string_len(Documents::Checksum, 64))
                    // Tags separated and surrounded by single spaces (tags contain none), so a tag
                    // filter is one LIKE.
                    .col(text(Documents::Tags))
                    .col(string_len(Documents::Status, 16))
                    .col(integer(Documents::ChunksDone))
                    .col(integer(Documents::ChunksTotal))
                    .col(string_len_null(Documents::ErrorCode, 64))
                    .col(text_null(Documents::ErrorMessage))
                    .col(integer(Documents::ChunkCount))
                    .col(string_len_null(Documents::EmbeddingModel, 200))
                    .col(string_len(Documents::CreatedByKind, 8))
                    .col(uuid(Documents::CreatedBy))
                    .col(timestamp_with_time_zone(Documents::CreatedAt))
                    .col(timestamp_with_time_zone(Documents::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_documents_org")
                            .from(Documents::Table, Documents::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_documents_org_checksum")
                    .table(Documents::Table)
                    .col(Documents::OrgId)
                    .col(Documents::Checksum)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_documents_org_status")
                    .table(Documents::Table)
                    .col(Documents::OrgId)
                    .col(Documents::Status)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DocumentChunks::Table)
                    .col(uuid(DocumentChunks::DocumentId))
                    .col(integer(DocumentChunks::Ordinal))
                    .col(uuid(DocumentChunks::OrgId))
                    .col(text(DocumentChunks::Text))
                    .col(big_integer(DocumentChunks::CharStart))
                    .col(big_integer(DocumentChunks::CharEnd))
                    .col(integer_null(DocumentChunks::Page))
                    .col(integer(DocumentChunks::TokenCount))
                    .primary_key(
                        Index::create()
                            .name("pk_document_chunks")
                            .col(DocumentChunks::DocumentId)
                            .col(DocumentChunks::Ordinal),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_document_chunks_document")
                            .from(DocumentChunks::Table, DocumentChunks::DocumentId)
                            .to(Documents::Table, Documents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // No foreign keys: a purge job outlives its document (and its organization).
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .col(pk_uuid(Jobs::Id))
                    .col(uuid(Jobs::OrgId))
                    .col(string_len(Jobs::Kind, 16))
                    .col(uuid(Jobs::DocumentId))
                    // pending → done | dead
                    .col(string_len(Jobs::State, 16))
                    .col(integer(Jobs::Attempts))
                    .col(timestamp_with_time_zone(Jobs::RunAt))
                    .col(uuid_null(Jobs::LeaseToken))
                    .col(string_len_null(Jobs::LeaseOwner, 200))
                    .col(timestamp_with_time_zone_null(Jobs::LeaseUntil))
                    .col(timestamp_with_time_zone_null(Jobs::ClaimedAt))
                    .col(text_null(Jobs::LastError))
                    .col(timestamp_with_time_zone(Jobs::CreatedAt))
                    .col(timestamp_with_time_zone(Jobs::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_runnable")
                    .table(Jobs::Table)
                    .col(Jobs::State)
                    .col(Jobs::RunAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_org_claimed")
                    .table(Jobs::Table)
                    .col(Jobs::OrgId)
                    .col(Jobs::ClaimedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_jobs_document")
                    .table(Jobs::Table)
                    .col(Jobs::DocumentId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Jobs::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DocumentChunks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Documents::Table).to_owned())
            .await
    }
}
