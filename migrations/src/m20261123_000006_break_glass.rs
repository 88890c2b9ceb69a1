//! Break-the-glass grants record the role their holder broke the glass in: the policy lets a
//! grant stand in for a care relation only for that role (`policy::BreakGlassGrant::role`), and
//! the privacy officer reviews it.
//!
//! Nullable because SQLite cannot add a NOT NULL column without a default, and no default role
//! is right: a grant without a role (none could be made before this step) stands in for nothing.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("break_glass")
                    .add_column(string_len_null("role", 32))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("break_glass")
                    .drop_column("role")
                    .take(),
            )
            .await
    }
}
