//! Console login for members: `POST /auth/login` (password, then TOTP or a recovery code when
//! enrolled), `POST /auth/logout`, and TOTP enrolment (`POST /auth/totp/enrol`, `/auth/totp/confirm`).
//!
//! Exists so staff can use the console with a session cookie (`HttpOnly`, `SameSite=Strict`,
//! `Secure` and the `__Host-` name behind TLS; a new id at every login; idle and absolute
//! timeouts). The privacy officer and the administrator must use a second factor: without one
//! enrolled, their session reaches enrolment only. An unknown account costs the same argon2 work
//! as a wrong password and gets the same answer; repeated failures lock the account (stored, so
//! every instance and the CLI see it; it lifts by itself) and throttle the source, answered with
//! `429` and `Retry-After`. Every login, failure, lockout and enrolment is audited before the
//! answer. Must never log a login name, password, code or session id.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use api::{Caller, CallerId, Credential};
use audit::{Actor, AuditAction, Outcome};
use auth::AuthError;
use auth::session::{SessionIdHash, SessionState, new_session_id, session_state};
use auth::throttle::Decision;
use auth::token::Subject;
use auth::totp::{
    RECOVERY_CODES, RecoveryCodeHash, TotpSecret, generate_recovery_codes, provisioning_uri,
    verify_recovery_code, verify_totp,
};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::{MemberId, OrganisationId, Purpose, Role};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use store::{StoreError, accounts};

use super::CONSOLE_CLIENT_ID;
use super::audit_trail::{self, Event, RequestMeta};
use super::status::Standing;
use crate::RequestId;
use crate::app::AppState;

/// The sealed TOTP secret's label (with the member id as context).
pub(crate) const TOTP_SEAL_LABEL: &str = "members.totp_secret_ciphertext";
/// Longest password or code looked at.
const MAX_FIELD: usize = 1024;

/// Whether a member must use a second factor (NEN 7513: strong authentication for the logs).
pub(crate) fn needs_second_factor(roles: &[Role]) -> bool {
    roles.iter().any(|role| match role {
        Role::PrivacyOfficer | Role::Administrator => true,
        Role::Coach | Role::Triagist | Role::WelfareWorker | Role::ProviderWorker => false,
    })
}

/// Whether a member has confirmed a TOTP enrolment (a sealed secret with an accepted step; a
/// secret without a step is an enrolment not yet confirmed).
pub(crate) fn totp_enrolled(member: &accounts::Member) -> bool {
    member.totp_secret_ciphertext.is_some() && member.totp_last_step.is_some()
}

pub(crate) fn cookie_name(state: &AppState) -> &'static str {
    if state.auth.settings.tls() {
        "__Host-wijkhub_session"
    } else {
        "wijkhub_session"
    }
}

/// The session cookie's value, if the request carries exactly one.
fn session_cookie(state: &AppState, headers: &HeaderMap) -> Option<SecretString> {
    let name = cookie_name(state);
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((key, value)) = pair.trim().split_once('=')
                && key == name
            {
                if found.is_some() {
                    return None;
                }
                found = Some(SecretString::from(value.to_owned()));
            }
        }
    }
    found
}

fn set_cookie(state: &AppState, value: &SecretString) -> Option<HeaderValue> {
    let secure = if state.auth.settings.tls() {
        "; Secure"
    } else {
        ""
    };
    let max_age = state.auth.session_config().absolute_timeout_seconds;
    HeaderValue::from_str(&format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        cookie_name(state),
        value.expose_secret()
    ))
    .ok()
}

fn clear_cookie(state: &AppState) -> Option<HeaderValue> {
    let secure = if state.auth.settings.tls() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        cookie_name(state)
    ))
    .ok()
}

