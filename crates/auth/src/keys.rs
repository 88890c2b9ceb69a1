//! The hub's token signing keys: Ed25519 key pairs with a `kid`, one current for signing, older
//! ones kept for verification until retired, and their public JWKS.
//!
//! Exists so that keys can be generated, stored (file under `data/` or a table), rotated without
//! refusing tokens already out, and published at `/.well-known/jwks.json`. Must never show private
//! key bytes in `Debug` or errors (only the `kid`), and wipes them from memory on drop. The stored
//! form holds the private keys: the caller writes it with mode 0600 or encrypts it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::signature::{Ed25519KeyPair, KeyPair};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::AuthError;

const STORED_FORMAT: &str = "wijkhub-signing-keys/1";

/// One Ed25519 signing key.
pub(crate) struct SigningKey {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    pkcs8: Zeroizing<Vec<u8>>,
    public: [u8; 32],
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
}

impl SigningKey {
    fn generate(now: DateTime<Utc>) -> Result<SigningKey, AuthError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| AuthError::Random)?;
        SigningKey::from_pkcs8(Zeroizing::new(pkcs8.as_ref().to_vec()), now)
    }

    fn from_pkcs8(
        pkcs8: Zeroizing<Vec<u8>>,
        created_at: DateTime<Utc>,
    ) -> Result<SigningKey, AuthError> {
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| AuthError::KeysInvalid)?;
        let mut public = [0u8; 32];
        public.copy_from_slice(pair.public_key().as_ref());
        Ok(SigningKey {
            kid: thumbprint(&public),
            created_at,
            encoding: EncodingKey::from_ed_der(&pkcs8),
            decoding: DecodingKey::from_ed_der(&public),
            pkcs8,
            public,
        })
    }

    fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }
}

/// The `kid`: the RFC 7638 JWK thumbprint (SHA-256, base64url), so it is derived from the key
/// and the same everywhere.
fn thumbprint(public: &[u8; 32]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public)
    );
    URL_SAFE_NO_PAD.encode(crate::random::sha256(canonical.as_bytes()))
}

/// The set of signing keys. Exactly one is current (signs new tokens); all verify.
pub struct SigningKeys {
    keys: Vec<SigningKey>,
    current: usize,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("current", &self.current_kid())
            .field("kids", &self.kids())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKeys {
    format: String,
    current: String,
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    kid: String,
    created_at: DateTime<Utc>,
    /// PKCS#8 v2 DER, base64url.
    pkcs8: String,
}

impl Drop for StoredKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.pkcs8);
    }
}

impl SigningKeys {
    /// A set with one fresh key (first start, or `wijkhub keys init`).
    pub fn generate(now: DateTime<Utc>) -> Result<SigningKeys, AuthError> {
        Ok(SigningKeys {
            keys: vec![SigningKey::generate(now)?],
            current: 0,
        })
    }

    /// Adds a fresh key and makes it current (`wijkhub keys rotate-signing`). The previous keys
    /// stay for verification until [`SigningKeys::retire`]: wait at least one token lifetime.
    /// Returns the new `kid`.
    pub fn rotate(&mut self, now: DateTime<Utc>) -> Result<String, AuthError> {
        let key = SigningKey::generate(now)?;
        let kid = key.kid.clone();
        self.keys.push(key);
        self.current = self.keys.len() - 1;
        Ok(kid)
    }

    /// Removes a non-current key: tokens it signed are refused from then on.
    pub fn retire(&mut self, kid: &str) -> Result<(), AuthError> {
        let idx = self
            .keys
            .iter()
            .position(|key| key.kid == kid)
            .ok_or(AuthError::KeysInvalid)?;
        if idx == self.current {
            return Err(AuthError::RetireCurrentKey);
        }
        self.keys.remove(idx);
        if idx < self.current {
            self.current -= 1;
        }
        Ok(())
    }

    /// The `kid` of the key that signs new tokens.
    pub fn current_kid(&self) -> &str {
        &self.current_key().kid
    }

