//! `decide` cases the decision table does not vary: partner systems, writes to another
//! organisation's section, inactive actors, several consents, minors, member-level care relations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, NaiveDate};
use common::{CareState, Case, ConsentState};
use domain::{
    Action, Category, ClientId, ConsentId, MemberId, NetworkId, OrganisationId, OrganisationKind,
    Purpose, Role,
};
use policy::{
    Actor, Basis, CareParty, Check, ClientActor, ClientScopes, DenyReason, Facts, Law, Matrix,
    Outcome, Override, PurposeSet, Request, Resident, decide,
};

use DenyReason::*;

type Tweak = fn(&mut Actor, &mut Request, &mut Resident, &mut Facts);

fn base(role: Role, action: Action, consent: ConsentState) -> Case {
    Case {
        role,
        action,
        category: Category::Agreements,
        owner: false,
        purpose: Purpose::Support,
        consent,
        objection: false,
        care: CareState::Valid,
        break_glass: false,
    }
}

#[track_caller]
fn check(case: Case, tweak: Tweak, want: Outcome) {
    let (mut actor, mut request, mut resident, mut facts) = common::build(&case);
    tweak(&mut actor, &mut request, &mut resident, &mut facts);
    let decision = decide(
        &Matrix::default(),
        &actor,
        &request,
        &resident,
        &facts,
        common::now(),
    );
    assert_eq!(decision.outcome(), want, "{case:?}: {decision:?}");
    // Every decision records rule 1 first, and a deny's checks end at the failing one.
    assert!(decision.checks().contains(Check::ActorActive));
}

fn consent_id() -> ConsentId {
    ConsentId::from_uuid(common::uuid(common::CONSENT))
}

fn client(actor: &mut Actor, scopes: ClientScopes) {
    let organisation = actor.organisation().clone();
    *actor = Actor::Client(ClientActor {
        id: ClientId::from_uuid(common::uuid(4)),
        organisation,
        scopes,
        active: true,
    });
}

fn full_scopes() -> ClientScopes {
    ClientScopes {
        read: policy::CategorySet::all(),
        write: policy::CategorySet::all(),
        purposes: PurposeSet::all(),
    }
}

