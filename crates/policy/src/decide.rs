//! `decide`: the one function that permits or denies every read and write of resident data.
//!
//! Rules in DESIGN §5 order; the first that fails gives the deny reason. It must never do IO, read
//! a clock, allocate on the hot path or permit without a basis found in the facts it was given.

use chrono::{DateTime, Utc};
use domain::{Action, OrganisationKind, Role};

use crate::decision::{Basis, Check, Checks, Decision, DenyReason, Law, Outcome};
use crate::facts::{Actor, CareParty, Consent, Facts, Grantee, Request, Resident};
use crate::matrix::{Matrix, role_fits_organisation};

/// Decides one action on one category of one resident's plan, for one declared purpose.
///
/// `matrix` is the network's (possibly tightened) matrix; `now` the moment of the request.
pub fn decide(
    matrix: &Matrix,
    actor: &Actor,
    request: &Request,
    resident: &Resident,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Decision {
    let mut checks = Checks::default();
    let outcome = decide_outcome(matrix, actor, request, resident, facts, now, &mut checks);
    Decision::new(outcome, checks)
}

fn decide_outcome(
    matrix: &Matrix,
    actor: &Actor,
    request: &Request,
    resident: &Resident,
    facts: &Facts,
    now: DateTime<Utc>,
    checks: &mut Checks,
) -> Outcome {
    let organisation = actor.organisation();

    // Rule 1: an active actor of an active organisation in the resident's network.
    checks.add(Check::ActorActive);
    if !actor.is_active() {
        return Outcome::Deny(DenyReason::InactiveActor);
    }
    checks.add(Check::OrganisationActive);
    if !organisation.active {
        return Outcome::Deny(DenyReason::InactiveOrganisation);
    }
    checks.add(Check::OrganisationInNetwork);
    if !organisation.networks.contains(&resident.network) {
        return Outcome::Deny(DenyReason::OrganisationNotInNetwork);
    }

    // Rule 2: the role (and a partner system's scopes) permit the action on the category.
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
    if !matrix.permits(role, request.category, request.action) {
        return Outcome::Deny(DenyReason::RoleForbidsCategory);
    }
    if let Actor::Client(client) = actor {
        checks.add(Check::ClientScope);
        let scope = match request.action {
            Action::Read => client.scopes.read,
            Action::Write => client.scopes.write,
        };
        if !scope.contains(request.category) {
            return Outcome::Deny(DenyReason::ScopeNotGranted);
        }
        if !client.scopes.purposes.contains(request.purpose) {
            return Outcome::Deny(DenyReason::PurposeNotInScope);
        }
    }
    if request.action == Action::Write {
        checks.add(Check::OwnContribution);
        let own = request
            .section_author
            .is_none_or(|author| author == organisation.id);
        let coordinating_coach = match (actor, &facts.plan) {
            (Actor::Member(member), Some(plan)) => {
                member.role == Role::Coach && plan.coordinating_coach == Some(member.id)
            }
            (Actor::Member(_) | Actor::Client(_), _) => false,
        };
        if !(own || coordinating_coach) {
            return Outcome::Deny(DenyReason::NotOwnContribution);
        }
    }

    // Rule 3: need to know. A break-the-glass grant stands in for a care relation, for reads only.
    checks.add(Check::CareRelation);
    let actor_id = actor.id();
    let care_relation = facts.care_relations.iter().any(|relation| {
        relation.valid_at(now)
            && match (relation.party, actor) {
                (CareParty::Organisation(id), _) => id == organisation.id,
                (CareParty::Member(id), Actor::Member(member)) => id == member.id,
                (CareParty::Member(_), Actor::Client(_)) => false,
            }
    });
    let break_glass = if request.action == Action::Read && matrix.may_break_glass(role) {
        facts.break_glass.iter().find(|grant| {
            grant.resident == resident.id
                && grant.holder == actor_id
                && grant.organisation == organisation.id
                && grant.role == role
                && grant.active_at(now)
        })
    } else {
        None
    };
    if !care_relation {
        checks.add(Check::BreakGlass);
        if break_glass.is_none() {
            return Outcome::Deny(DenyReason::NoCareRelation);
        }
    }

    // Rule 4: an objection or restriction denies, whatever else permits.
    checks.add(Check::Objection);
    let objected = facts.objections.iter().any(|objection| {
        objection.active_at(now)
            && objection.categories.contains(request.category)
            && objection.organisations.covers(organisation.id)
    });
    if objected {
        return Outcome::Deny(DenyReason::Objection);
    }

    // Rule 5: a basis. Statutory task first, then consent, then break-the-glass as last resort.
    checks.add(Check::StatutoryTask);
    let owning_wijkteam = organisation.kind == OrganisationKind::Wijkteam
        && facts.plan.is_some_and(|plan| {
            plan.owning_organisation == organisation.id
                && plan.owning_organisation_kind == OrganisationKind::Wijkteam
        });
    if owning_wijkteam {
        return Outcome::Permit(Basis::Statutory {
            law: Law::for_resident(resident, now),
        });
    }
    checks.add(Check::Consent);
    let mut closest = DenyReason::NoConsent;
    for consent in &facts.consents {
        match consent_verdict(consent, actor, request, resident, now) {
            Ok(()) => return Outcome::Permit(Basis::Consent(consent.id)),
            Err(reason) => {
                if consent_rank(reason) > consent_rank(closest) {
                    closest = reason;
                }
            }
        }
    }
    if let Some(grant) = break_glass {
        checks.add(Check::BreakGlass);
        return Outcome::Permit(Basis::BreakGlass(grant.id));
    }
    Outcome::Deny(closest)
}

/// One consent against one request: which stage it fails at, in the order grantee, category,
/// purpose, withdrawal, start, end.
fn consent_verdict(
    consent: &Consent,
    actor: &Actor,
    request: &Request,
    resident: &Resident,
    now: DateTime<Utc>,
) -> Result<(), DenyReason> {
    let in_resident_network = match consent.grantee {
        Grantee::Organisation { .. } => true,
        Grantee::OrganisationKind { network, .. } => network == resident.network,
    };
    if consent.resident != resident.id
        || !in_resident_network
        || !consent.grantee.includes(actor.organisation())
    {
        return Err(DenyReason::NoConsent);
    }
    if !consent.categories.contains(request.category) {
        return Err(DenyReason::CategoryNotCovered);
    }
    if !consent.purposes.contains(request.purpose) {
        return Err(DenyReason::PurposeNotCovered);
    }
    if consent.withdrawn_at.is_some() {
        return Err(DenyReason::ConsentWithdrawn);
    }
    if now < consent.valid_from {
        return Err(DenyReason::ConsentNotYetValid);
    }
    if consent.valid_until <= now {
        return Err(DenyReason::ConsentExpired);
    }
    Ok(())
}

/// The consent deny reasons, least specific first: with several consents the highest wins.
pub const CONSENT_REASON_PRECEDENCE: [DenyReason; 6] = [
    DenyReason::NoConsent,
    DenyReason::CategoryNotCovered,
    DenyReason::PurposeNotCovered,
    DenyReason::ConsentExpired,
    DenyReason::ConsentWithdrawn,
    DenyReason::ConsentNotYetValid,
];

fn consent_rank(reason: DenyReason) -> usize {
    CONSENT_REASON_PRECEDENCE
        .iter()
        .position(|candidate| *candidate == reason)
        .unwrap_or(0)
}
