//! Who keeps the resident's record (`may_record`), and the validation of a care relation and of
//! its end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Duration;
use common::{CareState, Case, ConsentState};
use domain::{
    Action, CareRelationKind, Category, ClientId, MemberId, OrganisationId, OrganisationKind,
    Purpose, ResidentId, Role,
};
use policy::{
    Actor, CareRelationDraft, CategorySet, ClientActor, ClientScopes, Matrix, PolicyError,
    PurposeSet, Recording, StoredCareRelation, may_record, validate_care_relation,
    validate_care_relation_end,
};

/// What a case should answer: the basis, or the refusal's code and whether it hides the resident.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    Permit(&'static str),
    Deny(&'static str, bool),
}
use Want::{Deny, Permit};

#[derive(Clone, Copy, Debug)]
struct Setup {
    role: Role,
    owner: bool,
    care: CareState,
    objection: bool,
    break_glass: bool,
    /// A partner system of the role's kind of organisation instead of a member.
    client: bool,
}

const COACH: Setup = Setup {
    role: Role::Coach,
    owner: true,
    care: CareState::Valid,
    objection: false,
    break_glass: false,
    client: false,
};

#[track_caller]
fn check(recording: Recording, setup: Setup, want: Want) {
    let case = Case {
        role: setup.role,
        action: Action::Write,
        category: Category::Story,
        owner: setup.owner,
        purpose: Purpose::Support,
        consent: ConsentState::Valid,
        objection: setup.objection,
        care: setup.care,
        break_glass: setup.break_glass,
    };
    let (mut actor, _, resident, facts) = common::build(&case);
    if setup.client {
        actor = Actor::Client(ClientActor {
            id: ClientId::from_uuid(common::uuid(4)),
            organisation: actor.organisation().clone(),
            scopes: ClientScopes {
                read: CategorySet::all(),
                write: CategorySet::all(),
                purposes: PurposeSet::all(),
            },
            active: true,
        });
    }
    let got = match may_record(
        &Matrix::default(),
        &actor,
        recording,
        Purpose::Support,
        &resident,
        &facts,
        common::now(),
    ) {
        Ok(basis) => Permit(Box::leak(basis.to_string().into_boxed_str())),
        Err(denial) => Deny(denial.reason.as_str(), denial.hides_resident),
    };
    assert_eq!(got, want, "{recording:?} {setup:?}");
}

#[test]
fn the_owning_wijkteams_coach_keeps_the_record() {
    let keeping = [
        Recording::Consent,
        Recording::Objection,
        Recording::CareRelation,
    ];
    for recording in keeping {
        let cases = [
            (COACH, Permit("statutory:wmo2015")),
            // An objection never stops the recording of the resident's own rights.
            (
                Setup {
                    objection: true,
                    ..COACH
                },
                Permit("statutory:wmo2015"),
            ),
            // A coach of another wijkteam, involved with the resident.
            (
                Setup {
                    owner: false,
                    ..COACH
                },
                Deny("not-owning-wijkteam-coach", false),
            ),
            // The owning wijkteam's triagist.
            (
                Setup {
                    role: Role::Triagist,
                    ..COACH
                },
                Deny("not-owning-wijkteam-coach", false),
            ),
            // The owning wijkteam's partner system: a person records.
            (
                Setup {
                    client: true,
                    ..COACH
                },
                Deny("not-owning-wijkteam-coach", false),
            ),
            // A welfare worker involved with the resident.
            (
                Setup {
                    role: Role::WelfareWorker,
                    owner: false,
                    ..COACH
                },
                Deny("not-owning-wijkteam-coach", false),
            ),
            // Without a care relation the resident is not known at all.
            (
                Setup {
                    care: CareState::None,
                    ..COACH
                },
                Deny("no-care-relation", true),
            ),
            (
                Setup {
                    care: CareState::Ended,
                    ..COACH
                },
                Deny("no-care-relation", true),
            ),
            // Break-the-glass is for reading: its holder keeps no record, and learns nothing.
            (
                Setup {
                    role: Role::ProviderWorker,
                    owner: false,
                    care: CareState::None,
                    break_glass: true,
                    ..COACH
                },
                Deny("no-care-relation", true),
            ),
            (
                Setup {
                    care: CareState::None,
                    break_glass: true,
                    ..COACH
                },
                Deny("no-care-relation", true),
            ),
        ];
        for (setup, want) in cases {
            check(recording, setup, want);
        }
    }
}

