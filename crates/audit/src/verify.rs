//! Verification of the whole log, and inclusion and consistency proofs anyone can check.
//!
//! `verify` trusts nothing in the database: it recomputes every leaf hash from the stored
//! columns, every root from the leaves, checks every checkpoint signature against the public
//! key, and compares with the checkpoints exported outside the database. It must never modify
//! the database and never stop at the first problem of one chain without looking at the others.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sea_orm::ConnectionTrait;

use crate::AuditError;
use crate::checkpoint::{NoteError, VerifierKey, split_export};
use crate::db;
use crate::encoding::{encode_entry, encode_stored};
use crate::entry::ChainId;
use crate::merkle::{self, Frontier, Hash, leaf_hash, purged_oracle};
use crate::purge::{decode_frontier, purge_reason, purged_frontier};

/// Rows read per query while verifying.
const PAGE: u64 = 20_000;
/// How far around a bad row `verify` looks to tell a moved row from a changed one.
const WINDOW: u64 = 32;

/// Where a checkpoint came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointSource {
    /// A row of `audit_checkpoints` with this id.
    Database { id: i64 },
    /// The note starting at this line of the export file.
    Export { line: usize },
}

impl fmt::Display for CheckpointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointSource::Database { id } => write!(f, "database checkpoint id {id}"),
            CheckpointSource::Export { line } => write!(f, "export file line {line}"),
        }
    }
}

/// One thing wrong. Entry problems name the first bad sequence number of their chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The entry's columns no longer hash to its stored leaf hash.
    ChangedEntry { chain: ChainId, seq: u64 },
    /// `count` entries from `seq` are missing (a gap, or later entries renumbered down).
    DeletedEntry {
        chain: ChainId,
        seq: u64,
        count: u64,
    },
    /// An entry at `seq` that the writer did not write (later entries renumbered up).
    InsertedEntry { chain: ChainId, seq: u64 },
    /// Entries from `seq` carry hashes of other positions: moved around.
    ReorderedEntries { chain: ChainId, seq: u64 },
    /// Entries and leaf hashes agree but the root differs from a signed checkpoint: something
    /// in `[first_unproven_seq, tree_size)` was rewritten together with its hash.
    RootMismatch {
        chain: ChainId,
        tree_size: u64,
        first_unproven_seq: u64,
    },
    /// The database has fewer entries than a signed checkpoint covers.
    TruncatedTail {
        chain: ChainId,
        db_size: u64,
        checkpoint_size: u64,
    },
    /// A checkpoint whose signature does not verify, or whose row disagrees with its note.
    ForgedCheckpoint {
        source: CheckpointSource,
        detail: &'static str,
    },
    /// A checkpoint that appears after a later one of its chain (an old note put back).
    ReplayedCheckpoint {
        chain: ChainId,
        tree_size: u64,
        source: CheckpointSource,
    },
    /// Two signed checkpoints of one chain and size with different roots: a fork.
    ConflictingCheckpoints { chain: ChainId, tree_size: u64 },
    /// A checkpoint that cannot be parsed.
    MalformedCheckpoint {
        source: CheckpointSource,
        detail: &'static str,
    },
    /// A retention purge record that does not hold: its note is not signed by the key, is for
    /// another chain or size, or its frontier does not lead to the signed root.
    ForgedPurge {
        chain: ChainId,
        purged_below: u64,
        detail: &'static str,
    },
    /// A purge record without the `audit.purged` entry that must precede it: entries were
    /// deleted outside `wijkhub audit purge`.
    UnrecordedPurge { chain: ChainId, purged_below: u64 },
}

