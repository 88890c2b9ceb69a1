//! Writing a plan section: the policy decides (`Action::Write`) for this caller, purpose and
//! moment; every write is a new revision sealed under the resident's key, nothing is ever
//! overwritten; a write against a stale revision is refused with `CONFLICT`.
//!
//! Optimistic concurrency lives in the database, never in memory: the section's
//! `current_revision` moves from `expected` to `expected + 1` with a conditional `UPDATE` (or the
//! section is inserted, guarded by the unique `(plan_id, category)` index), in the same
//! transaction as the new revision and the plan's version bump. Of two writers with the same
//! expected revision exactly one changes a row; the other gets `CONFLICT`.
//!
//! Input is checked before anything is read or written (`BAD_USER_INPUT`). This module must never
//! write a section without the policy's permit, nor answer without an audit entry.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::{Action, Category, OrganisationId, ResidentId, SectionId};
use policy::{Recording, Request};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, SqlErr, TransactionTrait,
};
use store::entity::{care_relations, members, plans, residents, section_revisions, sections};
use store::sealed::{self, RevisionAuthor};
use uuid::Uuid;

use crate::ApiError;
use crate::access::{
    Subject, active_record, audit_entry, corrupt, db, need_to_know, plan_subject, subject,
};
use crate::caller::CallerId;
use crate::context;
use crate::plans::{AccessView, SectionView};

/// The most a section's content may hold by default, in bytes of UTF-8: 48 KiB (`[plans]
/// max_section_bytes`). A plan section is prose written by people; anything larger is a mistake
/// or an attack. With the rest of a request it fits the default 64 KiB request body.
pub const DEFAULT_MAX_SECTION_BYTES: usize = 48 * 1024;

/// The audit reason of a write refused because the object moved on since the caller read it
/// (`CONFLICT`): outcome `deny`, nothing written.
const CONFLICT_REASON: &str = "conflict";

/// How often a write is retried when SQLite reports its single write lock busy (a snapshot taken
/// before another writer committed). The transaction had no effect, so a retry is safe.
const BUSY_RETRIES: u32 = 10;

/// The plan mutations.
#[derive(Default)]
pub struct PlanMutations;

#[Object]
impl PlanMutations {
    /// Writes a new revision of one section of a plan. `expectedRevision` is the revision the
    /// caller last read (0 for a section that does not exist yet); if the section has moved on,
    /// nothing is written and the answer is `CONFLICT` with `extensions.currentRevision`.
    /// Needs a purpose (`Wijkhub-Purpose`) and the policy's permit to write. Audited.
    async fn write_section(
        &self,
        ctx: &Context<'_>,
        input: WriteSectionInput,
    ) -> async_graphql::Result<WriteSectionPayload> {
        use async_graphql::ErrorExtensions;
        write_section(ctx, input)
            .await
            .map(|section| WriteSectionPayload { section })
            .map_err(|error| error.extend())
    }

    /// Starts a resident's plan (`draft`, no sections yet), owned by the caller's wijkteam.
    /// Needs a care relation with the resident and a purpose. Audited.
    async fn create_plan(
        &self,
        ctx: &Context<'_>,
        input: CreatePlanInput,
    ) -> async_graphql::Result<CreatePlanPayload> {
        use async_graphql::ErrorExtensions;
        let result = async {
            let plan_id = create_plan(ctx, input).await?;
            crate::plans::plan(ctx, &ID(plan_id.to_string())).await
        };
        result
            .await
            .map(|plan| CreatePlanPayload { plan })
            .map_err(|error| error.extend())
    }

    /// Moves a plan to `draft`, `active` or `closed`. `expectedVersion` is the plan's version as
    /// the caller last read it; if the plan has changed since, nothing is written and the answer
    /// is `CONFLICT` with `extensions.currentVersion`. Only the wijkteam that owns the plan, on
    /// its statutory task, with a purpose. Audited.
    async fn set_plan_status(
        &self,
        ctx: &Context<'_>,
        input: SetPlanStatusInput,
    ) -> async_graphql::Result<SetPlanStatusPayload> {
        use async_graphql::ErrorExtensions;
        let result = async {
            let plan_id = set_plan_status(ctx, input).await?;
            crate::plans::plan(ctx, &ID(plan_id.to_string())).await
        };
        result
            .await
            .map(|plan| SetPlanStatusPayload { plan })
            .map_err(|error| error.extend())
    }

    /// Moves a plan's coordination to another coach of the owning wijkteam (`toMember`) or to
    /// another wijkteam in the resident's network (`toOrganisation`). `expectedVersion` as for
    /// `setPlanStatus` (`CONFLICT` with `extensions.currentVersion`). Only the wijkteam that owns
    /// the plan, on its statutory task, with a purpose. The care relations follow: the old
    /// coordinator's ends, the new one's starts. Audited.
    async fn transfer_coordination(
        &self,
        ctx: &Context<'_>,
        input: TransferCoordinationInput,
    ) -> async_graphql::Result<TransferCoordinationPayload> {
        use async_graphql::ErrorExtensions;
        let result = async {
            let plan_id = transfer_coordination(ctx, input).await?;
            // Handed to another wijkteam, the plan may be out of the caller's sight now.
            match crate::plans::plan(ctx, &ID(plan_id.to_string())).await {
                Ok(plan) => Ok(Some(plan)),
                Err(ApiError::NotFound) => Ok(None),
                Err(error) => Err(error),
            }
        };
        result
            .await
            .map(|plan| TransferCoordinationPayload { plan })
            .map_err(|error| error.extend())
    }
}

