//! JSON columns become `jsonb` on PostgreSQL. Plain `json` has no equality operator there, so a
//! compare-and-set on a JSON column (a member's remaining recovery codes) failed with "operator
//! does not exist: json = jsonb"; `jsonb` compares by value and can be indexed. SQLite keeps
//! JSON as text, where equality already works: nothing changes there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every JSON column the earlier migrations created, as (table, column).
const JSON_COLUMNS: &[(&str, &str)] = &[
    ("networks", "areas"),
    ("members", "roles"),
    ("members", "recovery_code_hashes"),
    ("clients", "scopes"),
    ("clients", "purposes"),
    ("consents", "given_by_representative_ids"),
    ("consents", "categories"),
    ("consents", "purposes"),
    ("objections", "categories"),
    ("console_sessions", "amr"),
];

async fn retype(manager: &SchemaManager<'_>, to: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for (table, column) in JSON_COLUMNS {
        db.execute_unprepared(&format!(
            "ALTER TABLE \"{table}\" ALTER COLUMN \"{column}\" TYPE {to} USING \"{column}\"::{to}"
        ))
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        retype(manager, "jsonb").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        retype(manager, "json").await
    }
}
