//! The sharing overview: what a coach shows the resident, never more than `decide` permits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Duration;
use common::{CareState, Case, ConsentState};
use domain::{Action, Category, ConsentId, OrganisationId, OrganisationKind, Purpose, Role};
use policy::{Basis, CategorySet, Facts, Law, Matrix, sharing_overview};

type Tweak = fn(&mut Facts);
/// basis, categories shown, categories taken out by an objection, involved now.
type Line = (Basis, CategorySet, CategorySet, bool);

/// The overview of a resident whose plan a wijkteam owns and who consented to the welfare
/// organisation for agreements (see `common::build`), after `tweak`.
#[track_caller]
fn check(tweak: Tweak, want: Vec<Line>) {
    let case = Case {
        role: Role::WelfareWorker,
        action: Action::Read,
        category: Category::Agreements,
        owner: false,
        purpose: Purpose::Support,
        consent: ConsentState::Valid,
        objection: false,
        care: CareState::Valid,
        break_glass: false,
    };
    let (_, _, resident, mut facts) = common::build(&case);
    tweak(&mut facts);
    let lines = sharing_overview(&Matrix::default(), &resident, &facts, common::now());
    let got: Vec<_> = lines
        .iter()
        .map(|line| (line.basis, line.categories, line.objected, line.involved))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn overview_lines() {
    let statutory = Basis::Statutory { law: Law::Wmo2015 };
    let consent = Basis::Consent(ConsentId::from_uuid(common::uuid(common::CONSENT)));
    let agreements = CategorySet::from([Category::Agreements]);
    let cases: Vec<(Tweak, Vec<Line>)> = vec![
        (
            |_| {},
            vec![
                (statutory, CategorySet::all(), CategorySet::EMPTY, false),
                (consent, agreements, CategorySet::EMPTY, true),
            ],
        ),
        // A consent covering health never shows health for a welfare organisation.
        (
            |f| {
                f.consents[0].categories =
                    CategorySet::from([Category::Agreements, Category::Health])
            },
            vec![
                (statutory, CategorySet::all(), CategorySet::EMPTY, false),
                (consent, agreements, CategorySet::EMPTY, true),
            ],
        ),
        // Withdrawn and expired consents are gone; one starting later is shown.
        (
            |f| f.consents[0].withdrawn_at = Some(common::now()),
            vec![(statutory, CategorySet::all(), CategorySet::EMPTY, false)],
        ),
        (
            |f| f.consents[0].valid_until = common::now(),
            vec![(statutory, CategorySet::all(), CategorySet::EMPTY, false)],
        ),
        (
            |f| f.consents[0].valid_from = common::now() + Duration::days(2),
            vec![
                (statutory, CategorySet::all(), CategorySet::EMPTY, false),
                (consent, agreements, CategorySet::EMPTY, true),
            ],
        ),
        // An objection takes its categories out, and says so.
        (
            |f| {
                f.objections.push(policy::Objection {
                    id: domain::ObjectionId::from_uuid(common::uuid(50)),
                    kind: domain::ObjectionKind::Objection,
                    categories: CategorySet::from([Category::Agreements]),
                    organisations: policy::OrganisationScope::Only(vec![
                        OrganisationId::from_uuid(common::uuid(common::ACTOR_ORG)),
                    ]),
                    from: common::now() - Duration::days(1),
                    until: None,
                    lifted_at: None,
                });
            },
            vec![
                (statutory, CategorySet::all(), CategorySet::EMPTY, false),
                (consent, CategorySet::EMPTY, agreements, true),
            ],
        ),
        // A plan owned by a care provider has no statutory line.
        (
            |f| {
                if let Some(plan) = &mut f.plan {
                    plan.owning_organisation_kind = OrganisationKind::Zorgaanbieder;
                }
                f.care_relations.clear();
            },
            vec![(consent, agreements, CategorySet::EMPTY, false)],
        ),
    ];
    for (tweak, want) in cases {
        check(tweak, want);
    }
}
