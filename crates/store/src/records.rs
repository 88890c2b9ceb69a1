//! Everything the access policy needs to know about residents, loaded in batches: their rows,
//! representatives, plans, care relations, consents, objections and break-the-glass grants.
//!
//! A fixed number of queries whatever the number of residents (one per table, `IN` lists), so a
//! page of 100 plans costs the same round trips as one. The rows stay rows: turning them into
//! the policy's facts is the API's job (the store does not know the policy).

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::StoreError;
use crate::entity::{
    break_glass, care_relations, consents, objections, organisation_networks, organisations, plans,
    representatives, residents,
};

/// One resident and everything about them that a decision may rest on.
#[derive(Clone, Debug)]
pub struct ResidentRecord {
    pub resident: residents::Model,
    pub representatives: Vec<Uuid>,
    pub plans: Vec<plans::Model>,
    pub care_relations: Vec<care_relations::Model>,
    pub consents: Vec<consents::Model>,
    pub objections: Vec<objections::Model>,
    pub break_glass: Vec<break_glass::Model>,
}

/// Loads the records of `ids` (unknown ids are simply absent from the map). Seven queries.
pub async fn load_records(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, ResidentRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids = ids.to_vec();
    let mut records: HashMap<Uuid, ResidentRecord> = residents::Entity::find()
        .filter(residents::Column::Id.is_in(ids.clone()))
        .all(conn)
        .await?
        .into_iter()
        .map(|resident| {
            (
                resident.id,
                ResidentRecord {
                    resident,
                    representatives: Vec::new(),
                    plans: Vec::new(),
                    care_relations: Vec::new(),
                    consents: Vec::new(),
                    objections: Vec::new(),
                    break_glass: Vec::new(),
                },
            )
        })
        .collect();
    if records.is_empty() {
        return Ok(records);
    }

    for row in representatives::Entity::find()
        .filter(representatives::Column::ResidentId.is_in(ids.clone()))
        .order_by_asc(representatives::Column::Id)
        .all(conn)
        .await?
    {
        if let Some(record) = records.get_mut(&row.resident_id) {
            record.representatives.push(row.id);
        }
    }
    for row in plans::Entity::find()
        .filter(plans::Column::ResidentId.is_in(ids.clone()))
        .order_by_asc(plans::Column::Id)
        .all(conn)
        .await?
    {
        if let Some(record) = records.get_mut(&row.resident_id) {
            record.plans.push(row);
        }
    }
    for row in care_relations::Entity::find()
        .filter(care_relations::Column::ResidentId.is_in(ids.clone()))
        .order_by_asc(care_relations::Column::Id)
        .all(conn)
        .await?
    {
        if let Some(record) = records.get_mut(&row.resident_id) {
            record.care_relations.push(row);
        }
    }
    for row in consents::Entity::find()
        .filter(consents::Column::ResidentId.is_in(ids.clone()))
        .order_by_asc(consents::Column::Id)
        .all(conn)
        .await?
    {
        if let Some(record) = records.get_mut(&row.resident_id) {
            record.consents.push(row);
        }
    }
    for row in objections::Entity::find()
        .filter(objections::Column::ResidentId.is_in(ids.clone()))
        .order_by_asc(objections::Column::Id)
        .all(conn)
        .await?
    {
        if let Some(record) = records.get_mut(&row.resident_id) {
            record.objections.push(row);
        }
    }
    for row in break_glass::Entity::find()
        .filter(break_glass::Column::ResidentId.is_in(ids))
        .order_by_asc(break_glass::Column::Id)
        .all(conn)
        .await?
    {
        if let Some(record) = records.get_mut(&row.resident_id) {
            record.break_glass.push(row);
        }
    }
    Ok(records)
}

/// An organisation with the networks it belongs to.
#[derive(Clone, Debug)]
pub struct OrganisationRecord {
    pub organisation: organisations::Model,
    pub networks: Vec<Uuid>,
}

/// Loads organisations with their networks. Two queries.
pub async fn load_organisations(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, OrganisationRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut records: HashMap<Uuid, OrganisationRecord> = organisations::Entity::find()
        .filter(organisations::Column::Id.is_in(ids.to_vec()))
        .all(conn)
        .await?
        .into_iter()
        .map(|organisation| {
            (
                organisation.id,
                OrganisationRecord {
                    organisation,
                    networks: Vec::new(),
                },
            )
        })
        .collect();
    for row in organisation_networks::Entity::find()
        .filter(organisation_networks::Column::OrganisationId.is_in(ids.to_vec()))
        .all(conn)
        .await?
    {
        if let Some(record) = records.get_mut(&row.organisation_id) {
            record.networks.push(row.network_id);
        }
    }
    Ok(records)
}
