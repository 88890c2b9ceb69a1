//! The resident record over GraphQL: `me`, `resident(id)`, `residentByBsn`, the `residents`
//! connection, and `registerResident`.
//!
//! Who may see a resident's identity (name, birth date, contact, area, representatives) is the
//! policy's `decide_identity`: whoever may read some part of the plan, on that part's basis. A
//! resident the caller has no care relation with answers exactly like one that does not exist
//! (`NOT_FOUND`); one they know but may not identify comes back with `access.granted: false` and no
//! personal field. Personal fields are decrypted only for a permit, and only those returned (the
//! BSN is never returned). Every answer about a resident has its audit entry committed first; a
//! BSN never reaches an entry, a log line or an error.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ErrorExtensions, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use crypto::Dek;
use domain::{Bsn, NetworkId, Purpose, ResidentId, ResidentStatus, Role};
use policy::{Actor, Decision};
use sea_orm::TransactionTrait;
use secrecy::ExposeSecret;
use store::entity::{plans, representatives, residents as resident_rows};
use store::records::{self, OrganisationRecord, ResidentRecord};
use store::residents::{NewRepresentative, Registration};
use store::sealed::{self, NewResident};
use uuid::Uuid;

use crate::ApiError;
use crate::access::{self, ResidentRequest, db, need_to_know};
use crate::caller::{Caller, CallerId, Viewer};
use crate::connection;
use crate::context::{self, RequestInfo, Services};
use crate::plans::AccessView;

/// The list name the `residents` cursors are issued for.
const RESIDENTS: &str = "residents";

/// Longest name (a resident's or representative's), in characters.
const MAX_NAME_CHARS: usize = 200;
/// Longest contact text, in characters.
const MAX_CONTACT_CHARS: usize = 500;
/// Longest area (wijk) name, in characters.
const MAX_AREA_CHARS: usize = 100;
/// Most representatives one registration may name.
const MAX_REPRESENTATIVES: usize = 10;
/// What a representative is to the resident: stored in plaintext, so a closed list, never text.
const REPRESENTATIVE_RELATIONS: &[&str] =
    &["moeder", "vader", "ouder", "voogd", "curator", "mentor"];

/// The resident reads: `me`, `resident`, `residentByBsn`, `residents`.
#[derive(Default)]
pub struct ResidentQuery;

