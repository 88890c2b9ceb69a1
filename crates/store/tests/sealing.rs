//! Residents' rows sealed under their own data keys, through the store: the demo seed round trip,
//! no plaintext in the raw database file, ciphertexts that do not survive being moved, and key
//! rotation that is resumable part-way and leaves every field readable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns too

use chrono::Utc;
use crypto::KeyRing;
use domain::ResidentId;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use secrecy::ExposeSecret;
use store::entity::{plans, residents, section_revisions, sections};
use store::seed::{self, SeedOutcome};
use store::{Db, StoreError, rekey, sealed};
use testkit::TestDb;

struct Seeded {
    _test_db: TestDb,
    db: Db,
    _dir: tempfile::TempDir,
    key_file: std::path::PathBuf,
    keys: KeyRing,
}

async fn seeded() -> Seeded {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keys");
    crypto::generate_key_file(&key_file).unwrap();
    let keys = load(&key_file);
    let outcome = seed::demo(&db, &keys, Utc::now()).await.unwrap();
    assert!(
        matches!(outcome, SeedOutcome::Seeded { residents, .. } if residents as u64 == n_demo()),
        "{outcome:?}"
    );
    Seeded {
        _test_db: test_db,
        db,
        _dir: dir,
        key_file,
        keys,
    }
}

fn n_demo() -> u64 {
    seed::demo_resident_names().count() as u64
}

fn load(path: &std::path::Path) -> KeyRing {
    use crypto::KeyProvider;
    crypto::FileKeyProvider::new(path).load().unwrap()
}

/// Opens every resident and every section revision; returns the residents' names.
async fn open_everything(db: &Db, keys: &KeyRing) -> Vec<String> {
    let mut names = Vec::new();
    for row in residents::Entity::find().all(db.conn()).await.unwrap() {
        let id = ResidentId::from_uuid(row.id);
        let dek = keys
            .unwrap_dek(row.wrapped_dek.as_deref().unwrap(), id)
            .unwrap();
        let opened = sealed::open_resident(&dek, &row).unwrap();
        names.push(opened.name.expose_secret().to_owned());
        let plan = plans::Entity::find()
            .filter(plans::Column::ResidentId.eq(row.id))
            .one(db.conn())
            .await
            .unwrap()
            .unwrap();
        for section in sections::Entity::find()
            .filter(sections::Column::PlanId.eq(plan.id))
            .all(db.conn())
            .await
            .unwrap()
        {
            let revision = section_revisions::Entity::find()
                .filter(section_revisions::Column::SectionId.eq(section.id))
                .one(db.conn())
                .await
                .unwrap()
                .unwrap();
            let content = sealed::open_revision(&dek, id, &revision).unwrap();
            assert!(!content.expose_secret().is_empty());
        }
        // Consent evidence, withdrawal reasons and objection reasons are sealed too.
        for consent in store::entity::consents::Entity::find()
            .filter(store::entity::consents::Column::ResidentId.eq(row.id))
            .all(db.conn())
            .await
            .unwrap()
        {
            let evidence = consent.evidence_ciphertext.as_deref().unwrap();
            let text = sealed::open_text(&dek, sealed::CONSENT_EVIDENCE, consent.id, id, evidence);
            assert!(text.unwrap().expose_secret().starts_with("Toestemming"));
            if let Some(reason) = consent.withdrawal_reason_ciphertext.as_deref() {
                let column = sealed::CONSENT_WITHDRAWAL_REASON;
                sealed::open_text(&dek, column, consent.id, id, reason).unwrap();
            }
        }
        for objection in store::entity::objections::Entity::find()
            .filter(store::entity::objections::Column::ResidentId.eq(row.id))
            .all(db.conn())
            .await
            .unwrap()
        {
            let reason = objection.reason_ciphertext.as_deref().unwrap();
            let column = sealed::OBJECTION_REASON;
            sealed::open_text(&dek, column, objection.id, id, reason).unwrap();
        }
    }
    names.sort();
    names
}

fn demo_names() -> Vec<String> {
    let mut names: Vec<String> = seed::demo_resident_names().map(str::to_owned).collect();
    names.sort();
    names
}

