//! Audit log throughput on this machine: appends per second with group commit versus one
//! transaction per entry (SQLite, WAL, `synchronous=FULL`), the batch sizes that formed, the
//! speed of `verify`, and FG query latency.
//!
//! `cargo run --release -p wijkhub-audit --example audit_bench -- [VERIFY_ENTRIES]`
//! Set `WIJKHUB_TEST_DATABASE_URL` (postgres://...) to run the same against PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../migrations/src/m20261123_000002_audit_log.rs"]
mod audit_migration;
#[path = "../../../migrations/src/m20261123_000009_audit_purges.rs"]
mod purge_migration;

use std::time::{Duration, Instant};

use audit::{Actor, AuditAction, AuditFilter, Code, NewEntry, Outcome, WriterConfig};
use domain::{Category, MemberId, OrganisationId, Purpose, ResidentId, Role};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use sea_orm_migration::{MigrationTrait, SchemaManager};

fn entry(i: u64) -> NewEntry {
    let mut entry = NewEntry::new(
        AuditAction::ResidentRead,
        Actor::Member(MemberId::from_uuid(uuid::Uuid::from_u128(u128::from(
            i % 250,
        )))),
        if i.is_multiple_of(10) {
            Outcome::Deny
        } else {
            Outcome::Permit
        },
    );
    entry.organisation = Some(OrganisationId::from_uuid(uuid::Uuid::from_u128(
        u128::from(i % 8),
    )));
    entry.role = Some(Role::Coach);
    entry.resident = Some(ResidentId::from_uuid(uuid::Uuid::from_u128(
        1_000_000 + u128::from(i % 28_000),
    )));
    entry.categories_returned = [Category::Goals, Category::Agreements, Category::Actions]
        .into_iter()
        .collect();
    entry.purpose = Some(Purpose::Support);
    entry.basis = Some(Code::parse("consent:0192f3a0-0000-7000-8000-0000000000f1").unwrap());
    entry.checks = ["authenticated", "role-matrix", "care-relation", "consent"]
        .iter()
        .map(|c| Code::parse(c).unwrap())
        .collect();
    entry.request_id = Some(Code::parse(&format!("req-{i}")).unwrap());
    entry.source_address = Some("192.0.2.10".parse().unwrap());
    entry
}

async fn open(label: &str, dir: &std::path::Path) -> DatabaseConnection {
    let url = match std::env::var("WIJKHUB_TEST_DATABASE_URL") {
        Ok(server) => {
            let admin = Database::connect(server.clone()).await.unwrap();
            let name = format!("wh_bench_{}", uuid::Uuid::new_v4().simple());
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            format!("{}/{name}", server.rsplit_once('/').unwrap().0)
        }
        Err(_) => format!(
            "sqlite://{}?mode=rwc",
            dir.join(format!("{label}.sqlite")).display()
        ),
    };
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(false)
        .max_connections(8)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
        });
    let db = Database::connect(options).await.unwrap();
    audit_migration::Migration
        .up(&SchemaManager::new(&db))
        .await
        .unwrap();
    purge_migration::Migration
        .up(&SchemaManager::new(&db))
        .await
        .unwrap();
    db
}

