use thiserror::Error;

/// What can go wrong in the store. Messages are for operators; the API maps these to its own
/// fixed client texts and never forwards them.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database is unreachable: {0}")]
    Unreachable(#[source] sea_orm::DbErr),
    #[error("database URL is not supported (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the database schema is newer than this binary (unknown migrations: {}); \
         refusing to run — upgrade wijkhub",
        unknown.join(", ")
    )]
    NewerSchema { unknown: Vec<String> },
    #[error("migration failed: {0}")]
    Migration(#[source] sea_orm::DbErr),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// Sealing or opening an encrypted column failed (wrong place, tampered, unknown key).
    /// The message names no key material and no plaintext.
    #[error("encrypted value: {0}")]
    Crypto(#[from] crypto::CryptoError),
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
}