    /// Every `kid`, oldest first.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|key| key.kid.as_str()).collect()
    }

    /// When each key was made, oldest first, for `wijkhub keys list` and retirement decisions.
    pub fn created(&self) -> Vec<(&str, DateTime<Utc>)> {
        self.keys
            .iter()
            .map(|key| (key.kid.as_str(), key.created_at))
            .collect()
    }

    pub(crate) fn current_key(&self) -> &SigningKey {
        // `current` is kept in range by every constructor and mutator.
        &self.keys[self.current]
    }

    pub(crate) fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|key| key.kid == kid)
    }

    /// The public keys as a JWKS document (`/.well-known/jwks.json`).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.keys.iter().map(SigningKey::jwk).collect::<Vec<_>>() })
    }

    /// [`SigningKeys::jwks`] as a JSON string.
    pub fn jwks_json(&self) -> String {
        self.jwks().to_string()
    }

    /// The stored form (JSON with the private keys): write it with mode 0600 or encrypted.
    pub fn to_stored(&self) -> SecretString {
        let stored = StoredKeys {
            format: STORED_FORMAT.to_owned(),
            current: self.current_kid().to_owned(),
            keys: self
                .keys
                .iter()
                .map(|key| StoredKey {
                    kid: key.kid.clone(),
                    created_at: key.created_at,
                    pkcs8: URL_SAFE_NO_PAD.encode(key.pkcs8.as_slice()),
                })
                .collect(),
        };
        // Serialising these plain types cannot fail.
        SecretString::from(serde_json::to_string(&stored).unwrap_or_default())
    }

    /// Parses the stored form; checks every `kid` against its key and that `current` exists.
    pub fn from_stored(stored: &SecretString) -> Result<SigningKeys, AuthError> {
        let parsed: StoredKeys =
            serde_json::from_str(stored.expose_secret()).map_err(|_| AuthError::KeysInvalid)?;
        if parsed.format != STORED_FORMAT {
            return Err(AuthError::KeysInvalid);
        }
        let mut keys = Vec::with_capacity(parsed.keys.len());
        for stored_key in &parsed.keys {
            let pkcs8 = Zeroizing::new(
                URL_SAFE_NO_PAD
                    .decode(&stored_key.pkcs8)
                    .map_err(|_| AuthError::KeysInvalid)?,
            );
            let key = SigningKey::from_pkcs8(pkcs8, stored_key.created_at)?;
            if key.kid != stored_key.kid || keys.iter().any(|k: &SigningKey| k.kid == key.kid) {
                return Err(AuthError::KeysInvalid);
            }
            keys.push(key);
        }
        let current = keys
            .iter()
            .position(|key| key.kid == parsed.current)
            .ok_or(AuthError::KeysInvalid)?;
        Ok(SigningKeys { keys, current })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn rotate_keeps_old_keys_until_retired() {
        let mut keys = SigningKeys::generate(now()).unwrap();
        let first = keys.current_kid().to_owned();
        let second = keys.rotate(now()).unwrap();
        assert_ne!(first, second);
        assert_eq!(keys.current_kid(), second);
        assert_eq!(keys.kids(), vec![first.as_str(), second.as_str()]);
        assert_eq!(keys.retire(&second), Err(AuthError::RetireCurrentKey));
        keys.retire(&first).unwrap();
        assert_eq!(keys.kids(), vec![second.as_str()]);
        assert_eq!(keys.current_kid(), second);
        assert_eq!(keys.retire("nope"), Err(AuthError::KeysInvalid));
    }

    #[test]
    fn stored_form_round_trips_and_is_checked() {
        let mut keys = SigningKeys::generate(now()).unwrap();
        keys.rotate(now()).unwrap();
        let stored = keys.to_stored();
        let again = SigningKeys::from_stored(&stored).unwrap();
        assert_eq!(again.kids(), keys.kids());
        assert_eq!(again.current_kid(), keys.current_kid());
        assert_eq!(again.jwks(), keys.jwks());

        let other_kid = stored
            .expose_secret()
            .replacen(keys.current_kid(), "someone-else", 1);
        assert_eq!(
            SigningKeys::from_stored(&SecretString::from(other_kid)).err(),
            Some(AuthError::KeysInvalid)
        );
        assert_eq!(
            SigningKeys::from_stored(&SecretString::from("{}".to_owned())).err(),
            Some(AuthError::KeysInvalid)
        );
    }

    #[test]
    fn jwks_has_the_public_parts_only() {
        let keys = SigningKeys::generate(now()).unwrap();
        let jwks = keys.jwks();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"], keys.current_kid());
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(key["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert!(key.get("d").is_none());
        let shown = format!("{keys:?}");
        assert!(shown.contains(keys.current_kid()));
        assert!(!shown.contains("pkcs8"));
    }
}
