//! `erasures`: the tombstone of a crypto-shredded resident: who erased them, when, on what
//! ground. Holds no personal data.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "erasures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub resident_id: Uuid,
    pub erased_at: DateTimeUtc,
    pub erased_by: String,
    #[sea_orm(column_type = "Text")]
    pub ground: String,
    pub retention_ended_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