#[test]
fn rules_beyond_the_table() {
    use Action::{Read, Write};
    use ConsentState::Valid;
    use Role::{Coach, ProviderWorker, WelfareWorker};
    let permit_consent = Outcome::Permit(Basis::Consent(consent_id()));
    let cases: Vec<(Case, Tweak, Outcome)> = vec![
        // Rule 1.
        (
            base(WelfareWorker, Read, Valid),
            |a, _, _, _| match a {
                Actor::Member(m) => m.active = false,
                Actor::Client(_) => {}
            },
            Outcome::Deny(InactiveActor),
        ),
        (
            base(WelfareWorker, Read, Valid),
            |a, _, _, _| match a {
                Actor::Member(m) => m.organisation.active = false,
                Actor::Client(_) => {}
            },
            Outcome::Deny(InactiveOrganisation),
        ),
        (
            base(WelfareWorker, Read, Valid),
            |_, _, r, _| {
                r.network = NetworkId::from_uuid(common::uuid(99));
            },
            Outcome::Deny(OrganisationNotInNetwork),
        ),
        // Rule 2: role and kind of organisation.
        (
            base(Coach, Read, Valid),
            |a, _, _, _| match a {
                Actor::Member(m) => m.organisation.kind = OrganisationKind::Welzijn,
                Actor::Client(_) => {}
            },
            Outcome::Deny(RoleOrganisationMismatch),
        ),
        // Partner systems act with their kind's role, narrowed by scopes.
        (
            base(WelfareWorker, Read, Valid),
            |a, _, _, _| client(a, full_scopes()),
            permit_consent,
        ),
        (
            base(WelfareWorker, Read, Valid),
            |a, q, _, _| {
                client(a, full_scopes());
                q.category = Category::Health;
            },
            Outcome::Deny(RoleForbidsCategory),
        ),
        (
            base(WelfareWorker, Read, Valid),
            |a, _, _, _| {
                client(
                    a,
                    ClientScopes {
                        read: Category::Story.into_set(),
                        ..full_scopes()
                    },
                );
            },
            Outcome::Deny(ScopeNotGranted),
        ),
        (
            base(WelfareWorker, Write, Valid),
            |a, _, _, _| {
                client(
                    a,
                    ClientScopes {
                        write: policy::CategorySet::EMPTY,
                        ..full_scopes()
                    },
                );
            },
            Outcome::Deny(ScopeNotGranted),
        ),
        (
            base(WelfareWorker, Read, Valid),
            |a, _, _, _| {
                client(
                    a,
                    ClientScopes {
                        purposes: PurposeSet::from([Purpose::Triage]),
                        ..full_scopes()
                    },
                );
            },
            Outcome::Deny(PurposeNotInScope),
        ),
        (
            base(WelfareWorker, Read, Valid),
            |a, _, _, _| {
                client(a, full_scopes());
                if let Actor::Client(c) = a {
                    c.organisation.kind = OrganisationKind::Gemeente;
                }
            },
            Outcome::Deny(NoClientRole),
        ),
        // A member-level care relation serves only that member, not a partner system.
        (
            base(WelfareWorker, Read, Valid),
            |_, _, _, f| {
                f.care_relations[0].party =
                    CareParty::Member(MemberId::from_uuid(common::uuid(common::ACTOR)));
            },
            permit_consent,
        ),
        (
            base(WelfareWorker, Read, Valid),
            |a, _, _, f| {
                f.care_relations[0].party =
                    CareParty::Member(MemberId::from_uuid(common::uuid(common::ACTOR)));
                client(a, full_scopes());
            },
            Outcome::Deny(NoCareRelation),
        ),
        // Writes: own contribution, or the coordinating coach.
        (
            base(WelfareWorker, Write, Valid),
            |_, q, _, _| {
                q.section_author = Some(OrganisationId::from_uuid(common::uuid(
                    common::OWNING_WIJKTEAM,
                )));
            },
            Outcome::Deny(NotOwnContribution),
        ),
        (
            base(WelfareWorker, Write, Valid),
            |_, q, _, _| {
                q.section_author = Some(OrganisationId::from_uuid(common::uuid(common::ACTOR_ORG)));
            },
            permit_consent,
        ),
        (
            base(Coach, Write, Valid),
            |_, q, _, f| {
                q.section_author = Some(OrganisationId::from_uuid(common::uuid(common::OTHER_ORG)));
                if let Some(plan) = &mut f.plan {
                    plan.coordinating_coach =
                        Some(MemberId::from_uuid(common::uuid(common::ACTOR)));
                }
            },
            permit_consent,
        ),
        (
            base(Coach, Write, Valid),
            |_, q, _, _| {
                q.section_author = Some(OrganisationId::from_uuid(common::uuid(common::OTHER_ORG)));
            },
            Outcome::Deny(NotOwnContribution),
        ),
        // The statutory basis follows the resident's age.
        (
            Case {
                owner: true,
                ..base(Coach, Read, ConsentState::None)
            },
            |_, _, r, _| {
                r.birth_date = NaiveDate::from_ymd_opt(2012, 1, 1).unwrap();
            },
            Outcome::Permit(Basis::Statutory { law: Law::Jeugdwet }),
        ),
        // Only a wijkteam's plan gives a statutory basis.
        (
            Case {
                owner: true,
                ..base(ProviderWorker, Read, ConsentState::None)
            },
            |_, _, _, _| {},
            Outcome::Deny(NoConsent),
        ),
        // A consent for the organisation's kind within the network.
        (
            base(WelfareWorker, Read, Valid),
            |_, _, _, f| {
                f.consents[0].grantee = policy::Grantee::OrganisationKind {
                    kind: OrganisationKind::Welzijn,
                    network: common::network(),
                };
            },
            permit_consent,
        ),
        (
            base(WelfareWorker, Read, Valid),
            |_, _, _, f| {
                f.consents[0].grantee = policy::Grantee::OrganisationKind {
                    kind: OrganisationKind::Zorgaanbieder,
                    network: common::network(),
                };
            },
            Outcome::Deny(NoConsent),
        ),
        // A kind-wide consent holds only within the resident's own network.
        (
            base(WelfareWorker, Read, Valid),
            |a, _, _, f| {
                let elsewhere = NetworkId::from_uuid(common::uuid(99));
                if let Actor::Member(m) = a {
                    m.organisation.networks.push(elsewhere);
                }
                f.consents[0].grantee = policy::Grantee::OrganisationKind {
                    kind: OrganisationKind::Welzijn,
                    network: elsewhere,
                };
            },
            Outcome::Deny(NoConsent),
        ),
        // Another resident's consent is no consent.
        (
            base(WelfareWorker, Read, Valid),
            |_, _, _, f| {
                f.consents[0].resident = domain::ResidentId::from_uuid(common::uuid(8));
            },
            Outcome::Deny(NoConsent),
        ),
        // Several consents: the most specific reason wins, whatever the order.
        (
            base(WelfareWorker, Read, ConsentState::OtherCategory),
            |_, _, _, f| {
                let mut expired = f.consents[0].clone();
                expired.categories = Category::Agreements.into_set();
                expired.valid_until = common::now() - Duration::days(1);
                f.consents.insert(0, expired);
            },
            Outcome::Deny(ConsentExpired),
        ),
        (
            base(WelfareWorker, Read, ConsentState::Expired),
            |_, _, _, f| {
                let mut withdrawn = f.consents[0].clone();
                withdrawn.valid_until = common::now() + Duration::days(1);
                withdrawn.withdrawn_at = Some(common::now());
                f.consents.push(withdrawn);
            },
            Outcome::Deny(ConsentWithdrawn),
        ),
        (
            base(WelfareWorker, Read, ConsentState::OtherPurpose),
            |_, _, _, f| {
                let mut other = f.consents[0].clone();
                other.categories = Category::Story.into_set();
                f.consents.push(other);
            },
            Outcome::Deny(PurposeNotCovered),
        ),
        // A lifted objection no longer denies; an objection for another organisation does not.
        (
            Case {
                objection: true,
                ..base(WelfareWorker, Read, Valid)
            },
            |_, _, _, f| {
                f.objections[0].lifted_at = Some(common::now() - Duration::minutes(1));
            },
            permit_consent,
        ),
        (
            Case {
                objection: true,
                ..base(WelfareWorker, Read, Valid)
            },
            |_, _, _, f| {
                f.objections[0].organisations =
                    policy::OrganisationScope::Only(vec![OrganisationId::from_uuid(common::uuid(
                        common::OTHER_ORG,
                    ))]);
            },
            permit_consent,
        ),
        // A break-the-glass grant of someone else does not help.
        (
            Case {
                care: CareState::None,
                break_glass: true,
                ..base(ProviderWorker, Read, ConsentState::None)
            },
            |_, _, _, f| {
                f.break_glass[0].holder =
                    policy::ActorId::Member(MemberId::from_uuid(common::uuid(21)));
            },
            Outcome::Deny(NoCareRelation),
        ),
        (
            Case {
                care: CareState::None,
                break_glass: true,
                ..base(ProviderWorker, Read, ConsentState::None)
            },
            |_, _, _, f| {
                f.break_glass[0].until = common::now();
            },
            Outcome::Deny(NoCareRelation),
        ),
    ];
    for (case, tweak, want) in cases {
        check(case, tweak, want);
    }
}

