//! Shared test harness: a fresh database per test (SQLite in a temp dir, and PostgreSQL when
//! `WIJKHUB_TEST_DATABASE_URL` is set, as a new `wh_test_<random>` database), the audit
//! migration applied, a fixed test signing key, sample entries, and a raw connection for
//! changing the database behind the application's back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../../migrations/src/m20261123_000002_audit_log.rs"]
mod audit_migration;
#[path = "../../../../migrations/src/m20261123_000009_audit_purges.rs"]
mod purge_migration;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use audit::{Actor, AuditAction, Code, NewEntry, OnBehalfOf, Outcome, SigningKey, VerifierKey};
use domain::{
    Category, ClientId, MemberId, OrganisationId, PlanId, Purpose, ResidentId, Role, SectionId,
};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use sea_orm_migration::{MigrationTrait, SchemaManager};
use tempfile::TempDir;

pub const TEST_KEY_NAME: &str = "wijkhub.test/audit";

/// The published test key: PKCS#8 v1 of the Ed25519 seed 0x00, 0x01, ..., 0x1f.
pub fn test_pkcs8() -> Vec<u8> {
    let mut pkcs8 = hex::decode("302e020100300506032b657004220420").unwrap();
    pkcs8.extend(0u8..32);
    pkcs8
}

pub fn test_key() -> SigningKey {
    SigningKey::from_pkcs8(TEST_KEY_NAME, &test_pkcs8()).unwrap()
}

pub fn test_verifier() -> VerifierKey {
    test_key().verifier_key()
}

pub struct TestDb {
    pub db: DatabaseConnection,
    pub url: String,
    pub label: &'static str,
    pub dir: TempDir,
    pub sqlite_path: Option<PathBuf>,
}

impl TestDb {
    pub fn export_path(&self) -> PathBuf {
        self.dir.path().join("checkpoints.txt")
    }

    /// A second, independent connection pool: what an attacker or a broken tool would use.
    pub async fn raw(&self) -> DatabaseConnection {
        connect(&self.url).await
    }

    /// Runs statements on a raw connection with the append-only triggers out of the way.
    pub async fn tamper(&self, statements: &[&str]) {
        let raw = self.raw().await;
        match raw.get_database_backend() {
            DbBackend::Sqlite => {
                for trigger in [
                    "audit_entries_no_update",
                    "audit_entries_no_delete",
                    "audit_checkpoints_no_update",
                    "audit_checkpoints_no_delete",
                ] {
                    raw.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {trigger}"))
                        .await
                        .unwrap();
                }
            }
            _ => {
                raw.execute_unprepared("ALTER TABLE audit_entries DISABLE TRIGGER USER")
                    .await
                    .unwrap();
                raw.execute_unprepared("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")
                    .await
                    .unwrap();
            }
        }
        for statement in statements {
            raw.execute_unprepared(statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        raw.close().await.unwrap();
    }

    pub fn is_sqlite(&self) -> bool {
        self.sqlite_path.is_some()
    }
}

pub async fn connect(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5));
    options.map_sqlx_sqlite_opts(|o| {
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
    });
    Database::connect(options).await.unwrap()
}

pub async fn migrate(db: &DatabaseConnection) {
    let manager = SchemaManager::new(db);
    audit_migration::Migration.up(&manager).await.unwrap();
    purge_migration::Migration.up(&manager).await.unwrap();
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let db = connect(&url).await;
    migrate(&db).await;
    TestDb {
        db,
        url,
        label: "sqlite",
        dir,
        sqlite_path: Some(path),
    }
}

/// A fresh PostgreSQL database, or `None` when `WIJKHUB_TEST_DATABASE_URL` is unset.
pub async fn postgres() -> Option<TestDb> {
    let server = std::env::var("WIJKHUB_TEST_DATABASE_URL").ok()?;
    let admin = connect(&server).await;
    let name = format!("wh_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let db = connect(&url).await;
    migrate(&db).await;
    Some(TestDb {
        db,
        url,
        label: "postgres",
        dir: tempfile::tempdir().unwrap(),
        sqlite_path: None,
    })
}

/// SQLite always; PostgreSQL too when configured.
pub async fn databases() -> Vec<TestDb> {
    let mut all = vec![sqlite().await];
    all.extend(postgres().await);
    all
}

/// A varied, realistic entry: no content, no names but the asserted acting user's.
pub fn sample_entry(i: u64) -> NewEntry {
    let member = MemberId::from_uuid(uuid::Uuid::from_u128(0x1000 + u128::from(i % 7)));
    let client = ClientId::from_uuid(uuid::Uuid::from_u128(0x2000 + u128::from(i % 3)));
    let actor = if i.is_multiple_of(2) {
        Actor::Member(member)
    } else {
        Actor::Client(client)
    };
    let outcome = if i.is_multiple_of(5) {
        Outcome::Deny
    } else {
        Outcome::Permit
    };
    let mut entry = NewEntry::new(AuditAction::ResidentRead, actor, outcome);
    entry.time = audit::now_micros();
    entry.organisation = Some(OrganisationId::from_uuid(uuid::Uuid::from_u128(
        0x3000 + u128::from(i % 4),
    )));
    entry.role = Some(if i.is_multiple_of(2) {
        Role::Coach
    } else {
        Role::ProviderWorker
    });
    entry.resident = Some(ResidentId::from_uuid(uuid::Uuid::from_u128(
        0x4000 + u128::from(i % 11),
    )));
    entry.plan = Some(PlanId::from_uuid(uuid::Uuid::from_u128(
        0x5000 + u128::from(i % 11),
    )));
    if i.is_multiple_of(3) {
        entry.section = Some(SectionId::from_uuid(uuid::Uuid::from_u128(
            0x6000 + u128::from(i),
        )));
        entry.revision = Some(i as i64);
    }
    entry.categories_returned = [Category::Goals, Category::Agreements]
        .into_iter()
        .collect();
    if outcome == Outcome::Deny {
        entry.categories_denied = [Category::Health].into_iter().collect();
        entry.reason = Some(Code::parse("role-forbids-category").unwrap());
    }
    entry.purpose = Some(Purpose::Support);
    entry.basis = Some(
        Code::parse(&format!(
            "consent:{}",
            uuid::Uuid::from_u128(0x7000 + u128::from(i % 5))
        ))
        .unwrap(),
    );
    entry.checks = [
        "authenticated",
        "role-matrix",
        "care-relation",
        "objection",
        "consent",
    ]
    .iter()
    .map(|check| Code::parse(check).unwrap())
    .collect();
    entry.request_id = Some(Code::parse(&format!("req-{i}")).unwrap());
    entry.source_address = Some(if i.is_multiple_of(2) {
        IpAddr::from([10, 0, 0, 7])
    } else {
        "2001:db8::7".parse().unwrap()
    });
    if let Actor::Client(client) = actor {
        entry.client = Some(client);
        entry.on_behalf_of =
            Some(OnBehalfOf::new(Code::parse("emp-42").unwrap(), "J. de Vries").unwrap());
    }
    entry
}

pub fn fast_config(db: &TestDb) -> audit::WriterConfig {
    audit::WriterConfig {
        commit_timeout_ms: 500,
        ack_timeout_ms: 2_000,
        export_path: Some(db.export_path()),
        origin_prefix: TEST_KEY_NAME.to_owned(),
        ..audit::WriterConfig::default()
    }
}
