//! Consent recording, withdrawal and objection validation: who may give consent at which age, and
//! what is refused before anything is written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, NaiveDate};
use domain::{
    Category, EvidenceKind, MemberId, NetworkId, ObjectionKind, OrganisationKind, Purpose,
    ResidentId,
};
use policy::{
    CategorySet, Consent, ConsentDraft, Evidence, Giver, GranteeDraft, ObjectionDraft,
    OrganisationScope, PolicyError, PurposeSet, RepresentativeId, Resident, WithdrawalDraft,
    validate_consent, validate_objection, validate_withdrawal,
};

use PolicyError::*;

fn parent() -> Giver {
    Giver::Representative(RepresentativeId(common::uuid(70)))
}

fn stranger() -> Giver {
    Giver::Representative(RepresentativeId(common::uuid(71)))
}

/// A resident who turned `years` yesterday (`now` is 2026-11-23), with one representative.
fn aged(years: i32) -> Resident {
    born(NaiveDate::from_ymd_opt(2026 - years, 11, 22).unwrap())
}

/// A resident who turns `years` tomorrow.
fn almost(years: i32) -> Resident {
    born(NaiveDate::from_ymd_opt(2026 - years, 11, 24).unwrap())
}

fn born(birth_date: NaiveDate) -> Resident {
    Resident {
        birth_date,
        representatives: vec![RepresentativeId(common::uuid(70))],
        ..common::adult()
    }
}

fn draft(given_by: Vec<Giver>) -> ConsentDraft {
    let now = common::now();
    ConsentDraft {
        resident: common::adult().id,
        grantee: GranteeDraft::Organisation(common::organisation(
            common::ACTOR_ORG,
            OrganisationKind::Welzijn,
        )),
        categories: CategorySet::from([Category::Story, Category::Goals]),
        purposes: PurposeSet::from([Purpose::Support]),
        valid_from: now,
        valid_until: now + Duration::days(365),
        given_by,
        evidence: Evidence {
            kind: EvidenceKind::Written,
            reference: "form 2026-117".to_owned(),
        },
        recorded_by: MemberId::from_uuid(common::uuid(common::COORDINATING_COACH)),
    }
}

#[track_caller]
fn check(draft: ConsentDraft, resident: &Resident, want: Result<(), PolicyError>) {
    let got = validate_consent(draft.clone(), resident, common::now()).map(|valid| {
        assert_eq!(valid.categories(), draft.categories);
        assert_eq!(valid.given_by(), &draft.given_by[..]);
    });
    assert_eq!(got, want, "{draft:?}");
}

#[test]
fn consent_drafts() {
    let outside = {
        let mut organisation = common::organisation(common::OTHER_ORG, OrganisationKind::Welzijn);
        organisation.networks = vec![NetworkId::from_uuid(common::uuid(99))];
        organisation
    };
    let cases: Vec<(ConsentDraft, Resident, Result<(), PolicyError>)> = vec![
        // The age rules, at the boundaries (each resident turned that age yesterday).
        (draft(vec![parent()]), aged(11), Ok(())),
        (
            draft(vec![Giver::Resident]),
            aged(11),
            Err(WrongPersonForAge),
        ),
        (
            draft(vec![Giver::Resident, parent()]),
            aged(11),
            Err(WrongPersonForAge),
        ),
        (draft(vec![Giver::Resident, parent()]), aged(12), Ok(())),
        (draft(vec![parent()]), aged(12), Err(WrongPersonForAge)),
        (
            draft(vec![Giver::Resident]),
            aged(15),
            Err(WrongPersonForAge),
        ),
        (draft(vec![Giver::Resident, parent()]), aged(15), Ok(())),
        (draft(vec![Giver::Resident]), aged(16), Ok(())),
        (draft(vec![parent()]), almost(12), Ok(())),
        (draft(vec![Giver::Resident, parent()]), almost(16), Ok(())),
        (
            draft(vec![Giver::Resident]),
            almost(16),
            Err(WrongPersonForAge),
        ),
        (
            draft(vec![Giver::Resident, parent()]),
            aged(16),
            Err(WrongPersonForAge),
        ),
        (draft(vec![parent()]), aged(40), Err(WrongPersonForAge)),
        (draft(vec![]), aged(40), Err(WrongPersonForAge)),
        (
            draft(vec![stranger()]),
            aged(8),
            Err(RepresentativeNotRegistered),
        ),
        (
            draft(vec![Giver::Resident, stranger()]),
            aged(13),
            Err(RepresentativeNotRegistered),
        ),
        // Bad input.
        (
            ConsentDraft {
                categories: CategorySet::EMPTY,
                ..draft(vec![Giver::Resident])
            },
            aged(40),
            Err(NoCategories),
        ),
        (
            ConsentDraft {
                purposes: PurposeSet::EMPTY,
                ..draft(vec![Giver::Resident])
            },
            aged(40),
            Err(NoPurposes),
        ),
        (
            ConsentDraft {
                valid_until: common::now(),
                ..draft(vec![Giver::Resident])
            },
            aged(40),
            Err(EndNotAfterStart),
        ),
        (
            ConsentDraft {
                valid_until: common::now() - Duration::days(1),
                ..draft(vec![Giver::Resident])
            },
            aged(40),
            Err(EndNotAfterStart),
        ),
        (
            ConsentDraft {
                grantee: GranteeDraft::Organisation(outside),
                ..draft(vec![Giver::Resident])
            },
            aged(40),
            Err(GranteeOutsideNetwork),
        ),
        (
            ConsentDraft {
                grantee: GranteeDraft::OrganisationKind(OrganisationKind::Zorgaanbieder),
                ..draft(vec![Giver::Resident])
            },
            aged(40),
            Ok(()),
        ),
        (
            ConsentDraft {
                resident: ResidentId::from_uuid(common::uuid(8)),
                ..draft(vec![Giver::Resident])
            },
            aged(40),
            Err(OtherResident),
        ),
        (
            ConsentDraft {
                evidence: Evidence {
                    kind: EvidenceKind::Verbal,
                    reference: "  ".to_owned(),
                },
                ..draft(vec![Giver::Resident])
            },
            aged(40),
            Err(EvidenceReferenceMissing),
        ),
    ];
    for (draft, resident, want) in cases {
        check(draft, &resident, want);
    }
}

