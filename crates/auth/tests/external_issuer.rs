//! Tokens of the municipality's identity provider, verified through its JWKS and mapped to a
//! member by a configured claim.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use auth::TokenError;
use auth::external::{ExternalIdentity, ExternalIssuer, ExternalIssuerConfig};
use common::{EcKey, EdKey, now, sign_hs256};
use serde_json::{Value, json};

const IDP: &str = "https://login.gemeente.example/realms/staff";

fn config(member_claim: &str) -> ExternalIssuerConfig {
    ExternalIssuerConfig {
        issuer: IDP.to_owned(),
        audience: "wijkhub".to_owned(),
        algorithms: vec!["ES256".to_owned(), "EdDSA".to_owned()],
        member_claim: member_claim.to_owned(),
        token_type: None,
        leeway_seconds: 30,
        jwks_file: None,
        jwks_url: None,
    }
}

struct Idp {
    ec: EcKey,
    ed: EdKey,
    jwks: String,
}

fn idp() -> Idp {
    let ec = EcKey::generate();
    let ed = EdKey::generate();
    let mut enc_key = EcKey::generate().jwk(Some("enc-1"));
    enc_key["use"] = "enc".into();
    let jwks = json!({"keys": [
        ec.jwk(Some("ec-1")),
        ed.jwk(Some("ed-1")),
        enc_key,
        {"kty": "oct", "kid": "hmac-1", "k": "c2VjcmV0"},
        {"kty": "unknown", "kid": "x"},
    ]})
    .to_string();
    Idp { ec, ed, jwks }
}

fn claims() -> Value {
    let t = now().timestamp();
    json!({"iss": IDP, "aud": ["wijkhub", "account"], "sub": "f:123", "exp": t + 300,
           "iat": t, "email": "anna@gemeente.example", "amr": ["pwd", "otp"]})
}

fn with(mut value: Value, field: &str, new: Value) -> Value {
    value[field] = new;
    value
}

#[track_caller]
fn check(issuer: &ExternalIssuer, token: &str, want: Result<&str, TokenError>) {
    let got = issuer
        .verify(token, now())
        .map(|identity| identity.member_key);
    assert_eq!(
        got.as_ref().map(String::as_str).map_err(|e| *e),
        want,
        "{token}"
    );
}

#[test]
fn tokens_of_the_idp() {
    let idp = idp();
    let issuer = ExternalIssuer::new(config("email"), &idp.jwks).unwrap();
    let ec_header = json!({"alg": "ES256", "kid": "ec-1", "typ": "JWT"});
    let ed_header = json!({"alg": "EdDSA", "kid": "ed-1"});
    let t = now().timestamp();
    let cases: Vec<(String, Result<&str, TokenError>)> = vec![
        (
            idp.ec.sign(&ec_header, &claims()),
            Ok("anna@gemeente.example"),
        ),
        (
            idp.ed.sign(&ed_header, &claims()),
            Ok("anna@gemeente.example"),
        ),
        // A key is only good for its own algorithm.
        (
            idp.ed
                .sign(&json!({"alg": "EdDSA", "kid": "ec-1"}), &claims()),
            Err(TokenError::UnknownKid),
        ),
        // Symmetric keys in the JWKS are never used; HS256 is not allowed anyway.
        (
            sign_hs256(
                &json!({"alg": "HS256", "kid": "hmac-1"}),
                &claims(),
                b"secret",
            ),
            Err(TokenError::AlgNotAllowed),
        ),
        (
            idp.ec
                .sign(&json!({"alg": "ES256", "kid": "enc-1"}), &claims()),
            Err(TokenError::UnknownKid),
        ),
        (
            idp.ec.sign(&json!({"alg": "ES256"}), &claims()),
            Err(TokenError::UnknownKid),
        ),
        (
            EcKey::generate().sign(&ec_header, &claims()),
            Err(TokenError::BadSignature),
        ),
        (
            idp.ec.sign(
                &ec_header,
                &with(claims(), "iss", json!("https://other.example")),
            ),
            Err(TokenError::WrongIssuer),
        ),
        (
            idp.ec
                .sign(&ec_header, &with(claims(), "aud", json!("account"))),
            Err(TokenError::WrongAudience),
        ),
        (
            idp.ec
                .sign(&ec_header, &with(claims(), "exp", json!(t - 60))),
            Err(TokenError::Expired),
        ),
        (
            idp.ec
                .sign(&ec_header, &with(claims(), "email", Value::Null)),
            Err(TokenError::Malformed),
        ),
        (
            idp.ec.sign(&ec_header, &with(claims(), "email", json!(""))),
            Err(TokenError::Malformed),
        ),
        (
            idp.ec.sign(&ec_header, &{
                let mut c = claims();
                c.as_object_mut().unwrap().remove("email");
                c
            }),
            Err(TokenError::MissingClaim),
        ),
        (
            idp.ec.sign(&ec_header, &{
                let mut c = claims();
                c.as_object_mut().unwrap().remove("sub");
                c
            }),
            Err(TokenError::MissingClaim),
        ),
    ];
    for (token, want) in cases {
        check(&issuer, &token, want);
    }
}

