use thiserror::Error;

/// A value from outside did not parse into a domain type. The message never echoes the input:
/// it may be a BSN or another personal datum.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("invalid BSN: must be nine digits passing the 11-proef")]
    InvalidBsn,
    #[error("unknown {list} value")]
    UnknownValue { list: &'static str },
    #[error("invalid identifier")]
    InvalidId,
}
