//! `POST /oauth/token`: a partner client gets a token and calls `/graphql` with it; every bad
//! request is refused with its RFC 6749 §5.2 code, `Cache-Control: no-store`, an audit entry,
//! and no token.

use std::time::Duration;

use serde_json::Value;

use crate::support::{AuthHub, CLIENT_ID};

/// The refusal's status and OAuth code; its audit entry; no token issued.
#[track_caller]
fn check_refusal(status: u16, body: &Value, want_status: u16, want_error: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], want_error, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    assert!(body["error_description"].is_string(), "{body}");
}

async fn refused(
    hub: &AuthHub,
    basic: Option<(&str, &str)>,
    form: &str,
    want_status: u16,
    want_error: &str,
    want_reason: &str,
) {
    let issued_before = hub.audit_count("auth.token-issued", None).await;
    let refused_before = hub
        .audit_count("auth.token-refused", Some(want_reason))
        .await;
    let response = hub.token_request(basic, form).await;
    let status = response.status().as_u16();
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    if want_status == 401 {
        let challenge = response.headers().get("www-authenticate").unwrap();
        assert!(
            challenge.to_str().unwrap().starts_with("Basic"),
            "{challenge:?}"
        );
    }
    let body: Value = response.json().await.unwrap();
    check_refusal(status, &body, want_status, want_error);
    assert_eq!(
        hub.audit_count("auth.token-refused", Some(want_reason))
            .await,
        refused_before + 1,
        "one audit entry with reason {want_reason}"
    );
    assert_eq!(
        hub.audit_count("auth.token-issued", None).await,
        issued_before
    );
}

