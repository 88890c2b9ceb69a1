//! `break_glass`: Noodtoegang.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "break_glass")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub resident_id: Uuid,
    pub member_id: Uuid,
    pub organisation_id: Uuid,
    /// The role the member broke the glass in (`coach`, `provider-worker`); added by
    /// `m20261123_000006_break_glass`, null on a grant made before it (which grants nothing).
    pub role: Option<String>,
    /// The written reason, sealed under the resident's key (`store::sealed::BREAK_GLASS_REASON`).
    #[sea_orm(column_type = "Blob")]
    pub reason_ciphertext: Vec<u8>,
    pub started_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
