//! Reading the audit log through GraphQL: the privacy officer's search (`auditEntries`) and a
//! resident's access report (`accessReport`, the GDPR art. 15 answer: who saw my data, when and
//! why), both over the audit crate's indexed queries (`audit::search`, `audit::access_report`).
//!
//! Only the privacy officer (FG) reads the log, and only from a console session with a second
//! factor; a partner system, any other role, or a session without `otp` gets `FORBIDDEN`. Every
//! attempt by an authenticated caller — permitted or refused — is itself an `audit.read` entry,
//! committed before the answer leaves. This module must never return plan content, a resident's
//! name or BSN (entries hold none), nor the display name a partner system asserted for its staff
//! member: the FG sees the asserted id here; the name stays in the log for an investigation.

use std::collections::{BTreeSet, HashMap};

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ErrorExtensions, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use domain::{ClientId, OrganisationId, ResidentId, Role};
use uuid::Uuid;

use crate::ApiError;
use crate::access::{caller_entry, corrupt, db};
use crate::caller::{Caller, CallerId, Credential};
use crate::connection;
use crate::context;

/// The list name audit-log cursors are issued for.
const CURSOR_LIST: &str = "audit-entries";

/// What to search the audit log for; every field given narrows. Times are `[from, to)`.
#[derive(InputObject, Default)]
pub struct AuditEntryFilter {
    /// The resident concerned (their internal id).
    pub resident: Option<ID>,
    /// Who acted: a member's or partner system's id, or `system` or `anonymous`.
    pub actor: Option<ID>,
    /// The organisation the actor acted for.
    pub organisation: Option<ID>,
    /// The partner system the requests came through: its id in the hub or its OAuth client id.
    pub client: Option<ID>,
    /// From this moment (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Until this moment (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// An action code: `resident.read`, `consent.recorded`, `audit.read`, ... (docs/AUDIT.md §1).
    pub action: Option<String>,
    /// `permit`, `deny` or `error`.
    pub outcome: Option<String>,
}

/// One audit entry, as the privacy officer sees it: metadata only, never content.
pub struct AuditEntryView(audit::AuditEntry);

#[Object(name = "AuditEntry")]
impl AuditEntryView {
    /// `<chain id>:<seq>`: where the entry sits in the log (what `wijkhub audit prove` takes).
    async fn id(&self) -> ID {
        ID(format!("{}:{}", self.0.chain, self.0.seq))
    }

    /// The chain (one per running hub instance).
    async fn chain_id(&self) -> ID {
        ID(self.0.chain.to_string())
    }

    /// Position in the chain, from 0.
    async fn seq(&self) -> i64 {
        i64::try_from(self.0.seq).unwrap_or(i64::MAX)
    }

    /// When it happened (UTC, microseconds).
    async fn time(&self) -> DateTime<Utc> {
        self.0.entry.time
    }

