//! The audit tables as the crate reads and writes them: column lists, row decoding, the
//! multi-row insert, backend-specific SQL.
//!
//! Statements here are built with bound parameters only; no value is ever formatted into SQL.
//! This module must never UPDATE or DELETE: the tables are append-only.

use std::collections::BTreeSet;

use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};
use uuid::Uuid;

use crate::AuditError;
use crate::encoding::ENCODING_VERSION;
use crate::entry::{
    Actor, AuditAction, AuditEntry, ChainId, Code, NewEntry, OnBehalfOf, Outcome, micros_to_time,
};
use crate::merkle::Hash;
use domain::{Category, ClientId, OrganisationId, PlanId, Purpose, ResidentId, Role, SectionId};

pub const ENTRIES: &str = "audit_entries";
pub const CHECKPOINTS: &str = "audit_checkpoints";

/// Every column of `audit_entries`, in the order rows are inserted and selected.
pub const ENTRY_COLUMNS: &[&str] = &[
    "chain_id",
    "seq",
    "encoding_version",
    "occurred_at_us",
    "action",
    "actor_kind",
    "actor_id",
    "on_behalf_of_id",
    "on_behalf_of_name",
    "organisation_id",
    "role",
    "resident_id",
    "plan_id",
    "section_id",
    "revision",
    "categories_returned",
    "categories_denied",
    "purpose",
    "basis",
    "outcome",
    "reason",
    "checks",
    "request_id",
    "source_address",
    "client_id",
    "leaf_hash",
];

/// The most rows in one INSERT: 26 parameters each stays below SQLite's 32766.
pub const MAX_ROWS_PER_INSERT: usize = 1000;

pub fn backend_supported(backend: DbBackend) -> Result<DbBackend, AuditError> {
    match backend {
        DbBackend::Sqlite | DbBackend::Postgres => Ok(backend),
        _ => Err(AuditError::UnsupportedBackend),
    }
}

/// `?` on SQLite, `$n` on PostgreSQL.
pub struct Params {
    backend: DbBackend,
    pub values: Vec<Value>,
}

impl Params {
    pub fn new(backend: DbBackend) -> Params {
        Params {
            backend,
            values: Vec::new(),
        }
    }

    /// Binds a value and returns its placeholder.
    pub fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    pub fn statement(self, sql: String) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, self.values)
    }
}

pub fn entry_select_list() -> String {
    ENTRY_COLUMNS.join(", ")
}

fn join_codes<'a>(codes: impl Iterator<Item = &'a str>) -> String {
    codes.collect::<Vec<_>>().join(",")
}

fn uuid_value(id: Option<Uuid>) -> Value {
    Value::Uuid(id)
}

/// One multi-row INSERT for a batch (at most [`MAX_ROWS_PER_INSERT`] rows).
pub fn insert_statement(backend: DbBackend, rows: &[AuditEntry]) -> Statement {
    let mut params = Params::new(backend);
    let mut sql = format!("INSERT INTO {ENTRIES} ({}) VALUES ", entry_select_list());
    for (row_idx, row) in rows.iter().enumerate() {
        let e = &row.entry;
        let values: [Value; 26] = [
            uuid_value(Some(row.chain.as_uuid())),
            Value::BigInt(Some(row.seq as i64)),
            Value::SmallInt(Some(i16::from(ENCODING_VERSION))),
            Value::BigInt(Some(e.time_micros())),
            Value::String(Some(e.action.as_str().to_owned())),
            Value::String(Some(e.actor.kind().to_owned())),
            uuid_value(e.actor.id()),
            Value::String(
                e.on_behalf_of
                    .as_ref()
                    .map(|p| p.user_id().as_str().to_owned()),
            ),
            Value::String(e.on_behalf_of.as_ref().map(|p| p.display_name().to_owned())),
            uuid_value(e.organisation.map(|id| id.as_uuid())),
            Value::String(e.role.map(|role| role.as_str().to_owned())),
            uuid_value(e.resident.map(|id| id.as_uuid())),
            uuid_value(e.plan.map(|id| id.as_uuid())),
            uuid_value(e.section.map(|id| id.as_uuid())),
            Value::BigInt(e.revision),
            Value::String(Some(join_codes(
                e.categories_returned.iter().map(|c| c.as_str()),
            ))),
            Value::String(Some(join_codes(
                e.categories_denied.iter().map(|c| c.as_str()),
            ))),
            Value::String(e.purpose.map(|p| p.as_str().to_owned())),
            Value::String(e.basis.as_ref().map(|b| b.as_str().to_owned())),
            Value::String(Some(e.outcome.as_str().to_owned())),
            Value::String(e.reason.as_ref().map(|r| r.as_str().to_owned())),
            Value::String(Some(join_codes(e.checks.iter().map(Code::as_str)))),
            Value::String(e.request_id.as_ref().map(|r| r.as_str().to_owned())),
            Value::String(e.source_address.map(|a| a.to_string())),
            uuid_value(e.client.map(|id| id.as_uuid())),
            Value::Bytes(Some(row.leaf_hash.to_vec())),
        ];
        if row_idx > 0 {
            sql.push(',');
        }
        sql.push('(');
        for (value_idx, value) in values.into_iter().enumerate() {
            if value_idx > 0 {
                sql.push(',');
            }
            sql.push_str(&params.bind(value));
        }
        sql.push(')');
    }
    params.statement(sql)
}

