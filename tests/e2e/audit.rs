//! `wijkhub audit …` as an operator and an outside auditor use it: the log written by the hub
//! verifies; a proof printed by `audit prove` is accepted by `audit check-proof` with the
//! published key, and refused when altered; an entry edited in the database behind the
//! append-only triggers (as someone with the database file would) makes `verify` fail and name it.

use sea_orm::{ConnectionTrait, Database};
use testkit::TestDb;

use crate::wijkhub;

#[tokio::test]
async fn the_log_verifies_proves_and_catches_an_edited_entry() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db)
        .env("WIJKHUB_AUDIT__EXPORT_PATH", "data/checkpoints.txt");

    // The demo seed issues credentials, and every credential change is audited.
    let seeded = cli.run(&["seed", "--demo"]);
    assert!(seeded.status.success(), "{}", seeded.stderr);

    let verified = cli.run(&["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}\n{}",
        verified.stdout,
        verified.stderr
    );
    assert!(
        verified.stdout.contains("the audit log is intact"),
        "{}",
        verified.stdout
    );
    let checked: u64 = verified
        .stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        checked > 0,
        "the seed wrote audit entries: {}",
        verified.stdout
    );

    // A chain under a signed checkpoint, and an inclusion proof of its first entry.
    let chain = verified
        .stdout
        .lines()
        .find(|line| line.contains("chain ") && !line.contains(" 0 under a signed checkpoint"))
        .and_then(|line| line.split_whitespace().nth(1))
        .map(|chain| chain.trim_end_matches(':').to_owned())
        .expect("a chain with a signed checkpoint");
    let proof = cli.run(&["audit", "prove", "--chain", &chain, "--seq", "0"]);
    assert!(proof.status.success(), "{}", proof.stderr);
    let key = cli.run(&["audit", "public-key"]);
    assert!(key.status.success(), "{}", key.stderr);
    // The captured output comes back line by line; the proof file ends with a newline.
    let proof_text = format!("{}\n", proof.stdout.trim_end());
    std::fs::write(cli.dir().join("proof.txt"), &proof_text).unwrap();
    std::fs::write(cli.dir().join("public.key"), &key.stdout).unwrap();
    let checked = cli.run(&["audit", "check-proof", "proof.txt", "--key", "public.key"]);
    assert!(checked.status.success(), "{}", checked.stderr);
    assert!(checked.stdout.starts_with("valid:"), "{}", checked.stdout);

    // The same proof claiming another position is refused.
    std::fs::write(
        cli.dir().join("proof.txt"),
        proof_text.replace("\nseq 0\n", "\nseq 1\n"),
    )
    .unwrap();
    let forged = cli.run(&["audit", "check-proof", "proof.txt", "--key", "public.key"]);
    assert!(!forged.status.success());

    // Someone with the database drops the append-only guard and edits an entry.
    let conn = Database::connect(db.url()).await.unwrap();
    if db.is_postgres() {
        conn.execute_unprepared("DROP TRIGGER audit_entries_no_update_delete ON audit_entries")
            .await
            .unwrap();
    } else {
        conn.execute_unprepared("DROP TRIGGER audit_entries_no_update")
            .await
            .unwrap();
    }
    conn.execute_unprepared("UPDATE audit_entries SET outcome = 'deny' WHERE seq = 0")
        .await
        .unwrap();
    conn.close().await.unwrap();

    let broken = cli.run(&["audit", "verify"]);
    assert!(!broken.status.success(), "{}", broken.stdout);
    assert!(broken.stdout.contains("PROBLEM"), "{}", broken.stdout);
    assert!(
        broken.stderr.contains("does NOT verify"),
        "{}",
        broken.stderr
    );
}

#[tokio::test]
async fn key_operations_and_erasure_requests_are_audited() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db);
    let seeded = cli.run(&["seed", "--demo"]);
    assert!(seeded.status.success(), "{}", seeded.stderr);

    let rotated = cli.run(&["keys", "rotate"]);
    assert!(rotated.status.success(), "{}", rotated.stderr);
    assert!(
        rotated
            .stdout
            .contains("every resident is under the current version")
    );

    let conn = Database::connect(db.url()).await.unwrap();
    let backend = conn.get_database_backend();
    let resident: uuid::Uuid = conn
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT id FROM residents ORDER BY id LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();
    let refused = cli.run(&[
        "residents",
        "erase",
        &resident.to_string(),
        "--ground",
        "AVG-verzoek 7",
    ]);
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("still active"),
        "{}",
        refused.stderr
    );

    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT action, outcome, reason FROM audit_entries \
             WHERE action IN ('key.operation', 'resident.erased') ORDER BY occurred_at_us",
        ))
        .await
        .unwrap();
    let entries: Vec<(String, String, String)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get("", "action").unwrap(),
                row.try_get("", "outcome").unwrap(),
                row.try_get("", "reason").unwrap(),
            )
        })
        .collect();
    let expected = [
        ("key.operation", "permit", "kek-version-added:v2"),
        ("key.operation", "permit", "kek-rotated:v2"),
        ("resident.erased", "deny", "plan-open"),
    ];
    assert_eq!(
        entries,
        expected
            .iter()
            .map(|(a, o, r)| (a.to_string(), o.to_string(), r.to_string()))
            .collect::<Vec<_>>()
    );
    conn.close().await.unwrap();

    let verified = cli.run(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", verified.stdout);
}

