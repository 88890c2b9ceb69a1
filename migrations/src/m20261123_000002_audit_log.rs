//! The audit log of DESIGN §7: `audit_entries` (the Merkle leaves, one chain per writer start)
//! and `audit_checkpoints` (signed C2SP checkpoint notes).
//!
//! These tables must never have a foreign key to the core tables: the log outlives a resident's
//! erasure and a member's removal. They are append-only: triggers refuse UPDATE, DELETE (and on
//! PostgreSQL TRUNCATE), so the application cannot change history even by mistake; the
//! deployment additionally grants the application role INSERT and SELECT only. The column list
//! and the canonical encoding are documented in `docs/AUDIT.md`; the `wijkhub-audit` crate reads
//! and writes them by these exact names.

use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const ENTRIES: &str = "audit_entries";
const CHECKPOINTS: &str = "audit_checkpoints";

/// The search indexes: each equality column, then time and the chain position, so that a page
/// ordered newest first is read straight from the index.
const SEARCH_INDEXES: &[(&str, &[&str])] = &[
    (
        "ix_audit_entries_resident",
        &["resident_id", "occurred_at_us", "chain_id", "seq"],
    ),
    (
        "ix_audit_entries_actor",
        &["actor_id", "occurred_at_us", "chain_id", "seq"],
    ),
    (
        "ix_audit_entries_organisation",
        &["organisation_id", "occurred_at_us", "chain_id", "seq"],
    ),
    (
        "ix_audit_entries_client",
        &["client_id", "occurred_at_us", "chain_id", "seq"],
    ),
    (
        "ix_audit_entries_time",
        &["occurred_at_us", "chain_id", "seq"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ENTRIES)
                    .col(uuid("chain_id"))
                    .col(big_integer("seq"))
                    .col(small_integer("encoding_version"))
                    .col(big_integer("occurred_at_us"))
                    .col(string_len("action", 64))
                    .col(string_len("actor_kind", 16))
                    .col(uuid_null("actor_id"))
                    .col(string_len_null("on_behalf_of_id", 128))
                    .col(string_len_null("on_behalf_of_name", 800))
                    .col(uuid_null("organisation_id"))
                    .col(string_len_null("role", 32))
                    .col(uuid_null("resident_id"))
                    .col(uuid_null("plan_id"))
                    .col(uuid_null("section_id"))
                    .col(big_integer_null("revision"))
                    .col(string_len("categories_returned", 256))
                    .col(string_len("categories_denied", 256))
                    .col(string_len_null("purpose", 32))
                    .col(string_len_null("basis", 128))
                    .col(string_len("outcome", 16))
                    .col(string_len_null("reason", 128))
                    .col(text("checks"))
                    .col(string_len_null("request_id", 128))
                    .col(string_len_null("source_address", 64))
                    .col(uuid_null("client_id"))
                    .col(blob("leaf_hash"))
                    .primary_key(Index::create().col("chain_id").col("seq"))
                    .take(),
            )
            .await?;
        for (name, columns) in SEARCH_INDEXES {
            let mut index = Index::create();
            index.name(*name).table(ENTRIES).if_not_exists();
            for column in *columns {
                index.col(*column);
            }
            manager.create_index(index.take()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(CHECKPOINTS)
                    .col(pk_auto("id"))
                    .col(uuid("chain_id"))
                    .col(big_integer("tree_size"))
                    .col(blob("root_hash"))
                    .col(text("note"))
                    .col(big_integer("created_at_us"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_checkpoints_chain")
                    .table(CHECKPOINTS)
                    .col("chain_id")
                    .col("tree_size")
                    .if_not_exists()
                    .take(),
            )
            .await?;

        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                for table in [ENTRIES, CHECKPOINTS] {
                    for event in ["UPDATE", "DELETE"] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER {table}_no_{} BEFORE {event} ON {table} \
                             BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
                            event.to_lowercase()
                        ))
                        .await?;
                    }
                }
            }
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION wijkhub_audit_append_only() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                     RAISE EXCEPTION '% is append-only', TG_TABLE_NAME \
                     USING ERRCODE = 'insufficient_privilege'; END $$",
                )
                .await?;
                for table in [ENTRIES, CHECKPOINTS] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} \
                         FOR EACH ROW EXECUTE FUNCTION wijkhub_audit_append_only()"
                    ))
                    .await?;
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} \
                         FOR EACH STATEMENT EXECUTE FUNCTION wijkhub_audit_append_only()"
                    ))
                    .await?;
                }
            }
            _ => {
                return Err(DbErr::Migration(
                    "the audit log supports SQLite and PostgreSQL only".into(),
                ));
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Dropping a table drops its triggers on both backends.
        for table in [CHECKPOINTS, ENTRIES] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS wijkhub_audit_append_only()")
                .await?;
        }
        Ok(())
    }
}
