//! `auth_key_sets`: the hub's signing key sets, sealed under the auth key file's seal key.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_key_sets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Compare-and-set counter: every change writes `version + 1`.
    pub version: i64,
    /// Ciphertext (AES-256-GCM under the seal key); useless without the key file.
    #[sea_orm(column_type = "Blob")]
    pub sealed_keys: Vec<u8>,
    /// The public keys (JWKS), readable without the seal key.
    pub public_jwks: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