#[test]
fn identity_carries_what_the_caller_needs() {
    let idp = idp();
    let issuer = ExternalIssuer::new(config("sub"), &idp.jwks).unwrap();
    let token = idp
        .ed
        .sign(&json!({"alg": "EdDSA", "kid": "ed-1"}), &claims());
    let identity = issuer.verify(&token, now()).unwrap();
    assert_eq!(
        identity,
        ExternalIdentity {
            issuer: IDP.to_owned(),
            subject: "f:123".to_owned(),
            member_claim: "sub".to_owned(),
            member_key: "f:123".to_owned(),
            amr: vec!["pwd".to_owned(), "otp".to_owned()],
            expires_at: now() + chrono::Duration::seconds(300),
        }
    );
}

#[test]
fn required_type_and_key_refresh() {
    let idp = idp();
    let issuer = ExternalIssuer::new(
        ExternalIssuerConfig {
            token_type: Some("at+jwt".to_owned()),
            ..config("email")
        },
        &idp.jwks,
    )
    .unwrap();
    let jwt = idp.ed.sign(
        &json!({"alg": "EdDSA", "kid": "ed-1", "typ": "JWT"}),
        &claims(),
    );
    let at = idp.ed.sign(
        &json!({"alg": "EdDSA", "kid": "ed-1", "typ": "at+jwt"}),
        &claims(),
    );
    check(&issuer, &jwt, Err(TokenError::WrongType));
    check(&issuer, &at, Ok("anna@gemeente.example"));

    // The IdP rotated: the new set lacks ed-1.
    let rotated = json!({"keys": [EdKey::generate().jwk(Some("ed-2"))]}).to_string();
    issuer.replace_jwks(&rotated).unwrap();
    check(&issuer, &at, Err(TokenError::UnknownKid));
    // A set without usable keys is refused and the current keys stay.
    assert!(
        issuer
            .replace_jwks(r#"{"keys":[{"kty":"oct","kid":"k","k":"AA"}]}"#)
            .is_err()
    );
    assert!(issuer.replace_jwks("not json").is_err());
}

#[test]
fn configuration_is_checked() {
    let idp = idp();
    let symmetric = ExternalIssuerConfig {
        algorithms: vec!["HS256".to_owned()],
        ..config("email")
    };
    assert!(ExternalIssuer::new(symmetric, &idp.jwks).is_err());
    assert!(ExternalIssuer::new(config(""), &idp.jwks).is_err());
    assert!(ExternalIssuer::new(config("email"), r#"{"keys":[]}"#).is_err());
    let parsed: ExternalIssuerConfig = serde_json::from_value(json!({
        "issuer": IDP, "audience": "wijkhub", "member_claim": "email"
    }))
    .unwrap();
    assert_eq!(parsed.algorithms, ["RS256", "ES256", "EdDSA"]);
}

/// RS256, what most municipal IdPs sign with. ring cannot make RSA keys, so this is a fixture made
/// once with `openssl genrsa 2048` + `openssl dgst -sha256 -sign`: the JWKS (public key only) and a
/// token valid at `now()`. The private key was not kept.
#[test]
fn rs256_tokens_through_a_jwks_file() {
    let jwks = include_str!("fixtures/idp-rsa-jwks.json");
    let token = include_str!("fixtures/idp-rsa-token.txt").trim();
    let rsa = ExternalIssuerConfig {
        algorithms: vec!["RS256".to_owned()],
        ..config("email")
    };
    let issuer = ExternalIssuer::new(rsa, jwks).unwrap();
    check(&issuer, token, Ok("anna@gemeente.example"));
    let expired_at = now() + chrono::Duration::seconds(331);
    assert_eq!(
        issuer.verify(token, expired_at).err(),
        Some(TokenError::Expired)
    );

    // Not in the allow-list: refused, however good the signature.
    let no_rsa = ExternalIssuer::new(config("email"), jwks).unwrap();
    check(&no_rsa, token, Err(TokenError::AlgNotAllowed));

    // Algorithm confusion with the RSA modulus as an HMAC key.
    let jwks_value: Value = serde_json::from_str(jwks).unwrap();
    let modulus = jwks_value["keys"][0]["n"].as_str().unwrap();
    let confused = sign_hs256(
        &json!({"alg": "HS256", "kid": "rsa-1"}),
        &claims(),
        modulus.as_bytes(),
    );
    check(&issuer, &confused, Err(TokenError::AlgNotAllowed));
    // A flipped bit in the signature.
    let mut bytes = token.as_bytes().to_vec();
    let last = bytes.len() - 10;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    check(
        &issuer,
        &String::from_utf8(bytes).unwrap(),
        Err(TokenError::BadSignature),
    );
}