#[test]
fn a_plan_as_a_whole_only_on_the_statutory_task() {
    let cases = [
        (COACH, Permit("statutory:wmo2015")),
        // The triagist may write the story, so may start or close the plan.
        (
            Setup {
                role: Role::Triagist,
                ..COACH
            },
            Permit("statutory:wmo2015"),
        ),
        // The wijkteam's own partner system, with a write scope.
        (
            Setup {
                client: true,
                ..COACH
            },
            Permit("statutory:wmo2015"),
        ),
        // A plan write is a write: an objection denies it.
        (
            Setup {
                objection: true,
                ..COACH
            },
            Deny("objection", false),
        ),
        // A welfare worker with consent to the story still may not write it.
        (
            Setup {
                role: Role::WelfareWorker,
                owner: false,
                ..COACH
            },
            Deny("role-forbids-category", false),
        ),
        // A coach of another wijkteam, with consent: the plan is not theirs.
        (
            Setup {
                owner: false,
                ..COACH
            },
            Deny("basis-not-statutory", false),
        ),
        (
            Setup {
                care: CareState::None,
                ..COACH
            },
            Deny("no-care-relation", true),
        ),
        (
            Setup {
                role: Role::WelfareWorker,
                owner: false,
                care: CareState::None,
                ..COACH
            },
            Deny("role-forbids-category", true),
        ),
        (
            Setup {
                role: Role::PrivacyOfficer,
                owner: false,
                ..COACH
            },
            Deny("role-forbids-category", false),
        ),
    ];
    for (setup, want) in cases {
        check(Recording::Plan, setup, want);
    }
}