/// `n` entries from `concurrency` tasks; returns (entries per second, stats).
async fn appends(
    db: &DatabaseConnection,
    pkcs8: &[u8],
    max_batch: usize,
    n: u64,
    concurrency: u64,
) -> (f64, audit::WriterStats) {
    let key = audit::SigningKey::from_pkcs8("bench/audit", pkcs8).unwrap();
    let config = WriterConfig {
        max_batch,
        ack_timeout_ms: 60_000,
        commit_timeout_ms: 30_000,
        ..WriterConfig::default()
    };
    let writer = audit::start(db.clone(), config, key).await.unwrap();
    let log = writer.log();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task_idx in 0..concurrency {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = task_idx;
            while i < n {
                log.submit(entry(i)).await.unwrap();
                i += concurrency;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    writer.shutdown().await.unwrap();
    (rate, log.stats())
}

#[tokio::main]
async fn main() {
    let verify_entries: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let pkcs8 = audit::generate_signing_key().unwrap();
    let backend = if std::env::var("WIJKHUB_TEST_DATABASE_URL").is_ok() {
        "postgres"
    } else {
        "sqlite"
    };
    println!("backend: {backend}");

    // `-- N verify-only`: skip the append rounds and the raw fetch (fill, verify, queries only).
    let verify_only = std::env::args().nth(2).as_deref() == Some("verify-only");
    // Interleaved: A B A B, medians reported by the reader from the lines.
    for round in (0..2).filter(|_| !verify_only) {
        let db = open(&format!("single{round}"), dir.path()).await;
        let (rate, stats) = appends(&db, &pkcs8, 1, 3_000, 64).await;
        println!(
            "round {round}: one transaction per entry: {rate:>9.0} appends/s ({} batches)",
            stats.committed_batches
        );
        for max_batch in [16usize, 64, 256, 1000] {
            let db = open(&format!("group{round}-{max_batch}"), dir.path()).await;
            let submitters = (max_batch as u64).max(64);
            let (rate, stats) = appends(&db, &pkcs8, max_batch, 30_000, submitters).await;
            println!(
                "round {round}: group commit (max {max_batch:>4}, {submitters:>4} submitters): {rate:>9.0} appends/s ({} batches, mean {:.1}, largest {})",
                stats.committed_batches,
                stats.committed_entries as f64 / stats.committed_batches as f64,
                stats.largest_batch
            );
        }
    }

    let db = open("verify", dir.path()).await;
    let started = Instant::now();
    let (rate, stats) = appends(&db, &pkcs8, 1000, verify_entries, 1024).await;
    println!(
        "filled {verify_entries} entries in {:.1} s ({rate:.0}/s, {} checkpoints)",
        started.elapsed().as_secs_f64(),
        stats.checkpoints
    );
    // Where verify's time goes: fetching rows through sea-orm/sqlx alone, without decoding.
    let started = Instant::now();
    let mut fetched = 0usize;
    let mut from = 0i64;
    loop {
        if verify_only {
            break;
        }
        let rows = db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                db.get_database_backend(),
                format!(
                    "SELECT {} FROM audit_entries WHERE seq >= {from} ORDER BY chain_id, seq LIMIT 20000",
                    audit::ENTRY_COLUMNS.join(", ")
                ),
                [],
            ))
            .await
            .unwrap();
        if rows.is_empty() {
            break;
        }
        fetched += rows.len();
        from += rows.len() as i64;
    }
    let elapsed = started.elapsed();
    println!(
        "fetch only: {fetched} rows in {:.2} s = {:.0} rows/s",
        elapsed.as_secs_f64(),
        fetched as f64 / elapsed.as_secs_f64()
    );
    let verifier = audit::SigningKey::from_pkcs8("bench/audit", &pkcs8)
        .unwrap()
        .verifier_key();
    // Interleaved A B A B: the shipped fast path (leaf hash straight from the column bytes) and
    // every row decoded in full (the path before it).
    for round in 0..2 {
        for (label, fast) in [("fast path", true), ("decoding every row", false)] {
            let started = Instant::now();
            let report = if fast {
                audit::verify(&db, &verifier, None, |_, _| {}).await
            } else {
                audit::verify_decoding_every_row(&db, &verifier, None, |_, _| {}).await
            }
            .unwrap();
            let elapsed = started.elapsed();
            println!(
                "round {round}: verify ({label}): {} entries in {:.2} s = {:.0} entries/s ({} problems)",
                report.entries_checked,
                elapsed.as_secs_f64(),
                report.entries_checked as f64 / elapsed.as_secs_f64(),
                report.problems.len()
            );
        }
    }

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let percentiles = |label: &str, mut latencies: Vec<Duration>| {
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        println!(
            "{label}: p50 {:.2} ms, p99 {:.2} ms ({} runs)",
            ms(at(0.5)),
            ms(at(0.99)),
            latencies.len()
        );
    };
    let resident = |i: u128| ResidentId::from_uuid(uuid::Uuid::from_u128(1_000_000 + i * 97));
    let mut latencies = Vec::new();
    for i in 0..200u128 {
        let filter = AuditFilter {
            resident: Some(resident(i)),
            ..AuditFilter::default()
        };
        let started = Instant::now();
        let page = audit::search(&db, &filter, 50, None).await.unwrap();
        latencies.push(started.elapsed());
        assert!(!page.entries.is_empty());
    }
    percentiles("search by resident (first 50)", latencies);
    let mut latencies = Vec::new();
    for i in 0..200u128 {
        let filter = AuditFilter {
            actor_id: Some(uuid::Uuid::from_u128(i % 250)),
            ..AuditFilter::default()
        };
        let started = Instant::now();
        let first = audit::search(&db, &filter, 50, None).await.unwrap();
        let cursor = first.next.unwrap();
        audit::search(&db, &filter, 50, Some(&cursor))
            .await
            .unwrap();
        latencies.push(started.elapsed() / 2);
    }
    percentiles(
        "search by actor (a page of 50, first and second)",
        latencies,
    );
    let mut latencies = Vec::new();
    for _ in 0..50 {
        let filter = AuditFilter {
            outcome: Some(Outcome::Deny),
            from: Some(chrono::Utc::now() - chrono::Duration::days(1)),
            ..AuditFilter::default()
        };
        let started = Instant::now();
        audit::search(&db, &filter, 50, None).await.unwrap();
        latencies.push(started.elapsed());
    }
    percentiles("search by outcome in the last day (first 50)", latencies);
    let mut latencies = Vec::new();
    let mut rows = 0;
    for i in 0..200u128 {
        let started = Instant::now();
        let report = audit::access_report(
            &db,
            resident(i),
            chrono::Utc::now() - chrono::Duration::days(365),
            chrono::Utc::now() + chrono::Duration::days(1),
        )
        .await
        .unwrap();
        latencies.push(started.elapsed());
        rows += report.len();
    }
    percentiles(
        &format!(
            "access report of one resident (~{} entries)",
            verify_entries / 28_000
        ),
        latencies,
    );
    assert!(rows > 0);
}