impl Problem {
    /// The chain and first bad sequence number, where the problem has one.
    pub fn first_bad_seq(&self) -> Option<(ChainId, u64)> {
        match *self {
            Problem::ChangedEntry { chain, seq }
            | Problem::DeletedEntry { chain, seq, .. }
            | Problem::InsertedEntry { chain, seq }
            | Problem::ReorderedEntries { chain, seq } => Some((chain, seq)),
            Problem::RootMismatch {
                chain,
                first_unproven_seq,
                ..
            } => Some((chain, first_unproven_seq)),
            Problem::TruncatedTail { chain, db_size, .. } => Some((chain, db_size)),
            Problem::ForgedCheckpoint { .. }
            | Problem::ReplayedCheckpoint { .. }
            | Problem::ConflictingCheckpoints { .. }
            | Problem::MalformedCheckpoint { .. }
            | Problem::ForgedPurge { .. }
            | Problem::UnrecordedPurge { .. } => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::ChangedEntry { chain, seq } => {
                write!(f, "chain {chain}: entry {seq} was changed")
            }
            Problem::DeletedEntry { chain, seq, count } => {
                write!(f, "chain {chain}: {count} entry(ies) deleted at {seq}")
            }
            Problem::InsertedEntry { chain, seq } => {
                write!(f, "chain {chain}: entry {seq} was inserted")
            }
            Problem::ReorderedEntries { chain, seq } => {
                write!(f, "chain {chain}: entries reordered from {seq}")
            }
            Problem::RootMismatch {
                chain,
                tree_size,
                first_unproven_seq,
            } => write!(
                f,
                "chain {chain}: root at size {tree_size} differs from the signed checkpoint; \
                 entries {first_unproven_seq}..{tree_size} were rewritten with their hashes"
            ),
            Problem::TruncatedTail {
                chain,
                db_size,
                checkpoint_size,
            } => write!(
                f,
                "chain {chain}: truncated: {db_size} entries in the database, a checkpoint covers {checkpoint_size}"
            ),
            Problem::ForgedCheckpoint { source, detail } => {
                write!(f, "{source}: forged checkpoint: {detail}")
            }
            Problem::ReplayedCheckpoint {
                chain,
                tree_size,
                source,
            } => {
                write!(
                    f,
                    "{source}: chain {chain}: older checkpoint of size {tree_size} replayed"
                )
            }
            Problem::ConflictingCheckpoints { chain, tree_size } => {
                write!(
                    f,
                    "chain {chain}: two signed checkpoints of size {tree_size} with different roots"
                )
            }
            Problem::MalformedCheckpoint { source, detail } => {
                write!(f, "{source}: malformed checkpoint: {detail}")
            }
            Problem::ForgedPurge {
                chain,
                purged_below,
                detail,
            } => write!(
                f,
                "chain {chain}: the purge record below {purged_below} does not hold: {detail}"
            ),
            Problem::UnrecordedPurge {
                chain,
                purged_below,
            } => write!(
                f,
                "chain {chain}: entries below {purged_below} were deleted without a recorded purge"
            ),
        }
    }
}

/// What `verify` found for one chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSummary {
    pub chain: ChainId,
    /// Rows in the database.
    pub entries: u64,
    /// Largest size covered by a valid signed checkpoint.
    pub checkpointed_size: u64,
    /// Entries after the last checkpoint: intact but not yet sealed (a crash leaves some).
    pub unsealed: u64,
    /// Entries below this position were removed by a retention purge (0: none).
    pub purged_below: u64,
}

/// The outcome of [`verify`]. `is_ok` only when there is no problem at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub chains: Vec<ChainSummary>,
    pub problems: Vec<Problem>,
    pub entries_checked: u64,
    pub checkpoints_checked: u64,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

struct ValidCheckpoint {
    chain: ChainId,
    tree_size: u64,
    root: Hash,
    source: CheckpointSource,
}

fn check_note(
    key: &VerifierKey,
    note: &str,
    source: CheckpointSource,
    problems: &mut Vec<Problem>,
) -> Option<ValidCheckpoint> {
    match key.verify_note(note) {
        Ok(checkpoint) => match checkpoint.chain() {
            Some(chain) => Some(ValidCheckpoint {
                chain,
                tree_size: checkpoint.tree_size,
                root: checkpoint.root,
                source,
            }),
            None => {
                problems.push(Problem::MalformedCheckpoint {
                    source,
                    detail: "origin does not end in a chain id",
                });
                None
            }
        },
        Err(NoteError::BadSignature) => {
            problems.push(Problem::ForgedCheckpoint {
                source,
                detail: "signature does not verify",
            });
            None
        }
        Err(NoteError::NoSignature) => {
            problems.push(Problem::ForgedCheckpoint {
                source,
                detail: "not signed by the log key",
            });
            None
        }
        Err(NoteError::Malformed(detail)) => {
            problems.push(Problem::MalformedCheckpoint { source, detail });
            None
        }
    }
}

