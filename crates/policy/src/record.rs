//! Who may keep the resident's record: change a plan as a whole (create it, set its status),
//! record or withdraw a consent, record or lift an objection, start or end a care relation. And
//! the validation of a care relation as it is entered.
//!
//! One rule for all of them, in [`may_record`]: the wijkteam that owns the plan keeps the record
//! on its statutory task. This module must never let a caller who may not know the resident learn
//! that they exist (such a refusal says so, the API answers `NOT_FOUND`), and never accept a
//! care relation with an organisation outside the resident's network.
//!
//! Break-the-glass has no owner to ask: who may break the glass is the matrix's list of roles,
//! checked by [`crate::validate_break_glass`].

use chrono::{DateTime, Utc};
use domain::{Action, CareRelationKind, Category, MemberId, OrganisationKind, Purpose, ResidentId};

use crate::PolicyError;
use crate::decide::decide;
use crate::decision::{Basis, DenyReason, Law};
use crate::facts::{Actor, CareParty, Facts, Organisation, Request, Resident};
use crate::matrix::{Matrix, role_fits_organisation};

/// What is recorded about a resident, beyond reading or writing one section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recording {
    /// A new plan, or a plan's status: the plan as a whole. Any actor of the owning wijkteam
    /// whose role may write the story, on the statutory task (never on a consent), subject to
    /// objections like every write.
    Plan,
    /// Recording, changing or withdrawing a consent.
    Consent,
    /// Recording or lifting an objection or restriction.
    Objection,
    /// Starting or ending a care relation.
    CareRelation,
}

impl Recording {
    pub const ALL: &'static [Recording] = &[
        Recording::Plan,
        Recording::Consent,
        Recording::Objection,
        Recording::CareRelation,
    ];

    /// What it is and who may, for `docs/POLICY.md`.
    pub const fn description(self) -> (&'static str, &'static str) {
        match self {
            Recording::Plan => (
                "a plan as a whole: create it, set its status, hand over its coordination",
                "any actor of the owning wijkteam whose role may write the story (a partner \
                 system within its scopes), as a write of the story on the statutory task: an \
                 objection covering it denies, a consent never permits it",
            ),
            Recording::Consent => (
                "record, change or withdraw a consent",
                "a coach (a person) of the owning wijkteam",
            ),
            Recording::Objection => (
                "record or lift an objection or restriction",
                "a coach (a person) of the owning wijkteam",
            ),
            Recording::CareRelation => (
                "start or end a care relation",
                "a coach (a person) of the owning wijkteam",
            ),
        }
    }
}

/// Why a recording was refused. Stable codes, stored in the audit entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordDenyReason {
    /// `decide` refused the write the recording stands for.
    Policy(DenyReason),
    /// The write would rest on a consent or break-the-glass: only the statutory task changes a
    /// plan as a whole.
    NotStatutory,
    /// Consents, objections and care relations are kept by a coach (a person, not a partner
    /// system) of the wijkteam that owns the plan.
    NotOwningWijkteamCoach,
}

impl RecordDenyReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordDenyReason::Policy(reason) => reason.as_str(),
            RecordDenyReason::NotStatutory => "basis-not-statutory",
            RecordDenyReason::NotOwningWijkteamCoach => "not-owning-wijkteam-coach",
        }
    }
}

/// A refused recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordDenial {
    pub reason: RecordDenyReason,
    /// The actor may not know the resident exists (no care relation, not in the network,
    /// inactive): answer as for a resident that does not exist.
    pub hides_resident: bool,
}

