//! Invariants of `decide` over random worlds (proptest): no permit without a basis in the facts,
//! an objection always denies, a withdrawn or expired consent never permits, the FG and the
//! administrator never get content, a permit implies need to know, tightening never widens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Duration, Utc};
use domain::{
    Action, BreakGlassId, CareRelationId, CareRelationKind, Category, ClientId, ConsentId,
    MemberId, NetworkId, ObjectionId, ObjectionKind, OrganisationKind, Purpose, ResidentId, Role,
};
use policy::{
    Access, Actor, ActorId, Basis, BreakGlassGrant, CareParty, CareRelation, CategorySet,
    ClientActor, ClientScopes, Consent, Decision, Facts, Grantee, Matrix, MemberActor, Objection,
    Organisation, OrganisationScope, Outcome, Override, PlanFacts, PurposeSet, Request, Resident,
    decide,
};
use proptest::prelude::*;

/// Draws small choices from a vector of random numbers, so one `Vec<u32>` strategy builds a world.
struct Dice<'a> {
    numbers: &'a [u32],
    next: usize,
}

impl Dice<'_> {
    fn roll(&mut self, sides: u32) -> u32 {
        let number = self.numbers[self.next % self.numbers.len()];
        self.next += 1;
        number % sides
    }
    fn chance(&mut self, percent: u32) -> bool {
        self.roll(100) < percent
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.roll(items.len() as u32) as usize]
    }
    fn hours(&mut self) -> Duration {
        Duration::hours(i64::from(self.roll(200)) - 100)
    }
    fn categories(&mut self) -> CategorySet {
        let bits = self.roll(256);
        Category::ALL
            .iter()
            .copied()
            .filter(|c| bits & (1 << (*c as u32)) != 0)
            .collect()
    }
    fn purposes(&mut self) -> PurposeSet {
        let bits = self.roll(16);
        Purpose::ALL
            .iter()
            .copied()
            .filter(|p| bits & (1 << (*p as u32)) != 0)
            .collect()
    }
}

struct World {
    actor: Actor,
    request: Request,
    resident: Resident,
    facts: Facts,
    now: DateTime<Utc>,
}

