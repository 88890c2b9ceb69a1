//! The access policy of wijkhub (DESIGN §5): who may do what to which part of a resident's plan,
//! and on what basis; who keeps the resident's record; and the validation of what a coach records
//! (consent, withdrawal, objection, care relation, break-the-glass).
//!
//! Pure and synchronous: `now` and the facts are parameters. This crate must never do IO, read a
//! clock, spawn, or depend on tokio, sea-orm or axum; it must never permit without a basis found in
//! the facts it was given.

mod break_glass;
mod consent;
mod decide;
mod decision;
mod doc;
mod error;
mod facts;
mod matrix;
mod overview;
mod record;
mod register;
mod sets;

pub use break_glass::{BreakGlassConfig, BreakGlassDraft, ValidBreakGlass, validate_break_glass};
pub use consent::{
    AgeRule, ConsentDraft, Evidence, Giver, GranteeDraft, ObjectionDraft, ValidConsent,
    ValidObjection, ValidWithdrawal, WithdrawalDraft, age_at, validate_consent, validate_lift,
    validate_objection, validate_withdrawal,
};
pub use decide::{CONSENT_REASON_PRECEDENCE, decide};
pub use decision::{Basis, Check, Checks, Decision, DenyReason, Law, Outcome};
pub use doc::{render_policy_doc, render_policy_doc_for};
pub use error::PolicyError;
pub use facts::{
    Actor, ActorId, BreakGlassGrant, CareParty, CareRelation, ClientActor, ClientScopes, Consent,
    Facts, Grantee, MemberActor, Objection, Organisation, OrganisationScope, PlanFacts,
    RepresentativeId, Request, Resident,
};
pub use matrix::{Access, Matrix, Override, role_fits_organisation};
pub use overview::{SharingLine, sharing_overview};
pub use record::{
    CareRelationDraft, RecordDenial, RecordDenyReason, Recording, StoredCareRelation,
    ValidCareRelation, knows_resident, may_record, validate_care_relation,
    validate_care_relation_end,
};
pub use register::{decide_identity, may_register};
pub use sets::{CategorySet, PurposeSet, RoleSet};
