//! The auth key file (`[auth] key_file`, default `data/auth-keys`): the two secrets of the hub's
//! authentication that must live outside the database and its backups.
//!
//! - the **seal key** (256 bits, AES-256-GCM): seals the token signing keys stored in the
//!   `auth_key_sets` table and the members' TOTP secrets, so a copy of the database holds neither
//!   a usable signing key nor a usable second factor;
//! - the **audit checkpoint key** (Ed25519, PKCS#8): signs the audit log's checkpoints; its public
//!   half is what `wijkhub audit verify` checks against.
//!
//! Why a file of its own and not the `[keys]` key ring: the key ring's keys are bound to residents
//! (a DEK per resident, wrapped under the KEK); these are the hub's own keys, rotated on another
//! schedule by other people. Production refuses to start without the file; the demo creates one
//! with a loud warning. Must never print a key byte in an error, a log or `Debug`.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::secret_file::{self, SecretFileError, WriteMode};

const FORMAT: &str = "wijkhub-auth-keys/1";
const SEALED_VERSION: u8 = 1;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The auth key file could not be used. One line, naming the file, never a key byte.
#[derive(Debug, thiserror::Error)]
pub enum AuthKeyError {
    #[error(
        "no auth keys: the auth key file {path} does not exist; create it with \
         `wijkhub keys init-auth` (production never creates keys by itself)"
    )]
    Missing { path: String },
    #[error("auth key file: {0}")]
    File(#[from] SecretFileError),
    #[error("auth key file {path} is not a valid wijkhub auth key file")]
    Invalid { path: String },
    #[error("the operating system's random source failed")]
    Random,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    format: String,
    /// 32 bytes, standard base64.
    seal_key: String,
    /// Ed25519 PKCS#8 v2, standard base64.
    audit_checkpoint_key: String,
}

impl Drop for Stored {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.seal_key);
        zeroize::Zeroize::zeroize(&mut self.audit_checkpoint_key);
    }
}

/// The contents of the auth key file.
pub struct AuthKeys {
    pub seal: SealKey,
    audit_checkpoint_pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthKeys(***)")
    }
}

impl AuthKeys {
    /// Loads the file, refusing it when others may read it.
    pub fn load(path: &Path) -> Result<AuthKeys, AuthKeyError> {
        let text = match secret_file::read(path) {
            Ok(text) => text,
            Err(SecretFileError::Missing { .. }) => {
                return Err(AuthKeyError::Missing {
                    path: path.display().to_string(),
                });
            }
            Err(error) => return Err(error.into()),
        };
        let invalid = || AuthKeyError::Invalid {
            path: path.display().to_string(),
        };
        let stored: Stored = serde_json::from_str(&text).map_err(|_| invalid())?;
        if stored.format != FORMAT {
            return Err(invalid());
        }
        let seal = Zeroizing::new(STANDARD.decode(&stored.seal_key).map_err(|_| invalid())?);
        let pkcs8 = Zeroizing::new(
            STANDARD
                .decode(&stored.audit_checkpoint_key)
                .map_err(|_| invalid())?,
        );
        let seal = SealKey::from_bytes(&seal).ok_or_else(invalid)?;
        // Parsed now, so a damaged key fails at start-up and not at the first checkpoint.
        ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
            .map_err(|_| invalid())?;
        Ok(AuthKeys {
            seal,
            audit_checkpoint_pkcs8: pkcs8,
        })
    }

    /// Fresh keys, not written anywhere.
    pub fn generate() -> Result<AuthKeys, AuthKeyError> {
        let mut seal = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(seal.as_mut())
            .map_err(|_| AuthKeyError::Random)?;
        let pkcs8 =
            Zeroizing::new(audit::generate_signing_key().map_err(|_| AuthKeyError::Random)?);
        Ok(AuthKeys {
            seal: SealKey::from_bytes(seal.as_ref()).ok_or(AuthKeyError::Random)?,
            audit_checkpoint_pkcs8: pkcs8,
        })
    }

    /// Creates the file (mode 0600) with fresh keys; refuses to overwrite one.
    pub fn create(path: &Path) -> Result<AuthKeys, AuthKeyError> {
        let keys = AuthKeys::generate()?;
        let stored = Stored {
            format: FORMAT.to_owned(),
            seal_key: STANDARD.encode(keys.seal.bytes.as_ref()),
            audit_checkpoint_key: STANDARD.encode(keys.audit_checkpoint_pkcs8.as_slice()),
        };
        let text = Zeroizing::new(serde_json::to_string_pretty(&stored).map_err(|_| {
            AuthKeyError::Invalid {
                path: path.display().to_string(),
            }
        })?);
        secret_file::write(path, &text, WriteMode::CreateNew)?;
        Ok(keys)
    }

