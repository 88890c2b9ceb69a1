//! `clients`: Partner system (OAuth2 client). The secret is stored only as a hash.

use sea_orm::entity::prelude::*;

use crate::Redacted;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<Redacted>,
    pub public_key_jwk: Option<String>,
    pub scopes: Json,
    pub purposes: Json,
    pub status: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
