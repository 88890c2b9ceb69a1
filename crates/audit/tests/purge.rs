//! Retention purge: a chain's prefix older than the cut goes, at a signed checkpoint, recorded
//! with its frontier and an `audit.purged` entry; the rest still verifies and proves. A DELETE
//! without a purge record is refused by the trigger; a purge record that is forged or that no
//! `audit.purged` entry names is reported by `verify`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use audit::{Actor, AuditAction, Code, NewEntry, Outcome, Problem, WriterConfig};
use chrono::{Duration as Span, Utc};
use common::*;
use sea_orm::{ConnectionTrait, Statement};

/// 25 entries from six years ago, then 10 from now, checkpointed every 10; returns the chain.
async fn old_and_new(db: &TestDb) -> audit::ChainId {
    let config = WriterConfig {
        checkpoint_every_entries: 10,
        ..fast_config(db)
    };
    let writer = audit::start(db.db.clone(), config, test_key())
        .await
        .unwrap();
    let log = writer.log();
    let long_ago = audit::now_micros() - Span::days(6 * 366);
    for i in 0..35u64 {
        let mut entry = sample_entry(i);
        if i < 25 {
            entry.time = long_ago + Span::seconds(i as i64);
        }
        log.submit(entry).await.unwrap();
    }
    let chain = log.chain();
    writer.shutdown().await.unwrap();
    chain
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.db
        .query_one_raw(Statement::from_string(
            db.db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_keeps_the_rest_verifiable_and_is_itself_recorded() {
    for db in databases().await {
        let chain = old_and_new(&db).await;
        let key = test_verifier();

        // The append-only guard holds without a purge record.
        let refused = db
            .db
            .execute_unprepared("DELETE FROM audit_entries WHERE seq = 0")
            .await;
        assert!(refused.is_err(), "{}: delete let through", db.label);

        let cut = Utc::now() - Span::days(5 * 366);
        let plans = audit::plan_purge(&db.db, &key, cut).await.unwrap();
        assert_eq!(plans.len(), 1, "{}", db.label);
        let plan = &plans[0];
        assert_eq!(plan.chain, chain);
        assert_eq!(plan.from, 0);
        // The largest checkpoint with only old entries below it: 20 (the next one, 30, is not).
        assert_eq!(plan.purged_below, 20, "{}", db.label);

        // The purge's own entry first, then the purge.
        let writer = audit::start(db.db.clone(), fast_config(&db), test_key())
            .await
            .unwrap();
        let mut entry = NewEntry::new(AuditAction::AuditPurge, Actor::System, Outcome::Permit);
        entry.reason = Some(Code::parse(&plan.reason()).unwrap());
        let receipt = writer.log().submit(entry).await.unwrap();
        let deleted = audit::apply_purge(&db.db, plan, cut, &receipt)
            .await
            .unwrap();
        assert_eq!(deleted, 20);
        writer.shutdown().await.unwrap();
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM audit_entries WHERE seq < 20 AND action = 'resident.read'"
            )
            .await,
            0
        );

        let report = audit::verify(&db.db, &key, Some(&db.export_path()), |_, _| {})
            .await
            .unwrap();
        assert!(report.is_ok(), "{}: {:?}", db.label, report.problems);
        let summary = report.chains.iter().find(|c| c.chain == chain).unwrap();
        assert_eq!(summary.purged_below, 20);
        assert_eq!(summary.entries, 15);
        assert_eq!(report.entries_checked, 15 + 1);

        // Retained entries still prove against the signed checkpoints; purged ones do not.
        for seq in [20, 27, 34] {
            let proof = audit::prove_inclusion(&db.db, chain, seq).await.unwrap();
            proof.verify(&key).unwrap();
        }
        audit::prove_consistency(&db.db, chain, 30, 35)
            .await
            .unwrap()
            .verify(&key)
            .unwrap();
        assert!(matches!(
            audit::prove_inclusion(&db.db, chain, 3).await,
            Err(audit::AuditError::NotFound)
        ));

        // Nothing more to purge until more of the chain is old enough.
        assert!(
            audit::plan_purge(&db.db, &key, cut)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_unrecorded_purge_is_reported() {
    for db in databases().await {
        let chain = old_and_new(&db).await;
        let key = test_verifier();
        let backend = db.db.get_database_backend();
        let note: String = db
            .db
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT note FROM audit_checkpoints WHERE tree_size = 10",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        let leaves: Vec<Vec<u8>> = db
            .db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT leaf_hash FROM audit_entries WHERE seq < 10 ORDER BY seq",
            ))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get_by_index(0).unwrap())
            .collect();
        let mut frontier = audit::merkle::Frontier::new();
        for leaf in &leaves {
            frontier.push(leaf.as_slice().try_into().unwrap());
        }
        let insert = |frontier: Vec<u8>, entry_seq: i64| {
            let sql = if backend == sea_orm::DbBackend::Postgres {
                "INSERT INTO audit_purges (chain_id, purged_below, frontier, checkpoint_note, \
                 cut_before_us, purged_at_us, entry_chain_id, entry_seq) \
                 VALUES ($1, 10, $2, $3, 0, 0, $4, $5)"
            } else {
                "INSERT INTO audit_purges (chain_id, purged_below, frontier, checkpoint_note, \
                 cut_before_us, purged_at_us, entry_chain_id, entry_seq) \
                 VALUES (?, 10, ?, ?, 0, 0, ?, ?)"
            };
            let values: Vec<sea_orm::Value> = vec![
                chain.as_uuid().into(),
                frontier.into(),
                note.clone().into(),
                chain.as_uuid().into(),
                entry_seq.into(),
            ];
            Statement::from_sql_and_values(backend, sql, values)
        };

        // Someone with INSERT rights records a "purge" pointing at an ordinary entry, which lets
        // the trigger pass the DELETE: verify names it.
        let right_frontier: Vec<u8> = frontier.nodes().concat();
        db.db.execute_raw(insert(right_frontier, 30)).await.unwrap();
        db.db
            .execute_unprepared("DELETE FROM audit_entries WHERE seq < 10")
            .await
            .unwrap();
        let report = audit::verify(&db.db, &key, None, |_, _| {}).await.unwrap();
        assert!(
            report.problems.contains(&Problem::UnrecordedPurge {
                chain,
                purged_below: 10
            }),
            "{}: {:?}",
            db.label,
            report.problems
        );

        // A purge record whose frontier does not lead to the signed root.
        db.db.execute_raw(insert(vec![7u8; 64], 30)).await.unwrap();
        let report = audit::verify(&db.db, &key, None, |_, _| {}).await.unwrap();
        assert!(
            report.problems.iter().any(|problem| matches!(
                problem,
                Problem::ForgedPurge { chain: c, purged_below: 10, .. } if *c == chain
            )),
            "{}: {:?}",
            db.label,
            report.problems
        );
        assert!(!report.is_ok());
    }
}
