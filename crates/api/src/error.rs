use async_graphql::ErrorExtensions;
use thiserror::Error;

/// Every error a GraphQL client can see. The `Display` text and `extensions.code` are fixed
/// client texts; causes go to the log only.
#[derive(Debug, Error)]
pub enum ApiError {
    /// No credential came with the request, and the field needs one.
    #[error("authentication required")]
    Unauthenticated,
    /// The request touches resident data without a valid `Wijkhub-Purpose` header.
    #[error(
        "declare the purpose of this request in the Wijkhub-Purpose header (support, coordination, triage or safety)"
    )]
    PurposeRequired,
    /// No such object, or one the caller may not know about: the two answer alike.
    #[error("not found")]
    NotFound,
    /// The caller may not do this.
    #[error("forbidden")]
    Forbidden,
    /// A write against a stale revision (or version): nothing was written. The current one goes
    /// in `extensions.currentRevision`.
    #[error("conflict: the object changed since you read it; read it again")]
    Conflict { current_revision: i64 },
    /// A plan change against a stale version: nothing was written. The current version goes in
    /// `extensions.currentVersion`.
    #[error("conflict: the object changed since you read it; read it again")]
    VersionConflict { current_version: i64 },
    /// The input breaks a documented rule; nothing was written. The text names the rule, never
    /// echoes the input.
    #[error("bad input: {0}")]
    BadUserInput(&'static str),
    /// The audit entry could not be committed, so no resident data leaves.
    #[error("the audit log is unavailable; try again later")]
    AuditUnavailable,
    #[error("internal error")]
    Internal(#[source] store::StoreError),
    /// A decryption failed: corrupted or misplaced ciphertext, or a key the hub does not hold.
    #[error("internal error")]
    Crypto(#[source] crypto::CryptoError),
    /// The server did not provide what the schema needs (a wiring fault).
    #[error("internal error")]
    Unavailable,
}

impl From<store::StoreError> for ApiError {
    fn from(error: store::StoreError) -> Self {
        ApiError::Internal(error)
    }
}

impl From<crypto::CryptoError> for ApiError {
    fn from(error: crypto::CryptoError) -> Self {
        ApiError::Crypto(error)
    }
}

impl ApiError {
    /// The stable `extensions.code`: part of the contract with partner systems.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::PurposeRequired => "PURPOSE_REQUIRED",
            ApiError::NotFound => "NOT_FOUND",
            ApiError::Forbidden => "FORBIDDEN",
            ApiError::Conflict { .. } | ApiError::VersionConflict { .. } => "CONFLICT",
            ApiError::BadUserInput(_) => "BAD_USER_INPUT",
            ApiError::AuditUnavailable => "AUDIT_UNAVAILABLE",
            ApiError::Internal(_) | ApiError::Crypto(_) | ApiError::Unavailable => "INTERNAL",
        }
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        match self {
            ApiError::Unauthenticated
            | ApiError::PurposeRequired
            | ApiError::NotFound
            | ApiError::Forbidden
            | ApiError::Conflict { .. }
            | ApiError::VersionConflict { .. }
            | ApiError::BadUserInput(_)
            | ApiError::AuditUnavailable => {}
            ApiError::Internal(source) => tracing::error!(error = %source, "store failure"),
            ApiError::Crypto(source) => tracing::error!(error = %source, "decryption failure"),
            ApiError::Unavailable => tracing::error!("schema services missing from the request"),
        }
        let code = self.code();
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", code);
            if let ApiError::Conflict { current_revision } = self {
                ext.set("currentRevision", *current_revision);
            }
            if let ApiError::VersionConflict { current_version } = self {
                ext.set("currentVersion", *current_version);
            }
        })
    }
}