/// Who takes over a plan's coordination: exactly one of `toMember` and `toOrganisation`.
#[derive(InputObject)]
pub struct TransferCoordinationInput {
    pub plan_id: ID,
    /// A coach (active member with the coach role) of the wijkteam that owns the plan, who
    /// becomes the coordinating coach.
    pub to_member: Option<ID>,
    /// Another active wijkteam in the resident's network, which takes the plan over (regie);
    /// it names its own coach later. The old wijkteam's coordinating relation ends.
    pub to_organisation: Option<ID>,
    /// The plan's version as the caller last read it.
    pub expected_version: i64,
}

/// The plan after the transfer, read back as the caller may now see it: `null` when the plan
/// went to another wijkteam and the caller no longer has a care relation with the resident.
#[derive(SimpleObject)]
pub struct TransferCoordinationPayload {
    pub plan: Option<crate::plans::PlanView>,
}

/// The new coordinator, checked.
enum Coordinator {
    Member(Uuid),
    Organisation(Uuid),
}

/// `transferCoordination`: the resolver; answers the plan's id.
///
/// Only the owning wijkteam on its statutory task (as `setPlanStatus`). In one transaction: the
/// plan's coordinator (and, to another wijkteam, its owner) changes against `expectedVersion`;
/// the coordinating care relation of the one handing over ends (`ended_at`, `ended_by`); a
/// coordinating care relation of the one taking over starts. Audited before the answer.
pub(crate) async fn transfer_coordination(
    ctx: &Context<'_>,
    input: TransferCoordinationInput,
) -> Result<Uuid, ApiError> {
    const ONE_TARGET: &str = "give exactly one of toMember and toOrganisation";
    let caller = crate::caller(ctx)?;
    let purpose = context::purpose(ctx)?;
    let target = match (&input.to_member, &input.to_organisation) {
        (Some(member), None) => Coordinator::Member(
            Uuid::parse_str(member.as_str()).map_err(|_| ApiError::BadUserInput(NOT_A_COACH))?,
        ),
        (None, Some(organisation)) => Coordinator::Organisation(
            Uuid::parse_str(organisation.as_str())
                .map_err(|_| ApiError::BadUserInput(NOT_A_WIJKTEAM))?,
        ),
        (Some(_), Some(_)) | (None, None) => return Err(ApiError::BadUserInput(ONE_TARGET)),
    };
    let PlanChange {
        services,
        now,
        subject,
        basis,
        mut entry,
    } = plan_change(
        ctx,
        caller,
        purpose,
        &input.plan_id,
        input.expected_version,
        "coordination transfer",
    )
    .await?;
    let conn = services.db.conn();
    let plan = &subject.plan;
    // The one taking over, checked against the store (after the permit: an outsider learns
    // nothing about the wijkteam's staff).
    let refused = match target {
        Coordinator::Member(member) => {
            let row = members::Entity::find_by_id(member)
                .one(conn)
                .await
                .map_err(db)?;
            let is_coach = row.as_ref().is_some_and(|row| {
                row.organisation_id == plan.owning_organisation_id
                    && row.status == domain::MemberStatus::Active.as_str()
                    && crate::access::codes(&row.roles, row.id).is_ok_and(|roles| {
                        roles
                            .iter()
                            .any(|role| role == domain::Role::Coach.as_str())
                    })
            });
            if !is_coach {
                Some(NOT_A_COACH)
            } else if plan.coordinating_member_id == Some(member) {
                Some("toMember already coordinates this plan")
            } else {
                None
            }
        }
        Coordinator::Organisation(organisation) => {
            let found = store::records::load_organisations(conn, &[organisation]).await?;
            let eligible = found.get(&organisation).is_some_and(|record| {
                record.organisation.kind == domain::OrganisationKind::Wijkteam.as_str()
                    && record.organisation.status == domain::MemberStatus::Active.as_str()
                    && record
                        .networks
                        .contains(&subject.record.resident.network_id)
            });
            if !eligible {
                Some(NOT_A_WIJKTEAM)
            } else if organisation == plan.owning_organisation_id {
                Some("toOrganisation already owns this plan")
            } else {
                None
            }
        }
    };
    if let Some(rule) = refused {
        entry.reason = audit::Code::parse("invalid-coordinator").ok();
        if let Err(error) = services.audit.submit(entry).await {
            tracing::error!(error = %error, "audit entry not written; coordination transfer refused");
            return Err(ApiError::AuditUnavailable);
        }
        return Err(ApiError::BadUserInput(rule));
    }
    if !services.audit.is_healthy() {
        return Err(ApiError::AuditUnavailable);
    }
    let (new_owner, new_member) = match target {
        Coordinator::Member(member) => (plan.owning_organisation_id, Some(member)),
        Coordinator::Organisation(organisation) => (organisation, None),
    };
    let recorded_by = match caller.id {
        CallerId::Member(id) => id.as_uuid(),
        CallerId::Client(id) => id.as_uuid(),
    };
    let tx = conn.begin().await.map_err(db)?;
    let moved = plans::Entity::update_many()
        .col_expr(plans::Column::OwningOrganisationId, Expr::value(new_owner))
        .col_expr(plans::Column::CoordinatingMemberId, Expr::value(new_member))
        .col_expr(
            plans::Column::Version,
            Expr::col(plans::Column::Version).add(1),
        )
        .col_expr(plans::Column::UpdatedAt, Expr::value(now))
        .filter(plans::Column::Id.eq(plan.id))
        .filter(plans::Column::Version.eq(input.expected_version))
        .exec(&tx)
        .await
        .map_err(db)?;
    if moved.rows_affected == 0 {
        tx.rollback().await.map_err(db)?;
        return Err(version_conflict(services, entry, plan.id).await);
    }
    // The coordinating relation of the one handing over ends: the coach's (to another coach),
    // or every coordinating relation of the old wijkteam (to another wijkteam).
    let mut handing_over = Condition::all()
        .add(care_relations::Column::ResidentId.eq(plan.resident_id))
        .add(care_relations::Column::Kind.eq(domain::CareRelationKind::Coordinator.as_str()))
        .add(care_relations::Column::OrganisationId.eq(plan.owning_organisation_id))
        .add(care_relations::Column::EndedAt.is_null());
    if matches!(target, Coordinator::Member(_)) {
        handing_over = handing_over.add(match plan.coordinating_member_id {
            Some(member) => care_relations::Column::MemberId.eq(member),
            None => care_relations::Column::MemberId.is_null(),
        });
    }
    care_relations::Entity::update_many()
        .col_expr(care_relations::Column::EndedAt, Expr::value(now))
        .col_expr(care_relations::Column::EndedBy, Expr::value(recorded_by))
        .filter(handing_over)
        .exec(&tx)
        .await
        .map_err(db)?;
    care_relations::Entity::insert(care_relations::ActiveModel {
        id: Set(Uuid::now_v7()),
        resident_id: Set(plan.resident_id),
        organisation_id: Set(new_owner),
        member_id: Set(new_member),
        kind: Set(domain::CareRelationKind::Coordinator.as_str().to_owned()),
        valid_from: Set(now),
        valid_until: Set(None),
        recorded_by: Set(recorded_by),
        created_at: Set(now),
        ended_at: Set(None),
        ended_by: Set(None),
    })
    .exec_without_returning(&tx)
    .await
    .map_err(db)?;
    entry.outcome = audit::Outcome::Permit;
    entry.basis = audit::Code::parse(&basis.to_string()).ok();
    commit_audited(services, tx, entry, plan.id).await?;
    Ok(plan.id)
}

