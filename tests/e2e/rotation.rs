//! `wijkhub keys rotate` killed half-way, as a power cut or an impatient operator would, and run
//! again: the second run continues the unfinished rotation (no third key version), ends with
//! every data key under the new KEK, and every sealed field of every resident still opens.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use crypto::{FileKeyProvider, KeyProvider, KeyRing};
use domain::{Bsn, NetworkId, ResidentId};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, Statement};
use secrecy::ExposeSecret;
use store::entity::{consents, plans, residents, section_revisions, sections};
use store::sealed::{self, NewResident};
use testkit::TestDb;

use crate::wijkhub;

/// Residents added to the demo's, so a rotation one resident per transaction runs long enough
/// to be killed part-way.
const EXTRA_RESIDENTS: u32 = 4_000;

/// A valid BSN (11-proef) for `n`, or `None` when `n`'s digits have no check digit.
fn bsn(n: u32) -> Option<Bsn> {
    let digits = format!("{:08}", 10_000_000 + n % 89_999_999);
    let sum: u32 = digits
        .bytes()
        .zip([9, 8, 7, 6, 5, 4, 3, 2])
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    // The check digit makes the weighted sum a multiple of 11; a sum of 0 or a check digit of
    // 10 is no BSN.
    let check = sum % 11;
    if check == 10 {
        return None;
    }
    Bsn::parse(&format!("{digits}{check}")).ok()
}

async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
    conn.query_one_raw(Statement::from_string(
        conn.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

fn key_ring(cli: &testkit::Cli) -> KeyRing {
    FileKeyProvider::new(cli.dir().join("data/keys"))
        .load()
        .unwrap()
}

/// Adds `EXTRA_RESIDENTS` sealed residents to the demo's network, under the current KEK.
async fn add_residents(conn: &DatabaseConnection, keys: &KeyRing) -> HashMap<uuid::Uuid, String> {
    let network: uuid::Uuid = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT id FROM networks LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();
    let now = Utc::now();
    let mut names = HashMap::new();
    let mut batch = Vec::new();
    for n in 0..EXTRA_RESIDENTS * 2 {
        if names.len() == EXTRA_RESIDENTS as usize {
            break;
        }
        let Some(bsn) = bsn(n * 7_919) else {
            continue;
        };
        let id = ResidentId::new();
        let name = format!("Rotatie Inwoner {n}");
        let (row, _) = sealed::seal_resident(
            keys,
            id,
            &NewResident {
                network: NetworkId::from_uuid(network),
                bsn,
                name: name.clone(),
                birth_date: NaiveDate::from_ymd_opt(1970, 1, 1).unwrap(),
                contact: Some(format!("06-{n:08}")),
                area: "Noordwest".to_owned(),
            },
            now,
        )
        .unwrap();
        names.insert(id.as_uuid(), name);
        batch.push(row);
        if batch.len() == 500 {
            residents::Entity::insert_many(std::mem::take(&mut batch))
                .exec_without_returning(conn)
                .await
                .unwrap();
        }
    }
    if !batch.is_empty() {
        residents::Entity::insert_many(batch)
            .exec_without_returning(conn)
            .await
            .unwrap();
    }
    assert_eq!(names.len(), EXTRA_RESIDENTS as usize);
    names
}

/// Opens every sealed field of every resident with `keys`: personal fields, section revisions,
/// consent evidence. Returns how many fields were opened.
async fn open_everything(
    conn: &DatabaseConnection,
    keys: &KeyRing,
    names: &HashMap<uuid::Uuid, String>,
) -> usize {
    let mut opened = 0;
    let mut deks = HashMap::new();
    for row in residents::Entity::find().all(conn).await.unwrap() {
        let id = ResidentId::from_uuid(row.id);
        let dek = keys
            .unwrap_dek(row.wrapped_dek.as_deref().unwrap(), id)
            .unwrap_or_else(|error| panic!("resident {}: {error}", row.id));
        let fields = sealed::open_resident(&dek, &row)
            .unwrap_or_else(|error| panic!("resident {}: {error}", row.id));
        if let Some(name) = names.get(&row.id) {
            assert_eq!(fields.name.expose_secret(), name);
        }
        opened += 3 + usize::from(fields.contact.is_some());
        deks.insert(row.id, dek);
    }
    let plan_residents: HashMap<uuid::Uuid, uuid::Uuid> = plans::Entity::find()
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|plan| (plan.id, plan.resident_id))
        .collect();
    let section_residents: HashMap<uuid::Uuid, uuid::Uuid> = sections::Entity::find()
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|section| (section.id, plan_residents[&section.plan_id]))
        .collect();
    let revisions = section_revisions::Entity::find().all(conn).await.unwrap();
    assert!(!revisions.is_empty(), "the demo has plan sections");
    for revision in revisions {
        let resident = section_residents[&revision.section_id];
        sealed::open_revision(&deks[&resident], ResidentId::from_uuid(resident), &revision)
            .unwrap_or_else(|error| panic!("revision {}: {error}", revision.id));
        opened += 1;
    }
    for consent in consents::Entity::find().all(conn).await.unwrap() {
        if let Some(evidence) = &consent.evidence_ciphertext {
            sealed::open_text(
                &deks[&consent.resident_id],
                sealed::CONSENT_EVIDENCE,
                consent.id,
                ResidentId::from_uuid(consent.resident_id),
                evidence,
            )
            .unwrap_or_else(|error| panic!("consent {}: {error}", consent.id));
            opened += 1;
        }
    }
    opened
}

