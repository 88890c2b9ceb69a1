//! Who calls `/graphql`: `Authorization: Bearer` (the hub's access token or an external issuer's),
//! or the console's session cookie; neither means anonymous.
//!
//! Exists so the schema gets an [`api::Caller`] it can trust, or none. A credential that is
//! present but not good — malformed, oversized, badly signed, expired, of a disabled account — is
//! answered here with `401` and RFC 6750's `WWW-Authenticate: Bearer error="invalid_token"`, a
//! stable code in the body, and an audit entry; the request never reaches the schema. Must never
//! log a token or a cookie, and never let a credential through when the status check or the audit
//! log fails.

use std::net::SocketAddr;
use std::sync::Arc;

use api::{Caller, CallerId, Credential};
use audit::{Actor, AuditAction, Outcome};
use auth::TokenError;
use auth::token::{Principal, Subject};
use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use domain::{MemberId, OrganisationId, Role};
use serde_json::json;
use store::accounts;

use super::audit_trail::{self, AuditUnavailable, Event, RequestMeta};
use super::login;
use super::status::Standing;
use crate::RequestId;
use crate::app::AppState;

/// Longest `Authorization` header looked at: `Bearer ` and the largest token accepted.
const MAX_AUTHORIZATION: usize = auth::MAX_TOKEN_BYTES + "Bearer ".len();

/// The reason recorded when the account status could not be read (answered `503`).
const STATUS_UNAVAILABLE: &str = "status-unavailable";

/// Why a presented credential was refused: the stable code in the answer and the audit entry.
struct Refused {
    reason: &'static str,
    /// The subject, when the token was genuine but its account may no longer act.
    subject: Option<(Subject, OrganisationId)>,
}

fn refused(reason: &'static str) -> Refused {
    Refused {
        reason,
        subject: None,
    }
}

/// The middleware on `/graphql`.
pub(crate) async fn authenticate(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let meta = RequestMeta {
        request_id: request.extensions().get::<RequestId>().copied(),
        source: Some(peer.ip()),
    };
    let outcome = match bearer_token(&request) {
        Err(refusal) => Err(refusal),
        Ok(Some(token)) => caller_from_token(&state, &token).await,
        Ok(None) => match login::session_caller(&state, request.headers()).await {
            Ok(caller) => Ok(caller),
            Err(error) => {
                tracing::error!(error = %error, "session lookup failed");
                return unavailable_response();
            }
        },
    };
    match outcome {
        Ok(Some(caller)) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Ok(None) => next.run(request).await,
        Err(refusal) => match audit_refusal(&state, meta, &refusal).await {
            // The database could not say whether the account is active: not the token's
            // fault, so not `invalid_token` (a client would throw a good token away).
            Ok(()) if refusal.reason == STATUS_UNAVAILABLE => unavailable_response(),
            Ok(()) => invalid_token(refusal.reason),
            Err(unavailable) => unavailable.into_response(),
        },
    }
}

/// The bearer token, if an `Authorization` header came; refused when there are several, when it
/// is too long, not ASCII, not `Bearer`, or not a token68 (RFC 6750 §2.1).
fn bearer_token(request: &Request) -> Result<Option<zeroize::Zeroizing<String>>, Refused> {
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Err(refused("malformed")),
    };
    if value.len() > MAX_AUTHORIZATION {
        return Err(refused(TokenError::TooLarge.code()));
    }
    let text = value.to_str().map_err(|_| refused("malformed"))?;
    let (scheme, token) = text.split_once(' ').ok_or_else(|| refused("malformed"))?;
    let token68 = |token: &str| {
        let trimmed = token.trim_end_matches('=');
        !trimmed.is_empty()
            && trimmed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
    };
    if !scheme.eq_ignore_ascii_case("Bearer") || !token68(token) {
        return Err(refused("malformed"));
    }
    Ok(Some(zeroize::Zeroizing::new(token.to_owned())))
}

