//! `POST /oauth/token` (RFC 6749 §4.4, client credentials) and `GET /.well-known/jwks.json`.
//!
//! A partner system authenticates with `client_secret_basic` (RFC 6749 §2.3.1) or, the stronger
//! option, `private_key_jwt` (RFC 7523 §2.2), asks for scopes and purposes within the ones it was
//! given, and gets a short-lived RFC 9068 access token. Errors are RFC 6749 §5.2 JSON with fixed
//! descriptions; why exactly a client was refused goes to the audit log, not to the caller (an
//! unknown client and a wrong secret look the same). Every grant and refusal is audited before the
//! answer leaves. Must never echo a secret or an assertion, and never answer without
//! `Cache-Control: no-store`.

use std::net::SocketAddr;
use std::sync::Arc;

use audit::{Actor, AuditAction, Outcome};
use auth::AuthError;
use auth::client_assertion::{ClientPublicKey, JWT_BEARER_ASSERTION_TYPE, claimed_client_id};
use auth::client_secret::{ClientSecretHash, parse_basic_authorization, verify_client_secret};
use auth::token::{AccessTokenRequest, Subject, grant_purposes, grant_scopes};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use domain::{ClientId, OrganisationId, Role};
use serde_json::json;
use store::accounts;

use super::audit_trail::{self, Event, RequestMeta};
use crate::RequestId;
use crate::app::AppState;

/// The RFC 6749 §5.2 error codes we answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OAuthError {
    InvalidRequest,
    InvalidClient,
    InvalidScope,
    UnauthorizedClient,
    UnsupportedGrantType,
    ServerError,
}

impl OAuthError {
    fn code(self) -> &'static str {
        match self {
            OAuthError::InvalidRequest => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidScope => "invalid_scope",
            OAuthError::UnauthorizedClient => "unauthorized_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::ServerError => "server_error",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            OAuthError::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthError::InvalidRequest
            | OAuthError::InvalidScope
            | OAuthError::UnauthorizedClient
            | OAuthError::UnsupportedGrantType => StatusCode::BAD_REQUEST,
            OAuthError::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Fixed texts: never the caller's input, never which check failed for `invalid_client`.
    fn description(self) -> &'static str {
        match self {
            OAuthError::InvalidRequest => {
                "the request is missing a parameter, repeats one, or is not form-encoded"
            }
            OAuthError::InvalidClient => "client authentication failed",
            OAuthError::InvalidScope => {
                "the requested scope or purpose is invalid or not granted to this client"
            }
            OAuthError::UnauthorizedClient => {
                "this client may not use the client credentials grant"
            }
            OAuthError::UnsupportedGrantType => "only grant_type=client_credentials is supported",
            OAuthError::ServerError => "the token could not be issued",
        }
    }
}

/// Why a token request was refused: the OAuth answer, and the audit reason code.
struct Refusal {
    error: OAuthError,
    reason: &'static str,
    /// The client the request claimed to be, once known (for the audit entry).
    client: Option<ClientId>,
    organisation: Option<OrganisationId>,
}

fn refuse(error: OAuthError, reason: &'static str) -> Refusal {
    Refusal {
        error,
        reason,
        client: None,
        organisation: None,
    }
}

impl Refusal {
    fn about(mut self, client: &accounts::Client) -> Refusal {
        self.client = Some(ClientId::from_uuid(client.id));
        self.organisation = Some(OrganisationId::from_uuid(client.organisation_id));
        self
    }
}

/// A token request that passed.
struct Grant {
    client: ClientId,
    organisation: OrganisationId,
    role: Role,
    access_token: String,
    expires_in: i64,
    scopes: Vec<String>,
    purposes: Vec<&'static str>,
}

const NO_STORE: [(header::HeaderName, &str); 2] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::PRAGMA, "no-cache"),
];

fn error_response(error: OAuthError) -> Response {
    let mut response = (
        error.status(),
        NO_STORE,
        Json(json!({
            "error": error.code(),
            "error_description": error.description(),
        })),
    )
        .into_response();
    if error == OAuthError::InvalidClient {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"wijkhub\", charset=\"UTF-8\""),
        );
    }
    response
}

