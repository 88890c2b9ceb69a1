//! What the access policy needs, from what the store holds: the caller as a policy actor, a
//! resident and their facts (plan, care relations, consents, objections), and the audit entry
//! every read or write of resident data starts from. Shared by every resolver that touches
//! resident data.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use domain::{
    CareRelationId, CareRelationKind, Category, ConsentId, MemberId, NetworkId, ObjectionId,
    ObjectionKind, OrganisationId, OrganisationKind, PlanId, Purpose, ResidentId,
};
use policy::{
    Actor, CareParty, CareRelation, CategorySet, ClientActor, ClientScopes, Consent, Facts,
    Grantee, MemberActor, Objection, Organisation, OrganisationScope, PlanFacts, PurposeSet,
    RepresentativeId, Resident,
};
use store::entity::plans;
use store::records::{OrganisationRecord, ResidentRecord};
use uuid::Uuid;

use crate::ApiError;
use crate::caller::{Caller, CallerId};
use crate::context;

pub(crate) fn db(error: sea_orm::DbErr) -> ApiError {
    ApiError::Internal(store::StoreError::Database(error))
}

pub(crate) fn corrupt(what: String) -> ApiError {
    ApiError::Internal(store::StoreError::Corrupt(what))
}

pub(crate) fn audit_entry(
    caller: &Caller,
    actor: &Actor,
    purpose: Purpose,
    info: &context::RequestInfo,
    resident: ResidentId,
    plan: Uuid,
) -> audit::NewEntry {
    let audit_actor = match caller.id {
        CallerId::Member(id) => audit::Actor::Member(id),
        CallerId::Client(id) => audit::Actor::Client(id),
    };
    let mut entry = audit::NewEntry::new(
        audit::AuditAction::ResidentRead,
        audit_actor,
        audit::Outcome::Deny,
    );
    entry.organisation = Some(caller.organisation);
    entry.role = actor.role();
    entry.resident = Some(resident);
    entry.plan = Some(PlanId::from_uuid(plan));
    entry.purpose = Some(purpose);
    entry.request_id = info
        .request_id
        .as_deref()
        .and_then(|id| audit::Code::parse(id).ok());
    entry.source_address = info.source;
    if let CallerId::Client(id) = caller.id {
        entry.client = Some(id);
    }
    entry
}

/// The caller as the policy sees it.
pub(crate) fn actor(
    caller: &Caller,
    organisations: &HashMap<Uuid, OrganisationRecord>,
) -> Result<Actor, ApiError> {
    let organisation = organisations
        .get(&caller.organisation.as_uuid())
        .map(policy_organisation)
        .transpose()?
        .ok_or(ApiError::Forbidden)?;
    Ok(match caller.id {
        CallerId::Member(id) => Actor::Member(MemberActor {
            id,
            role: *caller.roles.first().ok_or(ApiError::Forbidden)?,
            organisation,
            active: true,
        }),
        CallerId::Client(id) => {
            let all_if = |scope: &str| {
                if caller.scopes.iter().any(|granted| granted == scope) {
                    CategorySet::all()
                } else {
                    CategorySet::EMPTY
                }
            };
            Actor::Client(ClientActor {
                id,
                organisation,
                scopes: ClientScopes {
                    read: all_if("plans:read"),
                    write: all_if("plans:write"),
                    purposes: caller.purposes.iter().copied().collect::<PurposeSet>(),
                },
                active: true,
            })
        }
    })
}

pub(crate) fn policy_organisation(record: &OrganisationRecord) -> Result<Organisation, ApiError> {
    let kind = OrganisationKind::parse(&record.organisation.kind).map_err(|_| {
        corrupt(format!(
            "organisation {}: kind {:?}",
            record.organisation.id, record.organisation.kind
        ))
    })?;
    Ok(Organisation {
        id: OrganisationId::from_uuid(record.organisation.id),
        kind,
        networks: record
            .networks
            .iter()
            .map(|id| NetworkId::from_uuid(*id))
            .collect(),
        active: record.organisation.status == domain::MemberStatus::Active.as_str(),
    })
}

pub(crate) fn policy_resident(record: &ResidentRecord, birth_date: NaiveDate) -> Resident {
    Resident {
        id: ResidentId::from_uuid(record.resident.id),
        birth_date,
        network: NetworkId::from_uuid(record.resident.network_id),
        representatives: record
            .representatives
            .iter()
            .map(|id| RepresentativeId(*id))
            .collect(),
    }
}