#[test]
fn nobody_but_the_owning_coach_and_never_without_knowing_the_resident() {
    let mut permits = 0;
    for recording in Recording::ALL.iter().copied() {
        for role in Role::ALL.iter().copied() {
            for owner in [false, true] {
                for (care, _) in CareState::ALL {
                    for objection in [false, true] {
                        for break_glass in [false, true] {
                            for client in [false, true] {
                                let setup = Setup {
                                    role,
                                    owner,
                                    care,
                                    objection,
                                    break_glass,
                                    client,
                                };
                                let case = Case {
                                    role,
                                    action: Action::Write,
                                    category: Category::Story,
                                    owner,
                                    purpose: Purpose::Support,
                                    consent: ConsentState::Valid,
                                    objection,
                                    care,
                                    break_glass,
                                };
                                let (member, _, resident, facts) = common::build(&case);
                                let actor = if client {
                                    Actor::Client(ClientActor {
                                        id: ClientId::from_uuid(common::uuid(4)),
                                        organisation: member.organisation().clone(),
                                        scopes: ClientScopes {
                                            read: CategorySet::all(),
                                            write: CategorySet::all(),
                                            purposes: PurposeSet::all(),
                                        },
                                        active: true,
                                    })
                                } else {
                                    member
                                };
                                let got = may_record(
                                    &Matrix::default(),
                                    &actor,
                                    recording,
                                    Purpose::Support,
                                    &resident,
                                    &facts,
                                    common::now(),
                                );
                                if let Ok(basis) = got {
                                    permits += 1;
                                    assert!(
                                        basis.to_string().starts_with("statutory:"),
                                        "{setup:?}"
                                    );
                                    assert!(owner && care == CareState::Valid, "{setup:?}");
                                    assert!(
                                        role == Role::Coach
                                            || (recording == Recording::Plan
                                                && role == Role::Triagist),
                                        "{setup:?}"
                                    );
                                    assert!(!client || recording == Recording::Plan, "{setup:?}");
                                }
                                if let Err(denial) = got {
                                    // Need to know is a care relation; break-the-glass never
                                    // stands in for one when keeping the record.
                                    let unrelated = care != CareState::Valid;
                                    if recording == Recording::Plan {
                                        assert!(denial.hides_resident || !unrelated, "{setup:?}");
                                    } else {
                                        assert_eq!(
                                            denial.hides_resident, unrelated,
                                            "{recording:?} {setup:?}"
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(permits > 0);
}

fn organisation(kind: OrganisationKind) -> policy::Organisation {
    common::organisation(common::OTHER_ORG, kind)
}

fn draft() -> CareRelationDraft {
    CareRelationDraft {
        resident: common::adult().id,
        organisation: organisation(OrganisationKind::Zorgaanbieder),
        member: None,
        kind: CareRelationKind::Involved,
        from: common::now(),
        until: None,
    }
}

#[track_caller]
fn check_relation(draft: CareRelationDraft, want: Result<(), PolicyError>) {
    let got = validate_care_relation(draft.clone(), &common::adult()).map(|valid| {
        assert_eq!(valid.get(), &draft);
    });
    assert_eq!(got, want, "{draft:?}");
}

#[test]
fn care_relations() {
    let now = common::now();
    let other_org = OrganisationId::from_uuid(common::uuid(99));
    let mut elsewhere = organisation(OrganisationKind::Welzijn);
    elsewhere.networks = vec![domain::NetworkId::from_uuid(common::uuid(98))];
    let mut inactive = organisation(OrganisationKind::Welzijn);
    inactive.active = false;
    let member = MemberId::from_uuid(common::uuid(5));
    let cases = [
        (draft(), Ok(())),
        (
            CareRelationDraft {
                member: Some((member, organisation(OrganisationKind::Zorgaanbieder).id)),
                kind: CareRelationKind::Referral,
                until: Some(now + Duration::days(90)),
                ..draft()
            },
            Ok(()),
        ),
        (
            CareRelationDraft {
                organisation: organisation(OrganisationKind::Wijkteam),
                kind: CareRelationKind::Coordinator,
                ..draft()
            },
            Ok(()),
        ),
        (
            CareRelationDraft {
                kind: CareRelationKind::Coordinator,
                ..draft()
            },
            Err(PolicyError::CoordinatorNotWijkteam),
        ),
        (
            CareRelationDraft {
                organisation: elsewhere,
                ..draft()
            },
            Err(PolicyError::CareRelationOrganisationNotEligible),
        ),
        (
            CareRelationDraft {
                organisation: inactive,
                ..draft()
            },
            Err(PolicyError::CareRelationOrganisationNotEligible),
        ),
        (
            CareRelationDraft {
                member: Some((member, other_org)),
                ..draft()
            },
            Err(PolicyError::MemberNotOfOrganisation),
        ),
        (
            CareRelationDraft {
                until: Some(now),
                ..draft()
            },
            Err(PolicyError::EndNotAfterStart),
        ),
        (
            CareRelationDraft {
                resident: ResidentId::from_uuid(common::uuid(8)),
                ..draft()
            },
            Err(PolicyError::OtherResident),
        ),
    ];
    for (draft, want) in cases {
        check_relation(draft, want);
    }
}

#[test]
fn ending_a_care_relation() {
    let now = common::now();
    let running = StoredCareRelation {
        resident: common::adult().id,
        until: None,
        ended_at: None,
    };
    let cases = [
        (running, Ok(now)),
        (
            StoredCareRelation {
                until: Some(now + Duration::hours(1)),
                ..running
            },
            Ok(now),
        ),
        (
            StoredCareRelation {
                ended_at: Some(now - Duration::hours(1)),
                ..running
            },
            Err(PolicyError::AlreadyEnded),
        ),
        (
            StoredCareRelation {
                until: Some(now),
                ..running
            },
            Err(PolicyError::AlreadyEnded),
        ),
        (
            StoredCareRelation {
                resident: ResidentId::from_uuid(common::uuid(8)),
                ..running
            },
            Err(PolicyError::OtherResident),
        ),
    ];
    for (relation, want) in cases {
        assert_eq!(
            validate_care_relation_end(&relation, &common::adult(), now),
            want,
            "{relation:?}"
        );
    }
}
