//! Access tokens end to end at the crate boundary: issue, verify, every bad token refused with
//! its stable code, key rotation, the verified-token cache, and a property test that no single
//! bit can be changed in a valid token without it being refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::LazyLock;

use auth::TokenError;
use auth::keys::SigningKeys;
use auth::token::{AccessTokenRequest, AccessTokens, Subject, TokenConfig};
use chrono::{DateTime, Duration, Utc};
use common::{EdKey, b64, now, sign_hs256};
use domain::{ClientId, MemberId, OrganisationId, Purpose, Role};
use proptest::prelude::*;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const ISSUER: &str = "https://wijkhub.example";
const AUDIENCE: &str = "wijkhub-api";

/// The hub under test, and its current private key (taken from the stored form, as an attacker
/// who stole it would) so tests can sign arbitrary claims with the right key.
struct Hub {
    tokens: AccessTokens,
    key: EdKey,
    kid: String,
}

fn config() -> TokenConfig {
    TokenConfig {
        issuer: ISSUER.to_owned(),
        audience: AUDIENCE.to_owned(),
        ..TokenConfig::default()
    }
}

fn hub() -> Hub {
    let keys = SigningKeys::generate(now()).unwrap();
    let stored: Value = serde_json::from_str(keys.to_stored().expose_secret()).unwrap();
    let pkcs8 = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        stored["keys"][0]["pkcs8"].as_str().unwrap(),
    )
    .unwrap();
    let kid = keys.current_kid().to_owned();
    Hub {
        tokens: AccessTokens::new(config(), keys).unwrap(),
        key: EdKey::from_pkcs8(&pkcs8),
        kid,
    }
}

fn member_request() -> AccessTokenRequest {
    AccessTokenRequest {
        subject: Subject::Member(MemberId::new()),
        client_id: "wijkhub-console".to_owned(),
        organisation: OrganisationId::new(),
        roles: vec![Role::PrivacyOfficer],
        scopes: vec!["audit:read".to_owned(), "breach:write".to_owned()],
        purposes: vec![],
        amr: vec!["pwd".to_owned(), "otp".to_owned()],
    }
}

#[test]
fn issued_tokens_verify_with_every_claim() {
    let hub = hub();
    let request = member_request();
    let issued = hub.tokens.issue(&request, now()).unwrap();
    assert_eq!(issued.expires_at, now() + Duration::minutes(10));
    assert_eq!(issued.kid, hub.kid);
    let principal = hub.tokens.verify(&issued.access_token, now()).unwrap();
    assert_eq!(principal.subject, request.subject);
    assert_eq!(principal.organisation, request.organisation);
    assert_eq!(principal.roles, request.roles);
    assert_eq!(principal.scopes, request.scopes);
    assert_eq!(principal.client_id, "wijkhub-console");
    assert_eq!(principal.jti, issued.jti);
    assert_eq!(principal.expires_at, issued.expires_at);
    assert!(principal.has_second_factor());
    assert!(principal.has_scope("audit:read"));

    let client = ClientId::new();
    let request = AccessTokenRequest {
        subject: Subject::Client(client),
        client_id: client.to_string(),
        roles: vec![Role::ProviderWorker],
        scopes: vec!["plans:read".to_owned()],
        purposes: vec![Purpose::Support, Purpose::Coordination],
        amr: vec![],
        ..member_request()
    };
    let issued = hub.tokens.issue(&request, now()).unwrap();
    let principal = hub
        .tokens
        .verify_uncached(&issued.access_token, now())
        .unwrap();
    assert_eq!(principal.client(), Some(client));
    assert_eq!(principal.member_id(), None);
    assert_eq!(principal.purposes, request.purposes);
    assert!(!principal.has_second_factor());

    // The header is what RFC 9068 asks.
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            issued.access_token.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header,
        json!({"typ": "at+jwt", "alg": "EdDSA", "kid": hub.kid})
    );
}