/// A live session and its member, or none (no cookie, unknown, ended, timed out: a timed-out
/// session is ended on the way).
async fn live_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(accounts::Session, accounts::Member, DateTime<Utc>)>, StoreError> {
    let Some(cookie) = session_cookie(state, headers) else {
        return Ok(None);
    };
    let id_hash = SessionIdHash::of(&cookie).to_hex();
    let Some(session) = accounts::live_session(&state.db, &id_hash).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    let expires_at = match session_state(
        session.created_at,
        session.last_seen_at,
        now,
        state.auth.session_config(),
    ) {
        SessionState::Active { touch, expires_at } => {
            if touch {
                accounts::touch_session(&state.db, &id_hash, now).await?;
            }
            expires_at
        }
        SessionState::IdleExpired | SessionState::AbsoluteExpired => {
            accounts::end_session(&state.db, &id_hash, now).await?;
            return Ok(None);
        }
    };
    let Some(member) = accounts::member_by_id(&state.db, session.member_id).await? else {
        return Ok(None);
    };
    Ok(Some((session, member, expires_at)))
}

fn session_amr(session: &accounts::Session) -> Vec<String> {
    serde_json::from_value(session.amr.clone()).unwrap_or_default()
}

/// The caller behind a console session cookie on `/graphql`, or none. A session of a member who
/// must use a second factor but logged in without one (enrolment pending) is not a caller.
pub(crate) async fn session_caller(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Caller>, StoreError> {
    let Some((session, member, expires_at)) = live_session(state, headers).await? else {
        return Ok(None);
    };
    let member_id = MemberId::from_uuid(member.id);
    let organisation = OrganisationId::from_uuid(member.organisation_id);
    let standing = state
        .auth
        .status
        .standing(&state.db, Subject::Member(member_id), organisation)
        .await?;
    if standing != Standing::Active {
        accounts::end_session(&state.db, &session.id_hash, Utc::now()).await?;
        return Ok(None);
    }
    let roles = accounts::member_roles(&member)?;
    let amr = session_amr(&session);
    if needs_second_factor(&roles) && !amr.iter().any(|method| method == "otp") {
        return Ok(None);
    }
    Ok(Some(Caller {
        id: CallerId::Member(member_id),
        client_id: CONSOLE_CLIENT_ID.to_owned(),
        organisation,
        roles,
        scopes: Vec::new(),
        // Which purpose a member may declare is the policy's question, per request.
        purposes: Purpose::ALL.to_vec(),
        amr,
        credential: Credential::Session,
        expires_at,
    }))
}

// ---------------------------------------------------------------- answers

fn answer(status: StatusCode, code: &'static str, message: &'static str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": code, "message": message })),
    )
        .into_response()
}

fn too_many(retry_after: std::time::Duration) -> Response {
    let mut response = answer(
        StatusCode::TOO_MANY_REQUESTS,
        "TOO_MANY_ATTEMPTS",
        "too many failed logins; try again later",
    );
    if let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn bad_credentials() -> Response {
    answer(
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
        "e-mail address or password is wrong",
    )
}

fn internal(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error, "login failure");
    answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        "internal error",
    )
}

fn busy() -> Response {
    let mut response = answer(
        StatusCode::SERVICE_UNAVAILABLE,
        "BUSY",
        "too many logins in progress; try again",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn parse_json<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Option<T> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return None;
    }
    serde_json::from_slice(body).ok()
}

fn invalid_request() -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
        "expected a JSON body with the required fields",
    )
}

// ---------------------------------------------------------------- login

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
    #[serde(default)]
    otp: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

impl Drop for LoginBody {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
        if let Some(code) = &mut self.recovery_code {
            zeroize::Zeroize::zeroize(code);
        }
    }
}

/// The second factor a login presented.
enum SecondFactor {
    None,
    Otp(String),
    Recovery(SecretString),
}

struct Attempt<'a> {
    state: &'a AppState,
    meta: RequestMeta,
    source: IpAddr,
    /// The normalised login name: the throttle's key, never logged.
    account: String,
    member: Option<accounts::Member>,
    now: DateTime<Utc>,
}