/// Whether `actor` may record `recording` about `resident` now, and on what basis: always the
/// owning wijkteam's statutory task.
///
/// - [`Recording::Plan`]: `decide` permits writing the plan's story (`section_author: None`) on a
///   statutory basis: an actor of the owning wijkteam, in its network, with a care relation, whose
///   role (and a partner system's scope and purposes) allows it, and no objection covering it.
/// - [`Recording::Consent`], [`Recording::Objection`], [`Recording::CareRelation`]: a member (not
///   a partner system) in the coach role of the wijkteam that owns the plan, who knows the
///   resident. Objections do not stop them: a resident's objection never stops the recording of
///   their own rights.
///
/// Either way a refusal hides the resident when the actor has no care relation with them, is
/// outside their network, or inactive. A break-the-glass grant is for reading, never for
/// keeping the record: its holder is refused as one without a care relation.
pub fn may_record(
    matrix: &Matrix,
    actor: &Actor,
    recording: Recording,
    purpose: Purpose,
    resident: &Resident,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Result<Basis, RecordDenial> {
    let knows = knows_resident(actor, resident, facts, now);
    match recording {
        Recording::Plan => {
            let request = Request {
                action: Action::Write,
                category: Category::Story,
                purpose,
                section_author: None,
            };
            let decision = decide(matrix, actor, &request, resident, facts, now);
            match decision.basis() {
                Some(basis @ Basis::Statutory { .. }) => Ok(basis),
                Some(Basis::Consent(_) | Basis::BreakGlass(_)) => Err(RecordDenial {
                    reason: RecordDenyReason::NotStatutory,
                    hides_resident: !knows,
                }),
                None => {
                    let reason = decision.deny_reason().unwrap_or(DenyReason::NoCareRelation);
                    Err(RecordDenial {
                        reason: RecordDenyReason::Policy(reason),
                        hides_resident: reason.hides_resident() || !knows,
                    })
                }
            }
        }
        Recording::Consent | Recording::Objection | Recording::CareRelation => {
            if !knows {
                return Err(RecordDenial {
                    reason: RecordDenyReason::Policy(DenyReason::NoCareRelation),
                    hides_resident: true,
                });
            }
            let organisation = actor.organisation();
            let owning_wijkteam = facts.plan.is_some_and(|plan| {
                plan.owning_organisation == organisation.id
                    && plan.owning_organisation_kind == OrganisationKind::Wijkteam
            });
            let coach = match actor {
                Actor::Member(member) => {
                    member.role == domain::Role::Coach
                        && role_fits_organisation(member.role, organisation.kind)
                }
                Actor::Client(_) => false,
            };
            if !(owning_wijkteam && coach) {
                return Err(RecordDenial {
                    reason: RecordDenyReason::NotOwningWijkteamCoach,
                    hides_resident: false,
                });
            }
            Ok(Basis::Statutory {
                law: Law::for_resident(resident, now),
            })
        }
    }
}

/// Need to know: an active actor of an active organisation in the resident's network, linked to
/// the resident now by a care relation (of the organisation or the member). A break-the-glass
/// grant does not count: it stands in for a care relation for reads only, as in `decide`.
pub fn knows_resident(
    actor: &Actor,
    resident: &Resident,
    facts: &Facts,
    now: DateTime<Utc>,
) -> bool {
    let organisation = actor.organisation();
    actor.is_active()
        && organisation.active
        && organisation.networks.contains(&resident.network)
        && facts.care_relations.iter().any(|relation| {
            relation.valid_at(now)
                && match (relation.party, actor) {
                    (CareParty::Organisation(id), _) => id == organisation.id,
                    (CareParty::Member(id), Actor::Member(member)) => id == member.id,
                    (CareParty::Member(_), Actor::Client(_)) => false,
                }
        })
}

/// Betrokkenheid as the coach enters it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CareRelationDraft {
    pub resident: ResidentId,
    /// The organisation involved, as loaded from the store.
    pub organisation: Organisation,
    /// The member doing the work, with the organisation they belong to; `None` for the whole
    /// organisation.
    pub member: Option<(MemberId, domain::OrganisationId)>,
    pub kind: CareRelationKind,
    pub from: DateTime<Utc>,
    /// `None`: until it is ended.
    pub until: Option<DateTime<Utc>>,
}

/// A care relation that passed [`validate_care_relation`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidCareRelation(CareRelationDraft);

impl ValidCareRelation {
    pub const fn get(&self) -> &CareRelationDraft {
        &self.0
    }
}

/// Validates a new care relation: an active organisation of the resident's network, a member of
/// that organisation, the coordinator only a wijkteam (regie lies with the wijkteam), an end after
/// the start.
pub fn validate_care_relation(
    draft: CareRelationDraft,
    resident: &Resident,
) -> Result<ValidCareRelation, PolicyError> {
    if draft.resident != resident.id {
        return Err(PolicyError::OtherResident);
    }
    if !(draft.organisation.active && draft.organisation.networks.contains(&resident.network)) {
        return Err(PolicyError::CareRelationOrganisationNotEligible);
    }
    if draft
        .member
        .is_some_and(|(_, organisation)| organisation != draft.organisation.id)
    {
        return Err(PolicyError::MemberNotOfOrganisation);
    }
    if draft.kind == CareRelationKind::Coordinator
        && draft.organisation.kind != OrganisationKind::Wijkteam
    {
        return Err(PolicyError::CoordinatorNotWijkteam);
    }
    if draft.until.is_some_and(|until| until <= draft.from) {
        return Err(PolicyError::EndNotAfterStart);
    }
    Ok(ValidCareRelation(draft))
}

/// A stored care relation, as far as ending it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredCareRelation {
    pub resident: ResidentId,
    pub until: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// Validates ending a care relation now: it must be this resident's and still running (not
/// ended, not past its end). Answers the moment it ends.
pub fn validate_care_relation_end(
    relation: &StoredCareRelation,
    resident: &Resident,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, PolicyError> {
    if relation.resident != resident.id {
        return Err(PolicyError::OtherResident);
    }
    if relation.ended_at.is_some() || relation.until.is_some_and(|until| until <= now) {
        return Err(PolicyError::AlreadyEnded);
    }
    Ok(now)
}

impl Law {
    /// The Jeugdwet under 18, the Wmo 2015 from 18.
    pub fn for_resident(resident: &Resident, now: DateTime<Utc>) -> Law {
        if crate::consent::age_at(resident.birth_date, now) < 18 {
            Law::Jeugdwet
        } else {
            Law::Wmo2015
        }
    }
}

impl DenyReason {
    /// Whether a deny for this reason means the actor may not know the resident (or plan)
    /// exists: such a refusal answers exactly like a missing object.
    pub const fn hides_resident(self) -> bool {
        match self {
            DenyReason::NoCareRelation
            | DenyReason::OrganisationNotInNetwork
            | DenyReason::InactiveActor
            | DenyReason::InactiveOrganisation
            | DenyReason::NoClientRole
            | DenyReason::RoleOrganisationMismatch => true,
            DenyReason::RoleForbidsCategory
            | DenyReason::ScopeNotGranted
            | DenyReason::PurposeNotInScope
            | DenyReason::NotOwnContribution
            | DenyReason::Objection
            | DenyReason::NoConsent
            | DenyReason::CategoryNotCovered
            | DenyReason::PurposeNotCovered
            | DenyReason::ConsentExpired
            | DenyReason::ConsentWithdrawn
            | DenyReason::ConsentNotYetValid => false,
        }
    }
}