/// Checks every chain, every checkpoint signature, the consistency of the checkpoints, and the
/// database against the exported checkpoints. `progress(done, total)` is called per page of
/// entries. An `Err` means the check could not run (database unreachable, file unreadable).
pub async fn verify<C: ConnectionTrait>(
    db: &C,
    key: &VerifierKey,
    exported: Option<&Path>,
    progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, AuditError> {
    verify_with(db, key, exported, progress, true).await
}

/// [`verify`] with every SQLite row decoded in full, as before the fast read path: for the
/// benchmark's A/B comparison only. Same report.
#[doc(hidden)]
pub async fn verify_decoding_every_row<C: ConnectionTrait>(
    db: &C,
    key: &VerifierKey,
    exported: Option<&Path>,
    progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, AuditError> {
    verify_with(db, key, exported, progress, false).await
}

async fn verify_with<C: ConnectionTrait>(
    db: &C,
    key: &VerifierKey,
    exported: Option<&Path>,
    mut progress: impl FnMut(u64, u64),
    fast: bool,
) -> Result<VerifyReport, AuditError> {
    let mut report = VerifyReport::default();
    let mut valid = Vec::new();
    for row in db::load_checkpoints(db, None).await? {
        let source = CheckpointSource::Database { id: row.id };
        report.checkpoints_checked += 1;
        if let Some(checkpoint) = check_note(key, &row.note, source, &mut report.problems) {
            if checkpoint.chain != row.chain
                || checkpoint.tree_size != row.tree_size
                || checkpoint.root.as_slice() != row.root
            {
                report.problems.push(Problem::ForgedCheckpoint {
                    source,
                    detail: "row columns differ from the signed note",
                });
                continue;
            }
            valid.push(checkpoint);
        }
    }
    let n_db_checkpoints = valid.len();
    if let Some(path) = exported {
        let text = std::fs::read_to_string(path)?;
        for (line, note) in split_export(&text) {
            report.checkpoints_checked += 1;
            if let Some(checkpoint) = check_note(
                key,
                &note,
                CheckpointSource::Export { line },
                &mut report.problems,
            ) {
                valid.push(checkpoint);
            }
        }
    }

    // Order within each source: sizes must grow. A repeat or a smaller size later is a replay.
    for (from, to) in [(0, n_db_checkpoints), (n_db_checkpoints, valid.len())] {
        let mut largest: HashMap<ChainId, u64> = HashMap::new();
        for checkpoint in &valid[from..to] {
            let entry = largest.entry(checkpoint.chain).or_insert(0);
            if checkpoint.tree_size <= *entry && *entry > 0 {
                report.problems.push(Problem::ReplayedCheckpoint {
                    chain: checkpoint.chain,
                    tree_size: checkpoint.tree_size,
                    source: checkpoint.source,
                });
            }
            *entry = (*entry).max(checkpoint.tree_size);
        }
    }
    // One root per chain and size, across all sources.
    let mut roots: BTreeMap<ChainId, BTreeMap<u64, Hash>> = BTreeMap::new();
    let mut conflicts = BTreeSet::new();
    for checkpoint in &valid {
        let by_size = roots.entry(checkpoint.chain).or_default();
        match by_size.get(&checkpoint.tree_size) {
            Some(root) if *root != checkpoint.root => {
                conflicts.insert((checkpoint.chain, checkpoint.tree_size));
            }
            Some(_) => {}
            None => {
                by_size.insert(checkpoint.tree_size, checkpoint.root);
            }
        }
    }
    for (chain, tree_size) in &conflicts {
        report.problems.push(Problem::ConflictingCheckpoints {
            chain: *chain,
            tree_size: *tree_size,
        });
    }

    let starts = check_purges(db, key, &mut roots, &mut report.problems).await?;

    let db_chains = db::chains(db).await?;
    let total: u64 = db_chains.iter().map(|(_, count, _)| count).sum();
    let mut all_chains: BTreeSet<ChainId> = db_chains.iter().map(|(chain, _, _)| *chain).collect();
    all_chains.extend(roots.keys().copied());
    let mut done = 0u64;
    progress(0, total);
    let pages = Pages::open(db, fast).await;
    for chain in all_chains {
        let checkpoints = roots.remove(&chain).unwrap_or_default();
        let start = starts.get(&chain).cloned().unwrap_or_default();
        let purged_below = start.size();
        let (count, head) = db_chains
            .iter()
            .find(|(c, _, _)| *c == chain)
            .map_or((0, 0), |(_, count, head)| (*count, *head));
        // A chain purged to its end has no rows left; its size is where the purge cut it.
        let head = head.max(purged_below);
        let scanned = verify_chain(
            db,
            &pages,
            chain,
            start,
            &checkpoints,
            &mut report.problems,
            &mut |n| {
                done += n;
                progress(done, total);
            },
        )
        .await?;
        report.entries_checked += scanned.saturating_sub(purged_below);
        let checkpointed_size = checkpoints.keys().next_back().copied().unwrap_or(0);
        if checkpointed_size > head {
            report.problems.push(Problem::TruncatedTail {
                chain,
                db_size: head,
                checkpoint_size: checkpointed_size,
            });
        }
        report.chains.push(ChainSummary {
            chain,
            entries: count,
            checkpointed_size,
            unsealed: head.saturating_sub(checkpointed_size),
            purged_below,
        });
    }
    progress(total, total);
    Ok(report)
}

/// Scans one chain in order; returns the number of rows checked. Stops at the chain's first
/// problem: after it, nothing of that chain can be trusted to mean anything.
/// Where `verify` reads pages of entries from: sea-orm on any backend, or, for an SQLite file,
/// a read-only rusqlite connection on a blocking thread (sqlx materialises rows too slowly).
#[derive(Clone)]
enum Pages {
    Orm,
    /// The connection, and whether rows whose raw leaf hash matches skip decoding.
    Sqlite(Arc<Mutex<rusqlite::Connection>>, bool),
}

impl Pages {
    async fn open<C: ConnectionTrait>(db: &C, fast: bool) -> Pages {
        let Some(path) = db::sqlite_file(db).await else {
            return Pages::Orm;
        };
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let opened =
            tokio::task::spawn_blocking(move || rusqlite::Connection::open_with_flags(path, flags))
                .await;
        match opened {
            Ok(Ok(conn)) => Pages::Sqlite(Arc::new(Mutex::new(conn)), fast),
            _ => Pages::Orm,
        }
    }

    async fn fetch<C: ConnectionTrait>(
        &self,
        db: &C,
        chain: ChainId,
        from: u64,
    ) -> Result<Vec<db::StoredRow>, AuditError> {
        match self {
            Pages::Orm => db::chain_page(db, chain, from, PAGE)
                .await?
                .iter()
                .map(db::decode_row)
                .collect(),
            Pages::Sqlite(conn, fast) => {
                let fast = *fast;
                let conn = conn.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = conn
                        .lock()
                        .map_err(|_| AuditError::Malformed("sqlite reader"))?;
                    db::sqlite_chain_page(&conn, chain, from, PAGE, fast)
                })
                .await
                .map_err(|_| AuditError::Malformed("sqlite reader"))?
            }
        }
    }
}