async fn caller_from_token(state: &AppState, token: &str) -> Result<Option<Caller>, Refused> {
    let now = Utc::now();
    let auth = &state.auth;
    // Routing only: the claimed issuer picks the verifier, which then proves everything.
    let external = if auth.external.is_empty() {
        None
    } else {
        let issuer =
            auth::token::unverified_issuer(token).map_err(|error| refused(error.code()))?;
        auth.external
            .iter()
            .find(|external| external.issuer() == issuer)
    };
    let caller = match external {
        None => {
            let principal = auth
                .tokens
                .verify(token, now)
                .map_err(|error| refused(error.code()))?;
            caller_of(&principal, Credential::AccessToken)
        }
        Some(external) => {
            let identity = external
                .verify(token, now)
                .map_err(|error| refused(error.code()))?;
            external_caller(state, &identity).await?
        }
    };
    let subject = match caller.id {
        CallerId::Member(id) => Subject::Member(id),
        CallerId::Client(id) => Subject::Client(id),
    };
    match auth
        .status
        .standing(&state.db, subject, caller.organisation)
        .await
    {
        Ok(Standing::Active) => Ok(Some(caller)),
        Ok(Standing::Refused(reason)) => Err(Refused {
            reason,
            subject: Some((subject, caller.organisation)),
        }),
        Err(error) => {
            tracing::error!(error = %error, "account status check failed");
            Err(refused(STATUS_UNAVAILABLE))
        }
    }
}

/// The caller of one of the hub's own tokens.
pub(crate) fn caller_of(principal: &Principal, credential: Credential) -> Caller {
    Caller {
        id: match principal.subject {
            Subject::Member(id) => CallerId::Member(id),
            Subject::Client(id) => CallerId::Client(id),
        },
        client_id: principal.client_id.clone(),
        organisation: principal.organisation,
        roles: principal.roles.clone(),
        scopes: principal.scopes.clone(),
        purposes: principal.purposes.clone(),
        amr: principal.amr.clone(),
        credential,
        expires_at: principal.expires_at,
    }
}

/// The caller of an external issuer's token: the member its mapping claim names. No member, or
/// an ambiguous one, is a refusal.
async fn external_caller(
    state: &AppState,
    identity: &auth::external::ExternalIdentity,
) -> Result<Caller, Refused> {
    let member = if identity.member_claim == "sub" {
        match uuid::Uuid::parse_str(&identity.member_key) {
            Ok(id) => accounts::member_by_id(&state.db, id).await,
            Err(_) => return Err(refused("member-unknown")),
        }
    } else {
        accounts::member_by_email(&state.db, &identity.member_key).await
    };
    let member = member
        .map_err(|error| {
            tracing::error!(error = %error, "member lookup failed");
            refused(STATUS_UNAVAILABLE)
        })?
        .ok_or_else(|| refused("member-unknown"))?;
    let roles: Vec<Role> = accounts::member_roles(&member).map_err(|error| {
        tracing::error!(error = %error, "member roles unreadable");
        refused(STATUS_UNAVAILABLE)
    })?;
    Ok(Caller {
        id: CallerId::Member(MemberId::from_uuid(member.id)),
        client_id: identity.issuer.clone(),
        organisation: OrganisationId::from_uuid(member.organisation_id),
        roles,
        scopes: Vec::new(),
        purposes: Vec::new(),
        amr: identity.amr.clone(),
        credential: Credential::ExternalToken,
        expires_at: identity.expires_at,
    })
}

async fn audit_refusal(
    state: &AppState,
    meta: RequestMeta,
    refusal: &Refused,
) -> Result<(), AuditUnavailable> {
    let (actor, organisation, client) = match refusal.subject {
        Some((Subject::Member(id), organisation)) => (Actor::Member(id), Some(organisation), None),
        Some((Subject::Client(id), organisation)) => {
            (Actor::Client(id), Some(organisation), Some(id))
        }
        None => (Actor::Anonymous, None, None),
    };
    let mut event = Event::new(AuditAction::TokenRefused, actor, Outcome::Deny);
    event.reason = Some(refusal.reason);
    event.organisation = organisation;
    event.client = client;
    event.checks = &["bearer-token"];
    audit_trail::record(&state.audit, meta, event).await
}

/// `401` per RFC 6750 §3: the scheme, the error, and our stable reason code in the body.
fn invalid_token(reason: &'static str) -> Response {
    let www_authenticate = format!(
        "Bearer realm=\"wijkhub\", error=\"invalid_token\", error_description=\"{reason}\""
    );
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "errors": [{
                "message": "the access token is not valid",
                "extensions": { "code": "INVALID_TOKEN", "reason": reason }
            }]
        })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&www_authenticate) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn unavailable_response() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        Json(json!({
            "errors": [{
                "message": "authentication is unavailable",
                "extensions": { "code": "UNAVAILABLE" }
            }]
        })),
    )
        .into_response()
}
