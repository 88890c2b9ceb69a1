//! `verify` against a database changed behind the application's back: one test per tamper case,
//! each reporting exactly that case and the first bad sequence number.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;

use audit::{ChainId, Checkpoint, CheckpointSource, Problem, VerifyReport, WriterConfig};
use common::*;
use sea_orm::{ConnectionTrait, DbBackend};

/// 40 entries, checkpoints at 10, 20, 30 and 40 in the database and the export file.
async fn logged(db: &TestDb) -> ChainId {
    let config = WriterConfig {
        checkpoint_every_entries: 10,
        ..fast_config(db)
    };
    let writer = audit::start(db.db.clone(), config, test_key())
        .await
        .unwrap();
    let log = writer.log();
    for i in 0..40 {
        log.submit(sample_entry(i)).await.unwrap();
    }
    let chain = log.chain();
    writer.shutdown().await.unwrap();
    let report = run_verify(db).await;
    assert!(report.is_ok(), "{}: {:?}", db.label, report.problems);
    assert_eq!(report.chains[0].checkpointed_size, 40);
    chain
}

async fn run_verify(db: &TestDb) -> VerifyReport {
    let mut calls = 0;
    let report = audit::verify(
        &db.db,
        &test_verifier(),
        Some(&db.export_path()),
        |done, total| {
            calls += 1;
            assert!(done <= total);
        },
    )
    .await
    .unwrap();
    assert!(calls >= 2, "progress is reported");
    report
}