#[test]
fn scopes_and_purposes_are_granted_only_from_what_is_allowed() {
    use auth::AuthError;
    use auth::token::{grant_purposes, grant_scopes};
    let allowed = ["plans:read".to_owned(), "plans:write".to_owned()];
    type Granted = Result<Vec<&'static str>, AuthError>;
    let scope_cases: [(Option<&str>, Granted); 7] = [
        (None, Ok(vec!["plans:read", "plans:write"])),
        (Some("plans:read"), Ok(vec!["plans:read"])),
        (Some("plans:read plans:read"), Ok(vec!["plans:read"])),
        (
            Some("plans:read audit:read"),
            Err(AuthError::ScopeNotAllowed),
        ),
        (Some(""), Err(AuthError::InvalidScope)),
        (
            Some("plans:read  plans:write"),
            Err(AuthError::InvalidScope),
        ),
        (Some("plans:\"read"), Err(AuthError::InvalidScope)),
    ];
    for (requested, want) in scope_cases {
        let want = want.map(|scopes| scopes.into_iter().map(str::to_owned).collect::<Vec<_>>());
        assert_eq!(grant_scopes(requested, &allowed), want, "{requested:?}");
    }
    let allowed = [Purpose::Support];
    assert_eq!(grant_purposes(None, &allowed), Ok(vec![Purpose::Support]));
    assert_eq!(
        grant_purposes(Some("support"), &allowed),
        Ok(vec![Purpose::Support])
    );
    assert_eq!(
        grant_purposes(Some("safety"), &allowed),
        Err(AuthError::PurposeNotAllowed)
    );
    assert_eq!(
        grant_purposes(Some("marketing"), &allowed),
        Err(AuthError::PurposeNotAllowed)
    );
}

#[test]
fn unverified_issuer_routes_only() {
    let hub = hub();
    let issued = hub.tokens.issue(&member_request(), now()).unwrap();
    assert_eq!(
        auth::token::unverified_issuer(&issued.access_token).as_deref(),
        Ok(ISSUER)
    );
    assert_eq!(
        auth::token::unverified_issuer("a.b.c"),
        Err(TokenError::Malformed)
    );
}

#[test]
fn scopes_with_spaces_are_refused_at_issue() {
    let hub = hub();
    let request = AccessTokenRequest {
        scopes: vec!["a b".to_owned()],
        ..member_request()
    };
    assert_eq!(
        hub.tokens.issue(&request, now()).err(),
        Some(auth::AuthError::InvalidScope)
    );
}

fn valid_header(kid: &str) -> Value {
    json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid})
}

fn valid_claims() -> Value {
    let t = now().timestamp();
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": format!("member:{}", MemberId::new()),
        "exp": t + 600, "iat": t, "nbf": t, "jti": "j1", "client_id": "c1",
        "org": OrganisationId::new().to_string(), "roles": ["coach"], "scope": "plans:read",
        "purposes": ["support"],
    })
}

fn with(mut value: Value, field: &str, new: Value) -> Value {
    value[field] = new;
    value
}

fn without(mut value: Value, field: &str) -> Value {
    value.as_object_mut().unwrap().remove(field);
    value
}

