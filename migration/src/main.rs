//! The sea-orm migration CLI for docent's schema (`cargo run -p docent-migration --features cli`).
//! Operators normally use `docent-api migrate` instead.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(docent_migration::Migrator).await;
}