const NOT_A_COACH: &str = "toMember is not an active coach of the wijkteam that owns the plan";
const NOT_A_WIJKTEAM: &str = "toOrganisation is not an active wijkteam in the resident's network";

/// A new plan for a resident.
#[derive(InputObject)]
pub struct CreatePlanInput {
    pub resident_id: ID,
    /// The legal frame: `wmo` or `jeugd`.
    pub kind: String,
}

/// The plan as created (a `draft` with no sections), read back as the caller may see it.
#[derive(SimpleObject)]
pub struct CreatePlanPayload {
    pub plan: crate::plans::PlanView,
}

/// `createPlan`: the resolver; answers the new plan's id, to be read back by `plan(id)`.
///
/// A plan is owned by the wijkteam that makes it: the policy is asked as for a write of the new
/// plan's `story` by its owner, and only a statutory basis permits (a wijkteam with a care
/// relation with the resident). Anyone else who knows the resident gets `FORBIDDEN`; without a
/// care relation, `NOT_FOUND`, exactly like a resident that does not exist.
pub(crate) async fn create_plan(
    ctx: &Context<'_>,
    input: CreatePlanInput,
) -> Result<Uuid, ApiError> {
    let caller = crate::caller(ctx)?;
    let purpose = context::purpose(ctx)?;
    let kind = domain::PlanKind::parse(&input.kind)
        .map_err(|_| ApiError::BadUserInput("unknown plan kind"))?;
    let resident_uuid =
        Uuid::parse_str(input.resident_id.as_str()).map_err(|_| ApiError::NotFound)?;
    let services = context::services(ctx)?;
    let info = context::request_info(ctx);
    let now = Utc::now();
    let conn = services.db.conn();
    let record = active_record(services, resident_uuid).await?;
    let plan = plans::Model {
        id: Uuid::now_v7(),
        resident_id: resident_uuid,
        owning_organisation_id: caller.organisation.as_uuid(),
        coordinating_member_id: None,
        status: domain::PlanStatus::Draft.as_str().to_owned(),
        kind: kind.as_str().to_owned(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    // The policy is asked as if the plan already existed.
    let subject = subject(services, caller, record, plan.clone(), &[]).await?;
    // Who may: the policy's one rule for keeping the record (the owning wijkteam's statutory
    // task); without a care relation the resident stays unknown.
    let (permitted, mut entry) =
        whole_plan_decision(services, caller, &subject, purpose, &info, now);
    let basis = match permitted {
        Ok(basis) => basis,
        Err(denial) => {
            entry.plan = None;
            entry.reason = audit::Code::parse(denial.reason.as_str()).ok();
            if let Err(error) = services.audit.submit(entry).await {
                tracing::error!(error = %error, "audit entry not written; plan creation refused");
                return Err(ApiError::AuditUnavailable);
            }
            return Err(if denial.hides_resident {
                ApiError::NotFound
            } else {
                ApiError::Forbidden
            });
        }
    };
    if !services.audit.is_healthy() {
        return Err(ApiError::AuditUnavailable);
    }
    let tx = conn.begin().await.map_err(db)?;
    // One open plan per resident. The resident's row is locked first (a no-op UPDATE: a row lock
    // on PostgreSQL, the write lock on SQLite), so of two concurrent creations the second sees
    // the first's plan.
    residents::Entity::update_many()
        .col_expr(
            residents::Column::Status,
            Expr::col(residents::Column::Status),
        )
        .filter(residents::Column::Id.eq(resident_uuid))
        .exec(&tx)
        .await
        .map_err(db)?;
    let open = plans::Entity::find()
        .filter(plans::Column::ResidentId.eq(resident_uuid))
        .filter(plans::Column::Status.ne(domain::PlanStatus::Closed.as_str()))
        .one(&tx)
        .await
        .map_err(db)?;
    if let Some(open) = open {
        tx.rollback().await.map_err(db)?;
        entry.plan = Some(domain::PlanId::from_uuid(open.id));
        entry.reason = audit::Code::parse("open-plan-exists").ok();
        if let Err(error) = services.audit.submit(entry).await {
            tracing::error!(error = %error, "audit entry not written; plan creation refused");
            return Err(ApiError::AuditUnavailable);
        }
        return Err(ApiError::BadUserInput(
            "the resident already has an open plan (draft or active); close it first",
        ));
    }
    plans::Entity::insert(plans::ActiveModel::from(plan.clone()))
        .exec_without_returning(&tx)
        .await
        .map_err(db)?;
    entry.outcome = audit::Outcome::Permit;
    entry.basis = audit::Code::parse(&basis.to_string()).ok();
    commit_audited(services, tx, entry, plan.id).await?;
    Ok(plan.id)
}

/// Commits a write's transaction and makes its audit entry durable, in the order the backend
/// allows (see `writeSection` in `docs/API.md`): on PostgreSQL the entry first and the write
/// rolled back if it fails; on SQLite, one writer at a time, the write first.
async fn commit_audited(
    services: &context::Services,
    tx: DatabaseTransaction,
    entry: audit::NewEntry,
    plan: Uuid,
) -> Result<(), ApiError> {
    match services.db.backend() {
        store::Backend::Postgres => {
            if let Err(error) = services.audit.submit(entry).await {
                tracing::error!(error = %error, "audit entry not written; plan write rolled back");
                tx.rollback().await.map_err(db)?;
                return Err(ApiError::AuditUnavailable);
            }
            tx.commit().await.map_err(db)?;
        }
        store::Backend::Sqlite => {
            tx.commit().await.map_err(db)?;
            if let Err(error) = services.audit.submit(entry).await {
                tracing::error!(
                    error = %error,
                    plan_id = %plan,
                    "audit entry not written for a committed plan write"
                );
                return Err(ApiError::AuditUnavailable);
            }
        }
    }
    Ok(())
}

/// Whether the caller may change a plan as a whole (create it, its status, its coordination):
/// asked as a write of the plan's `story`, and only the owning wijkteam's statutory task permits
/// (a consent never covers it; `policy::may_record`). With the audit entry, its checks filled in.
fn whole_plan_decision(
    services: &context::Services,
    caller: &crate::Caller,
    subject: &Subject,
    purpose: domain::Purpose,
    info: &context::RequestInfo,
    now: DateTime<Utc>,
) -> (Result<policy::Basis, policy::RecordDenial>, audit::NewEntry) {
    let request = Request {
        action: Action::Write,
        category: Category::Story,
        purpose,
        section_author: None,
    };
    let (actor, resident, facts) = (&subject.actor, &subject.resident, &subject.facts);
    let decision = policy::decide(&services.matrix, actor, &request, resident, facts, now);
    let mut entry = audit_entry(
        caller,
        actor,
        purpose,
        info,
        subject.resident_id,
        subject.plan.id,
    );
    entry.action = audit::AuditAction::ResidentWrite;
    entry.checks = decision
        .checks()
        .iter()
        .filter_map(|check| audit::Code::parse(check.as_str()).ok())
        .collect();
    let permitted = policy::may_record(
        &services.matrix,
        actor,
        Recording::Plan,
        purpose,
        resident,
        facts,
        now,
    );
    (permitted, entry)
}

/// The policy's permit to change a stored plan as a whole (`whole_plan_decision`). A refusal is
/// audited and answered `NOT_FOUND` when the caller may not know the plan exists, else
/// `FORBIDDEN`. On a permit, the basis and the audit entry to complete.
async fn whole_plan_permit(
    services: &context::Services,
    caller: &crate::Caller,
    subject: &Subject,
    purpose: domain::Purpose,
    info: &context::RequestInfo,
    now: DateTime<Utc>,
    what: &'static str,
) -> Result<(policy::Basis, audit::NewEntry), ApiError> {
    let (permitted, mut entry) = whole_plan_decision(services, caller, subject, purpose, info, now);
    let denial = match permitted {
        Ok(basis) => return Ok((basis, entry)),
        Err(denial) => denial,
    };
    entry.reason = audit::Code::parse(denial.reason.as_str()).ok();
    if let Err(error) = services.audit.submit(entry).await {
        tracing::error!(error = %error, what, "audit entry not written; plan change refused");
        return Err(ApiError::AuditUnavailable);
    }
    Err(if denial.hides_resident {
        ApiError::NotFound
    } else {
        ApiError::Forbidden
    })
}

/// A change to a stored plan as a whole (`setPlanStatus`, `transferCoordination`) past the
/// checks both make, in this order: `expectedVersion` not negative, the plan found, the policy's
/// permit (`whole_plan_permit`, a refusal audited), and the caller's view of the plan current —
/// a stale one is the answer (`CONFLICT`, audited), whatever the change asked for.
struct PlanChange<'a> {
    services: &'a context::Services,
    now: DateTime<Utc>,
    subject: Subject,
    basis: policy::Basis,
    /// The entry of the change, to complete with its outcome.
    entry: audit::NewEntry,
}

async fn plan_change<'a>(
    ctx: &Context<'a>,
    caller: &crate::Caller,
    purpose: domain::Purpose,
    plan_id: &ID,
    expected_version: i64,
    what: &'static str,
) -> Result<PlanChange<'a>, ApiError> {
    if expected_version < 0 {
        return Err(ApiError::BadUserInput("expectedVersion is negative"));
    }
    let plan_id = Uuid::parse_str(plan_id.as_str()).map_err(|_| ApiError::NotFound)?;
    let services = context::services(ctx)?;
    let info = context::request_info(ctx);
    let now = Utc::now();
    let subject = load(ctx, plan_id).await?;
    let (basis, entry) =
        whole_plan_permit(services, caller, &subject, purpose, &info, now, what).await?;
    if subject.plan.version != expected_version {
        return Err(version_conflict(services, entry, subject.plan.id).await);
    }
    Ok(PlanChange {
        services,
        now,
        subject,
        basis,
        entry,
    })
}