#[tokio::test]
async fn a_rotation_killed_half_way_finishes_when_run_again() {
    let db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.database(&db);
    let seeded = cli.run(&["seed", "--demo"]);
    assert!(seeded.status.success(), "{}", seeded.stderr);

    let conn = Database::connect(db.url()).await.unwrap();
    let before = key_ring(&cli);
    assert_eq!(before.current_kek_version(), 1);
    let names = add_residents(&conn, &before).await;
    let fields = open_everything(&conn, &before, &names).await;
    let total = count(&conn, "SELECT COUNT(*) FROM residents").await;
    let ciphertexts_before = count(&conn, "SELECT COUNT(*) FROM section_revisions").await;

    // One resident per transaction, killed once some but not all are under version 2.
    let rotation = cli.spawn(&["keys", "rotate", "--batch", "1"]);
    let under_new = "SELECT COUNT(*) FROM residents WHERE dek_kek_version = 2";
    let deadline = Instant::now() + Duration::from_secs(120);
    let moved = loop {
        let moved = count(&conn, under_new).await;
        if moved > 0 {
            break moved;
        }
        assert!(Instant::now() < deadline, "the rotation never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &rotation.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = rotation.wait(Duration::from_secs(30));
    assert!(
        !output.status.success(),
        "killed, not finished: {}",
        output.stdout
    );
    let moved_at_kill = count(&conn, under_new).await;
    assert!(
        moved <= moved_at_kill && moved_at_kill < total,
        "killed part-way: {moved_at_kill} of {total} under the new KEK"
    );

    // Part-way, both versions serve: the key file holds the new one, the old one still opens.
    let halfway = key_ring(&cli);
    assert_eq!(halfway.current_kek_version(), 2);
    assert_eq!(open_everything(&conn, &halfway, &names).await, fields);

    // Run again: it continues (no version 3) and finishes.
    let resumed = cli.run(&["keys", "rotate"]);
    assert!(resumed.status.success(), "{}", resumed.stderr);
    assert!(
        resumed.stdout.contains("continuing an unfinished rotation"),
        "{}",
        resumed.stdout
    );
    let after = key_ring(&cli);
    assert_eq!(after.current_kek_version(), 2, "no third version");
    assert_eq!(count(&conn, under_new).await, total);
    for row in residents::Entity::find().all(&conn).await.unwrap() {
        assert_eq!(
            crypto::wrapped_kek_version(row.wrapped_dek.as_deref().unwrap()).unwrap(),
            2,
            "resident {}",
            row.id
        );
    }
    assert_eq!(open_everything(&conn, &after, &names).await, fields);
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM section_revisions").await,
        ciphertexts_before
    );

    // With version 1 retired, everything still opens: nothing depends on it any more.
    let retired = cli.run(&["keys", "retire", "--kek", "1"]);
    assert!(retired.status.success(), "{}", retired.stderr);
    let retired_ring = key_ring(&cli);
    assert_eq!(open_everything(&conn, &retired_ring, &names).await, fields);
    conn.close().await.unwrap();
}