    /// The action code (`resident.read`, `auth.login`, `audit.read`, ...).
    async fn action(&self) -> &'static str {
        self.0.entry.action.as_str()
    }

    /// `permit`, `deny` or `error`.
    async fn outcome(&self) -> &'static str {
        self.0.entry.outcome.as_str()
    }

    /// The deny or error reason code; for `audit.read`, which read.
    async fn reason(&self) -> Option<&str> {
        self.0.entry.reason.as_ref().map(audit::Code::as_str)
    }

    /// `member`, `client`, `system` or `anonymous`.
    async fn actor_kind(&self) -> &'static str {
        self.0.entry.actor.kind()
    }

    /// The member's or partner system's id.
    async fn actor_id(&self) -> Option<ID> {
        self.0.entry.actor.id().map(|id| ID(id.to_string()))
    }

    /// The partner system's own id for the staff member it acted for, as it asserted.
    async fn on_behalf_of_id(&self) -> Option<&str> {
        self.0
            .entry
            .on_behalf_of
            .as_ref()
            .map(|person| person.user_id().as_str())
    }

    /// The organisation the actor acted for.
    async fn organisation_id(&self) -> Option<ID> {
        self.0.entry.organisation.map(|id| ID(id.to_string()))
    }

    /// The actor's role code.
    async fn role(&self) -> Option<&'static str> {
        self.0.entry.role.map(Role::as_str)
    }

    /// The resident concerned: internal id, never the BSN.
    async fn resident_id(&self) -> Option<ID> {
        self.0.entry.resident.map(|id| ID(id.to_string()))
    }

    async fn plan_id(&self) -> Option<ID> {
        self.0.entry.plan.map(|id| ID(id.to_string()))
    }

    async fn section_id(&self) -> Option<ID> {
        self.0.entry.section.map(|id| ID(id.to_string()))
    }

    /// The section revision read or written.
    async fn revision(&self) -> Option<i64> {
        self.0.entry.revision
    }

    /// Categories the caller got.
    async fn categories_returned(&self) -> Vec<&'static str> {
        self.0
            .entry
            .categories_returned
            .iter()
            .map(|category| category.as_str())
            .collect()
    }

    /// Categories the caller was refused.
    async fn categories_denied(&self) -> Vec<&'static str> {
        self.0
            .entry
            .categories_denied
            .iter()
            .map(|category| category.as_str())
            .collect()
    }

    /// The purpose the request declared (doelbinding).
    async fn purpose(&self) -> Option<&'static str> {
        self.0.entry.purpose.map(|purpose| purpose.as_str())
    }

    /// The ground (grondslag): `consent:<id>`, `statutory:<law>`, `break-glass:<id>`.
    async fn basis(&self) -> Option<&str> {
        self.0.entry.basis.as_ref().map(audit::Code::as_str)
    }

    /// The checks applied, in order.
    async fn checks(&self) -> Vec<&str> {
        self.0
            .entry
            .checks
            .iter()
            .map(audit::Code::as_str)
            .collect()
    }

    /// The hub's request id (the `x-request-id` response header).
    async fn request_id(&self) -> Option<&str> {
        self.0.entry.request_id.as_ref().map(audit::Code::as_str)
    }

    /// The client's address after trusted-proxy handling.
    async fn source_address(&self) -> Option<String> {
        self.0
            .entry
            .source_address
            .map(|address| address.to_string())
    }

    /// The partner system the request came through.
    async fn client_id(&self) -> Option<ID> {
        self.0.entry.client.map(|id| ID(id.to_string()))
    }

    /// The RFC 6962 leaf hash, hex (docs/AUDIT.md §4).
    async fn leaf_hash(&self) -> String {
        self.0
            .leaf_hash
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// The GDPR art. 15 answer for one resident: who (which organisation) processed their data, for
/// which purpose, on which day, what they got and on what ground. In plain language.
#[derive(SimpleObject)]
pub struct AccessReport {
    pub resident_id: ID,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// One line per day, organisation and purpose, oldest first.
    pub lines: Vec<AccessReportLine>,
    /// The whole report in one sentence.
    pub summary: String,
}

/// One day, organisation and purpose of an access report.
#[derive(SimpleObject)]
pub struct AccessReportLine {
    /// The day (UTC).
    pub day: NaiveDate,
    pub organisation_id: Option<ID>,
    /// The organisation's name (null for the hub itself).
    pub organisation_name: Option<String>,
    /// `wijkteam`, `welzijn`, `zorgaanbieder` or `gemeente`.
    pub organisation_kind: Option<String>,
    pub purpose: Option<String>,
    /// Events that day.
    pub entries: i32,
    pub permitted: i32,
    pub denied: i32,
    /// Distinct people or systems.
    pub actors: i32,
    /// Action codes.
    pub actions: Vec<String>,
    pub categories_returned: Vec<String>,
    pub categories_denied: Vec<String>,
    /// Grounds used: `consent:<id>`, `statutory:<law>`, `break-glass:<id>`.
    pub bases: Vec<String>,
    /// The line as a sentence, for the resident.
    pub text: String,
}

/// `auditEntries` and `accessReport`, on `Query`.
#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit log, newest first, narrowed by the filter: a Relay connection (`first` 1–100,
    /// default 20; `after` a cursor from a previous page). Privacy officer only, from a console
    /// session with a second factor. The search itself is audited (`audit.read`).
    async fn audit_entries(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEntryFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, AuditEntryView>> {
        audit_entries(ctx, filter.unwrap_or_default(), first, after)
            .await
            .map_err(|error| error.extend())
    }

    /// Who processed this resident's data, when and why (GDPR art. 15), grouped by organisation,
    /// purpose and day, in plain language, over `[from, to)` (default: the whole log until now).
    /// Privacy officer only, from a console session with a second factor. Audited (`audit.read`).
    async fn access_report(
        &self,
        ctx: &Context<'_>,
        resident_id: ID,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<AccessReport> {
        access_report(ctx, &resident_id, from, to)
            .await
            .map_err(|error| error.extend())
    }
}

/// Why a caller may not read the audit log: the reason code of its `audit.read` refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// Not a privacy officer (a partner system, or a member with another role).
    Role,
    /// A privacy officer, but not through a console session.
    NotConsole,
    /// A console session without a second factor.
    NoSecondFactor,
}

impl Refusal {
    fn code(self) -> &'static str {
        match self {
            Refusal::Role => "role-forbids-audit-read",
            Refusal::NotConsole => "console-session-required",
            Refusal::NoSecondFactor => "second-factor-required",
        }
    }
}

