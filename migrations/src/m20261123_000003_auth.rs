//! Authentication state that must be shared by every instance of the hub (issue 4): the hub's
//! token signing keys, sealed, and the console's sessions.
//!
//! `auth_key_sets` holds each key set (today one: `access-token-signing`) as a ciphertext sealed
//! under the auth key file's seal key, which never enters the database or its backups; a copy of
//! the database therefore holds no usable private key. `version` is a compare-and-set counter:
//! rotation writes `version + 1` only where `version` is what it read, and every instance polls
//! it to pick up a rotation within seconds. The public JWKS is stored beside it in the clear so
//! operators can see which keys are live without the seal key.
//!
//! `console_sessions` stores only the SHA-256 of a session id, never the id itself: a copy of
//! the table cannot be replayed as cookies. Rows are ended, not deleted, so a logout is visible.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("auth_key_sets")
                    .col(string_len("name", 64).primary_key())
                    .col(big_integer("version"))
                    .col(blob("sealed_keys"))
                    .col(text("public_jwks"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("console_sessions")
                    .col(string_len("id_hash", 64).primary_key())
                    .col(uuid("member_id"))
                    .col(json("amr"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    .col(timestamp_with_time_zone_null("ended_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_console_sessions_member_id")
                            .from("console_sessions", "member_id")
                            .to("members", "id")
                            .on_delete(ForeignKeyAction::Restrict)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_console_sessions_member_id")
                    .table("console_sessions")
                    .col("member_id")
                    .if_not_exists()
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["console_sessions", "auth_key_sets"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