#[Object]
impl ResidentQuery {
    /// The caller: the same answer as `viewer`. Nothing about residents.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        crate::caller::viewer(ctx).map_err(|error| error.extend())
    }

    /// A resident by the hub's id: identity only when the policy permits it (see `access`), the
    /// status and the ids of their plans. `NOT_FOUND` for a resident the caller's organisation (or
    /// the caller) has no care relation with, exactly as for one that does not exist. Needs a
    /// declared purpose. Audited.
    async fn resident(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ResidentView> {
        resident(ctx, &id).await.map_err(|error| error.extend())
    }

    /// A resident by BSN (nine digits passing the 11-proef, else `BAD_USER_INPUT`), found through
    /// the blind index; then as `resident(id)`. Audited whether found or not; the BSN is never
    /// logged.
    async fn resident_by_bsn(
        &self,
        ctx: &Context<'_>,
        bsn: String,
    ) -> async_graphql::Result<ResidentView> {
        resident_by_bsn(ctx, &bsn)
            .await
            .map_err(|error| error.extend())
    }

    /// The residents the caller's organisation (or the caller) has a care relation with now,
    /// oldest registration first. `first` 1–100 (default 20); `after` a cursor from this list.
    /// One audit entry per resident returned. No search by name: names are sealed.
    async fn residents(
        &self,
        ctx: &Context<'_>,
        filter: Option<ResidentFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, ResidentView>> {
        residents(ctx, filter.unwrap_or_default(), first, after)
            .await
            .map_err(|error| error.extend())
    }
}

/// `registerResident`.
#[derive(Default)]
pub struct ResidentMutations;

#[Object]
impl ResidentMutations {
    /// Registers a resident (inschrijven): the wijkteam's coach, triagist or partner system, on
    /// its statutory task. Every personal field sealed under a new data key; the BSN findable
    /// through the blind index; the wijkteam gets a coordinator care relation. Refused with
    /// `BAD_USER_INPUT`, nothing written: an invalid or already registered BSN, an empty name, a
    /// birth date in the future, control characters. Audited.
    async fn register_resident(
        &self,
        ctx: &Context<'_>,
        input: RegisterResidentInput,
    ) -> async_graphql::Result<RegisterResidentPayload> {
        register_resident(ctx, input)
            .await
            .map_err(|error| error.extend())
    }
}

/// Inwoner, as the caller may see them.
pub struct ResidentView {
    id: Uuid,
    status: String,
    plan_ids: Vec<Uuid>,
    access: AccessView,
    identity: Option<Identity>,
}

/// A permitted resident's sealed fields with their data key: each is decrypted only when the
/// query selects it, so nothing is opened that is not returned.
struct Identity {
    dek: Arc<Dek>,
    row: resident_rows::Model,
    /// Already opened: the policy's age rules needed it.
    birth_date: NaiveDate,
    /// Loaded only when the query selects `representatives`.
    representatives: Vec<representatives::Model>,
}

impl Identity {
    fn open(&self, column: crypto::Column, bytes: &[u8]) -> async_graphql::Result<String> {
        let resident = ResidentId::from_uuid(self.row.id);
        sealed::open_text(&self.dek, column, self.row.id, resident, bytes)
            .map(|text| text.expose_secret().to_owned())
            .map_err(|error| ApiError::from(error).extend())
    }
}

#[Object(name = "Resident")]
impl ResidentView {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// `active` (an erased resident is not found).
    async fn status(&self) -> &str {
        &self.status
    }

    /// The resident's plans, to read with `plan(id)`.
    async fn plan_ids(&self) -> Vec<ID> {
        self.plan_ids.iter().map(|id| ID(id.to_string())).collect()
    }

    /// Whether the caller may see who this is, and on what basis (or why not).
    async fn access(&self) -> &AccessView {
        &self.access
    }

    /// Only when `access.granted`.
    async fn name(&self) -> async_graphql::Result<Option<String>> {
        self.identity
            .as_ref()
            .map(|identity| identity.open(sealed::RESIDENT_NAME, &identity.row.name_ciphertext))
            .transpose()
    }

    /// `YYYY-MM-DD`; only when `access.granted`.
    async fn birth_date(&self) -> Option<String> {
        self.identity
            .as_ref()
            .map(|identity| identity.birth_date.format("%Y-%m-%d").to_string())
    }

    /// Phone, address or e-mail as registered; only when `access.granted`.
    async fn contact(&self) -> async_graphql::Result<Option<String>> {
        let Some(identity) = &self.identity else {
            return Ok(None);
        };
        identity
            .row
            .contact_ciphertext
            .as_deref()
            .map(|bytes| identity.open(sealed::RESIDENT_CONTACT, bytes))
            .transpose()
    }

    /// The wijk the resident lives in; only when `access.granted`.
    async fn area(&self) -> Option<&str> {
        self.identity
            .as_ref()
            .map(|identity| identity.row.area.as_str())
    }

    /// Legal representatives (wettelijk vertegenwoordigers); only when `access.granted`.
    async fn representatives(&self) -> Option<Vec<RepresentativeView<'_>>> {
        self.identity.as_ref().map(|identity| {
            identity
                .representatives
                .iter()
                .map(|row| RepresentativeView { identity, row })
                .collect()
        })
    }
}

/// Wettelijk vertegenwoordiger.
pub struct RepresentativeView<'a> {
    identity: &'a Identity,
    row: &'a representatives::Model,
}

#[Object(name = "Representative")]
impl RepresentativeView<'_> {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    async fn name(&self) -> async_graphql::Result<String> {
        let resident = ResidentId::from_uuid(self.identity.row.id);
        sealed::open_text(
            &self.identity.dek,
            sealed::REPRESENTATIVE_NAME,
            self.row.id,
            resident,
            &self.row.name_ciphertext,
        )
        .map(|text| text.expose_secret().to_owned())
        .map_err(|error| ApiError::from(error).extend())
    }

    /// `moeder`, `vader`, `ouder`, `voogd`, `curator` or `mentor`.
    async fn relation(&self) -> &str {
        &self.row.relation
    }
}

/// Narrows `residents`. No name: names are sealed and never searched.
#[derive(InputObject, Default)]
pub struct ResidentFilter {
    /// `active`, the only status listed (an erased resident is never listed: `BAD_USER_INPUT`).
    pub status: Option<String>,
    /// Only residents of this wijk (exact).
    pub area: Option<String>,
}

/// A legal representative to register with the resident.
#[derive(InputObject)]
pub struct RepresentativeInput {
    pub name: String,
    /// `moeder`, `vader`, `ouder`, `voogd`, `curator` or `mentor`.
    pub relation: String,
}

/// A new resident.
#[derive(InputObject)]
pub struct RegisterResidentInput {
    /// Nine digits passing the 11-proef.
    pub bsn: String,
    pub name: String,
    /// `YYYY-MM-DD`, not in the future.
    pub birth_date: String,
    /// Phone, address or e-mail; newlines and tabs allowed.
    pub contact: Option<String>,
    /// The wijk the resident lives in.
    pub area: String,
    #[graphql(default)]
    pub representatives: Vec<RepresentativeInput>,
    /// The network to register in; needed only when the caller's organisation takes part in
    /// more than one.
    pub network_id: Option<ID>,
}

