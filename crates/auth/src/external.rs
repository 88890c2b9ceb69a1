//! Tokens of an external issuer: the municipality's own identity provider, trusted through its
//! published JWKS, with a configurable claim that maps the token to one of our members.
//!
//! Exists so staff can bring a token from the IdP they already log in to. Must never accept a
//! symmetric key or algorithm (the JWKS is public), never take the algorithm from the token, never
//! fetch anything (the caller passes the JWKS JSON, from a file or its own fetch), and never
//! decide who the member is: it returns the lookup key; the caller finds the member and checks
//! that the member is active.

use std::str::FromStr;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::jws::{self, Audience};
use crate::token::parse_algorithms;
use crate::{AuthError, TokenError};

/// One external issuer (`[[auth.external_issuers]]` in configuration).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalIssuerConfig {
    /// The issuer identifier its tokens carry in `iss`.
    pub issuer: String,
    /// The audience its tokens must name us with (`aud`).
    pub audience: String,
    /// Accepted algorithms (default `["RS256", "ES256", "EdDSA"]`); symmetric ones are refused.
    #[serde(default = "default_external_algorithms")]
    pub algorithms: Vec<String>,
    /// The claim whose value finds the member: `email`, `sub`, `preferred_username`, ...
    pub member_claim: String,
    /// When set, the `typ` header the tokens must carry (e.g. `at+jwt`); when absent any `typ`
    /// is accepted (many IdPs send `JWT`).
    #[serde(default)]
    pub token_type: Option<String>,
    /// Clock skew tolerated, in seconds (default 30).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u32,
    /// Where the server reads the JWKS from (a file path); this crate takes the JSON itself.
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// Where the server fetches the JWKS from (HTTPS URL); this crate takes the JSON itself.
    #[serde(default)]
    pub jwks_url: Option<String>,
}

fn default_external_algorithms() -> Vec<String> {
    ["RS256", "ES256", "EdDSA"].map(str::to_owned).to_vec()
}

fn default_leeway() -> u32 {
    30
}

/// Who an external token says the caller is. `member_key` is the value of the configured claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalIdentity {
    pub issuer: String,
    pub subject: String,
    /// The configured claim's name, for the audit entry.
    pub member_claim: String,
    /// The configured claim's value: what the caller looks the member up by.
    pub member_key: String,
    /// RFC 8176 methods, when the IdP says (`otp`, `mfa`, `hwk`, ...).
    pub amr: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

struct ExternalKey {
    kid: String,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

/// A configured external issuer with its current keys.
pub struct ExternalIssuer {
    config: ExternalIssuerConfig,
    algorithms: Vec<Algorithm>,
    keys: RwLock<Arc<Vec<ExternalKey>>>,
}

impl std::fmt::Debug for ExternalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalIssuer")
            .field("issuer", &self.config.issuer)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The algorithms a JWK can verify: by key type and curve, narrowed by its `alg` if it has one.
fn key_algorithms(jwk: &Jwk) -> Vec<Algorithm> {
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(params) => match params.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            EllipticCurve::P521 | EllipticCurve::Ed25519 => vec![],
        },
        AlgorithmParameters::OctetKeyPair(params) => match params.curve {
            EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
            EllipticCurve::P256 | EllipticCurve::P384 | EllipticCurve::P521 => vec![],
        },
        // Symmetric keys have no place in a public key set.
        AlgorithmParameters::OctetKey(_) => vec![],
    };
    match jwk.common.key_algorithm {
        Some(declared) => {
            let declared = Algorithm::from_str(&declared.to_string()).ok();
            by_type
                .into_iter()
                .filter(|alg| Some(*alg) == declared)
                .collect()
        }
        None => by_type,
    }
}

