//! Fixtures shared by the integration tests: fixed ids, a fixed `now`, and facts built from the
//! decision table's vocabulary. Never used by the crate itself.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use domain::{
    Action, BreakGlassId, CareRelationId, CareRelationKind, Category, ConsentId, MemberId,
    NetworkId, ObjectionId, ObjectionKind, OrganisationId, OrganisationKind, Purpose, ResidentId,
    Role,
};
use policy::{
    Actor, BreakGlassGrant, CareParty, CareRelation, CategorySet, Consent, Facts, Grantee,
    MemberActor, Objection, Organisation, OrganisationScope, PlanFacts, PurposeSet, Request,
    Resident,
};
use uuid::Uuid;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

pub fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub const NETWORK: u128 = 1;
pub const RESIDENT: u128 = 2;
pub const ACTOR: u128 = 3;
pub const ACTOR_ORG: u128 = 10;
pub const OTHER_ORG: u128 = 11;
pub const OWNING_WIJKTEAM: u128 = 12;
pub const COORDINATING_COACH: u128 = 20;
pub const CONSENT: u128 = 30;
pub const GRANT: u128 = 40;

pub fn network() -> NetworkId {
    NetworkId::from_uuid(uuid(NETWORK))
}

pub fn adult() -> Resident {
    Resident {
        id: ResidentId::from_uuid(uuid(RESIDENT)),
        birth_date: NaiveDate::from_ymd_opt(1980, 5, 17).unwrap(),
        network: network(),
        representatives: Vec::new(),
    }
}

pub fn organisation(n: u128, kind: OrganisationKind) -> Organisation {
    Organisation {
        id: OrganisationId::from_uuid(uuid(n)),
        kind,
        networks: vec![network()],
        active: true,
    }
}

/// The kind of organisation a member of this role belongs to in the fixtures.
pub fn kind_for(role: Role) -> OrganisationKind {
    match role {
        Role::Coach | Role::Triagist => OrganisationKind::Wijkteam,
        Role::WelfareWorker => OrganisationKind::Welzijn,
        Role::ProviderWorker => OrganisationKind::Zorgaanbieder,
        Role::PrivacyOfficer | Role::Administrator => OrganisationKind::Gemeente,
    }
}

pub fn member(role: Role) -> Actor {
    Actor::Member(MemberActor {
        id: MemberId::from_uuid(uuid(ACTOR)),
        role,
        organisation: organisation(ACTOR_ORG, kind_for(role)),
        active: true,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentState {
    None,
    Valid,
    Expired,
    NotYetValid,
    Withdrawn,
    OtherOrganisation,
    OtherCategory,
    OtherPurpose,
}

impl ConsentState {
    pub const ALL: [(ConsentState, &'static str); 8] = [
        (ConsentState::None, "none"),
        (ConsentState::Valid, "valid"),
        (ConsentState::Expired, "expired"),
        (ConsentState::NotYetValid, "not-yet-valid"),
        (ConsentState::Withdrawn, "withdrawn"),
        (ConsentState::OtherOrganisation, "other-organisation"),
        (ConsentState::OtherCategory, "other-category"),
        (ConsentState::OtherPurpose, "other-purpose"),
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CareState {
    None,
    Valid,
    Ended,
}

impl CareState {
    pub const ALL: [(CareState, &'static str); 3] = [
        (CareState::None, "none"),
        (CareState::Valid, "valid"),
        (CareState::Ended, "ended"),
    ];
}

/// One combination of the decision table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    pub role: Role,
    pub action: Action,
    pub category: Category,
    pub owner: bool,
    pub purpose: Purpose,
    pub consent: ConsentState,
    pub objection: bool,
    pub care: CareState,
    pub break_glass: bool,
}

/// The actor, request, resident and facts a case describes.
pub fn build(case: &Case) -> (Actor, Request, Resident, Facts) {
    let actor = member(case.role);
    let actor_org = actor.organisation().clone();
    let resident = adult();
    let request = Request {
        action: case.action,
        category: case.category,
        purpose: case.purpose,
        section_author: None,
    };
    let plan = if case.owner {
        PlanFacts {
            owning_organisation: actor_org.id,
            owning_organisation_kind: actor_org.kind,
            coordinating_coach: Some(MemberId::from_uuid(uuid(COORDINATING_COACH))),
        }
    } else {
        PlanFacts {
            owning_organisation: OrganisationId::from_uuid(uuid(OWNING_WIJKTEAM)),
            owning_organisation_kind: OrganisationKind::Wijkteam,
            coordinating_coach: Some(MemberId::from_uuid(uuid(COORDINATING_COACH))),
        }
    };
    let now = now();
    let mut consent = Consent {
        id: ConsentId::from_uuid(uuid(CONSENT)),
        resident: resident.id,
        grantee: Grantee::Organisation {
            id: actor_org.id,
            kind: actor_org.kind,
        },
        categories: CategorySet::from([case.category]),
        purposes: PurposeSet::from([case.purpose]),
        valid_from: now - Duration::days(30),
        valid_until: now + Duration::days(30),
        withdrawn_at: None,
    };
    let consents = match case.consent {
        ConsentState::None => Vec::new(),
        ConsentState::Valid => vec![consent],
        ConsentState::Expired => {
            consent.valid_from = now - Duration::days(60);
            consent.valid_until = now - Duration::days(1);
            vec![consent]
        }
        ConsentState::NotYetValid => {
            consent.valid_from = now + Duration::days(1);
            consent.valid_until = now + Duration::days(60);
            vec![consent]
        }
        ConsentState::Withdrawn => {
            consent.withdrawn_at = Some(now - Duration::hours(1));
            vec![consent]
        }
        ConsentState::OtherOrganisation => {
            consent.grantee = Grantee::Organisation {
                id: OrganisationId::from_uuid(uuid(OTHER_ORG)),
                kind: actor_org.kind,
            };
            vec![consent]
        }
        ConsentState::OtherCategory => {
            consent.categories = CategorySet::all().without(case.category);
            vec![consent]
        }
        ConsentState::OtherPurpose => {
            consent.purposes = PurposeSet::all().without(case.purpose);
            vec![consent]
        }
    };
    let objections = if case.objection {
        vec![Objection {
            id: ObjectionId::from_uuid(uuid(50)),
            kind: ObjectionKind::Objection,
            categories: CategorySet::from([case.category]),
            organisations: OrganisationScope::Every,
            from: now - Duration::days(1),
            until: None,
            lifted_at: None,
        }]
    } else {
        Vec::new()
    };
    let relation = |from: DateTime<Utc>, until: Option<DateTime<Utc>>| CareRelation {
        id: CareRelationId::from_uuid(uuid(60)),
        party: CareParty::Organisation(actor_org.id),
        kind: CareRelationKind::Involved,
        from,
        until,
    };
    let care_relations = match case.care {
        CareState::None => Vec::new(),
        CareState::Valid => vec![relation(now - Duration::days(10), None)],
        CareState::Ended => {
            vec![relation(
                now - Duration::days(100),
                Some(now - Duration::days(1)),
            )]
        }
    };
    let break_glass = if case.break_glass {
        vec![BreakGlassGrant {
            id: BreakGlassId::from_uuid(uuid(GRANT)),
            resident: resident.id,
            holder: actor.id(),
            organisation: actor_org.id,
            role: case.role,
            from: now - Duration::hours(1),
            until: now + Duration::hours(3),
        }]
    } else {
        Vec::new()
    };
    let facts = Facts {
        plan: Some(plan),
        care_relations,
        consents,
        objections,
        break_glass,
    };
    (actor, request, resident, facts)
}