trait IntoSet {
    fn into_set(self) -> policy::CategorySet;
}

impl IntoSet for Category {
    fn into_set(self) -> policy::CategorySet {
        policy::CategorySet::from([self])
    }
}

#[test]
fn a_tightened_matrix_denies_and_a_loosening_is_refused() {
    let tightened = Matrix::tightened(&[Override::Cell {
        role: Role::WelfareWorker,
        category: Category::Agreements,
        access: policy::Access::Read,
    }])
    .unwrap();
    let (actor, request, resident, facts) = common::build(&base(
        Role::WelfareWorker,
        Action::Write,
        ConsentState::Valid,
    ));
    let decision = decide(
        &tightened,
        &actor,
        &request,
        &resident,
        &facts,
        common::now(),
    );
    assert_eq!(decision.outcome(), Outcome::Deny(RoleForbidsCategory));

    let loosen = Override::Cell {
        role: Role::WelfareWorker,
        category: Category::Health,
        access: policy::Access::Read,
    };
    assert_eq!(
        Matrix::tightened(&[loosen]),
        Err(policy::PolicyError::MatrixLoosened {
            role: Role::WelfareWorker,
            category: Category::Health
        })
    );
    let glass = Override::BreakGlass {
        role: Role::WelfareWorker,
        allowed: true,
    };
    assert_eq!(
        Matrix::tightened(&[glass]),
        Err(policy::PolicyError::BreakGlassLoosened {
            role: Role::WelfareWorker
        })
    );
    let no_glass = Matrix::tightened(&[Override::BreakGlass {
        role: Role::Coach,
        allowed: false,
    }])
    .unwrap();
    assert!(!no_glass.may_break_glass(Role::Coach));
    assert!(no_glass.may_break_glass(Role::ProviderWorker));
}

