//! The shared front half of every JWT check: size limit, compact-form parsing, header checks,
//! signature verification through `jsonwebtoken`, and time checks against a given `now`.
//!
//! Exists so that access tokens, external tokens and client assertions are refused the same way
//! (RFC 8725). Must never take the algorithm from the token (only from the caller's allow-list),
//! never look at claims before the signature verified, and never read the clock.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::TokenError;

/// Tokens longer than this are refused before any parsing (8 KiB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The header fields we read. Other fields are ignored, except `crit`, which is refused: we
/// understand no extension, so RFC 7515 §4.1.11 says reject.
#[derive(Deserialize)]
pub(crate) struct RawHeader {
    pub alg: String,
    pub typ: Option<String>,
    pub kid: Option<String>,
    pub crit: Option<serde_json::Value>,
}

/// A token whose shape and header passed, its signature not yet checked.
pub(crate) struct Peeked {
    pub alg: Algorithm,
    pub typ: Option<String>,
    pub kid: Option<String>,
}

fn is_base64url(part: &str) -> bool {
    part.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Size, shape and header checks. `allowed` is the configured allow-list; `alg: none`, unknown
/// names and anything not listed are [`TokenError::AlgNotAllowed`].
pub(crate) fn peek(token: &str, allowed: &[Algorithm]) -> Result<Peeked, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if header.is_empty()
        || payload.is_empty()
        || ![header, payload, signature].iter().all(|p| is_base64url(p))
    {
        return Err(TokenError::Malformed);
    }
    let header_json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    let header: RawHeader =
        serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
    let alg = Algorithm::from_str(&header.alg).map_err(|_| TokenError::AlgNotAllowed)?;
    if !allowed.contains(&alg) {
        return Err(TokenError::AlgNotAllowed);
    }
    if header.crit.is_some() {
        return Err(TokenError::Malformed);
    }
    Ok(Peeked {
        alg,
        typ: header.typ,
        kid: header.kid,
    })
}

/// The payload decoded without any verification. Only for choosing which key to verify with
/// (a client assertion names its client); never trust what it says.
pub(crate) fn unverified_claims<T: DeserializeOwned>(token: &str) -> Result<T, TokenError> {
    let payload = token.split('.').nth(1).ok_or(TokenError::Malformed)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
}

/// Verifies the signature with `key` under `alg` (already allow-listed by [`peek`]) and decodes
/// the claims. Claim checks are ours, against a given `now`: `jsonwebtoken`'s own would read the
/// system clock, so they are switched off here.
pub(crate) fn verify<T: DeserializeOwned>(
    token: &str,
    alg: Algorithm,
    key: &DecodingKey,
) -> Result<T, TokenError> {
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    match jsonwebtoken::decode::<T>(token, key, &validation) {
        Ok(data) => Ok(data.claims),
        Err(error) => Err(match error.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
            | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
            | jsonwebtoken::errors::ErrorKind::InvalidEddsaKey
            | jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
            | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_) => TokenError::BadSignature,
            // The crate's error list is open (`non_exhaustive`); all else is a broken token.
            _ => TokenError::Malformed,
        }),
    }
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(aud) => aud == wanted,
            Audience::Many(auds) => auds.iter().any(|aud| aud == wanted),
        }
    }
}

/// `exp` must lie after `now` and `nbf`/`iat` not after it, each with `leeway` seconds of skew.
pub(crate) fn check_times(
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    now: i64,
    leeway: i64,
) -> Result<(), TokenError> {
    if now >= exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway))
        || iat.is_some_and(|iat| iat > now.saturating_add(leeway))
    {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

/// RFC 7515 §4.1.9: `typ` compares case-insensitively, and `application/` may be left out.
pub(crate) fn typ_is(typ: &str, wanted: &str) -> bool {
    let bare = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    bare.eq_ignore_ascii_case(wanted)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn time_checks_with_leeway() {
        let cases = [
            // (exp, nbf, iat, now) with a leeway of 30 s
            ((1000, None, None, 969), Ok(())),
            ((1000, None, None, 1029), Ok(())),
            ((1000, None, None, 1030), Err(TokenError::Expired)),
            ((1000, Some(530), None, 500), Ok(())),
            ((1000, Some(531), None, 500), Err(TokenError::NotYetValid)),
            ((1000, None, Some(531), 500), Err(TokenError::NotYetValid)),
            ((i64::MAX, None, None, 500), Ok(())),
            ((i64::MIN, None, None, 500), Err(TokenError::Expired)),
        ];
        for ((exp, nbf, iat, now), want) in cases {
            assert_eq!(
                check_times(exp, nbf, iat, now, 30),
                want,
                "{exp} {nbf:?} {iat:?} {now}"
            );
        }
    }

    #[test]
    fn typ_comparison() {
        assert!(typ_is("at+jwt", "at+jwt"));
        assert!(typ_is("AT+JWT", "at+jwt"));
        assert!(typ_is("application/at+jwt", "at+jwt"));
        assert!(!typ_is("JWT", "at+jwt"));
        assert!(!typ_is("application/", "at+jwt"));
        assert!(!typ_is("", "at+jwt"));
        assert!(!typ_is("é", "at+jwt"));
    }
}