/// The status changes a plan may make (DESIGN §4): a draft is started or abandoned, an active
/// plan is closed. A closed plan stays closed (its file is kept for the retention period; new
/// support is a new plan), and a plan never goes back to draft.
pub(crate) fn transition_allowed(from: domain::PlanStatus, to: domain::PlanStatus) -> bool {
    use domain::PlanStatus::{Active, Closed, Draft};
    match (from, to) {
        (Draft, Active) | (Draft, Closed) | (Active, Closed) => true,
        (Draft, Draft) | (Active, Draft) | (Active, Active) | (Closed, _) => false,
    }
}

/// A plan write refused because the plan moved on (`expectedVersion` stale): audited as a
/// refusal with reason `conflict`, then answered `CONFLICT` with the current version.
async fn version_conflict(
    services: &context::Services,
    mut entry: audit::NewEntry,
    plan: Uuid,
) -> ApiError {
    let current = match plans::Entity::find_by_id(plan)
        .one(services.db.conn())
        .await
    {
        Ok(found) => found.map_or(0, |plan| plan.version),
        Err(error) => return db(error),
    };
    entry.outcome = audit::Outcome::Deny;
    entry.reason = audit::Code::parse(CONFLICT_REASON).ok();
    if let Err(error) = services.audit.submit(entry).await {
        tracing::error!(error = %error, "audit entry not written; stale plan write refused");
        return ApiError::AuditUnavailable;
    }
    ApiError::VersionConflict {
        current_version: current,
    }
}

