//! The heading path of each chunk ("Installation › Upgrading"), shown with search results and
//! citations. Chunks stored before it have none until their document is processed again.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DocumentChunks {
    Table,
    Section,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DocumentChunks::Table)
                    .add_column(ColumnDef::new(DocumentChunks::Section).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DocumentChunks::Table)
                    .drop_column(DocumentChunks::Section)
                    .to_owned(),
            )
            .await
    }
}