/// Scans one chain in order; returns the number of rows checked. Stops at the chain's first
/// problem: after it, nothing of that chain can be trusted to mean anything.
async fn verify_chain<C: ConnectionTrait>(
    db: &C,
    pages: &Pages,
    chain: ChainId,
    start: Frontier,
    checkpoints: &BTreeMap<u64, Hash>,
    problems: &mut Vec<Problem>,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, AuditError> {
    // After a purge the scan starts at its cut, from the purge's frontier (checked against its
    // signed checkpoint in `check_purges`); checkpoints inside the purged prefix are skipped.
    let from = start.size();
    let checkpoints: Vec<(u64, Hash)> = checkpoints
        .iter()
        .filter(|(size, _)| **size > from)
        .map(|(size, root)| (*size, *root))
        .collect();
    let mut scan = ChainScan {
        chain,
        frontier: start,
        proven: from,
        checkpoints,
        next_checkpoint: 0,
        buffer: Vec::with_capacity(512),
    };
    let mut rows = pages.fetch(db, chain, from).await?;
    while let Some(last) = rows.last() {
        let n_rows = rows.len() as u64;
        // The next page is read (by the driver or the reader thread) while this one is checked.
        let fetch = pages.fetch(db, chain, last.seq + 1);
        let check = async { scan.check_rows(&rows) };
        let (next, stop) = tokio::join!(fetch, check);
        match stop {
            None => {}
            Some(Stop::Problem(problem)) => {
                problems.push(problem);
                return Ok(scan.frontier.size());
            }
            Some(Stop::Classify(seq)) => {
                problems.push(classify(db, chain, seq).await?);
                return Ok(scan.frontier.size());
            }
        }
        progress(n_rows);
        rows = next?;
    }
    Ok(scan.frontier.size())
}

/// Checks every retention purge record: its note signed by the key for its chain and size, its
/// frontier leading to that root, and its `audit.purged` entry in the log (or itself purged
/// later). Valid purges join the chain's checkpoints; returns where each chain now starts.
async fn check_purges<C: ConnectionTrait>(
    db: &C,
    key: &VerifierKey,
    roots: &mut BTreeMap<ChainId, BTreeMap<u64, Hash>>,
    problems: &mut Vec<Problem>,
) -> Result<HashMap<ChainId, Frontier>, AuditError> {
    let rows = db::load_purges(db).await?;
    let mut valid: Vec<(&db::PurgeRow, Frontier)> = Vec::new();
    for row in &rows {
        let forged = |detail| Problem::ForgedPurge {
            chain: row.chain,
            purged_below: row.purged_below,
            detail,
        };
        let checkpoint = match key.verify_note(&row.note) {
            Ok(checkpoint) => checkpoint,
            Err(_) => {
                problems.push(forged("its checkpoint is not signed by the log key"));
                continue;
            }
        };
        if checkpoint.chain() != Some(row.chain) || checkpoint.tree_size != row.purged_below {
            problems.push(forged("its checkpoint is for another chain or size"));
            continue;
        }
        let Some(frontier) = decode_frontier(row.purged_below, &row.frontier) else {
            problems.push(forged("its frontier is malformed"));
            continue;
        };
        if frontier.root() != checkpoint.root {
            problems.push(forged("its frontier does not lead to the signed root"));
            continue;
        }
        let by_size = roots.entry(row.chain).or_default();
        match by_size.get(&row.purged_below) {
            Some(root) if *root != checkpoint.root => {
                problems.push(Problem::ConflictingCheckpoints {
                    chain: row.chain,
                    tree_size: row.purged_below,
                });
                continue;
            }
            Some(_) => {}
            None => {
                by_size.insert(row.purged_below, checkpoint.root);
            }
        }
        valid.push((row, frontier));
    }
    let mut starts: HashMap<ChainId, Frontier> = HashMap::new();
    for (row, frontier) in &valid {
        let entry_purged = valid
            .iter()
            .any(|(other, _)| other.chain == row.entry_chain && row.entry_seq < other.purged_below);
        if !entry_purged {
            let reason = purge_reason(row.chain, row.purged_below);
            let recorded = db::action_and_reason(db, row.entry_chain, row.entry_seq).await?;
            let matches = recorded.is_some_and(|(action, found)| {
                action == crate::AuditAction::AuditPurge.as_str()
                    && found.as_deref() == Some(reason.as_str())
            });
            if !matches {
                problems.push(Problem::UnrecordedPurge {
                    chain: row.chain,
                    purged_below: row.purged_below,
                });
                continue;
            }
        }
        let start = starts.entry(row.chain).or_default();
        if frontier.size() > start.size() {
            *start = frontier.clone();
        }
    }
    Ok(starts)
}

enum Stop {
    Problem(Problem),
    /// The row at this position does not match its hash: find out how.
    Classify(u64),
}

/// The state of one chain's scan: the tree so far and the checkpoints still to meet.
struct ChainScan {
    chain: ChainId,
    frontier: Frontier,
    /// The largest checkpointed size whose root matched.
    proven: u64,
    checkpoints: Vec<(u64, Hash)>,
    next_checkpoint: usize,
    buffer: Vec<u8>,
}

impl ChainScan {
    fn check_rows(&mut self, rows: &[db::StoredRow]) -> Option<Stop> {
        let chain = self.chain;
        for stored in rows {
            let expected = self.frontier.size();
            if stored.seq != expected {
                let count = stored.seq - expected;
                return Some(Stop::Problem(Problem::DeletedEntry {
                    chain,
                    seq: expected,
                    count,
                }));
            }
            let content_hash = stored.raw_leaf.as_deref().map(leaf_hash).or_else(|| {
                stored.entry.as_ref().ok().map(|entry| {
                    self.buffer.clear();
                    crate::encoding::encode_into(&mut self.buffer, chain, stored.seq, &entry.entry);
                    leaf_hash(&self.buffer)
                })
            });
            let Some(stored_hash) = stored
                .stored_hash
                .filter(|hash| Some(*hash) == content_hash)
            else {
                return Some(Stop::Classify(expected));
            };
            self.frontier.push(stored_hash);
            while let Some((size, root)) = self.checkpoints.get(self.next_checkpoint) {
                if *size > self.frontier.size() {
                    break;
                }
                if *size == self.frontier.size() && self.frontier.root() != *root {
                    return Some(Stop::Problem(Problem::RootMismatch {
                        chain,
                        tree_size: *size,
                        first_unproven_seq: self.proven,
                    }));
                }
                self.proven = *size;
                self.next_checkpoint += 1;
            }
        }
        None
    }
}

/// Tells apart a changed, moved, inserted or deleted entry at the chain's first bad position by
/// finding, for the rows around it, which position their content was hashed for: the stored
/// hash either moved with the row or stayed at its position, so both are tried.
async fn classify<C: ConnectionTrait>(
    db: &C,
    chain: ChainId,
    seq: u64,
) -> Result<Problem, AuditError> {
    let low = seq.saturating_sub(WINDOW);
    let rows = db::chain_page(db, chain, low, seq - low + WINDOW).await?;
    let mut decoded = Vec::with_capacity(rows.len());
    for row in &rows {
        decoded.push(db::decode_row(row)?);
    }
    let stored_at: HashMap<u64, Hash> = decoded
        .iter()
        .filter_map(|row| row.stored_hash.map(|hash| (row.seq, hash)))
        .collect();
    let mut offsets = Vec::with_capacity(decoded.len());
    for row in decoded.iter().filter(|row| row.seq >= seq) {
        let origin = row.entry.as_ref().ok().and_then(|entry| {
            (row.seq.saturating_sub(WINDOW)..=row.seq + WINDOW).find(|candidate| {
                let hash = leaf_hash(&encode_entry(chain, *candidate, &entry.entry));
                row.stored_hash == Some(hash) || stored_at.get(candidate) == Some(&hash)
            })
        });
        offsets.push(origin.map(|origin| origin as i64 - row.seq as i64));
    }
    let first = offsets.first().copied().flatten();
    let rest = offsets.get(1..).unwrap_or_default();
    let uniform = |k: i64| rest.iter().all(|offset| offset.is_none_or(|o| o == k));
    Ok(match first {
        None if !rest.is_empty() && rest.iter().all(|offset| *offset == Some(-1)) => {
            Problem::InsertedEntry { chain, seq }
        }
        None | Some(0) => Problem::ChangedEntry { chain, seq },
        Some(k) if k > 0 && uniform(k) => Problem::DeletedEntry {
            chain,
            seq,
            count: k as u64,
        },
        Some(k) if k < 0 && uniform(k) => Problem::InsertedEntry {
            chain,
            seq: seq.saturating_sub(k.unsigned_abs()),
        },
        Some(_) => Problem::ReorderedEntries { chain, seq },
    })
}

/// Latest stored checkpoint note of a chain covering at least `min_size` entries.
async fn covering_checkpoint<C: ConnectionTrait>(
    db: &C,
    chain: ChainId,
    min_size: u64,
) -> Result<db::CheckpointRow, AuditError> {
    db::load_checkpoints(db, Some(chain))
        .await?
        .into_iter()
        .filter(|row| row.tree_size >= min_size)
        .max_by_key(|row| row.tree_size)
        .ok_or(AuditError::NotFound)
}

/// An inclusion proof: the entry's canonical bytes, its path, and the checkpoint it is proven
/// against. Checkable with [`InclusionProof::verify`] by anyone holding the public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    pub chain: ChainId,
    pub seq: u64,
    pub tree_size: u64,
    /// The canonical encoding of the entry (the Merkle leaf).
    pub leaf: Vec<u8>,
    pub path: Vec<Hash>,
    /// The signed checkpoint note of size `tree_size`.
    pub checkpoint: String,
}

