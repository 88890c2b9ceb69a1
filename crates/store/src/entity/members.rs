//! `members`: Medewerker. Credential columns are [`Redacted`](crate::Redacted) so they never print.

use sea_orm::entity::prelude::*;

use crate::Redacted;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub name: String,
    pub email: String,
    pub roles: Json,
    pub password_hash: Option<Redacted>,
    #[sea_orm(column_type = "Blob")]
    pub totp_secret_ciphertext: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub recovery_code_hashes: Option<Json>,
    pub failed_logins: i32,
    pub locked_until: Option<DateTimeUtc>,
    pub status: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
