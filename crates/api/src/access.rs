//! What the access policy needs, from what the store holds: the caller as a policy actor, a
//! resident and their facts (plan, care relations, consents, objections), and the audit entry
//! every read or write of resident data starts from. Shared by every resolver that touches
//! resident data.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use chrono::{DateTime, NaiveDate, Utc};
use crypto::Dek;
use domain::{
    BreakGlassId, CareRelationId, CareRelationKind, Category, ConsentId, MemberId, NetworkId,
    ObjectionId, ObjectionKind, OrganisationId, OrganisationKind, PlanId, Purpose, ResidentId,
    Role,
};
use policy::DenyReason;
use policy::{
    Actor, ActorId, BreakGlassGrant, CareParty, CareRelation, CategorySet, ClientActor,
    ClientScopes, Consent, Facts, Grantee, MemberActor, Objection, Organisation, OrganisationScope,
    PlanFacts, PurposeSet, RepresentativeId, Resident,
};
use sea_orm::EntityTrait;
use store::entity::{consents, objections, plans};
use store::records::{self, OrganisationRecord, ResidentRecord};
use store::sealed;
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

/// A new audit entry of `action` by `caller`: who asked (member or partner system, their
/// organisation, the client) and where the request came from (request id, source address).
/// Outcome `deny` until the caller says otherwise; the rest is the caller's to fill in.
pub(crate) fn caller_entry(
    action: audit::AuditAction,
    caller: &Caller,
    info: &context::RequestInfo,
) -> audit::NewEntry {
    let audit_actor = match caller.id {
        CallerId::Member(id) => audit::Actor::Member(id),
        CallerId::Client(id) => audit::Actor::Client(id),
    };
    let mut entry = audit::NewEntry::new(action, audit_actor, audit::Outcome::Deny);
    entry.organisation = Some(caller.organisation);
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

pub(crate) fn audit_entry(
    caller: &Caller,
    actor: &Actor,
    purpose: Purpose,
    info: &context::RequestInfo,
    resident: ResidentId,
    plan: Uuid,
) -> audit::NewEntry {
    let mut entry = caller_entry(audit::AuditAction::ResidentRead, caller, info);
    entry.role = actor.role();
    entry.resident = Some(resident);
    entry.plan = Some(PlanId::from_uuid(plan));
    entry.purpose = Some(purpose);
    entry
}

/// What every resolver about resident data starts from. Asked of the request in this order, so
/// the first one missing is the answer: the caller (`UNAUTHENTICATED`), the declared purpose
/// (`PURPOSE_REQUIRED`), the services; then where the request came from, and its moment.
pub(crate) struct ResidentRequest<'a> {
    pub(crate) caller: &'a Caller,
    pub(crate) purpose: Purpose,
    pub(crate) services: &'a context::Services,
    pub(crate) info: context::RequestInfo,
    pub(crate) now: DateTime<Utc>,
}

