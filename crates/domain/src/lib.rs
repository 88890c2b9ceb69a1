//! Shared vocabulary of wijkhub: identifiers, the BSN, and the closed lists (categories, purposes,
//! roles, organisation kinds) that every other crate speaks.
//!
//! This crate does no IO and holds no policy: it only makes invalid values unrepresentable. Every
//! closed list is an enum matched exhaustively elsewhere, so a new variant breaks the build where it
//! must be handled. The string forms (`as_str`/`parse`) are part of the public contract with partner
//! systems and stored in the database: never rename one.

mod bsn;
mod error;
mod ids;
mod lists;

pub use bsn::Bsn;
pub use error::DomainError;
pub use ids::{
    BreakGlassId, CareRelationId, ClientId, ConsentId, MemberId, NetworkId, ObjectionId,
    OrganisationId, PlanId, ResidentId, SectionId,
};
pub use lists::{
    Action, CareRelationKind, Category, EvidenceKind, MemberStatus, ObjectionKind,
    OrganisationKind, PlanKind, PlanStatus, Purpose, ResidentStatus, Role,
};
