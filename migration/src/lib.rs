//! The database schema of docent as sea-orm migrations, one file per migration, each with `up` and
//! `down`. They run at `docent-api serve` start (unless disabled) and with `docent-api migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_identity;
mod m20261126_000002_tenancy;
mod m20261126_000003_api_keys;
mod m20261126_000004_audit_events;
mod m20261126_000005_usage;
mod m20261126_000006_documents;
mod m20261126_000007_providers;
mod m20261126_000008_chat;
mod m20261201_000009_chunk_sections;
mod m20261202_000010_publishable_keys;
mod m20261202_000011_auth_epoch;

/// All migrations, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_identity::Migration),
            Box::new(m20261126_000002_tenancy::Migration),
            Box::new(m20261126_000003_api_keys::Migration),
            Box::new(m20261126_000004_audit_events::Migration),
            Box::new(m20261126_000005_usage::Migration),
            Box::new(m20261126_000006_documents::Migration),
            Box::new(m20261126_000007_providers::Migration),
            Box::new(m20261126_000008_chat::Migration),
            Box::new(m20261201_000009_chunk_sections::Migration),
            Box::new(m20261202_000010_publishable_keys::Migration),
            Box::new(m20261202_000011_auth_epoch::Migration),
        ]
    }
}
