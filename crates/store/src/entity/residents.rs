//! `residents`: Inwoner. Personal fields are ciphertext under the resident's data key.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "residents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub network_id: Uuid,
    #[sea_orm(column_type = "Blob")]
    pub bsn_ciphertext: Vec<u8>,
    #[sea_orm(column_type = "Blob")]
    pub bsn_blind_index: Vec<u8>,
    pub bsn_index_key_version: i32,
    #[sea_orm(column_type = "Blob")]
    pub name_ciphertext: Vec<u8>,
    #[sea_orm(column_type = "Blob")]
    pub birth_date_ciphertext: Vec<u8>,
    #[sea_orm(column_type = "Blob")]
    pub contact_ciphertext: Option<Vec<u8>>,
    pub area: String,
    #[sea_orm(column_type = "Blob")]
    pub wrapped_dek: Option<Vec<u8>>,
    pub dek_kek_version: i32,
    pub status: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub erased_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
