//! The sharing overview (deeloverzicht): per organisation or kind, which parts of the plan it may
//! see, for which purposes, until when and on what basis — what a coach shows the resident.
//!
//! Pure and derived from the same facts and matrix as `decide`; it must never promise more than
//! `decide` would permit (it narrows by the matrix and by objections), and never hold content.

use chrono::{DateTime, Utc};
use domain::{Action, Category, OrganisationKind};

use crate::consent::age_at;
use crate::decision::{Basis, Law};
use crate::facts::{Facts, Grantee, Resident};
use crate::matrix::Matrix;
use crate::sets::{CategorySet, PurposeSet};

/// One line of the overview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharingLine {
    pub grantee: Grantee,
    /// The categories it may read (consent ∩ matrix, minus objections).
    pub categories: CategorySet,
    /// Categories the basis would cover but an objection or restriction takes out.
    pub objected: CategorySet,
    pub purposes: PurposeSet,
    pub from: Option<DateTime<Utc>>,
    /// `None`: as long as the statutory task lasts.
    pub until: Option<DateTime<Utc>>,
    pub basis: Basis,
    /// Whether an organisation grantee has a care relation now (without one it sees nothing yet).
    pub involved: bool,
}

/// The overview at `now`: the statutory line of the owning wijkteam, every consent that is current
/// or starts later, and every active break-the-glass grant. Ordered: statutory, consents by start,
/// break-the-glass by start.
pub fn sharing_overview(
    matrix: &Matrix,
    resident: &Resident,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Vec<SharingLine> {
    let mut lines = Vec::new();
    let readable_by_kind = |kind: OrganisationKind| -> CategorySet {
        match kind.client_role() {
            Some(role) => Category::ALL
                .iter()
                .copied()
                .filter(|category| matrix.permits(role, *category, Action::Read))
                .collect(),
            None => CategorySet::EMPTY,
        }
    };
    let involved = |grantee: &Grantee| match *grantee {
        Grantee::Organisation { id, .. } => facts.care_relations.iter().any(|relation| {
            relation.valid_at(now) && relation.party == crate::facts::CareParty::Organisation(id)
        }),
        Grantee::OrganisationKind { .. } => false,
    };
    let objected = |grantee: &Grantee| -> CategorySet {
        facts
            .objections
            .iter()
            .filter(|objection| objection.active_at(now))
            .filter(|objection| match grantee {
                Grantee::Organisation { id, .. } => objection.organisations.covers(*id),
                Grantee::OrganisationKind { .. } => {
                    objection.organisations == crate::facts::OrganisationScope::Every
                }
            })
            .fold(CategorySet::EMPTY, |set, objection| {
                set.union(objection.categories)
            })
    };
    let mut push = |grantee: Grantee,
                    categories: CategorySet,
                    purposes: PurposeSet,
                    from: Option<DateTime<Utc>>,
                    until: Option<DateTime<Utc>>,
                    basis: Basis| {
        let allowed = categories.intersection(readable_by_kind(grantee.kind()));
        let objected = allowed.intersection(objected(&grantee));
        lines.push(SharingLine {
            grantee,
            categories: allowed.difference(objected),
            objected,
            purposes,
            from,
            until,
            basis,
            involved: involved(&grantee),
        });
    };

    if let Some(plan) = facts.plan
        && plan.owning_organisation_kind == OrganisationKind::Wijkteam
    {
        let law = if age_at(resident.birth_date, now) < 18 {
            Law::Jeugdwet
        } else {
            Law::Wmo2015
        };
        push(
            Grantee::Organisation {
                id: plan.owning_organisation,
                kind: OrganisationKind::Wijkteam,
            },
            CategorySet::all(),
            PurposeSet::all(),
            None,
            None,
            Basis::Statutory { law },
        );
    }
    let mut consents: Vec<_> = facts
        .consents
        .iter()
        .filter(|consent| {
            let in_network = match consent.grantee {
                Grantee::Organisation { .. } => true,
                Grantee::OrganisationKind { network, .. } => network == resident.network,
            };
            consent.resident == resident.id
                && in_network
                && consent.withdrawn_at.is_none()
                && now < consent.valid_until
        })
        .collect();
    consents.sort_by_key(|consent| (consent.valid_from, consent.id));
    for consent in consents {
        push(
            consent.grantee,
            consent.categories,
            consent.purposes,
            Some(consent.valid_from),
            Some(consent.valid_until),
            Basis::Consent(consent.id),
        );
    }
    let mut grants: Vec<_> = facts
        .break_glass
        .iter()
        .filter(|grant| grant.resident == resident.id && grant.active_at(now))
        .collect();
    grants.sort_by_key(|grant| (grant.from, grant.id));
    for grant in grants {
        let readable: CategorySet = Category::ALL
            .iter()
            .copied()
            .filter(|category| matrix.permits(grant.role, *category, Action::Read))
            .collect();
        let kind = match grant.role {
            domain::Role::ProviderWorker => OrganisationKind::Zorgaanbieder,
            domain::Role::WelfareWorker => OrganisationKind::Welzijn,
            domain::Role::Coach
            | domain::Role::Triagist
            | domain::Role::PrivacyOfficer
            | domain::Role::Administrator => OrganisationKind::Wijkteam,
        };
        push(
            Grantee::Organisation {
                id: grant.organisation,
                kind,
            },
            readable,
            PurposeSet::all(),
            Some(grant.from),
            Some(grant.until),
            Basis::BreakGlass(grant.id),
        );
    }
    lines
}