/// A plan's new status.
#[derive(InputObject)]
pub struct SetPlanStatusInput {
    pub plan_id: ID,
    /// `draft`, `active` or `closed`.
    pub status: String,
    /// The plan's version as the caller last read it.
    pub expected_version: i64,
}

/// The plan as changed, read back as the caller may see it.
#[derive(SimpleObject)]
pub struct SetPlanStatusPayload {
    pub plan: crate::plans::PlanView,
}

/// `setPlanStatus`: the resolver; answers the plan's id, to be read back by `plan(id)`.
///
/// The status is the plan as a whole, not one category: only the owning wijkteam may change it,
/// asked of the policy as a write of the plan's `story` on a statutory basis (a consent never
/// covers it).
pub(crate) async fn set_plan_status(
    ctx: &Context<'_>,
    input: SetPlanStatusInput,
) -> Result<Uuid, ApiError> {
    let caller = crate::caller(ctx)?;
    let purpose = context::purpose(ctx)?;
    let status = domain::PlanStatus::parse(&input.status)
        .map_err(|_| ApiError::BadUserInput("unknown plan status"))?;
    let PlanChange {
        services,
        now,
        subject,
        basis,
        mut entry,
    } = plan_change(
        ctx,
        caller,
        purpose,
        &input.plan_id,
        input.expected_version,
        "plan status",
    )
    .await?;
    let conn = services.db.conn();
    let plan = subject.plan;
    let from = domain::PlanStatus::parse(&plan.status)
        .map_err(|_| corrupt(format!("plan {}: status {:?}", plan.id, plan.status)))?;
    if !transition_allowed(from, status) {
        entry.reason = audit::Code::parse("invalid-transition").ok();
        if let Err(error) = services.audit.submit(entry).await {
            tracing::error!(error = %error, "audit entry not written; plan status refused");
            return Err(ApiError::AuditUnavailable);
        }
        return Err(ApiError::BadUserInput(
            "not a valid status change (draft to active or closed, active to closed)",
        ));
    }
    if !services.audit.is_healthy() {
        return Err(ApiError::AuditUnavailable);
    }
    let tx = conn.begin().await.map_err(db)?;
    let moved = plans::Entity::update_many()
        .col_expr(plans::Column::Status, Expr::value(status.as_str()))
        .col_expr(
            plans::Column::Version,
            Expr::col(plans::Column::Version).add(1),
        )
        .col_expr(plans::Column::UpdatedAt, Expr::value(now))
        .filter(plans::Column::Id.eq(plan.id))
        .filter(plans::Column::Version.eq(input.expected_version))
        // The status the transition was checked from: a plan changed since is a conflict.
        .filter(plans::Column::Status.eq(from.as_str()))
        .exec(&tx)
        .await
        .map_err(db)?;
    if moved.rows_affected == 0 {
        tx.rollback().await.map_err(db)?;
        return Err(version_conflict(services, entry, plan.id).await);
    }
    entry.outcome = audit::Outcome::Permit;
    entry.basis = audit::Code::parse(&basis.to_string()).ok();
    commit_audited(services, tx, entry, plan.id).await?;
    Ok(plan.id)
}

