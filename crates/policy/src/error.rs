//! The one error type of the policy crate: why a matrix, consent, withdrawal, objection or
//! break-the-glass was refused.
//!
//! Messages are fixed text for the client; they must never echo a name, a reason text or any other
//! personal datum. Codes are contract: never rename one.

use domain::{Category, Role};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error("the override gives {role} more on {category} than the default matrix")]
    MatrixLoosened { role: Role, category: Category },
    #[error("the override lets {role} break the glass, which the default forbids")]
    BreakGlassLoosened { role: Role },
    #[error("the record belongs to another resident")]
    OtherResident,
    #[error("a consent must cover at least one category")]
    NoCategories,
    #[error("a consent must cover at least one purpose")]
    NoPurposes,
    #[error("the end must be after the start")]
    EndNotAfterStart,
    #[error("the grantee does not take part in the resident's network")]
    GranteeOutsideNetwork,
    #[error("the representative is not registered for this resident")]
    RepresentativeNotRegistered,
    #[error("given by the wrong person for the resident's age")]
    WrongPersonForAge,
    #[error("the evidence needs a reference")]
    EvidenceReferenceMissing,
    #[error("the consent is already withdrawn")]
    AlreadyWithdrawn,
    #[error("an objection must cover at least one category and one organisation")]
    ObjectionCoversNothing,
    #[error("the objection is already lifted")]
    AlreadyLifted,
    #[error("this role may not break the glass")]
    BreakGlassRoleNotAllowed,
    #[error("the actor, their organisation or its network membership does not allow this")]
    BreakGlassActorNotEligible,
    #[error("break-the-glass needs a written reason of at least {min_chars} characters")]
    BreakGlassReasonTooShort { min_chars: usize },
    #[error("break-the-glass lasts more than zero and at most {max_hours} hours")]
    BreakGlassDurationOutOfRange { max_hours: i64 },
    #[error("invalid break-the-glass configuration")]
    BreakGlassConfigInvalid,
    #[error("break-the-glass is for a person, not a partner system")]
    BreakGlassNeedsPerson,
    #[error("the organisation is inactive or does not take part in the resident's network")]
    CareRelationOrganisationNotEligible,
    #[error("the member does not belong to the organisation")]
    MemberNotOfOrganisation,
    #[error("only a wijkteam coordinates")]
    CoordinatorNotWijkteam,
    #[error("the care relation has already ended")]
    AlreadyEnded,
}

impl PolicyError {
    /// The stable code, for `extensions.code` and the audit entry.
    pub const fn code(&self) -> &'static str {
        match self {
            PolicyError::MatrixLoosened { .. } => "matrix-loosened",
            PolicyError::BreakGlassLoosened { .. } => "break-glass-loosened",
            PolicyError::OtherResident => "other-resident",
            PolicyError::NoCategories => "no-categories",
            PolicyError::NoPurposes => "no-purposes",
            PolicyError::EndNotAfterStart => "end-not-after-start",
            PolicyError::GranteeOutsideNetwork => "grantee-outside-network",
            PolicyError::RepresentativeNotRegistered => "representative-not-registered",
            PolicyError::WrongPersonForAge => "wrong-person-for-age",
            PolicyError::EvidenceReferenceMissing => "evidence-reference-missing",
            PolicyError::AlreadyWithdrawn => "already-withdrawn",
            PolicyError::ObjectionCoversNothing => "objection-covers-nothing",
            PolicyError::AlreadyLifted => "already-lifted",
            PolicyError::BreakGlassRoleNotAllowed => "break-glass-role-not-allowed",
            PolicyError::BreakGlassActorNotEligible => "break-glass-actor-not-eligible",
            PolicyError::BreakGlassReasonTooShort { .. } => "break-glass-reason-too-short",
            PolicyError::BreakGlassDurationOutOfRange { .. } => "break-glass-duration-out-of-range",
            PolicyError::BreakGlassConfigInvalid => "break-glass-config-invalid",
            PolicyError::BreakGlassNeedsPerson => "break-glass-needs-person",
            PolicyError::CareRelationOrganisationNotEligible => {
                "care-relation-organisation-not-eligible"
            }
            PolicyError::MemberNotOfOrganisation => "member-not-of-organisation",
            PolicyError::CoordinatorNotWijkteam => "coordinator-not-wijkteam",
            PolicyError::AlreadyEnded => "already-ended",
        }
    }
}