fn world(numbers: &[u32]) -> World {
    let mut dice = Dice { numbers, next: 0 };
    let now = common::now();
    let network = common::network();
    let other_network = NetworkId::from_uuid(common::uuid(9));
    let kinds = [
        OrganisationKind::Wijkteam,
        OrganisationKind::Wijkteam,
        OrganisationKind::Welzijn,
        OrganisationKind::Zorgaanbieder,
        OrganisationKind::Gemeente,
    ];
    let organisations: Vec<Organisation> = kinds
        .iter()
        .enumerate()
        .map(|(idx, kind)| {
            let mut organisation = common::organisation(100 + idx as u128, *kind);
            organisation.active = dice.chance(90);
            if dice.chance(10) {
                organisation.networks = vec![other_network];
            }
            organisation
        })
        .collect();
    let resident = if dice.chance(50) {
        common::adult()
    } else {
        Resident {
            birth_date: chrono::NaiveDate::from_ymd_opt(2014, 1, 1).unwrap(),
            ..common::adult()
        }
    };
    let other_resident = ResidentId::from_uuid(common::uuid(8));
    let actor_org = organisations[dice.roll(5) as usize].clone();
    let member_id = MemberId::from_uuid(common::uuid(common::ACTOR));
    let actor = if dice.chance(70) {
        Actor::Member(MemberActor {
            id: member_id,
            role: dice.pick(Role::ALL),
            organisation: actor_org,
            active: dice.chance(90),
        })
    } else {
        Actor::Client(ClientActor {
            id: ClientId::from_uuid(common::uuid(4)),
            organisation: actor_org,
            scopes: ClientScopes {
                read: dice.categories(),
                write: dice.categories(),
                purposes: dice.purposes(),
            },
            active: dice.chance(90),
        })
    };
    let org_ids: Vec<_> = organisations.iter().map(|o| (o.id, o.kind)).collect();
    let other_member = MemberId::from_uuid(common::uuid(21));
    let request = Request {
        action: dice.pick(Action::ALL),
        category: dice.pick(Category::ALL),
        purpose: dice.pick(Purpose::ALL),
        section_author: if dice.chance(50) {
            None
        } else {
            Some(dice.pick(&org_ids).0)
        },
    };
    let (owner, owner_kind) = dice.pick(&org_ids);
    let plan = dice.chance(90).then(|| PlanFacts {
        owning_organisation: owner,
        owning_organisation_kind: owner_kind,
        coordinating_coach: Some(dice.pick(&[member_id, other_member])),
    });
    let care_relations = (0..dice.roll(4))
        .map(|idx| CareRelation {
            id: CareRelationId::from_uuid(common::uuid(200 + u128::from(idx))),
            party: if dice.chance(70) {
                CareParty::Organisation(dice.pick(&org_ids).0)
            } else {
                CareParty::Member(dice.pick(&[member_id, other_member]))
            },
            kind: dice.pick(CareRelationKind::ALL),
            from: now + dice.hours(),
            until: dice.chance(50).then(|| now + dice.hours()),
        })
        .collect();
    let consents = (0..dice.roll(5))
        .map(|idx| {
            let from = now + dice.hours();
            Consent {
                id: ConsentId::from_uuid(common::uuid(300 + u128::from(idx))),
                resident: if dice.chance(90) {
                    resident.id
                } else {
                    other_resident
                },
                grantee: if dice.chance(70) {
                    let (id, kind) = dice.pick(&org_ids);
                    Grantee::Organisation { id, kind }
                } else {
                    Grantee::OrganisationKind {
                        kind: dice.pick(&kinds),
                        network,
                    }
                },
                categories: dice.categories(),
                purposes: dice.purposes(),
                valid_from: from,
                valid_until: from + Duration::hours(i64::from(dice.roll(150)) + 1),
                withdrawn_at: dice.chance(25).then(|| now + dice.hours()),
            }
        })
        .collect();
    let objections = (0..dice.roll(3))
        .map(|idx| Objection {
            id: ObjectionId::from_uuid(common::uuid(400 + u128::from(idx))),
            kind: dice.pick(ObjectionKind::ALL),
            categories: dice.categories(),
            organisations: if dice.chance(50) {
                OrganisationScope::Every
            } else {
                OrganisationScope::Only(vec![dice.pick(&org_ids).0])
            },
            from: now + dice.hours(),
            until: dice.chance(50).then(|| now + dice.hours()),
            lifted_at: dice.chance(30).then(|| now + dice.hours()),
        })
        .collect();
    let holders = [actor.id(), ActorId::Member(other_member)];
    let break_glass = (0..dice.roll(3))
        .map(|idx| {
            let from = now + dice.hours();
            BreakGlassGrant {
                id: BreakGlassId::from_uuid(common::uuid(500 + u128::from(idx))),
                resident: if dice.chance(90) {
                    resident.id
                } else {
                    other_resident
                },
                holder: dice.pick(&holders),
                organisation: if dice.chance(80) {
                    actor.organisation().id
                } else {
                    dice.pick(&org_ids).0
                },
                role: dice.pick(Role::ALL),
                from,
                until: from + Duration::hours(i64::from(dice.roll(24)) + 1),
            }
        })
        .collect();
    World {
        actor,
        request,
        resident,
        facts: Facts {
            plan,
            care_relations,
            consents,
            objections,
            break_glass,
        },
        now,
    }
}

fn run(world: &World, matrix: &Matrix) -> Decision {
    decide(
        matrix,
        &world.actor,
        &world.request,
        &world.resident,
        &world.facts,
        world.now,
    )
}

/// Whether the basis of a permit is present in the facts and valid for this request, judged
/// independently of `decide`.
fn basis_exists(world: &World, basis: Basis) -> bool {
    let organisation = world.actor.organisation();
    let now = world.now;
    match basis {
        Basis::Statutory { .. } => world.facts.plan.is_some_and(|plan| {
            plan.owning_organisation == organisation.id
                && organisation.kind == OrganisationKind::Wijkteam
        }),
        Basis::Consent(id) => world.facts.consents.iter().any(|consent| {
            consent.id == id
                && consent.resident == world.resident.id
                && consent.withdrawn_at.is_none()
                && consent.valid_from <= now
                && now < consent.valid_until
                && consent.categories.contains(world.request.category)
                && consent.purposes.contains(world.request.purpose)
                && consent.grantee.includes(organisation)
        }),
        Basis::BreakGlass(id) => {
            world.request.action == Action::Read
                && world.facts.break_glass.iter().any(|grant| {
                    grant.id == id
                        && grant.holder == world.actor.id()
                        && grant.resident == world.resident.id
                        && grant.from <= now
                        && now < grant.until
                })
        }
    }
}

fn need_to_know(world: &World) -> bool {
    let organisation = world.actor.organisation();
    let now = world.now;
    let care = world.facts.care_relations.iter().any(|relation| {
        relation.from <= now
            && relation.until.is_none_or(|until| now < until)
            && match (relation.party, &world.actor) {
                (CareParty::Organisation(id), _) => id == organisation.id,
                (CareParty::Member(id), Actor::Member(member)) => id == member.id,
                (CareParty::Member(_), Actor::Client(_)) => false,
            }
    });
    let glass = world.facts.break_glass.iter().any(|grant| {
        grant.holder == world.actor.id()
            && grant.resident == world.resident.id
            && grant.from <= now
            && now < grant.until
    });
    care || glass
}