/// The registered resident, read back as `resident(id)` answers it.
#[derive(SimpleObject)]
pub struct RegisterResidentPayload {
    pub resident: ResidentView,
}

/// One resident as this request sees them: the record, the policy's answer, and whether the
/// caller may know them at all.
struct Judged {
    record: ResidentRecord,
    dek: Arc<Dek>,
    birth_date: NaiveDate,
    decision: Decision,
    /// Need to know: a care relation valid now, in the resident's network.
    knows: bool,
}

/// The caller as the policy's actor and each resident of `records` judged, with the
/// organisations loaded once for all of them (two queries).
async fn judge(
    services: &Services,
    caller: &Caller,
    purpose: Purpose,
    records: Vec<ResidentRecord>,
    now: DateTime<Utc>,
) -> Result<(Actor, Vec<Judged>), ApiError> {
    let mut organisation_ids = vec![caller.organisation.as_uuid()];
    for record in &records {
        organisation_ids.extend(record.plans.iter().map(|plan| plan.owning_organisation_id));
        organisation_ids.extend(access::named_organisations(record));
    }
    organisation_ids.sort_unstable();
    organisation_ids.dedup();
    let organisations = records::load_organisations(services.db.conn(), &organisation_ids).await?;
    let actor = access::actor(caller, &organisations)?;
    let mut judged = Vec::with_capacity(records.len());
    for record in records {
        let Some(wrapped) = record.resident.wrapped_dek.as_deref() else {
            // Erased: nothing left to show or decide on.
            continue;
        };
        let resident_id = ResidentId::from_uuid(record.resident.id);
        let dek = services.deks.unwrap(&services.keys, wrapped, resident_id)?;
        // The policy's age rules need the birth date; nothing else is decrypted to decide.
        let birth_date = sealed::open_birth_date(&dek, &record.resident)?;
        let resident = access::policy_resident(&record, birth_date);
        let facts = resident_facts(caller, &record, &organisations, now)?;
        let decision =
            policy::decide_identity(&services.matrix, &actor, purpose, &resident, &facts, now);
        // Need to know, the same rule as everywhere: `policy::knows_resident`.
        let knows = policy::knows_resident(&actor, &resident, &facts, now);
        judged.push(Judged {
            record,
            dek,
            birth_date,
            decision,
            knows,
        });
    }
    Ok((actor, judged))
}

/// The policy's facts about a resident, about their open plan (else their first); without a
/// plan, the facts have none.
fn resident_facts(
    caller: &Caller,
    record: &ResidentRecord,
    organisations: &HashMap<Uuid, OrganisationRecord>,
    now: DateTime<Utc>,
) -> Result<policy::Facts, ApiError> {
    let plan = record
        .plans
        .iter()
        .find(|plan| plan.status != domain::PlanStatus::Closed.as_str())
        .or_else(|| record.plans.first());
    match plan {
        Some(plan) => access::facts(record, plan, organisations),
        None => {
            // `access::facts` maps a plan's owner too; with no plan, it is given a stand-in
            // owned by the caller's organisation (always loaded), and that fact is dropped.
            let stand_in = plans::Model {
                id: Uuid::nil(),
                resident_id: record.resident.id,
                owning_organisation_id: caller.organisation.as_uuid(),
                coordinating_member_id: None,
                status: domain::PlanStatus::Draft.as_str().to_owned(),
                kind: domain::PlanKind::Wmo.as_str().to_owned(),
                version: 0,
                created_at: now,
                updated_at: now,
            };
            let mut facts = access::facts(record, &stand_in, organisations)?;
            facts.plan = None;
            Ok(facts)
        }
    }
}

/// The audit entry of one request about one resident (or, for a BSN not found, none).
fn entry(
    caller: &Caller,
    actor: &Actor,
    purpose: Purpose,
    info: &RequestInfo,
    action: audit::AuditAction,
    judged: Option<&Judged>,
) -> audit::NewEntry {
    let resident = judged.map(|judged| ResidentId::from_uuid(judged.record.resident.id));
    let mut entry = access::audit_entry(
        caller,
        actor,
        purpose,
        info,
        resident.unwrap_or_else(|| ResidentId::from_uuid(Uuid::nil())),
        Uuid::nil(),
    );
    entry.action = action;
    entry.resident = resident;
    // The resident record, not a plan.
    entry.plan = None;
    let Some(judged) = judged else {
        entry.outcome = audit::Outcome::Deny;
        entry.reason = audit::Code::parse("not-found").ok();
        return entry;
    };
    entry.checks = judged
        .decision
        .checks()
        .iter()
        .filter_map(|check| audit::Code::parse(check.as_str()).ok())
        .collect();
    let reason = judged.decision.deny_reason();
    match judged.decision.basis() {
        Some(basis) if judged.knows => {
            entry.outcome = audit::Outcome::Permit;
            entry.basis = audit::Code::parse(&basis.to_string()).ok();
        }
        _ => {
            entry.outcome = audit::Outcome::Deny;
            let reason = match reason {
                Some(reason) if judged.knows || need_to_know(Some(reason)) => reason.as_str(),
                _ => policy::DenyReason::NoCareRelation.as_str(),
            };
            entry.reason = audit::Code::parse(reason).ok();
        }
    }
    entry
}

