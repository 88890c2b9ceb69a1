//! `section_revisions`: One revision of a section's content (never overwritten).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "section_revisions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub section_id: Uuid,
    pub revision: i64,
    #[sea_orm(column_type = "Blob")]
    pub content_ciphertext: Vec<u8>,
    pub author_organisation_id: Uuid,
    pub author_member_id: Option<Uuid>,
    pub author_client_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
