//! Retention purge: removing, per chain, a prefix of entries older than the retention period
//! (at least five years, NEN 7513) while the rest of the chain stays verifiable.
//!
//! A chain is cut only at the size `m` of one of its signed checkpoints, and only where every
//! entry below `m` occurred before the cut. The purge stores the Merkle frontier of `[0, m)` (at
//! most 64 hashes) with that checkpoint note in `audit_purges`, then deletes `seq < m` in the same
//! transaction — the only DELETE the append-only trigger lets through. `verify` checks the note's
//! signature, that the frontier leads to its root, and that the purge's own `audit.purged` entry
//! names it, and then verifies the chain from `m` on. This module decides nothing about the
//! retention period (the caller passes the cut) and must never delete a row no checkpoint covers.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use crate::AuditError;
use crate::checkpoint::VerifierKey;
use crate::db::{self, ENTRIES, PURGES, Params};
use crate::entry::{ChainId, Receipt};
use crate::merkle::{Frontier, Hash};

/// What a purge would remove from one chain.
#[derive(Clone, Debug)]
pub struct PurgePlan {
    pub chain: ChainId,
    /// Already purged below this position (0: never purged).
    pub from: u64,
    /// Entries below this position go: the size of `checkpoint_note`.
    pub purged_below: u64,
    /// The signed checkpoint of size `purged_below`.
    pub checkpoint_note: String,
    frontier: Frontier,
}

impl PurgePlan {
    /// Entries this purge removes.
    pub fn entries(&self) -> u64 {
        self.purged_below - self.from
    }

    /// The reason code of the `audit.purged` entry that must be committed before the purge.
    pub fn reason(&self) -> String {
        purge_reason(self.chain, self.purged_below)
    }
}

/// The reason code naming a purge of `chain` below `purged_below`: `purge:<chain>:<m>`.
pub fn purge_reason(chain: ChainId, purged_below: u64) -> String {
    format!("purge:{chain}:{purged_below}")
}

/// Decodes a stored frontier: `nodes` concatenated 32-byte hashes for a tree of `size` leaves.
pub(crate) fn decode_frontier(size: u64, bytes: &[u8]) -> Option<Frontier> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    let nodes = bytes
        .chunks_exact(32)
        .map(|chunk| Hash::try_from(chunk).ok())
        .collect::<Option<Vec<_>>>()?;
    Frontier::from_nodes(size, nodes)
}

/// The frontier standing for the purged prefix of `chain` (empty when never purged). Not checked
/// here: `verify` checks it, and a proof built on a wrong one does not verify.
pub(crate) async fn purged_frontier<C: ConnectionTrait>(
    db: &C,
    chain: ChainId,
) -> Result<Frontier, AuditError> {
    let latest = db::load_purges(db)
        .await?
        .into_iter()
        .filter(|row| row.chain == chain)
        .max_by_key(|row| row.purged_below);
    match latest {
        None => Ok(Frontier::new()),
        Some(row) => decode_frontier(row.purged_below, &row.frontier)
            .ok_or(AuditError::Malformed("purge frontier")),
    }
}

/// Works out, for every chain, the longest prefix that may go: every entry in it occurred
/// before `before`, and it ends at a checkpoint signed by `key` whose root the stored entries
/// reproduce. Changes nothing. `Malformed` when a chain does not match its own checkpoint (run
/// `verify`: nothing is purged from a log that does not verify).
pub async fn plan_purge<C: ConnectionTrait>(
    db: &C,
    key: &VerifierKey,
    before: DateTime<Utc>,
) -> Result<Vec<PurgePlan>, AuditError> {
    let before_us = before.timestamp_micros();
    let mut plans = Vec::new();
    for (chain, _count, head) in db::chains(db).await? {
        let start = purged_frontier(db, chain).await?;
        let keep_from = db::first_seq_from(db, chain, before_us)
            .await?
            .unwrap_or(head);
        let best = db::load_checkpoints(db, Some(chain))
            .await?
            .into_iter()
            .filter(|row| row.tree_size > start.size() && row.tree_size <= keep_from)
            .filter_map(|row| {
                let checkpoint = key.verify_note(&row.note).ok()?;
                (checkpoint.chain() == Some(chain) && checkpoint.tree_size == row.tree_size)
                    .then_some((row.note, checkpoint.tree_size, checkpoint.root))
            })
            .max_by_key(|(_, size, _)| *size);
        let Some((note, size, root)) = best else {
            continue;
        };
        let leaves = db::load_leaf_hashes_from(db, chain, start.size(), size).await?;
        if start.size() + leaves.len() as u64 != size {
            return Err(AuditError::Malformed("gap in chain"));
        }
        let from = start.size();
        let mut frontier = start;
        for leaf in leaves {
            frontier.push(leaf);
        }
        if frontier.root() != root {
            return Err(AuditError::Malformed(
                "chain does not match its signed checkpoint",
            ));
        }
        plans.push(PurgePlan {
            chain,
            from,
            purged_below: size,
            checkpoint_note: note,
            frontier,
        });
    }
    Ok(plans)
}

/// Records the purge and deletes the prefix, in one transaction. `recorded` is the receipt of
/// the `audit.purged` entry (reason [`PurgePlan::reason`]) committed before; `cut_before` the
/// retention cut. Returns the number of entries deleted.
pub async fn apply_purge(
    db: &DatabaseConnection,
    plan: &PurgePlan,
    cut_before: DateTime<Utc>,
    recorded: &Receipt,
) -> Result<u64, AuditError> {
    let tx = db.begin().await?;
    let backend = tx.get_database_backend();
    let frontier: Vec<u8> = plan.frontier.nodes().concat();
    let mut params = Params::new(backend);
    let insert = format!(
        "INSERT INTO {PURGES} (chain_id, purged_below, frontier, checkpoint_note, cut_before_us, \
         purged_at_us, entry_chain_id, entry_seq) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
        params.bind(plan.chain.as_uuid()),
        params.bind(plan.purged_below as i64),
        params.bind(frontier),
        params.bind(plan.checkpoint_note.clone()),
        params.bind(cut_before.timestamp_micros()),
        params.bind(Utc::now().timestamp_micros()),
        params.bind(recorded.chain.as_uuid()),
        params.bind(recorded.seq as i64),
    );
    tx.execute_raw(params.statement(insert)).await?;
    let mut params = Params::new(backend);
    let delete = format!(
        "DELETE FROM {ENTRIES} WHERE chain_id = {} AND seq < {}",
        params.bind(plan.chain.as_uuid()),
        params.bind(plan.purged_below as i64),
    );
    let deleted = tx
        .execute_raw(params.statement(delete))
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}
