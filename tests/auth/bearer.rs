//! Bearer tokens on `/graphql`: each bad token of issue 4, forged with the hub's real key so
//! that exactly one thing is wrong, is refused with `401`, RFC 6750's
//! `WWW-Authenticate: Bearer error="invalid_token"`, the stable reason code, and an audit entry;
//! the schema never runs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{AuthHub, Signer};

/// `authorization` is refused with `reason`, audited once, and nothing reaches the schema.
async fn check_refused(hub: &AuthHub, authorization: &str, reason: &str) {
    let before = hub.audit_count("auth.token-refused", Some(reason)).await;
    let response = hub
        .graphql(Some(authorization), "{ apiVersion viewer { id } }")
        .await;
    assert_eq!(response.status(), 401, "{reason}");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "INVALID_TOKEN",
        "{body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["reason"], reason, "{body}");
    assert!(
        body.get("data").is_none(),
        "the schema must not run: {body}"
    );
    assert_eq!(
        hub.audit_count("auth.token-refused", Some(reason)).await,
        before + 1,
        "one audit entry for {reason}"
    );
}

/// The forged good token is accepted: the refusals below are about the one thing changed.
async fn control(hub: &AuthHub, signer: &Signer) {
    let response = hub
        .graphql(
            Some(&format!("Bearer {}", signer.good())),
            "{ viewer { kind } }",
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["viewer"]["kind"], "CLIENT", "{body}");
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let hub = AuthHub::start().await;
    let signer = hub.signer().await;
    control(&hub, &signer).await;
    let token = signer.good();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[10] ^= 0x01;
    let tampered = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes));
    check_refused(&hub, &format!("Bearer {tampered}"), "bad-signature").await;
}

#[tokio::test]
async fn tampered_claims_under_the_old_signature_are_refused() {
    let hub = AuthHub::start().await;
    let signer = hub.signer().await;
    let token = signer.good();
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut claims = signer.claims();
    claims["roles"] = json!(["coach"]);
    let payload = b64(&claims);
    parts[1] = &payload;
    check_refused(
        &hub,
        &format!("Bearer {}", parts.join(".")),
        "bad-signature",
    )
    .await;
}

#[tokio::test]
async fn alg_none_is_refused() {
    let hub = AuthHub::start().await;
    let signer = hub.signer().await;
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": signer.kid});
        let token = format!("{}.{}.", b64(&header), b64(&signer.claims()));
        check_refused(&hub, &format!("Bearer {token}"), "alg-not-allowed").await;
    }
}

