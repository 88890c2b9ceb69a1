//! Batch loading of residents' records: everything about every requested resident, nothing about
//! anyone else, unknown ids absent.

use chrono::Utc;
use sea_orm::{EntityTrait, PaginatorTrait};
use store::entity::{care_relations, consents, objections, plans, representatives, residents};
use store::records;
use store::seed;
use testkit::TestDb;

#[tokio::test]
async fn records_hold_every_row_of_the_requested_residents_only() {
    let test_db = TestDb::new().await;
    let db = test_db.migrated().await;
    let keys = crypto::ephemeral_key_ring().unwrap();
    seed::demo(&db, &keys, Utc::now()).await.unwrap();
    let conn = db.conn();

    let all: Vec<uuid::Uuid> = residents::Entity::find()
        .all(conn)
        .await
        .unwrap()
        .iter()
        .map(|row| row.id)
        .collect();
    let loaded = records::load_records(conn, &all).await.unwrap();
    assert_eq!(loaded.len(), all.len());
    let total =
        |f: fn(&records::ResidentRecord) -> usize| loaded.values().map(f).sum::<usize>() as u64;
    assert_eq!(
        total(|r| r.plans.len()),
        plans::Entity::find().count(conn).await.unwrap()
    );
    assert_eq!(
        total(|r| r.care_relations.len()),
        care_relations::Entity::find().count(conn).await.unwrap()
    );
    assert_eq!(
        total(|r| r.consents.len()),
        consents::Entity::find().count(conn).await.unwrap()
    );
    assert_eq!(
        total(|r| r.objections.len()),
        objections::Entity::find().count(conn).await.unwrap()
    );
    assert_eq!(
        total(|r| r.representatives.len()),
        representatives::Entity::find().count(conn).await.unwrap()
    );
    for (id, record) in &loaded {
        assert_eq!(record.resident.id, *id);
        assert!(record.plans.iter().all(|plan| plan.resident_id == *id));
        assert!(
            record
                .consents
                .iter()
                .all(|consent| consent.resident_id == *id)
        );
    }

    // Two residents and an unknown id: exactly those two.
    let unknown = uuid::Uuid::now_v7();
    let some = records::load_records(conn, &[all[0], all[3], unknown])
        .await
        .unwrap();
    assert_eq!(some.len(), 2);
    assert!(some.contains_key(&all[0]) && some.contains_key(&all[3]));
    assert!(records::load_records(conn, &[]).await.unwrap().is_empty());

    // Organisations come with their networks.
    let organisation_ids: Vec<uuid::Uuid> = loaded
        .values()
        .flat_map(|record| {
            record
                .care_relations
                .iter()
                .map(|relation| relation.organisation_id)
        })
        .collect();
    let organisations = records::load_organisations(conn, &organisation_ids)
        .await
        .unwrap();
    assert!(!organisations.is_empty());
    assert!(
        organisations
            .values()
            .all(|record| record.networks.len() == 1)
    );
}