/// A row of `audit_entries`, decoded. A value that does not parse is reported with the row's
/// position, not guessed at: `verify` calls that a changed entry.
pub struct StoredRow {
    pub seq: u64,
    pub entry: Result<AuditEntry, AuditError>,
    pub stored_hash: Option<Hash>,
    /// Set by the fast read path of `verify`: the canonical encoding built straight from the
    /// column bytes; `entry` is then not decoded (a row whose hash does not match is classified
    /// from a fresh read).
    pub raw_leaf: Option<Vec<u8>>,
}

/// Typed access to one selected row, so that the same decoder serves sea-orm rows (both
/// backends) and rusqlite rows (the fast SQLite read path of `verify`).
pub trait RowSource {
    fn opt_uuid(&self, idx: usize) -> Result<Option<Uuid>, AuditError>;
    fn opt_i64(&self, idx: usize) -> Result<Option<i64>, AuditError>;
    fn opt_text(&self, idx: usize) -> Result<Option<String>, AuditError>;
    fn opt_bytes(&self, idx: usize) -> Result<Option<Vec<u8>>, AuditError>;
}

fn bad(idx: usize) -> AuditError {
    AuditError::Malformed(ENTRY_COLUMNS[idx])
}

impl RowSource for QueryResult {
    fn opt_uuid(&self, idx: usize) -> Result<Option<Uuid>, AuditError> {
        self.try_get_by_index::<Option<Uuid>>(idx)
            .map_err(|_| bad(idx))
    }
    fn opt_i64(&self, idx: usize) -> Result<Option<i64>, AuditError> {
        // `encoding_version` is a smallint: PostgreSQL's driver wants the exact width.
        self.try_get_by_index::<Option<i64>>(idx)
            .or_else(|_| {
                self.try_get_by_index::<Option<i16>>(idx)
                    .map(|v| v.map(i64::from))
            })
            .map_err(|_| bad(idx))
    }
    fn opt_text(&self, idx: usize) -> Result<Option<String>, AuditError> {
        self.try_get_by_index::<Option<String>>(idx)
            .map_err(|_| bad(idx))
    }
    fn opt_bytes(&self, idx: usize) -> Result<Option<Vec<u8>>, AuditError> {
        self.try_get_by_index::<Option<Vec<u8>>>(idx)
            .map_err(|_| bad(idx))
    }
}