/// The checks of [`authorise`], in the order applied.
const CHECKS: [&str; 4] = [
    "authenticated",
    "privacy-officer",
    "console-session",
    "second-factor",
];

/// Whether `caller` may read the audit log: a member with the privacy-officer role, in a console
/// session, with a second factor.
fn authorise(caller: &Caller) -> Result<(), Refusal> {
    let officer =
        matches!(caller.id, CallerId::Member(_)) && caller.roles.contains(&Role::PrivacyOfficer);
    if !officer {
        return Err(Refusal::Role);
    }
    match caller.credential {
        Credential::Session => {}
        Credential::AccessToken | Credential::ExternalToken => return Err(Refusal::NotConsole),
    }
    if !caller.has_second_factor() {
        return Err(Refusal::NoSecondFactor);
    }
    Ok(())
}

/// The `audit.read` entry of one read (or refused attempt) by `caller`.
fn read_entry(
    caller: &Caller,
    info: &context::RequestInfo,
    decision: Result<(), Refusal>,
    read: &'static str,
    resident: Option<ResidentId>,
) -> audit::NewEntry {
    let mut entry = caller_entry(audit::AuditAction::AuditRead, caller, info);
    entry.outcome = match decision {
        Ok(()) => audit::Outcome::Permit,
        Err(_) => audit::Outcome::Deny,
    };
    entry.role = if caller.roles.contains(&Role::PrivacyOfficer) {
        Some(Role::PrivacyOfficer)
    } else {
        caller.roles.first().copied()
    };
    entry.resident = resident;
    entry.reason = audit::Code::parse(match decision {
        Ok(()) => read,
        Err(refusal) => refusal.code(),
    })
    .ok();
    let n_checks = match decision {
        Ok(()) => CHECKS.len(),
        Err(Refusal::Role) => 2,
        Err(Refusal::NotConsole) => 3,
        Err(Refusal::NoSecondFactor) => 4,
    };
    entry.checks = CHECKS[..n_checks]
        .iter()
        .filter_map(|check| audit::Code::parse(check).ok())
        .collect();
    entry
}

async fn submit(services: &context::Services, entry: audit::NewEntry) -> Result<(), ApiError> {
    services
        .audit
        .submit(entry)
        .await
        .map(|_| ())
        .map_err(|error| {
            tracing::error!(error = %error, "audit entry not written; audit-log read refused");
            ApiError::AuditUnavailable
        })
}

/// A refused attempt is audited too, then answered `FORBIDDEN`.
async fn refuse(
    services: &context::Services,
    caller: &Caller,
    info: &context::RequestInfo,
    refusal: Refusal,
    read: &'static str,
) -> ApiError {
    match submit(services, read_entry(caller, info, Err(refusal), read, None)).await {
        Ok(()) => ApiError::Forbidden,
        Err(error) => error,
    }
}

