//! The hub's access-token signing keys, kept in the `auth_key_sets` table sealed under the auth
//! key file's seal key, shared by every instance.
//!
//! Exists so that a token issued by one instance verifies at every other, that a rotation
//! (`wijkhub keys rotate-signing`) reaches every instance within `key_reload_seconds` without a
//! restart, and that a copy of the database holds no usable private key. Changes are
//! compare-and-set on the row's `version`, so two administrators rotating at once cannot lose a
//! key. Must never log or return key bytes: only `kid`s.

use std::sync::Arc;

use auth::keys::SigningKeys;
use auth::token::AccessTokens;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use store::{Db, StoreError, accounts};

use super::keyfile::SealKey;

/// The one key set today: the keys that sign access tokens.
pub const ACCESS_TOKEN_KEY_SET: &str = "access-token-signing";
const SEAL_LABEL: &str = "auth_key_sets.sealed_keys";

/// The signing keys could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the token signing keys in the database cannot be opened with this auth key file \
         (another deployment's key file, or the keys were changed)"
    )]
    Unsealable,
    #[error("the token signing keys could not be made or changed ({0})")]
    Keys(&'static str),
    #[error("another administrator changed the signing keys at the same moment; run it again")]
    Conflict,
}

fn seal(seal: &SealKey, keys: &SigningKeys) -> Result<Vec<u8>, SigningKeyError> {
    let stored = keys.to_stored();
    seal.seal(
        SEAL_LABEL,
        ACCESS_TOKEN_KEY_SET.as_bytes(),
        stored.expose_secret().as_bytes(),
    )
    .map_err(|_| SigningKeyError::Keys("seal"))
}

fn open(seal: &SealKey, row: &accounts::KeySet) -> Result<SigningKeys, SigningKeyError> {
    let plain = seal
        .open(SEAL_LABEL, row.name.as_bytes(), &row.sealed_keys)
        .map_err(|_| SigningKeyError::Unsealable)?;
    let text = std::str::from_utf8(&plain).map_err(|_| SigningKeyError::Unsealable)?;
    SigningKeys::from_stored(&SecretString::from(text.to_owned()))
        .map_err(|error| SigningKeyError::Keys(error.code()))
}

/// The current key set and its version; creates the first key on the first start of a
/// deployment (whichever instance wins the insert; the others read its key).
pub async fn load_or_create(
    db: &Db,
    seal_key: &SealKey,
    now: DateTime<Utc>,
) -> Result<(SigningKeys, i64), SigningKeyError> {
    if let Some(row) = accounts::key_set(db, ACCESS_TOKEN_KEY_SET).await? {
        return Ok((open(seal_key, &row)?, row.version));
    }
    let keys = SigningKeys::generate(now).map_err(|error| SigningKeyError::Keys(error.code()))?;
    let sealed = seal(seal_key, &keys)?;
    if accounts::insert_key_set(db, ACCESS_TOKEN_KEY_SET, sealed, keys.jwks_json(), now).await? {
        tracing::info!(kid = keys.current_kid(), "first token signing key created");
        return Ok((keys, 1));
    }
    let row = accounts::key_set(db, ACCESS_TOKEN_KEY_SET)
        .await?
        .ok_or(SigningKeyError::Conflict)?;
    Ok((open(seal_key, &row)?, row.version))
}

/// Reads the key set as stored (for `keys status` and the reload).
pub async fn load(
    db: &Db,
    seal_key: &SealKey,
) -> Result<Option<(SigningKeys, i64)>, SigningKeyError> {
    match accounts::key_set(db, ACCESS_TOKEN_KEY_SET).await? {
        Some(row) => Ok(Some((open(seal_key, &row)?, row.version))),
        None => Ok(None),
    }
}

/// Applies `change` to the stored key set and writes it back if no one else changed it since.
async fn change(
    db: &Db,
    seal_key: &SealKey,
    now: DateTime<Utc>,
    change: impl FnOnce(&mut SigningKeys) -> Result<(), SigningKeyError>,
) -> Result<SigningKeys, SigningKeyError> {
    let (mut keys, version) = load_or_create(db, seal_key, now).await?;
    change(&mut keys)?;
    let sealed = seal(seal_key, &keys)?;
    if !accounts::replace_key_set(
        db,
        ACCESS_TOKEN_KEY_SET,
        version,
        sealed,
        keys.jwks_json(),
        now,
    )
    .await?
    {
        return Err(SigningKeyError::Conflict);
    }
    Ok(keys)
}

/// Adds a new signing key and makes it current; the old ones keep verifying (and stay in the
/// JWKS) until retired. Returns the new key set.
pub async fn rotate(
    db: &Db,
    seal_key: &SealKey,
    now: DateTime<Utc>,
) -> Result<SigningKeys, SigningKeyError> {
    change(db, seal_key, now, |keys| {
        keys.rotate(now)
            .map(drop)
            .map_err(|error| SigningKeyError::Keys(error.code()))
    })
    .await
}

/// Removes a non-current key: tokens it signed are refused from the next reload on.
pub async fn retire(
    db: &Db,
    seal_key: &SealKey,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<SigningKeys, SigningKeyError> {
    change(db, seal_key, now, |keys| {
        keys.retire(kid)
            .map_err(|error| SigningKeyError::Keys(error.code()))
    })
    .await
}

/// One poll: when the stored version differs from `known`, installs the stored keys. Returns the
/// version now in use.
pub async fn reload_if_changed(
    db: &Db,
    seal_key: &SealKey,
    tokens: &Arc<AccessTokens>,
    known: i64,
) -> Result<i64, SigningKeyError> {
    let Some(row) = accounts::key_set(db, ACCESS_TOKEN_KEY_SET).await? else {
        return Ok(known);
    };
    if row.version == known {
        return Ok(known);
    }
    let keys = open(seal_key, &row)?;
    tracing::info!(
        version = row.version,
        current_kid = keys.current_kid(),
        n_keys = keys.kids().len(),
        "token signing keys reloaded"
    );
    tokens.replace_keys(keys);
    Ok(row.version)
}
