//! Retention purges of the audit log (docs/AUDIT.md §8): `audit_purges` records, per chain, that
//! the prefix `[0, purged_below)` was removed, with the signed checkpoint of that size and the
//! Merkle frontier of the removed prefix, so that `verify` still checks the rest of the chain.
//!
//! The append-only guard on `audit_entries` is narrowed, not lifted: a DELETE passes only for a
//! row that a recorded purge covers (`seq < purged_below` of its chain); every other DELETE and
//! every UPDATE is still refused, and `audit_purges` itself is append-only. The trigger names stay
//! those of the audit migration. A purge record is checked by `verify` (signature, frontier root,
//! the `audit.purged` entry naming it), so inserting a forged one to delete history is caught.

use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const PURGES: &str = "audit_purges";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PURGES)
                    .col(pk_auto("id"))
                    .col(uuid("chain_id"))
                    .col(big_integer("purged_below"))
                    .col(blob("frontier"))
                    .col(text("checkpoint_note"))
                    .col(big_integer("cut_before_us"))
                    .col(big_integer("purged_at_us"))
                    // Where the purge's own `audit.purged` entry is.
                    .col(uuid("entry_chain_id"))
                    .col(big_integer("entry_seq"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_purges_chain")
                    .table(PURGES)
                    .col("chain_id")
                    .col("purged_below")
                    .if_not_exists()
                    .take(),
            )
            .await?;

        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                // One call, so the drop and the new guard run on one connection, back to back.
                db.execute_unprepared(
                    "DROP TRIGGER IF EXISTS audit_entries_no_delete; \
                     CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries \
                     WHEN NOT EXISTS (SELECT 1 FROM audit_purges p \
                       WHERE p.chain_id = OLD.chain_id AND OLD.seq < p.purged_below) \
                     BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
                )
                .await?;
                for event in ["UPDATE", "DELETE"] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {PURGES}_no_{} BEFORE {event} ON {PURGES} \
                         BEGIN SELECT RAISE(ABORT, '{PURGES} is append-only'); END",
                        event.to_lowercase()
                    ))
                    .await?;
                }
            }
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION wijkhub_audit_entries_guard() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                     IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_purges p \
                       WHERE p.chain_id = OLD.chain_id AND OLD.seq < p.purged_below) THEN \
                       RETURN OLD; \
                     END IF; \
                     RAISE EXCEPTION '% is append-only', TG_TABLE_NAME \
                     USING ERRCODE = 'insufficient_privilege'; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "DROP TRIGGER IF EXISTS audit_entries_no_update_delete ON audit_entries",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_entries_no_update_delete BEFORE UPDATE OR DELETE \
                     ON audit_entries FOR EACH ROW EXECUTE FUNCTION wijkhub_audit_entries_guard()",
                )
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER {PURGES}_no_update_delete BEFORE UPDATE OR DELETE ON {PURGES} \
                     FOR EACH ROW EXECUTE FUNCTION wijkhub_audit_append_only()"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER {PURGES}_no_truncate BEFORE TRUNCATE ON {PURGES} \
                     FOR EACH STATEMENT EXECUTE FUNCTION wijkhub_audit_append_only()"
                ))
                .await?;
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
        let db = manager.get_connection();
        // Back to the unconditional guard of the audit migration.
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                db.execute_unprepared(
                    "DROP TRIGGER IF EXISTS audit_entries_no_delete; \
                     CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries \
                     BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
                )
                .await?;
            }
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "DROP TRIGGER IF EXISTS audit_entries_no_update_delete ON audit_entries",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_entries_no_update_delete BEFORE UPDATE OR DELETE \
                     ON audit_entries FOR EACH ROW EXECUTE FUNCTION wijkhub_audit_append_only()",
                )
                .await?;
                db.execute_unprepared("DROP FUNCTION IF EXISTS wijkhub_audit_entries_guard()")
                    .await?;
            }
            _ => {}
        }
        manager
            .drop_table(Table::drop().table(PURGES).if_exists().take())
            .await
    }
}