impl RowSource for rusqlite::Row<'_> {
    fn opt_uuid(&self, idx: usize) -> Result<Option<Uuid>, AuditError> {
        match self.get_ref(idx).map_err(|_| bad(idx))? {
            rusqlite::types::ValueRef::Null => Ok(None),
            rusqlite::types::ValueRef::Blob(bytes) => {
                Uuid::from_slice(bytes).map(Some).map_err(|_| bad(idx))
            }
            _ => Err(bad(idx)),
        }
    }
    fn opt_i64(&self, idx: usize) -> Result<Option<i64>, AuditError> {
        match self.get_ref(idx).map_err(|_| bad(idx))? {
            rusqlite::types::ValueRef::Null => Ok(None),
            rusqlite::types::ValueRef::Integer(value) => Ok(Some(value)),
            _ => Err(bad(idx)),
        }
    }
    fn opt_text(&self, idx: usize) -> Result<Option<String>, AuditError> {
        match self.get_ref(idx).map_err(|_| bad(idx))? {
            rusqlite::types::ValueRef::Null => Ok(None),
            rusqlite::types::ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
                .map(Some)
                .map_err(|_| bad(idx)),
            _ => Err(bad(idx)),
        }
    }
    fn opt_bytes(&self, idx: usize) -> Result<Option<Vec<u8>>, AuditError> {
        match self.get_ref(idx).map_err(|_| bad(idx))? {
            rusqlite::types::ValueRef::Null => Ok(None),
            rusqlite::types::ValueRef::Blob(bytes) => Ok(Some(bytes.to_vec())),
            _ => Err(bad(idx)),
        }
    }
}

fn req<T>(value: Option<T>, idx: usize) -> Result<T, AuditError> {
    value.ok_or_else(|| bad(idx))
}

fn opt_code(value: Option<String>) -> Result<Option<Code>, AuditError> {
    value.as_deref().map(Code::parse).transpose()
}

fn categories(text: &str) -> Result<BTreeSet<Category>, AuditError> {
    if text.is_empty() {
        return Ok(BTreeSet::new());
    }
    let mut set = BTreeSet::new();
    for (idx, code) in text.split(',').enumerate() {
        let category = Category::parse(code).map_err(|_| AuditError::Malformed("categories"))?;
        // Stored sorted and without duplicates; anything else was not written by us.
        if !set.insert(category)
            || set.iter().next_back() != Some(&category)
            || idx >= Category::ALL.len()
        {
            return Err(AuditError::Malformed("categories"));
        }
    }
    Ok(set)
}

/// Decodes a row selected with [`entry_select_list`].
pub fn decode_row(row: &impl RowSource) -> Result<StoredRow, AuditError> {
    let chain = ChainId::from_uuid(req(row.opt_uuid(0)?, 0)?);
    let seq = u64::try_from(req(row.opt_i64(1)?, 1)?).map_err(|_| AuditError::Malformed("seq"))?;
    let stored_hash = row
        .opt_bytes(25)
        .ok()
        .flatten()
        .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok());
    let entry = decode_entry(row, chain, seq, stored_hash);
    Ok(StoredRow {
        seq,
        entry,
        stored_hash,
        raw_leaf: None,
    })
}

fn decode_entry(
    row: &impl RowSource,
    chain: ChainId,
    seq: u64,
    stored_hash: Option<Hash>,
) -> Result<AuditEntry, AuditError> {
    if req(row.opt_i64(2)?, 2)? != i64::from(ENCODING_VERSION) {
        return Err(AuditError::Malformed("encoding_version"));
    }
    let time = micros_to_time(req(row.opt_i64(3)?, 3)?);
    let action = AuditAction::parse(&req(row.opt_text(4)?, 4)?)?;
    let actor = Actor::from_parts(&req(row.opt_text(5)?, 5)?, row.opt_uuid(6)?)?;
    let on_behalf_of = match (row.opt_text(7)?, row.opt_text(8)?) {
        (None, None) => None,
        (Some(id), Some(name)) => Some(OnBehalfOf::new(Code::parse(&id)?, &name)?),
        _ => return Err(AuditError::Malformed("on_behalf_of")),
    };
    let role = row
        .opt_text(10)?
        .as_deref()
        .map(Role::parse)
        .transpose()
        .map_err(|_| AuditError::Malformed("role"))?;
    let purpose = row
        .opt_text(17)?
        .as_deref()
        .map(Purpose::parse)
        .transpose()
        .map_err(|_| AuditError::Malformed("purpose"))?;
    let checks_text = req(row.opt_text(21)?, 21)?;
    let checks = if checks_text.is_empty() {
        Vec::new()
    } else {
        checks_text
            .split(',')
            .map(Code::parse)
            .collect::<Result<Vec<_>, _>>()?
    };
    let source_address = row
        .opt_text(23)?
        .map(|text| {
            text.parse()
                .map_err(|_| AuditError::Malformed("source_address"))
        })
        .transpose()?;
    let entry = NewEntry {
        time,
        action,
        actor,
        on_behalf_of,
        organisation: row.opt_uuid(9)?.map(OrganisationId::from_uuid),
        role,
        resident: row.opt_uuid(11)?.map(ResidentId::from_uuid),
        plan: row.opt_uuid(12)?.map(PlanId::from_uuid),
        section: row.opt_uuid(13)?.map(SectionId::from_uuid),
        revision: row.opt_i64(14)?,
        categories_returned: categories(&req(row.opt_text(15)?, 15)?)?,
        categories_denied: categories(&req(row.opt_text(16)?, 16)?)?,
        purpose,
        basis: opt_code(row.opt_text(18)?)?,
        outcome: Outcome::parse(&req(row.opt_text(19)?, 19)?)?,
        reason: opt_code(row.opt_text(20)?)?,
        checks,
        request_id: opt_code(row.opt_text(22)?)?,
        source_address,
        client: row.opt_uuid(24)?.map(ClientId::from_uuid),
    };
    Ok(AuditEntry {
        chain,
        seq,
        entry,
        leaf_hash: stored_hash.unwrap_or([0u8; 32]),
    })
}