impl<'a> ResidentRequest<'a> {
    pub(crate) fn new(ctx: &Context<'a>) -> Result<ResidentRequest<'a>, ApiError> {
        let caller = crate::caller(ctx)?;
        let purpose = context::purpose(ctx)?;
        let services = context::services(ctx)?;
        Ok(ResidentRequest {
            caller,
            purpose,
            services,
            info: context::request_info(ctx),
            now: Utc::now(),
        })
    }

    /// The audit entry of this request about `subject` (their plan), under `action`.
    pub(crate) fn audit_entry(
        &self,
        subject: &Subject,
        action: audit::AuditAction,
    ) -> audit::NewEntry {
        let mut entry = audit_entry(
            self.caller,
            &subject.actor,
            self.purpose,
            &self.info,
            subject.resident_id,
            subject.plan.id,
        );
        entry.action = action;
        entry
    }
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
/// A break-the-glass grant counts until it expires or is ended, whichever is first; a grant
/// without a role (made before roles were stored) stands in for nothing.
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
        .map(|consent| consent_fact(consent, organisations))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let objections = record
        .objections
        .iter()
        .map(objection_fact)
        .collect::<Result<Vec<_>, ApiError>>()?;
    let mut break_glass = Vec::new();
    for grant in &record.break_glass {
        let Some(role) = grant.role.as_deref() else {
            continue;
        };
        let role = Role::parse(role)
            .map_err(|_| corrupt(format!("break-the-glass grant {}: role", grant.id)))?;
        break_glass.push(BreakGlassGrant {
            id: BreakGlassId::from_uuid(grant.id),
            resident: ResidentId::from_uuid(grant.resident_id),
            holder: ActorId::Member(MemberId::from_uuid(grant.member_id)),
            organisation: OrganisationId::from_uuid(grant.organisation_id),
            role,
            from: grant.started_at,
            until: grant
                .ended_at
                .map_or(grant.expires_at, |ended| ended.min(grant.expires_at)),
        });
    }
    Ok(Facts {
        plan: Some(plan_facts),
        care_relations,
        consents,
        objections,
        break_glass,
    })
}

/// One stored objection or restriction as the policy's fact.
pub(crate) fn objection_fact(objection: &objections::Model) -> Result<Objection, ApiError> {
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

/// One stored consent as the policy's fact.
pub(crate) fn consent_fact(
    consent: &consents::Model,
    organisations: &HashMap<Uuid, OrganisationRecord>,
) -> Result<Consent, ApiError> {
    let grantee = match (
        consent.grantee_organisation_id,
        consent.grantee_kind.as_deref(),
    ) {
        (Some(id), _) => Grantee::Organisation {
            id: OrganisationId::from_uuid(id),
            kind: organisations
                .get(&id)
                .map(policy_organisation)
                .transpose()?
                .ok_or_else(|| corrupt(format!("consent {}: grantee missing", consent.id)))?
                .kind,
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
}

/// Deny reasons that mean the caller may not know the resident or plan exists: such a refusal
/// answers exactly like a missing object (`NOT_FOUND`).
pub(crate) fn need_to_know(reason: Option<DenyReason>) -> bool {
    matches!(
        reason,
        Some(
            DenyReason::NoCareRelation
                | DenyReason::OrganisationNotInNetwork
                | DenyReason::InactiveActor
                | DenyReason::InactiveOrganisation
                | DenyReason::NoClientRole
                | DenyReason::RoleOrganisationMismatch
        )
    )
}

/// A resident and one of their plans as one request sees them: the stored record, the caller
/// as the policy's actor, the resident's data key, and the policy's resident and facts.
pub(crate) struct Subject {
    pub(crate) record: ResidentRecord,
    pub(crate) plan: plans::Model,
    /// The caller's, the plan owner's, every consent grantee's and every care relation's
    /// organisation, with their networks.
    pub(crate) organisations: HashMap<Uuid, OrganisationRecord>,
    pub(crate) actor: Actor,
    pub(crate) resident_id: ResidentId,
    pub(crate) dek: Arc<Dek>,
    pub(crate) resident: Resident,
    pub(crate) facts: Facts,
    /// The caller's organisation owns the plan (the wijkteam on its statutory task).
    pub(crate) caller_owns_plan: bool,
}

/// The subject of a request about plan `plan_id`; `NOT_FOUND` for no plan or an erased
/// resident.
pub(crate) async fn plan_subject(
    services: &context::Services,
    caller: &Caller,
    plan_id: Uuid,
) -> Result<Subject, ApiError> {
    let conn = services.db.conn();
    let plan = plans::Entity::find_by_id(plan_id)
        .one(conn)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)?;
    let record = active_record(services, plan.resident_id).await?;
    subject(services, caller, record, plan, &[]).await
}

/// The subject of a request about resident `resident` and their open plan (else their first);
/// `NOT_FOUND` for no resident, an erased one, or one without a plan. `extra_organisations` are
/// loaded too (e.g. the grantee of a consent being recorded).
pub(crate) async fn resident_subject(
    services: &context::Services,
    caller: &Caller,
    resident: Uuid,
    extra_organisations: &[Uuid],
) -> Result<Subject, ApiError> {
    let record = active_record(services, resident).await?;
    let plan = record
        .plans
        .iter()
        .find(|plan| plan.status != domain::PlanStatus::Closed.as_str())
        .or_else(|| record.plans.first())
        .cloned()
        .ok_or(ApiError::NotFound)?;
    subject(services, caller, record, plan, extra_organisations).await
}

pub(crate) async fn active_record(
    services: &context::Services,
    resident: Uuid,
) -> Result<ResidentRecord, ApiError> {
    let record = records::load_records(services.db.conn(), &[resident])
        .await?
        .remove(&resident)
        .ok_or(ApiError::NotFound)?;
    if record.resident.status == domain::ResidentStatus::Erased.as_str() {
        return Err(ApiError::NotFound);
    }
    Ok(record)
}

/// The organisations a resident's record names, which the policy's facts need loaded: every
/// consent's grantee organisation and every care relation's organisation (ended ones too).
pub(crate) fn named_organisations(record: &ResidentRecord) -> impl Iterator<Item = Uuid> + '_ {
    let grantees = record
        .consents
        .iter()
        .filter_map(|consent| consent.grantee_organisation_id);
    let care_parties = record
        .care_relations
        .iter()
        .map(|relation| relation.organisation_id);
    grantees.chain(care_parties)
}

/// The subject of a request about `plan` of the resident `record`; the plan need not be stored
/// yet (`createPlan` asks about the plan it is about to make).
pub(crate) async fn subject(
    services: &context::Services,
    caller: &Caller,
    record: ResidentRecord,
    plan: plans::Model,
    extra_organisations: &[Uuid],
) -> Result<Subject, ApiError> {
    let mut organisation_ids = vec![caller.organisation.as_uuid(), plan.owning_organisation_id];
    organisation_ids.extend(named_organisations(&record));
    organisation_ids.extend_from_slice(extra_organisations);
    let organisations = records::load_organisations(services.db.conn(), &organisation_ids).await?;
    let actor = actor(caller, &organisations)?;
    let resident_id = ResidentId::from_uuid(record.resident.id);
    let wrapped = record
        .resident
        .wrapped_dek
        .as_deref()
        .ok_or(ApiError::NotFound)?;
    let dek = services.deks.unwrap(&services.keys, wrapped, resident_id)?;
    // Only the birth date: the policy's age rules need it; nothing else is decrypted here.
    let birth_date = sealed::open_birth_date(&dek, &record.resident)?;
    let resident = policy_resident(&record, birth_date);
    let facts = facts(&record, &plan, &organisations)?;
    let caller_owns_plan = plan.owning_organisation_id == caller.organisation.as_uuid();
    Ok(Subject {
        record,
        plan,
        organisations,
        actor,
        resident_id,
        dek,
        resident,
        facts,
        caller_owns_plan,
    })
}

impl Subject {
    /// Need to know (`policy::knows_resident`): a care relation valid now links the caller's
    /// organisation (or the member themself) to the resident, in the resident's network.
    pub(crate) fn caller_knows_resident(&self, now: DateTime<Utc>) -> bool {
        policy::knows_resident(&self.actor, &self.resident, &self.facts, now)
    }
}
