//! Bezwaar (GDPR art. 21) and beperking (art. 18) through GraphQL: `recordObjection` and
//! `liftObjection`. An objection denies whatever else permits (`policy::decide`, rule 4), for the
//! categories and the organisation (or every organisation) it names, from its start until it ends
//! or is lifted.
//!
//! The rules are the policy crate's: who may record (`policy::may_record`, a coach of the wijkteam
//! that owns the plan) and what is valid (`validate_objection`, `validate_lift`). This module
//! translates, seals the reason under the resident's key, and audits before the answer; it must
//! never write a row the policy did not validate, nor answer before its audit entry is durable.

use async_graphql::{Context, ErrorExtensions, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::{Category, ObjectionKind, OrganisationId, ResidentId};
use policy::{ObjectionDraft, OrganisationScope, Recording};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use secrecy::ExposeSecret;
use serde_json::json;
use store::entity::objections;
use store::sealed;
use uuid::Uuid;

use crate::ApiError;
use crate::access::{ResidentRequest, Subject, categories, db, objection_fact, resident_subject};
use crate::consents::{authorise_write, bad, parse_uuid, policy_error, write_audited};

/// The longest reason kept with an objection, in characters.
const MAX_REASON_CHARS: usize = 2000;

/// An objection or restriction, as the wijkteam that owns the plan sees it.
#[derive(SimpleObject)]
#[graphql(name = "Objection")]
pub struct ObjectionView {
    pub id: ID,
    pub resident_id: ID,
    /// `objection` (art. 21) or `restriction` (art. 18).
    pub kind: String,
    /// The parts of the plan it takes out.
    pub categories: Vec<String>,
    /// The organisation it is against; null: every organisation.
    pub organisation_id: Option<ID>,
    pub valid_from: DateTime<Utc>,
    /// Null: until lifted.
    pub valid_until: Option<DateTime<Utc>>,
    /// Why, if the resident said; sealed under the resident's key.
    pub reason: Option<String>,
    pub recorded_by: ID,
    pub recorded_at: DateTime<Utc>,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<ID>,
    /// `active`, `not-yet-valid`, `ended` or `lifted`.
    pub status: String,
}

/// An objection or restriction as the coach records it.
#[derive(InputObject)]
pub struct RecordObjectionInput {
    pub resident_id: ID,
    /// `objection` (bezwaar, art. 21) or `restriction` (beperking, art. 18).
    pub kind: String,
    /// The parts of the plan it covers (at least one).
    pub categories: Vec<String>,
    /// The organisation it is against; absent: every organisation.
    pub organisation_id: Option<ID>,
    /// Default: now.
    pub valid_from: Option<DateTime<Utc>>,
    /// Absent: until lifted.
    pub valid_until: Option<DateTime<Utc>>,
    /// Why, if the resident wants to say (at most 2000 characters); sealed under their key.
    pub reason: Option<String>,
}

/// Lifting (opheffen) an objection of this resident.
#[derive(InputObject)]
pub struct LiftObjectionInput {
    /// The resident whose record the coach is keeping; the objection must be theirs.
    pub resident_id: ID,
    pub objection_id: ID,
}

#[derive(Default)]
pub struct ObjectionMutations;

#[Object]
impl ObjectionMutations {
    /// Records an objection (art. 21) or restriction (art. 18): it denies whatever else permits.
    /// Only a coach of the wijkteam that owns the plan. Validated by the policy; audited
    /// (`objection.recorded`) before the answer.
    async fn record_objection(
        &self,
        ctx: &Context<'_>,
        input: RecordObjectionInput,
    ) -> async_graphql::Result<ObjectionView> {
        record_objection(ctx, input)
            .await
            .map_err(|error| error.extend())
    }

    /// Lifts an objection at once; the record stays. Only a coach of the owning wijkteam; audited
    /// (`objection.lifted`) before the answer.
    async fn lift_objection(
        &self,
        ctx: &Context<'_>,
        input: LiftObjectionInput,
    ) -> async_graphql::Result<ObjectionView> {
        lift_objection(ctx, input)
            .await
            .map_err(|error| error.extend())
    }
}

async fn record_objection(
    ctx: &Context<'_>,
    input: RecordObjectionInput,
) -> Result<ObjectionView, ApiError> {
    let request = ResidentRequest::new(ctx)?;
    let (services, now) = (request.services, request.now);
    let resident = parse_uuid(&input.resident_id).ok_or(ApiError::NotFound)?;
    let organisation = match &input.organisation_id {
        Some(id) => Some(parse_uuid(id).ok_or_else(|| bad("unknown organisation"))?),
        None => None,
    };
    let loaded =
        resident_subject(services, request.caller, resident, organisation.as_slice()).await?;
    let (member, basis, mut entry) = authorise_write(
        &request,
        &loaded,
        Recording::Objection,
        audit::AuditAction::ObjectionRecorded,
    )
    .await?;

    // Translate the input; the policy judges it.
    let kind = ObjectionKind::parse(&input.kind).map_err(|_| bad("unknown objection kind"))?;
    let category_set = input
        .categories
        .iter()
        .map(|code| Category::parse(code).map_err(|_| bad("unknown category")))
        .collect::<Result<policy::CategorySet, _>>()?;
    let organisations = match organisation {
        Some(id) if loaded.organisations.contains_key(&id) => {
            OrganisationScope::Only(vec![OrganisationId::from_uuid(id)])
        }
        Some(_) => return Err(bad("unknown organisation")),
        None => OrganisationScope::Every,
    };
    let reason = input
        .reason
        .map(|reason| reason.trim().to_owned())
        .filter(|reason| !reason.is_empty());
    if reason
        .as_ref()
        .is_some_and(|reason| reason.chars().count() > MAX_REASON_CHARS)
    {
        return Err(bad("the reason is longer than 2000 characters"));
    }
    let valid = policy::validate_objection(
        ObjectionDraft {
            resident: loaded.resident_id,
            kind,
            categories: category_set,
            organisations,
            from: input.valid_from.unwrap_or(now),
            until: input.valid_until,
            recorded_by: member,
        },
        &loaded.resident,
    )
    .map_err(|error| policy_error(&error))?;
    let draft = valid.get();

    let id = Uuid::now_v7();
    let reason_ciphertext = reason
        .as_deref()
        .map(|reason| {
            sealed::seal_text(
                &loaded.dek,
                sealed::OBJECTION_REASON,
                id,
                loaded.resident_id,
                reason,
            )
        })
        .transpose()?;
    let row = objections::ActiveModel {
        id: Set(id),
        resident_id: Set(resident),
        kind: Set(draft.kind.as_str().to_owned()),
        categories: Set(json!(
            draft
                .categories
                .iter()
                .map(Category::as_str)
                .collect::<Vec<_>>()
        )),
        organisation_id: Set(match &draft.organisations {
            OrganisationScope::Only(ids) => ids.first().map(|id| id.as_uuid()),
            OrganisationScope::Every => None,
        }),
        reason_ciphertext: Set(reason_ciphertext),
        valid_from: Set(draft.from),
        valid_until: Set(draft.until),
        recorded_by: Set(member.as_uuid()),
        recorded_at: Set(now),
        lifted_at: Set(None),
        lifted_by: Set(None),
    };
    entry.outcome = audit::Outcome::Permit;
    entry.basis = audit::Code::parse(&basis.to_string()).ok();
    let conn = services.db.conn();
    write_audited(services, conn, entry, |tx| {
        Box::pin(async move {
            objections::Entity::insert(row)
                .exec_without_returning(tx)
                .await
                .map(|_| ())
        })
    })
    .await?;
    read_back(&loaded, conn, id).await
}

async fn lift_objection(
    ctx: &Context<'_>,
    input: LiftObjectionInput,
) -> Result<ObjectionView, ApiError> {
    let request = ResidentRequest::new(ctx)?;
    let (services, now) = (request.services, request.now);
    let resident = parse_uuid(&input.resident_id).ok_or(ApiError::NotFound)?;
    let objection_id = parse_uuid(&input.objection_id).ok_or(ApiError::NotFound)?;
    let loaded = resident_subject(services, request.caller, resident, &[]).await?;
    let (member, basis, mut entry) = authorise_write(
        &request,
        &loaded,
        Recording::Objection,
        audit::AuditAction::ObjectionLifted,
    )
    .await?;

    let conn = services.db.conn();
    let row = objections::Entity::find_by_id(objection_id)
        .one(conn)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)?;
    // Another resident's objection is refused before anything about it is read.
    let fact = if row.resident_id == resident {
        objection_fact(&row)?
    } else {
        return Err(policy_error(&policy::PolicyError::OtherResident));
    };
    policy::validate_lift(
        &fact,
        ResidentId::from_uuid(row.resident_id),
        &loaded.resident,
    )
    .map_err(|error| policy_error(&error))?;

    entry.outcome = audit::Outcome::Permit;
    entry.basis = audit::Code::parse(&basis.to_string()).ok();
    write_audited(services, conn, entry, |tx| {
        Box::pin(async move {
            // Only if still not lifted: two lifts racing end in one.
            let result = objections::Entity::update_many()
                .set(objections::ActiveModel {
                    lifted_at: Set(Some(now)),
                    lifted_by: Set(Some(member.as_uuid())),
                    ..Default::default()
                })
                .filter(objections::Column::Id.eq(objection_id))
                .filter(objections::Column::LiftedAt.is_null())
                .exec(tx)
                .await?;
            if result.rows_affected == 1 {
                Ok(())
            } else {
                Err(sea_orm::DbErr::RecordNotUpdated)
            }
        })
    })
    .await?;
    read_back(&loaded, conn, objection_id).await
}