/// A new revision of a plan section.
#[derive(InputObject)]
pub struct WriteSectionInput {
    pub plan_id: ID,
    /// `story`, `goals`, `agreements`, `actions`, `network`, `health`, `finances` or `safety`.
    pub category: String,
    /// At most the hub's section size (48 KiB of UTF-8 unless configured otherwise); no control
    /// characters other than newline and tab.
    pub content: String,
    /// The section's current revision as the caller knows it; 0 when it does not exist yet.
    pub expected_revision: i64,
}

/// The section as written.
#[derive(SimpleObject)]
pub struct WriteSectionPayload {
    pub section: SectionView,
}

/// A write's input, checked: only [`parse_input`] builds one.
struct SectionWrite {
    plan: Uuid,
    category: Category,
    content: String,
    expected: i64,
}

fn parse_input(input: WriteSectionInput, max_bytes: usize) -> Result<SectionWrite, ApiError> {
    let category =
        Category::parse(&input.category).map_err(|_| ApiError::BadUserInput("unknown category"))?;
    if input.content.len() > max_bytes {
        return Err(ApiError::BadUserInput(
            "content over the section size limit",
        ));
    }
    if input
        .content
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::BadUserInput(
            "content holds control characters other than newline and tab",
        ));
    }
    if input.expected_revision < 0 {
        return Err(ApiError::BadUserInput("expectedRevision is negative"));
    }
    // An id that is not a UUID names no plan: answered like a plan that does not exist.
    let plan = Uuid::parse_str(input.plan_id.as_str()).map_err(|_| ApiError::NotFound)?;
    Ok(SectionWrite {
        plan,
        category,
        content: input.content,
        expected: input.expected_revision,
    })
}

