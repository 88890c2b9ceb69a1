//! `/healthz` (the process is up) and `/readyz` (the database answers and its schema is the
//! one this binary expects), and the start-up refusals that keep a wrong schema from serving.

use reqwest::StatusCode;
use serde_json::Value;
use server::StartError;
use store::StoreError;
use testkit::{TestDb, TestHub};

async fn get(hub: &TestHub, path: &str) -> (StatusCode, String) {
    let res = hub.http.get(hub.url(path)).send().await.expect("request");
    let status = res.status();
    (status, res.text().await.expect("body"))
}

#[track_caller]
fn check_not_ready(status: StatusCode, body: &str, reason: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let body: Value = serde_json::from_str(body).expect("readyz answers JSON");
    assert_eq!(body["status"], "not-ready", "{body}");
    assert_eq!(body["reason"], reason, "{body}");
}

#[tokio::test]
async fn healthz_and_readyz_answer_on_a_current_schema() {
    let test_db = TestDb::new().await;
    let hub = TestHub::start(test_db.config()).await;

    let (status, body) = get(&hub, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ok");

    let (status, body) = get(&hub, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["status"], "ready");

    hub.stop().await;
}

/// A migration row removed behind the hub's back (a rollback by hand) makes it not ready.
#[tokio::test]
async fn readyz_is_503_when_a_migration_is_pending() {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    let hub = TestHub::start_with_db(test_db.config(), db.clone()).await;
    assert_eq!(get(&hub, "/readyz").await.0, StatusCode::OK);

    let last = testkit::last_applied_migration(&db).await;
    testkit::exec(
        &db,
        &format!("DELETE FROM seaql_migrations WHERE version = '{last}'"),
    )
    .await;

    let (status, body) = get(&hub, "/readyz").await;
    check_not_ready(status, &body, "migrations-pending");
    assert_eq!(
        get(&hub, "/healthz").await.0,
        StatusCode::OK,
        "liveness does not depend on the database"
    );
    hub.stop().await;
}

/// A newer binary migrated the database while this one runs (a rollback of the binary): not
/// ready, and the reason says which way the schema is off.
#[tokio::test]
async fn readyz_names_a_schema_newer_than_the_binary() {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    let hub = TestHub::start_with_db(test_db.config(), db.clone()).await;
    assert_eq!(get(&hub, "/readyz").await.0, StatusCode::OK);

    testkit::record_future_migration(&db).await;
    let (status, body) = get(&hub, "/readyz").await;
    check_not_ready(status, &body, "schema-newer-than-binary");
    hub.stop().await;
}

/// The pool closed under the hub: not ready, and the reason says so; still alive.
#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone() {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    let hub = TestHub::start_with_db(test_db.config(), db.clone()).await;
    assert_eq!(get(&hub, "/readyz").await.0, StatusCode::OK);

    db.conn().close_by_ref().await.expect("close the pool");

    let (status, body) = get(&hub, "/readyz").await;
    check_not_ready(status, &body, "database-unreachable");
    assert_eq!(get(&hub, "/healthz").await.0, StatusCode::OK);
    hub.stop().await;
}

#[tokio::test]
async fn pending_migrations_refuse_to_start_without_migrate_on_start() {
    let test_db = TestDb::new().await;
    let mut config = test_db.config();
    config.database.migrate_on_start = false;

    let error = TestHub::try_start(config).await.expect_err("must refuse");
    let StartError::MigrationsPending { pending } = &error else {
        panic!("wrong refusal: {error}");
    };
    assert!(!pending.is_empty());
    assert!(error.to_string().contains("wijkhub migrate"), "{error}");

    let db = test_db.connect().await;
    assert_eq!(
        db.schema_status().await.expect("status"),
        store::SchemaStatus::Behind {
            pending: pending.clone()
        },
        "nothing was migrated"
    );
}

#[tokio::test]
async fn a_newer_schema_refuses_to_start() {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    testkit::record_future_migration(&db).await;
    let before = testkit::snapshot(&db).await;

    let error = TestHub::try_start(test_db.config())
        .await
        .expect_err("must refuse");
    assert!(
        matches!(&error, StartError::Store(StoreError::NewerSchema { unknown }) if unknown == &[testkit::FUTURE_MIGRATION]),
        "wrong refusal: {error}"
    );
    assert_eq!(testkit::snapshot(&db).await, before, "nothing was written");
}
