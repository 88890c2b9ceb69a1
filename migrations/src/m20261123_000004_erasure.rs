//! Erasure by crypto-shredding (issue 6): the kind of each plan, which sets how long the file must
//! be kept, and a tombstone per erased resident saying who erased them, when, and on what ground.
//!
//! Erasing destroys the resident's wrapped data key in `residents.wrapped_dek`; the ciphertexts
//! stay where they are, unreadable by any key the system holds. The tombstone holds no personal
//! data, like the audit trail, which stays.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The legal frame of the support, which sets the retention period: `wmo`, `jeugd`, ...
        // Existing plans are Wmo support, the wijkteam's general task.
        manager
            .alter_table(
                Table::alter()
                    .table("plans")
                    .add_column(string_len("kind", 32).default("wmo"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("erasures")
                    .col(pk_uuid("id"))
                    .col(uuid_uniq("resident_id"))
                    .col(timestamp_with_time_zone("erased_at"))
                    // `member:<uuid>` or `cli:<operating-system user>`.
                    .col(string_len("erased_by", 128))
                    // Free text of the operator: the request or decision it follows. No personal data.
                    .col(text("ground"))
                    // The date the longest retention period of the resident's plans ended.
                    .col(timestamp_with_time_zone("retention_ended_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_erasures_resident_id")
                            .from("erasures", "resident_id")
                            .to("residents", "id")
                            .on_delete(ForeignKeyAction::Restrict)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("erasures").take())
            .await?;
        manager
            .alter_table(Table::alter().table("plans").drop_column("kind").take())
            .await
    }
}
