//! Reading the log: the FG's search and a resident's access report (GDPR art. 15).
//!
//! Both are single indexed queries (see the migration's indexes and the `EXPLAIN` tests). This
//! module must never return content (there is none to return) and never filter in memory what
//! the database could filter by index. Reading the log is itself an audited event: the caller
//! submits an `AuditAction::AuditRead` entry.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

use crate::AuditError;
use crate::db::{self, ENTRIES, Params};
use crate::entry::{Actor, AuditAction, AuditEntry, ChainId, Outcome, micros_to_time};
use domain::{Category, ClientId, OrganisationId, Purpose, ResidentId};

/// What to search for; every field narrows. Times are `[from, to)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub resident: Option<ResidentId>,
    pub actor: Option<Actor>,
    /// The member or partner system with this id, whichever it is (ids are unique across both).
    pub actor_id: Option<Uuid>,
    pub organisation: Option<OrganisationId>,
    /// The partner system the requests came through.
    pub client: Option<ClientId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub action: Option<AuditAction>,
    pub outcome: Option<Outcome>,
}

/// A position in the newest-first order: opaque to clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    time_us: i64,
    chain: ChainId,
    seq: u64,
}

impl Cursor {
    /// The position of `entry`: a page continued from here starts with the entry after it.
    pub fn of(entry: &AuditEntry) -> Cursor {
        Cursor {
            time_us: entry.entry.time_micros(),
            chain: entry.chain,
            seq: entry.seq,
        }
    }

    pub fn parse(text: &str) -> Result<Cursor, AuditError> {
        let bad = AuditError::InvalidField { field: "cursor" };
        let bytes = B64URL
            .decode(text)
            .map_err(|_| AuditError::InvalidField { field: "cursor" })?;
        let text =
            String::from_utf8(bytes).map_err(|_| AuditError::InvalidField { field: "cursor" })?;
        let mut parts = text.split(':');
        let (Some("v1"), Some(time), Some(chain), Some(seq), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad);
        };
        Ok(Cursor {
            time_us: time
                .parse()
                .map_err(|_| AuditError::InvalidField { field: "cursor" })?,
            chain: ChainId::from_uuid(
                Uuid::parse_str(chain).map_err(|_| AuditError::InvalidField { field: "cursor" })?,
            ),
            seq: seq
                .parse()
                .map_err(|_| AuditError::InvalidField { field: "cursor" })?,
        })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("v1:{}:{}:{}", self.time_us, self.chain, self.seq);
        f.write_str(&B64URL.encode(text))
    }
}

/// One page of search results, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<Cursor>,
}

/// The most entries one page returns.
pub const MAX_PAGE: u64 = 500;

fn search_statement(
    backend: DbBackend,
    filter: &AuditFilter,
    first: u64,
    after: Option<&Cursor>,
) -> Statement {
    let mut params = Params::new(backend);
    let mut conditions = Vec::new();
    if let Some(resident) = filter.resident {
        conditions.push(format!("resident_id = {}", params.bind(resident.as_uuid())));
    }
    if let Some(actor) = filter.actor {
        conditions.push(format!("actor_kind = {}", params.bind(actor.kind())));
        if let Some(id) = actor.id() {
            conditions.push(format!("actor_id = {}", params.bind(id)));
        }
    }
    if let Some(id) = filter.actor_id {
        conditions.push(format!("actor_id = {}", params.bind(id)));
    }
    if let Some(organisation) = filter.organisation {
        conditions.push(format!(
            "organisation_id = {}",
            params.bind(organisation.as_uuid())
        ));
    }
    if let Some(client) = filter.client {
        conditions.push(format!("client_id = {}", params.bind(client.as_uuid())));
    }
    if let Some(from) = filter.from {
        conditions.push(format!(
            "occurred_at_us >= {}",
            params.bind(from.timestamp_micros())
        ));
    }
    if let Some(to) = filter.to {
        conditions.push(format!(
            "occurred_at_us < {}",
            params.bind(to.timestamp_micros())
        ));
    }
    if let Some(action) = filter.action {
        conditions.push(format!("action = {}", params.bind(action.as_str())));
    }
    if let Some(outcome) = filter.outcome {
        conditions.push(format!("outcome = {}", params.bind(outcome.as_str())));
    }
    if let Some(after) = after {
        conditions.push(format!(
            "(occurred_at_us, chain_id, seq) < ({}, {}, {})",
            params.bind(after.time_us),
            params.bind(after.chain.as_uuid()),
            params.bind(after.seq as i64)
        ));
    }
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let limit = params.bind(first.clamp(1, MAX_PAGE) as i64 + 1);
    let sql = format!(
        "SELECT {} FROM {ENTRIES} {where_clause} ORDER BY occurred_at_us DESC, chain_id DESC, seq DESC LIMIT {limit}",
        db::entry_select_list()
    );
    params.statement(sql)
}

