//! The authentication epoch: one row whose counter every change to who may authenticate, or to
//! what they may do, increments in the same transaction (a session revoked, an account disabled
//! or renamed, a password changed, a key revoked, a member's role changed or removed, an
//! organization renamed or deleted). Each server process polls it, so the credentials it keeps
//! verified in memory are dropped when another process (a replica, the operator's CLI) changes them.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuthEpoch {
    Table,
    Id,
    Epoch,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthEpoch::Table)
                    .col(
                        ColumnDef::new(AuthEpoch::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuthEpoch::Epoch)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(AuthEpoch::Table)
                    .columns([AuthEpoch::Id, AuthEpoch::Epoch])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuthEpoch::Table).to_owned())
            .await
    }
}