/// The file of an SQLite database's `main` schema, when it has one.
pub async fn sqlite_file<C: ConnectionTrait>(db: &C) -> Option<std::path::PathBuf> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA database_list",
        ))
        .await
        .ok()?;
    rows.iter().find_map(|row| {
        let name = row.try_get_by_index::<String>(1).ok()?;
        let file = row.try_get_by_index::<String>(2).ok()?;
        (name == "main" && !file.is_empty()).then(|| std::path::PathBuf::from(file))
    })
}

/// Rows of one chain from `from`, decoded, read with rusqlite from an SQLite file.
pub fn sqlite_chain_page(
    conn: &rusqlite::Connection,
    chain: ChainId,
    from: u64,
    limit: u64,
    fast: bool,
) -> Result<Vec<StoredRow>, AuditError> {
    let sql = format!(
        "SELECT {} FROM {ENTRIES} WHERE chain_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
        entry_select_list()
    );
    let sqlite_err = |_| AuditError::Malformed("sqlite read");
    let mut statement = conn.prepare(&sql).map_err(sqlite_err)?;
    let mut rows = statement
        .query(rusqlite::params![
            chain.as_uuid().as_bytes().as_slice(),
            from as i64,
            limit as i64
        ])
        .map_err(sqlite_err)?;
    let mut out = Vec::with_capacity(limit as usize);
    while let Some(row) = rows.next().map_err(sqlite_err)? {
        // Fast path: the canonical encoding straight from the column bytes, no decoding; the
        // checking thread hashes it (in parallel with this thread reading the next page). A row
        // whose bytes do not have the writer's shape is decoded in full, which says what is wrong.
        let mut leaf = Vec::with_capacity(if fast { 384 } else { 0 });
        let encoded = fast.then(|| raw_leaf(&mut leaf, row)).flatten();
        let stored_hash = match row.get_ref(25) {
            Ok(rusqlite::types::ValueRef::Blob(bytes)) => Hash::try_from(bytes).ok(),
            _ => None,
        };
        match encoded {
            Some(seq) => out.push(StoredRow {
                seq,
                entry: Err(AuditError::Malformed(
                    "not decoded: checked by its raw leaf",
                )),
                stored_hash,
                raw_leaf: Some(leaf),
            }),
            None => out.push(decode_row(row)?),
        }
    }
    Ok(out)
}