fn append_export(db: &TestDb, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(db.export_path())
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn exported_notes(db: &TestDb) -> Vec<String> {
    audit::split_export(&std::fs::read_to_string(db.export_path()).unwrap())
        .into_iter()
        .map(|(_, note)| note)
        .collect()
}

/// Moves rows `seq >= from` by `by` without tripping the primary key on either backend.
fn shift(from: u64, by: i64) -> [String; 2] {
    [
        format!("UPDATE audit_entries SET seq = -seq - 1 WHERE seq >= {from}"),
        format!("UPDATE audit_entries SET seq = -seq - 1 + ({by}) WHERE seq < 0"),
    ]
}

#[track_caller]
fn check(db: &TestDb, report: &VerifyReport, want: &Problem) {
    assert!(!report.is_ok(), "{}: verify missed {want}", db.label);
    assert_eq!(
        &report.problems[0], want,
        "{}: all problems: {:?}",
        db.label, report.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_entry() {
    for db in databases().await {
        let chain = logged(&db).await;
        db.tamper(&["UPDATE audit_entries SET outcome = 'permit' WHERE seq = 15"])
            .await;
        check(
            &db,
            &run_verify(&db).await,
            &Problem::ChangedEntry { chain, seq: 15 },
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_entry() {
    for db in databases().await {
        let chain = logged(&db).await;
        db.tamper(&["DELETE FROM audit_entries WHERE seq = 15"])
            .await;
        check(
            &db,
            &run_verify(&db).await,
            &Problem::DeletedEntry {
                chain,
                seq: 15,
                count: 1,
            },
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_entry_with_later_entries_renumbered() {
    for db in databases().await {
        let chain = logged(&db).await;
        let [a, b] = shift(16, -1);
        db.tamper(&["DELETE FROM audit_entries WHERE seq = 15", &a, &b])
            .await;
        let report = run_verify(&db).await;
        check(
            &db,
            &report,
            &Problem::DeletedEntry {
                chain,
                seq: 15,
                count: 1,
            },
        );
        assert!(report.problems.contains(&Problem::TruncatedTail {
            chain,
            db_size: 39,
            checkpoint_size: 40
        }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserted_entry() {
    for db in databases().await {
        let chain = logged(&db).await;
        let [a, b] = shift(15, 1);
        let columns = audit::ENTRY_COLUMNS.join(", ");
        let copied = columns
            .replace("seq,", "15,")
            .replace("request_id", "'req-forged'");
        let insert = format!(
            "INSERT INTO audit_entries ({columns}) SELECT {copied} FROM audit_entries WHERE seq = 14"
        );
        db.tamper(&[&a, &b, &insert]).await;
        check(
            &db,
            &run_verify(&db).await,
            &Problem::InsertedEntry { chain, seq: 15 },
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_entries() {
    for db in databases().await {
        let chain = logged(&db).await;
        db.tamper(&[
            "UPDATE audit_entries SET seq = -1 WHERE seq = 15",
            "UPDATE audit_entries SET seq = 15 WHERE seq = 16",
            "UPDATE audit_entries SET seq = 16 WHERE seq = -1",
        ])
        .await;
        check(
            &db,
            &run_verify(&db).await,
            &Problem::ReorderedEntries { chain, seq: 15 },
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_contents_with_hashes_left_in_place() {
    for db in databases().await {
        let chain = logged(&db).await;
        // Move the content but keep each position's stored hash: swap everything but seq and
        // leaf_hash by swapping the rows and then their hashes back.
        let hash_of = |seq: u64| format!("(SELECT leaf_hash FROM audit_entries WHERE seq = {seq})");
        db.tamper(&[
            "UPDATE audit_entries SET seq = -1 WHERE seq = 15",
            "UPDATE audit_entries SET seq = 15 WHERE seq = 16",
            "UPDATE audit_entries SET seq = 16 WHERE seq = -1",
            "UPDATE audit_entries SET seq = -15 WHERE seq = 15",
            &format!(
                "UPDATE audit_entries SET leaf_hash = {} WHERE seq = 16",
                hash_of(15).replace("= 15", "= -15")
            ),
            &format!(
                "UPDATE audit_entries SET leaf_hash = {} WHERE seq = -15",
                hash_of(16)
            ),
            "UPDATE audit_entries SET seq = 15 WHERE seq = -15",
        ])
        .await;
        let report = run_verify(&db).await;
        assert!(
            matches!(
                report.problems[0],
                Problem::ReorderedEntries { seq: 15, .. }
            ),
            "{:?}",
            report.problems
        );
        assert_eq!(report.problems[0].first_bad_seq(), Some((chain, 15)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_entry_with_its_hash_recomputed() {
    for db in databases().await {
        let chain = logged(&db).await;
        let filter = audit::AuditFilter {
            outcome: Some(audit::Outcome::Deny),
            ..audit::AuditFilter::default()
        };
        let page = audit::search(&db.db, &filter, 500, None).await.unwrap();
        let mut entry = page.entries.into_iter().find(|e| e.seq == 15).unwrap();
        entry.entry.outcome = audit::Outcome::Permit;
        let hash = audit::merkle::leaf_hash(&audit::encode_entry(chain, 15, &entry.entry));
        let literal = match db.db.get_database_backend() {
            DbBackend::Sqlite => format!("X'{}'", hex::encode(hash)),
            _ => format!("decode('{}', 'hex')", hex::encode(hash)),
        };
        db.tamper(&[&format!(
            "UPDATE audit_entries SET outcome = 'permit', leaf_hash = {literal} WHERE seq = 15"
        )])
        .await;
        check(
            &db,
            &run_verify(&db).await,
            &Problem::RootMismatch {
                chain,
                tree_size: 20,
                first_unproven_seq: 10,
            },
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_tail() {
    for db in databases().await {
        let chain = logged(&db).await;
        // The attacker removes the tail and the database's own checkpoints of it.
        db.tamper(&[
            "DELETE FROM audit_entries WHERE seq >= 35",
            "DELETE FROM audit_checkpoints WHERE tree_size > 30",
        ])
        .await;
        check(
            &db,
            &run_verify(&db).await,
            &Problem::TruncatedTail {
                chain,
                db_size: 35,
                checkpoint_size: 40,
            },
        );
        // Without the export, the database alone cannot tell: this is why checkpoints leave it.
        let alone = audit::verify(&db.db, &test_verifier(), None, |_, _| {})
            .await
            .unwrap();
        assert!(alone.is_ok(), "{:?}", alone.problems);
        assert_eq!(alone.chains[0].checkpointed_size, 30);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_checkpoint_signature() {
    for db in databases().await {
        let chain = logged(&db).await;
        let notes = exported_notes(&db);
        // The same note with a bigger size: the signature no longer verifies.
        append_export(
            &db,
            &format!("{}\n", notes[3].replacen("\n40\n", "\n41\n", 1)),
        );
        let report = run_verify(&db).await;
        let line = 1 + 4 * 6;
        check(
            &db,
            &report,
            &Problem::ForgedCheckpoint {
                source: CheckpointSource::Export { line },
                detail: "signature does not verify",
            },
        );
        // A note signed by another key under our name.
        let other =
            audit::SigningKey::from_pkcs8(TEST_KEY_NAME, &audit::generate_signing_key().unwrap())
                .unwrap();
        let forged = other.sign(&Checkpoint {
            origin: Checkpoint::origin_for(TEST_KEY_NAME, chain),
            tree_size: 45,
            root: [0; 32],
        });
        append_export(&db, &format!("{forged}\n"));
        let report = run_verify(&db).await;
        assert!(report.problems.iter().any(|p| matches!(
            p,
            Problem::ForgedCheckpoint {
                detail: "not signed by the log key",
                ..
            }
        )));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_checkpoint_row() {
    for db in databases().await {
        logged(&db).await;
        // A checkpoint row whose columns were edited to match a truncated history.
        db.tamper(&["UPDATE audit_checkpoints SET tree_size = 35 WHERE tree_size = 40"])
            .await;
        let report = run_verify(&db).await;
        assert!(
            matches!(
                report.problems[0],
                Problem::ForgedCheckpoint {
                    source: CheckpointSource::Database { .. },
                    detail: "row columns differ from the signed note"
                }
            ),
            "{:?}",
            report.problems
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_older_checkpoint() {
    for db in databases().await {
        let chain = logged(&db).await;
        let notes = exported_notes(&db);
        append_export(&db, &format!("{}\n", notes[1]));
        check(
            &db,
            &run_verify(&db).await,
            &Problem::ReplayedCheckpoint {
                chain,
                tree_size: 20,
                source: CheckpointSource::Export { line: 25 },
            },
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_checkpoint_row() {
    for db in databases().await {
        let chain = logged(&db).await;
        db.tamper(&[
            "INSERT INTO audit_checkpoints (chain_id, tree_size, root_hash, note, created_at_us) \
             SELECT chain_id, tree_size, root_hash, note, created_at_us FROM audit_checkpoints WHERE tree_size = 20",
        ])
        .await;
        let report = run_verify(&db).await;
        assert!(
            matches!(report.problems[0], Problem::ReplayedCheckpoint { chain: c, tree_size: 20, source: CheckpointSource::Database { .. } } if c == chain),
            "{:?}",
            report.problems
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_checkpoints_of_one_size_with_different_roots() {
    for db in databases().await {
        let chain = logged(&db).await;
        // Only a holder of the signing key can do this: a fork, signed.
        let fork = test_key().sign(&Checkpoint {
            origin: Checkpoint::origin_for(TEST_KEY_NAME, chain),
            tree_size: 50,
            root: [1; 32],
        });
        let other = test_key().sign(&Checkpoint {
            origin: Checkpoint::origin_for(TEST_KEY_NAME, chain),
            tree_size: 50,
            root: [2; 32],
        });
        append_export(&db, &format!("{fork}\n{other}\n"));
        let report = run_verify(&db).await;
        assert!(
            report.problems.contains(&Problem::ConflictingCheckpoints {
                chain,
                tree_size: 50
            }),
            "{:?}",
            report.problems
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_only_triggers_refuse_update_and_delete() {
    for db in databases().await {
        logged(&db).await;
        for statement in [
            "UPDATE audit_entries SET outcome = 'permit' WHERE seq = 15",
            "DELETE FROM audit_entries WHERE seq = 15",
            "UPDATE audit_checkpoints SET tree_size = 1",
            "DELETE FROM audit_checkpoints",
        ] {
            assert!(
                db.db.execute_unprepared(statement).await.is_err(),
                "{}: {statement}",
                db.label
            );
        }
        if !db.is_sqlite() {
            assert!(
                db.db
                    .execute_unprepared("TRUNCATE audit_entries")
                    .await
                    .is_err()
            );
        }
        assert!(run_verify(&db).await.is_ok());
    }
}