fn audit_error(error: audit::AuditError) -> ApiError {
    match error {
        audit::AuditError::Db(source) => db(source),
        other => corrupt(format!("audit log read: {other}")),
    }
}

fn parse_uuid(id: &ID, message: &'static str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id.as_str()).map_err(|_| ApiError::BadUserInput(message))
}

/// The filter as the audit crate takes it; `BAD_USER_INPUT` for a value that is not one.
async fn audit_filter(
    services: &context::Services,
    filter: &AuditEntryFilter,
) -> Result<audit::AuditFilter, ApiError> {
    let mut out = audit::AuditFilter {
        resident: filter
            .resident
            .as_ref()
            .map(|id| parse_uuid(id, "resident must be a resident id"))
            .transpose()?
            .map(ResidentId::from_uuid),
        organisation: filter
            .organisation
            .as_ref()
            .map(|id| parse_uuid(id, "organisation must be an organisation id"))
            .transpose()?
            .map(OrganisationId::from_uuid),
        from: filter.from,
        to: filter.to,
        action: filter
            .action
            .as_deref()
            .map(|code| {
                audit::AuditAction::parse(code).map_err(|_| {
                    ApiError::BadUserInput("action must be an audit action code (docs/AUDIT.md)")
                })
            })
            .transpose()?,
        outcome: filter
            .outcome
            .as_deref()
            .map(|code| {
                audit::Outcome::parse(code)
                    .map_err(|_| ApiError::BadUserInput("outcome must be permit, deny or error"))
            })
            .transpose()?,
        ..audit::AuditFilter::default()
    };
    match filter.actor.as_ref().map(|id| id.as_str()) {
        None => {}
        Some("system") => out.actor = Some(audit::Actor::System),
        Some("anonymous") => out.actor = Some(audit::Actor::Anonymous),
        Some(text) => {
            out.actor_id = Some(Uuid::parse_str(text).map_err(|_| {
                ApiError::BadUserInput(
                    "actor must be a member or partner system id, system or anonymous",
                )
            })?);
        }
    }
    if let Some(client) = &filter.client {
        let id = match Uuid::parse_str(client.as_str()) {
            Ok(id) => id,
            Err(_) => {
                store::accounts::client_by_client_id(&services.db, client.as_str())
                    .await?
                    .ok_or(ApiError::BadUserInput(
                        "client must be a partner system's id or OAuth client id",
                    ))?
                    .id
            }
        };
        out.client = Some(ClientId::from_uuid(id));
    }
    if let (Some(from), Some(to)) = (out.from, out.to)
        && from >= to
    {
        return Err(ApiError::BadUserInput("from must be before to"));
    }
    Ok(out)
}