/// `writeSection`: the resolver.
pub(crate) async fn write_section(
    ctx: &Context<'_>,
    input: WriteSectionInput,
) -> Result<SectionView, ApiError> {
    let caller = crate::caller(ctx)?;
    let purpose = context::purpose(ctx)?;
    let services = context::services(ctx)?;
    let write = parse_input(input, services.max_section_bytes)?;
    let info = context::request_info(ctx);
    let now = Utc::now();
    let conn = services.db.conn();

    let Subject {
        plan,
        actor,
        resident_id,
        dek,
        resident,
        facts,
        ..
    } = load(ctx, write.plan).await?;

    // The section's current author decides who may change it (a section written by another
    // organisation may be closed to this one).
    let existing = current_section(conn, plan.id, write.category).await?;
    let request = Request {
        action: Action::Write,
        category: write.category,
        purpose,
        section_author: existing
            .as_ref()
            .and_then(|(_, revision)| revision.as_ref())
            .map(|revision| OrganisationId::from_uuid(revision.author_organisation_id)),
    };
    let decision = policy::decide(&services.matrix, &actor, &request, &resident, &facts, now);

    let mut entry = audit_entry(caller, &actor, purpose, &info, resident_id, plan.id);
    entry.action = audit::AuditAction::ResidentWrite;
    entry.checks = decision
        .checks()
        .iter()
        .filter_map(|check| audit::Code::parse(check.as_str()).ok())
        .collect();
    let Some(basis) = decision.basis() else {
        let reason = decision.deny_reason();
        entry.categories_denied.insert(write.category);
        entry.reason = reason.and_then(|reason| audit::Code::parse(reason.as_str()).ok());
        entry.section = existing
            .as_ref()
            .map(|(section, _)| SectionId::from_uuid(section.id));
        if let Err(error) = services.audit.submit(entry).await {
            tracing::error!(error = %error, "audit entry not written; section write refused");
            return Err(ApiError::AuditUnavailable);
        }
        // Need to know: a caller with no care relation learns nothing, not even that the plan
        // exists. The write checks may fail first (scope, matrix), so the question is asked as
        // `plan(id)` asks it: could the caller read this section at all?
        let read = policy::decide(
            &services.matrix,
            &actor,
            &Request {
                action: Action::Read,
                ..request
            },
            &resident,
            &facts,
            now,
        );
        return Err(
            if need_to_know(reason) || need_to_know(read.deny_reason()) {
                ApiError::NotFound
            } else {
                ApiError::Forbidden
            },
        );
    };

    // A log known to be down refuses the write before anything is committed.
    if !services.audit.is_healthy() {
        return Err(ApiError::AuditUnavailable);
    }
    let author = RevisionAuthor {
        organisation: caller.organisation.as_uuid(),
        member: match caller.id {
            CallerId::Member(id) => Some(id.as_uuid()),
            CallerId::Client(_) => None,
        },
        client: match caller.id {
            CallerId::Client(id) => Some(id.as_uuid()),
            CallerId::Member(_) => None,
        },
    };
    let mut attempt = 0;
    let outcome = loop {
        match commit_revision(conn, &dek, resident_id, &write, author, now).await {
            Err(WriteFailure::Busy(_)) if attempt < BUSY_RETRIES => {
                // No wait needed: the next attempt's statements wait on SQLite's busy timeout.
                attempt += 1;
            }
            Err(WriteFailure::Busy(error) | WriteFailure::Other(error)) => return Err(error),
            Ok(outcome) => break outcome,
        }
    };
    let (section_id, tx) = match outcome {
        Committed::Written { section, tx } => (section, tx),
        Committed::Stale => {
            let current = current_section(conn, plan.id, write.category).await?;
            // Refused, and audited as refused: who tried to write what, and why it failed.
            entry.outcome = audit::Outcome::Deny;
            entry.reason = audit::Code::parse(CONFLICT_REASON).ok();
            entry.categories_denied.insert(write.category);
            entry.section = current
                .as_ref()
                .map(|(section, _)| SectionId::from_uuid(section.id));
            if let Err(error) = services.audit.submit(entry).await {
                tracing::error!(error = %error, "audit entry not written; stale section write refused");
                return Err(ApiError::AuditUnavailable);
            }
            return Err(ApiError::Conflict {
                current_revision: current.map_or(0, |(section, _)| section.current_revision),
            });
        }
    };
    let revision = write.expected + 1;
    entry.outcome = audit::Outcome::Permit;
    entry.basis = audit::Code::parse(&basis.to_string()).ok();
    entry.categories_returned.insert(write.category);
    entry.section = Some(SectionId::from_uuid(section_id));
    entry.revision = Some(revision);
    match services.db.backend() {
        // The entry is durable before the revision commits; if it cannot be written, the
        // revision is rolled back and nothing is stored.
        store::Backend::Postgres => {
            if let Err(error) = services.audit.submit(entry).await {
                tracing::error!(error = %error, "audit entry not written; section write rolled back");
                tx.rollback().await.map_err(db)?;
                return Err(ApiError::AuditUnavailable);
            }
            tx.commit().await.map_err(db)?;
        }
        // SQLite has one writer, and the audit log writes to the same database: the entry
        // cannot be made durable while this transaction holds the write lock. So the revision
        // commits first. If the entry then cannot be written, the caller gets
        // `AUDIT_UNAVAILABLE` and no content, the committed revision stays (nothing is ever
        // overwritten or deleted), and the failure is logged with section and revision so the
        // privacy officer can reconstruct the entry; a retry with the same `expectedRevision`
        // answers `CONFLICT`, telling the caller its write landed.
        store::Backend::Sqlite => {
            tx.commit().await.map_err(db)?;
            if let Err(error) = services.audit.submit(entry).await {
                tracing::error!(
                    error = %error,
                    section_id = %section_id,
                    revision,
                    "audit entry not written for a committed section write"
                );
                return Err(ApiError::AuditUnavailable);
            }
        }
    }
    Ok(SectionView {
        id: section_id,
        category: write.category,
        revision,
        access: AccessView {
            granted: true,
            reason: None,
            basis: Some(basis.to_string()),
        },
        content: Some(write.content),
        resident: resident_id,
        dek: Some(dek),
        first_revisions: None,
    })
}

async fn load(ctx: &Context<'_>, plan_id: Uuid) -> Result<Subject, ApiError> {
    plan_subject(context::services(ctx)?, crate::caller(ctx)?, plan_id).await
}

/// The plan's section of this category and its current revision, if it exists.
async fn current_section(
    conn: &impl ConnectionTrait,
    plan: Uuid,
    category: Category,
) -> Result<Option<(sections::Model, Option<section_revisions::Model>)>, ApiError> {
    let Some(section) = sections::Entity::find()
        .filter(sections::Column::PlanId.eq(plan))
        .filter(sections::Column::Category.eq(category.as_str()))
        .one(conn)
        .await
        .map_err(db)?
    else {
        return Ok(None);
    };
    let revision = section_revisions::Entity::find()
        .filter(section_revisions::Column::SectionId.eq(section.id))
        .filter(section_revisions::Column::Revision.eq(section.current_revision))
        .one(conn)
        .await
        .map_err(db)?;
    Ok(Some((section, revision)))
}

enum Committed {
    /// Written in `tx`, not yet committed: the audit entry decides.
    Written {
        section: Uuid,
        tx: DatabaseTransaction,
    },
    /// Another writer moved the section on first; nothing was written.
    Stale,
}

enum WriteFailure {
    /// SQLite's write lock was busy; the transaction was rolled back and may be retried.
    Busy(ApiError),
    Other(ApiError),
}

fn failure(error: DbErr) -> WriteFailure {
    // SQLite answers SQLITE_BUSY ("database is locked") when its snapshot went stale while
    // waiting for the write lock; PostgreSQL waits on the row lock instead.
    if error.to_string().contains("database is locked") {
        WriteFailure::Busy(db(error))
    } else {
        WriteFailure::Other(db(error))
    }
}