/// `POST /oauth/token`.
pub(crate) async fn token(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request_id: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let meta = RequestMeta {
        request_id: request_id.map(|id| id.0),
        source: Some(peer.ip()),
    };
    match grant(&state, &headers, &body).await {
        Ok(grant) => {
            let mut event = Event::new(
                AuditAction::TokenIssued,
                Actor::Client(grant.client),
                Outcome::Permit,
            );
            event.organisation = Some(grant.organisation);
            event.role = Some(grant.role);
            event.client = Some(grant.client);
            event.checks = &["client-authentication", "client-status", "scope", "purpose"];
            if let Err(unavailable) = audit_trail::record(&state.audit, meta, event).await {
                return unavailable.into_response();
            }
            (
                StatusCode::OK,
                NO_STORE,
                Json(json!({
                    "access_token": grant.access_token,
                    "token_type": "Bearer",
                    "expires_in": grant.expires_in,
                    "scope": grant.scopes.join(" "),
                    "purpose": grant.purposes.join(" "),
                })),
            )
                .into_response()
        }
        Err(refusal) => {
            let mut event = Event::new(AuditAction::TokenRefused, Actor::Anonymous, Outcome::Deny);
            event.reason = Some(refusal.reason);
            event.client = refusal.client;
            event.organisation = refusal.organisation;
            if let Err(unavailable) = audit_trail::record(&state.audit, meta, event).await {
                return unavailable.into_response();
            }
            error_response(refusal.error)
        }
    }
}

