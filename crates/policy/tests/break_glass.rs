//! Break-the-glass validation: allowed roles, a written reason, one resident, hours not days.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Duration;
use domain::{ResidentId, Role};
use policy::{
    BreakGlassConfig, BreakGlassDraft, Matrix, Override, PolicyError, validate_break_glass,
};

use PolicyError::*;

const REASON: &str = "Resident found confused at home, GP unreachable, medication unknown";

fn draft(reason: &str, hours: Option<i64>) -> BreakGlassDraft {
    BreakGlassDraft {
        resident: common::adult().id,
        reason: reason.to_owned(),
        duration: hours.map(Duration::hours),
    }
}

#[track_caller]
fn check(matrix: &Matrix, role: Role, draft: BreakGlassDraft, want: Result<i64, PolicyError>) {
    let got = validate_break_glass(
        matrix,
        &BreakGlassConfig::default(),
        &common::member(role),
        draft,
        &common::adult(),
        common::now(),
    )
    .map(|grant| {
        assert_eq!(grant.resident, common::adult().id);
        assert_eq!(grant.from, common::now());
        (grant.until - grant.from).num_hours()
    });
    assert_eq!(got, want, "{role}");
}

#[test]
fn break_glass_requests() {
    let default = Matrix::default();
    let no_coach = Matrix::tightened(&[Override::BreakGlass {
        role: Role::Coach,
        allowed: false,
    }])
    .unwrap();
    let cases = [
        (&default, Role::Coach, draft(REASON, None), Ok(4)),
        (
            &default,
            Role::ProviderWorker,
            draft(REASON, Some(8)),
            Ok(8),
        ),
        (
            &default,
            Role::ProviderWorker,
            draft(REASON, Some(9)),
            Err(BreakGlassDurationOutOfRange { max_hours: 8 }),
        ),
        (
            &default,
            Role::ProviderWorker,
            draft(REASON, Some(0)),
            Err(BreakGlassDurationOutOfRange { max_hours: 8 }),
        ),
        (
            &default,
            Role::Coach,
            draft(REASON, Some(-1)),
            Err(BreakGlassDurationOutOfRange { max_hours: 8 }),
        ),
        (
            &default,
            Role::Triagist,
            draft(REASON, None),
            Err(BreakGlassRoleNotAllowed),
        ),
        (
            &default,
            Role::WelfareWorker,
            draft(REASON, None),
            Err(BreakGlassRoleNotAllowed),
        ),
        (
            &default,
            Role::PrivacyOfficer,
            draft(REASON, None),
            Err(BreakGlassRoleNotAllowed),
        ),
        (
            &default,
            Role::Administrator,
            draft(REASON, None),
            Err(BreakGlassRoleNotAllowed),
        ),
        (
            &no_coach,
            Role::Coach,
            draft(REASON, None),
            Err(BreakGlassRoleNotAllowed),
        ),
        (
            &default,
            Role::Coach,
            draft("", None),
            Err(BreakGlassReasonTooShort { min_chars: 20 }),
        ),
        (
            &default,
            Role::Coach,
            draft("   urgent, see note      ", None),
            Err(BreakGlassReasonTooShort { min_chars: 20 }),
        ),
        (
            &default,
            Role::Coach,
            draft("12345678901234567890", None),
            Ok(4),
        ),
        (
            &default,
            Role::Coach,
            BreakGlassDraft {
                resident: ResidentId::from_uuid(common::uuid(8)),
                ..draft(REASON, None)
            },
            Err(OtherResident),
        ),
    ];
    for (matrix, role, draft, want) in cases {
        check(matrix, role, draft, want);
    }
}

#[test]
fn configuration_never_exceeds_a_day() {
    let cases = [
        (20, 4, 24, true),
        (20, 4, 25, false),
        (20, 0, 8, false),
        (20, 9, 8, false),
        (5, 4, 8, false),
        (30, 2, 12, true),
    ];
    for (min_chars, default_hours, max_hours, valid) in cases {
        let config = BreakGlassConfig::new(
            min_chars,
            Duration::hours(default_hours),
            Duration::hours(max_hours),
        );
        assert_eq!(
            config.is_ok(),
            valid,
            "{min_chars} {default_hours} {max_hours}"
        );
    }
}

#[test]
fn a_partner_system_never_breaks_the_glass() {
    let provider = common::member(Role::ProviderWorker);
    let client = policy::Actor::Client(policy::ClientActor {
        id: domain::ClientId::from_uuid(common::uuid(4)),
        organisation: provider.organisation().clone(),
        scopes: policy::ClientScopes {
            read: policy::CategorySet::all(),
            write: policy::CategorySet::all(),
            purposes: policy::PurposeSet::all(),
        },
        active: true,
    });
    let got = validate_break_glass(
        &Matrix::default(),
        &BreakGlassConfig::default(),
        &client,
        draft(REASON, None),
        &common::adult(),
        common::now(),
    );
    assert_eq!(got, Err(BreakGlassNeedsPerson));
}