/// `auditEntries`: the resolver.
async fn audit_entries(
    ctx: &Context<'_>,
    filter: AuditEntryFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, AuditEntryView>, ApiError> {
    const READ: &str = "audit-search";
    let caller = crate::caller(ctx)?;
    let services = context::services(ctx)?;
    let info = context::request_info(ctx);
    if let Err(refusal) = authorise(caller) {
        return Err(refuse(services, caller, &info, refusal, READ).await);
    }
    let page_size = connection::page_size(first)?;
    let after = after
        .map(|cursor| {
            let position = connection::accept(&services.keys, CURSOR_LIST, &cursor)?;
            std::str::from_utf8(&position)
                .ok()
                .and_then(|text| audit::Cursor::parse(text).ok())
                .ok_or_else(|| corrupt("audit cursor issued by the hub does not parse".into()))
        })
        .transpose()?;
    let filter = audit_filter(services, &filter).await?;
    let page = audit::search(services.db.conn(), &filter, page_size, after.as_ref())
        .await
        .map_err(audit_error)?;
    submit(
        services,
        read_entry(caller, &info, Ok(()), READ, filter.resident),
    )
    .await?;
    let mut connection = Connection::new(after.is_some(), page.next.is_some());
    connection.edges = page
        .entries
        .into_iter()
        .map(|entry| {
            let position = audit::Cursor::of(&entry).to_string();
            let cursor = connection::issue(&services.keys, CURSOR_LIST, position.as_bytes());
            Edge::new(cursor, AuditEntryView(entry))
        })
        .collect();
    Ok(connection)
}

/// `accessReport`: the resolver.
async fn access_report(
    ctx: &Context<'_>,
    resident_id: &ID,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<AccessReport, ApiError> {
    const READ: &str = "access-report";
    let caller = crate::caller(ctx)?;
    let services = context::services(ctx)?;
    let info = context::request_info(ctx);
    if let Err(refusal) = authorise(caller) {
        return Err(refuse(services, caller, &info, refusal, READ).await);
    }
    // The log outlives erasure: an erased resident's report is still answered, so the id is
    // not checked against the residents table.
    let resident =
        ResidentId::from_uuid(parse_uuid(resident_id, "residentId must be a resident id")?);
    let from = from.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let to = to.unwrap_or_else(Utc::now);
    if from >= to {
        return Err(ApiError::BadUserInput("from must be before to"));
    }
    let rows = audit::access_report(services.db.conn(), resident, from, to)
        .await
        .map_err(audit_error)?;
    let organisation_ids: Vec<Uuid> = rows
        .iter()
        .filter_map(|row| row.organisation.map(|id| id.as_uuid()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let organisations: HashMap<Uuid, (String, String)> =
        store::records::load_organisations(services.db.conn(), &organisation_ids)
            .await?
            .into_iter()
            .map(|(id, record)| (id, (record.organisation.name, record.organisation.kind)))
            .collect();
    submit(
        services,
        read_entry(caller, &info, Ok(()), READ, Some(resident)),
    )
    .await?;
    let lines: Vec<AccessReportLine> = rows
        .iter()
        .map(|row| {
            let organisation = row
                .organisation
                .and_then(|id| organisations.get(&id.as_uuid()));
            report_line(row, organisation)
        })
        .collect();
    let summary = summary(&lines);
    Ok(AccessReport {
        resident_id: ID(resident.to_string()),
        from,
        to,
        lines,
        summary,
    })
}

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn report_line(
    row: &audit::AccessReportRow,
    organisation: Option<&(String, String)>,
) -> AccessReportLine {
    AccessReportLine {
        day: row.day,
        organisation_id: row.organisation.map(|id| ID(id.to_string())),
        organisation_name: organisation.map(|(name, _)| name.clone()),
        organisation_kind: organisation.map(|(_, kind)| kind.clone()),
        purpose: row.purpose.map(|purpose| purpose.as_str().to_owned()),
        entries: count(row.entries),
        permitted: count(row.permitted),
        denied: count(row.denied),
        actors: count(row.actors),
        actions: row
            .actions
            .iter()
            .map(|action| action.as_str().to_owned())
            .collect(),
        categories_returned: row
            .categories_returned
            .iter()
            .map(|category| category.as_str().to_owned())
            .collect(),
        categories_denied: row
            .categories_denied
            .iter()
            .map(|category| category.as_str().to_owned())
            .collect(),
        bases: row.bases.iter().cloned().collect(),
        text: line_text(row, organisation.map(|(name, _)| name.as_str())),
    }
}

/// What an action did, as a resident would say it.
fn action_phrase(action: audit::AuditAction) -> &'static str {
    use audit::AuditAction as A;
    match action {
        A::ResidentRead => "looked at your plan",
        A::ResidentWrite => "changed your plan",
        A::ResidentLookupByBsn => "looked you up by your citizen service number",
        A::PlanShared => "shared your plan",
        A::Login => "logged in",
        A::LoginFailed => "failed to log in",
        A::Lockout => "locked an account",
        A::TokenIssued => "received an access token",
        A::TokenRefused => "was refused an access token",
        A::ConsentRecorded => "recorded your consent",
        A::ConsentWithdrawn => "recorded the withdrawal of your consent",
        A::ObjectionRecorded => "recorded your objection",
        A::ObjectionLifted => "lifted your objection",
        A::CareRelationStarted => "started working with you",
        A::CareRelationEnded => "stopped working with you",
        A::BreakGlassStarted => "used emergency access to your plan",
        A::BreakGlassEnded => "ended emergency access to your plan",
        A::KeyOperation => "renewed the keys protecting your data",
        A::Erasure => "handled the erasure of your data",
        A::BreachRegisterChange => "recorded a data breach concerning you",
        A::AuditRead => "looked at the record of who saw your data",
        A::AuditPurge => "removed old records of who saw your data",
        A::RateLimited => "was stopped for asking too often",
        A::AccountChange => "changed an account",
    }
}

/// A ground (grondslag) as a resident would read it.
fn basis_phrase(basis: &str) -> String {
    match basis.split_once(':') {
        Some(("consent", _)) => "your consent".to_owned(),
        Some(("statutory", law)) => format!("the legal task of the wijkteam ({law})"),
        Some(("break-glass", _)) => "emergency access (vital interest)".to_owned(),
        _ => basis.to_owned(),
    }
}

fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn times(n: u64) -> String {
    if n == 1 {
        "once".to_owned()
    } else {
        format!("{n} times")
    }
}

/// One line of the report as a sentence.
fn line_text(row: &audit::AccessReportRow, organisation: Option<&str>) -> String {
    let who = organisation.unwrap_or("the hub itself").to_owned();
    let actions: Vec<String> = row
        .actions
        .iter()
        .map(|action| action_phrase(*action).to_owned())
        .collect();
    let mut text = format!(
        "On {}, {who} {}",
        row.day.format("%Y-%m-%d"),
        join(&actions)
    );
    if let Some(purpose) = row.purpose {
        text.push_str(&format!(" for {}", purpose.as_str()));
    }
    let people = if row.actors == 1 {
        "1 person or system".to_owned()
    } else {
        format!("{} people or systems", row.actors)
    };
    text.push_str(&format!(" ({}, {people})", times(row.entries)));
    if row.denied > 0 {
        text.push_str(&format!("; refused {}", times(row.denied)));
    }
    text.push('.');
    let list = |set: &BTreeSet<domain::Category>| -> Vec<String> {
        set.iter()
            .map(|category| category.as_str().to_owned())
            .collect()
    };
    if !row.categories_returned.is_empty() {
        text.push_str(&format!(
            " They saw: {}.",
            join(&list(&row.categories_returned))
        ));
    }
    if !row.categories_denied.is_empty() {
        text.push_str(&format!(
            " Not shared with them: {}.",
            join(&list(&row.categories_denied))
        ));
    }
    let bases: Vec<String> = row
        .bases
        .iter()
        .map(|basis| basis_phrase(basis))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !bases.is_empty() {
        text.push_str(&format!(" On the ground of {}.", join(&bases)));
    }
    text
}

fn summary(lines: &[AccessReportLine]) -> String {
    if lines.is_empty() {
        return "Nobody processed your data in this period.".to_owned();
    }
    let organisations: BTreeSet<&str> = lines
        .iter()
        .map(|line| {
            line.organisation_name
                .as_deref()
                .unwrap_or("the hub itself")
        })
        .collect();
    let days: BTreeSet<NaiveDate> = lines.iter().map(|line| line.day).collect();
    let events: i64 = lines.iter().map(|line| i64::from(line.entries)).sum();
    let organisations: Vec<String> = organisations.into_iter().map(str::to_owned).collect();
    format!(
        "{} organisation(s) processed your data {} on {} day(s): {}.",
        organisations.len(),
        times(u64::try_from(events).unwrap_or(0)),
        days.len(),
        join(&organisations)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{Category, MemberId, Purpose};

    fn caller(id: CallerId, roles: &[Role], credential: Credential, amr: &[&str]) -> Caller {
        Caller {
            id,
            client_id: "wijkhub-console".into(),
            organisation: OrganisationId::new(),
            roles: roles.to_vec(),
            scopes: Vec::new(),
            purposes: Vec::new(),
            amr: amr.iter().map(|method| (*method).to_owned()).collect(),
            credential,
            expires_at: Utc::now(),
        }
    }

    #[track_caller]
    fn check(caller: Caller, want: Result<(), Refusal>, want_checks: &[&str]) {
        assert_eq!(authorise(&caller), want);
        let entry = read_entry(
            &caller,
            &context::RequestInfo::default(),
            want,
            "audit-search",
            None,
        );
        assert_eq!(entry.action, audit::AuditAction::AuditRead);
        let checks: Vec<&str> = entry.checks.iter().map(audit::Code::as_str).collect();
        assert_eq!(checks, want_checks);
        let reason = entry.reason.as_ref().map(audit::Code::as_str);
        match want {
            Ok(()) => {
                assert_eq!(entry.outcome, audit::Outcome::Permit);
                assert_eq!(reason, Some("audit-search"));
            }
            Err(refusal) => {
                assert_eq!(entry.outcome, audit::Outcome::Deny);
                assert_eq!(reason, Some(refusal.code()));
            }
        }
    }

    #[test]
    fn only_the_privacy_officer_in_a_console_session_with_a_second_factor() {
        let member = CallerId::Member(MemberId::new());
        let client = CallerId::Client(ClientId::new());
        let all = CHECKS.as_slice();
        let cases = [
            (
                caller(
                    member,
                    &[Role::PrivacyOfficer],
                    Credential::Session,
                    &["pwd", "otp"],
                ),
                Ok(()),
                all,
            ),
            (
                caller(
                    member,
                    &[Role::PrivacyOfficer],
                    Credential::Session,
                    &["pwd"],
                ),
                Err(Refusal::NoSecondFactor),
                all,
            ),
            (
                caller(
                    member,
                    &[Role::PrivacyOfficer],
                    Credential::AccessToken,
                    &["otp"],
                ),
                Err(Refusal::NotConsole),
                &all[..3],
            ),
            (
                caller(
                    member,
                    &[Role::PrivacyOfficer],
                    Credential::ExternalToken,
                    &["otp"],
                ),
                Err(Refusal::NotConsole),
                &all[..3],
            ),
            (
                caller(member, &[Role::Coach], Credential::Session, &["pwd", "otp"]),
                Err(Refusal::Role),
                &all[..2],
            ),
            (
                caller(
                    member,
                    &[Role::Administrator],
                    Credential::Session,
                    &["pwd", "otp"],
                ),
                Err(Refusal::Role),
                &all[..2],
            ),
            // A partner system never reads the log, whatever roles its token maps to.
            (
                caller(
                    client,
                    &[Role::PrivacyOfficer],
                    Credential::AccessToken,
                    &["otp"],
                ),
                Err(Refusal::Role),
                &all[..2],
            ),
        ];
        for (caller, want, checks) in cases {
            check(caller, want, checks);
        }
    }

    #[test]
    fn report_lines_are_plain_language_without_codes_for_people() {
        let row = audit::AccessReportRow {
            day: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            organisation: Some(OrganisationId::new()),
            purpose: Some(Purpose::Support),
            entries: 3,
            permitted: 2,
            denied: 1,
            actors: 1,
            actions: [audit::AuditAction::ResidentRead].into_iter().collect(),
            categories_returned: [Category::Story, Category::Goals].into_iter().collect(),
            categories_denied: [Category::Health].into_iter().collect(),
            bases: ["consent:0192f3a0-0000-7000-8000-0000000000f1".to_owned()]
                .into_iter()
                .collect(),
        };
        assert_eq!(
            line_text(&row, Some("Stichting Buurtkracht")),
            "On 2026-11-23, Stichting Buurtkracht looked at your plan for support \
             (3 times, 1 person or system); refused once. They saw: story and goals. \
             Not shared with them: health. On the ground of your consent."
        );
        let line = report_line(&row, None);
        assert!(line.text.starts_with("On 2026-11-23, the hub itself"));
        assert_eq!(
            summary(&[line]),
            "1 organisation(s) processed your data 3 times on 1 day(s): the hub itself."
        );
        assert_eq!(summary(&[]), "Nobody processed your data in this period.");
    }
}