/// Makes every entry durable, together (the group-commit writer shares their transaction), or
/// fails closed.
async fn submit_all(services: &Services, entries: Vec<audit::NewEntry>) -> Result<(), ApiError> {
    let receipts = async_graphql::futures_util::future::join_all(
        entries
            .into_iter()
            .map(|entry| services.audit.submit(entry)),
    )
    .await;
    if let Some(Err(error)) = receipts.into_iter().find(Result::is_err) {
        tracing::error!(error = %error, "audit entry not written; resident answer refused");
        return Err(ApiError::AuditUnavailable);
    }
    Ok(())
}

/// What the caller sees of a judged resident they know: the sealed identity only for a permit
/// (decrypted field by field as selected), with the representatives when they were loaded.
fn view(
    judged: Judged,
    representatives: &mut HashMap<Uuid, Vec<representatives::Model>>,
) -> ResidentView {
    let Judged {
        record,
        dek,
        birth_date,
        decision,
        ..
    } = judged;
    let (access, identity) = match decision.basis() {
        Some(basis) => (
            AccessView {
                granted: true,
                reason: None,
                basis: Some(basis.to_string()),
            },
            Some(Identity {
                dek,
                representatives: representatives
                    .remove(&record.resident.id)
                    .unwrap_or_default(),
                birth_date,
                row: record.resident.clone(),
            }),
        ),
        None => (
            AccessView {
                granted: false,
                reason: decision
                    .deny_reason()
                    .map(|reason| reason.as_str().to_owned()),
                basis: None,
            },
            None,
        ),
    };
    ResidentView {
        id: record.resident.id,
        status: record.resident.status,
        plan_ids: record.plans.iter().map(|plan| plan.id).collect(),
        access,
        identity,
    }
}

/// One resident, audited under `action`, answered as `resident(id)` does.
async fn one_resident(
    services: &Services,
    caller: &Caller,
    purpose: Purpose,
    info: &RequestInfo,
    action: audit::AuditAction,
    resident: Uuid,
    with_representatives: bool,
) -> Result<ResidentView, ApiError> {
    let now = Utc::now();
    let record = access::active_record(services, resident).await?;
    let (actor, mut judged) = judge(services, caller, purpose, vec![record], now).await?;
    let judged = judged.pop().ok_or(ApiError::NotFound)?;
    submit_all(
        services,
        vec![entry(caller, &actor, purpose, info, action, Some(&judged))],
    )
    .await?;
    if !judged.knows {
        return Err(ApiError::NotFound);
    }
    let mut representatives = if with_representatives && judged.decision.is_permit() {
        store::residents::load_representatives(services.db.conn(), &[resident]).await?
    } else {
        HashMap::new()
    };
    Ok(view(judged, &mut representatives))
}

/// `resident(id)`: the resolver.
async fn resident(ctx: &Context<'_>, id: &ID) -> Result<ResidentView, ApiError> {
    let caller = crate::caller(ctx)?;
    let purpose = context::purpose(ctx)?;
    let services = context::services(ctx)?;
    let info = context::request_info(ctx);
    let resident = Uuid::parse_str(id.as_str()).map_err(|_| ApiError::NotFound)?;
    one_resident(
        services,
        caller,
        purpose,
        &info,
        audit::AuditAction::ResidentRead,
        resident,
        ctx.look_ahead().field("representatives").exists(),
    )
    .await
}

/// `residentByBsn(bsn)`: the resolver.
async fn resident_by_bsn(ctx: &Context<'_>, bsn: &str) -> Result<ResidentView, ApiError> {
    let caller = crate::caller(ctx)?;
    let purpose = context::purpose(ctx)?;
    let bsn = Bsn::parse(bsn)
        .map_err(|_| ApiError::BadUserInput("bsn is not a valid BSN (nine digits, 11-proef)"))?;
    let services = context::services(ctx)?;
    let info = context::request_info(ctx);
    let found =
        store::residents::find_by_bsn(services.db.conn(), &services.keys, &services.deks, &bsn)
            .await?;
    drop(bsn);
    match found.as_slice() {
        [] => {
            let organisations =
                records::load_organisations(services.db.conn(), &[caller.organisation.as_uuid()])
                    .await?;
            let actor = access::actor(caller, &organisations)?;
            let entry = entry(
                caller,
                &actor,
                purpose,
                &info,
                audit::AuditAction::ResidentLookupByBsn,
                None,
            );
            submit_all(services, vec![entry]).await?;
            Err(ApiError::NotFound)
        }
        [row] => {
            one_resident(
                services,
                caller,
                purpose,
                &info,
                audit::AuditAction::ResidentLookupByBsn,
                row.id,
                ctx.look_ahead().field("representatives").exists(),
            )
            .await
        }
        [..] => Err(access::corrupt(format!(
            "{} active residents share one BSN",
            found.len()
        ))),
    }
}