/// The canonical encoding (`encoding::encode_into`, docs/AUDIT.md §3) of a row selected with
/// [`entry_select_list`], built from the column bytes as stored; returns the row's seq. `None`
/// when a column is not of the shape the writer stores (the full decoder then says why).
fn raw_leaf(out: &mut Vec<u8>, row: &rusqlite::Row<'_>) -> Option<u64> {
    use rusqlite::types::ValueRef;
    fn value<'r>(row: &'r rusqlite::Row<'_>, idx: usize) -> Option<ValueRef<'r>> {
        row.get_ref(idx).ok()
    }
    fn uuid<'r>(row: &'r rusqlite::Row<'_>, idx: usize) -> Option<Option<&'r [u8]>> {
        match value(row, idx)? {
            ValueRef::Null => Some(None),
            ValueRef::Blob(bytes) if bytes.len() == 16 => Some(Some(bytes)),
            _ => None,
        }
    }
    fn text<'r>(row: &'r rusqlite::Row<'_>, idx: usize) -> Option<Option<&'r [u8]>> {
        match value(row, idx)? {
            ValueRef::Null => Some(None),
            ValueRef::Text(bytes) => Some(Some(bytes)),
            _ => None,
        }
    }
    fn int(row: &rusqlite::Row<'_>, idx: usize) -> Option<Option<i64>> {
        match value(row, idx)? {
            ValueRef::Null => Some(None),
            ValueRef::Integer(n) => Some(Some(n)),
            _ => None,
        }
    }
    fn put(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    fn put_opt(out: &mut Vec<u8>, bytes: Option<&[u8]>, length_prefixed: bool) {
        match bytes {
            None => out.push(0),
            Some(bytes) => {
                out.push(1);
                if length_prefixed {
                    put(out, bytes);
                } else {
                    out.extend_from_slice(bytes);
                }
            }
        }
    }
    fn put_list(out: &mut Vec<u8>, joined: &[u8]) {
        if joined.is_empty() {
            out.extend_from_slice(&0u32.to_be_bytes());
            return;
        }
        let count = joined.iter().filter(|byte| **byte == b',').count() + 1;
        out.extend_from_slice(&(count as u32).to_be_bytes());
        for item in joined.split(|byte| *byte == b',') {
            put(out, item);
        }
    }

    if int(row, 2)?? != i64::from(ENCODING_VERSION) {
        return None;
    }
    let seq = u64::try_from(int(row, 1)??).ok()?;
    out.push(ENCODING_VERSION);
    out.extend_from_slice(uuid(row, 0)??);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&int(row, 3)??.to_be_bytes());
    put(out, text(row, 4)??);
    put(out, text(row, 5)??);
    put_opt(out, uuid(row, 6)?, false);
    match (text(row, 7)?, text(row, 8)?) {
        (None, None) => out.push(0),
        (Some(id), Some(name)) => {
            out.push(1);
            put(out, id);
            put(out, name);
        }
        _ => return None,
    }
    put_opt(out, uuid(row, 9)?, false);
    put_opt(out, text(row, 10)?, true);
    put_opt(out, uuid(row, 11)?, false);
    put_opt(out, uuid(row, 12)?, false);
    put_opt(out, uuid(row, 13)?, false);
    match int(row, 14)? {
        None => out.push(0),
        Some(revision) => {
            out.push(1);
            out.extend_from_slice(&revision.to_be_bytes());
        }
    }
    put_list(out, text(row, 15)??);
    put_list(out, text(row, 16)??);
    put_opt(out, text(row, 17)?, true);
    put_opt(out, text(row, 18)?, true);
    put(out, text(row, 19)??);
    put_opt(out, text(row, 20)?, true);
    put_list(out, text(row, 21)??);
    put_opt(out, text(row, 22)?, true);
    put_opt(out, text(row, 23)?, true);
    put_opt(out, uuid(row, 24)?, false);
    Some(seq)
}

/// Rows of one chain with `seq >= from`, in order, at most `limit`.
pub async fn chain_page<C: ConnectionTrait>(
    db: &C,
    chain: ChainId,
    from: u64,
    limit: u64,
) -> Result<Vec<QueryResult>, AuditError> {
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT {} FROM {ENTRIES} WHERE chain_id = {} AND seq >= {} ORDER BY seq LIMIT {}",
        entry_select_list(),
        params.bind(chain.as_uuid()),
        params.bind(from as i64),
        params.bind(limit as i64),
    );
    Ok(db.query_all_raw(params.statement(sql)).await?)
}

