//! Recording, withdrawing and objecting: validation of what a coach records for a resident.
//!
//! Pure: the store writes only what passed here. It must never accept a consent given by the
//! wrong person for the resident's age, and never echo personal data in an error.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use domain::{
    ConsentId, EvidenceKind, MemberId, ObjectionId, ObjectionKind, OrganisationKind, ResidentId,
};

use crate::PolicyError;
use crate::facts::{
    Consent, Grantee, Objection, Organisation, OrganisationScope, RepresentativeId, Resident,
};
use crate::sets::{CategorySet, PurposeSet};

/// Age in whole years on the UTC date of `now` (documented: around midnight the Dutch date may be
/// a day later; the difference is at most two hours on a birthday).
pub fn age_at(birth_date: NaiveDate, now: DateTime<Utc>) -> u32 {
    let today = now.date_naive();
    let mut years = today.year() - birth_date.year();
    if (today.month(), today.day()) < (birth_date.month(), birth_date.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// The age rules for who gives (and withdraws) consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgeRule {
    /// Under 12: the registered representative(s) only.
    UnderTwelve,
    /// 12 to 15: both the minor and at least one registered representative.
    TwelveToFifteen,
    /// 16 and older: the resident alone.
    SixteenAndOver,
}

impl AgeRule {
    pub const ALL: &'static [AgeRule] = &[
        AgeRule::UnderTwelve,
        AgeRule::TwelveToFifteen,
        AgeRule::SixteenAndOver,
    ];

    pub const fn for_age(age: u32) -> AgeRule {
        match age {
            0..=11 => AgeRule::UnderTwelve,
            12..=15 => AgeRule::TwelveToFifteen,
            _ => AgeRule::SixteenAndOver,
        }
    }

    /// For `docs/POLICY.md`.
    pub const fn description(self) -> (&'static str, &'static str, &'static str) {
        match self {
            AgeRule::UnderTwelve => (
                "under 12",
                "one or more registered representatives, and only they",
                "a registered representative",
            ),
            AgeRule::TwelveToFifteen => (
                "12 to 15",
                "the minor and at least one registered representative, together",
                "the minor or a registered representative",
            ),
            AgeRule::SixteenAndOver => ("16 and older", "the resident alone", "the resident alone"),
        }
    }
}

/// Who gives or withdraws a consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Giver {
    /// The resident themself.
    Resident,
    /// A registered legal representative.
    Representative(RepresentativeId),
}

/// Who a consent is to be given to, with what the validation needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GranteeDraft {
    /// One organisation, as loaded from the store.
    Organisation(Organisation),
    /// Every organisation of this kind within the resident's network.
    OrganisationKind(OrganisationKind),
}

/// Bewijs: how the consent was given, and where that is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub kind: EvidenceKind,
    /// A reference to the form, the note or the digital record; never the content itself.
    pub reference: String,
}

/// A consent as a coach enters it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentDraft {
    pub resident: ResidentId,
    pub grantee: GranteeDraft,
    pub categories: CategorySet,
    pub purposes: PurposeSet,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub given_by: Vec<Giver>,
    pub evidence: Evidence,
    pub recorded_by: MemberId,
}

/// A consent that passed every rule. Only [`validate_consent`] builds one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidConsent {
    resident: ResidentId,
    grantee: Grantee,
    categories: CategorySet,
    purposes: PurposeSet,
    valid_from: DateTime<Utc>,
    valid_until: DateTime<Utc>,
    given_by: Vec<Giver>,
    evidence: Evidence,
    recorded_by: MemberId,
    recorded_at: DateTime<Utc>,
}

impl ValidConsent {
    pub const fn resident(&self) -> ResidentId {
        self.resident
    }
    pub const fn grantee(&self) -> Grantee {
        self.grantee
    }
    pub const fn categories(&self) -> CategorySet {
        self.categories
    }
    pub const fn purposes(&self) -> PurposeSet {
        self.purposes
    }
    pub const fn valid_from(&self) -> DateTime<Utc> {
        self.valid_from
    }
    pub const fn valid_until(&self) -> DateTime<Utc> {
        self.valid_until
    }
    pub fn given_by(&self) -> &[Giver] {
        &self.given_by
    }
    pub const fn evidence(&self) -> &Evidence {
        &self.evidence
    }
    pub const fn recorded_by(&self) -> MemberId {
        self.recorded_by
    }
    pub const fn recorded_at(&self) -> DateTime<Utc> {
        self.recorded_at
    }

    /// The fact `decide` reads, once the store has given it an id.
    pub fn to_fact(&self, id: ConsentId) -> Consent {
        Consent {
            id,
            resident: self.resident,
            grantee: self.grantee,
            categories: self.categories,
            purposes: self.purposes,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            withdrawn_at: None,
        }
    }
}

