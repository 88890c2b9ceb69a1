//! `eraseResident`: an administrator erases a resident by crypto-shredding, when the law allows.
//!
//! Built on `store::erase::erase_resident` with the hub's `[retention]` settings: every plan of
//! the resident closed, and the retention period of each plan's kind passed since it closed;
//! otherwise refused with `BAD_USER_INPUT` and the date erasure becomes possible
//! (`extensions.erasableFrom`). Only a member with the `administrator` role who logged in with a
//! second factor (`amr` holds `otp`) may erase; anyone else gets `FORBIDDEN` whether or not the
//! resident exists. Every attempt, refused or not, is audited (`resident.erased`).
//!
//! Administrators never see resident data (DESIGN §5): this module must never decrypt a field,
//! and answers with the tombstone only — who erased whom (by internal id), when, on what ground.

use async_graphql::{Context, ErrorExtensions, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use domain::{ResidentId, Role};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use store::entity::erasures;
use store::erase::{self, EraseError, Eraser};
use uuid::Uuid;

use crate::access::{caller_entry, db};
use crate::caller::{Caller, CallerId};
use crate::{ApiError, context};

/// The longest ground accepted, in characters: a request number or decision reference.
pub const MAX_GROUND_CHARS: usize = 500;

/// The erasure mutation.
#[derive(Default)]
pub struct ErasureMutations;

#[Object]
impl ErasureMutations {
    /// Erases a resident by crypto-shredding: their data key is destroyed, so their name, BSN
    /// and every plan revision can never be read again; the rows, the audit trail and a
    /// tombstone stay. Only an administrator with a second factor. Refused with
    /// `BAD_USER_INPUT` while a plan is open or its retention period runs
    /// (`extensions.erasableFrom` gives the date it becomes possible). Audited.
    async fn erase_resident(
        &self,
        ctx: &Context<'_>,
        input: EraseResidentInput,
    ) -> async_graphql::Result<ErasureTombstone> {
        erase_resident(ctx, input).await.map_err(Refusal::extend)
    }
}

/// Which resident to erase, and why.
#[derive(InputObject)]
pub struct EraseResidentInput {
    /// The resident's internal id (as in the audit log), never the BSN.
    pub resident_id: ID,
    /// The request or decision this erasure follows (e.g. "AVG-verzoek 2026-114"), 1 to 500
    /// characters, no personal data.
    pub ground: String,
}

/// The tombstone of an erased resident: all an erasure answers. Holds no personal data.
#[derive(SimpleObject)]
pub struct ErasureTombstone {
    /// The tombstone's id.
    pub id: ID,
    pub resident_id: ID,
    pub erased_at: DateTime<Utc>,
    /// `member:<id>` of the administrator (or `cli:<user>` for the command line).
    pub erased_by: String,
    pub ground: String,
    /// When the longest retention period of the resident's plans ended.
    pub retention_ended_at: DateTime<Utc>,
}

/// Why an erasure was not done: an [`ApiError`], and for a running retention period the date
/// erasure becomes possible.
#[derive(Debug)]
struct Refusal {
    error: ApiError,
    erasable_from: Option<NaiveDate>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal {
            error,
            erasable_from: None,
        }
    }
}

impl Refusal {
    fn extend(self) -> async_graphql::Error {
        let mut error = self.error.extend();
        if let Some(date) = self.erasable_from {
            // A date is no resident data; the message says it for people, the extension for code.
            error.message = format!(
                "bad input: the retention period runs until {date}; erasure is possible from then"
            );
            error = error.extend_with(|_, ext| ext.set("erasableFrom", date.to_string()));
        }
        error
    }
}

/// What the caller is, for the erasure rule; `Ok` only for an administrator with a second factor.
fn may_erase(caller: &Caller) -> Result<(), &'static str> {
    if !matches!(caller.id, CallerId::Member(_)) {
        return Err("role-forbids-erasure");
    }
    if !caller.roles.contains(&Role::Administrator) {
        return Err("role-forbids-erasure");
    }
    if !caller.has_second_factor() {
        return Err("second-factor-required");
    }
    Ok(())
}

