//! `private_key_jwt`: a partner client authenticates with a short-lived assertion signed by its
//! registered key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use auth::TokenError;
use auth::client_assertion::{
    ClientAssertionConfig, ClientAssertions, ClientPublicKey, JWT_BEARER_ASSERTION_TYPE,
    claimed_client_id,
};
use common::{EcKey, EdKey, now, sign_hs256};
use serde_json::{Value, json};

const TOKEN_ENDPOINT: &str = "https://wijkhub.example/oauth/token";
const CLIENT: &str = "0190f1c2-0000-7000-8000-000000000001";

fn assertions() -> ClientAssertions {
    ClientAssertions::new(ClientAssertionConfig {
        audiences: vec![
            TOKEN_ENDPOINT.to_owned(),
            "https://wijkhub.example".to_owned(),
        ],
        max_lifetime_seconds: 300,
        leeway_seconds: 30,
        replay_capacity: 1000,
    })
    .unwrap()
}

fn claims(jti: &str) -> Value {
    let t = now().timestamp();
    json!({"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_ENDPOINT, "exp": t + 120, "iat": t, "jti": jti})
}

fn with(mut value: Value, field: &str, new: Value) -> Value {
    value[field] = new;
    value
}

fn without(mut value: Value, field: &str) -> Value {
    value.as_object_mut().unwrap().remove(field);
    value
}

#[track_caller]
fn check(
    verifier: &ClientAssertions,
    key: &ClientPublicKey,
    assertion_type: &str,
    assertion: &str,
    want: Result<(), TokenError>,
) {
    let got = verifier.verify(assertion_type, assertion, CLIENT, key, now());
    assert_eq!(got, want, "{assertion}");
}

#[test]
fn ed25519_assertions() {
    let client = EdKey::generate();
    let key = ClientPublicKey::from_jwk_json(&client.jwk(None).to_string()).unwrap();
    let verifier = assertions();
    let header = json!({"alg": "EdDSA"});
    let t = now().timestamp();
    let sign = |claims: Value| client.sign(&header, &claims);
    let cases: Vec<(&str, String, Result<(), TokenError>)> = vec![
        (JWT_BEARER_ASSERTION_TYPE, sign(claims("a1")), Ok(())),
        // Replay of the same jti.
        (
            JWT_BEARER_ASSERTION_TYPE,
            sign(claims("a1")),
            Err(TokenError::Replayed),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            sign(with(
                claims("a2"),
                "aud",
                json!(["https://wijkhub.example"]),
            )),
            Ok(()),
        ),
        (
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            sign(claims("a3")),
            Err(TokenError::WrongAssertionType),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            sign(with(claims("a4"), "iss", json!("someone-else"))),
            Err(TokenError::WrongIssuer),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            sign(with(claims("a5"), "sub", json!("someone-else"))),
            Err(TokenError::WrongSubject),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            sign(with(
                claims("a6"),
                "aud",
                json!("https://other.example/token"),
            )),
            Err(TokenError::WrongAudience),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            sign(with(claims("a7"), "exp", json!(t + 3600))),
            Err(TokenError::LifetimeTooLong),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            sign(with(
                with(claims("a8"), "iat", json!(t - 200)),
                "exp",
                json!(t + 200),
            )),
            Err(TokenError::LifetimeTooLong),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            sign(with(claims("a9"), "exp", json!(t - 60))),
            Err(TokenError::Expired),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            sign(without(claims("a10"), "exp")),
            Err(TokenError::MissingClaim),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            sign(without(claims("a11"), "jti")),
            Err(TokenError::MissingClaim),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            EdKey::generate().sign(&header, &claims("a12")),
            Err(TokenError::BadSignature),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            client.sign(&json!({"alg": "ES256"}), &claims("a13")),
            Err(TokenError::AlgNotAllowed),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            sign_hs256(&json!({"alg": "HS256"}), &claims("a14"), client.public()),
            Err(TokenError::AlgNotAllowed),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            client.sign(&json!({"alg": "EdDSA", "typ": "at+jwt"}), &claims("a15")),
            Err(TokenError::WrongType),
        ),
        (
            JWT_BEARER_ASSERTION_TYPE,
            "x".repeat(9000),
            Err(TokenError::TooLarge),
        ),
    ];
    for (assertion_type, assertion, want) in cases {
        check(&verifier, &key, assertion_type, &assertion, want);
    }
}

#[test]
fn es256_and_pem_keys() {
    let client = EcKey::generate();
    let verifier = assertions();
    let header = json!({"alg": "ES256", "typ": "JWT"});
    for key in [
        ClientPublicKey::from_jwk_json(&client.jwk(Some("k1")).to_string()).unwrap(),
        ClientPublicKey::from_pem(&client.pem()).unwrap(),
    ] {
        let jti = uuid::Uuid::new_v4().to_string();
        check(
            &verifier,
            &key,
            JWT_BEARER_ASSERTION_TYPE,
            &client.sign(&header, &claims(&jti)),
            Ok(()),
        );
        check(
            &verifier,
            &key,
            JWT_BEARER_ASSERTION_TYPE,
            &client.sign(&header, &claims(&jti)),
            Err(TokenError::Replayed),
        );
    }
    let ed = EdKey::generate();
    let key = ClientPublicKey::from_pem(&ed.pem()).unwrap();
    check(
        &verifier,
        &key,
        JWT_BEARER_ASSERTION_TYPE,
        &ed.sign(&json!({"alg": "EdDSA"}), &claims("pem-ed")),
        Ok(()),
    );
    // Symmetric and unsupported keys are refused at registration.
    assert!(ClientPublicKey::from_jwk_json(r#"{"kty":"oct","k":"c2VjcmV0"}"#).is_err());
    assert!(
        ClientPublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
            .is_err()
    );
}

#[test]
fn claimed_client_id_picks_the_key_to_verify_with() {
    let client = EdKey::generate();
    let header = json!({"alg": "EdDSA"});
    assert_eq!(
        claimed_client_id(&client.sign(&header, &claims("c1"))).as_deref(),
        Ok(CLIENT)
    );
    assert_eq!(
        claimed_client_id(&client.sign(&header, &with(claims("c2"), "sub", json!("other")))),
        Err(TokenError::WrongSubject)
    );
    assert_eq!(
        claimed_client_id(&client.sign(&header, &without(claims("c3"), "iss"))),
        Err(TokenError::MissingClaim)
    );
    assert_eq!(claimed_client_id("garbage"), Err(TokenError::Malformed));
}

#[test]
fn a_full_replay_cache_refuses_instead_of_forgetting() {
    let client = EdKey::generate();
    let key = ClientPublicKey::from_jwk_json(&client.jwk(None).to_string()).unwrap();
    let verifier = ClientAssertions::new(ClientAssertionConfig {
        audiences: vec![TOKEN_ENDPOINT.to_owned()],
        max_lifetime_seconds: 300,
        leeway_seconds: 30,
        replay_capacity: 2,
    })
    .unwrap();
    let header = json!({"alg": "EdDSA"});
    for jti in ["r1", "r2"] {
        check(
            &verifier,
            &key,
            JWT_BEARER_ASSERTION_TYPE,
            &client.sign(&header, &claims(jti)),
            Ok(()),
        );
    }
    check(
        &verifier,
        &key,
        JWT_BEARER_ASSERTION_TYPE,
        &client.sign(&header, &claims("r3")),
        Err(TokenError::ReplayCacheFull),
    );
    // Once the remembered assertions have expired, there is room again.
    let later = now() + chrono::Duration::seconds(200);
    let t = later.timestamp();
    let fresh =
        json!({"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_ENDPOINT, "exp": t + 60, "jti": "r4"});
    assert_eq!(
        verifier.verify(
            JWT_BEARER_ASSERTION_TYPE,
            &client.sign(&header, &fresh),
            CLIENT,
            &key,
            later
        ),
        Ok(())
    );
}