/// Stored leaf hashes of one chain for `seq` in `[from, to)`, in order, with their seq.
pub async fn leaf_hash_page<C: ConnectionTrait>(
    db: &C,
    chain: ChainId,
    from: u64,
    to: u64,
    limit: u64,
) -> Result<Vec<(u64, Hash)>, AuditError> {
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT seq, leaf_hash FROM {ENTRIES} WHERE chain_id = {} AND seq >= {} AND seq < {} ORDER BY seq LIMIT {}",
        params.bind(chain.as_uuid()),
        params.bind(from as i64),
        params.bind(to as i64),
        params.bind(limit as i64),
    );
    let rows = db.query_all_raw(params.statement(sql)).await?;
    rows.iter()
        .map(|row| {
            let seq = row
                .try_get_by_index::<i64>(0)
                .map_err(|_| AuditError::Malformed("seq"))?;
            let hash = row
                .try_get_by_index::<Vec<u8>>(1)
                .map_err(|_| AuditError::Malformed("leaf_hash"))?;
            Ok((
                seq as u64,
                Hash::try_from(hash.as_slice()).map_err(|_| AuditError::Malformed("leaf_hash"))?,
            ))
        })
        .collect()
}

/// All stored leaf hashes of a chain for `seq < to`; fails on a gap.
pub async fn load_leaf_hashes<C: ConnectionTrait>(
    db: &C,
    chain: ChainId,
    to: u64,
) -> Result<Vec<Hash>, AuditError> {
    load_leaf_hashes_from(db, chain, 0, to).await
}

/// Stored leaf hashes of a chain for `from <= seq < to`; fails on a gap.
pub async fn load_leaf_hashes_from<C: ConnectionTrait>(
    db: &C,
    chain: ChainId,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, AuditError> {
    const PAGE: u64 = 50_000;
    let mut leaves = Vec::new();
    loop {
        let next = from + leaves.len() as u64;
        if next >= to {
            break;
        }
        let page = leaf_hash_page(db, chain, next, to, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for (seq, hash) in page {
            if seq != from + leaves.len() as u64 {
                return Err(AuditError::Malformed("gap in chain"));
            }
            leaves.push(hash);
        }
    }
    Ok(leaves)
}

/// A stored checkpoint row.
#[derive(Clone, Debug)]
pub struct CheckpointRow {
    pub id: i64,
    pub chain: ChainId,
    pub tree_size: u64,
    pub root: Vec<u8>,
    pub note: String,
}

pub async fn insert_checkpoint<C: ConnectionTrait>(
    db: &C,
    chain: ChainId,
    tree_size: u64,
    root: &Hash,
    note: &str,
    created_at_us: i64,
) -> Result<(), AuditError> {
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "INSERT INTO {CHECKPOINTS} (chain_id, tree_size, root_hash, note, created_at_us) VALUES ({}, {}, {}, {}, {})",
        params.bind(chain.as_uuid()),
        params.bind(tree_size as i64),
        params.bind(root.to_vec()),
        params.bind(note.to_owned()),
        params.bind(created_at_us),
    );
    db.execute_raw(params.statement(sql)).await?;
    Ok(())
}

/// Checkpoints, in the order they were stored; of one chain or of all.
pub async fn load_checkpoints<C: ConnectionTrait>(
    db: &C,
    chain: Option<ChainId>,
) -> Result<Vec<CheckpointRow>, AuditError> {
    let mut params = Params::new(db.get_database_backend());
    let filter = match chain {
        Some(chain) => format!("WHERE chain_id = {}", params.bind(chain.as_uuid())),
        None => String::new(),
    };
    let sql = format!(
        "SELECT id, chain_id, tree_size, root_hash, note FROM {CHECKPOINTS} {filter} ORDER BY id"
    );
    let rows = db.query_all_raw(params.statement(sql)).await?;
    rows.iter()
        .map(|row| {
            let bad = |_| AuditError::Malformed("checkpoint row");
            Ok(CheckpointRow {
                id: row
                    .try_get_by_index::<i64>(0)
                    .or_else(|_| row.try_get_by_index::<i32>(0).map(i64::from))
                    .map_err(bad)?,
                chain: ChainId::from_uuid(row.try_get_by_index::<Uuid>(1).map_err(bad)?),
                tree_size: row.try_get_by_index::<i64>(2).map_err(bad)? as u64,
                root: row.try_get_by_index::<Vec<u8>>(3).map_err(bad)?,
                note: row.try_get_by_index::<String>(4).map_err(bad)?,
            })
        })
        .collect()
}

/// `max(seq) + 1` of a chain: its size if it has no gaps.
pub async fn chain_head<C: ConnectionTrait>(db: &C, chain: ChainId) -> Result<u64, AuditError> {
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT max(seq) FROM {ENTRIES} WHERE chain_id = {}",
        params.bind(chain.as_uuid())
    );
    let row = db.query_one_raw(params.statement(sql)).await?;
    let max = row
        .and_then(|row| row.try_get_by_index::<Option<i64>>(0).ok())
        .flatten();
    Ok(max.map_or(0, |max| max as u64 + 1))
}

