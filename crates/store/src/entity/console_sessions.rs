//! `console_sessions`: a member's console session, stored by the SHA-256 of its id only.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "console_sessions")]
pub struct Model {
    /// SHA-256 of the cookie value, 64 hex digits. Not the cookie: a table copy replays nothing.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub member_id: Uuid,
    /// RFC 8176 methods of the login: `["pwd"]` or `["pwd","otp"]`.
    pub amr: Json,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