impl Attempt<'_> {
    fn actor(&self) -> (Actor, Option<OrganisationId>) {
        match &self.member {
            Some(member) => (
                Actor::Member(MemberId::from_uuid(member.id)),
                Some(OrganisationId::from_uuid(member.organisation_id)),
            ),
            None => (Actor::Anonymous, None),
        }
    }

    async fn audit(
        &self,
        action: AuditAction,
        outcome: Outcome,
        reason: Option<&'static str>,
        checks: &'static [&'static str],
    ) -> Result<(), Response> {
        let (actor, organisation) = self.actor();
        let mut event = Event::new(action, actor, outcome);
        event.organisation = organisation;
        event.reason = reason;
        event.checks = checks;
        event.role = self
            .member
            .as_ref()
            .and_then(|member| accounts::member_roles(member).ok())
            .and_then(|roles| roles.first().copied());
        audit_trail::record(&self.state.audit, self.meta, event)
            .await
            .map_err(IntoResponse::into_response)
    }

    /// A refusal before any password work (locked account, throttled source).
    async fn throttled(&self, retry_after: std::time::Duration, reason: &'static str) -> Response {
        match self
            .audit(
                AuditAction::LoginFailed,
                Outcome::Deny,
                Some(reason),
                &["throttle"],
            )
            .await
        {
            Ok(()) => too_many(retry_after),
            Err(response) => response,
        }
    }

    /// A failed password or second factor: counted, stored, audited (with the lockout it caused).
    async fn failed(&self, reason: &'static str, answer: Response) -> Response {
        let outcome = self
            .state
            .auth
            .throttle
            .record_failure(&self.account, self.source, self.now);
        if let Some(member) = &self.member
            && let Err(error) = accounts::record_login_failure(
                &self.state.db,
                member.id,
                outcome.account_locked_until,
                self.now,
            )
            .await
        {
            return internal(&error);
        }
        if let Err(response) = self
            .audit(
                AuditAction::LoginFailed,
                Outcome::Deny,
                Some(reason),
                &["throttle", "password"],
            )
            .await
        {
            return response;
        }
        if let Some(until) = outcome.account_locked_until {
            tracing::warn!("account locked after repeated failed logins");
            if let Err(response) = self
                .audit(
                    AuditAction::Lockout,
                    Outcome::Deny,
                    Some("account-locked"),
                    &["throttle"],
                )
                .await
            {
                return response;
            }
            return too_many(duration_until(until, self.now));
        }
        if let Some(until) = outcome.source_throttled_until {
            tracing::warn!(source = %self.source, "login source throttled");
            if let Err(response) = self
                .audit(
                    AuditAction::RateLimited,
                    Outcome::Deny,
                    Some("source-throttled"),
                    &["throttle"],
                )
                .await
            {
                return response;
            }
            return too_many(duration_until(until, self.now));
        }
        answer
    }
}

fn duration_until(until: DateTime<Utc>, now: DateTime<Utc>) -> std::time::Duration {
    let seconds = (until - now).num_seconds().max(1);
    std::time::Duration::from_secs(u64::try_from(seconds).unwrap_or(1))
}

/// `POST /auth/login`.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request_id: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(mut body) = parse_json::<LoginBody>(&headers, &body) else {
        return invalid_request();
    };
    let too_long = body.email.len() > 320
        || body.password.len() > MAX_FIELD
        || body.otp.as_ref().is_some_and(|otp| otp.len() > 16)
        || body
            .recovery_code
            .as_ref()
            .is_some_and(|code| code.len() > 64);
    if too_long || body.email.trim().is_empty() {
        return invalid_request();
    }
    let password = SecretString::from(std::mem::take(&mut body.password));
    let second_factor = match (body.otp.take(), body.recovery_code.take()) {
        (Some(otp), None) => SecondFactor::Otp(otp),
        (None, Some(code)) => SecondFactor::Recovery(SecretString::from(code)),
        (None, None) => SecondFactor::None,
        (Some(_), Some(_)) => return invalid_request(),
    };
    let account = accounts::normalise_email(&body.email);
    let member = match accounts::member_by_email(&state.db, &account).await {
        Ok(member) => member,
        Err(error) => return internal(&error),
    };
    let attempt = Attempt {
        state: &state,
        meta: RequestMeta {
            request_id: request_id.map(|id| id.0),
            source: Some(peer.ip()),
        },
        source: peer.ip(),
        account,
        member,
        now: Utc::now(),
    };
    let previous_session = session_cookie(&state, &headers);
    login_attempt(attempt, password, second_factor, previous_session).await
}