/// Flips the lowest bit of the character at `idx` of `token`, choosing a base64url character
/// that stays in the alphabet.
fn tamper(token: &str, idx: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[idx] = if bytes[idx] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[track_caller]
fn check(
    tokens: &AccessTokens,
    name: &str,
    token: &str,
    at: DateTime<Utc>,
    want: Result<(), TokenError>,
) {
    let uncached = tokens.verify_uncached(token, at).map(|_| ());
    assert_eq!(uncached, want, "case {name} (uncached)");
    let cached = tokens.verify(token, at).map(|_| ());
    assert_eq!(cached, want, "case {name} (cached)");
}

#[test]
fn bad_tokens_are_refused_with_stable_codes() {
    let hub = hub();
    let other = EdKey::generate();
    let kid = hub.kid.as_str();
    let t = now().timestamp();
    let sign = |header: Value, claims: Value| hub.key.sign(&header, &claims);
    let valid = sign(valid_header(kid), valid_claims());
    let signature_start = valid.rfind('.').unwrap() + 1;
    let payload_start = valid.find('.').unwrap() + 1;
    let header_b64 = valid.split('.').next().unwrap().to_owned();
    let public_jwk = serde_json::to_string(&hub.key.jwk(Some(kid))).unwrap();

    let cases: Vec<(&str, String, Result<(), TokenError>)> = vec![
        ("valid", valid.clone(), Ok(())),
        (
            "typ with media type prefix",
            sign(
                with(valid_header(kid), "typ", json!("application/at+jwt")),
                valid_claims(),
            ),
            Ok(()),
        ),
        (
            "aud as array",
            sign(
                valid_header(kid),
                with(valid_claims(), "aud", json!(["x", AUDIENCE])),
            ),
            Ok(()),
        ),
        (
            "expired within leeway",
            sign(
                valid_header(kid),
                with(valid_claims(), "exp", json!(t - 29)),
            ),
            Ok(()),
        ),
        // Signatures.
        (
            "tampered signature",
            tamper(&valid, signature_start + 3),
            Err(TokenError::BadSignature),
        ),
        (
            "tampered payload",
            tamper(&valid, payload_start + 5),
            Err(TokenError::BadSignature),
        ),
        (
            "signed by another key under our kid",
            other.sign(&valid_header(kid), &valid_claims()),
            Err(TokenError::BadSignature),
        ),
        (
            "signature stripped",
            valid[..signature_start].to_owned(),
            Err(TokenError::BadSignature),
        ),
        // Algorithms: never from the token.
        (
            "alg none",
            format!(
                "{}.",
                common::signing_input(
                    &with(valid_header(kid), "alg", json!("none")),
                    &valid_claims()
                )
            ),
            Err(TokenError::AlgNotAllowed),
        ),
        (
            "alg None",
            format!(
                "{}.",
                common::signing_input(
                    &with(valid_header(kid), "alg", json!("None")),
                    &valid_claims()
                )
            ),
            Err(TokenError::AlgNotAllowed),
        ),
        (
            "hs256 with raw public key",
            sign_hs256(
                &with(valid_header(kid), "alg", json!("HS256")),
                &valid_claims(),
                hub.key.public(),
            ),
            Err(TokenError::AlgNotAllowed),
        ),
        (
            "hs256 with public jwk",
            sign_hs256(
                &with(valid_header(kid), "alg", json!("HS256")),
                &valid_claims(),
                public_jwk.as_bytes(),
            ),
            Err(TokenError::AlgNotAllowed),
        ),
        (
            "es256 header",
            sign(
                with(valid_header(kid), "alg", json!("ES256")),
                valid_claims(),
            ),
            Err(TokenError::AlgNotAllowed),
        ),
        (
            "alg missing",
            sign(without(valid_header(kid), "alg"), valid_claims()),
            Err(TokenError::Malformed),
        ),
        // Times.
        (
            "expired",
            sign(
                valid_header(kid),
                with(valid_claims(), "exp", json!(t - 31)),
            ),
            Err(TokenError::Expired),
        ),
        (
            "not yet valid",
            sign(
                valid_header(kid),
                with(valid_claims(), "nbf", json!(t + 60)),
            ),
            Err(TokenError::NotYetValid),
        ),
        (
            "issued in the future",
            sign(
                valid_header(kid),
                with(valid_claims(), "iat", json!(t + 60)),
            ),
            Err(TokenError::NotYetValid),
        ),
        // Audience and issuer.
        (
            "wrong aud",
            sign(
                valid_header(kid),
                with(valid_claims(), "aud", json!("other-api")),
            ),
            Err(TokenError::WrongAudience),
        ),
        (
            "empty aud array",
            sign(valid_header(kid), with(valid_claims(), "aud", json!([]))),
            Err(TokenError::WrongAudience),
        ),
        (
            "wrong iss",
            sign(
                valid_header(kid),
                with(valid_claims(), "iss", json!("https://evil.example")),
            ),
            Err(TokenError::WrongIssuer),
        ),
        // Required claims.
        (
            "missing exp",
            sign(valid_header(kid), without(valid_claims(), "exp")),
            Err(TokenError::MissingClaim),
        ),
        (
            "missing iss",
            sign(valid_header(kid), without(valid_claims(), "iss")),
            Err(TokenError::MissingClaim),
        ),
        (
            "missing aud",
            sign(valid_header(kid), without(valid_claims(), "aud")),
            Err(TokenError::MissingClaim),
        ),
        (
            "missing sub",
            sign(valid_header(kid), without(valid_claims(), "sub")),
            Err(TokenError::MissingClaim),
        ),
        (
            "missing jti",
            sign(valid_header(kid), without(valid_claims(), "jti")),
            Err(TokenError::MissingClaim),
        ),
        (
            "missing client_id",
            sign(valid_header(kid), without(valid_claims(), "client_id")),
            Err(TokenError::MissingClaim),
        ),
        (
            "missing org",
            sign(valid_header(kid), without(valid_claims(), "org")),
            Err(TokenError::MissingClaim),
        ),
        // Type.
        (
            "missing typ",
            sign(without(valid_header(kid), "typ"), valid_claims()),
            Err(TokenError::WrongType),
        ),
        (
            "typ JWT",
            sign(with(valid_header(kid), "typ", json!("JWT")), valid_claims()),
            Err(TokenError::WrongType),
        ),
        // Keys.
        (
            "unknown kid",
            sign(
                with(valid_header(kid), "kid", json!("someone-else")),
                valid_claims(),
            ),
            Err(TokenError::UnknownKid),
        ),
        (
            "missing kid",
            sign(without(valid_header(kid), "kid"), valid_claims()),
            Err(TokenError::UnknownKid),
        ),
        // Size and shape.
        (
            "oversized",
            format!("{valid}{}", "A".repeat(8 * 1024)),
            Err(TokenError::TooLarge),
        ),
        (
            "oversized garbage",
            "x".repeat(8 * 1024 + 1),
            Err(TokenError::TooLarge),
        ),
        ("empty", String::new(), Err(TokenError::Malformed)),
        (
            "two parts",
            valid[..signature_start - 1].to_owned(),
            Err(TokenError::Malformed),
        ),
        (
            "four parts",
            format!("{valid}.AAAA"),
            Err(TokenError::Malformed),
        ),
        (
            "padding in signature",
            format!("{valid}=="),
            Err(TokenError::Malformed),
        ),
        (
            "header not base64",
            format!("!!{}", &valid[header_b64.len()..]),
            Err(TokenError::Malformed),
        ),
        (
            "header not json",
            format!("{}{}", b64(b"not json"), &valid[header_b64.len()..]),
            Err(TokenError::Malformed),
        ),
        (
            "claims not json",
            hub.key
                .sign_raw(valid_header(kid).to_string().as_bytes(), b"[1,2"),
            Err(TokenError::Malformed),
        ),
        (
            "claims not an object",
            hub.key
                .sign_raw(valid_header(kid).to_string().as_bytes(), b"[1,2]"),
            Err(TokenError::Malformed),
        ),
        (
            "crit header",
            sign(
                with(valid_header(kid), "crit", json!(["exp"])),
                valid_claims(),
            ),
            Err(TokenError::Malformed),
        ),
        (
            "exp as string",
            sign(
                valid_header(kid),
                with(valid_claims(), "exp", json!("later")),
            ),
            Err(TokenError::Malformed),
        ),
        (
            "unknown role",
            sign(
                valid_header(kid),
                with(valid_claims(), "roles", json!(["superuser"])),
            ),
            Err(TokenError::Malformed),
        ),
        (
            "sub of no kind",
            sign(
                valid_header(kid),
                with(valid_claims(), "sub", json!("root")),
            ),
            Err(TokenError::Malformed),
        ),
        (
            "bearer prefix left on",
            format!("Bearer {valid}"),
            Err(TokenError::Malformed),
        ),
    ];
    for (name, token, want) in cases {
        check(&hub.tokens, name, &token, now(), want);
    }
}

#[test]
fn every_error_code_is_distinct() {
    let codes: std::collections::HashSet<_> = TokenError::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(codes.len(), TokenError::ALL.len());
    assert_eq!(TokenError::AlgNotAllowed.code(), "alg-not-allowed");
}

#[test]
fn cache_hits_still_check_expiry() {
    let hub = hub();
    let issued = hub.tokens.issue(&member_request(), now()).unwrap();
    let first = hub.tokens.verify(&issued.access_token, now()).unwrap();
    let again = hub
        .tokens
        .verify(&issued.access_token, now() + Duration::minutes(5))
        .unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&first, &again),
        "second verification is a cache hit"
    );
    let late = now() + Duration::minutes(10) + Duration::seconds(30);
    assert_eq!(
        hub.tokens.verify(&issued.access_token, late).err(),
        Some(TokenError::Expired)
    );
    assert_eq!(
        hub.tokens.verify(&issued.access_token, late).err(),
        Some(TokenError::Expired)
    );
}

