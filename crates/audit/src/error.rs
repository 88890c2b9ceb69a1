//! The one error type of the audit crate.
//!
//! It must never carry entry content, key material or a database error's text into `Display`
//! where a client could see it: the API maps `Unavailable` to the fixed code `AUDIT_UNAVAILABLE`
//! and logs the cause separately.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AuditError {
    /// The entry could not be made durable (commit failed, queue full past the wait, writer
    /// gone). The request must fail closed: no resident data may leave.
    #[error("the audit log is unavailable")]
    Unavailable,
    /// A value given for an entry field does not fit its rules (charset, length).
    #[error("invalid audit entry field: {field}")]
    InvalidField { field: &'static str },
    /// The writer configuration is not acceptable.
    #[error("invalid audit configuration: {0}")]
    InvalidConfig(&'static str),
    /// A signing or verifier key could not be read.
    #[error("invalid audit signing or verifier key")]
    InvalidKey,
    /// A stored row, checkpoint or proof could not be decoded.
    #[error("malformed audit data: {0}")]
    Malformed(&'static str),
    /// The requested entry, chain or checkpoint does not exist.
    #[error("not found in the audit log")]
    NotFound,
    /// The database backend is not SQLite or PostgreSQL.
    #[error("unsupported database backend")]
    UnsupportedBackend,
    #[error("audit database error")]
    Db(#[from] sea_orm::DbErr),
    #[error("audit export file error")]
    Io(#[from] std::io::Error),
}
