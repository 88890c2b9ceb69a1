//! Finding and registering residents through the store: a BSN finds its resident through the
//! blind index and no other; a registration writes the resident, their representatives and the
//! wijkteam's coordinator care relation; a page holds only residents with a care relation valid
//! now, in order, the same whatever the page size.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns too

use chrono::{Duration, NaiveDate, Utc};
use crypto::{DekCache, DekCacheConfig, KeyRing};
use domain::{Bsn, NetworkId, ResidentId, ResidentStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use secrecy::ExposeSecret;
use store::entity::{care_relations, members, organisations};
use store::residents::{
    CareParty, NewRepresentative, Registration, ResidentFilter, find_by_bsn, insert_registration,
    load_representatives, lock_bsn_for_registration, page_known,
};
use store::sealed::NewResident;
use store::{Db, seed};
use uuid::Uuid;

struct Setup {
    _test_db: testkit::TestDb,
    db: Db,
    keys: KeyRing,
    deks: DekCache,
}

async fn setup() -> Setup {
    let test_db = testkit::TestDb::new().await;
    let db = test_db.migrated().await;
    let keys =
        crypto::key_ring_from_text(crypto::generate_key_text().unwrap().expose_secret()).unwrap();
    seed::demo(&db, &keys, Utc::now()).await.unwrap();
    Setup {
        _test_db: test_db,
        db,
        keys,
        deks: DekCache::new(DekCacheConfig::default()),
    }
}

async fn organisation(db: &Db, name: &str) -> organisations::Model {
    organisations::Entity::find()
        .filter(organisations::Column::Name.eq(name))
        .one(db.conn())
        .await
        .unwrap()
        .unwrap()
}

async fn register(setup: &Setup, bsn: &str, wijkteam: Uuid, member: Uuid) -> ResidentId {
    let network = organisation_network(&setup.db, wijkteam).await;
    let registration = Registration {
        id: ResidentId::new(),
        resident: NewResident {
            network,
            bsn: Bsn::parse(bsn).unwrap(),
            name: "Test Inwoner".into(),
            birth_date: NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
            contact: None,
            area: "Testwijk".into(),
        },
        representatives: vec![NewRepresentative {
            name: "Test Ouder".into(),
            relation: "ouder".into(),
        }],
        wijkteam,
        coordinating_member: Some(member),
        recorded_by: member,
    };
    let tx = setup.db.conn().begin().await.unwrap();
    lock_bsn_for_registration(&tx, &setup.keys, &registration.resident.bsn)
        .await
        .unwrap();
    insert_registration(&tx, &setup.keys, &registration, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    registration.id
}

async fn organisation_network(db: &Db, organisation: Uuid) -> NetworkId {
    let records = store::records::load_organisations(db.conn(), &[organisation])
        .await
        .unwrap();
    NetworkId::from_uuid(records[&organisation].networks[0])
}

#[tokio::test]
async fn a_bsn_finds_its_resident_and_no_other() {
    let setup = setup().await;
    let wijkteam = organisation(&setup.db, "Wijkteam Noordwest").await;
    let coach = members::Entity::find()
        .filter(members::Column::Email.eq("coach@noordwest.demo"))
        .one(setup.db.conn())
        .await
        .unwrap()
        .unwrap();
    let id = register(&setup, "123456782", wijkteam.id, coach.id).await;
    let conn = setup.db.conn();
    let found = find_by_bsn(
        conn,
        &setup.keys,
        &setup.deks,
        &Bsn::parse("123456782").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        found.iter().map(|row| row.id).collect::<Vec<_>>(),
        [id.as_uuid()]
    );
    // Every demo resident by their own BSN, and a valid BSN nobody has.
    for bsn in seed::demo_resident_bsns().unwrap() {
        assert_eq!(
            find_by_bsn(conn, &setup.keys, &setup.deks, &bsn)
                .await
                .unwrap()
                .len(),
            1
        );
    }
    let nobody = Bsn::parse("234567806").unwrap();
    assert!(
        find_by_bsn(conn, &setup.keys, &setup.deks, &nobody)
            .await
            .unwrap()
            .is_empty()
    );
    // The representative and the coordinator care relation came with the registration.
    let representatives = load_representatives(conn, &[id.as_uuid()]).await.unwrap();
    assert_eq!(representatives[&id.as_uuid()].len(), 1);
    assert_eq!(representatives[&id.as_uuid()][0].relation, "ouder");
    let relations = care_relations::Entity::find()
        .filter(care_relations::Column::ResidentId.eq(id.as_uuid()))
        .all(conn)
        .await
        .unwrap();
    assert_eq!(relations.len(), 1);
    assert_eq!(relations[0].kind, "coordinator");
    assert_eq!(relations[0].member_id, Some(coach.id));
}

#[tokio::test]
async fn a_page_holds_only_residents_with_a_care_relation_now() {
    let setup = setup().await;
    let conn = setup.db.conn();
    let now = Utc::now();
    let kompas = organisation(&setup.db, "GGZ Kompas").await;
    let networks = store::records::load_organisations(conn, &[kompas.id])
        .await
        .unwrap()[&kompas.id]
        .networks
        .clone();
    let party = CareParty {
        organisation: kompas.id,
        member: None,
    };
    let all = page_known(
        conn,
        party,
        &networks,
        &ResidentFilter::default(),
        None,
        100,
        now,
    )
    .await
    .unwrap();
    let related: Vec<Uuid> = care_relations::Entity::find()
        .filter(care_relations::Column::OrganisationId.eq(kompas.id))
        .order_by_asc(care_relations::Column::ResidentId)
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|relation| relation.resident_id)
        .collect();
    assert_eq!(all, related);
    assert!(all.len() >= 3);

    // Pages of one, each after the last: the same list.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = page_known(
            conn,
            party,
            &networks,
            &ResidentFilter::default(),
            after,
            1,
            now,
        )
        .await
        .unwrap();
        let Some(last) = page.last().copied() else {
            break;
        };
        paged.extend(page);
        after = Some(last);
    }
    assert_eq!(paged, all);

    // An ended relation, one that ran out, and one not yet started do not count.
    let mut changes = all.iter().copied();
    let (ended, ran_out, later) = (
        changes.next().unwrap(),
        changes.next().unwrap(),
        changes.next().unwrap(),
    );
    for (resident, column, value) in [
        (
            ended,
            care_relations::Column::EndedAt,
            now - Duration::hours(1),
        ),
        (
            ran_out,
            care_relations::Column::ValidUntil,
            now - Duration::hours(1),
        ),
        (
            later,
            care_relations::Column::ValidFrom,
            now + Duration::days(1),
        ),
    ] {
        care_relations::Entity::update_many()
            .col_expr(column, Expr::value(value))
            .filter(care_relations::Column::ResidentId.eq(resident))
            .filter(care_relations::Column::OrganisationId.eq(kompas.id))
            .exec(conn)
            .await
            .unwrap();
    }
    let now_known = page_known(
        conn,
        party,
        &networks,
        &ResidentFilter::default(),
        None,
        100,
        now,
    )
    .await
    .unwrap();
    assert_eq!(now_known, all[3..].to_vec());
    // Outside the organisation's networks, nothing.
    assert!(
        page_known(conn, party, &[], &ResidentFilter::default(), None, 100, now)
            .await
            .unwrap()
            .is_empty()
    );
    // The area filter narrows by the plaintext wijk only.
    let filter = ResidentFilter {
        status: Some(ResidentStatus::Active),
        area: Some("no such wijk".into()),
    };
    assert!(
        page_known(conn, party, &networks, &filter, None, 100, now)
            .await
            .unwrap()
            .is_empty()
    );
}