/// One transaction: move the section from `expected` to `expected + 1` (or create it at 1),
/// insert the sealed revision, bump the plan's version; returned open, for the caller to commit
/// around the audit entry. Nothing is written when the section has moved on.
async fn commit_revision(
    conn: &sea_orm::DatabaseConnection,
    dek: &crypto::Dek,
    resident: ResidentId,
    write: &SectionWrite,
    author: RevisionAuthor,
    now: DateTime<Utc>,
) -> Result<Committed, WriteFailure> {
    let next = write.expected + 1;
    let tx = conn.begin().await.map_err(failure)?;
    let section_id = if write.expected == 0 {
        let id = Uuid::now_v7();
        let section = sections::ActiveModel {
            id: Set(id),
            plan_id: Set(write.plan),
            category: Set(write.category.as_str().to_owned()),
            current_revision: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        match sections::Entity::insert(section)
            .exec_without_returning(&tx)
            .await
        {
            Ok(_) => id,
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                tx.rollback().await.map_err(failure)?;
                return Ok(Committed::Stale);
            }
            Err(error) => return Err(failure(error)),
        }
    } else {
        // The UPDATE comes first so that SQLite takes its write lock (waiting on the busy
        // timeout) before this transaction reads anything: a read first would pin a snapshot
        // that another writer's commit makes stale.
        let moved = sections::Entity::update_many()
            .col_expr(sections::Column::CurrentRevision, Expr::value(next))
            .col_expr(sections::Column::UpdatedAt, Expr::value(now))
            .filter(sections::Column::PlanId.eq(write.plan))
            .filter(sections::Column::Category.eq(write.category.as_str()))
            .filter(sections::Column::CurrentRevision.eq(write.expected))
            .exec(&tx)
            .await
            .map_err(failure)?;
        if moved.rows_affected == 0 {
            tx.rollback().await.map_err(failure)?;
            return Ok(Committed::Stale);
        }
        let Some(section) = sections::Entity::find()
            .filter(sections::Column::PlanId.eq(write.plan))
            .filter(sections::Column::Category.eq(write.category.as_str()))
            .one(&tx)
            .await
            .map_err(failure)?
        else {
            return Err(WriteFailure::Other(ApiError::Internal(
                store::StoreError::Corrupt("updated section vanished".into()),
            )));
        };
        section.id
    };
    let revision =
        sealed::seal_revision(dek, resident, section_id, next, &write.content, author, now)
            .map_err(|error| WriteFailure::Other(error.into()))?;
    section_revisions::Entity::insert(revision)
        .exec_without_returning(&tx)
        .await
        .map_err(failure)?;
    plans::Entity::update_many()
        .col_expr(
            plans::Column::Version,
            Expr::col(plans::Column::Version).add(1),
        )
        .col_expr(plans::Column::UpdatedAt, Expr::value(now))
        .filter(plans::Column::Id.eq(write.plan))
        .exec(&tx)
        .await
        .map_err(failure)?;
    Ok(Committed::Written {
        section: section_id,
        tx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(category: &str, content: &str, expected_revision: i64, want: Result<(), &str>) {
        let input = WriteSectionInput {
            plan_id: ID(Uuid::now_v7().to_string()),
            category: category.to_owned(),
            content: content.to_owned(),
            expected_revision,
        };
        let got = parse_input(input, DEFAULT_MAX_SECTION_BYTES)
            .map(|_| ())
            .map_err(|error| match error {
                ApiError::BadUserInput(rule) => rule,
                other => panic!("not a bad-input refusal: {other:?}"),
            });
        assert_eq!(got, want, "{category:?} {expected_revision}");
    }

    #[test]
    fn plan_status_transitions() {
        use domain::PlanStatus::{Active, Closed, Draft};
        let cases = [
            (Draft, Active, true),
            (Draft, Closed, true),
            (Active, Closed, true),
            (Draft, Draft, false),
            (Active, Draft, false),
            (Active, Active, false),
            (Closed, Draft, false),
            (Closed, Active, false),
            (Closed, Closed, false),
        ];
        for (from, to, allowed) in cases {
            assert_eq!(transition_allowed(from, to), allowed, "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn input_rules() {
        let largest = "a".repeat(DEFAULT_MAX_SECTION_BYTES);
        let too_large = "a".repeat(DEFAULT_MAX_SECTION_BYTES + 1);
        let cases: [(&str, &str, i64, Result<(), &str>); 8] = [
            ("story", "twee regels\nmet\ttab", 0, Ok(())),
            ("health", &largest, 4, Ok(())),
            ("hobbies", "tekst", 0, Err("unknown category")),
            ("Story", "tekst", 0, Err("unknown category")),
            (
                "story",
                &too_large,
                0,
                Err("content over the section size limit"),
            ),
            (
                "story",
                "regel\r\n",
                0,
                Err("content holds control characters other than newline and tab"),
            ),
            (
                "story",
                "nul\u{0}",
                0,
                Err("content holds control characters other than newline and tab"),
            ),
            ("story", "tekst", -1, Err("expectedRevision is negative")),
        ];
        for (category, content, expected_revision, want) in cases {
            check(category, content, expected_revision, want);
        }
    }
}