/// A consistency proof between two signed checkpoints of one chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub chain: ChainId,
    pub old_size: u64,
    pub new_size: u64,
    pub path: Vec<Hash>,
    pub old_checkpoint: String,
    pub new_checkpoint: String,
}

/// Proves that entry `seq` of `chain` is in the latest checkpoint covering it. `NotFound` when
/// the entry does not exist or no checkpoint covers it yet.
pub async fn prove_inclusion<C: ConnectionTrait>(
    db: &C,
    chain: ChainId,
    seq: u64,
) -> Result<InclusionProof, AuditError> {
    let checkpoint = covering_checkpoint(db, chain, seq + 1).await?;
    let rows = db::chain_page(db, chain, seq, 1).await?;
    let row = rows.first().ok_or(AuditError::NotFound)?;
    let stored = db::decode_row(row)?;
    if stored.seq != seq {
        return Err(AuditError::NotFound);
    }
    let entry = stored.entry?;
    let start = purged_frontier(db, chain).await?;
    if seq < start.size() {
        return Err(AuditError::NotFound);
    }
    let leaves = db::load_leaf_hashes_from(db, chain, start.size(), checkpoint.tree_size).await?;
    let path = merkle::inclusion_path(
        seq,
        checkpoint.tree_size,
        &mut purged_oracle(&start, &leaves),
    )?;
    Ok(InclusionProof {
        chain,
        seq,
        tree_size: checkpoint.tree_size,
        leaf: encode_stored(&entry),
        path,
        checkpoint: checkpoint.note,
    })
}