#[tokio::test]
async fn demo_residents_round_trip_through_the_store() {
    let s = seeded().await;
    assert_eq!(open_everything(&s.db, &s.keys).await, demo_names());

    // Found by BSN through the blind index, without decrypting the table.
    for bsn in seed::demo_resident_bsns().unwrap() {
        let candidates: Vec<Vec<u8>> = s
            .keys
            .blind_index_candidates(&bsn)
            .iter()
            .map(|index| index.bytes().to_vec())
            .collect();
        let rows = residents::Entity::find()
            .filter(residents::Column::BsnBlindIndex.is_in(candidates))
            .all(s.db.conn())
            .await
            .unwrap();
        let matching: Vec<_> = rows
            .iter()
            .filter(|row| {
                let dek = s
                    .keys
                    .unwrap_dek(
                        row.wrapped_dek.as_deref().unwrap(),
                        ResidentId::from_uuid(row.id),
                    )
                    .unwrap();
                sealed::open_resident(&dek, row).unwrap().bsn == bsn
            })
            .collect();
        assert_eq!(matching.len(), 1, "each demo BSN belongs to one resident");
        assert!(
            rows.len() < 5,
            "a lookup reads a handful of rows, not the table"
        );
    }
}

#[tokio::test]
async fn the_raw_database_file_holds_no_names_bsns_or_stories() {
    let test_db = TestDb::sqlite();
    let db = test_db.migrated().await;
    let keys = crypto::ephemeral_key_ring().unwrap();
    seed::demo(&db, &keys, Utc::now()).await.unwrap();
    db.conn().clone().close().await.unwrap();

    let path = test_db.url().trim_start_matches("sqlite://").to_owned();
    let mut bytes = std::fs::read(&path).unwrap();
    // The write-ahead log too, in case a checkpoint had not run.
    if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
        bytes.extend(wal);
    }
    assert!(bytes.len() > 10_000, "the file holds the seeded network");
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|window| window == needle);
    assert!(
        contains(b"Wijkteam Noordwest"),
        "the scan can see plaintext that is stored as such"
    );
    for name in seed::demo_resident_names() {
        for part in name.split(' ').filter(|part| part.len() > 3) {
            assert!(
                !contains(part.as_bytes()),
                "{part:?} of a resident's name is in the file"
            );
        }
    }
    for bsn in seed::demo_resident_bsns().unwrap() {
        assert!(!contains(bsn.expose().as_bytes()), "a BSN is in the file");
    }
    for story in seed::demo_resident_stories() {
        let words = &story[..story.len().min(40)];
        assert!(
            !contains(words.as_bytes()),
            "story text {words:?} is in the file"
        );
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_resident_or_column_does_not_open() {
    let s = seeded().await;
    let rows = residents::Entity::find().all(s.db.conn()).await.unwrap();
    let (a, b) = (&rows[0], &rows[1]);

    // A's name pasted into B's row.
    let mut active = b.clone().into_active_model();
    active.name_ciphertext = Set(a.name_ciphertext.clone());
    residents::Entity::update(active)
        .exec(s.db.conn())
        .await
        .unwrap();
    let moved = residents::Entity::find_by_id(b.id)
        .one(s.db.conn())
        .await
        .unwrap()
        .unwrap();
    let dek_b = s
        .keys
        .unwrap_dek(
            b.wrapped_dek.as_deref().unwrap(),
            ResidentId::from_uuid(b.id),
        )
        .unwrap();
    assert!(matches!(
        sealed::open_resident(&dek_b, &moved),
        Err(StoreError::Crypto(crypto::CryptoError::Authentication))
    ));

    // A's own birth date pasted into A's name column.
    let dek_a = s
        .keys
        .unwrap_dek(
            a.wrapped_dek.as_deref().unwrap(),
            ResidentId::from_uuid(a.id),
        )
        .unwrap();
    let mut swapped = a.clone();
    swapped.name_ciphertext = a.birth_date_ciphertext.clone();
    assert!(matches!(
        sealed::open_resident(&dek_a, &swapped),
        Err(StoreError::Crypto(crypto::CryptoError::Authentication))
    ));

    // A's data key pasted into B's row.
    assert!(
        s.keys
            .unwrap_dek(
                a.wrapped_dek.as_deref().unwrap(),
                ResidentId::from_uuid(b.id)
            )
            .is_err()
    );
}

#[tokio::test]
async fn kek_rotation_interrupted_and_resumed_leaves_everything_readable() {
    let s = seeded().await;
    let new_version = crypto::add_kek_version(&s.key_file).unwrap();
    let keys = load(&s.key_file);
    assert_eq!(keys.current_kek_version(), new_version);

    // One batch, then "killed".
    assert_eq!(rekey::rewrap_batch(&s.db, &keys, 7).await.unwrap(), 7);
    let usage = rekey::key_usage(&s.db).await.unwrap();
    assert_eq!(usage.kek_rows(new_version), 7);
    assert_eq!(usage.kek_behind(new_version), n_demo() - 7);
    // Half-way, both versions are in use and every resident still opens.
    assert_eq!(open_everything(&s.db, &keys).await, demo_names());

    // Resumed by a fresh process with a fresh ring.
    let keys = load(&s.key_file);
    let mut moved = 0;
    loop {
        let changed = rekey::rewrap_batch(&s.db, &keys, 5).await.unwrap();
        if changed == 0 {
            break;
        }
        moved += changed;
    }
    assert_eq!(moved, n_demo() - 7);
    assert_eq!(
        rekey::key_usage(&s.db)
            .await
            .unwrap()
            .kek_behind(new_version),
        0
    );

    // The old version can go; everything still opens with the ring without it.
    crypto::retire_kek_version(&s.key_file, new_version - 1).unwrap();
    let keys = load(&s.key_file);
    assert_eq!(open_everything(&s.db, &keys).await, demo_names());
    // And the old ring no longer opens the re-wrapped keys.
    assert!(
        open_everything_fallible(&s.db, &s.keys).await.is_err(),
        "the original ring has no key for the new version"
    );
}

async fn open_everything_fallible(db: &Db, keys: &KeyRing) -> Result<(), crypto::CryptoError> {
    for row in residents::Entity::find().all(db.conn()).await.unwrap() {
        keys.unwrap_dek(
            row.wrapped_dek.as_deref().unwrap(),
            ResidentId::from_uuid(row.id),
        )?;
    }
    Ok(())
}

#[tokio::test]
async fn blind_index_rotation_recomputes_every_index_and_lookups_keep_working() {
    let s = seeded().await;
    let new_version = crypto::add_blind_index_version(&s.key_file).unwrap();
    let keys = load(&s.key_file);
    assert_eq!(rekey::reindex_batch(&s.db, &keys, 9).await.unwrap(), 9);
    // Mid-way, a lookup by the candidates of every live version finds every resident.
    let lookup = |keys: &KeyRing| {
        let keys_candidates: Vec<Vec<Vec<u8>>> = seed::demo_resident_bsns()
            .unwrap()
            .iter()
            .map(|bsn| {
                keys.blind_index_candidates(bsn)
                    .iter()
                    .map(|index| index.bytes().to_vec())
                    .collect()
            })
            .collect();
        keys_candidates
    };
    for candidates in lookup(&keys) {
        let found = residents::Entity::find()
            .filter(residents::Column::BsnBlindIndex.is_in(candidates))
            .all(s.db.conn())
            .await
            .unwrap();
        assert!(!found.is_empty());
    }
    while rekey::reindex_batch(&s.db, &keys, 4).await.unwrap() > 0 {}
    let usage = rekey::key_usage(&s.db).await.unwrap();
    assert_eq!(usage.blind_index_rows(new_version), n_demo());
    assert_eq!(usage.blind_index_behind(new_version), 0);
    // Each row's index is now the new key's index of its own BSN.
    for row in residents::Entity::find().all(s.db.conn()).await.unwrap() {
        let dek = keys
            .unwrap_dek(
                row.wrapped_dek.as_deref().unwrap(),
                ResidentId::from_uuid(row.id),
            )
            .unwrap();
        let bsn = sealed::open_resident(&dek, &row).unwrap().bsn;
        assert_eq!(row.bsn_blind_index, keys.blind_index(&bsn).bytes().to_vec());
        assert_eq!(row.bsn_index_key_version as u32, new_version);
    }
}

#[tokio::test]
async fn minors_consent_is_given_by_their_representatives_by_age() {
    use store::entity::{consents, representatives};
    let s = seeded().await;
    let given_by = |who: &'static str| {
        consents::Entity::find()
            .filter(consents::Column::GivenBy.eq(who))
            .all(s.db.conn())
    };
    // Noah (10): his parents; Sara (14): she and her mother together.
    let by_parents = given_by("representatives").await.unwrap();
    let together = given_by("resident-and-representatives").await.unwrap();
    assert_eq!((by_parents.len(), together.len()), (1, 1));
    let parents: Vec<String> =
        serde_json::from_value(by_parents[0].given_by_representative_ids.clone()).unwrap();
    assert_eq!(parents.len(), 2);

    // Representatives' names are sealed under the minor's key.
    for row in representatives::Entity::find()
        .all(s.db.conn())
        .await
        .unwrap()
    {
        let resident = residents::Entity::find_by_id(row.resident_id)
            .one(s.db.conn())
            .await
            .unwrap()
            .unwrap();
        let id = ResidentId::from_uuid(resident.id);
        let dek = s
            .keys
            .unwrap_dek(resident.wrapped_dek.as_deref().unwrap(), id)
            .unwrap();
        let name = sealed::open_text(
            &dek,
            sealed::REPRESENTATIVE_NAME,
            row.id,
            id,
            &row.name_ciphertext,
        )
        .unwrap();
        assert!(name.expose_secret().contains("de Wit") || name.expose_secret().contains("Yilmaz"));
    }
}