#[tokio::test]
async fn a_partner_client_gets_a_token_and_calls_graphql_with_it() {
    let hub = AuthHub::start().await;
    let response = hub
        .token_request(
            Some((CLIENT_ID, &hub.client_secret)),
            "grant_type=client_credentials&scope=plans:read&purpose=support",
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "plans:read");
    assert_eq!(body["purpose"], "support");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(hub.audit_count("auth.token-issued", None).await, 1);

    let response = hub
        .graphql(
            Some(&format!("Bearer {token}")),
            "{ apiVersion viewer { kind id clientId organisation { id } roles scopes purposes credential } }",
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let viewer = &body["data"]["viewer"];
    assert_eq!(viewer["kind"], "CLIENT", "{body}");
    assert_eq!(viewer["id"], hub.client_uuid.to_string());
    assert_eq!(viewer["clientId"], CLIENT_ID);
    assert_eq!(viewer["organisation"]["id"], hub.welzijn.to_string());
    assert_eq!(viewer["roles"], serde_json::json!(["welfare-worker"]));
    assert_eq!(viewer["scopes"], serde_json::json!(["plans:read"]));
    assert_eq!(viewer["purposes"], serde_json::json!(["support"]));
    assert_eq!(viewer["credential"], "ACCESS_TOKEN");
    assert!(body.get("errors").is_none(), "{body}");

    // Without the scope and purpose parameters: everything the client was given.
    let response = hub
        .token_request(
            Some((CLIENT_ID, &hub.client_secret)),
            "grant_type=client_credentials",
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "plans:read plans:write");
    assert_eq!(body["purpose"], "support coordination");
}

#[tokio::test]
async fn anonymous_callers_get_only_the_api_version() {
    let hub = AuthHub::start().await;
    let response = hub.graphql(None, "{ apiVersion }").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["apiVersion"], "1");
    let response = hub.graphql(None, "{ viewer { id } }").await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body}"
    );
    assert!(body["data"].is_null(), "{body}");
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client() {
    let hub = AuthHub::start().await;
    let wrong = format!("{}x", hub.client_secret);
    refused(
        &hub,
        Some((CLIENT_ID, &wrong)),
        "grant_type=client_credentials",
        401,
        "invalid_client",
        "bad-credentials",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_client_is_invalid_client_like_a_wrong_secret() {
    let hub = AuthHub::start().await;
    refused(
        &hub,
        Some(("nobody", "whs_x")),
        "grant_type=client_credentials",
        401,
        "invalid_client",
        "client-unknown",
    )
    .await;
}

#[tokio::test]
async fn no_client_authentication_is_invalid_client() {
    let hub = AuthHub::start().await;
    refused(
        &hub,
        None,
        "grant_type=client_credentials",
        401,
        "invalid_client",
        "no-client-auth",
    )
    .await;
    let secret = hub.client_secret.clone();
    refused(
        &hub,
        None,
        &format!("grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={secret}"),
        401,
        "invalid_client",
        "auth-method-unsupported",
    )
    .await;
}

#[tokio::test]
async fn a_malformed_basic_header_is_invalid_client() {
    let hub = AuthHub::start().await;
    for header in ["Basic", "Basic !!!", "Basic aWQ6", "Bearer abc"] {
        let response = hub
            .hub
            .http
            .post(hub.url("/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", header)
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
    assert_eq!(
        hub.audit_count("auth.token-refused", Some("basic-malformed"))
            .await,
        4
    );
}

#[tokio::test]
async fn a_scope_the_client_does_not_have_is_invalid_scope() {
    let hub = AuthHub::start().await;
    let secret = hub.client_secret.clone();
    refused(
        &hub,
        Some((CLIENT_ID, &secret)),
        "grant_type=client_credentials&scope=plans:read%20audit:read",
        400,
        "invalid_scope",
        "scope-not-allowed",
    )
    .await;
    refused(
        &hub,
        Some((CLIENT_ID, &secret)),
        "grant_type=client_credentials&scope=",
        400,
        "invalid_scope",
        "invalid-scope",
    )
    .await;
}

#[tokio::test]
async fn a_purpose_the_client_does_not_have_is_invalid_scope() {
    let hub = AuthHub::start().await;
    let secret = hub.client_secret.clone();
    // On the closed list, but not given to this client.
    refused(
        &hub,
        Some((CLIENT_ID, &secret)),
        "grant_type=client_credentials&purpose=safety",
        400,
        "invalid_scope",
        "purpose-not-allowed",
    )
    .await;
    // Not on the closed list at all.
    refused(
        &hub,
        Some((CLIENT_ID, &secret)),
        "grant_type=client_credentials&purpose=marketing",
        400,
        "invalid_scope",
        "purpose-not-allowed",
    )
    .await;
}

#[tokio::test]
async fn another_grant_type_is_unsupported() {
    let hub = AuthHub::start().await;
    let secret = hub.client_secret.clone();
    refused(
        &hub,
        Some((CLIENT_ID, &secret)),
        "grant_type=password&username=a&password=b",
        400,
        "unsupported_grant_type",
        "unsupported-grant-type",
    )
    .await;
}

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let hub = AuthHub::start().await;
    let secret = hub.client_secret.clone();
    refused(
        &hub,
        Some((CLIENT_ID, &secret)),
        "scope=plans:read",
        400,
        "invalid_request",
        "missing-grant-type",
    )
    .await;
    refused(
        &hub,
        Some((CLIENT_ID, &secret)),
        "grant_type=client_credentials&grant_type=client_credentials",
        400,
        "invalid_request",
        "repeated-parameter",
    )
    .await;
    // JSON instead of a form.
    let response = hub
        .hub
        .http
        .post(hub.url("/oauth/token"))
        .basic_auth(CLIENT_ID, Some(&secret))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        hub.audit_count("auth.token-refused", Some("not-form-encoded"))
            .await,
        1
    );
}

#[tokio::test]
async fn a_disabled_client_gets_no_token() {
    let hub = AuthHub::start().await;
    let admin = hub.admin().await;
    admin.disable_client(CLIENT_ID).await.unwrap();
    admin.close().await.unwrap();
    let secret = hub.client_secret.clone();
    refused(
        &hub,
        Some((CLIENT_ID, &secret)),
        "grant_type=client_credentials",
        401,
        "invalid_client",
        "client-disabled",
    )
    .await;
}

#[tokio::test]
async fn a_token_of_a_disabled_client_is_refused_within_seconds() {
    let hub = AuthHub::start().await;
    let token = hub.client_token().await;
    let bearer = format!("Bearer {token}");
    let response = hub.graphql(Some(&bearer), "{ viewer { id } }").await;
    assert_eq!(response.status(), 200);

    let admin = hub.admin().await;
    admin.disable_client(CLIENT_ID).await.unwrap();
    admin.close().await.unwrap();
    let disabled_at = std::time::Instant::now();
    // status_cache_seconds = 1 in these tests (default 5): refused within it, token unexpired.
    let refused = AuthHub::eventually(Duration::from_secs(5), || async {
        hub.graphql(Some(&bearer), "{ apiVersion }").await.status() == 401
    })
    .await;
    assert!(refused, "still accepted 5 s after disabling");
    assert!(disabled_at.elapsed() < Duration::from_secs(3));
    let response = hub.graphql(Some(&bearer), "{ apiVersion }").await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_TOKEN");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "client-disabled");
    assert!(
        hub.audit_count("auth.token-refused", Some("client-disabled"))
            .await
            >= 1
    );
}

#[tokio::test]
async fn a_disabled_organisation_stops_its_clients() {
    let hub = AuthHub::start().await;
    let token = hub.client_token().await;
    store::accounts::set_organisation_status(&hub.db, hub.welzijn, domain::MemberStatus::Disabled)
        .await
        .unwrap();
    let bearer = format!("Bearer {token}");
    let refused = AuthHub::eventually(Duration::from_secs(5), || async {
        hub.graphql(Some(&bearer), "{ apiVersion }").await.status() == 401
    })
    .await;
    assert!(refused);
    let secret = hub.client_secret.clone();
    refused_after_disable(&hub, &secret).await;
}

async fn refused_after_disable(hub: &AuthHub, secret: &str) {
    refused(
        hub,
        Some((CLIENT_ID, secret)),
        "grant_type=client_credentials",
        401,
        "invalid_client",
        "organisation-disabled",
    )
    .await;
}

#[tokio::test]
async fn no_token_leaves_when_the_audit_log_cannot_be_written() {
    let hub = AuthHub::start().await;
    testkit::exec(
        &hub.db,
        "ALTER TABLE audit_entries RENAME TO audit_entries_away",
    )
    .await;
    let response = hub
        .token_request(
            Some((CLIENT_ID, &hub.client_secret)),
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "AUDIT_UNAVAILABLE", "{body}");
    assert!(body.get("access_token").is_none());
    // Refusals too: a bad token is not waved through because it cannot be logged.
    let response = hub.graphql(Some("Bearer a.b.c"), "{ apiVersion }").await;
    assert_eq!(response.status(), 503);

    testkit::exec(
        &hub.db,
        "ALTER TABLE audit_entries_away RENAME TO audit_entries",
    )
    .await;
    let recovered = AuthHub::eventually(Duration::from_secs(10), || async {
        hub.token_request(
            Some((CLIENT_ID, &hub.client_secret)),
            "grant_type=client_credentials",
        )
        .await
        .status()
            == 200
    })
    .await;
    assert!(
        recovered,
        "the writer recovers by itself once the log is writable again"
    );
}

/// A client registered with an Ed25519 public key only; returns its signing key (PKCS#8).
async fn key_client(hub: &AuthHub, client_id: &str) -> Vec<u8> {
    use base64::Engine;
    use ring::signature::KeyPair;
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .unwrap()
        .as_ref()
        .to_vec();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
    let jwk = serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
    })
    .to_string();
    let admin = hub.admin().await;
    admin
        .add_client(
            client_id,
            "Key client",
            crate::support::WELZIJN,
            &["plans:read".to_owned()],
            &[domain::Purpose::Support],
            Some(&jwk),
            false,
        )
        .await
        .unwrap();
    admin.close().await.unwrap();
    pkcs8
}