/// Proves that the stored checkpoint of `old_size` is a prefix of the one of `new_size`.
pub async fn prove_consistency<C: ConnectionTrait>(
    db: &C,
    chain: ChainId,
    old_size: u64,
    new_size: u64,
) -> Result<ConsistencyProof, AuditError> {
    let checkpoints = db::load_checkpoints(db, Some(chain)).await?;
    let find = |size: u64| {
        checkpoints
            .iter()
            .find(|row| row.tree_size == size)
            .map(|row| row.note.clone())
    };
    let (Some(old_checkpoint), Some(new_checkpoint)) = (find(old_size), find(new_size)) else {
        return Err(AuditError::NotFound);
    };
    let start = purged_frontier(db, chain).await?;
    if old_size < start.size() {
        return Err(AuditError::NotFound);
    }
    let leaves = db::load_leaf_hashes_from(db, chain, start.size(), new_size).await?;
    let path = merkle::consistency_path(old_size, new_size, &mut purged_oracle(&start, &leaves))?;
    Ok(ConsistencyProof {
        chain,
        old_size,
        new_size,
        path,
        old_checkpoint,
        new_checkpoint,
    })
}

/// Why a proof was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] NoteError),
    #[error("the checkpoint is for another chain or size")]
    WrongCheckpoint,
    #[error("the path does not lead to the signed root")]
    PathMismatch,
    #[error("malformed proof: {0}")]
    Malformed(&'static str),
}

