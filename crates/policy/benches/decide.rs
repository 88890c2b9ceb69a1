//! Cost of one `decide` call on realistic facts: a resident with a plan, three care relations,
//! four consents (one withdrawn, one expired), an objection and no break-the-glass.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::{
    Action, CareRelationId, CareRelationKind, Category, ConsentId, MemberId, NetworkId,
    ObjectionId, ObjectionKind, OrganisationId, OrganisationKind, Purpose, ResidentId, Role,
};
use policy::{
    Actor, CareParty, CareRelation, CategorySet, Consent, Facts, Grantee, Matrix, MemberActor,
    Objection, Organisation, OrganisationScope, PlanFacts, PurposeSet, Request, Resident, decide,
};
use uuid::Uuid;

fn org(n: u128) -> OrganisationId {
    OrganisationId::from_uuid(Uuid::from_u128(n))
}

fn bench_decide(c: &mut Criterion) {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    let network = NetworkId::from_uuid(Uuid::from_u128(1));
    let resident = Resident {
        id: ResidentId::from_uuid(Uuid::from_u128(2)),
        birth_date: NaiveDate::from_ymd_opt(1980, 5, 17).unwrap(),
        network,
        representatives: Vec::new(),
    };
    let actor = Actor::Member(MemberActor {
        id: MemberId::from_uuid(Uuid::from_u128(3)),
        role: Role::WelfareWorker,
        organisation: Organisation {
            id: org(10),
            kind: OrganisationKind::Welzijn,
            networks: vec![NetworkId::from_uuid(Uuid::from_u128(5)), network],
            active: true,
        },
        active: true,
    });
    let relation = |n: u128, party| CareRelation {
        id: CareRelationId::from_uuid(Uuid::from_u128(n)),
        party,
        kind: CareRelationKind::Involved,
        from: now - Duration::days(30),
        until: None,
    };
    let consent = |n: u128, grantee: OrganisationId, categories: CategorySet| Consent {
        id: ConsentId::from_uuid(Uuid::from_u128(n)),
        resident: resident.id,
        grantee: Grantee::Organisation {
            id: grantee,
            kind: OrganisationKind::Welzijn,
        },
        categories,
        purposes: PurposeSet::from([Purpose::Support, Purpose::Coordination]),
        valid_from: now - Duration::days(30),
        valid_until: now + Duration::days(300),
        withdrawn_at: None,
    };
    let mut withdrawn = consent(31, org(10), CategorySet::all());
    withdrawn.withdrawn_at = Some(now - Duration::days(2));
    let mut expired = consent(32, org(10), CategorySet::all());
    expired.valid_until = now - Duration::days(1);
    let facts = Facts {
        plan: Some(PlanFacts {
            owning_organisation: org(12),
            owning_organisation_kind: OrganisationKind::Wijkteam,
            coordinating_coach: Some(MemberId::from_uuid(Uuid::from_u128(20))),
        }),
        care_relations: vec![
            relation(60, CareParty::Organisation(org(12))),
            relation(61, CareParty::Organisation(org(13))),
            relation(62, CareParty::Organisation(org(10))),
        ],
        consents: vec![
            withdrawn,
            expired,
            consent(33, org(13), CategorySet::all()),
            consent(
                34,
                org(10),
                CategorySet::from([Category::Story, Category::Goals]),
            ),
        ],
        objections: vec![Objection {
            id: ObjectionId::from_uuid(Uuid::from_u128(50)),
            kind: ObjectionKind::Restriction,
            categories: CategorySet::from([Category::Finances]),
            organisations: OrganisationScope::Every,
            from: now - Duration::days(3),
            until: None,
            lifted_at: None,
        }],
        break_glass: Vec::new(),
    };
    let matrix = Matrix::default();
    let permit = Request {
        action: Action::Read,
        category: Category::Goals,
        purpose: Purpose::Support,
        section_author: None,
    };
    let deny = Request {
        category: Category::Agreements,
        ..permit
    };
    assert!(decide(&matrix, &actor, &permit, &resident, &facts, now).is_permit());
    assert!(!decide(&matrix, &actor, &deny, &resident, &facts, now).is_permit());

    c.bench_function("decide/permit-by-consent", |b| {
        b.iter(|| {
            decide(
                black_box(&matrix),
                black_box(&actor),
                black_box(&permit),
                black_box(&resident),
                black_box(&facts),
                black_box(now),
            )
        })
    });
    c.bench_function("decide/deny-after-all-consents", |b| {
        b.iter(|| {
            decide(
                black_box(&matrix),
                black_box(&actor),
                black_box(&deny),
                black_box(&resident),
                black_box(&facts),
                black_box(now),
            )
        })
    });
}

criterion_group!(benches, bench_decide);
criterion_main!(benches);
