//! Betrokkenheid through GraphQL: `startCareRelation` and `endCareRelation`. A care relation links
//! an organisation (and optionally one of its members) to a resident — coordinator, involved or
//! referral, from/until — and is what *need to know* rests on: without one, the organisation
//! learns nothing of the resident (`NOT_FOUND`).
//!
//! The rules are the policy crate's: who may (`policy::may_record`, a coach of the wijkteam that
//! owns the plan) and what is valid (`validate_care_relation`, `validate_care_relation_end`). This
//! module translates and audits before the answer; it must never write a relation the policy did
//! not validate, and never delete one: an ended relation stays in the record.

use async_graphql::{Context, ErrorExtensions, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::{CareRelationKind, MemberId, OrganisationId};
use policy::{CareRelationDraft, Recording, StoredCareRelation};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use store::entity::{care_relations, members};
use uuid::Uuid;

use crate::ApiError;
use crate::access::{ResidentRequest, db, policy_organisation, resident_subject};
use crate::consents::{authorise_write, bad, parse_uuid, policy_error, write_audited};

/// A care relation as stored.
#[derive(SimpleObject)]
#[graphql(name = "CareRelation")]
pub struct CareRelationView {
    pub id: ID,
    pub resident_id: ID,
    pub organisation_id: ID,
    /// The member doing the work, if the relation names one.
    pub member_id: Option<ID>,
    /// `coordinator`, `involved` or `referral`.
    pub kind: String,
    pub valid_from: DateTime<Utc>,
    /// Null: until ended.
    pub valid_until: Option<DateTime<Utc>>,
    pub recorded_by: ID,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_by: Option<ID>,
    /// `current`, `not-yet-valid` or `ended`.
    pub status: String,
}

/// A care relation as the coach starts it.
#[derive(InputObject)]
pub struct StartCareRelationInput {
    pub resident_id: ID,
    /// An active organisation of the resident's network.
    pub organisation_id: ID,
    /// One member of that organisation doing the work; absent: the whole organisation.
    pub member_id: Option<ID>,
    /// `coordinator` (only a wijkteam), `involved` or `referral`.
    pub kind: String,
    /// Default: now.
    pub valid_from: Option<DateTime<Utc>>,
    /// Absent: until ended.
    pub valid_until: Option<DateTime<Utc>>,
}

/// Ending a care relation now.
#[derive(InputObject)]
pub struct EndCareRelationInput {
    pub care_relation_id: ID,
}

#[derive(Default)]
pub struct CareRelationMutations;

#[Object]
impl CareRelationMutations {
    /// Starts a care relation of an organisation (or one of its members) with the resident. Only
    /// a coach of the wijkteam that owns the plan. Validated by the policy; audited
    /// (`care-relation.started`) before the answer.
    async fn start_care_relation(
        &self,
        ctx: &Context<'_>,
        input: StartCareRelationInput,
    ) -> async_graphql::Result<CareRelationView> {
        start_care_relation(ctx, input)
            .await
            .map_err(|error| error.extend())
    }

    /// Ends a care relation at once; the record stays. Only a coach of the owning wijkteam;
    /// audited (`care-relation.ended`) before the answer.
    async fn end_care_relation(
        &self,
        ctx: &Context<'_>,
        input: EndCareRelationInput,
    ) -> async_graphql::Result<CareRelationView> {
        end_care_relation(ctx, input)
            .await
            .map_err(|error| error.extend())
    }
}

async fn start_care_relation(
    ctx: &Context<'_>,
    input: StartCareRelationInput,
) -> Result<CareRelationView, ApiError> {
    let request = ResidentRequest::new(ctx)?;
    let (services, now) = (request.services, request.now);
    let resident = parse_uuid(&input.resident_id).ok_or(ApiError::NotFound)?;
    let organisation =
        parse_uuid(&input.organisation_id).ok_or_else(|| bad("unknown organisation"))?;
    let loaded = resident_subject(services, request.caller, resident, &[organisation]).await?;
    let (recorder, basis, mut entry) = authorise_write(
        &request,
        &loaded,
        Recording::CareRelation,
        audit::AuditAction::CareRelationStarted,
    )
    .await?;

    // Translate the input; the policy judges it.
    let kind =
        CareRelationKind::parse(&input.kind).map_err(|_| bad("unknown care relation kind"))?;
    let organisation_record = loaded
        .organisations
        .get(&organisation)
        .ok_or_else(|| bad("unknown organisation"))?;
    let conn = services.db.conn();
    let member = match &input.member_id {
        Some(id) => {
            let id = parse_uuid(id).ok_or_else(|| bad("unknown member"))?;
            let row = members::Entity::find_by_id(id)
                .one(conn)
                .await
                .map_err(db)?
                .ok_or_else(|| bad("unknown member"))?;
            Some((
                MemberId::from_uuid(row.id),
                OrganisationId::from_uuid(row.organisation_id),
            ))
        }
        None => None,
    };
    let valid = policy::validate_care_relation(
        CareRelationDraft {
            resident: loaded.resident_id,
            organisation: policy_organisation(organisation_record)?,
            member,
            kind,
            from: input.valid_from.unwrap_or(now),
            until: input.valid_until,
        },
        &loaded.resident,
    )
    .map_err(|error| policy_error(&error))?;
    let draft = valid.get();

    let id = Uuid::now_v7();
    let row = care_relations::ActiveModel {
        id: Set(id),
        resident_id: Set(resident),
        organisation_id: Set(draft.organisation.id.as_uuid()),
        member_id: Set(draft.member.map(|(member, _)| member.as_uuid())),
        kind: Set(draft.kind.as_str().to_owned()),
        valid_from: Set(draft.from),
        valid_until: Set(draft.until),
        recorded_by: Set(recorder.as_uuid()),
        created_at: Set(now),
        ended_at: Set(None),
        ended_by: Set(None),
    };
    entry.outcome = audit::Outcome::Permit;
    entry.basis = audit::Code::parse(&basis.to_string()).ok();
    write_audited(services, conn, entry, |tx| {
        Box::pin(async move {
            care_relations::Entity::insert(row)
                .exec_without_returning(tx)
                .await
                .map(|_| ())
        })
    })
    .await?;
    read_back(conn, id).await
}

async fn end_care_relation(
    ctx: &Context<'_>,
    input: EndCareRelationInput,
) -> Result<CareRelationView, ApiError> {
    let request = ResidentRequest::new(ctx)?;
    let (services, now) = (request.services, request.now);
    let relation_id = parse_uuid(&input.care_relation_id).ok_or(ApiError::NotFound)?;
    let conn = services.db.conn();
    let row = care_relations::Entity::find_by_id(relation_id)
        .one(conn)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)?;
    let loaded = resident_subject(services, request.caller, row.resident_id, &[]).await?;
    let (recorder, basis, mut entry) = authorise_write(
        &request,
        &loaded,
        Recording::CareRelation,
        audit::AuditAction::CareRelationEnded,
    )
    .await?;
    let ended_at = policy::validate_care_relation_end(
        &StoredCareRelation {
            resident: domain::ResidentId::from_uuid(row.resident_id),
            until: row.valid_until,
            ended_at: row.ended_at,
        },
        &loaded.resident,
        now,
    )
    .map_err(|error| policy_error(&error))?;

    entry.outcome = audit::Outcome::Permit;
    entry.basis = audit::Code::parse(&basis.to_string()).ok();
    write_audited(services, conn, entry, |tx| {
        Box::pin(async move {
            // Only if still running: two ends racing end it once.
            let result = care_relations::Entity::update_many()
                .set(care_relations::ActiveModel {
                    ended_at: Set(Some(ended_at)),
                    ended_by: Set(Some(recorder.as_uuid())),
                    ..Default::default()
                })
                .filter(care_relations::Column::Id.eq(relation_id))
                .filter(care_relations::Column::EndedAt.is_null())
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
    read_back(conn, relation_id).await
}

async fn read_back(
    conn: &sea_orm::DatabaseConnection,
    id: Uuid,
) -> Result<CareRelationView, ApiError> {
    let row = care_relations::Entity::find_by_id(id)
        .one(conn)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)?;
    let now = Utc::now();
    let status = if row.ended_at.is_some() || row.valid_until.is_some_and(|until| until <= now) {
        "ended"
    } else if now < row.valid_from {
        "not-yet-valid"
    } else {
        "current"
    };
    Ok(CareRelationView {
        id: ID(row.id.to_string()),
        resident_id: ID(row.resident_id.to_string()),
        organisation_id: ID(row.organisation_id.to_string()),
        member_id: row.member_id.map(|id| ID(id.to_string())),
        kind: row.kind.clone(),
        valid_from: row.valid_from,
        valid_until: row.valid_until,
        recorded_by: ID(row.recorded_by.to_string()),
        created_at: row.created_at,
        ended_at: row.ended_at,
        ended_by: row.ended_by.map(|id| ID(id.to_string())),
        status: status.to_owned(),
    })
}
