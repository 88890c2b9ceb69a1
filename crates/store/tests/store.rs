//! The store against a real database: SQLite in a temporary directory, or PostgreSQL when
//! `WIJKHUB_TEST_DATABASE_URL` is set (the pragma test is SQLite's own and always runs there).

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns too

use chrono::Utc;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, Statement, TransactionTrait};
use store::entity::{organisation_networks, organisations};
use store::seed::{self, SeedOutcome};
use store::{SchemaStatus, StoreError};
use testkit::TestDb;
use uuid::Uuid;

/// The tables of DESIGN §4 that the core migration creates.
const CORE_TABLES: &[&str] = &[
    "networks",
    "organisations",
    "organisation_networks",
    "members",
    "clients",
    "residents",
    "representatives",
    "plans",
    "sections",
    "section_revisions",
    "care_relations",
    "consents",
    "objections",
    "audit_entries",
    "audit_checkpoints",
];

/// The demo seed, the one place these tests call it, under keys that live only in memory.
async fn seed_demo(db: &store::Db, now: chrono::DateTime<Utc>) -> Result<SeedOutcome, StoreError> {
    let keys = crypto::ephemeral_key_ring().expect("test keys");
    seed::demo(db, &keys, now).await
}

fn all_migrations() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect()
}

#[tokio::test]
async fn migrations_run_up_on_a_fresh_database() {
    let test_db = TestDb::new().await;
    let db = test_db.connect().await;
    assert_eq!(
        db.schema_status().await.expect("status"),
        SchemaStatus::Behind {
            pending: all_migrations()
        }
    );

    let applied = db.migrate().await.expect("migrate");
    assert_eq!(applied, all_migrations());
    assert_eq!(
        db.schema_status().await.expect("status"),
        SchemaStatus::Current
    );
    assert!(db.ready().await.expect("ready"));

    let snapshot = testkit::snapshot(&db).await;
    for table in CORE_TABLES {
        assert_eq!(snapshot.rows(table), 0, "{table} exists and is empty");
    }

    assert_eq!(
        db.migrate().await.expect("second migrate"),
        Vec::<String>::new()
    );
    assert_eq!(
        testkit::snapshot(&db).await,
        snapshot,
        "a second migrate changes nothing"
    );
}

#[tokio::test]
async fn migrations_run_down_and_up_again() {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    let migrated = testkit::snapshot(&db).await;

    Migrator::down(db.conn(), None).await.expect("down");
    assert_eq!(
        db.schema_status().await.expect("status"),
        SchemaStatus::Behind {
            pending: all_migrations()
        }
    );
    db.migrate().await.expect("up again");
    assert_eq!(testkit::snapshot(&db).await, migrated);
}

#[tokio::test]
async fn a_database_one_migration_behind_is_brought_up_to_date() {
    let test_db = TestDb::new().await;
    let db = test_db.connect().await;
    let known = all_migrations();
    let n_first = u32::try_from(known.len() - 1).expect("few migrations");
    Migrator::up(db.conn(), Some(n_first))
        .await
        .expect("first migrations");

    let last = known.last().expect("a migration").clone();
    assert_eq!(
        db.schema_status().await.expect("status"),
        SchemaStatus::Behind {
            pending: vec![last.clone()]
        }
    );
    assert!(!db.ready().await.expect("ready"), "not ready while behind");
    assert_eq!(db.migrate().await.expect("migrate"), vec![last]);
    assert_eq!(
        db.schema_status().await.expect("status"),
        SchemaStatus::Current
    );
}

#[tokio::test]
async fn a_newer_schema_is_reported_and_never_migrated() {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    testkit::record_future_migration(&db).await;
    let before = testkit::snapshot(&db).await;

    let newer = SchemaStatus::Newer {
        unknown: vec![testkit::FUTURE_MIGRATION.to_owned()],
    };
    assert_eq!(db.schema_status().await.expect("status"), newer);
    assert!(!db.ready().await.expect("ready"));
    let error = db.migrate().await.expect_err("must refuse");
    assert!(
        matches!(&error, StoreError::NewerSchema { unknown } if unknown == &[testkit::FUTURE_MIGRATION]),
        "{error}"
    );
    assert!(
        error.to_string().contains("newer than this binary"),
        "{error}"
    );
    assert_eq!(testkit::snapshot(&db).await, before, "nothing was written");
}

