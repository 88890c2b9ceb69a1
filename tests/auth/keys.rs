//! The hub's keys: signing keys persist across restarts and rotate without refusing tokens
//! already out; the auth key file is required in production and must be private; the database
//! alone holds no usable private key; the demo's credentials are written once and kept.

use std::time::Duration;

use serde_json::Value;
use server::auth::admin::DemoCredentialsOutcome;
use server::{App, Profile};
use testkit::{TestDb, TestHub};

use crate::support::AuthHub;

async fn jwks_kids(hub: &AuthHub) -> Vec<String> {
    let jwks: Value = hub
        .hub
        .http
        .get(hub.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn status_of(hub: &AuthHub, token: &str) -> u16 {
    hub.graphql(Some(&format!("Bearer {token}")), "{ viewer { id } }")
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_jwks_holds_public_keys_only() {
    let hub = AuthHub::start().await;
    let response = hub
        .hub
        .http
        .get(hub.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let jwks: Value = response.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["alg"], "EdDSA");
    assert!(key["kid"].is_string());
    assert!(key.get("d").is_none(), "no private part");
}

#[tokio::test]
async fn tokens_and_keys_survive_a_restart() {
    let hub = AuthHub::start().await;
    // Restarting `hub`'s own server on the same database and key file.
    let token = hub.client_token().await;
    let kids = jwks_kids(&hub).await;
    let AuthHub {
        db,
        hub: running,
        config,
        ..
    } = hub;
    running.stop().await;
    drop(db);
    // A stopped hub closes its pool: connect again, as a restarted process would.
    let db = store::Db::connect(&config.database).await.unwrap();
    let again = TestHub::start_with_db(config.clone(), db).await;
    let response = again
        .http
        .post(again.url("/graphql"))
        .header("authorization", format!("Bearer {token}"))
        .json(&serde_json::json!({"query": "{ viewer { kind } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "a token from before the restart still verifies"
    );
    let jwks: Value = again
        .http
        .get(again.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], kids[0].as_str());
}

#[tokio::test]
async fn rotation_keeps_tokens_valid_until_the_old_key_is_retired() {
    let hub = AuthHub::start_with(|config| config.auth.key_reload_seconds = 1).await;
    let old_token = hub.client_token().await;
    let old_kid = jwks_kids(&hub).await.remove(0);

    let admin = hub.admin().await;
    let keys = admin.rotate_signing_key().await.unwrap();
    admin.close().await.unwrap();
    assert_eq!(keys.len(), 2);
    let new_kid = keys.iter().find(|key| key.current).unwrap().kid.clone();
    assert_ne!(new_kid, old_kid);
    assert!(
        AuthHub::eventually(Duration::from_secs(5), || async {
            jwks_kids(&hub).await.len() == 2
        })
        .await,
        "the running hub picks up the rotation"
    );
    // Two keys active: the old token verifies, new tokens are signed with the new key.
    assert_eq!(status_of(&hub, &old_token).await, 200);
    let new_token = hub.client_token().await;
    assert_eq!(status_of(&hub, &new_token).await, 200);
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            new_token.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], new_kid.as_str());

    let admin = hub.admin().await;
    admin.retire_signing_key(&old_kid).await.unwrap();
    admin.close().await.unwrap();
    assert!(
        AuthHub::eventually(Duration::from_secs(5), || async {
            status_of(&hub, &old_token).await == 401
        })
        .await,
        "a retired key's tokens are refused"
    );
    assert!(
        hub.audit_count("auth.token-refused", Some("unknown-kid"))
            .await
            >= 1
    );
    assert_eq!(status_of(&hub, &new_token).await, 200);
    assert_eq!(hub.audit_count("key.operation", None).await, 2);
}

#[tokio::test]
async fn production_refuses_to_start_without_the_auth_key_file() {
    let test_db = TestDb::new().await;
    let mut config = test_db.config();
    config.profile = Profile::Production;
    config.auth.key_file = config.auth.key_file.with_file_name("missing-auth-keys");
    let error = App::build(config)
        .await
        .err()
        .expect("must refuse")
        .to_string();
    assert!(!error.contains('\n'), "one line: {error}");
    assert!(error.contains("missing-auth-keys"), "{error}");
    assert!(error.contains("wijkhub keys init-auth"), "{error}");
}

#[tokio::test]
async fn production_refuses_a_plain_http_issuer_elsewhere_than_loopback() {
    let test_db = TestDb::new().await;
    let mut config = test_db.config();
    config.profile = Profile::Production;
    config.auth.tokens.issuer = "http://wijkhub.gemeente.example".into();
    let error = App::build(config)
        .await
        .err()
        .expect("must refuse")
        .to_string();
    assert!(error.contains("https://"), "{error}");
}

#[cfg(unix)]
#[tokio::test]
async fn an_auth_key_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let test_db = TestDb::new().await;
    let config = test_db.config();
    std::fs::set_permissions(
        &config.auth.key_file,
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let error = App::build(config)
        .await
        .err()
        .expect("must refuse")
        .to_string();
    assert!(error.contains("chmod 600"), "{error}");
}

#[tokio::test]
async fn the_database_alone_holds_no_usable_signing_key() {
    let hub = AuthHub::start().await;
    let signer = hub.signer().await;
    // The stored row is ciphertext: the private key's bytes are not in it in any encoding.
    let conn = hub.db.conn();
    let row = sea_orm::ConnectionTrait::query_one_raw(
        conn,
        sea_orm::Statement::from_string(
            sea_orm::ConnectionTrait::get_database_backend(conn),
            "SELECT sealed_keys FROM auth_key_sets",
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let sealed: Vec<u8> = row.try_get("", "sealed_keys").unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(&signer.kid));
    assert!(!String::from_utf8_lossy(&sealed).contains("pkcs8"));

    // Another deployment's key file cannot open it: the hub refuses to start.
    let AuthHub {
        db,
        hub: running,
        mut config,
        ..
    } = hub;
    running.stop().await;
    drop(db);
    let db = store::Db::connect(&config.database).await.unwrap();
    let other = tempfile::tempdir().unwrap();
    config.auth.key_file = other.path().join("auth-keys");
    server::auth::AuthKeys::create(&config.auth.key_file).unwrap();
    let error = App::build_with_db(config, db)
        .await
        .err()
        .expect("must refuse")
        .to_string();
    assert!(error.contains("cannot be opened"), "{error}");
}

#[tokio::test]
async fn demo_credentials_are_written_once_work_and_are_kept() {
    let test_db = TestDb::new().await;
    let mut config = test_db.config();
    crate::support::fast_passwords(&mut config);
    let db = test_db.migrated().await;
    let ring = config.keys.load().unwrap();
    store::seed::demo(&db, &ring, chrono::Utc::now())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo-credentials.json");
    let admin = server::auth::admin::Admin::open_with_db(&config, db.clone())
        .await
        .unwrap();
    let issuer = config.auth.tokens.issuer.clone();
    assert_eq!(
        admin.ensure_demo_credentials(&path, &issuer).await.unwrap(),
        DemoCredentialsOutcome::Written
    );
    let first = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        admin.ensure_demo_credentials(&path, &issuer).await.unwrap(),
        DemoCredentialsOutcome::Kept
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        first,
        "a second run keeps them"
    );
    admin.close().await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let credentials: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(credentials["members"].as_array().unwrap().len(), 7);
    let with_totp: Vec<&str> = credentials["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|member| member.get("totp").is_some())
        .map(|member| member["email"].as_str().unwrap())
        .collect();
    assert_eq!(with_totp, ["fg@noordwest.demo", "beheer@noordwest.demo"]);

    // They work: a partner client's secret and the privacy officer's password with TOTP.
    let hub = TestHub::start_with_db(config.clone(), db.clone()).await;
    let client = &credentials["clients"][0];
    let response = hub
        .http
        .post(hub.url("/oauth/token"))
        .basic_auth(
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str(),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let fg = credentials["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|member| member["email"] == "fg@noordwest.demo")
        .unwrap();
    let code = crate::support::totp_code(
        fg["totp"]["secret"].as_str().unwrap(),
        chrono::Utc::now().timestamp(),
    );
    let response = hub
        .http
        .post(hub.url("/auth/login"))
        .json(&serde_json::json!({"email": fg["email"], "password": fg["password"], "otp": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    hub.stop().await;
    let db = store::Db::connect(&config.database).await.unwrap();

    // Changed behind the file's back (a password reset): the next run writes new ones.
    let admin = server::auth::admin::Admin::open_with_db(&config, db.clone())
        .await
        .unwrap();
    admin
        .reset_password(
            "coach@noordwest.demo",
            server::auth::admin::NewPassword::Generate,
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        admin.ensure_demo_credentials(&path, &issuer).await.unwrap(),
        DemoCredentialsOutcome::Written
    );
    admin.close().await.unwrap();
}
