//! Noodtoegang through GraphQL: `breakGlass`. A member in a role the matrix allows (by default a
//! wijkteam coach or a care provider's worker) reads one resident's plan without a care relation
//! or consent, for a vital interest, for hours — default and ceiling from `[policy.break_glass]`,
//! never more than 24. Every read under the grant carries the basis `break-glass:<id>`.
//!
//! The privacy officer is signalled twice: the audit entry's own action
//! (`break-glass.started`, outcome `permit` for a grant, `deny` for a refused attempt) is what the
//! FG filters on, and a `warn` event goes to the log. The written reason is sealed under the
//! resident's key, bound to the grant's row; it must never reach a log, an error or the audit
//! entry.

use async_graphql::{Context, ErrorExtensions, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Duration, Utc};
use policy::{BreakGlassDraft, PolicyError};
use sea_orm::{ActiveValue::Set, EntityTrait};
use store::entity::break_glass;
use store::sealed;
use uuid::Uuid;

use crate::ApiError;
use crate::access::{ResidentRequest, resident_subject};
use crate::consents::{parse_uuid, policy_error, submit, write_audited};

/// The longest reason kept with a grant, in characters.
const MAX_REASON_CHARS: usize = 2000;

/// A break-the-glass grant, as its holder sees it.
#[derive(SimpleObject)]
#[graphql(name = "BreakGlassGrant")]
pub struct BreakGlassView {
    pub id: ID,
    pub resident_id: ID,
    /// The plan the grant lets the holder read.
    pub plan_id: ID,
    pub organisation_id: ID,
    /// The role the glass was broken in.
    pub role: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// `break-glass:<id>`: the basis every read under the grant carries.
    pub basis: String,
}

/// A request to break the glass for one resident.
#[derive(InputObject)]
pub struct BreakGlassInput {
    pub resident_id: ID,
    /// Why, in writing: at least the configured minimum (20 characters by default), at most 2000.
    /// Sealed under the resident's key; shown to the privacy officer, never logged.
    pub reason: String,
    /// How long, in hours; absent: the configured default (4). At most the configured maximum
    /// (8 by default, never more than 24).
    pub hours: Option<i32>,
}

#[derive(Default)]
pub struct BreakGlassMutations;

#[Object]
impl BreakGlassMutations {
    /// Breaks the glass: read one resident's plan for a vital interest, for hours, without a care
    /// relation or consent. Only roles the matrix allows, with a written reason. Audited
    /// (`break-glass.started`) before the answer; the privacy officer is signalled.
    async fn break_glass(
        &self,
        ctx: &Context<'_>,
        input: BreakGlassInput,
    ) -> async_graphql::Result<BreakGlassView> {
        break_glass(ctx, input)
            .await
            .map_err(|error| error.extend())
    }
}

async fn break_glass(
    ctx: &Context<'_>,
    input: BreakGlassInput,
) -> Result<BreakGlassView, ApiError> {
    let request = ResidentRequest::new(ctx)?;
    let (caller, services, now) = (request.caller, request.services, request.now);
    let resident = parse_uuid(&input.resident_id).ok_or(ApiError::NotFound)?;
    let loaded = resident_subject(services, caller, resident, &[]).await?;
    let mut entry = request.audit_entry(&loaded, audit::AuditAction::BreakGlassStarted);

    let reason = input.reason.trim().to_owned();
    let validated = if reason.chars().count() > MAX_REASON_CHARS {
        Err(None)
    } else {
        policy::validate_break_glass(
            &services.matrix,
            &services.break_glass,
            &loaded.actor,
            BreakGlassDraft {
                resident: loaded.resident_id,
                reason,
                duration: input.hours.map(|hours| Duration::hours(i64::from(hours))),
            },
            &loaded.resident,
            now,
        )
        .map_err(Some)
    };
    let valid = match validated {
        Ok(valid) => valid,
        Err(error) => {
            // A refused attempt is a signal too: audited under the same action, as a deny.
            entry.outcome = audit::Outcome::Deny;
            entry.reason = audit::Code::parse(
                error
                    .as_ref()
                    .map_or("break-glass-reason-too-long", PolicyError::code),
            )
            .ok();
            submit(services, entry).await?;
            tracing::warn!(
                member_id = ?caller.id,
                organisation_id = %caller.organisation,
                refusal = error.as_ref().map_or("break-glass-reason-too-long", PolicyError::code),
                "break-the-glass refused"
            );
            return Err(match error {
                None => ApiError::BadUserInput("the reason is longer than 2000 characters"),
                Some(
                    PolicyError::BreakGlassRoleNotAllowed | PolicyError::BreakGlassNeedsPerson,
                ) => ApiError::Forbidden,
                // Inactive, or outside the resident's network: as if the resident did not exist.
                Some(PolicyError::BreakGlassActorNotEligible) => ApiError::NotFound,
                Some(other) => policy_error(&other),
            });
        }
    };
    let member = match valid.holder {
        policy::ActorId::Member(member) => member,
        // The policy refuses a partner system (`BreakGlassNeedsPerson`).
        policy::ActorId::Client(_) => return Err(ApiError::Forbidden),
    };

    let id = Uuid::now_v7();
    let reason_ciphertext = sealed::seal_text(
        &loaded.dek,
        sealed::BREAK_GLASS_REASON,
        id,
        loaded.resident_id,
        &valid.reason,
    )?;
    let row = break_glass::ActiveModel {
        id: Set(id),
        resident_id: Set(resident),
        member_id: Set(member.as_uuid()),
        organisation_id: Set(valid.organisation.as_uuid()),
        role: Set(Some(valid.role.as_str().to_owned())),
        reason_ciphertext: Set(reason_ciphertext),
        started_at: Set(valid.from),
        expires_at: Set(valid.until),
        ended_at: Set(None),
    };
    let basis = policy::Basis::BreakGlass(domain::BreakGlassId::from_uuid(id)).to_string();
    entry.outcome = audit::Outcome::Permit;
    entry.role = Some(valid.role);
    entry.basis = audit::Code::parse(&basis).ok();
    let conn = services.db.conn();
    write_audited(services, conn, entry, |tx| {
        Box::pin(async move {
            break_glass::Entity::insert(row)
                .exec_without_returning(tx)
                .await
                .map(|_| ())
        })
    })
    .await?;
    // The privacy officer's signal in the log; the reason stays sealed.
    tracing::warn!(
        break_glass_id = %id,
        member_id = %member,
        organisation_id = %valid.organisation,
        role = valid.role.as_str(),
        until = %valid.until,
        "break-the-glass started: the privacy officer is signalled"
    );
    Ok(BreakGlassView {
        id: ID(id.to_string()),
        resident_id: ID(resident.to_string()),
        plan_id: ID(loaded.plan.id.to_string()),
        organisation_id: ID(valid.organisation.to_string()),
        role: valid.role.as_str().to_owned(),
        from: valid.from,
        until: valid.until,
        basis,
    })
}