/// The form parameters, each at most once (RFC 6749 §3.2).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Form, Refusal> {
        let form_encoded = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| {
                mime.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_encoded {
            return Err(refuse(OAuthError::InvalidRequest, "not-form-encoded"));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(body) {
            if pairs.iter().any(|(seen, _)| *seen == name) {
                return Err(refuse(OAuthError::InvalidRequest, "repeated-parameter"));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Form(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(candidate, _)| candidate == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Drop for Form {
    fn drop(&mut self) {
        // Assertions and (refused) secrets in the body: wipe them with the form.
        for (_, value) in &mut self.0 {
            zeroize::Zeroize::zeroize(value);
        }
    }
}

fn server_error(error: &dyn std::fmt::Display) -> Refusal {
    tracing::error!(error = %error, "token endpoint failure");
    refuse(OAuthError::ServerError, "internal")
}

async fn grant(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Grant, Refusal> {
    let form = Form::parse(headers, body)?;
    match form.get("grant_type") {
        None => return Err(refuse(OAuthError::InvalidRequest, "missing-grant-type")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(refuse(
                OAuthError::UnsupportedGrantType,
                "unsupported-grant-type",
            ));
        }
    }
    let client = authenticate_client(state, headers, &form).await?;
    let now = Utc::now();
    let db = &state.db;

    if !accounts::is_active(&client.status) {
        return Err(refuse(OAuthError::InvalidClient, "client-disabled").about(&client));
    }
    let organisation = accounts::organisation(db, client.organisation_id)
        .await
        .map_err(|error| server_error(&error))?
        .ok_or_else(|| refuse(OAuthError::InvalidClient, "organisation-unknown").about(&client))?;
    if !accounts::is_active(&organisation.status) {
        return Err(refuse(OAuthError::InvalidClient, "organisation-disabled").about(&client));
    }
    let kind = accounts::organisation_kind(&organisation).map_err(|error| server_error(&error))?;
    let Some(role) = kind.client_role() else {
        return Err(refuse(OAuthError::UnauthorizedClient, "no-client-role").about(&client));
    };

    let allowed_scopes = accounts::client_scopes(&client).map_err(|error| server_error(&error))?;
    let allowed_purposes =
        accounts::client_purposes(&client).map_err(|error| server_error(&error))?;
    let scopes = grant_scopes(form.get("scope"), &allowed_scopes)
        .map_err(|error| refuse(OAuthError::InvalidScope, auth_reason(&error)).about(&client))?;
    let purposes = grant_purposes(form.get("purpose"), &allowed_purposes)
        .map_err(|error| refuse(OAuthError::InvalidScope, auth_reason(&error)).about(&client))?;

    let client_id = ClientId::from_uuid(client.id);
    let organisation_id = OrganisationId::from_uuid(client.organisation_id);
    let issued = state
        .auth
        .tokens
        .issue(
            &AccessTokenRequest {
                subject: Subject::Client(client_id),
                client_id: client.client_id.clone(),
                organisation: organisation_id,
                roles: vec![role],
                scopes: scopes.clone(),
                purposes: purposes.clone(),
                amr: Vec::new(),
            },
            now,
        )
        .map_err(|error| {
            tracing::error!(error = error.code(), "token signing failed");
            refuse(OAuthError::ServerError, "signing-failed").about(&client)
        })?;
    Ok(Grant {
        client: client_id,
        organisation: organisation_id,
        role,
        expires_in: (issued.expires_at - now).num_seconds(),
        access_token: issued.access_token,
        scopes,
        purposes: purposes.iter().map(|purpose| purpose.as_str()).collect(),
    })
}

/// The audit reason of an `auth` crate refusal: its stable code.
fn auth_reason(error: &AuthError) -> &'static str {
    error.code()
}

/// Who is asking: exactly one client authentication method, and it must pass.
async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<accounts::Client, Refusal> {
    let authorization = {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        match (values.next(), values.next()) {
            (None, _) => None,
            (Some(value), None) => Some(value),
            (Some(_), Some(_)) => {
                return Err(refuse(OAuthError::InvalidRequest, "repeated-authorization"));
            }
        }
    };
    let assertion = form.get("client_assertion");
    let assertion_type = form.get("client_assertion_type");
    if form.get("client_secret").is_some() {
        // client_secret_post is not offered: a secret in a form body ends up in too many logs.
        return Err(refuse(OAuthError::InvalidClient, "auth-method-unsupported"));
    }
    match (authorization, assertion) {
        (Some(_), Some(_)) => Err(refuse(OAuthError::InvalidRequest, "several-client-auth")),
        (None, None) => Err(refuse(OAuthError::InvalidClient, "no-client-auth")),
        (Some(value), None) => {
            let text = value
                .to_str()
                .map_err(|_| refuse(OAuthError::InvalidClient, "basic-malformed"))?;
            let credentials = parse_basic_authorization(text)
                .map_err(|error| refuse(OAuthError::InvalidClient, auth_reason(&error)))?;
            if form
                .get("client_id")
                .is_some_and(|id| id != credentials.client_id)
            {
                return Err(refuse(OAuthError::InvalidRequest, "client-id-mismatch"));
            }
            let client = accounts::client_by_client_id(&state.db, &credentials.client_id)
                .await
                .map_err(|error| server_error(&error))?
                .ok_or_else(|| refuse(OAuthError::InvalidClient, "client-unknown"))?;
            let Some(stored) = client.secret_hash.as_ref() else {
                return Err(
                    refuse(OAuthError::InvalidClient, "secret-not-registered").about(&client)
                );
            };
            let stored = ClientSecretHash::from_hex(&stored.0).map_err(|error| {
                tracing::error!(error = error.code(), "stored client secret hash is invalid");
                refuse(OAuthError::InvalidClient, "stored-digest-invalid").about(&client)
            })?;
            if !verify_client_secret(&credentials.secret, &stored) {
                return Err(refuse(OAuthError::InvalidClient, "bad-credentials").about(&client));
            }
            Ok(client)
        }
        (None, Some(assertion)) => {
            let Some(assertion_type) = assertion_type else {
                return Err(refuse(
                    OAuthError::InvalidRequest,
                    "missing-client-assertion-type",
                ));
            };
            if assertion_type != JWT_BEARER_ASSERTION_TYPE {
                return Err(refuse(OAuthError::InvalidClient, "wrong-assertion-type"));
            }
            let claimed = claimed_client_id(assertion)
                .map_err(|error| refuse(OAuthError::InvalidClient, error.code()))?;
            if form.get("client_id").is_some_and(|id| id != claimed) {
                return Err(refuse(OAuthError::InvalidClient, "client-id-mismatch"));
            }
            let client = accounts::client_by_client_id(&state.db, &claimed)
                .await
                .map_err(|error| server_error(&error))?
                .ok_or_else(|| refuse(OAuthError::InvalidClient, "client-unknown"))?;
            let Some(jwk) = client.public_key_jwk.as_deref() else {
                return Err(refuse(OAuthError::InvalidClient, "key-not-registered").about(&client));
            };
            let key = ClientPublicKey::from_jwk_json(jwk)
                .or_else(|_| ClientPublicKey::from_pem(jwk))
                .map_err(|error| {
                    refuse(OAuthError::InvalidClient, auth_reason(&error)).about(&client)
                })?;
            state
                .auth
                .assertions
                .verify(assertion_type, assertion, &claimed, &key, Utc::now())
                .map_err(|error| refuse(OAuthError::InvalidClient, error.code()).about(&client))?;
            Ok(client)
        }
    }
}

/// `GET /.well-known/jwks.json`: the public keys, every one that still verifies.
pub(crate) async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        state.auth.tokens.jwks_json(),
    )
        .into_response()
}