/// The stored rows about a resident, as the policy's facts.
///
/// Break-the-glass grants are not mapped yet: they cannot be created (no mutation), and their
/// table lacks the role a grant holds in; both come with the `breakGlass` mutation.
pub(crate) fn facts(
    record: &ResidentRecord,
    plan: &plans::Model,
    organisations: &HashMap<Uuid, OrganisationRecord>,
) -> Result<Facts, ApiError> {
    let kind_of = |id: Uuid| -> Result<OrganisationKind, ApiError> {
        let record = organisations
            .get(&id)
            .ok_or_else(|| corrupt(format!("organisation {id} missing")))?;
        Ok(policy_organisation(record)?.kind)
    };
    let plan_facts = PlanFacts {
        owning_organisation: OrganisationId::from_uuid(plan.owning_organisation_id),
        owning_organisation_kind: kind_of(plan.owning_organisation_id)?,
        coordinating_coach: plan.coordinating_member_id.map(MemberId::from_uuid),
    };
    // A care relation is with an organisation, and sometimes also names the member doing the
    // work (the coordinating coach); both are parties to it.
    let mut care_relations = Vec::new();
    for relation in record
        .care_relations
        .iter()
        .filter(|relation| relation.ended_at.is_none())
    {
        let kind = CareRelationKind::parse(&relation.kind)
            .map_err(|_| corrupt(format!("care relation {}: kind", relation.id)))?;
        let fact = |party| CareRelation {
            id: CareRelationId::from_uuid(relation.id),
            party,
            kind,
            from: relation.valid_from,
            until: relation.valid_until,
        };
        care_relations.push(fact(CareParty::Organisation(OrganisationId::from_uuid(
            relation.organisation_id,
        ))));
        if let Some(member) = relation.member_id {
            care_relations.push(fact(CareParty::Member(MemberId::from_uuid(member))));
        }
    }
    // A consent replaced by a newer version no longer counts; the history stays in the store.
    let superseded: Vec<Uuid> = record
        .consents
        .iter()
        .filter_map(|consent| consent.supersedes_id)
        .collect();
    let consents = record
        .consents
        .iter()
        .filter(|consent| !superseded.contains(&consent.id))
        .map(|consent| {
            let grantee = match (
                consent.grantee_organisation_id,
                consent.grantee_kind.as_deref(),
            ) {
                (Some(id), _) => Grantee::Organisation {
                    id: OrganisationId::from_uuid(id),
                    kind: kind_of(id)?,
                },
                (None, Some(kind)) => Grantee::OrganisationKind {
                    kind: OrganisationKind::parse(kind)
                        .map_err(|_| corrupt(format!("consent {}: grantee kind", consent.id)))?,
                    network: NetworkId::from_uuid(consent.grantee_network_id),
                },
                (None, None) => return Err(corrupt(format!("consent {}: no grantee", consent.id))),
            };
            Ok(Consent {
                id: ConsentId::from_uuid(consent.id),
                resident: ResidentId::from_uuid(consent.resident_id),
                grantee,
                categories: categories(&consent.categories, consent.id)?,
                purposes: purposes(&consent.purposes, consent.id)?,
                valid_from: consent.valid_from,
                valid_until: consent.valid_until.unwrap_or(DateTime::<Utc>::MAX_UTC),
                withdrawn_at: consent.withdrawn_at,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let objections = record
        .objections
        .iter()
        .map(|objection| {
            Ok(Objection {
                id: ObjectionId::from_uuid(objection.id),
                kind: ObjectionKind::parse(&objection.kind)
                    .map_err(|_| corrupt(format!("objection {}: kind", objection.id)))?,
                categories: categories(&objection.categories, objection.id)?,
                organisations: match objection.organisation_id {
                    Some(id) => OrganisationScope::Only(vec![OrganisationId::from_uuid(id)]),
                    None => OrganisationScope::Every,
                },
                from: objection.valid_from,
                until: objection.valid_until,
                lifted_at: objection.lifted_at,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Facts {
        plan: Some(plan_facts),
        care_relations,
        consents,
        objections,
        break_glass: Vec::new(),
    })
}

pub(crate) fn categories(json: &serde_json::Value, row: Uuid) -> Result<CategorySet, ApiError> {
    codes(json, row)?
        .iter()
        .map(|code| Category::parse(code).map_err(|_| corrupt(format!("row {row}: category"))))
        .collect()
}

pub(crate) fn purposes(json: &serde_json::Value, row: Uuid) -> Result<PurposeSet, ApiError> {
    codes(json, row)?
        .iter()
        .map(|code| Purpose::parse(code).map_err(|_| corrupt(format!("row {row}: purpose"))))
        .collect()
}

pub(crate) fn codes(json: &serde_json::Value, row: Uuid) -> Result<Vec<String>, ApiError> {
    serde_json::from_value(json.clone()).map_err(|_| corrupt(format!("row {row}: code list")))
}