/// Searches the log newest first: at most `first` entries (1–500) after the cursor.
pub async fn search<C: ConnectionTrait>(
    db: &C,
    filter: &AuditFilter,
    first: u64,
    after: Option<&Cursor>,
) -> Result<AuditPage, AuditError> {
    let statement = search_statement(db.get_database_backend(), filter, first, after);
    let rows = db.query_all_raw(statement).await?;
    let first = first.clamp(1, MAX_PAGE) as usize;
    let mut entries = Vec::with_capacity(rows.len().min(first));
    for row in rows.iter().take(first) {
        entries.push(db::decode_row(row)?.entry?);
    }
    let next = if rows.len() > first {
        entries.last().map(Cursor::of)
    } else {
        None
    };
    Ok(AuditPage { entries, next })
}

/// One line of a resident's access report: who (organisation) looked, why (purpose), on which
/// day (UTC), and what they got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessReportRow {
    pub day: NaiveDate,
    pub organisation: Option<OrganisationId>,
    pub purpose: Option<Purpose>,
    pub entries: u64,
    pub permitted: u64,
    pub denied: u64,
    /// Distinct members or clients.
    pub actors: u64,
    pub actions: BTreeSet<AuditAction>,
    pub categories_returned: BTreeSet<Category>,
    pub categories_denied: BTreeSet<Category>,
    /// Grondslagen used (`consent:<id>`, `statutory:<law>`, `break-glass:<id>`).
    pub bases: BTreeSet<String>,
}

fn report_statement(
    backend: DbBackend,
    resident: ResidentId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Statement {
    let mut params = Params::new(backend);
    let sql = format!(
        "SELECT {} FROM {ENTRIES} WHERE resident_id = {} AND occurred_at_us >= {} AND occurred_at_us < {} \
         ORDER BY occurred_at_us",
        db::entry_select_list(),
        params.bind(resident.as_uuid()),
        params.bind(from.timestamp_micros()),
        params.bind(to.timestamp_micros()),
    );
    params.statement(sql)
}

/// The GDPR art. 15 answer for one resident over `[from, to)`, grouped by organisation, purpose
/// and day (UTC), oldest first.
pub async fn access_report<C: ConnectionTrait>(
    db: &C,
    resident: ResidentId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<AccessReportRow>, AuditError> {
    let rows = db
        .query_all_raw(report_statement(
            db.get_database_backend(),
            resident,
            from,
            to,
        ))
        .await?;
    type Key = (NaiveDate, Option<OrganisationId>, Option<Purpose>);
    let mut groups: BTreeMap<Key, (AccessReportRow, BTreeSet<Option<Uuid>>)> = BTreeMap::new();
    for row in &rows {
        let entry = db::decode_row(row)?.entry?.entry;
        let day = micros_to_time(entry.time_micros()).date_naive();
        let (group, actors) = groups
            .entry((day, entry.organisation, entry.purpose))
            .or_insert_with(|| {
                let row = AccessReportRow {
                    day,
                    organisation: entry.organisation,
                    purpose: entry.purpose,
                    entries: 0,
                    permitted: 0,
                    denied: 0,
                    actors: 0,
                    actions: BTreeSet::new(),
                    categories_returned: BTreeSet::new(),
                    categories_denied: BTreeSet::new(),
                    bases: BTreeSet::new(),
                };
                (row, BTreeSet::new())
            });
        group.entries += 1;
        match entry.outcome {
            Outcome::Permit => group.permitted += 1,
            Outcome::Deny => group.denied += 1,
            Outcome::Error => {}
        }
        actors.insert(entry.actor.id());
        group.actions.insert(entry.action);
        group.categories_returned.extend(entry.categories_returned);
        group.categories_denied.extend(entry.categories_denied);
        group
            .bases
            .extend(entry.basis.map(|basis| basis.as_str().to_owned()));
    }
    Ok(groups
        .into_values()
        .map(|(mut row, actors)| {
            row.actors = actors.len() as u64;
            row
        })
        .collect())
}

async fn explain<C: ConnectionTrait>(
    db: &C,
    statement: Statement,
) -> Result<Vec<String>, AuditError> {
    let prefix = match db.get_database_backend() {
        DbBackend::Sqlite => "EXPLAIN QUERY PLAN ",
        DbBackend::Postgres => "EXPLAIN ",
        _ => return Err(AuditError::UnsupportedBackend),
    };
    let explained = Statement {
        sql: format!("{prefix}{}", statement.sql),
        values: statement.values,
        db_backend: statement.db_backend,
    };
    let rows = db.query_all_raw(explained).await?;
    let column = match db.get_database_backend() {
        DbBackend::Sqlite => "detail",
        _ => "QUERY PLAN",
    };
    rows.iter()
        .map(|row| {
            row.try_get::<String>("", column)
                .map_err(|_| AuditError::Malformed("query plan"))
        })
        .collect()
}

/// The database's plan for [`search`] with this filter (SQLite `EXPLAIN QUERY PLAN`,
/// PostgreSQL `EXPLAIN`), one line per row: for tests and for operators.
pub async fn explain_search<C: ConnectionTrait>(
    db: &C,
    filter: &AuditFilter,
    after: Option<&Cursor>,
) -> Result<Vec<String>, AuditError> {
    explain(
        db,
        search_statement(db.get_database_backend(), filter, 50, after),
    )
    .await
}

/// The database's plan for [`access_report`].
pub async fn explain_access_report<C: ConnectionTrait>(
    db: &C,
    resident: ResidentId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<String>, AuditError> {
    explain(
        db,
        report_statement(db.get_database_backend(), resident, from, to),
    )
    .await
}
