//! The resident record beside the plan: who may register a resident (inschrijven), and who may
//! see whom a plan is about — the resident's identity (name, birth date, contact details, legal
//! representatives).
//!
//! Identity is not one of the plan's categories, and it gets no column of its own in the matrix:
//! it follows the plan. Whoever may read at least one part of the resident's plan, for the
//! declared purpose, may know whose plan it is — on that part's basis; whoever may read none of it
//! may not. So consent, objections, purposes, scopes and the matrix narrow identity exactly as they
//! narrow the plan, and no new way to see a resident exists. Before a plan exists, the wijkteam
//! coordinating the resident (a care relation of kind coordinator) stands where the plan's owner
//! will, on its statutory task.
//!
//! Registering is the wijkteam's statutory task (Wmo 2015, Jeugdwet): its coaches and triagists,
//! and its partner system with a write scope. Nobody else.
//!
//! Pure like `decide`: this module must never do IO or read a clock, and never permit identity
//! to an actor that `decide` would permit no category of the plan.

use chrono::{DateTime, NaiveDate, Utc};
use domain::{Action, CareRelationKind, Category, NetworkId, OrganisationKind, Purpose, Role};

use crate::consent::age_at;
use crate::decide::decide;
use crate::decision::{Basis, Check, Checks, Decision, DenyReason, Law, Outcome};
use crate::facts::{Actor, CareParty, Facts, PlanFacts, Request, Resident};
use crate::matrix::{Matrix, role_fits_organisation};

/// Whether `actor` may register a new resident born on `birth_date` in `network`, declaring
/// `purpose`. A permit's basis is the wijkteam's statutory task (`statutory:jeugdwet` under 18,
/// `statutory:wmo2015` from 18).
///
/// Rules, in order: an active actor of an active organisation in the network; a role that fits
/// the organisation; the role is a wijkteam's coach or triagist (a partner system: a wijkteam's,
/// acting as coach), else `role-forbids-category`; a partner system needs a write scope
/// (`scope-not-granted`) and the purpose among its own (`purpose-not-in-scope`).
pub fn may_register(
    actor: &Actor,
    network: NetworkId,
    purpose: Purpose,
    birth_date: NaiveDate,
    now: DateTime<Utc>,
) -> Decision {
    let mut checks = Checks::default();
    let outcome = register_outcome(actor, network, purpose, birth_date, now, &mut checks);
    Decision::new(outcome, checks)
}

fn register_outcome(
    actor: &Actor,
    network: NetworkId,
    purpose: Purpose,
    birth_date: NaiveDate,
    now: DateTime<Utc>,
    checks: &mut Checks,
) -> Outcome {
    let organisation = actor.organisation();
    checks.add(Check::ActorActive);
    if !actor.is_active() {
        return Outcome::Deny(DenyReason::InactiveActor);
    }
    checks.add(Check::OrganisationActive);
    if !organisation.active {
        return Outcome::Deny(DenyReason::InactiveOrganisation);
    }
    checks.add(Check::OrganisationInNetwork);
    if !organisation.networks.contains(&network) {
        return Outcome::Deny(DenyReason::OrganisationNotInNetwork);
    }
    checks.add(Check::RoleFitsOrganisation);
    let role = match actor {
        Actor::Member(member) => {
            if !role_fits_organisation(member.role, organisation.kind) {
                return Outcome::Deny(DenyReason::RoleOrganisationMismatch);
            }
            member.role
        }
        Actor::Client(client) => match client.organisation.kind.client_role() {
            Some(role) => role,
            None => return Outcome::Deny(DenyReason::NoClientRole),
        },
    };
    checks.add(Check::RoleMatrix);
    if !registers(role) || organisation.kind != OrganisationKind::Wijkteam {
        return Outcome::Deny(DenyReason::RoleForbidsCategory);
    }
    if let Actor::Client(client) = actor {
        checks.add(Check::ClientScope);
        if client.scopes.write.is_empty() {
            return Outcome::Deny(DenyReason::ScopeNotGranted);
        }
        if !client.scopes.purposes.contains(purpose) {
            return Outcome::Deny(DenyReason::PurposeNotInScope);
        }
    }
    checks.add(Check::StatutoryTask);
    Outcome::Permit(Basis::Statutory {
        law: law_for(birth_date, now),
    })
}