async fn login_attempt(
    attempt: Attempt<'_>,
    password: SecretString,
    second_factor: SecondFactor,
    previous_session: Option<SecretString>,
) -> Response {
    let state = attempt.state;
    let auth = &state.auth;
    let now = attempt.now;

    // Locks first: the stored one (every instance, lifted by `wijkhub members unlock`), then
    // this instance's throttle. An unlock by an administrator clears this instance's lock too.
    if let Some(member) = &attempt.member {
        match member.locked_until {
            Some(until) if until > now => {
                return attempt
                    .throttled(duration_until(until, now), "account-locked")
                    .await;
            }
            None if auth.throttle.lock_status(&attempt.account, now).is_some() => {
                auth.throttle.unlock(&attempt.account);
            }
            _ => {}
        }
    }
    if let Decision::Throttled { retry_after } =
        auth.throttle.check(&attempt.account, attempt.source, now)
    {
        return attempt.throttled(retry_after, "throttled").await;
    }

    // The password, against the member's hash or the dummy one: the same work either way.
    let stored = attempt
        .member
        .as_ref()
        .and_then(|member| member.password_hash.as_ref())
        .map(|hash| hash.0.clone());
    let verified = auth.passwords.verify_async(password.clone(), stored).await;
    let verified = match verified {
        Ok(verified) => verified,
        Err(AuthError::Busy) => return busy(),
        Err(AuthError::StoredHashInvalid) => {
            tracing::error!("a stored password hash is invalid");
            return attempt
                .failed("stored-hash-invalid", bad_credentials())
                .await;
        }
        Err(_) => {
            let reason = if attempt.member.is_some() {
                "bad-credentials"
            } else {
                "unknown-account"
            };
            return attempt.failed(reason, bad_credentials()).await;
        }
    };
    let Some(member) = attempt.member.clone() else {
        // Unreachable: an unknown account never verifies. Refuse anyway.
        return attempt.failed("unknown-account", bad_credentials()).await;
    };

    // The right password for an account that may not log in: the same answer as a wrong one.
    let member_id = MemberId::from_uuid(member.id);
    let organisation = OrganisationId::from_uuid(member.organisation_id);
    match super::status::read_standing(&state.db, Subject::Member(member_id), organisation).await {
        Ok(Standing::Active) => {}
        Ok(Standing::Refused(reason)) => {
            return match attempt
                .audit(
                    AuditAction::LoginFailed,
                    Outcome::Deny,
                    Some(reason),
                    &["password", "status"],
                )
                .await
            {
                Ok(()) => bad_credentials(),
                Err(response) => response,
            };
        }
        Err(error) => return internal(&error),
    }
    let roles = match accounts::member_roles(&member) {
        Ok(roles) => roles,
        Err(error) => return internal(&error),
    };

    let enrolled = totp_enrolled(&member);
    let mut amr = vec!["pwd".to_owned()];
    if enrolled {
        match check_second_factor(state, &member, second_factor, now).await {
            Ok(()) => amr.push("otp".to_owned()),
            Err(SecondFactorRefusal::Missing) => {
                return match attempt
                    .audit(
                        AuditAction::LoginFailed,
                        Outcome::Deny,
                        Some("second-factor-required"),
                        &["password", "otp"],
                    )
                    .await
                {
                    Ok(()) => answer(
                        StatusCode::UNAUTHORIZED,
                        "SECOND_FACTOR_REQUIRED",
                        "send the password again with `otp` or `recovery_code`",
                    ),
                    Err(response) => response,
                };
            }
            Err(SecondFactorRefusal::Rejected(reason)) => {
                return attempt
                    .failed(
                        reason,
                        answer(
                            StatusCode::UNAUTHORIZED,
                            "INVALID_SECOND_FACTOR",
                            "the one-time code or recovery code is wrong or was used already",
                        ),
                    )
                    .await;
            }
            Err(SecondFactorRefusal::Internal(error)) => return internal(&error),
        }
    }

    if verified.needs_rehash {
        match auth.passwords.hash_async(password).await {
            Ok(hash) => {
                if let Err(error) =
                    accounts::set_password_hash(&state.db, member.id, hash, now).await
                {
                    return internal(&error);
                }
            }
            Err(error) => tracing::warn!(
                error = error.code(),
                "password rehash failed; kept the old hash"
            ),
        }
    }
    auth.throttle.record_success(&attempt.account);
    if (member.failed_logins != 0 || member.locked_until.is_some())
        && let Err(error) = accounts::clear_login_failures(&state.db, member.id, now).await
    {
        return internal(&error);
    }

    // A new session id at every login; the one the browser had (if any) ends.
    if let Some(previous) = previous_session
        && let Err(error) =
            accounts::end_session(&state.db, &SessionIdHash::of(&previous).to_hex(), now).await
    {
        return internal(&error);
    }
    let enrolment_required = !enrolled && needs_second_factor(&roles);
    let checks: &'static [&'static str] = if enrolled {
        &["throttle", "password", "status", "otp"]
    } else {
        &["throttle", "password", "status"]
    };
    let (cookie, id_hash) = match start_session(state, member.id, &amr, now).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let reason = enrolment_required.then_some("second-factor-enrolment-required");
    if let Err(response) = attempt
        .audit(AuditAction::Login, Outcome::Permit, reason, checks)
        .await
    {
        let _ = accounts::end_session(&state.db, &id_hash, now).await;
        return response;
    }
    let mut response = (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "status": if enrolment_required { "second-factor-enrolment-required" } else { "logged-in" },
            "member": {
                "id": member.id,
                "name": member.name,
                "organisation_id": member.organisation_id,
                "roles": roles.iter().map(|role| role.as_str()).collect::<Vec<_>>(),
            },
            "authentication_methods": amr,
        })),
    )
        .into_response();
    if let Some(value) = set_cookie(state, &cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn start_session(
    state: &AppState,
    member: uuid::Uuid,
    amr: &[String],
    now: DateTime<Utc>,
) -> Result<(SecretString, String), Response> {
    let (cookie, hash) = new_session_id().map_err(|error| internal(&error))?;
    let id_hash = hash.to_hex();
    accounts::insert_session(&state.db, id_hash.clone(), member, amr, now)
        .await
        .map_err(|error| internal(&error))?;
    Ok((cookie, id_hash))
}

enum SecondFactorRefusal {
    Missing,
    Rejected(&'static str),
    Internal(StoreError),
}

fn open_totp_secret(state: &AppState, member: &accounts::Member) -> Option<TotpSecret> {
    let sealed = member.totp_secret_ciphertext.as_ref()?;
    let plain = state
        .auth
        .seal
        .open(TOTP_SEAL_LABEL, member.id.as_bytes(), sealed)
        .ok()?;
    let text = std::str::from_utf8(&plain).ok()?;
    TotpSecret::from_base32(&SecretString::from(text.to_owned())).ok()
}

fn unix_seconds(now: DateTime<Utc>) -> u64 {
    u64::try_from(now.timestamp()).unwrap_or(0)
}

async fn check_second_factor(
    state: &AppState,
    member: &accounts::Member,
    second_factor: SecondFactor,
    now: DateTime<Utc>,
) -> Result<(), SecondFactorRefusal> {
    match second_factor {
        SecondFactor::None => Err(SecondFactorRefusal::Missing),
        SecondFactor::Otp(code) => {
            let Some(secret) = open_totp_secret(state, member) else {
                tracing::error!("a stored TOTP secret cannot be opened");
                return Err(SecondFactorRefusal::Rejected("otp-secret-invalid"));
            };
            let last = member
                .totp_last_step
                .and_then(|step| u64::try_from(step).ok());
            let step = verify_totp(&secret, &code, unix_seconds(now), last)
                .map_err(|error| SecondFactorRefusal::Rejected(error.code()))?;
            let step =
                i64::try_from(step).map_err(|_| SecondFactorRefusal::Rejected("otp-rejected"))?;
            // Once across every instance: only the login that advances the stored step wins.
            match accounts::advance_totp_step(&state.db, member.id, step, now).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(SecondFactorRefusal::Rejected("otp-replayed")),
                Err(error) => Err(SecondFactorRefusal::Internal(error)),
            }
        }
        SecondFactor::Recovery(code) => {
            let stored =
                accounts::recovery_code_hashes(member).map_err(SecondFactorRefusal::Internal)?;
            let hashes: Vec<RecoveryCodeHash> = stored
                .iter()
                .filter_map(|hex| RecoveryCodeHash::from_hex(hex).ok())
                .collect();
            if hashes.len() != stored.len() {
                tracing::error!("a stored recovery code hash is invalid");
            }
            let idx = verify_recovery_code(&code, &hashes)
                .map_err(|error| SecondFactorRefusal::Rejected(error.code()))?;
            let remaining: Vec<String> = hashes
                .iter()
                .enumerate()
                .filter(|(candidate, _)| *candidate != idx)
                .map(|(_, hash)| hash.to_hex())
                .collect();
            match accounts::use_recovery_code(&state.db, member.id, &stored, remaining, now).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(SecondFactorRefusal::Rejected("recovery-code-replayed")),
                Err(error) => Err(SecondFactorRefusal::Internal(error)),
            }
        }
    }
}