fn stored(resident: &Resident) -> Consent {
    validate_consent(
        draft(vec![Giver::Resident]),
        &common::adult(),
        common::now(),
    )
    .unwrap()
    .to_fact(domain::ConsentId::from_uuid(common::uuid(common::CONSENT)))
    .with_resident(resident.id)
}

trait WithResident {
    fn with_resident(self, resident: ResidentId) -> Self;
}

impl WithResident for Consent {
    fn with_resident(mut self, resident: ResidentId) -> Consent {
        self.resident = resident;
        self
    }
}

#[test]
fn withdrawals() {
    let withdrawal = |by: Giver| WithdrawalDraft {
        resident: common::adult().id,
        withdrawn_by: by,
        reason: None,
        recorded_by: MemberId::from_uuid(common::uuid(common::COORDINATING_COACH)),
    };
    let mut already = stored(&aged(40));
    already.withdrawn_at = Some(common::now() - Duration::hours(1));
    let cases: Vec<(Consent, WithdrawalDraft, Resident, Result<(), PolicyError>)> = vec![
        (
            stored(&aged(40)),
            withdrawal(Giver::Resident),
            aged(40),
            Ok(()),
        ),
        (
            stored(&aged(40)),
            withdrawal(parent()),
            aged(40),
            Err(WrongPersonForAge),
        ),
        (
            stored(&aged(13)),
            withdrawal(Giver::Resident),
            aged(13),
            Ok(()),
        ),
        (stored(&aged(13)), withdrawal(parent()), aged(13), Ok(())),
        (
            stored(&aged(9)),
            withdrawal(Giver::Resident),
            aged(9),
            Err(WrongPersonForAge),
        ),
        (
            stored(&aged(9)),
            withdrawal(stranger()),
            aged(9),
            Err(RepresentativeNotRegistered),
        ),
        (
            already,
            withdrawal(Giver::Resident),
            aged(40),
            Err(AlreadyWithdrawn),
        ),
        (
            stored(&aged(40)).with_resident(ResidentId::from_uuid(common::uuid(8))),
            withdrawal(Giver::Resident),
            aged(40),
            Err(OtherResident),
        ),
    ];
    for (consent, draft, resident, want) in cases {
        let got = validate_withdrawal(&consent, draft, &resident, common::now()).map(|valid| {
            assert_eq!(valid.withdrawn_at, common::now());
        });
        assert_eq!(got, want);
    }
}

#[test]
fn objections() {
    let objection = ObjectionDraft {
        resident: common::adult().id,
        kind: ObjectionKind::Restriction,
        categories: CategorySet::from([Category::Health]),
        organisations: OrganisationScope::Every,
        from: common::now(),
        until: None,
        recorded_by: MemberId::from_uuid(common::uuid(common::COORDINATING_COACH)),
    };
    let cases = [
        (objection.clone(), Ok(())),
        (
            ObjectionDraft {
                categories: CategorySet::EMPTY,
                ..objection.clone()
            },
            Err(ObjectionCoversNothing),
        ),
        (
            ObjectionDraft {
                organisations: OrganisationScope::Only(vec![]),
                ..objection.clone()
            },
            Err(ObjectionCoversNothing),
        ),
        (
            ObjectionDraft {
                until: Some(common::now()),
                ..objection.clone()
            },
            Err(EndNotAfterStart),
        ),
        (
            ObjectionDraft {
                resident: ResidentId::from_uuid(common::uuid(8)),
                ..objection
            },
            Err(OtherResident),
        ),
    ];
    for (draft, want) in cases {
        assert_eq!(
            validate_objection(draft, &common::adult()).map(|_| ()),
            want
        );
    }
}