fn objected(world: &World) -> bool {
    let now = world.now;
    world.facts.objections.iter().any(|objection| {
        objection.from <= now
            && objection.until.is_none_or(|until| now < until)
            && objection.lifted_at.is_none_or(|lifted| now < lifted)
            && objection.categories.contains(world.request.category)
            && objection
                .organisations
                .covers(world.actor.organisation().id)
    })
}

fn numbers() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(any::<u32>(), 64..=64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn no_permit_without_a_basis_in_the_facts(numbers in numbers()) {
        let world = world(&numbers);
        if let Outcome::Permit(basis) = run(&world, &Matrix::default()).outcome() {
            prop_assert!(basis_exists(&world, basis), "basis {basis} not in the facts");
        }
    }

    #[test]
    fn an_objection_always_denies(numbers in numbers()) {
        let world = world(&numbers);
        if objected(&world) {
            prop_assert!(!run(&world, &Matrix::default()).is_permit());
        }
    }

    #[test]
    fn withdrawn_or_expired_consents_never_permit(numbers in numbers()) {
        let mut world = world(&numbers);
        let now = world.now;
        for (idx, consent) in world.facts.consents.iter_mut().enumerate() {
            if idx % 2 == 0 {
                consent.withdrawn_at = Some(now - Duration::hours(1));
            } else {
                consent.valid_until = now.min(consent.valid_until);
                consent.valid_from = consent.valid_from.min(consent.valid_until - Duration::hours(1));
            }
        }
        let outcome = run(&world, &Matrix::default()).outcome();
        prop_assert!(!matches!(outcome, Outcome::Permit(Basis::Consent(_))), "{outcome:?}");
    }

    #[test]
    fn privacy_officer_and_administrator_get_nothing(numbers in numbers(), admin in any::<bool>()) {
        let mut world = world(&numbers);
        if let Actor::Member(member) = &mut world.actor {
            member.role = if admin { Role::Administrator } else { Role::PrivacyOfficer };
        }
        if let Actor::Member(_) = world.actor {
            prop_assert!(!run(&world, &Matrix::default()).is_permit());
        }
    }

    #[test]
    fn a_permit_implies_need_to_know(numbers in numbers()) {
        let world = world(&numbers);
        if run(&world, &Matrix::default()).is_permit() {
            prop_assert!(need_to_know(&world));
        }
    }

    #[test]
    fn the_deny_reason_does_not_depend_on_the_order_of_consents(numbers in numbers()) {
        let mut world = world(&numbers);
        let first = run(&world, &Matrix::default());
        world.facts.consents.reverse();
        let second = run(&world, &Matrix::default());
        prop_assert_eq!(first.deny_reason(), second.deny_reason());
        prop_assert_eq!(first.is_permit(), second.is_permit());
    }

    #[test]
    fn tightening_never_widens(numbers in numbers(), cuts in proptest::collection::vec((0usize..6, 0usize..8, 0u8..3), 0..12)) {
        let world = world(&numbers);
        let default = Matrix::default();
        let overrides: Vec<Override> = cuts
            .iter()
            .map(|(role_idx, category_idx, level)| {
                let role = Role::ALL[*role_idx];
                let category = Category::ALL[*category_idx];
                let wanted = [Access::None, Access::Read, Access::ReadWrite][usize::from(*level)];
                Override::Cell { role, category, access: wanted.min(default.access(role, category)) }
            })
            .collect();
        let tightened = Matrix::tightened(&overrides).unwrap();
        if run(&world, &tightened).is_permit() {
            prop_assert!(run(&world, &default).is_permit());
        }
    }
}

/// The random worlds must reach every basis, or the properties above would hold vacuously.
#[test]
fn random_worlds_reach_every_basis() {
    let mut state: u64 = 0x5eed;
    let mut seen = [0usize; 3];
    for _ in 0..20_000 {
        let numbers: Vec<u32> = (0..64)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                (state >> 33) as u32
            })
            .collect();
        let world = world(&numbers);
        match run(&world, &Matrix::default()).outcome() {
            Outcome::Permit(Basis::Statutory { .. }) => seen[0] += 1,
            Outcome::Permit(Basis::Consent(_)) => seen[1] += 1,
            Outcome::Permit(Basis::BreakGlass(_)) => seen[2] += 1,
            Outcome::Deny(_) => {}
        }
    }
    assert!(
        seen.iter().all(|n| *n > 0),
        "permits per basis (statutory, consent, break-glass): {seen:?}"
    );
}