// ---------------------------------------------------------------- logout

/// `POST /auth/logout`: ends the session and clears the cookie. Idempotent.
pub(crate) async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(cookie) = session_cookie(&state, &headers)
        && let Err(error) =
            accounts::end_session(&state.db, &SessionIdHash::of(&cookie).to_hex(), Utc::now()).await
    {
        return internal(&error);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(value) = clear_cookie(&state) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

// ---------------------------------------------------------------- TOTP enrolment

fn not_logged_in() -> Response {
    answer(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "log in first")
}

async fn audit_account_change(
    state: &AppState,
    meta: RequestMeta,
    member: &accounts::Member,
    reason: &'static str,
) -> Result<(), Response> {
    let mut event = Event::new(
        AuditAction::AccountChange,
        Actor::Member(MemberId::from_uuid(member.id)),
        Outcome::Permit,
    );
    event.organisation = Some(OrganisationId::from_uuid(member.organisation_id));
    event.reason = Some(reason);
    audit_trail::record(&state.audit, meta, event)
        .await
        .map_err(IntoResponse::into_response)
}

/// `POST /auth/totp/enrol`: a new TOTP secret for the logged-in member, shown once as a
/// provisioning URI (and its base32 text); confirmed with a first code at `/auth/totp/confirm`.
/// Replacing a confirmed enrolment needs a session that used the second factor.
pub(crate) async fn totp_enrol(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request_id: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
) -> Response {
    let (session, member) = match live_session(&state, &headers).await {
        Ok(Some((session, member, _))) => (session, member),
        Ok(None) => return not_logged_in(),
        Err(error) => return internal(&error),
    };
    let used_otp = session_amr(&session).iter().any(|method| method == "otp");
    if totp_enrolled(&member) && !used_otp {
        return answer(
            StatusCode::FORBIDDEN,
            "SECOND_FACTOR_REQUIRED",
            "log in with your current second factor to replace it",
        );
    }
    let now = Utc::now();
    let secret = match TotpSecret::generate() {
        Ok(secret) => secret,
        Err(error) => return internal(&error),
    };
    let uri = match provisioning_uri(&secret, &member.email) {
        Ok(uri) => uri,
        Err(error) => return internal(&error),
    };
    let base32 = secret.to_base32();
    let sealed = match state.auth.seal.seal(
        TOTP_SEAL_LABEL,
        member.id.as_bytes(),
        base32.expose_secret().as_bytes(),
    ) {
        Ok(sealed) => sealed,
        Err(error) => return internal(&error),
    };
    if let Err(error) = accounts::begin_totp_enrolment(&state.db, member.id, sealed, now).await {
        return internal(&error);
    }
    let meta = RequestMeta {
        request_id: request_id.map(|id| id.0),
        source: Some(peer.ip()),
    };
    if let Err(response) =
        audit_account_change(&state, meta, &member, "totp-enrolment-started").await
    {
        return response;
    }
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "provisioning_uri": uri.expose_secret(),
            "secret": base32.expose_secret(),
            "next": "POST /auth/totp/confirm with {\"code\": \"123456\"}",
        })),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    code: String,
}

