//! The group-commit writer: entries durable and chained, concurrent submitters share batches,
//! checkpoints at shutdown and in the export file, and every fault fails closed then recovers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use audit::{AuditError, NewEntry, Receipt, WriterConfig};
use common::*;
use sea_orm::ConnectionTrait;

async fn submit_n(log: &audit::AuditLog, from: u64, n: u64) -> Vec<Receipt> {
    let mut receipts = Vec::new();
    for i in from..from + n {
        receipts.push(log.submit(sample_entry(i)).await.unwrap());
    }
    receipts
}

#[track_caller]
fn check_unavailable(result: Result<Receipt, AuditError>, started: Instant, bound: Duration) {
    assert!(matches!(result, Err(AuditError::Unavailable)), "{result:?}");
    assert!(
        started.elapsed() < bound,
        "failed closed only after {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_are_chained_checkpointed_and_verify() {
    for db in databases().await {
        let writer = audit::start(db.db.clone(), fast_config(&db), test_key())
            .await
            .unwrap();
        let log = writer.log();
        let receipts = submit_n(&log, 0, 25).await;
        let seqs: Vec<u64> = receipts.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (0..25).collect::<Vec<_>>(), "{}", db.label);
        assert!(receipts.iter().all(|r| r.chain == log.chain()));
        let note = writer.shutdown().await.unwrap().expect("final checkpoint");
        assert!(note.contains("\n25\n"), "{note}");
        // After shutdown, submitting fails closed at once.
        let started = Instant::now();
        check_unavailable(
            log.submit(sample_entry(99)).await,
            started,
            Duration::from_millis(500),
        );

        let exported = std::fs::read_to_string(db.export_path()).unwrap();
        assert_eq!(exported, format!("{note}\n"));
        let report = audit::verify(&db.db, &test_verifier(), Some(&db.export_path()), |_, _| {})
            .await
            .unwrap();
        assert!(report.is_ok(), "{}: {:?}", db.label, report.problems);
        assert_eq!(report.entries_checked, 25);
        assert_eq!(report.chains.len(), 1);
        assert_eq!(report.chains[0].unsealed, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submitters_share_batches() {
    for db in databases().await {
        let config = WriterConfig {
            checkpoint_every_entries: 300,
            ..fast_config(&db)
        };
        let writer = audit::start(db.db.clone(), config, test_key())
            .await
            .unwrap();
        let log = writer.log();
        let mut tasks = Vec::new();
        for task_idx in 0..64u64 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                submit_n(&log, task_idx * 1000, 20).await
            }));
        }
        let mut receipts = Vec::new();
        for task in tasks {
            receipts.extend(task.await.unwrap());
        }
        writer.shutdown().await.unwrap();
        let stats = log.stats();
        assert_eq!(receipts.len(), 1280);
        let mut seqs: Vec<u64> = receipts.iter().map(|r| r.seq).collect();
        seqs.sort_unstable();
        assert_eq!(
            seqs,
            (0..1280).collect::<Vec<_>>(),
            "every acknowledged entry has its own position"
        );
        assert!(
            stats.largest_batch > 1,
            "{}: no group commit happened: {stats:?}",
            db.label
        );
        assert!(stats.committed_batches < 1280, "{stats:?}");
        assert!(stats.checkpoints >= 4, "{stats:?}");
        // Every acknowledged entry is present (by request id) and the chain verifies.
        let page = audit::search(&db.db, &audit::AuditFilter::default(), 500, None)
            .await
            .unwrap();
        assert_eq!(page.entries.len(), 500);
        let count = db
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                db.db.get_database_backend(),
                "SELECT count(*) FROM audit_entries",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(count, 1280);
        let report = audit::verify(&db.db, &test_verifier(), Some(&db.export_path()), |_, _| {})
            .await
            .unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_table_fails_closed_and_recovers() {
    for db in databases().await {
        let writer = audit::start(db.db.clone(), fast_config(&db), test_key())
            .await
            .unwrap();
        let log = writer.log();
        submit_n(&log, 0, 3).await;
        let raw = db.raw().await;
        raw.execute_unprepared("ALTER TABLE audit_entries RENAME TO audit_entries_away")
            .await
            .unwrap();
        let started = Instant::now();
        check_unavailable(
            log.submit(sample_entry(3)).await,
            started,
            Duration::from_secs(3),
        );
        assert!(!log.is_healthy());
        // The cause goes away; the next entry is written without anyone restarting anything.
        raw.execute_unprepared("ALTER TABLE audit_entries_away RENAME TO audit_entries")
            .await
            .unwrap();
        let receipt = log.submit(sample_entry(4)).await.unwrap();
        assert!(log.is_healthy());
        assert_eq!(
            receipt.seq, 3,
            "{}: the chain continues from what is committed",
            db.label
        );
        writer.shutdown().await.unwrap();
        let report = audit::verify(&db.db, &test_verifier(), Some(&db.export_path()), |_, _| {})
            .await
            .unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_database_fails_closed_and_recovers() {
    let db = sqlite().await;
    let writer = audit::start(db.db.clone(), fast_config(&db), test_key())
        .await
        .unwrap();
    let log = writer.log();
    submit_n(&log, 0, 2).await;
    // Another process holds the write lock.
    let raw = sea_orm::sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let mut lock = raw.acquire().await.unwrap();
    sea_orm::sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let started = Instant::now();
    check_unavailable(
        log.submit(sample_entry(2)).await,
        started,
        Duration::from_secs(3),
    );
    sea_orm::sqlx::query("ROLLBACK")
        .execute(&mut *lock)
        .await
        .unwrap();
    drop(lock);
    // Recovers by itself; the abandoned batch may or may not have been committed late, and the
    // writer's chain follows the database either way.
    let mut recovered = None;
    for _ in 0..50 {
        if let Ok(receipt) = log.submit(sample_entry(3)).await {
            recovered = Some(receipt);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered.is_some(),
        "writer did not recover: {:?}",
        log.stats()
    );
    writer.shutdown().await.unwrap();
    let report = audit::verify(&db.db, &test_verifier(), Some(&db.export_path()), |_, _| {})
        .await
        .unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// A full disk, as SQLite meets it: the database may not grow (`max_page_count` at its current
/// size), so a commit that needs a new page fails with SQLITE_FULL. Requests fail closed; once
/// there is room again the writer goes on by itself and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_fails_closed_and_recovers() {
    let db = sqlite().await;
    // One connection, so the size limit set below holds for the connection the writer uses.
    let mut options = sea_orm::ConnectOptions::new(db.url.clone());
    options
        .sqlx_logging(false)
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5));
    let conn = sea_orm::Database::connect(options).await.unwrap();
    let writer = audit::start(conn.clone(), fast_config(&db), test_key())
        .await
        .unwrap();
    let log = writer.log();
    submit_n(&log, 0, 2).await;
    let set_limit = |pages: &'static str| {
        let conn = conn.clone();
        async move {
            conn.execute_unprepared(&format!("PRAGMA max_page_count = {pages}"))
                .await
                .unwrap();
        }
    };
    // "Cannot be reduced below the current database size": this pins it at that size.
    set_limit("1").await;
    let mut refused = None;
    for i in 2..2_000 {
        let started = Instant::now();
        match log.submit(sample_entry(i)).await {
            Ok(_) => {}
            Err(error) => {
                refused = Some((i, error, started.elapsed()));
                break;
            }
        }
    }
    let (next, error, took) = refused.expect("the database never filled up");
    assert!(matches!(error, AuditError::Unavailable), "{error:?}");
    assert!(
        took < Duration::from_secs(3),
        "failed closed only after {took:?}"
    );
    assert!(!log.is_healthy());
    // Room again: the next entry is written without anyone restarting anything.
    set_limit("1073741823").await;
    let mut recovered = None;
    for _ in 0..50 {
        if let Ok(receipt) = log.submit(sample_entry(next + 1)).await {
            recovered = Some(receipt);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered.is_some(),
        "writer did not recover: {:?}",
        log.stats()
    );
    assert!(log.is_healthy());
    writer.shutdown().await.unwrap();
    let report = audit::verify(&db.db, &test_verifier(), Some(&db.export_path()), |_, _| {})
        .await
        .unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_fails_closed_within_the_wait() {
    let db = sqlite().await;
    let config = WriterConfig {
        queue_capacity: 1,
        max_batch: 1,
        enqueue_wait_ms: 50,
        ..fast_config(&db)
    };
    let writer = audit::start(db.db.clone(), config, test_key())
        .await
        .unwrap();
    let log = writer.log();
    let raw = sea_orm::sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let mut lock = raw.acquire().await.unwrap();
    sea_orm::sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut *lock)
        .await
        .unwrap();
    // One entry in the writer, one in the queue, the rest find it full.
    let mut waiting = Vec::new();
    for i in 0..2 {
        let log = log.clone();
        waiting.push(tokio::spawn(
            async move { log.submit(sample_entry(i)).await },
        ));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    check_unavailable(
        log.submit(sample_entry(9)).await,
        started,
        Duration::from_millis(400),
    );
    sea_orm::sqlx::query("ROLLBACK")
        .execute(&mut *lock)
        .await
        .unwrap();
    drop(lock);
    for task in waiting {
        let _ = task.await.unwrap();
    }
    writer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_pool_fails_closed_without_hanging() {
    let db = sqlite().await;
    let writer = audit::start(db.db.clone(), fast_config(&db), test_key())
        .await
        .unwrap();
    let log = writer.log();
    submit_n(&log, 0, 1).await;
    db.db.close_by_ref().await.unwrap();
    let started = Instant::now();
    check_unavailable(
        log.submit(sample_entry(1)).await,
        started,
        Duration::from_secs(3),
    );
    writer.shutdown().await.unwrap();
}

#[tokio::test]
async fn start_refuses_a_database_without_the_audit_tables() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("empty.sqlite").display()
    );
    let db = connect(&url).await;
    let result = audit::start(db, WriterConfig::default(), test_key()).await;
    assert!(matches!(result, Err(AuditError::Db(_))));
}

#[test]
fn config_is_checked() {
    let cases: [(WriterConfig, bool); 4] = [
        (WriterConfig::default(), true),
        (
            WriterConfig {
                retention_years: 4,
                ..WriterConfig::default()
            },
            false,
        ),
        (
            WriterConfig {
                max_batch: 0,
                ..WriterConfig::default()
            },
            false,
        ),
        (
            WriterConfig {
                ack_timeout_ms: 10,
                commit_timeout_ms: 10,
                ..WriterConfig::default()
            },
            false,
        ),
    ];
    for (config, ok) in cases {
        assert_eq!(config.validate().is_ok(), ok, "{config:?}");
    }
    let unknown: Result<WriterConfig, _> =
        serde_json::from_str(r#"{"max_batch": 10, "batchsize": 3}"#);
    assert!(unknown.is_err(), "unknown fields are refused");
    let known: WriterConfig = serde_json::from_str(r#"{"max_batch": 10}"#).unwrap();
    assert_eq!(known.max_batch, 10);
}

#[test]
fn entries_refuse_free_text() {
    assert!(audit::Code::parse("consent:0190c5c4-0000-7000-8000-000000000000").is_ok());
    for bad in ["", "Jan Jansen", "a,b", "123456782\n", &"x".repeat(129)] {
        assert!(audit::Code::parse(bad).is_err(), "{bad:?}");
    }
    let id = audit::Code::parse("emp-1").unwrap();
    assert!(audit::OnBehalfOf::new(id.clone(), "J. de Vries").is_ok());
    assert!(audit::OnBehalfOf::new(id, "line\nbreak").is_err());
    let _ = NewEntry::new(
        audit::AuditAction::Login,
        audit::Actor::Anonymous,
        audit::Outcome::Deny,
    );
}