fn check_ground(ground: &str) -> Result<&str, ApiError> {
    let ground = ground.trim();
    let n_chars = ground.chars().count();
    if n_chars == 0 || n_chars > MAX_GROUND_CHARS {
        return Err(ApiError::BadUserInput(
            "ground must say which request or decision this follows (1 to 500 characters)",
        ));
    }
    if ground.chars().any(char::is_control) {
        return Err(ApiError::BadUserInput(
            "ground must not contain control characters",
        ));
    }
    Ok(ground)
}

async fn erase_resident(
    ctx: &Context<'_>,
    input: EraseResidentInput,
) -> Result<ErasureTombstone, Refusal> {
    let caller = crate::caller(ctx)?;
    let services = context::services(ctx)?;
    let info = context::request_info(ctx);
    let resident = Uuid::parse_str(input.resident_id.as_str()).ok();
    let mut entry = entry(caller, &info, resident);

    // Who may erase is decided first, before the resident is looked at: a refusal says nothing
    // about whether the id exists.
    if let Err(reason) = may_erase(caller) {
        submit(services, entry, audit::Outcome::Deny, reason).await?;
        return Err(ApiError::Forbidden.into());
    }
    let ground = match check_ground(&input.ground) {
        Ok(ground) => ground,
        Err(error) => {
            submit(services, entry, audit::Outcome::Deny, "bad-ground").await?;
            return Err(error.into());
        }
    };
    let Some(resident) = resident else {
        submit(services, entry, audit::Outcome::Deny, "not-found").await?;
        return Err(ApiError::NotFound.into());
    };
    // An erasure cannot be undone, so it is not started while its entry could not be written.
    if !services.audit.is_healthy() {
        return Err(ApiError::AuditUnavailable.into());
    }
    let CallerId::Member(member) = caller.id else {
        return Err(ApiError::Forbidden.into());
    };
    let eraser = Eraser {
        by: format!("member:{member}"),
        ground: ground.to_owned(),
    };
    let now = Utc::now();
    let result =
        erase::erase_resident(&services.db, resident, &services.retention, &eraser, now).await;
    let erased = match result {
        Ok(erased) => erased,
        Err(error) => {
            let (outcome, reason, refusal) = match error {
                EraseError::NotFound(_) => {
                    (audit::Outcome::Deny, "not-found", ApiError::NotFound.into())
                }
                EraseError::AlreadyErased { .. } => (
                    audit::Outcome::Deny,
                    "already-erased",
                    ApiError::BadUserInput("the resident was already erased").into(),
                ),
                EraseError::PlanOpen { .. } => (
                    audit::Outcome::Deny,
                    "plan-open",
                    ApiError::BadUserInput(
                        "a plan of the resident is still open: it must be closed and its retention period passed",
                    )
                    .into(),
                ),
                EraseError::RetentionRunning { until, .. } => (
                    audit::Outcome::Deny,
                    "retention-running",
                    Refusal {
                        error: ApiError::BadUserInput("the retention period has not ended"),
                        erasable_from: Some(until),
                    },
                ),
                EraseError::Store(source) => (
                    audit::Outcome::Error,
                    "store-error",
                    ApiError::Internal(source).into(),
                ),
            };
            entry.checks = checks(true);
            submit(services, entry, outcome, reason).await?;
            return Err(refusal);
        }
    };
    // The data key may still sit unwrapped in this instance's cache: drop it now (other
    // instances' entries expire within the cache's lifetime, and none is used for an erased
    // resident, whose reads answer NOT_FOUND).
    services
        .deks
        .forget_resident(ResidentId::from_uuid(erased.resident));
    entry.checks = checks(true);
    if let Err(error) = submit(services, entry, audit::Outcome::Permit, "erased").await {
        // Irreversible and done: the tombstone records who and when; the log must say so too.
        tracing::error!(
            resident_id = %erased.resident,
            "resident erased, but its audit entry could not be written"
        );
        return Err(error);
    }
    let tombstone = erasures::Entity::find()
        .filter(erasures::Column::ResidentId.eq(erased.resident))
        .one(services.db.conn())
        .await
        .map_err(db)?
        .ok_or_else(|| {
            ApiError::Internal(store::StoreError::Corrupt(format!(
                "resident {}: erased without a tombstone",
                erased.resident
            )))
        })?;
    Ok(ErasureTombstone {
        id: ID(tombstone.id.to_string()),
        resident_id: ID(tombstone.resident_id.to_string()),
        erased_at: tombstone.erased_at,
        erased_by: tombstone.erased_by,
        ground: tombstone.ground,
        retention_ended_at: tombstone.retention_ended_at,
    })
}