/// The roles that register residents: the wijkteam's, who take in a new question.
const fn registers(role: Role) -> bool {
    match role {
        Role::Coach | Role::Triagist => true,
        Role::WelfareWorker | Role::ProviderWorker | Role::PrivacyOfficer | Role::Administrator => {
            false
        }
    }
}

fn law_for(birth_date: NaiveDate, now: DateTime<Utc>) -> Law {
    if age_at(birth_date, now) < 18 {
        Law::Jeugdwet
    } else {
        Law::Wmo2015
    }
}

/// Whether `actor` may see the identity of `resident` (name, birth date, contact details,
/// representatives) for `purpose`: permitted when `decide` permits reading at least one category
/// of the plan, with the strongest such basis (statutory, then consent, then break-the-glass).
/// Denied otherwise, with the reason of the category that came furthest through the rules
/// (`DenyReason` is declared in rule order), and the checks of every category.
///
/// With no plan in `facts`, a wijkteam holding a coordinator care relation valid now is taken as
/// the owner of the plan to come.
pub fn decide_identity(
    matrix: &Matrix,
    actor: &Actor,
    purpose: Purpose,
    resident: &Resident,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Decision {
    let intake;
    let facts = match intake_plan(actor, facts, now) {
        Some(plan) => {
            intake = Facts {
                plan: Some(plan),
                ..facts.clone()
            };
            &intake
        }
        None => facts,
    };
    let mut best_permit: Option<Decision> = None;
    let mut furthest_deny: Option<DenyReason> = None;
    let mut checks = Checks::default();
    for &category in Category::ALL {
        let request = Request {
            action: Action::Read,
            category,
            purpose,
            section_author: None,
        };
        let decision = decide(matrix, actor, &request, resident, facts, now);
        match decision.outcome() {
            Outcome::Permit(basis) => {
                let stronger = best_permit
                    .and_then(|best| best.basis())
                    .is_none_or(|best| strength(basis) < strength(best));
                if stronger {
                    best_permit = Some(decision);
                }
            }
            Outcome::Deny(reason) => {
                for check in decision.checks().iter() {
                    checks.add(check);
                }
                furthest_deny = Some(furthest_deny.map_or(reason, |other| other.max(reason)));
            }
        }
    }
    match (best_permit, furthest_deny) {
        (Some(permit), _) => permit,
        (None, Some(reason)) => Decision::new(Outcome::Deny(reason), checks),
        // `Category::ALL` is not empty; an empty one would permit nothing.
        (None, None) => Decision::new(Outcome::Deny(DenyReason::NoCareRelation), checks),
    }
}

/// Statutory first: the stronger basis is recorded.
const fn strength(basis: Basis) -> u8 {
    match basis {
        Basis::Statutory { .. } => 0,
        Basis::Consent(_) => 1,
        Basis::BreakGlass(_) => 2,
    }
}

/// The plan-to-be of a resident without one: owned by the actor's wijkteam when it coordinates
/// the resident now.
fn intake_plan(actor: &Actor, facts: &Facts, now: DateTime<Utc>) -> Option<PlanFacts> {
    let organisation = actor.organisation();
    let coordinates = facts.care_relations.iter().any(|relation| {
        relation.kind == CareRelationKind::Coordinator
            && relation.valid_at(now)
            && relation.party == CareParty::Organisation(organisation.id)
    });
    (facts.plan.is_none() && organisation.kind == OrganisationKind::Wijkteam && coordinates)
        .then_some(PlanFacts {
            owning_organisation: organisation.id,
            owning_organisation_kind: OrganisationKind::Wijkteam,
            coordinating_coach: None,
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{Duration, TimeZone};
    use domain::{
        CareRelationId, ClientId, ConsentId, MemberId, ObjectionId, ObjectionKind, OrganisationId,
        ResidentId,
    };
    use uuid::Uuid;

    use super::*;
    use crate::facts::{
        CareRelation, ClientActor, ClientScopes, Consent, Grantee, MemberActor, Objection,
        Organisation, OrganisationScope,
    };
    use crate::sets::{CategorySet, PurposeSet};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
    }

    fn network() -> NetworkId {
        NetworkId::from_uuid(Uuid::from_u128(1))
    }

    const ORG: u128 = 10;
    const OTHER: u128 = 11;

    fn organisation(kind: OrganisationKind) -> Organisation {
        Organisation {
            id: OrganisationId::from_uuid(Uuid::from_u128(ORG)),
            kind,
            networks: vec![network()],
            active: true,
        }
    }

    fn kind_for(role: Role) -> OrganisationKind {
        match role {
            Role::Coach | Role::Triagist => OrganisationKind::Wijkteam,
            Role::WelfareWorker => OrganisationKind::Welzijn,
            Role::ProviderWorker => OrganisationKind::Zorgaanbieder,
            Role::PrivacyOfficer | Role::Administrator => OrganisationKind::Gemeente,
        }
    }

    fn member(role: Role) -> Actor {
        Actor::Member(MemberActor {
            id: MemberId::from_uuid(Uuid::from_u128(3)),
            role,
            organisation: organisation(kind_for(role)),
            active: true,
        })
    }

    fn client(kind: OrganisationKind, write: bool) -> Actor {
        Actor::Client(ClientActor {
            id: ClientId::from_uuid(Uuid::from_u128(4)),
            organisation: organisation(kind),
            scopes: ClientScopes {
                read: CategorySet::all(),
                write: if write {
                    CategorySet::all()
                } else {
                    CategorySet::EMPTY
                },
                purposes: [Purpose::Support].into_iter().collect::<PurposeSet>(),
            },
            active: true,
        })
    }

    fn adult_birth() -> NaiveDate {
        NaiveDate::from_ymd_opt(1980, 5, 17).unwrap()
    }

    fn resident() -> Resident {
        Resident {
            id: ResidentId::from_uuid(Uuid::from_u128(2)),
            birth_date: adult_birth(),
            network: network(),
            representatives: Vec::new(),
        }
    }

    #[track_caller]
    fn check_register(actor: Actor, purpose: Purpose, birth: NaiveDate, want: Outcome) {
        let decision = may_register(&actor, network(), purpose, birth, now());
        assert_eq!(decision.outcome(), want, "{actor:?}");
    }

    #[test]
    fn who_registers() {
        let wmo = Outcome::Permit(Basis::Statutory { law: Law::Wmo2015 });
        let jeugd = Outcome::Permit(Basis::Statutory { law: Law::Jeugdwet });
        let minor = NaiveDate::from_ymd_opt(2012, 3, 3).unwrap();
        let eighteen_today = NaiveDate::from_ymd_opt(2008, 11, 23).unwrap();
        let eighteen_tomorrow = NaiveDate::from_ymd_opt(2008, 11, 24).unwrap();
        let forbids = Outcome::Deny(DenyReason::RoleForbidsCategory);
        let mut inactive = member(Role::Coach);
        if let Actor::Member(member) = &mut inactive {
            member.active = false;
        }
        let mut closed = member(Role::Coach);
        if let Actor::Member(member) = &mut closed {
            member.organisation.active = false;
        }
        let mut elsewhere = member(Role::Coach);
        if let Actor::Member(member) = &mut elsewhere {
            member.organisation.networks = vec![NetworkId::from_uuid(Uuid::from_u128(99))];
        }
        let mut misfit = member(Role::Coach);
        if let Actor::Member(member) = &mut misfit {
            member.organisation.kind = OrganisationKind::Welzijn;
        }
        let cases = [
            (member(Role::Coach), Purpose::Support, adult_birth(), wmo),
            (member(Role::Triagist), Purpose::Triage, adult_birth(), wmo),
            (member(Role::Coach), Purpose::Support, minor, jeugd),
            (member(Role::Coach), Purpose::Support, eighteen_today, wmo),
            (
                member(Role::Coach),
                Purpose::Support,
                eighteen_tomorrow,
                jeugd,
            ),
            (
                member(Role::WelfareWorker),
                Purpose::Support,
                adult_birth(),
                forbids,
            ),
            (
                member(Role::ProviderWorker),
                Purpose::Support,
                adult_birth(),
                forbids,
            ),
            (
                member(Role::PrivacyOfficer),
                Purpose::Support,
                adult_birth(),
                forbids,
            ),
            (
                member(Role::Administrator),
                Purpose::Support,
                adult_birth(),
                forbids,
            ),
            (
                inactive,
                Purpose::Support,
                adult_birth(),
                Outcome::Deny(DenyReason::InactiveActor),
            ),
            (
                closed,
                Purpose::Support,
                adult_birth(),
                Outcome::Deny(DenyReason::InactiveOrganisation),
            ),
            (
                elsewhere,
                Purpose::Support,
                adult_birth(),
                Outcome::Deny(DenyReason::OrganisationNotInNetwork),
            ),
            (
                misfit,
                Purpose::Support,
                adult_birth(),
                Outcome::Deny(DenyReason::RoleOrganisationMismatch),
            ),
            (
                client(OrganisationKind::Wijkteam, true),
                Purpose::Support,
                adult_birth(),
                wmo,
            ),
            (
                client(OrganisationKind::Wijkteam, false),
                Purpose::Support,
                adult_birth(),
                Outcome::Deny(DenyReason::ScopeNotGranted),
            ),
            (
                client(OrganisationKind::Wijkteam, true),
                Purpose::Safety,
                adult_birth(),
                Outcome::Deny(DenyReason::PurposeNotInScope),
            ),
            (
                client(OrganisationKind::Welzijn, true),
                Purpose::Support,
                adult_birth(),
                forbids,
            ),
            (
                client(OrganisationKind::Zorgaanbieder, true),
                Purpose::Support,
                adult_birth(),
                forbids,
            ),
            (
                client(OrganisationKind::Gemeente, true),
                Purpose::Support,
                adult_birth(),
                Outcome::Deny(DenyReason::NoClientRole),
            ),
        ];
        for (actor, purpose, birth, want) in cases {
            check_register(actor, purpose, birth, want);
        }
    }

    #[test]
    fn a_registration_permit_lists_its_checks() {
        let decision = may_register(
            &client(OrganisationKind::Wijkteam, true),
            network(),
            Purpose::Support,
            adult_birth(),
            now(),
        );
        let checks: Vec<&str> = decision.checks().iter().map(Check::as_str).collect();
        assert_eq!(
            checks,
            [
                "actor-active",
                "organisation-active",
                "organisation-in-network",
                "role-fits-organisation",
                "role-matrix",
                "client-scope",
                "statutory-task"
            ]
        );
    }

    /// What the record says, in the words of the identity table below.
    #[derive(Clone, Copy, Debug)]
    enum Record {
        /// No care relation at all.
        Stranger,
        /// An involved care relation of the actor's organisation, nothing else.
        Involved,
        /// Involved, with a consent for `goals` for support.
        InvolvedWithConsent,
        /// Involved and consent, but an objection covering every category for this organisation.
        InvolvedObjected,
        /// A care relation that ended yesterday.
        Ended,
        /// The actor's organisation coordinates the resident; no plan yet.
        CoordinatesWithoutPlan,
        /// The actor's organisation owns the resident's plan and is involved.
        OwnsPlan,
        /// Another organisation owns the plan; the actor's organisation is a coordinator too.
        OtherOwnsPlan,
    }

    fn facts(record: Record) -> Facts {
        let org = OrganisationId::from_uuid(Uuid::from_u128(ORG));
        let other = OrganisationId::from_uuid(Uuid::from_u128(OTHER));
        let relation = |kind, until: Option<DateTime<Utc>>| CareRelation {
            id: CareRelationId::from_uuid(Uuid::from_u128(50)),
            party: CareParty::Organisation(org),
            kind,
            from: now() - Duration::days(30),
            until,
        };
        let consent = Consent {
            id: ConsentId::from_uuid(Uuid::from_u128(60)),
            resident: resident().id,
            grantee: Grantee::OrganisationKind {
                kind: OrganisationKind::Welzijn,
                network: network(),
            },
            categories: [Category::Goals].into_iter().collect(),
            purposes: [Purpose::Support].into_iter().collect(),
            valid_from: now() - Duration::days(1),
            valid_until: now() + Duration::days(300),
            withdrawn_at: None,
        };
        let plan = |owner| {
            Some(PlanFacts {
                owning_organisation: owner,
                owning_organisation_kind: OrganisationKind::Wijkteam,
                coordinating_coach: None,
            })
        };
        match record {
            Record::Stranger => Facts::default(),
            Record::Involved => Facts {
                plan: plan(other),
                care_relations: vec![relation(CareRelationKind::Involved, None)],
                ..Facts::default()
            },
            Record::InvolvedWithConsent => Facts {
                consents: vec![consent],
                ..facts(Record::Involved)
            },
            Record::InvolvedObjected => Facts {
                objections: vec![Objection {
                    id: ObjectionId::from_uuid(Uuid::from_u128(70)),
                    kind: ObjectionKind::Objection,
                    categories: CategorySet::all(),
                    organisations: OrganisationScope::Only(vec![org]),
                    from: now() - Duration::days(1),
                    until: None,
                    lifted_at: None,
                }],
                ..facts(Record::InvolvedWithConsent)
            },
            Record::Ended => Facts {
                care_relations: vec![relation(
                    CareRelationKind::Involved,
                    Some(now() - Duration::days(1)),
                )],
                consents: vec![consent],
                plan: plan(other),
                ..Facts::default()
            },
            Record::CoordinatesWithoutPlan => Facts {
                care_relations: vec![relation(CareRelationKind::Coordinator, None)],
                ..Facts::default()
            },
            Record::OwnsPlan => Facts {
                plan: plan(org),
                care_relations: vec![relation(CareRelationKind::Involved, None)],
                ..Facts::default()
            },
            Record::OtherOwnsPlan => Facts {
                plan: plan(other),
                care_relations: vec![relation(CareRelationKind::Coordinator, None)],
                ..Facts::default()
            },
        }
    }

    #[track_caller]
    fn check_identity(actor: Actor, purpose: Purpose, record: Record, want: Outcome) {
        let decision = decide_identity(
            &Matrix::default(),
            &actor,
            purpose,
            &resident(),
            &facts(record),
            now(),
        );
        assert_eq!(decision.outcome(), want, "{actor:?} {record:?}");
    }

    #[test]
    fn identity_follows_the_plan() {
        use Record::*;
        let wmo = Outcome::Permit(Basis::Statutory { law: Law::Wmo2015 });
        let consent = Outcome::Permit(Basis::Consent(ConsentId::from_uuid(Uuid::from_u128(60))));
        let deny = |reason| Outcome::Deny(reason);
        let welfare = || member(Role::WelfareWorker);
        let cases = [
            (
                welfare(),
                Purpose::Support,
                Stranger,
                deny(DenyReason::NoCareRelation),
            ),
            (
                welfare(),
                Purpose::Support,
                Involved,
                deny(DenyReason::NoConsent),
            ),
            (welfare(), Purpose::Support, InvolvedWithConsent, consent),
            // The consent covers support only.
            (
                welfare(),
                Purpose::Coordination,
                InvolvedWithConsent,
                deny(DenyReason::PurposeNotCovered),
            ),
            (
                welfare(),
                Purpose::Support,
                InvolvedObjected,
                deny(DenyReason::Objection),
            ),
            (
                welfare(),
                Purpose::Support,
                Ended,
                deny(DenyReason::NoCareRelation),
            ),
            (
                member(Role::Coach),
                Purpose::Support,
                CoordinatesWithoutPlan,
                wmo,
            ),
            (
                member(Role::Triagist),
                Purpose::Triage,
                CoordinatesWithoutPlan,
                wmo,
            ),
            (member(Role::Coach), Purpose::Support, OwnsPlan, wmo),
            // A wijkteam coordinating with another's plan has no statutory task here.
            (
                member(Role::Coach),
                Purpose::Support,
                OtherOwnsPlan,
                deny(DenyReason::NoConsent),
            ),
            // Only a wijkteam stands in for the owner of a plan to come.
            (
                welfare(),
                Purpose::Support,
                CoordinatesWithoutPlan,
                deny(DenyReason::NoConsent),
            ),
            // The FG and the administrator never see a resident, whatever the record says.
            (
                member(Role::PrivacyOfficer),
                Purpose::Support,
                OwnsPlan,
                deny(DenyReason::RoleForbidsCategory),
            ),
            (
                member(Role::Administrator),
                Purpose::Support,
                CoordinatesWithoutPlan,
                deny(DenyReason::RoleForbidsCategory),
            ),
            (
                client(OrganisationKind::Welzijn, false),
                Purpose::Support,
                InvolvedWithConsent,
                consent,
            ),
            (
                client(OrganisationKind::Gemeente, true),
                Purpose::Support,
                OwnsPlan,
                deny(DenyReason::NoClientRole),
            ),
        ];
        for (actor, purpose, record, want) in cases {
            check_identity(actor, purpose, record, want);
        }
    }

    #[test]
    fn a_client_without_read_scope_sees_no_identity() {
        let mut actor = client(OrganisationKind::Welzijn, true);
        if let Actor::Client(client) = &mut actor {
            client.scopes.read = CategorySet::EMPTY;
        }
        check_identity(
            actor,
            Purpose::Support,
            Record::InvolvedWithConsent,
            Outcome::Deny(DenyReason::ScopeNotGranted),
        );
    }

    /// Identity is never permitted where no category of the plan is: checked over every role,
    /// purpose and record above.
    #[test]
    fn identity_never_exceeds_the_plan() {
        use Record::*;
        let records = [
            Stranger,
            Involved,
            InvolvedWithConsent,
            InvolvedObjected,
            Ended,
            CoordinatesWithoutPlan,
            OwnsPlan,
            OtherOwnsPlan,
        ];
        let matrix = Matrix::default();
        for &role in Role::ALL {
            for &purpose in Purpose::ALL {
                for record in records {
                    let actor = member(role);
                    let mut facts = facts(record);
                    if let Some(plan) = intake_plan(&actor, &facts, now()) {
                        facts.plan = Some(plan);
                    }
                    let identity =
                        decide_identity(&matrix, &actor, purpose, &resident(), &facts, now());
                    let any_category = Category::ALL.iter().any(|&category| {
                        let request = Request {
                            action: Action::Read,
                            category,
                            purpose,
                            section_author: None,
                        };
                        decide(&matrix, &actor, &request, &resident(), &facts, now()).is_permit()
                    });
                    assert_eq!(identity.is_permit(), any_category, "{role:?} {record:?}");
                    if !any_category {
                        // A denial says why, from the rules, and lists the checks applied.
                        assert!(identity.deny_reason().is_some());
                        assert!(identity.checks().contains(Check::ActorActive));
                    }
                }
            }
        }
    }
}