/// Every pooled connection, not just the first, has WAL, `synchronous=FULL` and foreign keys:
/// hold several transactions open at once so each runs on a connection of its own.
#[tokio::test]
async fn sqlite_pragmas_hold_on_every_pooled_connection() {
    const N_CONNECTIONS: usize = 4;
    let test_db = TestDb::sqlite();
    let mut config = test_db.db_config();
    config.max_connections = u32::try_from(N_CONNECTIONS).expect("small");
    let db = store::Db::connect(&config).await.expect("connect");
    db.migrate().await.expect("migrate");

    let mut transactions = Vec::new();
    for _ in 0..N_CONNECTIONS {
        transactions.push(db.conn().begin().await.expect("begin"));
    }
    for tx in &transactions {
        let pragma = |name: &'static str| async move {
            tx.query_one_raw(Statement::from_string(
                tx.get_database_backend(),
                format!("PRAGMA {name}"),
            ))
            .await
            .expect("pragma")
            .expect("a row")
        };
        let journal_mode: String = pragma("journal_mode")
            .await
            .try_get_by_index(0)
            .expect("text");
        assert_eq!(journal_mode, "wal");
        let synchronous: i64 = pragma("synchronous")
            .await
            .try_get_by_index(0)
            .expect("int");
        assert_eq!(synchronous, 2, "2 is FULL");
        let foreign_keys: i64 = pragma("foreign_keys")
            .await
            .try_get_by_index(0)
            .expect("int");
        assert_eq!(foreign_keys, 1);
    }
    for tx in transactions {
        tx.rollback().await.expect("rollback");
    }
}

#[tokio::test]
async fn seeding_twice_does_not_duplicate() {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    let now = Utc::now();

    let outcome = seed_demo(&db, now).await.expect("seed");
    let SeedOutcome::Seeded {
        organisations,
        members,
        clients,
        ..
    } = outcome
    else {
        panic!("the first run seeds: {outcome:?}");
    };
    let seeded = testkit::snapshot(&db).await;
    assert_eq!(seeded.rows("networks"), 1);
    assert_eq!(
        seeded.rows("organisations"),
        i64::try_from(organisations).expect("small")
    );
    assert_eq!(
        seeded.rows("members"),
        i64::try_from(members).expect("small")
    );
    assert_eq!(
        seeded.rows("clients"),
        i64::try_from(clients).expect("small")
    );

    assert_eq!(
        seed_demo(&db, now).await.expect("second seed"),
        SeedOutcome::AlreadySeeded
    );
    assert_eq!(testkit::snapshot(&db).await, seeded, "nothing duplicated");
}

#[tokio::test]
async fn a_foreign_key_violation_is_refused() {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    let now = Utc::now();
    let before = testkit::snapshot(&db).await;

    let orphan = organisation_networks::ActiveModel {
        organisation_id: Set(Uuid::now_v7()), // no such organisation
        network_id: Set(Uuid::now_v7()),      // nor network
    };
    let error = organisation_networks::Entity::insert(orphan)
        .exec_without_returning(db.conn())
        .await
        .expect_err("a link between nothing and nothing was stored");
    check_foreign_key_error(&error);
    assert_eq!(testkit::snapshot(&db).await, before);

    // And a referenced row cannot be deleted from under its references.
    seed_demo(&db, now).await.expect("seed");
    let organisation = organisations::Entity::find()
        .one(db.conn())
        .await
        .expect("query")
        .expect("a seeded organisation");
    let seeded = testkit::snapshot(&db).await;
    let error = organisations::Entity::delete_by_id(organisation.id)
        .exec(db.conn())
        .await
        .expect_err("an organisation with members was deleted");
    check_foreign_key_error(&error);
    assert_eq!(testkit::snapshot(&db).await, seeded);
}

/// Every JSON column can be compared with a bound JSON value, as a compare-and-set does. On
/// PostgreSQL a plain `json` column cannot (`operator does not exist: json = jsonb`).
#[tokio::test]
async fn every_json_column_compares_by_value() {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    let conn = db.conn();
    let backend = conn.get_database_backend();
    let columns_sql = match db.backend() {
        store::Backend::Sqlite => {
            "SELECT m.name AS t, p.name AS c FROM sqlite_master AS m, pragma_table_info(m.name) AS p \
             WHERE m.type = 'table' AND lower(p.type) LIKE '%json%'"
        }
        store::Backend::Postgres => {
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() AND data_type IN ('json', 'jsonb')"
        }
    };
    let columns = conn
        .query_all_raw(Statement::from_string(backend, columns_sql))
        .await
        .expect("list JSON columns");
    assert!(
        columns.len() >= 5,
        "too few JSON columns found: {}",
        columns.len()
    );
    let placeholder = match db.backend() {
        store::Backend::Sqlite => "?",
        store::Backend::Postgres => "$1",
    };
    for column in columns {
        let table: String = column.try_get("", "t").expect("table");
        let column: String = column.try_get("", "c").expect("column");
        let sql =
            format!("SELECT COUNT(*) AS n FROM \"{table}\" WHERE \"{column}\" = {placeholder}");
        let value = sea_orm::Value::from(serde_json::json!(["a", "b"]));
        conn.query_one_raw(Statement::from_sql_and_values(backend, sql, [value]))
            .await
            .unwrap_or_else(|error| panic!("{table}.{column} cannot be compared: {error}"));
    }
}

#[track_caller]
fn check_foreign_key_error(error: &sea_orm::DbErr) {
    let message = error.to_string().to_lowercase();
    assert!(
        message.contains("foreign key"),
        "not a foreign-key refusal: {error}"
    );
}