fn assertion(hub: &AuthHub, client_id: &str, pkcs8: &[u8], jti: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": format!("{}/oauth/token", hub.config.auth.tokens.issuer),
        "iat": now,
        "exp": now + 120,
        "jti": jti,
    });
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_der(pkcs8),
    )
    .unwrap()
}

fn assertion_form(assertion: &str) -> String {
    format!(
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
    )
}

#[tokio::test]
async fn private_key_jwt_gets_a_token_once_per_assertion() {
    let hub = AuthHub::start().await;
    let pkcs8 = key_client(&hub, "keyed-client").await;
    let signed = assertion(&hub, "keyed-client", &pkcs8, "jti-1");
    let response = hub.token_request(None, &assertion_form(&signed)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let response = hub
        .graphql(Some(&format!("Bearer {token}")), "{ viewer { clientId } }")
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["viewer"]["clientId"], "keyed-client");

    // The same assertion again: a replay.
    refused(
        &hub,
        None,
        &assertion_form(&signed),
        401,
        "invalid_client",
        "replayed",
    )
    .await;
}

#[tokio::test]
async fn an_assertion_signed_by_another_key_is_refused() {
    let hub = AuthHub::start().await;
    key_client(&hub, "keyed-client").await;
    let other = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .unwrap()
        .as_ref()
        .to_vec();
    let forged = assertion(&hub, "keyed-client", &other, "jti-2");
    refused(
        &hub,
        None,
        &assertion_form(&forged),
        401,
        "invalid_client",
        "bad-signature",
    )
    .await;
    // A client without a registered key cannot use private_key_jwt at all.
    let pretending = assertion(&hub, CLIENT_ID, &other, "jti-3");
    refused(
        &hub,
        None,
        &assertion_form(&pretending),
        401,
        "invalid_client",
        "key-not-registered",
    )
    .await;
}