/// `residents(filter, first, after)`: the resolver. A fixed number of queries per page: the
/// caller's organisation (two), the page (one), the page's records (seven), their organisations
/// (two), and the representatives of those shown (one, only when the query selects them).
async fn residents(
    ctx: &Context<'_>,
    filter: ResidentFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, ResidentView>, ApiError> {
    let ResidentRequest {
        caller,
        purpose,
        services,
        info,
        now,
    } = ResidentRequest::new(ctx)?;
    let selection = ctx.look_ahead();
    let with_representatives = selection
        .field("edges")
        .field("node")
        .field("representatives")
        .exists()
        || selection.field("nodes").field("representatives").exists();
    let limit = connection::page_size(first)?;
    let status = match filter.status.as_deref().map(ResidentStatus::parse) {
        None => None,
        Some(Ok(ResidentStatus::Active)) => Some(ResidentStatus::Active),
        Some(Ok(ResidentStatus::Erased)) => {
            return Err(ApiError::BadUserInput("erased residents are never listed"));
        }
        Some(Err(_)) => return Err(ApiError::BadUserInput("unknown resident status")),
    };
    let area = filter
        .area
        .map(|area| single_line(&area, MAX_AREA_CHARS, "area"))
        .transpose()?;
    let after = match after.as_deref() {
        None => None,
        Some(cursor) => {
            let position = connection::accept(&services.keys, RESIDENTS, cursor)?;
            Some(Uuid::from_slice(&position).map_err(|_| {
                ApiError::BadUserInput("after is not a cursor this hub issued for this list")
            })?)
        }
    };
    let conn = services.db.conn();
    let own = records::load_organisations(conn, &[caller.organisation.as_uuid()]).await?;
    let networks = own
        .get(&caller.organisation.as_uuid())
        .map(|record| record.networks.clone())
        .unwrap_or_default();
    let party = store::residents::CareParty {
        organisation: caller.organisation.as_uuid(),
        member: match caller.id {
            CallerId::Member(member) => Some(member.as_uuid()),
            CallerId::Client(_) => None,
        },
    };
    let store_filter = store::residents::ResidentFilter { status, area };
    let mut ids =
        store::residents::page_known(conn, party, &networks, &store_filter, after, limit + 1, now)
            .await?;
    let has_next = ids.len() as u64 > limit;
    ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut loaded = records::load_records(conn, &ids).await?;
    let page: Vec<ResidentRecord> = ids.iter().filter_map(|id| loaded.remove(id)).collect();
    let (actor, judged) = judge(services, caller, purpose, page, now).await?;
    // The query already asked for a care relation valid now; one the policy's view disagrees
    // with (an organisation left the network) is left out rather than shown.
    let shown: Vec<Judged> = judged.into_iter().filter(|judged| judged.knows).collect();
    let entries = shown
        .iter()
        .map(|judged| {
            entry(
                caller,
                &actor,
                purpose,
                &info,
                audit::AuditAction::ResidentRead,
                Some(judged),
            )
        })
        .collect();
    submit_all(services, entries).await?;
    let permitted: Vec<Uuid> = shown
        .iter()
        .filter(|judged| judged.decision.is_permit())
        .map(|judged| judged.record.resident.id)
        .collect();
    let mut representatives = if with_representatives {
        store::residents::load_representatives(conn, &permitted).await?
    } else {
        HashMap::new()
    };
    let mut connection = Connection::new(after.is_some(), has_next);
    for judged in shown {
        let id = judged.record.resident.id;
        let cursor = connection::issue(&services.keys, RESIDENTS, id.as_bytes());
        connection
            .edges
            .push(Edge::new(cursor, view(judged, &mut representatives)));
    }
    Ok(connection)
}

/// A registration's input, checked: nothing about it reaches the store before every rule holds.
struct CheckedRegistration {
    bsn: Bsn,
    name: String,
    birth_date: NaiveDate,
    contact: Option<String>,
    area: String,
    representatives: Vec<NewRepresentative>,
    network: Option<Uuid>,
}

fn check_registration(
    input: RegisterResidentInput,
    today: NaiveDate,
) -> Result<CheckedRegistration, ApiError> {
    let bsn = Bsn::parse(&input.bsn)
        .map_err(|_| ApiError::BadUserInput("bsn is not a valid BSN (nine digits, 11-proef)"))?;
    let name = single_line(&input.name, MAX_NAME_CHARS, "name")?;
    let birth_date = NaiveDate::parse_from_str(input.birth_date.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::BadUserInput("birthDate must be a date as YYYY-MM-DD"))?;
    if birth_date > today {
        return Err(ApiError::BadUserInput("birthDate is in the future"));
    }
    if birth_date < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN) {
        return Err(ApiError::BadUserInput("birthDate is before 1900"));
    }
    let contact = match input.contact.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(contact) => {
            if contact.chars().count() > MAX_CONTACT_CHARS {
                return Err(ApiError::BadUserInput(
                    "contact is longer than 500 characters",
                ));
            }
            if contact
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                return Err(ApiError::BadUserInput(
                    "contact contains control characters other than newline and tab",
                ));
            }
            Some(contact.to_owned())
        }
    };
    let area = single_line(&input.area, MAX_AREA_CHARS, "area")?;
    if input.representatives.len() > MAX_REPRESENTATIVES {
        return Err(ApiError::BadUserInput("at most 10 representatives"));
    }
    let representatives = input
        .representatives
        .into_iter()
        .map(|representative| {
            let name = single_line(&representative.name, MAX_NAME_CHARS, "name")?;
            let relation = representative.relation.trim();
            if !REPRESENTATIVE_RELATIONS.contains(&relation) {
                return Err(ApiError::BadUserInput(
                    "relation must be moeder, vader, ouder, voogd, curator or mentor",
                ));
            }
            Ok(NewRepresentative {
                name,
                relation: relation.to_owned(),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let network = input
        .network_id
        .map(|id| {
            Uuid::parse_str(id.as_str())
                .map_err(|_| ApiError::BadUserInput("networkId is not an id"))
        })
        .transpose()?;
    Ok(CheckedRegistration {
        bsn,
        name,
        birth_date,
        contact,
        area,
        representatives,
        network,
    })
}

/// A one-line text field: trimmed, not empty, at most `max` characters, no control characters.
/// The message names the field, never its value.
fn single_line(text: &str, max: usize, field: &'static str) -> Result<String, ApiError> {
    let text = text.trim();
    let (empty, long, control) = match field {
        "name" => (
            "name is empty",
            "name is longer than 200 characters",
            "name contains control characters",
        ),
        _ => (
            "area is empty",
            "area is longer than 100 characters",
            "area contains control characters",
        ),
    };
    if text.is_empty() {
        return Err(ApiError::BadUserInput(empty));
    }
    if text.chars().count() > max {
        return Err(ApiError::BadUserInput(long));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::BadUserInput(control));
    }
    Ok(text.to_owned())
}

const DUPLICATE_BSN: ApiError =
    ApiError::BadUserInput("a resident with this BSN is already registered");

/// `registerResident`: the resolver.
async fn register_resident(
    ctx: &Context<'_>,
    input: RegisterResidentInput,
) -> Result<RegisterResidentPayload, ApiError> {
    let caller = crate::caller(ctx)?;
    let purpose = context::purpose(ctx)?;
    let now = Utc::now();
    let checked = check_registration(input, now.date_naive())?;
    let services = context::services(ctx)?;
    let info = context::request_info(ctx);
    let conn = services.db.conn();

    let organisations = records::load_organisations(conn, &[caller.organisation.as_uuid()]).await?;
    let actor = access::actor(caller, &organisations)?;
    let own_networks = organisations
        .get(&caller.organisation.as_uuid())
        .map(|record| record.networks.clone())
        .unwrap_or_default();
    let network = match (checked.network, own_networks.as_slice()) {
        (Some(network), _) => network,
        (None, [only]) => *only,
        (None, []) => return Err(ApiError::Forbidden),
        (None, [_, ..]) => {
            return Err(ApiError::BadUserInput(
                "networkId is needed: your organisation takes part in more than one network",
            ));
        }
    };
    let network = NetworkId::from_uuid(network);
    let decision = policy::may_register(&actor, network, purpose, checked.birth_date, now);
    let resident_id = ResidentId::new();
    let mut entry = access::audit_entry(caller, &actor, purpose, &info, resident_id, Uuid::nil());
    entry.action = audit::AuditAction::ResidentWrite;
    entry.plan = None;
    entry.checks = decision
        .checks()
        .iter()
        .filter_map(|check| audit::Code::parse(check.as_str()).ok())
        .collect();
    let Some(basis) = decision.basis() else {
        entry.resident = None;
        entry.reason = decision
            .deny_reason()
            .and_then(|reason| audit::Code::parse(reason.as_str()).ok());
        submit_all(services, vec![entry]).await?;
        return Err(ApiError::Forbidden);
    };

    // A duplicate is found as every BSN is: blind index, then the candidates' BSN compared.
    if let Some(existing) =
        store::residents::find_by_bsn(conn, &services.keys, &services.deks, &checked.bsn)
            .await?
            .first()
    {
        submit_all(services, vec![duplicate_entry(&entry, existing.id)]).await?;
        return Err(DUPLICATE_BSN);
    }

    let coordinating_member = match caller.id {
        CallerId::Member(member) if caller.roles.first() == Some(&Role::Coach) => {
            Some(member.as_uuid())
        }
        CallerId::Member(_) | CallerId::Client(_) => None,
    };
    let recorded_by = match caller.id {
        CallerId::Member(member) => member.as_uuid(),
        CallerId::Client(client) => client.as_uuid(),
    };
    let registration = Registration {
        id: resident_id,
        resident: NewResident {
            network,
            bsn: checked.bsn,
            name: checked.name,
            birth_date: checked.birth_date,
            contact: checked.contact,
            area: checked.area,
        },
        representatives: checked.representatives,
        wijkteam: caller.organisation.as_uuid(),
        coordinating_member,
        recorded_by,
    };
    entry.outcome = audit::Outcome::Permit;
    entry.basis = audit::Code::parse(&basis.to_string()).ok();
    write_registration(services, &registration, entry, now).await?;
    tracing::info!(resident_id = %resident_id, "resident registered");

    let resident = one_resident(
        services,
        caller,
        purpose,
        &info,
        audit::AuditAction::ResidentRead,
        resident_id.as_uuid(),
        ctx.look_ahead()
            .field("resident")
            .field("representatives")
            .exists(),
    )
    .await?;
    Ok(RegisterResidentPayload { resident })
}

/// The refusal of a registration whose BSN `existing` already has: names that resident, so the
/// privacy officer sees the attempt.
fn duplicate_entry(entry: &audit::NewEntry, existing: Uuid) -> audit::NewEntry {
    let mut refusal = entry.clone();
    refusal.resident = Some(ResidentId::from_uuid(existing));
    refusal.outcome = audit::Outcome::Deny;
    refusal.basis = None;
    refusal.reason = audit::Code::parse("duplicate-bsn").ok();
    refusal
}

/// Writes a registration with its audit entry durable before the commit (PostgreSQL: written,
/// audited, committed — rolled back if the log fails), or, on SQLite's single writer where the
/// log shares the database, audited first and written after. Either way the duplicate check is
/// repeated inside the transaction, after which no other registration of the BSN can commit
/// first: PostgreSQL holds an advisory lock on the BSN's blind index, SQLite's first insert holds
/// its one writer lock.
async fn write_registration(
    services: &Services,
    registration: &Registration,
    entry: audit::NewEntry,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let conn = services.db.conn();
    let bsn = &registration.resident.bsn;
    let own = registration.id.as_uuid();
    let single_writer = services.db.backend() == store::Backend::Sqlite;
    if !services.audit.is_healthy() {
        return Err(ApiError::AuditUnavailable);
    }
    if single_writer {
        submit_all(services, vec![entry.clone()]).await?;
    }
    let tx = conn.begin().await.map_err(db)?;
    store::residents::lock_bsn_for_registration(&tx, &services.keys, bsn).await?;
    store::residents::insert_registration(&tx, &services.keys, registration, now).await?;
    let others: Vec<Uuid> = store::residents::find_by_bsn(&tx, &services.keys, &services.deks, bsn)
        .await?
        .into_iter()
        .map(|row| row.id)
        .filter(|id| *id != own)
        .collect();
    if let Some(existing) = others.first() {
        tx.rollback().await.map_err(db)?;
        submit_all(services, vec![duplicate_entry(&entry, *existing)]).await?;
        return Err(DUPLICATE_BSN);
    }
    if !single_writer {
        // Dropping `tx` on error rolls it back.
        submit_all(services, vec![entry]).await?;
    }
    tx.commit().await.map_err(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> RegisterResidentInput {
        RegisterResidentInput {
            bsn: "123456782".into(),
            name: "Jan Jansen".into(),
            birth_date: "1970-01-31".into(),
            contact: Some("06-1234 5678\nDorpsstraat 1".into()),
            area: "Noordwest-Centrum".into(),
            representatives: Vec::new(),
            network_id: None,
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or(NaiveDate::MIN)
    }

    #[track_caller]
    fn check(change: impl FnOnce(&mut RegisterResidentInput), want: Option<&str>) {
        let mut input = input();
        change(&mut input);
        match (check_registration(input, today()), want) {
            (Ok(_), None) => {}
            (Err(ApiError::BadUserInput(message)), Some(want)) => assert_eq!(message, want),
            (Ok(_), Some(want)) => panic!("accepted, wanted {want:?}"),
            (Err(error), want) => panic!("refused with {error:?}, wanted {want:?}"),
        }
    }

    #[test]
    fn registration_input_rules() {
        let bad_bsn = Some("bsn is not a valid BSN (nine digits, 11-proef)");
        check(|_| {}, None);
        check(|input| input.bsn = "123456789".into(), bad_bsn);
        check(|input| input.bsn = "12345678".into(), bad_bsn);
        check(|input| input.bsn = "000000000".into(), bad_bsn);
        check(|input| input.name = "   ".into(), Some("name is empty"));
        check(
            |input| input.name = "Jan\u{0007}".into(),
            Some("name contains control characters"),
        );
        check(
            |input| input.name = "Jan\nJansen".into(),
            Some("name contains control characters"),
        );
        check(
            |input| input.name = "x".repeat(201),
            Some("name is longer than 200 characters"),
        );
        check(|input| input.name = "é".repeat(200), None);
        check(
            |input| input.birth_date = "2026-11-24".into(),
            Some("birthDate is in the future"),
        );
        check(|input| input.birth_date = "2026-11-23".into(), None);
        check(
            |input| input.birth_date = "23-11-1970".into(),
            Some("birthDate must be a date as YYYY-MM-DD"),
        );
        check(
            |input| input.birth_date = "1899-12-31".into(),
            Some("birthDate is before 1900"),
        );
        check(
            |input| input.contact = Some("06\u{0000}".into()),
            Some("contact contains control characters other than newline and tab"),
        );
        check(|input| input.contact = Some("\t06-1\n".into()), None);
        check(
            |input| input.contact = Some("x".repeat(501)),
            Some("contact is longer than 500 characters"),
        );
        check(|input| input.area = String::new(), Some("area is empty"));
        check(
            |input| input.area = "Wijk\u{001b}[31m".into(),
            Some("area contains control characters"),
        );
        check(
            |input| {
                input.representatives = vec![RepresentativeInput {
                    name: "Sandra".into(),
                    relation: "buurvrouw".into(),
                }]
            },
            Some("relation must be moeder, vader, ouder, voogd, curator or mentor"),
        );
        check(
            |input| {
                input.representatives = vec![RepresentativeInput {
                    name: "Sandra".into(),
                    relation: "moeder".into(),
                }]
            },
            None,
        );
        check(
            |input| {
                input.representatives = (0..11)
                    .map(|_| RepresentativeInput {
                        name: "Sandra".into(),
                        relation: "moeder".into(),
                    })
                    .collect()
            },
            Some("at most 10 representatives"),
        );
        check(
            |input| input.network_id = Some(ID("nope".into())),
            Some("networkId is not an id"),
        );
    }

    #[test]
    fn refusals_never_echo_the_input() {
        let mut input = input();
        input.bsn = "111222334".into();
        let Err(error) = check_registration(input, today()) else {
            panic!("an invalid BSN was accepted");
        };
        assert!(!error.to_string().contains("111222334"));
        assert!(!format!("{error:?}").contains("111222334"));
    }

    /// What a `residents` page costs in database statements: the same for 20 residents as for
    /// 2. In-process, on the demo network, on SQLite — and on PostgreSQL when
    /// `WIJKHUB_TEST_DATABASE_URL` names a server.
    #[tokio::test]
    async fn a_page_of_twenty_residents_costs_what_a_page_of_two_costs() {
        use crate::test_support::Hub;

        let hub = Hub::start().await;
        let schema = async_graphql::Schema::build(
            ResidentQuery,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
        )
        .finish();
        let query = "query($first: Int) { residents(first: $first) { edges { node { id name \
                     representatives { name } access { granted } } } } }";
        let mut costs = Vec::new();
        for first in [2, 20, 2] {
            let request = hub.coach_request(query, serde_json::json!({ "first": first }));
            let before = hub.statements();
            let response = schema.execute(request).await;
            let cost = hub.statements() - before;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            let data = response.data.into_json().unwrap();
            let edges = data["residents"]["edges"].as_array().unwrap();
            assert_eq!(edges.len(), first, "the demo has 22 residents");
            assert!(
                edges.iter().all(|edge| edge["node"]["name"].is_string()),
                "the coach's wijkteam sees whom it works with"
            );
            costs.push(cost);
        }
        assert_eq!(costs[0], costs[1], "statements for 2 and 20: {costs:?}");
        assert_eq!(costs[0], costs[2], "{costs:?}");
        // Own organisation (2), page (1), records (7), organisations (2), representatives (1).
        assert_eq!(costs[0], 13, "{costs:?}");
        // Representatives not asked for: not loaded.
        let request = hub.coach_request(
            "{ residents(first: 5) { edges { node { id } } } }",
            serde_json::json!({}),
        );
        let before = hub.statements();
        let response = schema.execute(request).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(hub.statements() - before, 12);
        let entries = hub.audit_entries("resident.read").await;
        assert_eq!(entries, 2 + 20 + 2 + 5, "one entry per resident returned");
        hub.remove().await;
    }
}