/// Validates a consent against the resident, at `now` (which also fixes the age).
pub fn validate_consent(
    draft: ConsentDraft,
    resident: &Resident,
    now: DateTime<Utc>,
) -> Result<ValidConsent, PolicyError> {
    if draft.resident != resident.id {
        return Err(PolicyError::OtherResident);
    }
    if draft.categories.is_empty() {
        return Err(PolicyError::NoCategories);
    }
    if draft.purposes.is_empty() {
        return Err(PolicyError::NoPurposes);
    }
    if draft.valid_until <= draft.valid_from {
        return Err(PolicyError::EndNotAfterStart);
    }
    let grantee = match &draft.grantee {
        GranteeDraft::Organisation(organisation) => {
            if !organisation.networks.contains(&resident.network) {
                return Err(PolicyError::GranteeOutsideNetwork);
            }
            Grantee::Organisation {
                id: organisation.id,
                kind: organisation.kind,
            }
        }
        GranteeDraft::OrganisationKind(kind) => Grantee::OrganisationKind {
            kind: *kind,
            network: resident.network,
        },
    };
    if draft.evidence.reference.trim().is_empty() {
        return Err(PolicyError::EvidenceReferenceMissing);
    }
    check_representatives(&draft.given_by, resident)?;
    let by_resident = draft.given_by.contains(&Giver::Resident);
    let by_representative = draft
        .given_by
        .iter()
        .any(|giver| matches!(giver, Giver::Representative(_)));
    let right_people = match AgeRule::for_age(age_at(resident.birth_date, now)) {
        AgeRule::UnderTwelve => by_representative && !by_resident,
        AgeRule::TwelveToFifteen => by_representative && by_resident,
        AgeRule::SixteenAndOver => by_resident && !by_representative,
    };
    if !right_people {
        return Err(PolicyError::WrongPersonForAge);
    }
    Ok(ValidConsent {
        resident: resident.id,
        grantee,
        categories: draft.categories,
        purposes: draft.purposes,
        valid_from: draft.valid_from,
        valid_until: draft.valid_until,
        given_by: draft.given_by,
        evidence: draft.evidence,
        recorded_by: draft.recorded_by,
        recorded_at: now,
    })
}

fn check_representatives(givers: &[Giver], resident: &Resident) -> Result<(), PolicyError> {
    for giver in givers {
        match giver {
            Giver::Resident => {}
            Giver::Representative(id) => {
                if !resident.representatives.contains(id) {
                    return Err(PolicyError::RepresentativeNotRegistered);
                }
            }
        }
    }
    Ok(())
}

/// Intrekking as entered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WithdrawalDraft {
    pub resident: ResidentId,
    pub withdrawn_by: Giver,
    /// Why, if the resident wants to say; a withdrawal needs no reason (GDPR art. 7(3)).
    pub reason: Option<String>,
    pub recorded_by: MemberId,
}

/// A withdrawal that passed every rule; it takes effect at `withdrawn_at` (the moment validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidWithdrawal {
    pub consent: ConsentId,
    pub withdrawn_by: Giver,
    pub reason: Option<String>,
    pub recorded_by: MemberId,
    pub withdrawn_at: DateTime<Utc>,
}

/// Validates a withdrawal of `consent`. Under 12 a representative withdraws; 12 to 15 either the
/// minor or a representative (one "no" ends what needed both); 16 and older the resident.
pub fn validate_withdrawal(
    consent: &Consent,
    draft: WithdrawalDraft,
    resident: &Resident,
    now: DateTime<Utc>,
) -> Result<ValidWithdrawal, PolicyError> {
    if consent.resident != resident.id || draft.resident != resident.id {
        return Err(PolicyError::OtherResident);
    }
    if consent.withdrawn_at.is_some() {
        return Err(PolicyError::AlreadyWithdrawn);
    }
    check_representatives(&[draft.withdrawn_by], resident)?;
    let by_resident = draft.withdrawn_by == Giver::Resident;
    let right_person = match AgeRule::for_age(age_at(resident.birth_date, now)) {
        AgeRule::UnderTwelve => !by_resident,
        AgeRule::TwelveToFifteen => true,
        AgeRule::SixteenAndOver => by_resident,
    };
    if !right_person {
        return Err(PolicyError::WrongPersonForAge);
    }
    Ok(ValidWithdrawal {
        consent: consent.id,
        withdrawn_by: draft.withdrawn_by,
        reason: draft.reason,
        recorded_by: draft.recorded_by,
        withdrawn_at: now,
    })
}

/// Bezwaar or beperking as entered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectionDraft {
    pub resident: ResidentId,
    pub kind: ObjectionKind,
    pub categories: CategorySet,
    pub organisations: OrganisationScope,
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub recorded_by: MemberId,
}

/// Validates an objection. It needs no consent and no age rule: anyone entitled may object, and
/// an objection only ever narrows.
pub fn validate_objection(
    draft: ObjectionDraft,
    resident: &Resident,
) -> Result<ValidObjection, PolicyError> {
    if draft.resident != resident.id {
        return Err(PolicyError::OtherResident);
    }
    let no_organisations = matches!(&draft.organisations, OrganisationScope::Only(organisations) if organisations.is_empty());
    if draft.categories.is_empty() || no_organisations {
        return Err(PolicyError::ObjectionCoversNothing);
    }
    if draft.until.is_some_and(|until| until <= draft.from) {
        return Err(PolicyError::EndNotAfterStart);
    }
    Ok(ValidObjection(draft))
}

/// An objection that passed [`validate_objection`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidObjection(ObjectionDraft);

impl ValidObjection {
    pub const fn get(&self) -> &ObjectionDraft {
        &self.0
    }
}

/// Validates lifting an objection: it must be this resident's and not lifted already.
pub fn validate_lift(
    objection: &Objection,
    objection_resident: ResidentId,
    resident: &Resident,
) -> Result<ObjectionId, PolicyError> {
    if objection_resident != resident.id {
        return Err(PolicyError::OtherResident);
    }
    if objection.lifted_at.is_some() {
        return Err(PolicyError::AlreadyLifted);
    }
    Ok(objection.id)
}
