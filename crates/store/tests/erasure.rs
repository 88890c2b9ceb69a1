//! Erasure by crypto-shredding through the store: refused while a plan is open or its retention
//! period runs (nothing written), then the resident's fields are unreadable while every other
//! resident, the rows and the tombstone stay; rotation afterwards leaves the erased key alone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns too

use chrono::{Duration, Utc};
use crypto::KeyRing;
use domain::{PlanKind, PlanStatus, ResidentId, ResidentStatus};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use store::entity::{erasures, plans, residents};
use store::erase::{self, EraseError, Eraser, RetentionConfig};
use store::{Db, rekey, sealed, seed};
use testkit::TestDb;

const RETENTION: RetentionConfig = RetentionConfig {
    wmo_years: 15,
    jeugd_years: 20,
};

fn eraser() -> Eraser {
    Eraser {
        by: "cli:test".into(),
        ground: "AVG-verzoek 2026-001".into(),
    }
}

struct Setup {
    _test_db: TestDb,
    dir: tempfile::TempDir,
    db: Db,
    keys: KeyRing,
    resident: residents::Model,
}

fn load(path: &std::path::Path) -> KeyRing {
    use crypto::KeyProvider;
    crypto::FileKeyProvider::new(path).load().unwrap()
}

async fn setup() -> Setup {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    let dir = tempfile::tempdir().unwrap();
    crypto::generate_key_file(&dir.path().join("keys")).unwrap();
    let keys = load(&dir.path().join("keys"));
    seed::demo(&db, &keys, Utc::now()).await.unwrap();
    let resident = residents::Entity::find()
        .one(db.conn())
        .await
        .unwrap()
        .unwrap();
    Setup {
        _test_db: test_db,
        dir,
        db,
        keys,
        resident,
    }
}

async fn close_plans(db: &Db, resident: uuid::Uuid, kind: PlanKind, closed_years_ago: i64) {
    for plan in plans::Entity::find()
        .filter(plans::Column::ResidentId.eq(resident))
        .all(db.conn())
        .await
        .unwrap()
    {
        let mut plan = plan.into_active_model();
        plan.status = Set(PlanStatus::Closed.as_str().into());
        plan.kind = Set(kind.as_str().into());
        plan.updated_at = Set(Utc::now() - Duration::days(365 * closed_years_ago + 5));
        plans::Entity::update(plan).exec(db.conn()).await.unwrap();
    }
}

async fn unchanged(db: &Db, before: &residents::Model) {
    let after = residents::Entity::find_by_id(before.id)
        .one(db.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.wrapped_dek, before.wrapped_dek);
    assert_eq!(after.status, ResidentStatus::Active.as_str());
    let tombstones = erasures::Entity::find().all(db.conn()).await.unwrap();
    assert!(tombstones.is_empty(), "nothing written");
}

#[tokio::test]
async fn refused_while_a_plan_is_open() {
    let Setup {
        db,
        resident,
        _test_db,
        ..
    } = setup().await;
    let error = erase::erase_resident(&db, resident.id, &RETENTION, &eraser(), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(error, EraseError::PlanOpen { .. }), "{error}");
    unchanged(&db, &resident).await;
}

#[tokio::test]
async fn refused_during_the_retention_period_with_the_date_it_ends() {
    let Setup {
        db,
        resident,
        _test_db,
        ..
    } = setup().await;
    close_plans(&db, resident.id, PlanKind::Wmo, 10).await;
    let error = erase::erase_resident(&db, resident.id, &RETENTION, &eraser(), Utc::now())
        .await
        .unwrap_err();
    let EraseError::RetentionRunning { until, years, .. } = error else {
        panic!("{error}");
    };
    assert_eq!(years, 15);
    let expected = (Utc::now() + Duration::days(365 * 5)).date_naive();
    assert!(
        (until - expected).num_days().abs() < 10,
        "{until} vs {expected}"
    );
    assert!(
        error_text(&db, resident.id)
            .await
            .contains(&until.to_string())
    );
    unchanged(&db, &resident).await;

    // Youth care is kept twenty years: sixteen is not enough.
    close_plans(&db, resident.id, PlanKind::Jeugd, 16).await;
    let error = erase::erase_resident(&db, resident.id, &RETENTION, &eraser(), Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(error, EraseError::RetentionRunning { years: 20, .. }),
        "{error}"
    );
    unchanged(&db, &resident).await;
}