impl InclusionProof {
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.leaf)
    }

    /// Checks the checkpoint signature and that the leaf is at `seq` under its root.
    pub fn verify(&self, key: &VerifierKey) -> Result<(), ProofError> {
        let checkpoint = key.verify_note(&self.checkpoint)?;
        if checkpoint.chain() != Some(self.chain) || checkpoint.tree_size != self.tree_size {
            return Err(ProofError::WrongCheckpoint);
        }
        // The leaf itself names its chain and position: bytes 1..17 and 17..25.
        let named_chain = self
            .leaf
            .get(1..17)
            .and_then(|bytes| uuid::Uuid::from_slice(bytes).ok());
        let named_seq = self
            .leaf
            .get(17..25)
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            .map(u64::from_be_bytes);
        if named_chain != Some(self.chain.as_uuid()) || named_seq != Some(self.seq) {
            return Err(ProofError::Malformed(
                "leaf names another chain or position",
            ));
        }
        if !merkle::verify_inclusion(
            self.seq,
            self.tree_size,
            &self.leaf_hash(),
            &self.path,
            &checkpoint.root,
        ) {
            return Err(ProofError::PathMismatch);
        }
        Ok(())
    }

    pub fn parse(text: &str) -> Result<InclusionProof, ProofError> {
        let (fields, checkpoint) = parse_proof(text, "wijkhub audit inclusion proof v1")?;
        Ok(InclusionProof {
            chain: field_chain(&fields)?,
            seq: field_u64(&fields, "seq")?,
            tree_size: field_u64(&fields, "tree-size")?,
            leaf: hex::decode(field(&fields, "leaf")?)
                .map_err(|_| ProofError::Malformed("leaf"))?,
            path: field_hashes(&fields)?,
            checkpoint: checkpoint
                .into_iter()
                .next()
                .ok_or(ProofError::Malformed("checkpoint"))?,
        })
    }
}

