//! Audit entries of authentication events: every login, failed login, lockout, token issued or
//! refused, and credential change (DESIGN §7, issue 4).
//!
//! The entry is committed before the answer leaves; when it cannot be, the request fails with
//! `AUDIT_UNAVAILABLE` (503) and nothing is granted. Entries carry ids and codes only: never a
//! login name, a password, a token or a secret.

use std::net::IpAddr;

use audit::{Actor, AuditAction, AuditLog, Code, NewEntry, Outcome};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::{ClientId, OrganisationId, Role};
use serde_json::json;

use crate::RequestId;

/// Where a request came from, for its audit entries.
#[derive(Clone, Copy, Debug)]
pub struct RequestMeta {
    pub request_id: Option<RequestId>,
    pub source: Option<IpAddr>,
}

/// What to record about one event.
pub struct Event {
    pub action: AuditAction,
    pub actor: Actor,
    pub outcome: Outcome,
    pub organisation: Option<OrganisationId>,
    pub role: Option<Role>,
    pub client: Option<ClientId>,
    /// A stable reason code (`bad-credentials`, `expired`, ...).
    pub reason: Option<&'static str>,
    /// The checks applied, in order (`client-secret`, `scope`, `password`, `otp`, ...).
    pub checks: &'static [&'static str],
}

impl Event {
    pub fn new(action: AuditAction, actor: Actor, outcome: Outcome) -> Event {
        Event {
            action,
            actor,
            outcome,
            organisation: None,
            role: None,
            client: None,
            reason: None,
            checks: &[],
        }
    }
}

/// The audit log could not take the entry: the request fails closed.
#[derive(Debug, Clone, Copy)]
pub struct AuditUnavailable;

impl IntoResponse for AuditUnavailable {
    fn into_response(self) -> Response {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(http::header::RETRY_AFTER, "1")],
            Json(json!({
                "error": "AUDIT_UNAVAILABLE",
                "errors": [{
                    "message": "the audit log is unavailable; nothing was done",
                    "extensions": { "code": "AUDIT_UNAVAILABLE" }
                }]
            })),
        )
            .into_response()
    }
}

fn code(text: &str) -> Option<Code> {
    match Code::parse(text) {
        Ok(code) => Some(code),
        Err(_) => {
            tracing::error!("an audit code is not a valid code");
            None
        }
    }
}

/// Commits the entry; returns only once it is durable.
pub async fn record(
    log: &AuditLog,
    meta: RequestMeta,
    event: Event,
) -> Result<(), AuditUnavailable> {
    let mut entry = NewEntry::new(event.action, event.actor, event.outcome);
    entry.organisation = event.organisation;
    entry.role = event.role;
    entry.client = event.client;
    entry.reason = event.reason.and_then(code);
    entry.checks = event
        .checks
        .iter()
        .filter_map(|check| code(check))
        .collect();
    entry.request_id = meta.request_id.and_then(|id| code(&id.0.to_string()));
    entry.source_address = meta.source;
    match log.submit(entry).await {
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::error!(error = %error, action = event.action.as_str(), "audit entry not written; request refused");
            Err(AuditUnavailable)
        }
    }
}