async fn error_text(db: &Db, resident: uuid::Uuid) -> String {
    erase::erase_resident(db, resident, &RETENTION, &eraser(), Utc::now())
        .await
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn erasure_makes_only_that_resident_unreadable_and_survives_rotation() {
    let Setup {
        db,
        keys,
        resident,
        dir,
        _test_db,
    } = setup().await;
    close_plans(&db, resident.id, PlanKind::Wmo, 16).await;
    let erased = erase::erase_resident(&db, resident.id, &RETENTION, &eraser(), Utc::now())
        .await
        .unwrap();
    assert_eq!(erased.resident, resident.id);

    let row = residents::Entity::find_by_id(resident.id)
        .one(db.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ResidentStatus::Erased.as_str());
    assert!(crypto::is_erased(row.wrapped_dek.as_deref().unwrap()));
    assert!(matches!(
        keys.unwrap_dek(
            row.wrapped_dek.as_deref().unwrap(),
            ResidentId::from_uuid(row.id)
        ),
        Err(crypto::CryptoError::Erased)
    ));
    // The ciphertexts are still there, and no key the system holds opens them.
    assert_eq!(row.name_ciphertext, resident.name_ciphertext);
    let tombstone = erasures::Entity::find()
        .filter(erasures::Column::ResidentId.eq(resident.id))
        .one(db.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tombstone.erased_by, "cli:test");
    assert_eq!(tombstone.ground, "AVG-verzoek 2026-001");

    // Everyone else is intact.
    let others = residents::Entity::find()
        .filter(residents::Column::Id.ne(resident.id))
        .all(db.conn())
        .await
        .unwrap();
    assert_eq!(others.len(), seed::demo_resident_names().count() - 1);
    for other in &others {
        let dek = keys
            .unwrap_dek(
                other.wrapped_dek.as_deref().unwrap(),
                ResidentId::from_uuid(other.id),
            )
            .unwrap();
        sealed::open_resident(&dek, other).unwrap();
    }

    // Twice is refused, and says when it happened.
    let again = erase::erase_resident(&db, resident.id, &RETENTION, &eraser(), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(again, EraseError::AlreadyErased { .. }), "{again}");

    // A later KEK rotation skips the erased resident: its key is not brought back.
    let usage = rekey::key_usage(&db).await.unwrap();
    assert_eq!(
        usage.kek.values().sum::<u64>(),
        others.len() as u64,
        "erased residents are not counted as under any key"
    );
    crypto::add_kek_version(&dir.path().join("keys")).unwrap();
    let rotated = load(&dir.path().join("keys"));
    assert_eq!(
        rekey::rewrap_batch(&db, &rotated, 1000).await.unwrap(),
        others.len() as u64
    );
    assert_eq!(rekey::rewrap_batch(&db, &rotated, 1000).await.unwrap(), 0);
    let row = residents::Entity::find_by_id(resident.id)
        .one(db.conn())
        .await
        .unwrap()
        .unwrap();
    assert!(crypto::is_erased(row.wrapped_dek.as_deref().unwrap()));
}

#[tokio::test]
async fn an_unknown_resident_is_not_found() {
    let Setup { db, _test_db, .. } = setup().await;
    let error = erase::erase_resident(&db, uuid::Uuid::now_v7(), &RETENTION, &eraser(), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(error, EraseError::NotFound(_)), "{error}");
}
