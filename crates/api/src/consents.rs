//! Toestemming through GraphQL: the resident's consents with their history (`consents`), what
//! the hub will share and on what basis (`sharingOverview`), and recording and withdrawing a
//! consent (`recordConsent`, `withdrawConsent`).
//!
//! The rules are the policy crate's (`validate_consent`, `validate_withdrawal`,
//! `sharing_overview`); this module loads the facts, translates, seals and audits. Who may record
//! is the policy's one rule for keeping the resident's record (`policy::may_record`): a coach of
//! the wijkteam that owns the resident's plan, while that wijkteam (or the coach) has a care
//! relation with the resident — the owning wijkteam documents consent on its statutory task. A
//! caller without a care relation learns nothing (`NOT_FOUND`).

use std::collections::BTreeSet;

use async_graphql::{Context, ErrorExtensions, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::{Category, EvidenceKind, MemberId, OrganisationKind, Purpose};
use policy::{
    Actor, ConsentDraft, Evidence, Giver, Grantee, GranteeDraft, Recording, RepresentativeId,
    WithdrawalDraft,
};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use secrecy::ExposeSecret;
use serde_json::json;
use store::entity::consents;
use store::records::{self};
use store::sealed;
use uuid::Uuid;

use crate::ApiError;
use crate::access::{
    ResidentRequest, Subject, categories, codes, consent_fact, db, policy_organisation, purposes,
    resident_subject,
};
use crate::context;

/// One version of a consent, with its withdrawal.
#[derive(SimpleObject)]
#[graphql(name = "Consent")]
pub struct ConsentView {
    pub id: ID,
    /// 1 for a first consent; a change is a new version that supersedes the previous one.
    pub version: i32,
    /// The version this one replaced.
    pub supersedes_id: Option<ID>,
    /// The id of the version that replaced this one, if any.
    pub superseded_by_id: Option<ID>,
    /// The organisation it names, or null when it names a kind within the network.
    pub grantee_organisation_id: Option<ID>,
    /// The kind of organisation it names (`welzijn`, `zorgaanbieder`, ...).
    pub grantee_kind: String,
    pub categories: Vec<String>,
    pub purposes: Vec<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    /// `resident`, `representatives` or `resident-and-representatives`.
    pub given_by: String,
    pub given_by_representative_ids: Vec<ID>,
    /// `verbal`, `written` or `digital`.
    pub evidence_kind: String,
    /// The evidence reference: only for the wijkteam that owns the plan.
    pub evidence: Option<String>,
    pub recorded_by: ID,
    pub recorded_at: DateTime<Utc>,
    /// `current`, `not-yet-valid`, `expired`, `withdrawn` or `superseded`.
    pub status: String,
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Who withdrew: `resident`, `representative` or `member` (recorded by staff).
    pub withdrawn_by: Option<String>,
    pub withdrawn_by_id: Option<ID>,
    /// Why, if the resident said: only for the wijkteam that owns the plan.
    pub withdrawal_reason: Option<String>,
}

/// One line of the sharing overview (deeloverzicht), in plain language.
#[derive(SimpleObject)]
#[graphql(name = "SharingLine")]
pub struct SharingLineView {
    /// The organisation's name, or the kind within the network ("every welzijn organisation").
    pub organisation: String,
    pub organisation_id: Option<ID>,
    pub organisation_kind: String,
    /// The parts of the plan it may see.
    pub parts: Vec<String>,
    /// Parts an objection or restriction takes out.
    pub objected: Vec<String>,
    pub purposes: Vec<String>,
    pub from: Option<DateTime<Utc>>,
    /// Null: as long as the statutory task lasts.
    pub until: Option<DateTime<Utc>>,
    /// `statutory:<law>`, `consent:<id>` or `break-glass:<id>`.
    pub basis: String,
    /// Whether the organisation has a care relation now (without one it sees nothing yet).
    pub involved: bool,
    /// The whole line as a sentence, for the resident.
    pub text: String,
}

/// A consent as the coach records it. A change to a consent is a new one with `supersedesId`.
#[derive(InputObject)]
pub struct RecordConsentInput {
    pub resident_id: ID,
    /// The consent this one replaces (a new version; the old one stays in the history).
    pub supersedes_id: Option<ID>,
    /// One organisation of the network, or …
    pub grantee_organisation_id: Option<ID>,
    /// … every organisation of this kind within the resident's network.
    pub grantee_kind: Option<String>,
    pub categories: Vec<String>,
    pub purposes: Vec<String>,
    /// Default: now.
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: DateTime<Utc>,
    /// The resident gave it themself (16 and older alone; 12 to 15 together with a representative).
    pub given_by_resident: bool,
    /// Registered representatives who gave it.
    #[graphql(default)]
    pub given_by_representative_ids: Vec<ID>,
    /// `verbal`, `written` or `digital`.
    pub evidence_kind: String,
    /// Where the evidence is kept (a form number, a note); sealed under the resident's key.
    pub evidence_reference: String,
}

/// A withdrawal (intrekking) of a consent.
#[derive(InputObject)]
pub struct WithdrawConsentInput {
    pub consent_id: ID,
    /// Why, if the resident wants to say; sealed under the resident's key.
    pub reason: Option<String>,
    /// The registered representative who withdraws; absent: the resident themself.
    pub withdrawn_by_representative_id: Option<ID>,
}

#[derive(Default)]
pub struct ConsentMutations;

#[Object]
impl ConsentMutations {
    /// Records a consent (or a new version of one). Only a coach of the wijkteam that owns the
    /// plan. Validated by the policy; audited before the answer.
    async fn record_consent(
        &self,
        ctx: &Context<'_>,
        input: RecordConsentInput,
    ) -> async_graphql::Result<ConsentView> {
        record_consent(ctx, input)
            .await
            .map_err(|error| error.extend())
    }

    /// Withdraws a consent at once; the record stays. Only a coach of the owning wijkteam.
    async fn withdraw_consent(
        &self,
        ctx: &Context<'_>,
        input: WithdrawConsentInput,
    ) -> async_graphql::Result<ConsentView> {
        withdraw_consent(ctx, input)
            .await
            .map_err(|error| error.extend())
    }
}

pub(crate) fn parse_uuid(id: &ID) -> Option<Uuid> {
    Uuid::parse_str(id.as_str()).ok()
}

pub(crate) async fn submit(
    services: &context::Services,
    entry: audit::NewEntry,
) -> Result<(), ApiError> {
    services
        .audit
        .submit(entry)
        .await
        .map(|_| ())
        .map_err(|error| {
            tracing::error!(error = %error, "audit entry not written; consent request refused");
            ApiError::AuditUnavailable
        })
}

/// `consents(residentId)`: the resolver.
pub(crate) async fn consents(ctx: &Context<'_>, id: &ID) -> Result<Vec<ConsentView>, ApiError> {
    let (loaded, now) = audited_read(ctx, id).await?;
    loaded
        .record
        .consents
        .iter()
        .map(|row| consent_view(&loaded, row, now))
        .collect()
}

/// The resident of a read about their consents, for a caller who needs to know them: purpose
/// declared, the read audited (permitted or not) before anything leaves, `NOT_FOUND` without a
/// care relation.
async fn audited_read(ctx: &Context<'_>, id: &ID) -> Result<(Subject, DateTime<Utc>), ApiError> {
    let request = ResidentRequest::new(ctx)?;
    let (services, now) = (request.services, request.now);
    let resident = parse_uuid(id).ok_or(ApiError::NotFound)?;
    let loaded = resident_subject(services, request.caller, resident, &[]).await?;
    let knows = loaded.caller_knows_resident(now);
    let mut entry = request.audit_entry(&loaded, audit::AuditAction::ResidentRead);
    entry.outcome = if knows {
        audit::Outcome::Permit
    } else {
        entry.reason = audit::Code::parse("no-care-relation").ok();
        audit::Outcome::Deny
    };
    entry.checks = ["care-relation"]
        .into_iter()
        .filter_map(|check| audit::Code::parse(check).ok())
        .collect();
    submit(services, entry).await?;
    if !knows {
        return Err(ApiError::NotFound);
    }
    Ok((loaded, now))
}

fn consent_view(
    loaded: &Subject,
    row: &consents::Model,
    now: DateTime<Utc>,
) -> Result<ConsentView, ApiError> {
    let superseded_by = loaded
        .record
        .consents
        .iter()
        .find(|other| other.supersedes_id == Some(row.id))
        .map(|other| ID(other.id.to_string()));
    let grantee_kind = match (row.grantee_organisation_id, row.grantee_kind.as_deref()) {
        (Some(id), _) => loaded
            .organisations
            .get(&id)
            .map(|record| record.organisation.kind.clone())
            .unwrap_or_default(),
        (None, Some(kind)) => kind.to_owned(),
        (None, None) => String::new(),
    };
    let status = if row.withdrawn_at.is_some() {
        "withdrawn"
    } else if superseded_by.is_some() {
        "superseded"
    } else if now < row.valid_from {
        "not-yet-valid"
    } else if row.valid_until.is_some_and(|until| until <= now) {
        "expired"
    } else {
        "current"
    };
    let open = |column, bytes: &Option<Vec<u8>>| -> Result<Option<String>, ApiError> {
        match bytes {
            Some(bytes) if loaded.caller_owns_plan => Ok(Some(
                sealed::open_text(&loaded.dek, column, row.id, loaded.resident_id, bytes)?
                    .expose_secret()
                    .to_owned(),
            )),
            _ => Ok(None),
        }
    };
    let withdrawn_by = row.withdrawn_by.map(|by| {
        if by == row.resident_id {
            "resident"
        } else if loaded.record.representatives.contains(&by) {
            "representative"
        } else {
            "member"
        }
        .to_owned()
    });
    let ids = |json: &serde_json::Value| -> Result<Vec<ID>, ApiError> {
        Ok(codes(json, row.id)?.into_iter().map(ID).collect())
    };
    Ok(ConsentView {
        id: ID(row.id.to_string()),
        version: row.version,
        supersedes_id: row.supersedes_id.map(|id| ID(id.to_string())),
        superseded_by_id: superseded_by,
        grantee_organisation_id: row.grantee_organisation_id.map(|id| ID(id.to_string())),
        grantee_kind,
        categories: categories(&row.categories, row.id)?
            .iter()
            .map(|category| category.as_str().to_owned())
            .collect(),
        purposes: purposes(&row.purposes, row.id)?
            .iter()
            .map(|purpose| purpose.as_str().to_owned())
            .collect(),
        valid_from: row.valid_from,
        valid_until: row.valid_until,
        given_by: row.given_by.clone(),
        given_by_representative_ids: ids(&row.given_by_representative_ids)?,
        evidence_kind: row.evidence_kind.clone(),
        evidence: open(sealed::CONSENT_EVIDENCE, &row.evidence_ciphertext)?,
        recorded_by: ID(row.recorded_by.to_string()),
        recorded_at: row.recorded_at,
        status: status.to_owned(),
        withdrawn_at: row.withdrawn_at,
        withdrawn_by,
        withdrawn_by_id: row.withdrawn_by.map(|id| ID(id.to_string())),
        withdrawal_reason: open(
            sealed::CONSENT_WITHDRAWAL_REASON,
            &row.withdrawal_reason_ciphertext,
        )?,
    })
}

pub(crate) fn bad(message: &'static str) -> ApiError {
    ApiError::BadUserInput(message)
}

/// The policy's refusal as a fixed client text.
pub(crate) fn policy_error(error: &policy::PolicyError) -> ApiError {
    use policy::PolicyError as E;
    ApiError::BadUserInput(match error {
        E::OtherResident => "the record belongs to another resident",
        E::NoCategories => "a consent must cover at least one category",
        E::NoPurposes => "a consent must cover at least one purpose",
        E::EndNotAfterStart => "the end must be after the start",
        E::GranteeOutsideNetwork => "the grantee does not take part in the resident's network",
        E::RepresentativeNotRegistered => "the representative is not registered for this resident",
        E::WrongPersonForAge => "given by the wrong person for the resident's age",
        E::EvidenceReferenceMissing => "the evidence needs a reference",
        E::AlreadyWithdrawn => "the consent is already withdrawn",
        E::ObjectionCoversNothing => {
            "an objection must cover at least one category and one organisation"
        }
        E::AlreadyLifted => "the objection is already lifted",
        E::BreakGlassReasonTooShort { .. } => {
            "break-the-glass needs a written reason of the configured minimum length"
        }
        E::BreakGlassDurationOutOfRange { .. } => {
            "break-the-glass lasts more than zero hours and at most the configured maximum"
        }
        E::CareRelationOrganisationNotEligible => {
            "the organisation is inactive or does not take part in the resident's network"
        }
        E::MemberNotOfOrganisation => "the member does not belong to the organisation",
        E::CoordinatorNotWijkteam => "only a wijkteam coordinates",
        E::AlreadyEnded => "the care relation has already ended",
        E::MatrixLoosened { .. }
        | E::BreakGlassLoosened { .. }
        | E::BreakGlassRoleNotAllowed
        | E::BreakGlassActorNotEligible
        | E::BreakGlassConfigInvalid
        | E::BreakGlassNeedsPerson => "refused by the policy",
    })
}

/// Asks the policy whether the caller may keep this part of the resident's record
/// (`policy::may_record`: a coach of the wijkteam that owns the plan); refuses after auditing the
/// attempt under `action` — `NOT_FOUND` when the caller may not know the resident, else
/// `FORBIDDEN`. Answers the recording member, the basis (the owning wijkteam's statutory task)
/// and the audit entry to complete.
pub(crate) async fn authorise_write(
    request: &ResidentRequest<'_>,
    loaded: &Subject,
    recording: Recording,
    action: audit::AuditAction,
) -> Result<(MemberId, policy::Basis, audit::NewEntry), ApiError> {
    let mut entry = request.audit_entry(loaded, action);
    let permitted = policy::may_record(
        &request.services.matrix,
        &loaded.actor,
        recording,
        request.purpose,
        &loaded.resident,
        &loaded.facts,
        request.now,
    );
    let denial = match (permitted, &loaded.actor) {
        (Ok(basis), Actor::Member(member)) => return Ok((member.id, basis, entry)),
        // The policy lets only a member keep these records; a partner system never gets here.
        (Ok(_), Actor::Client(_)) => policy::RecordDenial {
            reason: policy::RecordDenyReason::NotOwningWijkteamCoach,
            hides_resident: false,
        },
        (Err(denial), _) => denial,
    };
    entry.outcome = audit::Outcome::Deny;
    entry.reason = audit::Code::parse(denial.reason.as_str()).ok();
    submit(request.services, entry).await?;
    Err(if denial.hides_resident {
        ApiError::NotFound
    } else {
        ApiError::Forbidden
    })
}

async fn record_consent(
    ctx: &Context<'_>,
    input: RecordConsentInput,
) -> Result<ConsentView, ApiError> {
    let request = ResidentRequest::new(ctx)?;
    let (services, now) = (request.services, request.now);
    let resident = parse_uuid(&input.resident_id).ok_or(ApiError::NotFound)?;
    let grantee_organisation = match &input.grantee_organisation_id {
        Some(id) => Some(parse_uuid(id).ok_or_else(|| bad("unknown grantee organisation"))?),
        None => None,
    };
    let loaded = resident_subject(
        services,
        request.caller,
        resident,
        grantee_organisation.as_slice(),
    )
    .await?;
    let (member, _, mut entry) = authorise_write(
        &request,
        &loaded,
        Recording::Consent,
        audit::AuditAction::ConsentRecorded,
    )
    .await?;

    // Translate the input; the policy judges it.
    let grantee = match (grantee_organisation, input.grantee_kind.as_deref()) {
        (Some(id), None) => {
            let record = loaded
                .organisations
                .get(&id)
                .ok_or_else(|| bad("unknown grantee organisation"))?;
            GranteeDraft::Organisation(policy_organisation(record)?)
        }
        (None, Some(kind)) => GranteeDraft::OrganisationKind(
            OrganisationKind::parse(kind).map_err(|_| bad("unknown organisation kind"))?,
        ),
        _ => return Err(bad("name either one grantee organisation or one kind")),
    };
    let category_set = input
        .categories
        .iter()
        .map(|code| Category::parse(code).map_err(|_| bad("unknown category")))
        .collect::<Result<policy::CategorySet, _>>()?;
    let purpose_set = input
        .purposes
        .iter()
        .map(|code| Purpose::parse(code).map_err(|_| bad("unknown purpose")))
        .collect::<Result<policy::PurposeSet, _>>()?;
    let evidence_kind =
        EvidenceKind::parse(&input.evidence_kind).map_err(|_| bad("unknown evidence kind"))?;
    let mut given_by = Vec::new();
    if input.given_by_resident {
        given_by.push(Giver::Resident);
    }
    for id in &input.given_by_representative_ids {
        let id = parse_uuid(id)
            .ok_or_else(|| policy_error(&policy::PolicyError::RepresentativeNotRegistered))?;
        given_by.push(Giver::Representative(RepresentativeId(id)));
    }
    let supersedes = match &input.supersedes_id {
        Some(id) => {
            let id = parse_uuid(id).ok_or_else(|| bad("unknown consent to supersede"))?;
            let previous = loaded
                .record
                .consents
                .iter()
                .find(|consent| consent.id == id)
                .ok_or_else(|| bad("unknown consent to supersede"))?;
            if previous.withdrawn_at.is_some() {
                return Err(policy_error(&policy::PolicyError::AlreadyWithdrawn));
            }
            if loaded
                .record
                .consents
                .iter()
                .any(|consent| consent.supersedes_id == Some(id))
            {
                return Err(bad(
                    "the consent was already changed; change its latest version",
                ));
            }
            Some(previous)
        }
        None => None,
    };
    let draft = ConsentDraft {
        resident: loaded.resident_id,
        grantee,
        categories: category_set,
        purposes: purpose_set,
        valid_from: input.valid_from.unwrap_or(now),
        valid_until: input.valid_until,
        given_by,
        evidence: Evidence {
            kind: evidence_kind,
            reference: input.evidence_reference,
        },
        recorded_by: member,
    };
    let valid = policy::validate_consent(draft, &loaded.resident, now)
        .map_err(|error| policy_error(&error))?;

    let id = Uuid::now_v7();
    let evidence = sealed::seal_text(
        &loaded.dek,
        sealed::CONSENT_EVIDENCE,
        id,
        loaded.resident_id,
        &valid.evidence().reference,
    )?;
    let representatives: Vec<String> = valid
        .given_by()
        .iter()
        .filter_map(|giver| match giver {
            Giver::Representative(id) => Some(id.0.to_string()),
            Giver::Resident => None,
        })
        .collect();
    let by_resident = valid.given_by().contains(&Giver::Resident);
    let given_by = match (by_resident, representatives.is_empty()) {
        (true, true) => "resident",
        (false, _) => "representatives",
        (true, false) => "resident-and-representatives",
    };
    let (grantee_organisation_id, grantee_kind, grantee_network) = match valid.grantee() {
        Grantee::Organisation { id, .. } => {
            (Some(id.as_uuid()), None, loaded.record.resident.network_id)
        }
        Grantee::OrganisationKind { kind, network } => {
            (None, Some(kind.as_str().to_owned()), network.as_uuid())
        }
    };
    let row = consents::ActiveModel {
        id: Set(id),
        resident_id: Set(resident),
        version: Set(supersedes.map_or(1, |previous| previous.version + 1)),
        supersedes_id: Set(supersedes.map(|previous| previous.id)),
        given_by: Set(given_by.to_owned()),
        given_by_representative_ids: Set(json!(representatives)),
        grantee_organisation_id: Set(grantee_organisation_id),
        grantee_kind: Set(grantee_kind),
        grantee_network_id: Set(grantee_network),
        categories: Set(json!(
            valid
                .categories()
                .iter()
                .map(Category::as_str)
                .collect::<Vec<_>>()
        )),
        purposes: Set(json!(
            valid
                .purposes()
                .iter()
                .map(Purpose::as_str)
                .collect::<Vec<_>>()
        )),
        valid_from: Set(valid.valid_from()),
        valid_until: Set(Some(valid.valid_until())),
        evidence_kind: Set(valid.evidence().kind.as_str().to_owned()),
        evidence_ciphertext: Set(Some(evidence)),
        recorded_by: Set(member.as_uuid()),
        recorded_at: Set(valid.recorded_at()),
        withdrawn_at: Set(None),
        withdrawn_by: Set(None),
        withdrawal_reason_ciphertext: Set(None),
    };

    entry.outcome = audit::Outcome::Permit;
    entry.basis = audit::Code::parse(&format!("consent:{id}")).ok();
    entry.categories_returned = valid.categories().iter().collect::<BTreeSet<_>>();
    let conn = services.db.conn();
    write_audited(services, conn, entry, |tx| {
        Box::pin(async move {
            consents::Entity::insert(row)
                .exec_without_returning(tx)
                .await
                .map(|_| ())
        })
    })
    .await?;

    let mut records = records::load_records(conn, &[resident]).await?;
    let record = records.remove(&resident).ok_or(ApiError::NotFound)?;
    let row = record
        .consents
        .iter()
        .find(|consent| consent.id == id)
        .cloned()
        .ok_or(ApiError::NotFound)?;
    let loaded = Subject { record, ..loaded };
    consent_view(&loaded, &row, Utc::now())
}

pub(crate) type WriteFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sea_orm::DbErr>> + Send + 'a>>;

/// Writes in one transaction, with the audit entry durable before the commit: the rows are
/// written, the entry submitted, and only then the transaction committed; if the audit log
/// cannot take the entry, the transaction rolls back and the caller gets `AUDIT_UNAVAILABLE`.
///
/// SQLite has one writer at a time and the audit log writes to the same database, so there the
/// entry is made durable first and the rows written after it (an entry of an attempt whose write
/// then failed is possible; a write without its entry is not).
pub(crate) async fn write_audited(
    services: &context::Services,
    conn: &sea_orm::DatabaseConnection,
    entry: audit::NewEntry,
    write: impl for<'t> FnOnce(&'t sea_orm::DatabaseTransaction) -> WriteFuture<'t>,
) -> Result<(), ApiError> {
    let single_writer = conn.get_database_backend() == sea_orm::DatabaseBackend::Sqlite;
    let mut entry = Some(entry);
    if single_writer && let Some(entry) = entry.take() {
        submit(services, entry).await?;
    }
    let tx = conn.begin().await.map_err(db)?;
    write(&tx).await.map_err(db)?;
    if let Some(entry) = entry.take() {
        // Dropping `tx` on error rolls it back.
        submit(services, entry).await?;
    }
    tx.commit().await.map_err(db)
}