/// Entries from six years ago, written as an earlier hub would have (its own chain, signed with
/// the hub's audit key, checkpointed every 5 entries and at the end).
async fn old_entries(cli: &testkit::Cli, db: &TestDb, n: u64) {
    let keys = server::auth::AuthKeys::load(&cli.dir().join("data/auth-keys")).unwrap();
    let config = audit::WriterConfig {
        checkpoint_every_entries: 5,
        ..audit::WriterConfig::default()
    };
    let key = keys.audit_signing_key(&config.origin_prefix).unwrap();
    let conn = Database::connect(db.url()).await.unwrap();
    let writer = audit::start(conn.clone(), config, key).await.unwrap();
    let long_ago = audit::now_micros() - chrono::Duration::days(6 * 366);
    for i in 0..n {
        let mut entry = audit::NewEntry::new(
            audit::AuditAction::ResidentRead,
            audit::Actor::System,
            audit::Outcome::Permit,
        );
        entry.time = long_ago + chrono::Duration::seconds(i as i64);
        entry.resident = Some(domain::ResidentId::from_uuid(uuid::Uuid::now_v7()));
        writer.log().submit(entry).await.unwrap();
    }
    writer.shutdown().await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn purging_past_the_retention_keeps_the_log_verifiable_and_is_audited() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db)
        .env("WIJKHUB_AUDIT__EXPORT_PATH", "data/checkpoints.txt");
    let seeded = cli.run(&["seed", "--demo"]);
    assert!(seeded.status.success(), "{}", seeded.stderr);
    old_entries(&cli, &db, 12).await;

    // Inside the retention period: refused, with the day it becomes possible; nothing removed.
    let refused = cli.run(&["audit", "purge", "--before", "2030-01-01"]);
    assert!(!refused.status.success(), "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("a purge up to 2030-01-01 becomes possible on 2035-01-01"),
        "{}",
        refused.stderr
    );
    // A retention below five years is not a setting the hub accepts.
    let mut short = wijkhub();
    short
        .database(&db)
        .env("WIJKHUB_AUDIT__RETENTION_YEARS", "4");
    let too_short = short.run(&["audit", "purge"]);
    assert!(!too_short.status.success());
    assert!(
        too_short
            .stderr
            .contains("retention_years must be at least 5"),
        "{}",
        too_short.stderr
    );

    // Past it: the old chain goes, up to its last checkpoint, and the rest verifies.
    let purged = cli.run(&["audit", "purge"]);
    assert!(
        purged.status.success(),
        "{}\n{}",
        purged.stdout,
        purged.stderr
    );
    assert!(
        purged.stdout.contains("purged 12 entries"),
        "{}",
        purged.stdout
    );
    let verified = cli.run(&["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}\n{}",
        verified.stdout,
        verified.stderr
    );
    let again = cli.run(&["audit", "purge"]);
    assert!(again.status.success(), "{}", again.stderr);
    assert!(
        again.stdout.contains("nothing to purge"),
        "{}",
        again.stdout
    );

    // The refusal and the purge are in the log; the old entries are not.
    let conn = Database::connect(db.url()).await.unwrap();
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT outcome, reason FROM audit_entries WHERE action = 'audit.purged' \
             ORDER BY occurred_at_us",
        ))
        .await
        .unwrap();
    let purges: Vec<(String, String)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get("", "outcome").unwrap(),
                row.try_get("", "reason").unwrap(),
            )
        })
        .collect();
    assert_eq!(purges.len(), 2, "{purges:?}");
    assert_eq!(
        purges[0],
        ("deny".to_owned(), "within-retention".to_owned())
    );
    assert_eq!(purges[1].0, "permit");
    assert!(purges[1].1.starts_with("purge:"), "{purges:?}");
    assert!(purges[1].1.ends_with(":12"), "{purges:?}");
    let old = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) FROM audit_entries WHERE actor_kind = 'system' AND action = 'resident.read'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(old, 0);
    conn.close().await.unwrap();
}
