//! The audit log of wijkhub (DESIGN §7): every access to resident data, permitted or denied, and
//! every security event, recorded durably before the response leaves, as leaves of a Merkle tree
//! per chain with signed checkpoints exported outside the database.
//!
//! This crate decides nothing about access; it records. It must never store plan content, a
//! resident's name or a BSN, never acknowledge an entry before its commit, and never let a
//! request through when the log cannot be written (`AuditError::Unavailable`).
//!
//! Entry points: [`start`] (the group-commit writer) and [`AuditLog::submit`]; [`verify`],
//! [`prove_inclusion`], [`prove_consistency`]; [`search`] and [`access_report`]; [`plan_purge`]
//! and [`apply_purge`] (retention).

mod checkpoint;
mod db;
mod encoding;
mod entry;
mod error;
pub mod merkle;
mod purge;
mod query;
mod verify;
mod writer;

/// The audit migration itself, for unit tests that need the tables.
#[cfg(test)]
#[path = "../../../migrations/src/m20261123_000002_audit_log.rs"]
mod test_migration;

pub use checkpoint::{
    Checkpoint, NoteError, SigningKey, VerifierKey, generate_signing_key, key_id, split_export,
};
pub use db::{CHECKPOINTS as CHECKPOINTS_TABLE, ENTRIES as ENTRIES_TABLE, ENTRY_COLUMNS};
pub use encoding::{ENCODING_VERSION, encode_entry};
pub use entry::{
    Actor, AuditAction, AuditEntry, ChainId, Code, NewEntry, OnBehalfOf, Outcome, Receipt,
    now_micros,
};
pub use error::AuditError;
pub use purge::{PurgePlan, apply_purge, plan_purge, purge_reason};
pub use query::{
    AccessReportRow, AuditFilter, AuditPage, Cursor, MAX_PAGE, access_report,
    explain_access_report, explain_search, search,
};
pub use verify::{
    ChainSummary, CheckpointSource, ConsistencyProof, InclusionProof, Problem, ProofError,
    VerifyReport, prove_consistency, prove_inclusion, verify, verify_decoding_every_row,
};
pub use writer::{AuditLog, AuditWriter, WriterConfig, WriterStats, start};
