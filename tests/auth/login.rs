//! Console login: sessions and their cookie, the second factor, brute force on one account,
//! password spraying across many, locks that show and lift, disabled members.

use std::time::Duration;

use domain::Role;
use serde_json::{Value, json};
use server::auth::admin::NewPassword;

use crate::support::{AuthHub, GEMEENTE, WIJKTEAM, totp_code};

const PASSWORD: &str = "correct horse battery staple";

struct Answer {
    status: u16,
    retry_after: Option<String>,
    cookie: Option<String>,
    set_cookie: Option<String>,
    body: Value,
}

async fn login(hub: &AuthHub, body: Value, cookie: Option<&str>) -> Answer {
    let mut request = hub.hub.http.post(hub.url("/auth/login")).json(&body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let retry_after = header("retry-after");
    let set_cookie = header("set-cookie");
    let body: Value = response.json().await.unwrap();
    Answer {
        status,
        retry_after,
        cookie: set_cookie
            .as_deref()
            .map(|value| value.split(';').next().unwrap().to_owned()),
        set_cookie,
        body,
    }
}

async fn viewer_with_cookie(hub: &AuthHub, cookie: &str) -> Value {
    let response = hub
        .hub
        .http
        .post(hub.url("/graphql"))
        .header("cookie", cookie)
        .json(&json!({"query": "{ viewer { kind credential roles authenticationMethods } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn post_with_cookie(
    hub: &AuthHub,
    path: &str,
    cookie: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut request = hub.hub.http.post(hub.url(path)).header("cookie", cookie);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let set_cookie = response.headers().get("set-cookie").map(|value| {
        value
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    });
    let body = response.json().await.unwrap_or(Value::Null);
    (status, set_cookie, body)
}

#[tokio::test]
async fn a_member_logs_in_with_a_session_cookie_rotated_at_every_login() {
    let hub = AuthHub::start().await;
    hub.add_member("coach@test.example", WIJKTEAM, Role::Coach, PASSWORD)
        .await;
    let first = login(
        &hub,
        json!({"email": "Coach@Test.example ", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["status"], "logged-in");
    let attributes = first.set_cookie.unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(attributes.contains(attribute), "{attributes}");
    }
    // http:// issuer (the tests): not Secure; behind TLS the cookie is Secure and __Host-.
    assert!(!attributes.contains("Secure"), "{attributes}");
    let cookie = first.cookie.unwrap();
    let body = viewer_with_cookie(&hub, &cookie).await;
    assert_eq!(body["data"]["viewer"]["kind"], "MEMBER", "{body}");
    assert_eq!(body["data"]["viewer"]["credential"], "SESSION");
    assert_eq!(body["data"]["viewer"]["roles"], json!(["coach"]));
    assert_eq!(hub.audit_count("auth.login", None).await, 1);

    // Logging in again with the old cookie: a new id, and the old session ends.
    let second = login(
        &hub,
        json!({"email": "coach@test.example", "password": PASSWORD}),
        Some(&cookie),
    )
    .await;
    assert_eq!(second.status, 200);
    let new_cookie = second.cookie.unwrap();
    assert_ne!(new_cookie, cookie);
    let body = viewer_with_cookie(&hub, &cookie).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body}"
    );
    let body = viewer_with_cookie(&hub, &new_cookie).await;
    assert_eq!(body["data"]["viewer"]["kind"], "MEMBER");

    // Logout ends it.
    let (status, cleared, _) = post_with_cookie(&hub, "/auth/logout", &new_cookie, None).await;
    assert_eq!(status, 204);
    assert_eq!(cleared.as_deref(), Some("wijkhub_session="));
    let body = viewer_with_cookie(&hub, &new_cookie).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_unknown_account_gets_the_same_answer_as_a_wrong_password() {
    let hub = AuthHub::start().await;
    hub.add_member("coach@test.example", WIJKTEAM, Role::Coach, PASSWORD)
        .await;
    let wrong = login(
        &hub,
        json!({"email": "coach@test.example", "password": "not it at all"}),
        None,
    )
    .await;
    let unknown = login(
        &hub,
        json!({"email": "nobody@test.example", "password": "not it at all"}),
        None,
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(unknown.body, wrong.body);
    assert!(wrong.cookie.is_none() && unknown.cookie.is_none());
    assert_eq!(
        hub.audit_count("auth.login-failed", Some("bad-credentials"))
            .await,
        1
    );
    assert_eq!(
        hub.audit_count("auth.login-failed", Some("unknown-account"))
            .await,
        1
    );
    assert_eq!(hub.rows("console_sessions").await, 0, "nothing created");
}

#[tokio::test]
async fn brute_force_on_one_account_locks_it_visibly_until_unlocked() {
    let hub = AuthHub::start().await;
    hub.add_member("coach@test.example", WIJKTEAM, Role::Coach, PASSWORD)
        .await;
    let mut statuses = Vec::new();
    for attempt in 0..6 {
        let answer = login(
            &hub,
            json!({"email": "coach@test.example", "password": format!("guess {attempt}")}),
            None,
        )
        .await;
        statuses.push(answer.status);
        if answer.status == 429 {
            let retry_after: u64 = answer.retry_after.unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry_after), "{retry_after}");
            assert_eq!(answer.body["error"], "TOO_MANY_ATTEMPTS");
        }
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
    assert_eq!(
        hub.audit_count("auth.lockout", Some("account-locked"))
            .await,
        1
    );

    // Locked: even the right password waits, and no argon2 work is spent on it.
    let answer = login(
        &hub,
        json!({"email": "coach@test.example", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(answer.status, 429);
    assert!(answer.cookie.is_none());

    // Visible to administrators, and lifted by them.
    let admin = hub.admin().await;
    let listed = admin.list_members().await.unwrap();
    let coach = listed
        .iter()
        .find(|m| m.email == "coach@test.example")
        .unwrap();
    assert!(
        coach.locked_until.is_some(),
        "the lock shows in `members list`"
    );
    assert_eq!(coach.failed_logins, 5);
    assert!(
        admin
            .unlock_member("coach@test.example")
            .await
            .unwrap()
            .is_some()
    );
    admin.close().await.unwrap();
    let answer = login(
        &hub,
        json!({"email": "coach@test.example", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_lock_lifts_by_itself() {
    let hub = AuthHub::start_with(|config| {
        config.auth.throttle.account_max_failures = 2;
        config.auth.throttle.account_lock_seconds = 1;
    })
    .await;
    hub.add_member("coach@test.example", WIJKTEAM, Role::Coach, PASSWORD)
        .await;
    for _ in 0..2 {
        login(
            &hub,
            json!({"email": "coach@test.example", "password": "nope nope nope"}),
            None,
        )
        .await;
    }
    let answer = login(
        &hub,
        json!({"email": "coach@test.example", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(answer.status, 429);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answer = login(
        &hub,
        json!({"email": "coach@test.example", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn password_spraying_across_many_accounts_throttles_the_source() {
    let hub = AuthHub::start().await;
    hub.add_member("coach@test.example", WIJKTEAM, Role::Coach, PASSWORD)
        .await;
    // One password tried on twenty accounts: no account reaches its own limit.
    let mut last = None;
    for idx in 0..20 {
        let answer = login(
            &hub,
            json!({"email": format!("user{idx}@test.example"), "password": "Welkom2026!"}),
            None,
        )
        .await;
        last = Some(answer.status);
    }
    assert_eq!(
        last,
        Some(429),
        "the 20th failure from one source throttles it"
    );
    assert_eq!(
        hub.audit_count("request.rate-limited", Some("source-throttled"))
            .await,
        1
    );
    // The source now waits, whichever account it tries, even with the right password.
    let answer = login(
        &hub,
        json!({"email": "coach@test.example", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(answer.status, 429);
    assert!(answer.retry_after.is_some());
    assert_eq!(hub.rows("console_sessions").await, 0, "nothing created");
}

#[tokio::test]
async fn privileged_members_must_use_a_second_factor() {
    let hub = AuthHub::start().await;
    hub.add_member(
        "beheer@test.example",
        GEMEENTE,
        Role::Administrator,
        PASSWORD,
    )
    .await;

    // Not enrolled yet: the password opens enrolment only.
    let first = login(
        &hub,
        json!({"email": "beheer@test.example", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["status"], "second-factor-enrolment-required");
    let cookie = first.cookie.unwrap();
    let body = viewer_with_cookie(&hub, &cookie).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body}"
    );

    let (status, _, enrolment) = post_with_cookie(&hub, "/auth/totp/enrol", &cookie, None).await;
    assert_eq!(status, 200, "{enrolment}");
    let uri = enrolment["provisioning_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/wijkhub:beheer%40test.example?"),
        "{uri}"
    );
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now().timestamp();
    let (status, _, _) = post_with_cookie(
        &hub,
        "/auth/totp/confirm",
        &cookie,
        Some(json!({"code": "000000"})),
    )
    .await;
    assert_eq!(status, 401, "a wrong first code does not enrol");
    let (status, strong_cookie, confirmed) = post_with_cookie(
        &hub,
        "/auth/totp/confirm",
        &cookie,
        Some(json!({"code": totp_code(&secret, now)})),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    let recovery: Vec<String> =
        serde_json::from_value(confirmed["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);
    let strong_cookie = strong_cookie.unwrap();
    assert_ne!(
        strong_cookie, cookie,
        "a new session id for the stronger session"
    );
    let body = viewer_with_cookie(&hub, &strong_cookie).await;
    assert_eq!(
        body["data"]["viewer"]["authenticationMethods"],
        json!(["pwd", "otp"]),
        "{body}"
    );

    // Enrolled: the password alone is not enough.
    let answer = login(
        &hub,
        json!({"email": "beheer@test.example", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["error"], "SECOND_FACTOR_REQUIRED");
    assert!(answer.cookie.is_none());
    // The code of the next step (the confirmation used this one).
    let code = totp_code(&secret, now + 30);
    let answer = login(
        &hub,
        json!({"email": "beheer@test.example", "password": PASSWORD, "otp": code}),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["authentication_methods"], json!(["pwd", "otp"]));
    // The same code again: refused (a code is accepted once).
    let answer = login(
        &hub,
        json!({"email": "beheer@test.example", "password": PASSWORD, "otp": code}),
        None,
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["error"], "INVALID_SECOND_FACTOR");
    // A recovery code works once.
    let answer = login(
        &hub,
        json!({"email": "beheer@test.example", "password": PASSWORD, "recovery_code": recovery[3]}),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = login(
        &hub,
        json!({"email": "beheer@test.example", "password": PASSWORD, "recovery_code": recovery[3]}),
        None,
    )
    .await;
    assert_eq!(answer.status, 401);
    assert!(
        hub.audit_count("account.changed", Some("totp-enrolled"))
            .await
            == 1
    );
}

#[tokio::test]
async fn a_disabled_member_cannot_log_in_and_its_sessions_end() {
    let hub = AuthHub::start().await;
    hub.add_member("coach@test.example", WIJKTEAM, Role::Coach, PASSWORD)
        .await;
    let answer = login(
        &hub,
        json!({"email": "coach@test.example", "password": PASSWORD}),
        None,
    )
    .await;
    let cookie = answer.cookie.unwrap();
    let admin = hub.admin().await;
    admin.disable_member("coach@test.example").await.unwrap();
    admin.close().await.unwrap();
    let body = viewer_with_cookie(&hub, &cookie).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let answer = login(
        &hub,
        json!({"email": "coach@test.example", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.body["error"], "INVALID_CREDENTIALS",
        "the same answer as a wrong password"
    );
    assert_eq!(
        hub.audit_count("auth.login-failed", Some("member-disabled"))
            .await,
        1
    );
}

#[tokio::test]
async fn a_password_hash_is_upgraded_at_login_when_the_parameters_change() {
    let hub = AuthHub::start_with(|config| config.auth.password.memory_kib = 2048).await;
    // Created by an administrator whose configuration still has the old parameters.
    let mut old_config = hub.config.clone();
    old_config.auth.password.memory_kib = 1024;
    let admin = server::auth::admin::Admin::open_with_db(&old_config, hub.db.clone())
        .await
        .unwrap();
    admin
        .add_member(
            "coach@test.example",
            "Coach",
            WIJKTEAM,
            &[Role::Coach],
            NewPassword::Given(PASSWORD.to_owned().into()),
        )
        .await
        .unwrap();
    admin.close().await.unwrap();
    let stored = || async {
        let member = store::accounts::member_by_email(&hub.db, "coach@test.example")
            .await
            .unwrap()
            .unwrap();
        member.password_hash.unwrap().0
    };
    assert!(stored().await.contains("m=1024"));
    let answer = login(
        &hub,
        json!({"email": "coach@test.example", "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(
        stored().await.contains("m=2048"),
        "rehashed with the configured parameters"
    );
}