/// Every chain with entries, with its row count and `max(seq) + 1`.
pub async fn chains<C: ConnectionTrait>(db: &C) -> Result<Vec<(ChainId, u64, u64)>, AuditError> {
    let sql = format!(
        "SELECT chain_id, count(*), max(seq) FROM {ENTRIES} GROUP BY chain_id ORDER BY chain_id"
    );
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|row| {
            let bad = |_| AuditError::Malformed("chain summary");
            Ok((
                ChainId::from_uuid(row.try_get_by_index::<Uuid>(0).map_err(bad)?),
                row.try_get_by_index::<i64>(1).map_err(bad)? as u64,
                row.try_get_by_index::<i64>(2).map_err(bad)? as u64 + 1,
            ))
        })
        .collect()
}

pub const PURGES: &str = "audit_purges";

/// A stored retention purge: the prefix `[0, purged_below)` of `chain` is gone; `frontier`
/// (concatenated 32-byte hashes) and the signed note of that size stand for it.
#[derive(Clone, Debug)]
pub struct PurgeRow {
    pub chain: ChainId,
    pub purged_below: u64,
    pub frontier: Vec<u8>,
    pub note: String,
    pub entry_chain: ChainId,
    pub entry_seq: u64,
}

/// Every purge, in the order recorded.
pub async fn load_purges<C: ConnectionTrait>(db: &C) -> Result<Vec<PurgeRow>, AuditError> {
    let sql = format!(
        "SELECT chain_id, purged_below, frontier, checkpoint_note, entry_chain_id, entry_seq \
         FROM {PURGES} ORDER BY id"
    );
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|row| {
            let bad = |_| AuditError::Malformed("purge row");
            let int = |idx: usize| -> Result<i64, AuditError> {
                row.try_get_by_index::<i64>(idx)
                    .or_else(|_| row.try_get_by_index::<i32>(idx).map(i64::from))
                    .map_err(bad)
            };
            let position = |idx: usize| -> Result<u64, AuditError> {
                u64::try_from(int(idx)?).map_err(|_| AuditError::Malformed("purge row"))
            };
            Ok(PurgeRow {
                chain: ChainId::from_uuid(row.try_get_by_index::<Uuid>(0).map_err(bad)?),
                purged_below: position(1)?,
                frontier: row.try_get_by_index::<Vec<u8>>(2).map_err(bad)?,
                note: row.try_get_by_index::<String>(3).map_err(bad)?,
                entry_chain: ChainId::from_uuid(row.try_get_by_index::<Uuid>(4).map_err(bad)?),
                entry_seq: position(5)?,
            })
        })
        .collect()
}

/// The first position of `chain` whose entry occurred at or after `time_us` (`None`: none did).
pub async fn first_seq_from<C: ConnectionTrait>(
    db: &C,
    chain: ChainId,
    time_us: i64,
) -> Result<Option<u64>, AuditError> {
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT min(seq) FROM {ENTRIES} WHERE chain_id = {} AND occurred_at_us >= {}",
        params.bind(chain.as_uuid()),
        params.bind(time_us),
    );
    let row = db.query_one_raw(params.statement(sql)).await?;
    Ok(row
        .and_then(|row| row.try_get_by_index::<Option<i64>>(0).ok())
        .flatten()
        .map(|seq| seq as u64))
}