#[test]
fn cache_entries_can_be_purged_and_forgotten_per_subject() {
    let hub = hub();
    let anna = member_request();
    let bert = member_request();
    let anna_token = hub.tokens.issue(&anna, now()).unwrap().access_token;
    let bert_token = hub
        .tokens
        .issue(&bert, now() + Duration::minutes(5))
        .unwrap()
        .access_token;
    hub.tokens
        .verify(&anna_token, now() + Duration::minutes(5))
        .unwrap();
    hub.tokens
        .verify(&bert_token, now() + Duration::minutes(5))
        .unwrap();
    assert_eq!(hub.tokens.cached(), 2);
    hub.tokens.forget_subject(bert.subject);
    assert_eq!(hub.tokens.cached(), 1);
    hub.tokens
        .verify(&bert_token, now() + Duration::minutes(5))
        .unwrap();
    hub.tokens.purge_expired(now() + Duration::minutes(11));
    assert_eq!(
        hub.tokens.cached(),
        1,
        "anna's token expired, bert's lives on"
    );
    hub.tokens.purge_expired(now() + Duration::minutes(16));
    assert_eq!(hub.tokens.cached(), 0);
}

#[test]
fn rotation_keeps_old_tokens_until_the_key_is_retired() {
    let mut keys = SigningKeys::generate(now()).unwrap();
    let stored = keys.to_stored();
    let tokens = AccessTokens::new(config(), SigningKeys::from_stored(&stored).unwrap()).unwrap();
    let old_token = tokens.issue(&member_request(), now()).unwrap().access_token;
    let old_kid = keys.current_kid().to_owned();

    let new_kid = keys.rotate(now()).unwrap();
    tokens.replace_keys(SigningKeys::from_stored(&keys.to_stored()).unwrap());
    let jwks: Value = serde_json::from_str(&tokens.jwks_json()).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let new_token = tokens.issue(&member_request(), now()).unwrap();
    assert_eq!(new_token.kid, new_kid);
    assert!(tokens.verify(&old_token, now()).is_ok());
    assert!(tokens.verify(&new_token.access_token, now()).is_ok());

    keys.retire(&old_kid).unwrap();
    tokens.replace_keys(SigningKeys::from_stored(&keys.to_stored()).unwrap());
    assert_eq!(
        tokens.verify(&old_token, now()).err(),
        Some(TokenError::UnknownKid)
    );
    assert!(tokens.verify(&new_token.access_token, now()).is_ok());
}

#[test]
fn configuration_cannot_allow_symmetric_or_no_algorithms() {
    for algorithms in [vec![], vec!["HS256".to_owned()], vec!["none".to_owned()]] {
        let config = TokenConfig {
            algorithms,
            ..config()
        };
        assert!(AccessTokens::new(config, SigningKeys::generate(now()).unwrap()).is_err());
    }
}

static VALID: LazyLock<(AccessTokens, String)> = LazyLock::new(|| {
    let hub = hub();
    let token = hub
        .tokens
        .issue(&member_request(), now())
        .unwrap()
        .access_token;
    assert!(hub.tokens.verify(&token, now()).is_ok());
    (hub.tokens, token)
});

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any single-bit change anywhere in a valid token is refused (or leaves no string at all).
    #[test]
    fn any_single_bit_flip_is_refused(position in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (tokens, token) = &*VALID;
        let mut bytes = token.as_bytes().to_vec();
        let idx = position.index(bytes.len());
        bytes[idx] ^= 1 << bit;
        if let Ok(changed) = String::from_utf8(bytes) {
            prop_assert!(tokens.verify_uncached(&changed, now()).is_err());
            prop_assert!(tokens.verify(&changed, now()).is_err());
        }
    }
}
