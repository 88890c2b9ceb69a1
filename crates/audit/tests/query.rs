//! Reading the log: search with filters and cursors, the access report, and the query plans
//! that prove both use the indexes (SQLite `EXPLAIN QUERY PLAN`, PostgreSQL `EXPLAIN`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use audit::{Actor, AuditFilter, Outcome};
use chrono::{Duration as Span, Utc};
use common::*;
use domain::{Category, ClientId, MemberId, OrganisationId, Purpose, ResidentId};
use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};

fn resident(i: u128) -> ResidentId {
    ResidentId::from_uuid(uuid::Uuid::from_u128(0x4000 + i))
}

async fn filled(db: &TestDb) -> u64 {
    let writer = audit::start(db.db.clone(), fast_config(db), test_key())
        .await
        .unwrap();
    let log = writer.log();
    let mut tasks = Vec::new();
    for task_idx in 0..11u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20u64 {
                log.submit(sample_entry(task_idx * 20 + i)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    writer.shutdown().await.unwrap();
    220
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filters_and_pages() {
    for db in databases().await {
        filled(&db).await;
        // Resident 3 has every 11th entry: 20 of them.
        let filter = AuditFilter {
            resident: Some(resident(3)),
            ..AuditFilter::default()
        };
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = audit::search(&db.db, &filter, 7, after.as_ref())
                .await
                .unwrap();
            assert!(page.entries.len() <= 7);
            seen.extend(page.entries.iter().map(|e| (e.entry.time, e.chain, e.seq)));
            assert!(
                page.entries
                    .iter()
                    .all(|e| e.entry.resident == Some(resident(3)))
            );
            match page.next {
                Some(cursor) => after = Some(audit::Cursor::parse(&cursor.to_string()).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 20, "{}", db.label);
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "newest first, no repeats");

        let cases: [(AuditFilter, usize); 5] = [
            (
                AuditFilter {
                    outcome: Some(Outcome::Deny),
                    ..AuditFilter::default()
                },
                44,
            ),
            (
                AuditFilter {
                    actor: Some(Actor::Member(MemberId::from_uuid(uuid::Uuid::from_u128(
                        0x1000,
                    )))),
                    ..AuditFilter::default()
                },
                16,
            ),
            (
                AuditFilter {
                    client: Some(ClientId::from_uuid(uuid::Uuid::from_u128(0x2001))),
                    ..AuditFilter::default()
                },
                37,
            ),
            (
                AuditFilter {
                    organisation: Some(OrganisationId::from_uuid(uuid::Uuid::from_u128(0x3000))),
                    ..AuditFilter::default()
                },
                55,
            ),
            (
                AuditFilter {
                    from: Some(Utc::now() + Span::hours(1)),
                    ..AuditFilter::default()
                },
                0,
            ),
        ];
        for (filter, want) in cases {
            let page = audit::search(&db.db, &filter, 500, None).await.unwrap();
            assert_eq!(page.entries.len(), want, "{}: {filter:?}", db.label);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_report_groups_by_organisation_purpose_and_day() {
    for db in databases().await {
        filled(&db).await;
        let report = audit::access_report(
            &db.db,
            resident(3),
            Utc::now() - Span::days(1),
            Utc::now() + Span::days(1),
        )
        .await
        .unwrap();
        let total: u64 = report.iter().map(|row| row.entries).sum();
        assert_eq!(total, 20, "{}", db.label);
        assert_eq!(
            report.len(),
            4,
            "four organisations, one purpose, one day: {report:?}"
        );
        for row in &report {
            assert_eq!(row.purpose, Some(Purpose::Support));
            assert_eq!(row.day, Utc::now().date_naive());
            assert_eq!(row.permitted + row.denied, row.entries);
            assert!(row.categories_returned.contains(&Category::Goals));
            assert!(row.bases.iter().all(|basis| basis.starts_with("consent:")));
        }
        let denied: BTreeSet<Category> = report
            .iter()
            .flat_map(|row| row.categories_denied.iter().copied())
            .collect();
        assert_eq!(denied, [Category::Health].into_iter().collect());
    }
}

#[track_caller]
fn check_plan(label: &str, plan: &[String], index: &str) {
    let text = plan.join("\n");
    // SQLite's plan is deterministic here: the expected index. PostgreSQL's cost model may pick
    // another of the audit indexes on a tiny table (e.g. time before organisation); any index
    // is fine there, a sequential scan is not.
    let wanted = if label == "sqlite" {
        index
    } else {
        " ix_audit_entries_"
    };
    assert!(
        text.contains(wanted),
        "{label}: plan does not use {wanted}:\n{text}"
    );
    assert!(
        !text.contains("SCAN audit_entries\n") && !text.ends_with("SCAN audit_entries"),
        "{label}: full scan:\n{text}"
    );
    assert!(!text.contains("Seq Scan"), "{label}: full scan:\n{text}");
    assert!(
        !text.contains("USE TEMP B-TREE FOR ORDER BY"),
        "{label}: sorts instead of reading the index in order:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_use_the_indexes() {
    for db in databases().await {
        filled(&db).await;
        let tx = db.db.begin().await.unwrap();
        if tx.get_database_backend() == DbBackend::Postgres {
            // A tiny test table is cheaper to scan; the question here is whether an index serves.
            tx.execute_unprepared("SET LOCAL enable_seqscan = off")
                .await
                .unwrap();
        }
        let cursor = audit::search(&tx, &AuditFilter::default(), 1, None)
            .await
            .unwrap()
            .next;
        let now = Utc::now();
        let cases: [(AuditFilter, &str); 5] = [
            (
                AuditFilter {
                    resident: Some(resident(3)),
                    ..AuditFilter::default()
                },
                "ix_audit_entries_resident",
            ),
            (
                AuditFilter {
                    actor: Some(Actor::Member(MemberId::from_uuid(uuid::Uuid::from_u128(
                        0x1000,
                    )))),
                    ..AuditFilter::default()
                },
                "ix_audit_entries_actor",
            ),
            (
                AuditFilter {
                    client: Some(ClientId::from_uuid(uuid::Uuid::from_u128(0x2001))),
                    outcome: Some(Outcome::Deny),
                    ..AuditFilter::default()
                },
                "ix_audit_entries_client",
            ),
            (
                AuditFilter {
                    organisation: Some(OrganisationId::from_uuid(uuid::Uuid::from_u128(0x3000))),
                    from: Some(now - Span::days(1)),
                    to: Some(now),
                    ..AuditFilter::default()
                },
                "ix_audit_entries_organisation",
            ),
            (
                AuditFilter {
                    from: Some(now - Span::hours(1)),
                    ..AuditFilter::default()
                },
                "ix_audit_entries_time",
            ),
        ];
        for (filter, index) in cases {
            let plan = audit::explain_search(&tx, &filter, None).await.unwrap();
            check_plan(db.label, &plan, index);
            let plan = audit::explain_search(&tx, &filter, cursor.as_ref())
                .await
                .unwrap();
            check_plan(db.label, &plan, index);
        }
        let plan = audit::explain_access_report(&tx, resident(3), now - Span::days(30), now)
            .await
            .unwrap();
        check_plan(db.label, &plan, "ix_audit_entries_resident");
        tx.rollback().await.unwrap();
    }
}