/// One entry's action and reason, if the entry exists.
pub async fn action_and_reason<C: ConnectionTrait>(
    db: &C,
    chain: ChainId,
    seq: u64,
) -> Result<Option<(String, Option<String>)>, AuditError> {
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT action, reason FROM {ENTRIES} WHERE chain_id = {} AND seq = {}",
        params.bind(chain.as_uuid()),
        params.bind(seq as i64),
    );
    let row = db.query_one_raw(params.statement(sql)).await?;
    row.map(|row| {
        let bad = |_| AuditError::Malformed("entry");
        Ok((
            row.try_get_by_index::<String>(0).map_err(bad)?,
            row.try_get_by_index::<Option<String>>(1).map_err(bad)?,
        ))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, AuditAction, NewEntry, OnBehalfOf, Outcome, SigningKey, WriterConfig};
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    use sea_orm_migration::{MigrationTrait, SchemaManager};

    fn varied(i: u64) -> NewEntry {
        let actor = if i.is_multiple_of(2) {
            Actor::Member(domain::MemberId::new())
        } else {
            Actor::Client(ClientId::new())
        };
        let mut entry = NewEntry::new(AuditAction::ResidentRead, actor, Outcome::Permit);
        if i.is_multiple_of(3) {
            return entry; // every optional field empty
        }
        entry.on_behalf_of = (i % 2 == 1)
            .then(|| OnBehalfOf::new(Code::parse("emp-42").unwrap(), "J. de Vries").unwrap());
        entry.organisation = Some(OrganisationId::new());
        entry.role = Some(Role::ProviderWorker);
        entry.resident = Some(ResidentId::new());
        entry.plan = Some(PlanId::new());
        entry.section = Some(SectionId::new());
        entry.revision = Some(-7 + i as i64);
        entry.categories_returned = [Category::Story, Category::Goals].into_iter().collect();
        entry.categories_denied = [Category::Health].into_iter().collect();
        entry.purpose = Some(Purpose::Support);
        entry.basis = Some(Code::parse("statutory:wmo2015").unwrap());
        entry.reason = Some(Code::parse("no-consent").unwrap());
        entry.checks = vec![
            Code::parse("authenticated").unwrap(),
            Code::parse("consent").unwrap(),
        ];
        entry.request_id = Some(Code::parse("req-1").unwrap());
        entry.source_address = Some(if i.is_multiple_of(2) {
            "192.0.2.1".parse().unwrap()
        } else {
            "2001:db8::1".parse().unwrap()
        });
        entry.client = Some(ClientId::new());
        entry
    }

    /// The fast read path of `verify` recomputes exactly the writer's leaf hash for every shape
    /// of entry, and leaves a changed row to the full decoder.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn raw_leaves_match_the_writer_and_changed_rows_fall_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let mut options =
            sea_orm::ConnectOptions::new(format!("sqlite://{}?mode=rwc", path.display()));
        options.sqlx_logging(false).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
        });
        let db = sea_orm::Database::connect(options).await.unwrap();
        crate::test_migration::Migration
            .up(&SchemaManager::new(&db))
            .await
            .unwrap();
        let key = SigningKey::from_pkcs8(
            "wijkhub.test/audit",
            &crate::generate_signing_key().unwrap(),
        )
        .unwrap();
        let writer = crate::start(db.clone(), WriterConfig::default(), key)
            .await
            .unwrap();
        for i in 0..12 {
            writer.log().submit(varied(i)).await.unwrap();
        }
        let chain = writer.log().chain();
        writer.shutdown().await.unwrap();
        db.close().await.unwrap();

        let conn = rusqlite::Connection::open(&path).unwrap();
        let rows = sqlite_chain_page(&conn, chain, 0, 100, true).unwrap();
        assert_eq!(rows.len(), 12);
        let raw_hash = |row: &StoredRow| row.raw_leaf.as_deref().map(crate::merkle::leaf_hash);
        for row in &rows {
            assert!(row.raw_leaf.is_some(), "row {} took the slow path", row.seq);
            assert_eq!(raw_hash(row), row.stored_hash, "row {}", row.seq);
        }
        conn.execute_batch(
            "DROP TRIGGER audit_entries_no_update; \
             UPDATE audit_entries SET outcome = 'deny' WHERE seq = 4; \
             UPDATE audit_entries SET on_behalf_of_name = NULL WHERE seq = 5",
        )
        .unwrap();
        let rows = sqlite_chain_page(&conn, chain, 0, 100, true).unwrap();
        for row in &rows {
            let matches = raw_hash(row).is_some_and(|hash| Some(hash) == row.stored_hash);
            assert_eq!(matches, row.seq != 4 && row.seq != 5, "row {}", row.seq);
        }
        // A row whose columns have no canonical shape (one half of on-behalf-of) is decoded in
        // full, and the decoder says what is wrong.
        assert!(rows[5].raw_leaf.is_none());
        assert!(rows[5].entry.is_err());
    }
}