#[tokio::test]
async fn every_single_bit_flip_of_a_stored_ciphertext_is_detected() {
    let s = seeded().await;
    let rows = residents::Entity::find().all(s.db.conn()).await.unwrap();
    let revision = section_revisions::Entity::find()
        .one(s.db.conn())
        .await
        .unwrap()
        .unwrap();
    let mut flips = 0;
    for row in rows.iter().take(2) {
        let id = ResidentId::from_uuid(row.id);
        let dek = s
            .keys
            .unwrap_dek(row.wrapped_dek.as_deref().unwrap(), id)
            .unwrap();
        assert!(sealed::open_resident(&dek, row).is_ok());
        // Every bit of every encrypted column of the row, and of the wrapped data key.
        let columns: [fn(&mut residents::Model) -> &mut Vec<u8>; 3] = [
            |row| &mut row.bsn_ciphertext,
            |row| &mut row.name_ciphertext,
            |row| &mut row.birth_date_ciphertext,
        ];
        for column in columns {
            let mut tampered = row.clone();
            let len = column(&mut tampered).len();
            for bit in 0..len * 8 {
                column(&mut tampered)[bit / 8] ^= 1 << (bit % 8);
                assert!(sealed::open_resident(&dek, &tampered).is_err(), "bit {bit}");
                column(&mut tampered)[bit / 8] ^= 1 << (bit % 8);
                flips += 1;
            }
        }
        let wrapped = row.wrapped_dek.clone().unwrap();
        for bit in 0..wrapped.len() * 8 {
            let mut tampered = wrapped.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            assert!(
                s.keys.unwrap_dek(&tampered, id).is_err(),
                "wrapped key bit {bit}"
            );
            flips += 1;
        }
    }
    // And a section revision's content.
    let plan = sections::Entity::find_by_id(revision.section_id)
        .one(s.db.conn())
        .await
        .unwrap()
        .unwrap()
        .plan_id;
    let resident = plans::Entity::find_by_id(plan)
        .one(s.db.conn())
        .await
        .unwrap()
        .unwrap()
        .resident_id;
    let owner = residents::Entity::find_by_id(resident)
        .one(s.db.conn())
        .await
        .unwrap()
        .unwrap();
    let id = ResidentId::from_uuid(owner.id);
    let dek = s
        .keys
        .unwrap_dek(owner.wrapped_dek.as_deref().unwrap(), id)
        .unwrap();
    assert!(sealed::open_revision(&dek, id, &revision).is_ok());
    for bit in 0..revision.content_ciphertext.len() * 8 {
        let mut tampered = revision.clone();
        tampered.content_ciphertext[bit / 8] ^= 1 << (bit % 8);
        assert!(
            sealed::open_revision(&dek, id, &tampered).is_err(),
            "content bit {bit}"
        );
        flips += 1;
    }
    // Truncated and empty.
    let mut truncated = revision.clone();
    truncated.content_ciphertext.pop();
    assert!(sealed::open_revision(&dek, id, &truncated).is_err());
    truncated.content_ciphertext.clear();
    assert!(sealed::open_revision(&dek, id, &truncated).is_err());
    assert!(flips > 3000, "{flips} flips checked");
}