/// `POST /auth/totp/confirm`: checks a first code, completes the enrolment, shows the recovery
/// codes once, and replaces the session by one that used the second factor.
pub(crate) async fn totp_confirm(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request_id: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(body) = parse_json::<ConfirmBody>(&headers, &body) else {
        return invalid_request();
    };
    let (session, member) = match live_session(&state, &headers).await {
        Ok(Some((session, member, _))) => (session, member),
        Ok(None) => return not_logged_in(),
        Err(error) => return internal(&error),
    };
    if member.totp_secret_ciphertext.is_none() || member.totp_last_step.is_some() {
        return answer(
            StatusCode::CONFLICT,
            "NO_ENROLMENT_PENDING",
            "start with POST /auth/totp/enrol",
        );
    }
    let now = Utc::now();
    let meta = RequestMeta {
        request_id: request_id.map(|id| id.0),
        source: Some(peer.ip()),
    };
    let Some(secret) = open_totp_secret(&state, &member) else {
        return internal(&"sealed TOTP secret cannot be opened");
    };
    let step = match verify_totp(&secret, &body.code, unix_seconds(now), None) {
        Ok(step) => step,
        Err(_) => {
            if let Err(response) =
                audit_account_change(&state, meta, &member, "totp-confirmation-rejected").await
            {
                return response;
            }
            return answer(
                StatusCode::UNAUTHORIZED,
                "INVALID_SECOND_FACTOR",
                "the one-time code is wrong",
            );
        }
    };
    let (codes, hashes) = match generate_recovery_codes(RECOVERY_CODES) {
        Ok(generated) => generated,
        Err(error) => return internal(&error),
    };
    let hashes: Vec<String> = hashes.iter().map(RecoveryCodeHash::to_hex).collect();
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    match accounts::confirm_totp_enrolment(&state.db, member.id, step, hashes, now).await {
        Ok(true) => {}
        Ok(false) => {
            return answer(
                StatusCode::CONFLICT,
                "NO_ENROLMENT_PENDING",
                "the enrolment changed meanwhile; start again",
            );
        }
        Err(error) => return internal(&error),
    }
    if let Err(response) = audit_account_change(&state, meta, &member, "totp-enrolled").await {
        return response;
    }
    // The session's strength changed: a new id for the stronger session.
    if let Err(error) = accounts::end_session(&state.db, &session.id_hash, now).await {
        return internal(&error);
    }
    let amr = vec!["pwd".to_owned(), "otp".to_owned()];
    let (cookie, _) = match start_session(&state, member.id, &amr, now).await {
        Ok(started) => started,
        Err(response) => return response,
    };
    let mut response = (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "status": "enrolled",
            "recovery_codes": codes.iter().map(|code| code.expose_secret()).collect::<Vec<_>>(),
        })),
    )
        .into_response();
    if let Some(value) = set_cookie(&state, &cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