#[test]
fn basis_and_reason_strings_are_stable() {
    let consent = ConsentId::from_uuid(common::uuid(0xabc));
    let cases = [
        (Basis::Statutory { law: Law::Wmo2015 }, "statutory:wmo2015"),
        (
            Basis::Statutory { law: Law::Jeugdwet },
            "statutory:jeugdwet",
        ),
        (
            Basis::Consent(consent),
            "consent:00000000-0000-0000-0000-000000000abc",
        ),
        (
            Basis::BreakGlass(domain::BreakGlassId::from_uuid(common::uuid(0xabc))),
            "break-glass:00000000-0000-0000-0000-000000000abc",
        ),
    ];
    for (basis, text) in cases {
        assert_eq!(basis.to_string(), text);
        assert_eq!(Basis::parse(text), Some(basis));
    }
    for reason in DenyReason::ALL {
        assert_eq!(DenyReason::parse(reason.as_str()), Some(*reason));
        assert!(
            reason
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-')
        );
    }
}

#[test]
fn checks_stop_at_the_failing_rule() {
    use Check::*;
    let rule_1 = vec![ActorActive, OrganisationActive, OrganisationInNetwork];
    let rule_2 = [rule_1.clone(), vec![RoleFitsOrganisation, RoleMatrix]].concat();
    let cases: Vec<(Case, Vec<Check>)> = vec![
        (
            base(Role::PrivacyOfficer, Action::Read, ConsentState::Valid),
            rule_2.clone(),
        ),
        (
            Case {
                care: CareState::None,
                ..base(Role::WelfareWorker, Action::Read, ConsentState::Valid)
            },
            [rule_2.clone(), vec![CareRelation, BreakGlass]].concat(),
        ),
        (
            Case {
                objection: true,
                ..base(Role::WelfareWorker, Action::Write, ConsentState::Valid)
            },
            [
                rule_2.clone(),
                vec![OwnContribution, CareRelation, Objection],
            ]
            .concat(),
        ),
        (
            base(Role::WelfareWorker, Action::Read, ConsentState::Valid),
            [
                rule_2.clone(),
                vec![CareRelation, Objection, StatutoryTask, Consent],
            ]
            .concat(),
        ),
        (
            Case {
                owner: true,
                ..base(Role::Coach, Action::Read, ConsentState::None)
            },
            [rule_2.clone(), vec![CareRelation, Objection, StatutoryTask]].concat(),
        ),
        (
            Case {
                care: CareState::None,
                break_glass: true,
                ..base(Role::ProviderWorker, Action::Read, ConsentState::None)
            },
            [
                rule_2,
                vec![CareRelation, BreakGlass, Objection, StatutoryTask, Consent],
            ]
            .concat(),
        ),
    ];
    for (case, want) in cases {
        let (actor, request, resident, facts) = common::build(&case);
        let decision = decide(
            &Matrix::default(),
            &actor,
            &request,
            &resident,
            &facts,
            common::now(),
        );
        assert_eq!(
            decision.checks().iter().collect::<Vec<_>>(),
            want,
            "{case:?}"
        );
    }
}
