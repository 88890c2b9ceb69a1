//! The one error type of this crate.
//!
//! It exists so the store can tell a corrupted or misplaced ciphertext from a missing key or a bad key
//! file, and map each once. It must never carry key bytes, plaintext, a BSN or a line of a key file:
//! variants hold only lengths, version numbers, line numbers, paths and fixed reasons.

use std::path::PathBuf;

use thiserror::Error;

/// What went wrong with encryption, decryption or key material.
#[derive(Debug, Error)]
pub enum CryptoError {
    /// A stored ciphertext or wrapped key has no bytes at all.
    #[error("ciphertext is empty")]
    Empty,
    /// Shorter than the fixed header plus the authentication tag.
    #[error("ciphertext is truncated: {len} bytes, at least {min} needed")]
    Truncated { len: usize, min: usize },
    /// A wrapped data key must have exactly one length.
    #[error("wrapped data key has {len} bytes, {expected} expected")]
    WrongLength { len: usize, expected: usize },
    /// The first byte names a format this build does not know.
    #[error("unknown ciphertext format version {0}")]
    UnknownFormatVersion(u8),
    /// The key ring has no key-encryption key with this version.
    #[error("unknown key-encryption key version {0}")]
    UnknownKeyVersion(u32),
    /// The key-encryption key with this version was retired: its bytes are gone from the key file.
    #[error("key-encryption key version {0} is retired")]
    RetiredKeyVersion(u32),
    /// A field written under one generation of the resident's data key, opened with another.
    #[error(
        "field was encrypted under data key generation {found}, the key given is generation {expected}"
    )]
    DekGenerationMismatch { expected: u32, found: u32 },
    /// The resident's data key was destroyed (crypto-shredding): their fields can never be read again.
    #[error("the resident's data key was erased")]
    Erased,
    /// The tag did not verify: the bytes were changed, or they belong to another row, column,
    /// resident or key. Deliberately one variant: which of these it was is not knowable, and must not be
    /// guessable from the error.
    #[error("ciphertext failed authentication: corrupted, or not written for this place and key")]
    Authentication,
    /// A field opened as text held bytes that are not UTF-8.
    #[error("decrypted field is not valid UTF-8")]
    NotUtf8,
    /// The operating system's random number generator failed; nothing was encrypted.
    #[error("the system random number generator failed")]
    Random,
    /// Past AES-GCM's limit for one message (64 GiB); nothing was encrypted.
    #[error("plaintext too long to encrypt")]
    TooLong,
    /// A key file or key variable did not parse. The offending line is never echoed: it may hold a key.
    #[error("key material, line {line}: {reason}")]
    KeyFormat { line: usize, reason: &'static str },
    /// The key set as a whole is unusable (e.g. no live key-encryption key).
    #[error("key material: {reason}")]
    KeySet { reason: &'static str },
    /// A key file that others than its owner may read is refused.
    #[error(
        "key file {path} is readable or writable by group or others (mode {mode:o}); run chmod 600"
    )]
    LoosePermissions { path: PathBuf, mode: u32 },
    /// `generate_key_file` never overwrites existing keys.
    #[error("key file {path} already exists")]
    KeyFileExists { path: PathBuf },
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    KeyFileIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The key variable is not set or not Unicode.
    #[error("environment variable {var} is not set or not valid Unicode")]
    KeyVariable { var: String },
    /// A key-file operation that would leave it unusable, e.g. retiring the current version.
    #[error("key version {version}: {reason}")]
    KeyVersion { version: u32, reason: &'static str },
}
