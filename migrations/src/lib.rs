//! The schema, as an ordered list of migrations. A migration that has shipped is never edited:
//! a change is a new migration. Every migration runs on SQLite and PostgreSQL alike.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_core;
mod m20261123_000002_audit_log;
mod m20261123_000003_auth;
mod m20261123_000004_erasure;
mod m20261123_000005_jsonb;
mod m20261123_000006_break_glass;
mod m20261123_000009_audit_purges;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_core::Migration),
            Box::new(m20261123_000002_audit_log::Migration),
            Box::new(m20261123_000003_auth::Migration),
            Box::new(m20261123_000004_erasure::Migration),
            Box::new(m20261123_000005_jsonb::Migration),
            Box::new(m20261123_000006_break_glass::Migration),
            Box::new(m20261123_000009_audit_purges::Migration),
        ]
    }
}