async fn withdraw_consent(
    ctx: &Context<'_>,
    input: WithdrawConsentInput,
) -> Result<ConsentView, ApiError> {
    let request = ResidentRequest::new(ctx)?;
    let (services, now) = (request.services, request.now);
    let consent_id = parse_uuid(&input.consent_id).ok_or(ApiError::NotFound)?;
    let conn = services.db.conn();
    let Some(row) = consents::Entity::find_by_id(consent_id)
        .one(conn)
        .await
        .map_err(db)?
    else {
        return Err(ApiError::NotFound);
    };
    let loaded = resident_subject(services, request.caller, row.resident_id, &[]).await?;
    let (member, _, mut entry) = authorise_write(
        &request,
        &loaded,
        Recording::Consent,
        audit::AuditAction::ConsentWithdrawn,
    )
    .await?;

    let withdrawn_by = match &input.withdrawn_by_representative_id {
        Some(id) => {
            Giver::Representative(RepresentativeId(parse_uuid(id).ok_or_else(|| {
                policy_error(&policy::PolicyError::RepresentativeNotRegistered)
            })?))
        }
        None => Giver::Resident,
    };
    let reason = input
        .reason
        .map(|reason| reason.trim().to_owned())
        .filter(|reason| !reason.is_empty());
    // The consent as the policy sees it (a superseded one can still be withdrawn: it ends it).
    let fact = consent_fact(&row, &loaded.organisations)?;
    let valid = policy::validate_withdrawal(
        &fact,
        WithdrawalDraft {
            resident: loaded.resident_id,
            withdrawn_by,
            reason,
            recorded_by: member,
        },
        &loaded.resident,
        now,
    )
    .map_err(|error| policy_error(&error))?;

    let reason_ciphertext = valid
        .reason
        .as_deref()
        .map(|reason| {
            sealed::seal_text(
                &loaded.dek,
                sealed::CONSENT_WITHDRAWAL_REASON,
                row.id,
                loaded.resident_id,
                reason,
            )
        })
        .transpose()?;
    let withdrawn_by_id = match valid.withdrawn_by {
        Giver::Resident => row.resident_id,
        Giver::Representative(id) => id.0,
    };
    let update = consents::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(row.id),
        withdrawn_at: Set(Some(valid.withdrawn_at)),
        withdrawn_by: Set(Some(withdrawn_by_id)),
        withdrawal_reason_ciphertext: Set(reason_ciphertext),
        ..Default::default()
    };
    entry.outcome = audit::Outcome::Permit;
    entry.basis = audit::Code::parse(&format!("consent:{}", row.id)).ok();
    write_audited(services, conn, entry, |tx| {
        Box::pin(async move {
            // Only if still not withdrawn: two withdrawals racing end in one.
            let result = consents::Entity::update_many()
                .set(update)
                .filter(consents::Column::Id.eq(row.id))
                .filter(consents::Column::WithdrawnAt.is_null())
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

    let mut records = records::load_records(conn, &[row.resident_id]).await?;
    let record = records.remove(&row.resident_id).ok_or(ApiError::NotFound)?;
    let updated = record
        .consents
        .iter()
        .find(|consent| consent.id == row.id)
        .cloned()
        .ok_or(ApiError::NotFound)?;
    let loaded = Subject { record, ..loaded };
    consent_view(&loaded, &updated, Utc::now())
}

/// `sharingOverview(residentId)`: the resolver.
pub(crate) async fn sharing_overview(
    ctx: &Context<'_>,
    id: &ID,
) -> Result<Vec<SharingLineView>, ApiError> {
    let (loaded, now) = audited_read(ctx, id).await?;
    let matrix = &context::services(ctx)?.matrix;
    let lines = policy::sharing_overview(matrix, &loaded.resident, &loaded.facts, now);
    Ok(lines
        .into_iter()
        .map(|line| sharing_line(&loaded, &line))
        .collect())
}

fn sharing_line(loaded: &Subject, line: &policy::SharingLine) -> SharingLineView {
    let list = |items: Vec<&'static str>| items.into_iter().map(str::to_owned).collect::<Vec<_>>();
    let (organisation, organisation_id) = match line.grantee {
        Grantee::Organisation { id, .. } => (
            loaded
                .organisations
                .get(&id.as_uuid())
                .map_or_else(|| id.to_string(), |record| record.organisation.name.clone()),
            Some(ID(id.to_string())),
        ),
        Grantee::OrganisationKind { kind, .. } => (
            format!("every {} organisation in the network", kind.as_str()),
            None,
        ),
    };
    let parts = list(line.categories.iter().map(Category::as_str).collect());
    let objected = list(line.objected.iter().map(Category::as_str).collect());
    let purposes = list(line.purposes.iter().map(Purpose::as_str).collect());
    let join = |items: &[String]| {
        if items.is_empty() {
            "nothing".to_owned()
        } else {
            items.join(", ")
        }
    };
    let mut text = format!(
        "{organisation} may see {} for {}",
        join(&parts),
        join(&purposes)
    );
    match line.until {
        Some(until) => text.push_str(&format!(", until {}", until.format("%Y-%m-%d"))),
        None => text.push_str(", as long as the statutory task lasts"),
    }
    text.push_str(&format!(", on the basis {}", line.basis));
    if !objected.is_empty() {
        text.push_str(&format!("; not {} (objection)", join(&objected)));
    }
    if !line.involved && organisation_id.is_some() {
        text.push_str("; it is not involved now, so it sees nothing yet");
    }
    text.push('.');
    SharingLineView {
        organisation,
        organisation_id,
        organisation_kind: line.grantee.kind().as_str().to_owned(),
        parts,
        objected,
        purposes,
        from: line.from,
        until: line.until,
        basis: line.basis.to_string(),
        involved: line.involved,
        text,
    }
}
