//! `consents`: Toestemming, one version of it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "consents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub resident_id: Uuid,
    pub version: i32,
    pub supersedes_id: Option<Uuid>,
    pub given_by: String,
    pub given_by_representative_ids: Json,
    pub grantee_organisation_id: Option<Uuid>,
    pub grantee_kind: Option<String>,
    pub grantee_network_id: Uuid,
    pub categories: Json,
    pub purposes: Json,
    pub valid_from: DateTimeUtc,
    pub valid_until: Option<DateTimeUtc>,
    pub evidence_kind: String,
    #[sea_orm(column_type = "Blob")]
    pub evidence_ciphertext: Option<Vec<u8>>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTimeUtc,
    pub withdrawn_at: Option<DateTimeUtc>,
    pub withdrawn_by: Option<Uuid>,
    #[sea_orm(column_type = "Blob")]
    pub withdrawal_reason_ciphertext: Option<Vec<u8>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