/// Parses a JWKS document into usable verification keys: signature keys with a `kid` and a key
/// type we support. Encryption keys, symmetric keys and unknown types are skipped; a set with no
/// usable key is an error.
fn parse_jwks(jwks_json: &str) -> Result<Vec<ExternalKey>, AuthError> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawSet = serde_json::from_str(jwks_json).map_err(|_| AuthError::PublicKeyInvalid)?;
    let mut keys = Vec::new();
    for raw in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
            continue;
        };
        if matches!(
            jwk.common.public_key_use,
            Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
        ) {
            continue;
        }
        let (Some(kid), algorithms) = (jwk.common.key_id.clone(), key_algorithms(&jwk)) else {
            continue;
        };
        if algorithms.is_empty() {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        keys.push(ExternalKey {
            kid,
            algorithms,
            key,
        });
    }
    if keys.is_empty() {
        return Err(AuthError::PublicKeyInvalid);
    }
    Ok(keys)
}

#[derive(Deserialize)]
struct RawExternalClaims {
    iss: Option<String>,
    aud: Option<Audience>,
    sub: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    amr: Option<Vec<String>>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

impl ExternalIssuer {
    pub fn new(config: ExternalIssuerConfig, jwks_json: &str) -> Result<ExternalIssuer, AuthError> {
        let algorithms = parse_algorithms(&config.algorithms)?;
        if config.member_claim.is_empty() || config.issuer.is_empty() || config.audience.is_empty()
        {
            return Err(AuthError::InvalidConfig);
        }
        let keys = parse_jwks(jwks_json)?;
        Ok(ExternalIssuer {
            config,
            algorithms,
            keys: RwLock::new(Arc::new(keys)),
        })
    }

    /// Installs a refreshed JWKS (the IdP rotated its keys). On error the old keys stay.
    pub fn replace_jwks(&self, jwks_json: &str) -> Result<(), AuthError> {
        let keys = Arc::new(parse_jwks(jwks_json)?);
        match self.keys.write() {
            Ok(mut slot) => *slot = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        Ok(())
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// Verifies an external token at `now`. An unknown `kid` is refused (the caller may refresh
    /// the JWKS, rate-limited, and retry once).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<ExternalIdentity, TokenError> {
        let peeked = jws::peek(token, &self.algorithms)?;
        match (&self.config.token_type, peeked.typ.as_deref()) {
            (Some(wanted), Some(typ)) if jws::typ_is(typ, wanted) => {}
            (Some(_), _) => return Err(TokenError::WrongType),
            (None, _) => {}
        }
        let keys = match self.keys.read() {
            Ok(keys) => Arc::clone(&keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        let kid = peeked.kid.ok_or(TokenError::UnknownKid)?;
        let key = keys
            .iter()
            .find(|key| key.kid == kid && key.algorithms.contains(&peeked.alg))
            .ok_or(TokenError::UnknownKid)?;
        let claims: RawExternalClaims = jws::verify(token, peeked.alg, &key.key)?;
        let (Some(iss), Some(aud), Some(sub), Some(exp)) =
            (claims.iss, claims.aud, claims.sub, claims.exp)
        else {
            return Err(TokenError::MissingClaim);
        };
        if iss != self.config.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if !aud.contains(&self.config.audience) {
            return Err(TokenError::WrongAudience);
        }
        jws::check_times(
            exp,
            claims.nbf,
            claims.iat,
            now.timestamp(),
            i64::from(self.config.leeway_seconds),
        )?;
        let member_key = if self.config.member_claim == "sub" {
            sub.clone()
        } else {
            match claims.other.get(&self.config.member_claim) {
                Some(serde_json::Value::String(value)) if !value.is_empty() => value.clone(),
                Some(_) => return Err(TokenError::Malformed),
                None => return Err(TokenError::MissingClaim),
            }
        };
        Ok(ExternalIdentity {
            issuer: iss,
            subject: sub,
            member_claim: self.config.member_claim.clone(),
            member_key,
            amr: claims.amr.unwrap_or_default(),
            expires_at: DateTime::from_timestamp(exp, 0).ok_or(TokenError::Malformed)?,
        })
    }
}