    /// The audit checkpoint signing key, named `name` (the audit origin prefix).
    pub fn audit_signing_key(&self, name: &str) -> Result<audit::SigningKey, audit::AuditError> {
        audit::SigningKey::from_pkcs8(name, &self.audit_checkpoint_pkcs8)
    }
}

/// AES-256-GCM under the seal key. A sealed value is `version (1) ‖ nonce (12) ‖ ciphertext ‖
/// tag (16)`, its associated data binds it to what it is (`label`) and where it belongs
/// (`context`, e.g. a member id), so a sealed TOTP secret copied to another member does not open.
pub struct SealKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(***)")
    }
}

/// Sealing or opening failed. Says nothing about why: a wrong key, a wrong place and a changed
/// byte must look the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sealed value cannot be opened or made")]
pub struct SealError;

fn associated_data(label: &str, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + label.len() + context.len());
    for part in [b"wijkhub/auth-seal".as_slice(), label.as_bytes(), context] {
        aad.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad.push(SEALED_VERSION);
    aad
}

impl SealKey {
    fn from_bytes(bytes: &[u8]) -> Option<SealKey> {
        let array: [u8; KEY_LEN] = bytes.try_into().ok()?;
        Some(SealKey {
            bytes: Zeroizing::new(array),
        })
    }

    fn key(&self) -> Result<LessSafeKey, SealError> {
        let unbound = UnboundKey::new(&AES_256_GCM, self.bytes.as_ref()).map_err(|_| SealError)?;
        Ok(LessSafeKey::new(unbound))
    }

    /// Seals `plaintext` for `label` (what it is) and `context` (where it belongs).
    pub fn seal(
        &self,
        label: &str,
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        let mut body = Zeroizing::new(plaintext.to_vec());
        let tag = self
            .key()?
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(label, context)),
                body.as_mut_slice(),
            )
            .map_err(|_| SealError)?;
        out.extend_from_slice(&body);
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens a value sealed by [`SealKey::seal`] with the same `label` and `context`.
    pub fn open(
        &self,
        label: &str,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != SEALED_VERSION {
            return Err(SealError);
        }
        let nonce: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN].try_into().map_err(|_| SealError)?;
        let mut body = Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
        let plaintext_len = self
            .key()?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(label, context)),
                body.as_mut_slice(),
            )
            .map_err(|_| SealError)?
            .len();
        body.truncate(plaintext_len);
        Ok(body)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_place() {
        let keys = AuthKeys::generate().unwrap();
        let sealed = keys.seal.seal("totp", b"member-1", b"secret").unwrap();
        assert_eq!(
            keys.seal
                .open("totp", b"member-1", &sealed)
                .unwrap()
                .as_slice(),
            b"secret"
        );
        assert_eq!(keys.seal.open("totp", b"member-2", &sealed), Err(SealError));
        assert_eq!(keys.seal.open("keys", b"member-1", &sealed), Err(SealError));
        let other = AuthKeys::generate().unwrap();
        assert_eq!(
            other.seal.open("totp", b"member-1", &sealed),
            Err(SealError)
        );
        for idx in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[idx] ^= 0x01;
            assert_eq!(
                keys.seal.open("totp", b"member-1", &flipped),
                Err(SealError)
            );
        }
        assert_eq!(
            keys.seal.open("totp", b"member-1", &sealed[..10]),
            Err(SealError)
        );
    }

    #[test]
    fn file_round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth-keys");
        assert!(matches!(
            AuthKeys::load(&path),
            Err(AuthKeyError::Missing { .. })
        ));
        let created = AuthKeys::create(&path).unwrap();
        let sealed = created.seal.seal("x", b"", b"hello").unwrap();
        let loaded = AuthKeys::load(&path).unwrap();
        assert_eq!(
            loaded.seal.open("x", b"", &sealed).unwrap().as_slice(),
            b"hello"
        );
        let name = "wijkhub.local/audit";
        assert_eq!(
            created
                .audit_signing_key(name)
                .unwrap()
                .verifier_key()
                .to_string(),
            loaded
                .audit_signing_key(name)
                .unwrap()
                .verifier_key()
                .to_string()
        );
        assert!(matches!(
            AuthKeys::create(&path),
            Err(AuthKeyError::File(SecretFileError::Exists { .. }))
        ));
        assert_eq!(format!("{loaded:?}"), "AuthKeys(***)");

        secret_file::write(&path, "{\"format\":\"other\"}", WriteMode::Replace).unwrap();
        let error = AuthKeys::load(&path).unwrap_err();
        assert!(matches!(error, AuthKeyError::Invalid { .. }), "{error}");
    }
}