/// The objection as stored, for the coach who recorded or lifted it.
async fn read_back(
    loaded: &Subject,
    conn: &sea_orm::DatabaseConnection,
    id: Uuid,
) -> Result<ObjectionView, ApiError> {
    let row = objections::Entity::find_by_id(id)
        .one(conn)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)?;
    objection_view(loaded, &row, Utc::now())
}

fn objection_view(
    loaded: &Subject,
    row: &objections::Model,
    now: DateTime<Utc>,
) -> Result<ObjectionView, ApiError> {
    let status = if row.lifted_at.is_some() {
        "lifted"
    } else if now < row.valid_from {
        "not-yet-valid"
    } else if row.valid_until.is_some_and(|until| until <= now) {
        "ended"
    } else {
        "active"
    };
    let reason = row
        .reason_ciphertext
        .as_deref()
        .map(|bytes| {
            sealed::open_text(
                &loaded.dek,
                sealed::OBJECTION_REASON,
                row.id,
                loaded.resident_id,
                bytes,
            )
            .map(|text| text.expose_secret().to_owned())
        })
        .transpose()?;
    Ok(ObjectionView {
        id: ID(row.id.to_string()),
        resident_id: ID(row.resident_id.to_string()),
        kind: row.kind.clone(),
        categories: categories(&row.categories, row.id)?
            .iter()
            .map(|category| category.as_str().to_owned())
            .collect(),
        organisation_id: row.organisation_id.map(|id| ID(id.to_string())),
        valid_from: row.valid_from,
        valid_until: row.valid_until,
        reason,
        recorded_by: ID(row.recorded_by.to_string()),
        recorded_at: row.recorded_at,
        lifted_at: row.lifted_at,
        lifted_by: row.lifted_by.map(|id| ID(id.to_string())),
        status: status.to_owned(),
    })
}