#[tokio::test]
async fn hs256_signed_with_the_hubs_public_key_is_refused() {
    // Algorithm confusion: a verifier that took `alg` from the token would check this HMAC with
    // the public key as its secret, and accept it.
    let hub = AuthHub::start().await;
    let signer = hub.signer().await;
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(signer.kid.clone());
    for secret in [
        signer.public.clone(),
        signer.public_jwk.clone().into_bytes(),
    ] {
        let token = jsonwebtoken::encode(
            &header,
            &signer.claims(),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        check_refused(&hub, &format!("Bearer {token}"), "alg-not-allowed").await;
    }
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let hub = AuthHub::start().await;
    let signer = hub.signer().await;
    let mut claims = signer.claims();
    let now = chrono::Utc::now().timestamp();
    // Past the 30 s leeway.
    claims["iat"] = json!(now - 700);
    claims["nbf"] = json!(now - 700);
    claims["exp"] = json!(now - 100);
    check_refused(
        &hub,
        &format!("Bearer {}", signer.sign(&signer.header(), &claims)),
        "expired",
    )
    .await;
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let hub = AuthHub::start().await;
    let signer = hub.signer().await;
    let mut claims = signer.claims();
    let now = chrono::Utc::now().timestamp();
    claims["nbf"] = json!(now + 300);
    claims["exp"] = json!(now + 900);
    check_refused(
        &hub,
        &format!("Bearer {}", signer.sign(&signer.header(), &claims)),
        "not-yet-valid",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_audience_is_refused() {
    let hub = AuthHub::start().await;
    let signer = hub.signer().await;
    for audience in [json!("another-api"), json!(["another-api"]), json!("")] {
        let mut claims = signer.claims();
        claims["aud"] = audience;
        check_refused(
            &hub,
            &format!("Bearer {}", signer.sign(&signer.header(), &claims)),
            "wrong-audience",
        )
        .await;
    }
}

#[tokio::test]
async fn a_wrong_issuer_is_refused() {
    let hub = AuthHub::start().await;
    let signer = hub.signer().await;
    let mut claims = signer.claims();
    claims["iss"] = json!("https://evil.example");
    check_refused(
        &hub,
        &format!("Bearer {}", signer.sign(&signer.header(), &claims)),
        "wrong-issuer",
    )
    .await;
}

#[tokio::test]
async fn missing_claims_are_refused() {
    let hub = AuthHub::start().await;
    let signer = hub.signer().await;
    for claim in ["exp", "iss", "aud", "sub", "iat", "jti", "client_id", "org"] {
        let mut claims = signer.claims();
        claims.as_object_mut().unwrap().remove(claim);
        check_refused(
            &hub,
            &format!("Bearer {}", signer.sign(&signer.header(), &claims)),
            "missing-claim",
        )
        .await;
    }
    // The `typ` header is required too (RFC 9068 §4: at+jwt).
    let mut header = signer.header();
    header.typ = None;
    check_refused(
        &hub,
        &format!("Bearer {}", signer.sign(&header, &signer.claims())),
        "wrong-type",
    )
    .await;
    header.typ = Some("JWT".to_owned());
    check_refused(
        &hub,
        &format!("Bearer {}", signer.sign(&header, &signer.claims())),
        "wrong-type",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_kid_is_refused() {
    let hub = AuthHub::start().await;
    let signer = hub.signer().await;
    let mut header = signer.header();
    header.kid = Some("not-one-of-ours".to_owned());
    check_refused(
        &hub,
        &format!("Bearer {}", signer.sign(&header, &signer.claims())),
        "unknown-kid",
    )
    .await;
    header.kid = None;
    check_refused(
        &hub,
        &format!("Bearer {}", signer.sign(&header, &signer.claims())),
        "unknown-kid",
    )
    .await;
}

#[tokio::test]
async fn an_oversized_authorization_header_is_refused_before_parsing() {
    let hub = AuthHub::start().await;
    let token = format!(
        "{}.{}.{}",
        "a".repeat(4000),
        "b".repeat(4000),
        "c".repeat(400)
    );
    check_refused(&hub, &format!("Bearer {token}"), "too-large").await;
}

#[tokio::test]
async fn a_malformed_authorization_header_is_refused() {
    let hub = AuthHub::start().await;
    let signer = hub.signer().await;
    let good = signer.good();
    let cases = [
        format!("Basic {good}"),
        format!("Bearer  {good}"),
        format!("Bearer {good} extra"),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer a.b".to_owned(),
        "Bearer a.b.c.d".to_owned(),
        "Bearer ey!.ey!.ey!".to_owned(),
        good.clone(),
    ];
    for case in cases {
        let before = hub.audit_count("auth.token-refused", None).await;
        let response = hub.graphql(Some(&case), "{ apiVersion }").await;
        assert_eq!(response.status(), 401, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_TOKEN");
        assert_eq!(
            hub.audit_count("auth.token-refused", None).await,
            before + 1
        );
    }
    // Two Authorization headers.
    let response = hub
        .hub
        .http
        .post(hub.url("/graphql"))
        .header("authorization", format!("Bearer {good}"))
        .header("authorization", format!("Bearer {good}"))
        .json(&json!({"query": "{ apiVersion }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn any_single_bit_flip_of_a_valid_token_is_refused() {
    // The end-to-end counterpart of the auth crate's property test: a deterministic spread of
    // bit positions over header, claims and signature, each through the running hub.
    let hub = AuthHub::start().await;
    let token = hub.client_token().await;
    let bytes = token.as_bytes();
    let n_bits = bytes.len() * 8;
    let mut flipped_positions = 0;
    for bit in (0..n_bits).step_by(n_bits / 211 + 1) {
        let mut changed = bytes.to_vec();
        changed[bit / 8] ^= 1 << (bit % 8);
        // A flip to a control character cannot even be sent as a header value.
        let Ok(text) = String::from_utf8(changed) else {
            continue;
        };
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {text}")).is_err() {
            continue;
        }
        let response = hub
            .graphql(Some(&format!("Bearer {text}")), "{ viewer { id } }")
            .await;
        assert_eq!(response.status(), 401, "bit {bit} flipped was accepted");
        flipped_positions += 1;
    }
    assert!(flipped_positions > 120, "{flipped_positions}");
    // And the original still works.
    let response = hub
        .graphql(Some(&format!("Bearer {token}")), "{ viewer { id } }")
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_external_issuers_token_maps_to_a_member_through_its_jwks() {
    use ring::signature::KeyPair;
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .unwrap()
        .as_ref()
        .to_vec();
    let public = ring::signature::Ed25519KeyPair::from_pkcs8(&pkcs8)
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    let dir = tempfile::tempdir().unwrap();
    let jwks_file = dir.path().join("idp-jwks.json");
    let jwks = json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": "idp-1",
        "x": URL_SAFE_NO_PAD.encode(&public),
    }]});
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let issuer = "https://login.gemeente.example/realms/staff";
    let config_value = json!({
        "issuer": issuer,
        "audience": "wijkhub",
        "member_claim": "email",
        "jwks_file": jwks_file.display().to_string(),
    });
    let hub = AuthHub::start_with(|config| {
        config.auth.external_issuers = vec![serde_json::from_value(config_value).unwrap()];
    })
    .await;
    hub.add_member(
        "coach@test.example",
        crate::support::WIJKTEAM,
        domain::Role::Coach,
        "correct horse battery staple",
    )
    .await;

    let idp_token = |email: &str, kid: &str| {
        let now = chrono::Utc::now().timestamp();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        let claims = json!({
            "iss": issuer, "aud": "wijkhub", "sub": "idp-user-7", "email": email,
            "iat": now, "exp": now + 300, "amr": ["pwd", "otp"],
        });
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&pkcs8)).unwrap()
    };
    let response = hub
        .graphql(
            Some(&format!(
                "Bearer {}",
                idp_token("coach@test.example", "idp-1")
            )),
            "{ viewer { kind roles credential authenticationMethods } }",
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["viewer"]["kind"], "MEMBER", "{body}");
    assert_eq!(body["data"]["viewer"]["credential"], "EXTERNAL_TOKEN");
    assert_eq!(body["data"]["viewer"]["roles"], json!(["coach"]));

    // A person the hub does not know, and a key the IdP did not publish.
    check_refused(
        &hub,
        &format!("Bearer {}", idp_token("stranger@test.example", "idp-1")),
        "member-unknown",
    )
    .await;
    check_refused(
        &hub,
        &format!("Bearer {}", idp_token("coach@test.example", "idp-2")),
        "unknown-kid",
    )
    .await;
    // The hub's own tokens still go to the hub's verifier.
    let own = hub.client_token().await;
    assert_eq!(
        hub.graphql(Some(&format!("Bearer {own}")), "{ viewer { id } }")
            .await
            .status(),
        200
    );
}
