//! `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect Core §9): a partner
//! client proves itself with a short-lived JWT signed by its own private key, whose public half
//! it registered with us (Ed25519 or P-256, as a JWK or PEM).
//!
//! Exists as the stronger alternative to client secrets: nothing secret is stored on our side.
//! Must never accept an assertion signed by another key than the client's registered one, one
//! that lives longer than five minutes, or one whose `jti` was seen before; the replay cache
//! refuses new assertions rather than forget a live `jti` when it is full.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::jws::{self, Audience};
use crate::token::ACCESS_TOKEN_TYPE;
use crate::{AuthError, TokenError};

/// The only `client_assertion_type` we accept (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's registered public key and the one algorithm it verifies.
pub struct ClientPublicKey {
    alg: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for ClientPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPublicKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl ClientPublicKey {
    /// From a public JWK: `{"kty":"OKP","crv":"Ed25519","x":..}` or `{"kty":"EC","crv":"P-256",..}`.
    pub fn from_jwk_json(jwk_json: &str) -> Result<ClientPublicKey, AuthError> {
        let jwk: Jwk = serde_json::from_str(jwk_json).map_err(|_| AuthError::PublicKeyInvalid)?;
        let alg = match &jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(params) if params.curve == EllipticCurve::Ed25519 => {
                Algorithm::EdDSA
            }
            AlgorithmParameters::EllipticCurve(params) if params.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => return Err(AuthError::PublicKeyInvalid),
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| AuthError::PublicKeyInvalid)?;
        Ok(ClientPublicKey { alg, key })
    }

    /// From a PEM `PUBLIC KEY` (SPKI): Ed25519 or P-256.
    pub fn from_pem(pem: &str) -> Result<ClientPublicKey, AuthError> {
        if let Ok(key) = DecodingKey::from_ed_pem(pem.as_bytes()) {
            return Ok(ClientPublicKey {
                alg: Algorithm::EdDSA,
                key,
            });
        }
        DecodingKey::from_ec_pem(pem.as_bytes())
            .map(|key| ClientPublicKey {
                alg: Algorithm::ES256,
                key,
            })
            .map_err(|_| AuthError::PublicKeyInvalid)
    }
}

/// Client assertion settings (`[auth.client_assertion]` in configuration).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAssertionConfig {
    /// Accepted `aud` values: the token endpoint URL, and our issuer identifier. Empty in the
    /// defaults: the server fills in both from its public base URL.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Longest accepted assertion lifetime in seconds (default 300).
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime_seconds: u32,
    /// Clock skew tolerated, in seconds (default 30).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u32,
    /// Most `jti` values remembered at once (default 100,000).
    #[serde(default = "default_replay_capacity")]
    pub replay_capacity: usize,
}

impl Default for ClientAssertionConfig {
    fn default() -> Self {
        ClientAssertionConfig {
            audiences: Vec::new(),
            max_lifetime_seconds: default_max_lifetime(),
            leeway_seconds: default_leeway(),
            replay_capacity: default_replay_capacity(),
        }
    }
}

fn default_max_lifetime() -> u32 {
    300
}

fn default_leeway() -> u32 {
    30
}

fn default_replay_capacity() -> usize {
    100_000
}

#[derive(Deserialize)]
struct RawAssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// Verifies client assertions and remembers their `jti` until they expire.
pub struct ClientAssertions {
    config: ClientAssertionConfig,
    /// (client id, jti) → remember until (Unix seconds).
    seen: Mutex<HashMap<(String, String), i64>>,
}

impl std::fmt::Debug for ClientAssertions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAssertions")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The client an assertion claims to come from (`sub`, which must equal `iss`), read **without
/// verification**: only to find which registered key to verify it with.
pub fn claimed_client_id(assertion: &str) -> Result<String, TokenError> {
    if assertion.len() > jws::MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let claims: RawAssertionClaims = jws::unverified_claims(assertion)?;
    match (claims.iss, claims.sub) {
        (Some(iss), Some(sub)) if iss == sub => Ok(sub),
        (Some(_), Some(_)) => Err(TokenError::WrongSubject),
        _ => Err(TokenError::MissingClaim),
    }
}

impl ClientAssertions {
    pub fn new(config: ClientAssertionConfig) -> Result<ClientAssertions, AuthError> {
        if config.audiences.is_empty()
            || config.max_lifetime_seconds == 0
            || config.replay_capacity == 0
        {
            return Err(AuthError::InvalidConfig);
        }
        Ok(ClientAssertions {
            config,
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// Verifies `client_assertion` (with its `client_assertion_type`) for `client_id`, whose
    /// registered key is `key`, at `now`. On success the `jti` is remembered: a second use fails
    /// with [`TokenError::Replayed`].
    pub fn verify(
        &self,
        assertion_type: &str,
        assertion: &str,
        client_id: &str,
        key: &ClientPublicKey,
        now: DateTime<Utc>,
    ) -> Result<(), TokenError> {
        if assertion_type != JWT_BEARER_ASSERTION_TYPE {
            return Err(TokenError::WrongAssertionType);
        }
        let peeked = jws::peek(assertion, &[key.alg])?;
        // An access token is not a client assertion (RFC 8725 §2.8: no cross-JWT confusion).
        if peeked
            .typ
            .as_deref()
            .is_some_and(|typ| jws::typ_is(typ, ACCESS_TOKEN_TYPE))
        {
            return Err(TokenError::WrongType);
        }
        let claims: RawAssertionClaims = jws::verify(assertion, peeked.alg, &key.key)?;
        let (Some(iss), Some(sub), Some(aud), Some(exp), Some(jti)) =
            (claims.iss, claims.sub, claims.aud, claims.exp, claims.jti)
        else {
            return Err(TokenError::MissingClaim);
        };
        if iss != client_id {
            return Err(TokenError::WrongIssuer);
        }
        if sub != client_id {
            return Err(TokenError::WrongSubject);
        }
        if !self
            .config
            .audiences
            .iter()
            .any(|wanted| aud.contains(wanted))
        {
            return Err(TokenError::WrongAudience);
        }
        let now_unix = now.timestamp();
        let leeway = i64::from(self.config.leeway_seconds);
        jws::check_times(exp, claims.nbf, claims.iat, now_unix, leeway)?;
        let max_lifetime = i64::from(self.config.max_lifetime_seconds);
        let too_long_from_now = exp.saturating_sub(now_unix) > max_lifetime + leeway;
        let too_long_from_iat = claims
            .iat
            .is_some_and(|iat| exp.saturating_sub(iat) > max_lifetime);
        if too_long_from_now || too_long_from_iat {
            return Err(TokenError::LifetimeTooLong);
        }
        self.remember(client_id, jti, exp.saturating_add(leeway), now_unix)
    }

    fn remember(
        &self,
        client_id: &str,
        jti: String,
        until: i64,
        now: i64,
    ) -> Result<(), TokenError> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (client_id.to_owned(), jti);
        if seen.get(&key).is_some_and(|remembered| *remembered > now) {
            return Err(TokenError::Replayed);
        }
        if seen.len() >= self.config.replay_capacity {
            seen.retain(|_, remembered| *remembered > now);
            if seen.len() >= self.config.replay_capacity {
                return Err(TokenError::ReplayCacheFull);
            }
        }
        seen.insert(key, until);
        Ok(())
    }
}