impl ConsistencyProof {
    /// Checks both checkpoint signatures and that the old tree is a prefix of the new one.
    pub fn verify(&self, key: &VerifierKey) -> Result<(), ProofError> {
        let old = key.verify_note(&self.old_checkpoint)?;
        let new = key.verify_note(&self.new_checkpoint)?;
        let chain_ok = old.chain() == Some(self.chain) && new.chain() == Some(self.chain);
        if !chain_ok || old.tree_size != self.old_size || new.tree_size != self.new_size {
            return Err(ProofError::WrongCheckpoint);
        }
        if !merkle::verify_consistency(
            self.old_size,
            self.new_size,
            &old.root,
            &new.root,
            &self.path,
        ) {
            return Err(ProofError::PathMismatch);
        }
        Ok(())
    }

    pub fn parse(text: &str) -> Result<ConsistencyProof, ProofError> {
        let (fields, checkpoints) = parse_proof(text, "wijkhub audit consistency proof v1")?;
        let mut checkpoints = checkpoints.into_iter();
        Ok(ConsistencyProof {
            chain: field_chain(&fields)?,
            old_size: field_u64(&fields, "old-size")?,
            new_size: field_u64(&fields, "new-size")?,
            path: field_hashes(&fields)?,
            old_checkpoint: checkpoints
                .next()
                .ok_or(ProofError::Malformed("old checkpoint"))?,
            new_checkpoint: checkpoints
                .next()
                .ok_or(ProofError::Malformed("new checkpoint"))?,
        })
    }
}

impl fmt::Display for InclusionProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wijkhub audit inclusion proof v1")?;
        writeln!(f, "chain {}", self.chain)?;
        writeln!(f, "seq {}", self.seq)?;
        writeln!(f, "tree-size {}", self.tree_size)?;
        writeln!(f, "leaf {}", hex::encode(&self.leaf))?;
        writeln!(f, "leaf-hash {}", B64.encode(self.leaf_hash()))?;
        for node in &self.path {
            writeln!(f, "path {}", B64.encode(node))?;
        }
        writeln!(f, "checkpoint")?;
        write!(f, "{}", self.checkpoint)
    }
}

impl fmt::Display for ConsistencyProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wijkhub audit consistency proof v1")?;
        writeln!(f, "chain {}", self.chain)?;
        writeln!(f, "old-size {}", self.old_size)?;
        writeln!(f, "new-size {}", self.new_size)?;
        for node in &self.path {
            writeln!(f, "path {}", B64.encode(node))?;
        }
        writeln!(f, "checkpoint")?;
        write!(f, "{}", self.old_checkpoint)?;
        writeln!(f, "checkpoint")?;
        write!(f, "{}", self.new_checkpoint)
    }
}

/// Header fields (`key value`) and checkpoint notes of a printed proof.
type ParsedProof<'a> = (Vec<(&'a str, &'a str)>, Vec<String>);

/// Splits a printed proof into `key value` header lines and the checkpoint notes that follow
/// each `checkpoint` line.
fn parse_proof<'a>(text: &'a str, title: &str) -> Result<ParsedProof<'a>, ProofError> {
    let mut parts = text.split("checkpoint\n");
    let header = parts.next().unwrap_or_default();
    let mut lines = header.lines();
    if lines.next() != Some(title) {
        return Err(ProofError::Malformed("title"));
    }
    let fields = lines
        .map(|line| {
            line.split_once(' ')
                .ok_or(ProofError::Malformed("header line"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((fields, parts.map(str::to_owned).collect()))
}

fn field<'a>(fields: &[(&str, &'a str)], name: &'static str) -> Result<&'a str, ProofError> {
    fields
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| *value)
        .ok_or(ProofError::Malformed(name))
}

fn field_u64(fields: &[(&str, &str)], name: &'static str) -> Result<u64, ProofError> {
    field(fields, name)?
        .parse()
        .map_err(|_| ProofError::Malformed(name))
}

fn field_chain(fields: &[(&str, &str)]) -> Result<ChainId, ProofError> {
    uuid::Uuid::parse_str(field(fields, "chain")?)
        .map(ChainId::from_uuid)
        .map_err(|_| ProofError::Malformed("chain"))
}

fn field_hashes(fields: &[(&str, &str)]) -> Result<Vec<Hash>, ProofError> {
    fields
        .iter()
        .filter(|(key, _)| *key == "path")
        .map(|(_, value)| {
            B64.decode(value)
                .ok()
                .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok())
                .ok_or(ProofError::Malformed("path"))
        })
        .collect()
}