/// The checks an erasure applies, in order; `retention` once the store has looked at the plans.
fn checks(retention: bool) -> Vec<audit::Code> {
    let mut names = vec!["authenticated", "role", "second-factor"];
    if retention {
        names.push("retention");
    }
    names
        .into_iter()
        .filter_map(|name| audit::Code::parse(name).ok())
        .collect()
}

fn entry(caller: &Caller, info: &context::RequestInfo, resident: Option<Uuid>) -> audit::NewEntry {
    let mut entry = caller_entry(audit::AuditAction::Erasure, caller, info);
    entry.role = caller.roles.first().copied();
    entry.resident = resident.map(ResidentId::from_uuid);
    entry.checks = checks(false);
    entry
}

/// Commits the entry with its outcome and reason; `AUDIT_UNAVAILABLE` when it cannot be written.
async fn submit(
    services: &context::Services,
    mut entry: audit::NewEntry,
    outcome: audit::Outcome,
    reason: &str,
) -> Result<(), Refusal> {
    entry.outcome = outcome;
    entry.reason = audit::Code::parse(reason).ok();
    if let Err(error) = services.audit.submit(entry).await {
        tracing::error!(error = %error, "audit entry of an erasure request not written");
        return Err(ApiError::AuditUnavailable.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Credential;

    fn caller(id: CallerId, role: Role, amr: &[&str]) -> Caller {
        Caller {
            id,
            client_id: "wijkhub-console".into(),
            organisation: domain::OrganisationId::new(),
            roles: vec![role],
            scopes: Vec::new(),
            purposes: Vec::new(),
            amr: amr.iter().map(|method| (*method).to_owned()).collect(),
            credential: Credential::Session,
            expires_at: Utc::now(),
        }
    }

    #[track_caller]
    fn check(caller: Caller, want: Result<(), &'static str>) {
        assert_eq!(may_erase(&caller), want);
    }

    #[test]
    fn only_an_administrator_with_a_second_factor_erases() {
        let member = CallerId::Member(domain::MemberId::new());
        let client = CallerId::Client(domain::ClientId::new());
        let cases = [
            (member, Role::Administrator, &["pwd", "otp"][..], Ok(())),
            (
                member,
                Role::Administrator,
                &["pwd"][..],
                Err("second-factor-required"),
            ),
            (
                member,
                Role::Coach,
                &["pwd", "otp"][..],
                Err("role-forbids-erasure"),
            ),
            (
                member,
                Role::PrivacyOfficer,
                &["pwd", "otp"][..],
                Err("role-forbids-erasure"),
            ),
            (
                client,
                Role::Administrator,
                &["otp"][..],
                Err("role-forbids-erasure"),
            ),
        ];
        for (id, role, amr, want) in cases {
            check(caller(id, role, amr), want);
        }
    }

    #[test]
    fn the_ground_is_checked() {
        assert_eq!(check_ground("  AVG-verzoek 7 ").ok(), Some("AVG-verzoek 7"));
        assert!(check_ground("   ").is_err());
        assert!(check_ground(&"x".repeat(MAX_GROUND_CHARS + 1)).is_err());
        assert!(check_ground(&"é".repeat(MAX_GROUND_CHARS)).is_ok());
        assert!(check_ground("AVG\u{0}7").is_err());
    }

    #[test]
    fn a_running_retention_period_names_its_end() {
        let date = NaiveDate::from_ymd_opt(2046, 3, 1).unwrap();
        let error = Refusal {
            error: ApiError::BadUserInput("the retention period has not ended"),
            erasable_from: Some(date),
        }
        .extend();
        assert!(error.message.contains("2046-03-01"), "{}", error.message);
        let extensions = error.extensions.unwrap();
        assert_eq!(
            extensions.get("code").map(ToString::to_string),
            Some("\"BAD_USER_INPUT\"".to_owned())
        );
        assert_eq!(
            extensions.get("erasableFrom").map(ToString::to_string),
            Some("\"2046-03-01\"".to_owned())
        );
    }
}
